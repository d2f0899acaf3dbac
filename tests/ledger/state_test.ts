import { test } from "uvu";
import * as assert from "uvu/assert";
import { encode } from "cborg";
import { toHex } from "../../lib/crypto.ts";
import {
  accountKey,
  audit,
  bank,
  checkTx,
  createLedger,
  decodeSignedTx,
  encodeAccount,
  executeBlock,
  LedgerState,
  market,
  type SignedTx,
  signTx,
  totalSupply,
  verifyTxSignature,
} from "../../node/ledger/mod.ts";
import { admitTx, makeSend, testGenesis, testKey } from "../helpers/ledger.ts";

const { genesis, keys, validator } = testGenesis(4, "1000000");
const [alice, bob, carol] = [keys[0]!, keys[1]!, keys[2]!];
const stranger = testKey("stranger");

/** The core ledger without staking: fees go to the proposer (staking_fees_test covers the cirrus ledger). */
const coreLedger = () => createLedger({ modules: [bank, market, audit] });

function fresh(): LedgerState {
  return LedgerState.fromGenesis(genesis, coreLedger());
}

function snapshot(s: LedgerState): string {
  return JSON.stringify([s.height, s.appHash, s.entries().map(([k, v]) => [k, toHex(v)])]);
}

function block(s: LedgerState, txs: SignedTx[], proposer = validator.address) {
  return executeBlock(s, { height: s.height + 1, proposer, time: 1_700_000_000_000 + s.height, txs });
}

/** Asserts checkTx and executeBlock both reject `stx` with `reason`, and neither changes anything. */
function assertRejected(stx: SignedTx, reason: string | RegExp, pendingNonce?: bigint, s = fresh()) {
  const before = snapshot(s);
  const c = checkTx(s, stx, pendingNonce);
  assert.is(c.ok, false, "checkTx should reject");
  if (!c.ok) typeof reason === "string" ? assert.is(c.reason, reason) : assert.match(c.reason, reason);
  const ex = block(s, [stx]);
  assert.is(ex.results.length, 1);
  assert.is(ex.results[0]!.ok, false, "executeBlock should fail the tx");
  const r = ex.results[0]!.reason!;
  typeof reason === "string" ? assert.is(r, reason) : assert.match(r, reason);
  assert.is(ex.writes.size, 0, "a failing tx writes nothing (no fee, no nonce)");
  assert.is(snapshot(s), before, "state unchanged");
}

test("genesis state: accounts, supply, deterministic app hash", () => {
  const s = fresh();
  assert.is(s.height, 0);
  assert.equal(s.account(alice.address), { address: alice.address, balance: 1000000n, nonce: 0n });
  assert.is(s.supply, 4000000n);
  assert.is(totalSupply(s), 4000000n);
  assert.is(s.appHash, fresh().appHash);
  assert.is(s.appHash.length, 64);
  assert.is(s.validators()[0]!.address, validator.address);
  const g2 = testGenesis(4, "1000001").genesis;
  assert.is.not(LedgerState.fromGenesis(g2, coreLedger()).appHash, s.appHash);
});

test("a valid transfer: balances, nonce, fee to the proposer, events; executeBlock does not mutate", async () => {
  const s = fresh();
  const stx = await makeSend(alice, bob.address, "1000", 0n, { fee: 7n });
  assert.equal(checkTx(s, stx), { ok: true });
  const before = snapshot(s);
  const ex = block(s, [stx]);
  assert.is(snapshot(s), before);
  assert.equal(ex.results[0]!.ok, true);
  assert.equal(ex.results[0]!.events.map((e) => e.type), ["fee", "transfer"]);
  s.apply(ex.writes, 1, ex.appHash);
  assert.is(s.height, 1);
  assert.is(s.appHash, ex.appHash);
  assert.equal(s.account(alice.address), { address: alice.address, balance: 1000000n - 1007n, nonce: 1n });
  assert.is(s.account(bob.address)!.balance, 1001000n);
  assert.is(s.account(validator.address)!.balance, 7n, "fee goes to the block proposer");
  assert.is(totalSupply(s), s.supply);
});

