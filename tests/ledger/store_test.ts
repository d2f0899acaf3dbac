import { test } from "uvu";
import * as assert from "uvu/assert";
import { toHex } from "../../lib/crypto.ts";
import {
  type Block,
  blockHash,
  cirrusLedger,
  commitHash,
  decodeBlock,
  decodeCommit,
  encodeBlock,
  encodeCommit,
  evidenceHash,
  executeBlock,
  LedgerState,
  Store,
  txsHash,
} from "../../node/ledger/mod.ts";
import { makeSend, testGenesis } from "../helpers/ledger.ts";
import type { Commit } from "../../consensus/types.ts";
import { Level } from "level";

const { genesis, keys, validator } = testGenesis(20);

function snapshot(s: LedgerState): string {
  return JSON.stringify([s.height, s.appHash, s.entries().map(([k, v]) => [k, toHex(v)])]);
}

/** Deterministically builds, executes and commits block `state.height + 1`; returns its hash. */
async function commitNext(store: Store, state: LedgerState, prevHash: string, prevCommit: Commit | null) {
  const h = state.height + 1;
  const stxs = await Promise.all(
    keys.map((k, i) => makeSend(k, keys[(i + h) % keys.length]!.address, String(h + i), BigInt(h - 1))),
  );
  const ex = executeBlock(state, { height: h, proposer: validator.address, time: 1_000 * h, txs: stxs });
  const block: Block = {
    header: {
      chainId: genesis.chainId,
      height: h,
      time: 1_000 * h,
      prevHash,
      appHash: state.appHash,
      txsHash: txsHash(stxs.map((s) => s.bytes)),
      proposer: validator.address,
      lastCommitHash: commitHash(prevCommit),
      evidenceHash: evidenceHash([]),
    },
    txs: stxs.map((s) => s.bytes),
    lastCommit: prevCommit,
    evidence: [],
  };
  const hash = blockHash(block);
  const commit: Commit = {
    height: h,
    round: 0,
    blockHash: hash,
    signatures: [{ validator: validator.address, signature: new Uint8Array(64).fill(h % 256) }],
  };
  await store.commitBlock({
    height: h,
    block: encodeBlock(block),
    blockHash: hash,
    commit: encodeCommit(commit),
    writes: ex.writes,
    appHash: ex.appHash,
    txIndex: stxs.map((s, index) => ({ id: s.id, height: h, index, addresses: state.ledger.txAddresses(s) })),
    results: ex.results,
  });
  state.apply(ex.writes, h, ex.appHash);
  return { hash, commit, stxs, results: ex.results };
}

/** Replays blocks 1..height in memory; returns the state. */
async function replay(height: number): Promise<LedgerState> {
  const s = LedgerState.fromGenesis(genesis, cirrusLedger());
  for (let h = 1; h <= height; h++) {
    const stxs = await Promise.all(
      keys.map((k, i) => makeSend(k, keys[(i + h) % keys.length]!.address, String(h + i), BigInt(h - 1))),
    );
    const ex = executeBlock(s, { height: h, proposer: validator.address, time: 1_000 * h, txs: stxs });
    s.apply(ex.writes, h, ex.appHash);
  }
  return s;
}

async function writer(dir: string) {
  const store = await Store.open(dir);
  const state = LedgerState.fromGenesis(genesis, cirrusLedger());
  await store.initGenesis(state);
  let prevHash = "", prevCommit: Commit | null = null;
  for (;;) {
    const r = await commitNext(store, state, prevHash, prevCommit);
    prevHash = r.hash;
    prevCommit = r.commit;
    console.log(`committed ${state.height}`);
  }
}

