/**
 * The provider closes leases a tenant would otherwise pay for in vain: no manifest within
 * `manifestTimeoutBlocks` (manifest_timeout), a workload failing for the whole grace window
 * (workload_failed); a workload that recovers in time is kept. The pure {@link LeaseWatch}, the
 * {@link LeaseMonitor} on simulated time, and the provider service's wiring (its `lease.close` txs
 * with the reason), as cli/provider_role.ts composes it.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { encode } from "cborg";
import { SimClock } from "../../lib/sim_clock.ts";
import { addressOf, publicKeyOf } from "../../lib/crypto.ts";
import { parseLeaseId } from "../../lib/ids.ts";
import {
  type LeaseRecord,
  marketKeys,
  type MarketView,
  type ProviderRecord,
} from "../../auction/market/mod.ts";
import {
  advertisedAttributes,
  BidEngine,
  capacityFromConfig,
  type ClusterDriver,
  Inventory,
  type LeaseStatus,
  parseProviderConfig,
  SimDriver,
} from "../../provider/mod.ts";
import { failingServices, LeaseMonitor, LeaseWatch } from "../../provider/lease_watch.ts";
import { type ChainBlock, type ChainClient, ProviderService } from "../../provider/service.ts";

function status(...states: string[]): LeaseStatus {
  return {
    leaseId: "x",
    namespace: "ns",
    services: states.map((state, i) => ({
      name: `s${i}`,
      image: "img",
      ready: 0,
      total: 1,
      uris: [],
      state,
      ...(state.startsWith("failed") ? { message: "img: not found" } : {}),
    })),
  };
}

test("manifest_timeout: a won lease without a manifest is due exactly `manifestTimeoutBlocks` later", () => {
  const w = new LeaseWatch({ manifestTimeoutBlocks: 5, workloadGraceMs: 0 });
  w.leaseWon("a", 10);
  w.leaseWon("b", 12);
  w.leaseWon("c", 10);
  w.manifestDeployed("c");
  assert.equal(w.manifestTimeouts(14), []);
  assert.equal(w.manifestTimeouts(15), ["a"]);
  assert.equal(w.manifestTimeouts(16), [], "reported once");
  w.leaseClosed("b");
  assert.equal(w.manifestTimeouts(100), [], "a closed lease is forgotten");
  const off = new LeaseWatch({ manifestTimeoutBlocks: 0, workloadGraceMs: 0 });
  off.leaseWon("a", 1);
  assert.equal(off.manifestTimeouts(1_000_000), [], "0 turns it off");
});

test("workload_failed: failing for the whole grace window closes; recovering in time resets", () => {
  const w = new LeaseWatch({ manifestTimeoutBlocks: 0, workloadGraceMs: 60_000 });
  w.manifestDeployed("a");
  w.manifestDeployed("b");
  assert.is(w.observe("a", status("failed: image not found"), 0), null, "first failure starts the window");
  assert.is(w.observe("b", status("crashloop: exited with code 1"), 0), null);
  assert.is(w.observe("b", status("running"), 30_000), null, "b recovered");
  assert.is(w.observe("a", status("failed: image not found"), 59_999), null);
  assert.is(w.observe("b", status("crashloop: exited with code 1"), 60_000), null, "b's window restarted");
  assert.is(
    w.observe("a", status("running", "failed: image not found"), 60_000),
    "workload failing for 60s: s1: failed: image not found (img: not found)",
  );
  assert.equal(w.deployed(), ["b"], "a is forgotten once closed");
  assert.is(w.observe("unknown", status("failed: x"), 0), null);
  assert.equal(failingServices(status("running", "pending", "crashloop: exited with code 2")), [
    "s2: crashloop: exited with code 2",
  ]);
});

test("the monitor checks deployed workloads on its timer and closes a failing one after the grace", async () => {
  const clock = new SimClock({ startMs: 1_000_000 });
  let state = "failed: image not found";
  const driver = {
    kind: "sim",
    status: (id: string) => Promise.resolve({ ...status(state), leaseId: id }),
  } as unknown as ClusterDriver;
  const closed: [string, string, string][] = [];
  const m = new LeaseMonitor({
    driver,
    clock,
    manifestTimeoutBlocks: 3,
    workloadGraceMs: 30_000,
    checkIntervalMs: 10_000,
    close: (id, reason, why) => {
      closed.push([id, reason, why]);
      return Promise.resolve();
    },
  });
  m.watch.manifestDeployed("L1");
  m.watch.leaseWon("L2", 7);
  m.start();
  await clock.advance(25_000); // checks at 10 s (window starts) and 20 s
  assert.equal(closed, []);
  await clock.advance(20_000); // 40 s: failing for 30 s
  assert.equal(closed.map((c) => c.slice(0, 2)), [["L1", "workload_failed"]]);
  await m.onBlock(9);
  assert.is(closed.length, 1);
  await m.onBlock(10);
  assert.equal(closed[1], ["L2", "manifest_timeout", "no manifest within 3 blocks"]);
  state = "running";
  await m.stop();
  assert.is(clock.pendingTimers, 0, "no timer left after stop");
});

test("the windows in the provider config are checked", () => {
  const base = "key: p\ncluster: {driver: sim}\ncapacity: probe\n";
  for (
    const [line, want] of [
      ["manifestTimeoutBlocks: -1", /^manifestTimeoutBlocks: /],
      ["workloadGraceSeconds: 1.5", /^workloadGraceSeconds: /],
      ["workloadCheckSeconds: 0", /^workloadCheckSeconds: /],
    ] as const
  ) {
    assert.throws(() => parseProviderConfig(base + line + "\n", "/x"), want, line);
  }
  const off = parseProviderConfig(base + "manifestTimeoutBlocks: 0\nworkloadGraceSeconds: 0\n", "/x");
  assert.equal([off.manifestTimeoutBlocks, off.workloadGraceSeconds], [0, 0]);
});

// ---------------------------------------------------------------------------------------------------
// the provider service's wiring

const CHAIN = "cirrus-test";
const OWNER = addressOf(publicKeyOf(new Uint8Array(32).fill(3)));
const PROVIDER = addressOf(publicKeyOf(new Uint8Array(32).fill(4)));

test("the provider service closes a lease whose manifest never came, with reason manifest_timeout", async () => {
  const cfg = parseProviderConfig(
    `
key: provider
cluster: {driver: sim}
capacity: {cpu: 4, memory: 4Gi, storage: {default: 10Gi}}
manifestTimeoutBlocks: 4
workloadGraceSeconds: 0
`,
    "/tmp",
  );
  assert.equal([cfg.manifestTimeoutBlocks, cfg.workloadGraceSeconds, cfg.workloadCheckSeconds], [4, 0, 10]);
  const lease = `${OWNER}/5/1/1/${PROVIDER}`;
  const m = new Map<string, Uint8Array>();
  const rec: ProviderRecord = {
    hostUri: [],
    attributes: advertisedAttributes(cfg).sort((a, b) => a.key.localeCompare(b.key)),
    info: {},
    createdAt: 1,
    updatedAt: 1,
  };
  m.set(marketKeys.provider(PROVIDER), encode(rec));
  const l: LeaseRecord = {
    state: "active",
    denom: "ucrs",
    price: "1000000000000000000",
    createdAt: 2,
    paid: "0",
  };
  m.set(marketKeys.lease(parseLeaseId(lease)!), encode(l));
  const view: MarketView = {
    get: (k) => m.get(k),
    keys: (p) => [...m.keys()].filter((k) => k.startsWith(p)).sort(),
    height: 3,
  };
  let onCommit: ((b: ChainBlock) => void) | undefined;
  const submitted: [string, Record<string, unknown>][] = [];
  const chain: ChainClient = {
    chainId: CHAIN,
    view: () => view,
    height: () => 3,
    onCommit: (fn) => {
      onCommit = fn;
      return () => {};
    },
    submit: (type, body) => {
      submitted.push([type, body]);
      return Promise.resolve({ ok: true, txId: "00" });
    },
    addrs: () => [],
    handle: () => Promise.resolve(),
    handleStream: () => Promise.resolve(),
  };
  const stateDir = await Deno.makeTempDir({ prefix: "cirrus-watch-test-" });
  const service = new ProviderService({
    chain,
    driver: new SimDriver({ capacity: { cpu: 4000, memory: 2 ** 32, storage: 2 ** 34, gpu: 0 } }),
    config: cfg,
    address: PROVIDER,
    stateDir,
  }, new BidEngine(cfg, new Inventory(capacityFromConfig(cfg))));
  try {
    await service.start(); // reconcile: the active lease (created at 2) has no manifest
    const block = async (height: number) => {
      onCommit!({ height, txs: [], events: [] });
      for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 5));
    };
    await block(5);
    assert.equal(submitted.filter(([t]) => t === "lease.close"), []);
    await block(6);
    assert.equal(submitted.filter(([t]) => t === "lease.close"), [
      ["lease.close", { lease, reason: "manifest_timeout" }],
    ]);
    await block(7);
    assert.is(submitted.filter(([t]) => t === "lease.close").length, 1, "closed once");
  } finally {
    await service.stop();
    await Deno.remove(stateDir, { recursive: true });
  }
});

test.run();