test("fee goes to the proposer even when the proposer is the sender or receiver", async () => {
  const s = fresh();
  const ex = block(s, [await makeSend(alice, bob.address, "10", 0n, { fee: 5n })], bob.address);
  s.apply(ex.writes, 1, ex.appHash);
  assert.is(s.account(bob.address)!.balance, 1000015n);
  const ex2 = block(s, [await makeSend(alice, bob.address, "10", 1n, { fee: 5n })], alice.address);
  s.apply(ex2.writes, 2, ex2.appHash);
  assert.is(s.account(alice.address)!.balance, 1000000n - 15n - 10n);
  assert.is(totalSupply(s), s.supply);
});

test("rejects wrong chain id", async () => {
  assertRejected(
    await makeSend(alice, bob.address, "1", 0n, { chainId: "other-chain" }),
    "wrong chain id other-chain (expected cirrus-test)",
  );
});

test("rejects a replayed nonce (naming both nonces)", async () => {
  const s = fresh();
  const stx = await makeSend(alice, bob.address, "5", 0n);
  const ex = block(s, [stx]);
  s.apply(ex.writes, 1, ex.appHash);
  assertRejected(stx, "nonce 0 expected 1", undefined, s);
  // and within one block: the same tx twice -> second fails
  const t = fresh();
  const ex2 = block(t, [stx, stx]);
  assert.equal(ex2.results.map((r) => r.ok), [true, false]);
  assert.is(ex2.results[1]!.reason, "nonce 0 expected 1");
});

test("rejects a skipped nonce; pendingNonce lets the mempool queue the next one", async () => {
  const stx = await makeSend(alice, bob.address, "5", 2n);
  assertRejected(stx, "nonce 2 expected 0");
  assert.equal(checkTx(fresh(), stx, 2n), { ok: true });
  assert.equal(checkTx(fresh(), stx, 1n), { ok: false, reason: "nonce 2 expected 1" });
});

/**
 * Asserts checkTx refuses `stx` and executeBlock fails its body with `reason` but charges it (issue 8,
 * finding 5): the sender pays the fee and uses the nonce, the proposer gets the fee, nothing else is
 * written, and the only event is the fee.
 */
function assertCharged(stx: SignedTx, reason: string | RegExp, s = fresh()) {
  const c = checkTx(s, stx);
  assert.is(c.ok, false, "checkTx should reject");
  if (!c.ok) typeof reason === "string" ? assert.is(c.reason, reason) : assert.match(c.reason, reason);
  const sender = s.account(stx.tx.from)!;
  const ex = block(s, [stx]);
  const r = ex.results[0]!;
  assert.is(r.ok, false, "executeBlock should fail the tx's body");
  typeof reason === "string" ? assert.is(r.reason, reason) : assert.match(r.reason!, reason);
  assert.equal([...ex.writes.keys()].sort(), [accountKey(stx.tx.from), accountKey(validator.address)].sort());
  s.apply(ex.writes, s.height + 1, ex.appHash);
  assert.equal(s.account(stx.tx.from), {
    address: stx.tx.from,
    balance: sender.balance - stx.tx.fee,
    nonce: sender.nonce + 1n,
  });
  assert.equal(r.events.map((e) => e.type), ["fee"]);
  assert.is(totalSupply(s), s.supply);
}

test("rejects an amount above the balance (fee + amount must be covered)", async () => {
  assertCharged(
    await makeSend(alice, bob.address, "1000000", 0n),
    "insufficient funds: balance 999999 < 1000000",
  );
  assertCharged(await makeSend(alice, bob.address, "2000000", 0n), /^insufficient funds/);
  assertRejected(
    await makeSend(alice, bob.address, "1", 0n, { fee: 1000001n }),
    /^insufficient funds for fee/,
  );
});

test("rejects an unknown account", async () => {
  assertRejected(await makeSend(stranger, bob.address, "1", 0n), `unknown account ${stranger.address}`);
});

test("rejects a fee below the minimum", async () => {
  assertRejected(await makeSend(alice, bob.address, "1", 0n, { fee: 0n }), "fee 0 below minimum 1");
});

test("rejects an unknown tx type", async () => {
  const bytes = await signTx({
    chainId: "cirrus-test",
    type: "nosuch.thing",
    from: alice.address,
    nonce: 0n,
    fee: 1n,
    body: {},
  }, alice.seed);
  const r = decodeSignedTx(bytes);
  if (!r.ok) throw new Error(r.reason);
  assertRejected(r.stx, "unknown tx type nosuch.thing");
});

