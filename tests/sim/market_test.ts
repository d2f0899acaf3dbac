/**
 * The simulator with its market: providers (the real provider role on the sim cluster driver) and
 * tenants (deployments, deposits, closes, manifests) on simulated nodes. The full path runs (order,
 * bids, lease at the window's end, manifest, workload, escrow payments, closes); the same seed gives
 * byte-identical metrics; across random seeds and fault schedules with less than 1/3 of the power
 * faulty: no fork, supply conserved, no escrow negative, the lowest valid bid wins every lease, and
 * the chain is live after every partition heals.
 *
 * `CIRRUS_SIM_SEEDS=100` runs the sweep over 100 seeds (the default keeps the file near a minute on
 * a 2-core machine: a tiny run takes about a second of wall time).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { randomInt, seededRng } from "../../lib/rng.ts";
import { SIM_DEFAULTS, type SimConfig } from "../../node/sim/scenario.ts";
import { simulate } from "../../node/sim/simulate.ts";
import { metricsJson } from "../../cli/sim_output.ts";
import { simulateMarket } from "../../cli/sim_market.ts";
import { simulate as librarySimulate } from "../../mod.ts";

/** Quick blocks and a one-block bid window: a lease a few blocks after its deployment. */
const quick: SimConfig = {
  ...SIM_DEFAULTS,
  validators: 4,
  consensus: { ...SIM_DEFAULTS.consensus, timeoutCommitMs: 50 },
  market: { ...SIM_DEFAULTS.market, bidWindowBlocks: 1 },
};

test("providers bid and tenants deploy: leases at the window's end, manifests deployed, workloads counted", async () => {
  const c: SimConfig = { ...quick, providers: 2, tenants: 3, txRate: 4, heights: 20, seed: 5 };
  const m = await simulateMarket(c);
  assert.is(m.heights.length, 20);
  assert.equal(m.violations, []);
  const leased = m.orders.filter((o) => o.provider !== null);
  assert.ok(leased.length >= 2, `orders leased: ${leased.length} of ${m.orders.length}`);
  for (const o of leased) {
    assert.ok(o.bids >= 1, `${o.order} had bids`);
    assert.ok(o.priceRatio! > 0 && o.priceRatio! <= 1, `${o.order}: clearing price within the max`);
    // The bids come the block after the order; a window with no bid yet restarts at the first bid.
    assert.ok(o.blocksToLease! >= 1 && o.blocksToLease! <= 4, `${o.order}: leased at a window's end`);
  }
  assert.is(m.market["manifests.accepted"], m.market["leases.created"], "every lease got its manifest");
  const busy = m.providers.filter((p) => p.leases > 0);
  assert.ok(busy.length >= 1);
  for (const p of busy) {
    assert.ok(p.utilisation.some(([, u]) => u > 0), `${p.provider} shows leased capacity`);
    assert.ok(p.utilisation.every(([, u]) => u >= 0 && u <= 1));
  }
  assert.ok(m.txs.submitted >= m.txs.committed - 2, "provider and tenant txs are counted");
});

test("the same seed with providers and tenants twice: byte-identical metrics.json; another seed differs", async () => {
  const c: SimConfig = { ...quick, providers: 2, tenants: 2, txRate: 4, heights: 14, seed: 11 };
  const a = metricsJson(await simulateMarket(c));
  assert.is(metricsJson(await simulateMarket(c)), a);
  assert.ok(JSON.parse(a).orders.length > 0, "the run had orders");
  assert.is.not(metricsJson(await simulateMarket({ ...c, seed: 12 })), a);
});

test("escrow exhaustion: tiny deposits close leases as insufficient_funds, no escrow negative", async () => {
  const m = await simulateMarket({
    ...quick,
    providers: 1,
    tenants: 3,
    txRate: 3,
    heights: 24,
    seed: 3,
    market: {
      ...quick.market,
      minDeposit: 1000,
      deposit: [1000, 1500],
      providerPrice: [0.3, 0.3],
      tenantMaxPrice: [0.5, 0.5],
      tenantCpu: [300, 500],
      actions: { create: 1, deposit: 0, close: 0 },
    },
  });
  assert.equal(m.violations, []);
  assert.ok((m.market["leases.closed.insufficient_funds"] ?? 0) >= 1, JSON.stringify(m.market));
  assert.ok(m.safety.supplyConserved);
});

test("a provider outage: its service stops and starts again; the chain and the others go on", async () => {
  const m = await simulateMarket({
    ...quick,
    providers: 2,
    tenants: 2,
    txRate: 4,
    heights: 18,
    seed: 8,
    crashes: [{ node: 0, fromHeight: 6, toHeight: 12, role: "provider" }],
  });
  assert.equal(m.faults.map((f) => f.event), ["crash p0", "restart p0"]);
  assert.is(m.heights.length, 18);
  assert.equal(m.violations, []);
  assert.equal(m.safety.forks, []);
});

test("providers and tenants need the market actors: node/sim's simulate says so; mod.ts's runs them", async () => {
  const c: SimConfig = { ...quick, providers: 1, tenants: 1, txRate: 2, heights: 8, seed: 2 };
  try {
    await simulate(c);
    assert.unreachable("refused");
  } catch (e) {
    assert.match((e as Error).message, /market actors/);
  }
  const m = await librarySimulate(c);
  assert.is(m.providers.length, 1);
});

test("safety across random seeds and fault schedules (< 1/3 faulty) with providers and tenants", async () => {
  const runs = Number(Deno.env.get("CIRRUS_SIM_SEEDS") ?? 12);
  const rng = seededRng(2027);
  for (let run = 0; run < runs; run++) {
    const seed = randomInt(rng, 1_000_000);
    const victim = randomInt(rng, 4);
    const from = 3 + randomInt(rng, 3);
    const kind = randomInt(rng, 4);
    const faults: Partial<SimConfig> = kind === 0
      ? { crashes: [{ node: victim, fromHeight: from, toHeight: from + 2 }] }
      : kind === 1
      ? { partitions: [{ fromHeight: from, toHeight: from + 2, groups: [[victim]] }] }
      : kind === 2
      ? { crashes: [{ node: 0, fromHeight: from, toHeight: from + 2, role: "provider" }] }
      : { misbehave: [{ node: victim, kinds: ["double-sign"] }] };
    const c: SimConfig = {
      ...quick,
      heights: 9,
      seed,
      jitterMs: randomInt(rng, 20),
      loss: randomInt(rng, 3) / 100,
      providers: 1 + randomInt(rng, 2),
      tenants: 1 + randomInt(rng, 2),
      txRate: 4,
      ...faults,
    };
    const m = await simulateMarket(c);
    const what = `seed ${seed}: ${JSON.stringify(faults)}`;
    assert.is(m.heights.length, 9, `live (after any heal), ${what}`);
    assert.equal(m.safety.forks, [], `no fork, ${what}`);
    assert.ok(m.safety.supplyConserved, `supply conserved, ${what}`);
    // The observer's checks: the lowest valid bid won every lease, no escrow went negative.
    assert.equal(m.violations, [], `market checks, ${what}`);
  }
});

test.run();
