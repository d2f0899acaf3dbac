/**
 * Whole nodes on the simulated network and clock, in the fault scenarios of the netns e2e test but
 * in one process and simulated seconds: lossy jittery links, a partitioned validator that catches
 * up after healing, and safety while two of four are cut off.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { blockHash, decodeBlock } from "../../node/ledger/mod.ts";
import { TestNet } from "../helpers/network.ts";
import { defaultLinks, FULL_MESH_MAX, LINKS_PER_NODE, SimCluster } from "../../node/sim/cluster.ts";

test("the default topology: a full mesh for small clusters, a sparse connected graph for large ones", () => {
  const small = defaultLinks(FULL_MESH_MAX, 1);
  assert.equal(small(0).length, FULL_MESH_MAX - 1);
  const n = 200;
  const links = defaultLinks(n, 1);
  const adj = Array.from({ length: n }, () => new Set<number>());
  for (let i = 0; i < n; i++) {
    assert.ok(links(i).length <= LINKS_PER_NODE, `node ${i} bootstraps to at most ${LINKS_PER_NODE}`);
    for (const j of links(i)) {
      assert.ok(j < i, "links point to earlier nodes");
      adj[i]!.add(j);
      adj[j]!.add(i);
    }
  }
  const seen = new Set([0]);
  const queue = [0];
  while (queue.length > 0) {
    for (const j of adj[queue.shift()!]!) if (!seen.has(j)) seen.add(j) && queue.push(j);
  }
  assert.is(seen.size, n, "connected");
  const edges = adj.reduce((a, s) => a + s.size, 0) / 2;
  assert.ok(edges <= n * LINKS_PER_NODE, `sparse: ${edges} links for ${n} nodes`);
  assert.equal(defaultLinks(n, 1)(150), links(150), "the same seed, the same graph");
});

async function hashes(net: TestNet, i: number, upTo: number): Promise<string[]> {
  const out: string[] = [];
  for (let h = 1; h <= upTo; h++) {
    out.push(blockHash(decodeBlock((await net.nodes[i]!.chain.store.getBlock(h))!)));
  }
  return out;
}

test("with 50 +- 10 ms links and 1% gossip loss, 4 validators commit 10 blocks and agree", async () => {
  const net = await TestNet.create({
    validators: 4,
    seed: 11,
    link: { latencyMs: 45, jitterMs: 20, loss: 0.01 },
  });
  try {
    await net.startAll();
    await net.waitHeight(10, 120_000);
    const ref = await hashes(net, 0, 10);
    for (let i = 1; i < 4; i++) assert.equal(await hashes(net, i, 10), ref, `node${i} agrees`);
  } finally {
    await net.cleanup();
  }
});

test("a validator cut off stands still while the others commit; healed, it catches up and agrees", async () => {
  const net = await TestNet.create({ validators: 4, seed: 12 });
  try {
    await net.startAll();
    await net.waitHeight(3);
    const sim = net.sim!;
    const ids = net.nodes.map((n) => n!.p2p.peerId);
    sim.network.partition([[ids[3]!]]);
    const cutAt = net.nodes[3]!.chain.height;
    const h = Math.max(...net.nodes.map((n) => n!.chain.height));
    await net.waitHeight(h + 5, 60_000, [0, 1, 2]);
    assert.ok(net.nodes[3]!.chain.height <= cutAt + 1, "the cut-off node made no progress of its own");
    sim.network.heal();
    const target = net.nodes[0]!.chain.height;
    await net.waitHeight(target, 60_000, [3]);
    assert.equal(await hashes(net, 3, target), await hashes(net, 0, target));
    await net.waitHeight(target + 2);
  } finally {
    await net.cleanup();
  }
});

test("two of four cut off: nothing commits on either side; healed, the chain goes on", async () => {
  const net = await TestNet.create({ validators: 4, seed: 13 });
  try {
    await net.startAll();
    await net.waitHeight(3);
    const ids = net.nodes.map((n) => n!.p2p.peerId);
    net.sim!.network.partition([[ids[0]!, ids[1]!], [ids[2]!, ids[3]!]]);
    await net.pass(300); // a block in flight may still commit
    const frozen = net.nodes.map((n) => n!.chain.height);
    await net.pass(5_000);
    assert.equal(net.nodes.map((n) => n!.chain.height), frozen, "no side has 2/3 of the power");
    net.sim!.network.heal();
    await net.waitHeight(Math.max(...frozen) + 3);
  } finally {
    await net.cleanup();
  }
});

test("the same homes and seed twice: byte-identical delivery logs and blocks", async () => {
  const net = await TestNet.create({ validators: 4 });
  const runs: { trace: string[]; blocks: string[] }[] = [];
  try {
    for (const run of [1, 2]) {
      const dir = `${net.dir}/run${run}`;
      const homes = net.homes.map((_, i) => `${dir}/node${i}`);
      for (const [i, h] of net.homes.entries()) await copyDir(h, homes[i]!);
      const sim = await SimCluster.create({
        homes,
        seed: 5,
        link: { latencyMs: 20, jitterMs: 10 },
        traceMax: 100_000,
      });
      try {
        await sim.startAll();
        await sim.waitHeight(8);
        await sim.clock.advance(200);
        const node = sim.nodes[0]!;
        const blocks: string[] = [];
        for (let h = 1; h <= 8; h++) {
          blocks.push(blockHash(decodeBlock((await node.chain.store.getBlock(h))!)));
        }
        runs.push({ trace: [...sim.network.trace], blocks });
      } finally {
        await sim.stopAll();
      }
    }
    assert.ok(runs[0]!.trace.length > 100, `a real log: ${runs[0]!.trace.length} deliveries`);
    assert.equal(runs[1]!.trace, runs[0]!.trace, "identical delivery logs");
    assert.equal(runs[1]!.blocks, runs[0]!.blocks, "identical blocks (block times come from the clock)");
  } finally {
    await net.cleanup();
  }
});

async function copyDir(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isDirectory) await copyDir(`${from}/${e.name}`, `${to}/${e.name}`);
    else await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
  }
}

test.run();
