/**
 * Random staking over many blocks (seeded): create, delegate, undelegate, redelegate, unjail,
 * withdraw, fees, downtime, double signs. After every block: supply conserved (the chain helper),
 * every validator's shares equal the sum of its delegations' shares, the reward pool covers every
 * pending reward and commission, the stored set is the top validatorsMax of the unjailed; and a second
 * state fed the same blocks has the same app hash.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { decode } from "cborg";
import { toHex } from "../../lib/crypto.ts";
import { randomInt, seededRng } from "../../lib/rng.ts";
import { cirrusLedger, executeBlock, LedgerState, type SignedTx } from "../../node/ledger/mod.ts";
import {
  consKeys,
  doubleSign,
  eventsOf,
  StakingChain,
  stakingGenesis,
  T0,
  users,
  val0,
  val1,
} from "./staking_helpers.ts";
import type { DuplicateVoteEvidence } from "../../node/ledger/mod.ts";

interface Rec {
  shares: string;
  tokens?: string;
  acc?: string;
  commission?: string;
  jailed?: boolean;
}

function checkInvariants(c: StakingChain) {
  const s = c.state;
  const byValidator = new Map<string, bigint>();
  for (const [k, v] of s.entries("stk/d/")) {
    const op = k.split("/")[3]!;
    byValidator.set(op, (byValidator.get(op) ?? 0n) + BigInt((decode(v) as Rec).shares));
  }
  for (const [k, v] of s.entries("stk/v/")) {
    const r = decode(v) as Rec;
    assert.is(BigInt(r.shares), byValidator.get(k.slice(6)) ?? 0n, `shares of ${k} at ${s.height}`);
  }
  let owed = 0n;
  for (const del of [...users, val0, val1]) {
    owed += BigInt(c.query<{ total: string; commission: string }>("rewards", del.address).total);
    owed += BigInt(c.query<{ total: string; commission: string }>("rewards", del.address).commission);
  }
  const pool = s.get("stk/pool");
  const held = pool ? BigInt((decode(pool) as { held: string }).held) : 0n;
  assert.ok(owed <= held, `pool ${held} covers pending rewards ${owed} at ${s.height}`);
}

test("random staking for 150 blocks: invariants hold after every block; replay gives the same app hash", async () => {
  const rng = seededRng(9);
  const c = new StakingChain({ validatorsMax: 3, inflationPerBlock: "7" });
  const history: { txs: SignedTx[]; evidence: DuplicateVoteEvidence[]; signers: string[] | null }[] = [];
  const ops = [val0, val1, ...users];
  const cons = [val0, val1, ...consKeys];
  let ok = 0, refused = 0;
  const seen = new Map<string, number>();
  for (let h = 1; h <= 150; h++) {
    const txs: SignedTx[] = [];
    for (let i = 0; i < 3; i++) {
      const who = users[randomInt(rng, users.length)]!;
      const op = ops[randomInt(rng, ops.length)]!.address;
      const amount = String(1 + randomInt(rng, 3_000_000));
      const pick = randomInt(rng, 8);
      const body: [string, Record<string, unknown>] = pick === 0
        ? ["staking.create_validator", {
          pubKey: toHex(cons[randomInt(rng, cons.length)]!.pubKey),
          amount: String(1_000_000 + randomInt(rng, 5_000_000)),
          moniker: "r",
          commission: "0.05",
        }]
        : pick === 1
        ? ["staking.undelegate", { validator: op, amount }]
        : pick === 2
        ? ["staking.redelegate", { src: op, dst: ops[randomInt(rng, ops.length)]!.address, amount }]
        : pick === 3
        ? ["staking.unjail", {}]
        : pick === 4
        ? ["staking.withdraw_rewards", { validators: [op] }]
        : pick === 5
        ? ["bank.send", { to: op, amount: "1" }]
        : ["staking.delegate", { validator: op, amount }];
      try {
        txs.push(await c.tx(who, body[0], body[1], BigInt(1 + randomInt(rng, 50))));
      } catch {
        refused++; // a body refused at decode time (e.g. redelegate to itself)
      }
    }
    const evidence = randomInt(rng, 15) === 0
      ? [await doubleSign(randomInt(rng, 2) ? val0 : val1, h - 1 || 1)]
      : [];
    c.signers = randomInt(rng, 5) === 0 ? [val0.address] : null;
    history.push({ txs, evidence, signers: c.signers });
    const ex = c.block(txs, evidence);
    ok += ex.results.filter((r) => r.ok).length;
    for (const e of eventsOf(ex)) seen.set(e.type, (seen.get(e.type) ?? 0) + 1);
    checkInvariants(c);
  }
  assert.ok(ok > 100, `${ok} txs succeeded`);
  const kinds = [
    "staking.create_validator",
    "staking.delegate",
    "staking.undelegate",
    "staking.redelegate",
    "staking.unbonded",
    "staking.set_changed",
    "staking.slash",
    "staking.jail",
    "evidence.punished",
    "evidence.rejected",
    "rewards",
  ];
  for (const k of kinds) assert.ok(seen.has(k), `some ${k} happened: ${JSON.stringify([...seen])}`);
  // Replay on a fresh state: the same app hash after every block.
  const s = LedgerState.fromGenesis(
    stakingGenesis({ validatorsMax: 3, inflationPerBlock: "7" }),
    cirrusLedger(),
  );
  for (const [i, b] of history.entries()) {
    const h = i + 1;
    const all = h === 1 ? [] : s.ledger.validatorsFor(s, h - 1).map((v) => v.address);
    const ex = executeBlock(s, {
      height: h,
      proposer: val0.address,
      time: T0 + h * 1000,
      txs: b.txs,
      signing: { lastCommitSigners: h === 1 ? [] : (b.signers ?? all), evidence: b.evidence },
    });
    s.apply(ex.writes, h, ex.appHash);
  }
  assert.is(s.appHash, c.state.appHash);
  console.log(`  ${ok} staking txs ok, ${refused} refused at decode, height ${c.height}`);
});

test.run();
