/**
 * The simulator's in-memory storage and shared signature verdicts: the same contracts as the disk
 * store, WAL and signer state, kept across a node's restart; a verdict reused only for the same
 * key, signature and bytes.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  generatePrivateKey,
  publicKeyOf,
  shareVerdicts,
  sign,
  signSynchronously,
  VerdictCache,
  verify,
} from "../../lib/crypto.ts";
import { MemoryDb, MemorySigner, MemoryStorage, MemoryWal } from "../../node/sim/memory_storage.ts";
import { simulate } from "../../node/sim/simulate.ts";
import { SIM_DEFAULTS } from "../../node/sim/scenario.ts";

const b = (s: string) => new TextEncoder().encode(s);

test("MemoryDb: atomic batches, ranges in key order (and reversed, limited), data kept across close/open", async () => {
  const db = new MemoryDb();
  await db.open();
  await db.batch([
    { type: "put", key: "a/2", value: b("two") },
    { type: "put", key: "a/1", value: b("one") },
    { type: "put", key: "b/1", value: b("other") },
  ], { sync: true });
  await db.batch([{ type: "del", key: "b/1" }, { type: "put", key: "a/3", value: b("three") }], {
    sync: true,
  });
  const keys = async (o: { gte?: string; lt?: string; reverse?: boolean; limit?: number }) => {
    const out: string[] = [];
    for await (const [k] of db.iterator(o)) out.push(k);
    return out;
  };
  assert.equal(await keys({ gte: "a/", lt: "a0" }), ["a/1", "a/2", "a/3"]);
  assert.equal(await keys({ gte: "a/", lt: "a0", reverse: true, limit: 2 }), ["a/3", "a/2"]);
  assert.is(await db.get("b/1"), undefined, "deleted");
  await db.close();
  try {
    await db.get("a/1");
    assert.unreachable("a closed db refuses reads");
  } catch (e) {
    assert.match((e as Error).message, /closed/);
  }
  await db.open();
  assert.equal(await db.getMany(["a/1", "zz"]), [b("one"), undefined]);
});

test("MemoryWal: records replayed in order after a reopen, emptied by reset", async () => {
  const wal = new MemoryWal();
  await wal.append(b("r1"), { sync: true });
  await wal.append(b("r2"), { sync: false });
  wal.close();
  try {
    await wal.append(b("r3"), { sync: true });
    assert.unreachable("closed");
  } catch (e) {
    assert.match((e as Error).message, /closed/);
  }
  const again = wal.reopen();
  assert.equal((await again.readAll()).records, [b("r1"), b("r2")]);
  await again.reset();
  assert.is((await again.readAll()).records.length, 0);
});

test("MemorySigner: refuses to sign other bytes at the same position or an earlier one", async () => {
  const s = new MemorySigner();
  assert.ok((await s.authorize({ height: 5, round: 0, step: "prevote" }, b("x"))).ok);
  assert.not.ok((await s.authorize({ height: 5, round: 0, step: "prevote" }, b("y"))).ok, "equivocation");
  assert.not.ok((await s.authorize({ height: 4, round: 0, step: "precommit" }, b("z"))).ok, "regression");
  assert.ok((await s.authorize({ height: 5, round: 0, step: "precommit" }, b("w"))).ok);
  assert.equal(s.last?.step, "precommit");
});

test("MemoryStorage keeps one node's store, WAL and signer across openings", async () => {
  const st = new MemoryStorage();
  const wal = await st.openWal("/ignored");
  await wal.append(b("kept"), { sync: true });
  wal.close();
  assert.equal((await (await st.openWal("/ignored")).readAll()).records, [b("kept")]);
  assert.is(await st.loadSigner("/x"), await st.loadSigner("/y"));
});

test("VerdictCache: one check per (key, signature, bytes); never reused for other bytes", async () => {
  const seed = generatePrivateKey();
  const pub = publicKeyOf(seed);
  const sig = await sign(seed, b("hello"));
  const cache = new VerdictCache();
  const unshare = shareVerdicts(cache);
  try {
    assert.ok(await verify(pub, b("hello"), sig));
    assert.ok(await verify(pub, b("hello"), sig));
    assert.is(cache.hits, 1);
    assert.not.ok(await verify(pub, b("hellO"), sig), "other bytes: checked, refused");
    assert.not.ok(await verify(pub, b("hellO"), sig));
    assert.is(cache.size, 2);
  } finally {
    unshare();
  }
  assert.not.ok(await verify(pub, b("hellO"), sig), "no cache after unsharing");
  assert.is(cache.hits, 2, "unchanged once unshared");
});

test("signing synchronously (noble only) gives the same signature as WebCrypto", async () => {
  const seed = generatePrivateKey();
  const msg = b("vote bytes");
  const usual = await sign(seed, msg);
  const restore = signSynchronously(true);
  let sync: Uint8Array;
  try {
    sync = await sign(seed, msg);
  } finally {
    restore();
  }
  assert.equal(sync, usual);
  assert.ok(await verify(publicKeyOf(seed), msg, sync));
});

test("a simulated run on memory storage survives a crash and restart of one validator", async () => {
  const m = await simulate({
    ...SIM_DEFAULTS,
    validators: 4,
    heights: 8,
    crashes: [{ node: 3, fromHeight: 2, toHeight: 5 }],
  });
  assert.is(m.heights.length, 8);
  assert.equal(m.faults.map((f) => f.event), ["crash v3", "restart v3"]);
  assert.ok(m.safety.finalHeights.every((h) => h >= 8), `all caught up: ${m.safety.finalHeights}`);
  assert.equal(m.safety.forks, []);
});

test.run();