test("rejects negative and non-integer amounts even when a SignedTx was built without decoding", async () => {
  const good = await makeSend(alice, bob.address, "5", 0n);
  for (const amount of ["-5", "1.5"]) {
    const forged: SignedTx = { ...good, tx: { ...good.tx, body: { to: bob.address, amount } } };
    assertRejected(forged, "body.amount: must be a non-negative integer string");
  }
});

test("admitTx: malformed CBOR, oversized, bad signature and valid bytes", async () => {
  const s = fresh();
  const before = snapshot(s);
  const bad = await admitTx(s, new Uint8Array([0xff, 0x00]));
  assert.is(bad.ok, false);
  if (!bad.ok) assert.match(bad.reason, /malformed CBOR/);
  const big = await signTx({
    chainId: "cirrus-test",
    type: "bank.send",
    from: alice.address,
    nonce: 0n,
    fee: 1n,
    body: { to: bob.address, amount: "1", pad: "x".repeat(17_000) },
  }, alice.seed);
  const o = await admitTx(s, big);
  assert.is(o.ok, false);
  if (!o.ok) assert.match(o.reason, /^tx too large/);
  const stx = await makeSend(alice, bob.address, "5", 0n);
  const sig = stx.signature.slice();
  sig[0] = sig[0]! ^ 0x80;
  const forged = encode({ tx: stx.txBytes, pubKey: stx.pubKey, sig });
  assert.equal(await admitTx(s, forged), { ok: false, reason: "bad signature" });
  const fine = await admitTx(s, stx.bytes);
  assert.ok(fine.ok);
  assert.is(snapshot(s), before);
  const d = decodeSignedTx(forged);
  assert.ok(d.ok && !(await verifyTxSignature(d.stx)));
});

test("finding 5: a tx whose body fails in a block pays its fee and uses its nonce; its bytes cannot be replayed", async () => {
  const s = fresh();
  const t1 = await makeSend(alice, bob.address, "10", 0n);
  const t2 = await makeSend(bob, carol.address, "99999999", 0n); // too much
  const t3 = await makeSend(carol, alice.address, "3", 0n);
  const ex = block(s, [t1, t2, t3]);
  assert.equal(ex.results.map((r) => r.ok), [true, false, true]);
  assert.match(ex.results[1]!.reason!, /^insufficient funds: /, "the result says why the body failed");
  assert.equal(ex.results[1]!.events.map((e) => e.type), ["fee"], "only the fee happened");
  s.apply(ex.writes, 1, ex.appHash);
  assert.is(s.account(bob.address)!.nonce, 1n, "the failed tx used its nonce");
  assert.is(s.account(bob.address)!.balance, 1000010n - 1n, "the failed tx paid its fee");
  assert.is(s.account(carol.address)!.balance, 1000000n - 1n - 3n, "nothing of its body happened");
  assert.is(s.account(validator.address)!.balance, 3n, "the proposer got three fees");
  assert.is(totalSupply(s), s.supply);
  // The same bytes in a later block: refused by the nonce, nothing written.
  const again = block(s, [t2]);
  assert.equal(again.results.map((r) => [r.ok, r.reason]), [[false, "nonce 0 expected 1"]]);
  assert.is(again.writes.size, 0);
});

