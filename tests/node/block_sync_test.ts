/**
 * Issue 8, finding 6: block sync trusts no single peer. A lagging node (a real driver and chain
 * behind a fake P2P) syncs from fake peers: liars claiming a huge height, a silent one, a forger, and
 * one honest peer serving the blocks of a real one-validator chain.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { decode, encode } from "cborg";
import { systemClock } from "../../lib/clock.ts";
import { silentLogger } from "../../lib/log.ts";
import { seededRng } from "../../lib/rng.ts";
import { BlockSync, SYNC_BATCH_MAX, SYNC_PROTOCOL, SYNC_STATUS_PEERS_MAX } from "../../node/sync.ts";
import type { Genesis } from "../../node/ledger/genesis.ts";
import { type DriverHarness, openDriver, testGenesis, type TestKey, until } from "../helpers/driver.ts";

const HEIGHT = 12;

/** A one-validator chain that committed at least HEIGHT blocks, serving block sync. */
async function source(): Promise<{ genesis: Genesis; src: DriverHarness; server: BlockSync }> {
  const { keys, genesis } = testGenesis(1, { timeoutCommitMs: 1 });
  const src = await openDriver({ genesis, self: keys[0] as TestKey });
  await until(() => src.chain.height >= HEIGHT, 20_000, `height ${HEIGHT}`);
  const server = new BlockSync(src.chain, src.p2p, src.driver, systemClock, silentLogger, 3_600_000);
  await server.start();
  return { genesis, src, server };
}

type Answer = (protocol: string, req: Uint8Array) => Promise<Uint8Array>;

function serveFrom(src: DriverHarness): Answer {
  return async (_protocol, req) => await src.p2p.served.get(SYNC_PROTOCOL)!(req, "lagging");
}

/** Answers status with a huge height; blocks as `blocks` says. */
function liar(blocks: Answer): Answer {
  return (protocol, req) => {
    const msg = decode(req) as { t: string };
    return msg.t === "status" ? Promise.resolve(encode({ height: 1e15 })) : blocks(protocol, req);
  };
}

test("finding 6: liars claiming height 1e15 (empty, silent, forged answers) do not stall a lagging node; they are penalized", async () => {
  const { genesis, src, server } = await source();
  const lag = await openDriver({ genesis, self: null });
  try {
    const honest = serveFrom(src);
    const answers = lag.p2p.peerAnswers;
    answers.set("liar-empty", liar(() => Promise.resolve(encode({ blocks: [] }))));
    answers.set(
      "liar-silent",
      liar(() => new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), 50))),
    );
    answers.set(
      "liar-forger",
      liar(async (p, req) => {
        const res = decode(await honest(p, req)) as { blocks: [Uint8Array, Uint8Array][] };
        // The commit's last signature byte flipped: the block does not verify.
        const [block, commit] = res.blocks[0]!;
        const forged = commit.slice();
        forged[forged.length - 1]! ^= 1;
        return encode({ blocks: [[block, forged]] });
      }),
    );
    answers.set("honest", honest);
    const sync = new BlockSync(lag.chain, lag.p2p, lag.driver, systemClock, silentLogger, 3_600_000, {
      statusTimeoutMs: 500,
      blocksTimeoutMs: 500,
    });
    await sync.tick();
    assert.ok(lag.chain.height >= HEIGHT, `caught up to ${lag.chain.height} (>= ${HEIGHT})`);
    for (let h = 1; h <= HEIGHT; h++) {
      assert.equal(await lag.chain.store.getBlock(h), await src.chain.store.getBlock(h), `block ${h}`);
    }
    for (const p of ["liar-empty", "liar-silent", "liar-forger"]) {
      assert.ok(sync.penalized(p), `${p} penalized`);
    }
    assert.not.ok(sync.penalized("honest"));
    // The next round does not ask the liars again (while their penalty lasts).
    const asked = lag.p2p.requests.length;
    await sync.tick();
    const again = lag.p2p.requests.slice(asked).map((r) => r.peer);
    assert.ok(again.length > 0);
    assert.ok(again.every((p) => p === "honest"), `asked ${again.join(", ")}`);
  } finally {
    server.stop();
    await lag.close();
    await src.close();
  }
});

