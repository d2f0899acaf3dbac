/** The mempool: arrival order, contiguous nonces per sender, limits, and the re-check after a block. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Mempool } from "../../node/mempool.ts";
import { cirrusLedger, executeBlock, LedgerState } from "../../node/ledger/mod.ts";
import { makeSend, testGenesis } from "../helpers/ledger.ts";

const { genesis, keys, validator } = testGenesis(3, "1000000");

test("admits contiguous nonces per sender and reaps in arrival order", async () => {
  const state = LedgerState.fromGenesis(genesis, cirrusLedger());
  const mp = new Mempool({ txsMax: 100, bytesMax: 1 << 20 });
  const [a, b] = keys;
  const t0 = await makeSend(a!, b!.address, "1", 0n);
  const t1 = await makeSend(a!, b!.address, "1", 1n);
  const u0 = await makeSend(b!, a!.address, "1", 0n);
  assert.ok(mp.add(t0, state).ok);
  assert.ok(mp.add(u0, state).ok);
  assert.ok(mp.add(t1, state).ok);
  assert.equal(mp.reap(10, 1 << 20).map((s) => s.id), [t0.id, u0.id, t1.id]);
  assert.is(mp.nextNonce(state, a!.address), 2n);
  const dup = mp.add(t0, state);
  assert.ok(!dup.ok && dup.duplicate);
  const skipped = mp.add(await makeSend(a!, b!.address, "1", 5n), state);
  assert.ok(!skipped.ok && /nonce 5 expected 2/.test(skipped.reason), !skipped.ok ? skipped.reason : "");
});

test("refuses txs when full, by count and by bytes", async () => {
  const state = LedgerState.fromGenesis(genesis, cirrusLedger());
  const [a, b] = keys;
  const byCount = new Mempool({ txsMax: 1, bytesMax: 1 << 20 });
  assert.ok(byCount.add(await makeSend(a!, b!.address, "1", 0n), state).ok);
  const r = byCount.add(await makeSend(b!, a!.address, "1", 0n), state);
  assert.ok(!r.ok && /full/.test(r.reason));
  const byBytes = new Mempool({ txsMax: 100, bytesMax: 10 });
  const r2 = byBytes.add(await makeSend(a!, b!.address, "1", 0n), state);
  assert.ok(!r2.ok && /full/.test(r2.reason));
});

test("after a block: committed txs leave, a touched sender's stale txs are dropped, others stay", async () => {
  const state = LedgerState.fromGenesis(genesis, cirrusLedger());
  const [a, b, c] = keys;
  const mp = new Mempool({ txsMax: 100, bytesMax: 1 << 20 });
  const a0 = await makeSend(a!, b!.address, "1", 0n);
  const a1 = await makeSend(a!, b!.address, "1", 1n);
  const c0 = await makeSend(c!, b!.address, "1", 0n);
  for (const t of [a0, a1, c0]) assert.ok(mp.add(t, state).ok);
  // A block elsewhere committed a different nonce-0 tx of a (a0' with another amount): a0 and a1 are stale.
  const other = await makeSend(a!, b!.address, "2", 0n);
  const exec = executeBlock(state, { height: 1, proposer: validator.address, time: 1, txs: [other] });
  state.apply(exec.writes, 1, exec.appHash);
  const r = mp.update([other.id], state, new Set([a!.address]));
  // a1 (nonce 1) is now the next nonce of a, so it stays; a0 (nonce 0) is dropped.
  assert.is(r.dropped, 1);
  assert.equal(mp.reap(10, 1 << 20).map((s) => s.id), [a1.id, c0.id]);
});

test.run();
