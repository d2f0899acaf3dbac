/**
 * The staking module's txs and validator set: genesis bonds, create_validator, delegate, undelegate
 * (unbonding queue), redelegate, edit, the active set (top validatorsMax by power) effective at H+2,
 * and the refusals of bad input (each with a reason, nothing changed).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { toHex } from "../../lib/crypto.ts";
import { validateStakingParams } from "../../node/ledger/staking_params.ts";
import { executeBlock, LedgerState, totalSupply, validateGenesis } from "../../node/ledger/mod.ts";
import {
  assertThrowsAsync,
  consKeys,
  eventsOf,
  snapshot,
  StakingChain,
  stakingGenesis,
  USER_BALANCE,
  users,
  val0,
  val1,
} from "./staking_helpers.ts";
import { cirrusLedger } from "../../node/ledger/mod.ts";

const [alice, bob, carol] = [users[0]!, users[1]!, users[2]!];
const BOND = 10_000_000n;

interface ValidatorsAnswer {
  validators: { operator: string; power: string; tokens: string; active: boolean; jailed: boolean }[];
}
interface DelegationsAnswer {
  delegations: { validator: string; tokens: string }[];
  unbonding: { validator: string; balance: string; completionHeight: number }[];
  redelegations: { src: string; dst: string }[];
}

const createBody = (i: number, amount: string, commission = "0.1") => ({
  pubKey: toHex(consKeys[i]!.pubKey),
  amount,
  moniker: `v${i}`,
  commission,
});

test("genesis validators are bonded validators: power x powerReduction minted, set at height 1", () => {
  const c = new StakingChain();
  assert.equal(c.setAt(1), [val0, val1].map((k) => `${k.address}:10`).sort());
  assert.is(c.state.supply, 6n * USER_BALANCE + 2n * BOND, "bonds are minted into the supply");
  assert.is(totalSupply(c.state), c.state.supply, "held by the module, counted");
  const vs = c.query<ValidatorsAnswer>("validators").validators;
  assert.equal(vs.map((v) => [v.tokens, v.power, v.active]), [[String(BOND), "10", true], [
    String(BOND),
    "10",
    true,
  ]]);
  assert.is(c.state.ledger.validatorsFor(c.state, 3).length, 2, "known up to height + 2");
  assert.is(c.state.ledger.modules.find((m) => m.name === "staking")!.validators!(c.state, 3), null);
});

test("create_validator: bonded now, in the active set two heights later (not one)", async () => {
  const c = new StakingChain();
  const ex = await c.ok(alice, "staking.create_validator", createBody(0, "20000000"));
  assert.ok(eventsOf(ex).some((e) => e.type === "staking.set_changed" && e.attrs.effectiveHeight === "3"));
  assert.is(c.state.account(alice.address)!.balance, USER_BALANCE - 20_000_000n - 1n);
  assert.not.ok(c.setAt(2).some((s) => s.startsWith(consKeys[0]!.address)), "not at H+1");
  assert.ok(c.setAt(3).includes(`${consKeys[0]!.address}:20`), "at H+2 with power 20");
  assert.ok(c.state.ledger.scheduledWork(c.state, 2), "a pending set change keeps blocks coming");
  c.advanceTo(3);
  assert.not.ok(c.state.ledger.scheduledWork(c.state, 4), "then the chain may rest");
  const v = c.query<{ operator: string; cons: string; active: boolean; commission: string }>(
    "validator",
    consKeys[0]!.address,
  );
  assert.equal([v.operator, v.cons, v.active, v.commission], [
    alice.address,
    consKeys[0]!.address,
    true,
    "0.1",
  ]);
});

test("delegate and undelegate: power follows at H+2; the unbonding entry is paid at maturity, not before", async () => {
  const c = new StakingChain();
  await c.ok(bob, "staking.delegate", { validator: val0.address, amount: "5000000" });
  assert.ok(c.setAt(3).includes(`${val0.address}:15`));
  assert.ok(c.setAt(2).includes(`${val0.address}:10`));
  const d = c.query<DelegationsAnswer>("delegations", bob.address);
  assert.equal(d.delegations, [{ validator: val0.address, shares: "5000000", tokens: "5000000" }]);
  const ex = await c.ok(bob, "staking.undelegate", { validator: val0.address, amount: "2000000" });
  const due = ex.results[0]!.events.find((e) => e.type === "staking.undelegate")!.attrs.completionHeight;
  assert.is(due, String(2 + 10));
  assert.ok(c.setAt(4).includes(`${val0.address}:13`));
  const before = c.state.account(bob.address)!.balance;
  c.advanceTo(11);
  assert.is(c.state.account(bob.address)!.balance, before, "still unbonding at height 11");
  const paid = c.block();
  assert.ok(eventsOf(paid).some((e) => e.type === "staking.unbonded" && e.attrs.amount === "2000000"));
  assert.is(c.state.account(bob.address)!.balance, before + 2_000_000n);
  assert.equal(c.query<DelegationsAnswer>("delegations", bob.address).unbonding, []);
  assert.is(c.state.keys("stk/uq/").length, 0, "the queue bucket is gone");
});

test("a validator everyone left is forgotten once its entries mature; its consensus key stays taken", async () => {
  const c = new StakingChain();
  await c.ok(alice, "staking.create_validator", createBody(0, "2000000"));
  const ex = await c.ok(alice, "staking.undelegate", { validator: alice.address, amount: "2000000" });
  assert.ok(
    ex.results[0]!.events.some((e) => e.type === "staking.jail"),
    "self-bond below the minimum jails",
  );
  assert.ok(c.setAt(c.height + 2).every((s) => !s.startsWith(consKeys[0]!.address)));
  const gone = c.advanceTo(c.height + 10).flatMap(eventsOf).filter((e) =>
    e.type === "staking.validator_removed"
  );
  assert.equal(gone.map((e) => e.attrs.validator), [alice.address]);
  assert.not.ok(c.query<ValidatorsAnswer>("validators").validators.some((v) => v.operator === alice.address));
  await c.rejects(
    bob,
    "staking.create_validator",
    createBody(0, "2000000"),
    `consensus key ${consKeys[0]!.address} is already in use by validator ${alice.address}`,
  );
  await c.ok(alice, "staking.create_validator", createBody(1, "2000000"));
});

test("redelegate moves bonded stake at once; a transitive redelegation is refused while it matures", async () => {
  const c = new StakingChain();
  await c.ok(bob, "staking.delegate", { validator: val0.address, amount: "4000000" });
  await c.ok(bob, "staking.redelegate", { src: val0.address, dst: val1.address, amount: "3000000" });
  assert.ok(c.setAt(c.height + 2).includes(`${val1.address}:13`));
  assert.ok(c.setAt(c.height + 2).includes(`${val0.address}:11`));
  assert.equal(
    c.query<DelegationsAnswer>("delegations", bob.address).redelegations.map((r) => [r.src, r.dst]),
    [
      [val0.address, val1.address],
    ],
  );
  await c.rejects(
    bob,
    "staking.redelegate",
    { src: val1.address, dst: val0.address, amount: "1000000" },
    `a redelegation of ${bob.address} into ${val1.address} is still maturing (no transitive redelegation)`,
  );
  c.advanceTo(c.height + 10);
  await c.ok(bob, "staking.redelegate", { src: val1.address, dst: val0.address, amount: "1000000" });
});

test("the active set is the top validatorsMax by power (ties by address), jailed or zero power left out", async () => {
  const c = new StakingChain({ validatorsMax: 3 });
  await c.ok(alice, "staking.create_validator", createBody(0, "30000000"));
  await c.ok(bob, "staking.create_validator", createBody(1, "1000000"));
  await c.ok(carol, "staking.create_validator", createBody(2, "2000000"));
  const set = c.setAt(c.height + 2);
  assert.is(set.length, 3);
  assert.ok(set.includes(`${consKeys[0]!.address}:30`));
  assert.not.ok(set.some((s) => s.startsWith(consKeys[1]!.address)), "the smallest is out");
  assert.not.ok(set.some((s) => s.startsWith(consKeys[2]!.address)), "power 2 < 10 and 10");
  const sorted = [...set].sort();
  assert.equal(set, sorted, "sorted by address");
  const active = c.query<ValidatorsAnswer>("validators").validators.filter((v) => v.active);
  assert.is(active.length, 3);
});

test("edit_validator changes moniker and commission; idle blocks write nothing", async () => {
  const c = new StakingChain();
  await c.ok(val0, "staking.edit_validator", { moniker: "renamed", commission: "0.25" });
  const v = c.query<{ moniker: string; commission: string }>("validator", val0.address);
  assert.equal([v.moniker, v.commission], ["renamed", "0.25"]);
  c.advanceTo(5);
  assert.is(c.block().writes.size, 0, "an idle block with everyone signing writes nothing");
});

test("commissionChangeMax bounds one edit's commission change, up and down; bad params are refused", async () => {
  const c = new StakingChain({ commissionChangeMax: "0.05" });
  const commission = () => c.query<{ commission: string }>("validator", val0.address).commission;
  const before = commission();
  await c.rejects(
    val0,
    "staking.edit_validator",
    { commission: "0.06" },
    `commission 0.06 is more than commissionChangeMax 0.05 away from the current ${before}`,
  );
  assert.is(commission(), before, "nothing changed");
  await c.ok(val0, "staking.edit_validator", { commission: "0.05" });
  await c.ok(val0, "staking.edit_validator", { commission: "0.1" });
  await c.rejects(
    val0,
    "staking.edit_validator",
    { commission: "0" },
    "commission 0 is more than commissionChangeMax 0.05 away from the current 0.1",
  );
  await c.ok(val0, "staking.edit_validator", { moniker: "same rate" });
  assert.is(commission(), "0.1");
  const fail = (path: string, what: string): never => {
    throw new Error(`${path}: ${what}`);
  };
  assert.throws(
    () => validateStakingParams({ commissionChangeMax: "1.5" }, "params.staking", fail),
    /params\.staking\.commissionChangeMax: must be a decimal fraction/,
  );
  assert.is(
    validateStakingParams({}, "params.staking", fail).commissionChangeMax,
    "1",
    "default: any change",
  );
});

test("bad input is refused with a reason and changes nothing", async () => {
  const c = new StakingChain();
  await c.ok(alice, "staking.create_validator", createBody(0, "2000000"));
  await c.rejects(
    bob,
    "staking.create_validator",
    { ...createBody(0, "2000000") },
    `consensus key ${consKeys[0]!.address} is already in use by validator ${alice.address}`,
  );
  await c.rejects(
    bob,
    "staking.create_validator",
    { ...createBody(1, "2000000"), pubKey: toHex(val1.pubKey) },
    `consensus key ${val1.address} is already in use by validator ${val1.address}`,
  );
  await c.rejects(
    bob,
    "staking.create_validator",
    createBody(1, "999999"),
    "self-bond 999999 is below the minimum 1000000",
  );
  await c.rejects(
    alice,
    "staking.create_validator",
    createBody(1, "2000000"),
    `${alice.address} is already a validator`,
  );
  await c.rejects(
    bob,
    "staking.undelegate",
    { validator: val0.address, amount: "1" },
    `cannot undelegate 1: ${bob.address} has 0 bonded to ${val0.address}`,
  );
  await c.rejects(
    val0,
    "staking.undelegate",
    { validator: val0.address, amount: String(BOND + 1n) },
    `cannot undelegate ${BOND + 1n}: ${val0.address} has ${BOND} bonded to ${val0.address}`,
  );
  await c.rejects(
    bob,
    "staking.delegate",
    { validator: carol.address, amount: "5" },
    `${carol.address} is not a validator`,
  );
  await c.rejects(bob, "staking.unjail", {}, `${bob.address} is not a validator`);
  await c.rejects(val0, "staking.unjail", {}, `validator ${val0.address} is not jailed`);
  await c.rejects(
    bob,
    "staking.delegate",
    { validator: val0.address, amount: String(USER_BALANCE + 1n) },
    `insufficient funds: balance ${USER_BALANCE - 1n} < ${USER_BALANCE + 1n}`,
  );
  // Bodies refused at decode time, before any state is read.
  for (
    const [type, body, why] of [
      ["staking.delegate", { validator: "nope", amount: "1" }, "body.validator: must be a cirrus address"],
      ["staking.delegate", { validator: val0.address, amount: "0" }, "body.amount: must be positive"],
      ["staking.create_validator", { ...createBody(1, "1"), commission: "1.5" }, /body.commission/],
      ["staking.create_validator", { ...createBody(1, "1"), pubKey: "00".repeat(32) }, /body.pubKey/],
      ["staking.redelegate", { src: val0.address, dst: val0.address, amount: "1" }, /must differ/],
      ["staking.withdraw_rewards", { validators: [] }, /body.validators/],
    ] as const
  ) {
    await assertThrowsAsync(
      () => c.tx(bob, type, body),
      typeof why === "string" ? new RegExp(why.replace(/\./g, "\\.")) : why,
    );
  }
});

test("genesis params are validated with reasons naming the path", () => {
  const g = stakingGenesis() as unknown as { params: { staking: Record<string, unknown> } };
  const bad = (field: string, value: unknown, why: RegExp) => {
    const copy = JSON.parse(JSON.stringify(g));
    copy.params.staking[field] = value;
    assert.throws(() => validateGenesis(copy), why);
  };
  bad("validatorsMax", 0, /genesis\.params\.staking\.validatorsMax: must be an integer in \[1, 1000\]/);
  bad(
    "slashFractionDoubleSign",
    "0.1234567",
    /genesis\.params\.staking\.slashFractionDoubleSign: must be a decimal/,
  );
  bad("powerReduction", "0", /genesis\.params\.staking\.powerReduction: must be positive/);
  bad("evidenceMaxAgeBlocks", 11, /evidenceMaxAgeBlocks: 11 exceeds unbondingBlocks 10/);
  bad("nonsense", 1, /genesis\.params\.staking\.nonsense: unknown field/);
  const low = JSON.parse(JSON.stringify(g));
  low.params.staking.minSelfBond = "20000000";
  assert.throws(() => validateGenesis(low), /genesis\.validators\[0\]\.power: bonds 10000000 ucrs/);
  assert.equal(
    validateGenesis(JSON.parse(JSON.stringify(g))).params.staking,
    stakingGenesis().params.staking,
  );
});

test("executeBlock is deterministic and does not mutate the state it runs on", async () => {
  const a = new StakingChain(), b = new StakingChain();
  const before = snapshot(a.state);
  const stx = await a.tx(alice, "staking.create_validator", createBody(0, "2000000"));
  a.exec([stx]);
  assert.is(snapshot(a.state), before);
  const s2 = LedgerState.fromGenesis(stakingGenesis(), cirrusLedger());
  const e1 = executeBlock(a.state, { height: 1, proposer: val0.address, time: 1, txs: [stx] });
  const e2 = executeBlock(s2, { height: 1, proposer: val1.address, time: 1, txs: [stx] });
  assert.is(e1.appHash, e2.appHash, "the proposer does not matter: fees go to the collector");
  assert.is(b.state.appHash, a.state.appHash);
});

test.run();