test("a fetched batch is committed with one fsync (its last block); the store ends at the peer's height", async () => {
  const { genesis, src, server } = await source();
  const lag = await openDriver({ genesis, self: null });
  try {
    const syncs: boolean[] = [];
    const store = lag.chain.store;
    const commitBlock = store.commitBlock.bind(store);
    store.commitBlock = (c, opts) => {
      syncs.push(opts?.sync ?? true);
      return commitBlock(c, opts);
    };
    lag.p2p.peerAnswers.set("honest", serveFrom(src));
    const sync = new BlockSync(lag.chain, lag.p2p, lag.driver, systemClock, silentLogger, 3_600_000);
    await sync.tick();
    const h = lag.chain.height;
    assert.ok(h >= HEIGHT, `height ${h}`);
    assert.is(syncs.length, h);
    const batches = lag.p2p.requests.filter((r) => (decode(r.req) as { t: string }).t === "blocks").length;
    assert.is(syncs.filter((x) => x).length, batches, `one fsync per batch (${batches} batches)`);
    assert.is(syncs.at(-1), true, "the last block of the last batch is durable");
  } finally {
    server.stop();
    await lag.close();
    await src.close();
  }
});

test("finding 6: a blocks response is budgeted by bytes (at least one block); the lagging node still gets them all", async () => {
  const { genesis, src, server } = await source();
  server.stop();
  const blockBytes = (await src.chain.store.getBlock(1))!.length +
    (await src.chain.store.getCommit(1))!.length;
  const blocksFrom = async (count: number) =>
    (decode(await src.p2p.served.get(SYNC_PROTOCOL)!(encode({ t: "blocks", from: 1, count }), "x")) as {
      blocks: [Uint8Array, Uint8Array][];
    }).blocks;
  // A budget smaller than one block: the block still goes, alone.
  const tiny = new BlockSync(src.chain, src.p2p, src.driver, systemClock, silentLogger, 3_600_000, {
    responseBytesMax: 64 * 1024 + 1,
  });
  await tiny.start();
  assert.is((await blocksFrom(5)).length, 1, "a block bigger than the budget still goes alone");
  tiny.stop();
  // Room for about three blocks besides the framing reserve (64 KiB).
  const small = new BlockSync(src.chain, src.p2p, src.driver, systemClock, silentLogger, 3_600_000, {
    responseBytesMax: 64 * 1024 + 3 * blockBytes + 10,
  });
  await small.start();
  const lag = await openDriver({ genesis, self: null });
  try {
    const n = (await blocksFrom(SYNC_BATCH_MAX)).length;
    assert.ok(n >= 2 && n <= 4, `${n} blocks in one response`);
    lag.p2p.peerAnswers.set("honest", serveFrom(src));
    const sync = new BlockSync(lag.chain, lag.p2p, lag.driver, systemClock, silentLogger, 3_600_000);
    await sync.tick();
    assert.ok(lag.chain.height >= HEIGHT);
    const blockRequests = lag.p2p.requests.filter((r) => (decode(r.req) as { t: string }).t === "blocks");
    assert.ok(blockRequests.length >= HEIGHT / 4, `${blockRequests.length} block requests`);
  } finally {
    small.stop();
    await lag.close();
    await src.close();
  }
});

test("the sample of peers asked for their height is drawn from the injected rng (same seed, same sample)", async () => {
  const { genesis } = testGenesis(1);
  const lag = await openDriver({ genesis, self: null });
  try {
    for (let i = 0; i < 3 * SYNC_STATUS_PEERS_MAX; i++) {
      lag.p2p.peerAnswers.set(`peer-${i}`, () => Promise.resolve(encode({ height: 0 })));
    }
    const sample = async (seed: number): Promise<string[]> => {
      const sync = new BlockSync(lag.chain, lag.p2p, lag.driver, systemClock, silentLogger, 3_600_000, {
        rng: seededRng(seed),
      });
      const asked = lag.p2p.requests.length;
      await sync.tick();
      return lag.p2p.requests.slice(asked).map((r) => r.peer).sort();
    };
    const a = await sample(7);
    assert.is(a.length, SYNC_STATUS_PEERS_MAX);
    assert.equal(await sample(7), a, "same seed, same peers");
    assert.not.equal(await sample(8), a, "another seed, another sample");
  } finally {
    await lag.close();
  }
});

test.run();
