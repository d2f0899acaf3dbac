/**
 * Slashing: double-sign evidence (verified against the stored set of the infraction height, punished
 * once: slash of bond, delegations, unbonding and redelegation entries made after the infraction,
 * jail, tombstone), refused evidence skipped with a reason without failing the block, and downtime
 * (sliding window, jail with a smaller slash, unjail after the jail time).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { sign, toHex } from "../../lib/crypto.ts";
import { voteSignBytes } from "../../consensus/codec.ts";
import { type DuplicateVoteEvidence, evidenceProblem } from "../../node/ledger/mod.ts";
import { consKeys, doubleSign, eventsOf, StakingChain, T0, users, val0, val1 } from "./staking_helpers.ts";

const [bob, carol, stranger] = [users[1]!, users[2]!, users[3]!];

interface DelegationsAnswer {
  delegations: { validator: string; tokens: string }[];
  unbonding: { balance: string }[];
}
interface ValidatorAnswer {
  tokens: string;
  jailed: boolean;
  tombstoned: boolean;
  active: boolean;
  jailedUntilMs: number;
}

const rejectedReasons = (ex: ReturnType<StakingChain["block"]>) =>
  eventsOf(ex).filter((e) => e.type === "evidence.rejected").map((e) => e.attrs.reason);

test("a double sign is slashed as of its height (bond, delegations, later unbonding and redelegations), jailed, tombstoned, once", async () => {
  const c = new StakingChain();
  await c.ok(bob, "staking.delegate", { validator: val1.address, amount: "5000000" }); // height 1
  await c.ok(carol, "staking.delegate", { validator: val1.address, amount: "2000000" }); // height 2
  const ev = await doubleSign(val1, 2); // infraction at height 2
  await c.ok(bob, "staking.undelegate", { validator: val1.address, amount: "1000000" }); // height 3: after it
  await c.ok(carol, "staking.redelegate", { src: val1.address, dst: val0.address, amount: "2000000" }); // height 4
  c.block(); // 5
  assert.is(evidenceProblem(c.state, ev, 6, T0 + 6000), null, "valid for the evidence pool");
  const supply = c.state.supply;
  const ex = c.block([], [ev]); // 6
  const slash = eventsOf(ex).find((e) => e.type === "staking.slash")!;
  // val1: 10M + 5M + 2M - 1M - 2M = 14M bonded -> 1.4M; entry 1M -> 100k; redelegation 2M -> 200k.
  assert.is(slash.attrs.burned, String(1_400_000 + 100_000 + 200_000));
  assert.is(c.state.supply, supply - 1_700_000n, "burned");
  assert.ok(eventsOf(ex).some((e) => e.type === "evidence.punished" && e.attrs.cons === val1.address));
  const v = c.query<ValidatorAnswer>("validator", val1.address);
  assert.equal([v.tokens, v.jailed, v.tombstoned], ["12600000", true, true]);
  const bobs = c.query<DelegationsAnswer>("delegations", bob.address);
  assert.equal(bobs.delegations, [{ validator: val1.address, shares: "4000000", tokens: "3600000" }], "-10%");
  assert.equal(bobs.unbonding.map((u) => u.balance), ["900000"]);
  const carols = c.query<DelegationsAnswer>("delegations", carol.address);
  assert.equal(carols.delegations.map((d) => d.tokens), ["1800000"], "the redelegated stake pays for val1");
  assert.ok(c.setAt(c.height + 2).every((s) => !s.startsWith(val1.address)), "out of the set at H+2");
  assert.ok(c.setAt(c.height + 1).some((s) => s.startsWith(val1.address)), "still in it at H+1");
  const listed = c.query<{ evidence: { cons: string; height: number }[] }>("evidence").evidence;
  assert.equal(listed.map((e) => [e.cons, e.height]), [[val1.address, 2]]);
  // Once: the same evidence again is skipped, and so is another equivocation of the tombstoned key.
  const again = c.block([], [ev, await doubleSign(val1, 3)]);
  assert.equal(rejectedReasons(again), [
    "evidence: duplicate (already punished for height 2)",
    `evidence: ${val1.address} is already tombstoned (punished once)`,
  ]);
  await c.rejects(
    val1,
    "staking.unjail",
    {},
    `validator ${val1.address} is tombstoned (double sign): it never unjails`,
  );
});

test("bad evidence is skipped with a reason; the block still commits and nothing is slashed", async () => {
  const c = new StakingChain({ evidencePerBlockMax: 7 });
  c.advanceTo(3);
  const good = await doubleSign(val0, 2);
  const forged: DuplicateVoteEvidence = {
    ...good,
    voteB: { ...good.voteB, signature: await sign(stranger.seed, voteSignBytes(good.voteB.vote)) },
  };
  const swapped: DuplicateVoteEvidence = { ...good, voteA: good.voteB, voteB: good.voteA };
  const same = await doubleSign(val0, 2, "cirrus-stake", ["aa".repeat(32), "aa".repeat(32)]);
  const future = await doubleSign(val0, 4);
  const list = [
    forged,
    await doubleSign(stranger, 2),
    await doubleSign(val0, 2, "other-chain"),
    swapped,
    same,
    future,
    { type: "duplicate_vote", voteA: { vote: {}, signature: new Uint8Array(1) }, voteB: good.voteB },
  ] as DuplicateVoteEvidence[];
  const before = c.query<ValidatorAnswer>("validator", val0.address);
  const ex = c.block([], list);
  assert.equal(rejectedReasons(ex), [
    "evidence: voteB's signature is invalid",
    `evidence: ${stranger.address} was not a validator at height 2`,
    "evidence: votes of another chain (other-chain, not cirrus-stake)",
    "evidence: votes out of canonical order (voteA's block hash must sort first, nil first)",
    "evidence: the two votes name the same block: no equivocation",
    "evidence: infraction height 4 is not below the block's height 4",
    "evidence: voteA.signature: must be 64 bytes",
  ]);
  assert.equal(c.query<ValidatorAnswer>("validator", val0.address), before, "nothing slashed");
  const limited = new StakingChain({ evidencePerBlockMax: 1 });
  limited.advanceTo(3);
  const ex2 = limited.block([], [await doubleSign(val0, 1), await doubleSign(val1, 1)]);
  assert.equal(rejectedReasons(ex2), ["over the block's evidence limit (1)"]);
  assert.ok(eventsOf(ex2).some((e) => e.type === "evidence.punished" && e.attrs.cons === val0.address));
});

test("evidence is judged by the set of its height: a validator that joined later was not in it", async () => {
  const c = new StakingChain();
  await c.ok(carol, "staking.create_validator", {
    pubKey: toHex(consKeys[0]!.pubKey),
    amount: "20000000",
    moniker: "late",
    commission: "0",
  }); // height 1: in the set from height 3
  c.advanceTo(4);
  assert.is(
    evidenceProblem(c.state, await doubleSign(consKeys[0]!, 2), 5, T0 + 5000),
    `evidence: ${consKeys[0]!.address} was not a validator at height 2`,
  );
  assert.is(evidenceProblem(c.state, await doubleSign(consKeys[0]!, 3), 5, T0 + 5000), null);
  const ex = c.block([], [await doubleSign(consKeys[0]!, 3)]);
  assert.ok(eventsOf(ex).some((e) => e.type === "evidence.punished" && e.attrs.validator === carol.address));
  assert.is(c.query<ValidatorAnswer>("validator", carol.address).tokens, "18000000");
});

test("evidence older than the evidence age in blocks, or in block time, is refused as expired", async () => {
  const c = new StakingChain({ evidenceMaxAgeBlocks: 10 });
  c.advanceTo(11);
  assert.is(evidenceProblem(c.state, await doubleSign(val0, 2), 12, T0 + 12_000), null, "10 blocks old");
  assert.is(
    evidenceProblem(c.state, await doubleSign(val0, 1), 12, T0 + 12_000),
    "evidence expired: 11 blocks old (max 10)",
  );
  const t = new StakingChain({ unbondingBlocks: 500, evidenceMaxAgeBlocks: 500, evidenceMaxAgeMs: 50_000 });
  t.advanceTo(150); // a block-time checkpoint at height 100 (time T0 + 100 s)
  assert.is(
    evidenceProblem(t.state, await doubleSign(val0, 99), 151, T0 + 151_000),
    "evidence expired: over 51000 ms old (max 50000)",
  );
  assert.is(
    evidenceProblem(t.state, await doubleSign(val0, 120), 151, T0 + 151_000),
    null,
    "no checkpoint yet",
  );
});

test("downtime: missing more than the window allows jails with the downtime slash; unjail after the jail time", async () => {
  const c = new StakingChain(); // window 10, min signed 0.5: the 6th miss in the window jails
  c.signers = [val0.address];
  c.advanceTo(6); // blocks 2..6 report heights 1..5 missed
  assert.is(c.query<{ missedInWindow: number }>("validator", val1.address).missedInWindow, 5);
  assert.not.ok(c.query<ValidatorAnswer>("validator", val1.address).jailed);
  const ex = c.block(); // 7: the 6th miss
  const jail = eventsOf(ex).find((e) => e.type === "staking.jail")!;
  assert.match(jail.attrs.reason!, /downtime: missed 6 of 10/);
  const slash = eventsOf(ex).find((e) => e.type === "staking.slash")!;
  assert.is(slash.attrs.burned, "100000", "1% of 10M");
  const v = c.query<ValidatorAnswer & { missedInWindow: number }>("validator", val1.address);
  assert.equal([v.tokens, v.jailed, v.tombstoned, v.jailedUntilMs, v.missedInWindow], [
    "9900000",
    true,
    false,
    T0 + 7000 + 5000,
    0,
  ]);
  assert.ok(c.setAt(9).every((s) => !s.startsWith(val1.address)), "leaves the set at H+2");
  await c.rejects(
    val1,
    "staking.unjail",
    {},
    `validator ${val1.address} is jailed until ${T0 + 12_000} (block time now ${T0 + 8000})`,
  );
  c.signers = null;
  c.advanceTo(11);
  await c.ok(val1, "staking.unjail", {}); // block 12, time T0 + 12 s
  assert.ok(c.setAt(14).includes(`${val1.address}:9`), "back in the set two heights later, power 9");
  c.advanceTo(20);
  assert.is(c.query<{ missedInWindow: number }>("validator", val1.address).missedInWindow, 0, "signs again");
});

test("a block without signing info counts no miss (tx contexts, chains not passing it)", () => {
  const c = new StakingChain();
  c.signers = [];
  c.advanceTo(30);
  assert.not.ok(c.query<ValidatorAnswer>("validator", val1.address).jailed);
});

test.run();