test("commit 3 blocks, reopen: loadState equals the in-memory state; blocks, commits, hashes, txs readable", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cirrus-store-" });
  try {
    let store = await Store.open(dir);
    assert.is(store.latestHeight(), null);
    assert.is(await store.loadState(cirrusLedger()), null);
    const state = LedgerState.fromGenesis(genesis, cirrusLedger());
    await store.initGenesis(state);
    assert.is(store.latestHeight(), 0);
    assert.is(snapshot((await store.loadState(cirrusLedger()))!), snapshot(state));
    let prevHash = "", prevCommit: Commit | null = null;
    const committed = [];
    for (let i = 0; i < 3; i++) {
      const r = await commitNext(store, state, prevHash, prevCommit);
      committed.push(r);
      prevHash = r.hash;
      prevCommit = r.commit;
    }
    await store.close();

    store = await Store.open(dir);
    assert.is(store.latestHeight(), 3);
    const loaded = (await store.loadState(cirrusLedger()))!;
    assert.is(snapshot(loaded), snapshot(state));
    assert.is(loaded.appHash, state.appHash);
    assert.is(loaded.height, 3);
    for (let h = 1; h <= 3; h++) {
      const b = decodeBlock((await store.getBlock(h))!);
      assert.is(b.header.height, h);
      assert.is(blockHash(b), committed[h - 1]!.hash);
      assert.is(await store.getBlockHashAt(h), committed[h - 1]!.hash);
      assert.equal(decodeCommit((await store.getCommit(h))!), committed[h - 1]!.commit);
    }
    assert.is(await store.getBlock(4), undefined);
    const t = committed[1]!.stxs[3]!;
    const got = (await store.getTx(t.id))!;
    assert.is(got.height, 2);
    assert.is(got.index, 3);
    assert.is(got.result.ok, true);
    assert.equal(got.result.events.map((e) => e.type), ["fee", "transfer"]);
    const byAddr = await store.txsByAddress(keys[0]!.address, 10);
    // keys[0] sends one tx per block and receives one per block: 6 entries, newest first
    assert.is(byAddr.length, 6);
    assert.equal(byAddr.map((x) => x.height), [3, 3, 2, 2, 1, 1]);
    assert.is((await store.txsByAddress(keys[0]!.address, 2)).length, 2);
    assert.equal(await store.meta(), { height: 3, appHash: state.appHash, blockHash: committed[2]!.hash });
    let threw = false;
    try {
      await commitNext(store, LedgerState.fromGenesis(genesis, cirrusLedger()), "", null); // height 1 again
    } catch {
      threw = true;
    }
    assert.ok(threw, "commitBlock refuses a height that does not follow");
    await store.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("a writer killed with SIGKILL mid-stream leaves the store exactly at a block boundary (atomic batch)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cirrus-store-kill-" });
  try {
    for (let round = 0; round < 3; round++) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", new URL(import.meta.url).pathname, "--writer", dir],
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let seen = 0, buf = "";
      const target = 3 + round * 4;
      while (seen < target) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        const m = [...buf.matchAll(/committed (\d+)/g)].pop();
        if (m) seen = Number(m[1]);
      }
      await new Promise((r) => setTimeout(r, round * 7)); // land at varying points of a commit
      child.kill("SIGKILL");
      await child.status;
      await reader.cancel().catch(() => {});

      const store = await Store.open(dir);
      const h = store.latestHeight()!;
      assert.ok(h >= target, `height ${h} >= ${target}`);
      const loaded = (await store.loadState(cirrusLedger()))!;
      const expected = await replay(h);
      assert.is(loaded.height, h);
      assert.is(loaded.appHash, expected.appHash, `app hash at ${h}`);
      assert.is(snapshot(loaded), snapshot(expected));
      assert.ok(await store.getBlock(h));
      assert.is(await store.getBlock(h + 1), undefined, "no block beyond meta height");
      await store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

if (Deno.args[0] === "--writer") await writer(Deno.args[1]!);
else {test("finding 9: the genesis and every block batch are written with sync: true (durable before the WAL reset)", async () => {
    const dir = await Deno.makeTempDir({ prefix: "cirrus-store-sync-" });
    const proto = Level.prototype as unknown as { batch: (...args: unknown[]) => unknown };
    const original = proto.batch;
    const seen: unknown[] = [];
    proto.batch = function (this: unknown, ...args: unknown[]) {
      if (Array.isArray(args[0])) {
        seen.push(args[1]);
      }
      return original.apply(this, args);
    };
    const store = await Store.open(dir);
    try {
      const state = LedgerState.fromGenesis(genesis, cirrusLedger());
      await store.initGenesis(state);
      await commitNext(store, state, "", null);
      assert.is(seen.length, 2, "two batches: genesis and block 1");
      for (const opts of seen) {
        assert.equal((opts as { sync?: boolean } | undefined)?.sync, true);
      }
    } finally {
      proto.batch = original;
      await store.close();
      await Deno.remove(dir, { recursive: true });
    }
  });}

test.run();
