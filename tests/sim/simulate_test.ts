/**
 * The simulator as a whole: the same seed gives byte-identical metrics; a partition that stalls the
 * chain heals and every height after it commits; no fork and conserved supply across random seeds
 * and fault schedules with less than 1/3 of the power faulty.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { randomInt, seededRng } from "../../lib/rng.ts";
import { simulate } from "../../node/sim/simulate.ts";
import { SIM_DEFAULTS, type SimConfig } from "../../node/sim/scenario.ts";
import { metricsJson } from "../../cli/sim_output.ts";
import { synchronousMessageId } from "../../node/sim/cluster.ts";
import { messageId } from "../../node/p2p.ts";

const small: SimConfig = { ...SIM_DEFAULTS, validators: 4, heights: 8, txRate: 8, jitterMs: 10, loss: 0.02 };

test("the same seed and configuration twice: byte-identical metrics.json", async () => {
  const a = metricsJson(await simulate({ ...small, seed: 42 }));
  const b = metricsJson(await simulate({ ...small, seed: 42 }));
  assert.is(b, a);
  const m = JSON.parse(a);
  assert.is(m.heights.length, 8);
  assert.ok(m.txs.committed > 0, "traffic was committed");
  assert.ok(
    m.nodes.every((n: { messages: Record<string, number> }) => (n.messages.vote ?? 0) > 0),
    "every node voted",
  );
  const c = metricsJson(await simulate({ ...small, seed: 43 }));
  assert.is.not(c, a, "another seed, another run");
});

test("identical bytes also on a sparse topology (more than a full mesh) with traffic, jitter and loss", async () => {
  const c: SimConfig = { ...small, validators: 10, heights: 5, seed: 9, loss: 0.01, txRate: 20 };
  const a = metricsJson(await simulate(c));
  assert.is(metricsJson(await simulate(c)), a);
  assert.ok(JSON.parse(a).txs.committed > 0);
});

test("a partition with no 2/3 side stalls the chain; healed, every later height commits", async () => {
  const m = await simulate({
    ...SIM_DEFAULTS,
    validators: 4,
    heights: 10,
    partitions: [{ fromHeight: 4, toHeight: 8, groups: [[0, 1], [2, 3]] }],
    stallMs: 5_000,
  });
  assert.equal(m.faults.map((f) => f.event), ["partition 0,1|2,3", "heal (stalled)"]);
  assert.is(m.heights.length, 10, "live after the heal");
  const stalled = m.heights.find((h) => h.height === 4)!;
  assert.ok(stalled.latencyMs >= 5_000, `height 4 waited for the heal: ${stalled.latencyMs} ms`);
  assert.equal(m.safety.forks, []);
  assert.ok(m.safety.finalHeights.every((h) => h >= 10));
});

test("a minority cut off falls behind and catches up after the heal", async () => {
  const m = await simulate({
    ...SIM_DEFAULTS,
    validators: 4,
    heights: 10,
    partitions: [{ fromHeight: 3, toHeight: 7, groups: [[3]] }],
  });
  assert.equal(m.faults.map((f) => f.event), ["partition 3", "heal"]);
  assert.ok(m.heights.every((h) => h.latencyMs < 5_000), "the majority never stalled");
  assert.ok(m.safety.finalHeights.every((h) => h >= 10), `caught up: ${m.safety.finalHeights}`);
});

test("one byzantine validator of 4 (double-sign, then silent): the others commit, no fork", async () => {
  for (const kind of ["double-sign", "silent"] as const) {
    const m = await simulate({
      ...SIM_DEFAULTS,
      validators: 4,
      heights: 6,
      misbehave: [{ node: 3, kinds: [kind] }],
    });
    assert.is(m.heights.length, 6, kind);
    assert.equal(m.safety.forks, [], kind);
    assert.equal(m.faults[0]!.event, `v3 misbehaves: ${kind}`);
  }
});

test("safety across random seeds and fault schedules (< 1/3 faulty): no fork, supply conserved", async () => {
  const rng = seededRng(2026);
  for (let run = 0; run < 5; run++) {
    const seed = randomInt(rng, 1_000_000);
    const victim = randomInt(rng, 4);
    const from = 2 + randomInt(rng, 3);
    const c: SimConfig = {
      ...SIM_DEFAULTS,
      validators: 4,
      heights: 7,
      seed,
      jitterMs: randomInt(rng, 20),
      loss: randomInt(rng, 3) / 100,
      txRate: 5,
      ...(run % 2 === 0
        ? { crashes: [{ node: victim, fromHeight: from, toHeight: from + 2 }] }
        : { partitions: [{ fromHeight: from, toHeight: from + 2, groups: [[victim]] }] }),
    };
    const m = await simulate(c);
    const what = `seed ${seed}: ${JSON.stringify({ crashes: c.crashes, partitions: c.partitions })}`;
    assert.is(m.heights.length, 7, `live, ${what}`);
    assert.equal(m.safety.forks, [], `no fork, ${what}`);
    assert.ok(m.safety.supplyConserved, `supply conserved, ${what}`);
    const proposers = new Set(m.heights.map((h) => h.proposer));
    assert.ok([...proposers].every((p) => p >= 0 && p < 4), `proposers are validators, ${what}`);
  }
});

test("the simulated nodes' synchronous gossip message id is the real node's", async () => {
  for (
    const [topic, data] of [["/cirrus/x/txs", new Uint8Array([1, 2, 3])], ["t", new Uint8Array()]] as const
  ) {
    assert.equal(synchronousMessageId(topic, data), await messageId(topic, data));
  }
});

test.run();