async function randomChain(seed: number, blocks: number, perBlock: number) {
  let x = seed;
  const rnd = (n: number) => {
    x = (x + 0x6d2b79f5) | 0;
    let t = Math.imul(x ^ (x >>> 15), 1 | x);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
  const nonces = new Map(keys.map((k) => [k.address, 0n]));
  const out: SignedTx[][] = [];
  for (let b = 0; b < blocks; b++) {
    const txs: SignedTx[] = [];
    for (let i = 0; i < perBlock; i++) {
      const from = keys[rnd(keys.length)]!;
      const to = rnd(10) === 0 ? testKey(`new${rnd(5)}`).address : keys[rnd(keys.length)]!.address;
      const kind = rnd(10);
      const n = nonces.get(from.address)!;
      // 0: skipped nonce, 1: replay, 2: too much, else valid-looking (may still fail on balance)
      const nonce = kind === 0 ? n + 1n : kind === 1 && n > 0n ? n - 1n : n;
      const amount = kind === 2 ? "5000000" : String(1 + rnd(300000));
      const stx = await makeSend(from, to, amount, nonce, { fee: BigInt(1 + rnd(20)) });
      txs.push(stx);
      if (nonce === n) nonces.set(from.address, n + 1n); // optimistic; failures re-sync below
    }
    out.push(txs);
  }
  return out;
}

test("supply is conserved over 1,000 random valid/invalid transfers (nonces resynced per block)", async () => {
  const s = fresh();
  let ok = 0, failed = 0;
  let x = 42;
  const rnd = (n: number) => {
    x = (x + 0x6d2b79f5) | 0;
    let t = Math.imul(x ^ (x >>> 15), 1 | x);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
  const proposers = [validator.address, alice.address, testKey("newproposer").address];
  for (let b = 0; b < 20; b++) {
    const txs: SignedTx[] = [];
    const pending = new Map<string, bigint>();
    for (let i = 0; i < 50; i++) {
      const from = keys[rnd(keys.length)]!;
      const n = pending.get(from.address) ?? s.account(from.address)!.nonce;
      const kind = rnd(10);
      const nonce = kind === 0 ? n + 1n : kind === 1 && n > 0n ? n - 1n : n;
      const to = rnd(10) === 0 ? testKey(`new${rnd(5)}`).address : keys[rnd(keys.length)]!.address;
      const amount = kind === 2 ? "5000000" : String(1 + rnd(30000));
      const fee = kind === 3 ? 0n : BigInt(1 + rnd(20)); // fee 0 is below the minimum
      txs.push(await makeSend(from, to, amount, nonce, { fee }));
      if (nonce === n && kind > 3) pending.set(from.address, n + 1n);
    }
    const ex = block(s, txs, proposers[b % proposers.length]!);
    for (const r of ex.results) r.ok ? ok++ : failed++;
    s.apply(ex.writes, s.height + 1, ex.appHash);
    assert.is(totalSupply(s), s.supply, `block ${b + 1}`);
    for (const [k, v] of s.entries("acct/")) assert.ok(v.length > 0 && k.length > 5);
  }
  assert.is(ok + failed, 1000);
  assert.ok(ok > 100 && failed > 100, `mix of outcomes: ${ok} ok, ${failed} failed`);
  assert.is(s.supply, 4000000n);
});

test("app hash is deterministic across two states fed the same blocks, and differs when a write differs", async () => {
  const chain = await randomChain(7, 5, 20);
  const a = fresh(), b = fresh();
  for (const txs of chain) {
    const ea = block(a, txs), eb = block(b, txs);
    assert.is(ea.appHash, eb.appHash);
    a.apply(ea.writes, a.height + 1, ea.appHash);
    b.apply(eb.writes, b.height + 1, eb.appHash);
  }
  assert.is(a.appHash, b.appHash);
  assert.is(snapshot(a), snapshot(b));
  // Same txs, different proposer -> fee write differs -> app hash differs.
  const ec = block(
    a,
    chain[0]!.slice(0, 0).concat([await makeSend(alice, bob.address, "1", a.account(alice.address)!.nonce)]),
  );
  const ed = block(
    b,
    [await makeSend(alice, bob.address, "1", b.account(alice.address)!.nonce)],
    carol.address,
  );
  assert.is.not(ec.appHash, ed.appHash);
  // One write with a different value -> different hash.
  const w1 = new Map(ec.writes);
  const w2 = new Map(ec.writes);
  w2.set(accountKey(bob.address), encodeAccount({ address: bob.address, balance: 1n, nonce: 0n }));
  const { chainAppHash } = await import("../../node/ledger/state.ts");
  assert.is.not(chainAppHash(a.appHash, a.height + 1, w1), chainAppHash(a.appHash, a.height + 1, w2));
  assert.is(chainAppHash(a.appHash, a.height + 1, w1), ec.appHash);
  // Empty blocks still advance the hash (height is hashed).
  assert.is.not(block(a, []).appHash, a.appHash);
});

test("fromEntries reproduces a state; apply rejects a height gap", async () => {
  const s = fresh();
  const ex = block(s, [await makeSend(alice, bob.address, "1", 0n)]);
  s.apply(ex.writes, 1, ex.appHash);
  const t = LedgerState.fromEntries(s.entries(), { ledger: s.ledger, height: s.height, appHash: s.appHash });
  assert.is(snapshot(t), snapshot(s));
  assert.throws(() => s.apply(new Map(), 5, s.appHash), /height 5 after 1/);
  assert.throws(
    () => executeBlock(s, { height: 3, proposer: validator.address, time: 0, txs: [] }),
    /does not follow/,
  );
});

test.run();
