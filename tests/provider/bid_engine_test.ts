/**
 * The bid engine: a decisions table (placement attributes, signedBy, gpu vendor/model/ram/interface,
 * storage class, persistent storage, denom, max price), capacity (a second order is skipped until the
 * first is released; leases never exceed capacity), exact scale prices, pricing scripts (price, exit
 * code, timeout, garbage, oversized output), reservation expiry, and agreement with the chain's
 * placementProblem and signedByProblem (auditor attestations read from a state view).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseSdl } from "../../auction/sdl/mod.ts";
import type { Group } from "../../auction/sdl/types.ts";
import {
  defaultMarketParams,
  formatScaled,
  type OrderInfo,
  parseScaled,
  PRICE_SCALE,
} from "../../auction/market/mod.ts";
import { encode } from "cborg";
import {
  type AttestationRecord,
  marketKeys,
  type MarketReader,
  placementProblem,
  signedByProblem,
} from "../../auction/market/mod.ts";
import {
  advertisedAttributes,
  type BidDecision,
  BidEngine,
  capacityFromConfig,
  Inventory,
  parseProviderConfig,
  type ProviderConfig,
  type ProviderIdentity,
  scalePrice,
  scriptPrice,
} from "../../provider/mod.ts";

const Mi = 1024 ** 2, Gi = 1024 ** 3;

const CONFIG = `
key: provider1
cluster: {driver: sim}
capacity: {cpu: 8, memory: 16Gi, storage: {default: 100Gi, beta2: 50Gi}}
gpus:
  - {vendor: nvidia, model: h100, ram: 80Gi, interface: sxm, count: 8}
  - {vendor: nvidia, model: a100, ram: 40Gi, interface: pcie, count: 2}
storageClasses: [default, beta2]
attributes: {region: us-west, tier: community}
pricing:
  cpu: "0.05"
  memory: "0.0001"
  storage: {default: "0.00005", beta2: "0.0001"}
  gpu: {default: "100", h100: "400"}
reservationTimeoutBlocks: 10
`;

function config(extra = ""): ProviderConfig {
  return parseProviderConfig(CONFIG + extra, "/tmp");
}

function engine(cfg = config()): { e: BidEngine; prov: ProviderIdentity } {
  return {
    e: BidEngine.fromConfig(cfg, capacityFromConfig(cfg)),
    prov: { address: "cirrus1prov", attributes: advertisedAttributes(cfg) },
  };
}

interface Spec {
  cpu?: string;
  memory?: string;
  storage?: unknown[];
  gpu?: unknown;
  attributes?: Record<string, string>;
  signedBy?: unknown;
  count?: number;
  amount?: string;
  denom?: string;
}

function group(s: Spec = {}): Group {
  const storage = s.storage ?? [{ size: "1Gi" }];
  const named = storage.filter((v) => (v as { name?: string }).name) as { name: string }[];
  const params = named.length
    ? `\n    params: ${
      JSON.stringify({ storage: Object.fromEntries(named.map((v) => [v.name, { mount: `/${v.name}` }])) })
    }`
    : "";
  const text = `
version: "2.0"
services:
  web:
    image: nginx${params}
    expose: [{port: 80, to: [{global: true}]}]
profiles:
  compute:
    web:
      resources:
        cpu: {units: ${JSON.stringify(s.cpu ?? "0.5")}}
        memory: {size: ${s.memory ?? "512Mi"}}
        storage: ${JSON.stringify(storage)}${s.gpu ? `\n        gpu: ${JSON.stringify(s.gpu)}` : ""}
  placement:
    dc:
      attributes: ${JSON.stringify(s.attributes ?? {})}${
    s.signedBy ? `\n      signedBy: ${JSON.stringify(s.signedBy)}` : ""
  }
      pricing:
        web: {denom: ${s.denom ?? "ucrs"}, amount: ${JSON.stringify(s.amount ?? "1000")}}
deployment:
  web:
    dc: {profile: web, count: ${s.count ?? 1}}
`;
  const r = parseSdl(text);
  if (!r.ok) throw new Error(`${r.errors.join("; ")}\n${text}`);
  return r.groups[0]!;
}

let dseq = 0;
/** A well-formed provider address: bid and lease ids name one (`lib/ids.ts` parses them). */
const BIDDER = "cirrus1pr0vdr";

function order(g: Group, over: Partial<OrderInfo> = {}): OrderInfo {
  dseq++;
  let max = 0n;
  for (const u of g.units) max += parseScaled(u.price.amount)! * BigInt(u.count);
  return {
    id: `cirrus1tenant/${dseq}/1/1`,
    owner: "cirrus1tenant",
    dseq,
    gseq: 1,
    oseq: 1,
    state: "open",
    maxPrice: { denom: g.units[0]!.price.denom, amount: formatScaled(max) },
    createdAt: 1,
    closesAt: 3,
    group: g,
    bids: 0,
    ...over,
  };
}

function decide(e: BidEngine, prov: ProviderIdentity, g: Group, over: Partial<OrderInfo> = {}, h = 5) {
  return e.evaluate(order(g, over), g, prov, h);
}

const nv = (m: Record<string, string>) => ({ units: 1, attributes: { vendor: { nvidia: [m] } } });

test("bids on a matching order at the exact scale price and reserves it", () => {
  const { e, prov } = engine();
  const g = group({ count: 2 }); // 500m, 512Mi, 1Gi ephemeral, x2
  const d = decide(e, prov, g);
  // cpu 1000m x 0.05 = 50; memory 1024Mi x 0.0001 = 0.1024; storage 2048Mi x 0.00005 = 0.1024
  assert.equal(d.action === "bid" && d.price, { denom: "ucrs", amount: "50.2048" });
  assert.is(e.inventory.used().cpu, 1000);
  assert.is(e.inventory.used().memory, 1024 * Mi);
  assert.is(e.inventory.used().storage.default, 2 * Gi);
  assert.equal(e.tracked().map((t) => t.state), ["open"]);
});

test("scale price sums units x count: persistent class, gpus by model (exact)", () => {
  const cfg = config();
  const g = group({
    count: 2,
    storage: [{ size: "1Gi" }, {
      name: "data",
      size: "10Gi",
      attributes: { persistent: true, class: "beta2" },
    }],
    gpu: { units: 2, attributes: { vendor: { nvidia: [{ model: "h100" }] } } },
  });
  // 50.2048 + beta2 20480Mi x 0.0001 = 2.048 + 4 gpus x 400 = 1600
  assert.is(formatScaled(scalePrice(g, cfg.pricing)), "1652.2528");
  const { e, prov } = engine(cfg);
  const d = decide(e, prov, g);
  assert.equal(d.action === "bid" && d.price.amount, "1652.2528");
  // byte parts round up to 10^-18: 1 byte of memory at 1 per MiB
  const tiny = { ...cfg.pricing, cpu: 0n, memory: PRICE_SCALE, storage: { default: 0n } };
  const g2 = group({ memory: "1048577" });
  assert.is(scalePrice(g2, tiny), PRICE_SCALE + (PRICE_SCALE + 1048575n) / 1048576n);
});

test("gpus are placed first-fit in config order and priced by the model they land on", () => {
  const { e, prov } = engine();
  // any nvidia gpu, 2 per replica, 5 replicas: 4 replicas on the 8 h100s, 1 on the 2 a100s
  const g = group({
    count: 5,
    cpu: "0.1",
    gpu: { units: 2, attributes: { vendor: { nvidia: [{ model: "*" }] } } },
  });
  const d = decide(e, prov, g);
  assert.is(d.action, "bid");
  if (d.action !== "bid") return;
  assert.equal(d.reservation.gpus.map((a) => [a.model, a.count]), [["h100", 8], ["a100", 2]]);
  // cpu 500m x 0.05 = 25; memory 2560Mi x 0.0001 = 0.256; storage 5120Mi x 0.00005 = 0.256; gpu 8x400 + 2x100
  assert.is(d.price.amount, "3425.512");
  const g2 = group({ gpu: nv({ model: "a100" }) });
  const d2 = decide(e, prov, g2);
  assert.is(d2.action === "skip" && d2.reason.startsWith("capacity: insufficient gpu: unit 1 needs 1"), true);
});

const TABLE: [string, Spec, Partial<OrderInfo>, RegExp | "bid"][] = [
  ["placement attributes match", { attributes: { region: "us-west", tier: "community" } }, {}, "bid"],
  [
    "attribute value mismatch",
    { attributes: { region: "eu-central" } },
    {},
    /requires region=eu-central \(provider has region=us-west\)/,
  ],
  [
    "attribute the provider lacks",
    { attributes: { datacenter: "x" } },
    {},
    /requires datacenter=x \(provider lacks it\)/,
  ],
  ["gpu vendor/model match", { gpu: nv({ model: "h100" }) }, {}, "bid"],
  ["gpu any model of the vendor", { gpu: nv({ model: "*" }) }, {}, "bid"],
  ["gpu ram and interface match", { gpu: nv({ model: "h100", ram: "80Gi", interface: "sxm" }) }, {}, "bid"],
  [
    "gpu vendor mismatch",
    { gpu: { units: 1, attributes: { vendor: { amd: [{ model: "mi300x" }] } } } },
    {},
    /unit 1 needs gpu amd mi300x; not available \(have: nvidia\/h100\/80Gi\/sxm, nvidia\/a100\/40Gi\/pcie\)/,
  ],
  ["gpu model mismatch", { gpu: nv({ model: "v100" }) }, {}, /needs gpu nvidia v100; not available/],
  [
    "gpu ram mismatch",
    { gpu: nv({ model: "h100", ram: "40Gi" }) },
    {},
    /needs gpu nvidia h100 ram 40Gi; not/,
  ],
  [
    "gpu interface mismatch",
    { gpu: nv({ model: "h100", interface: "pcie" }) },
    {},
    /needs gpu nvidia h100 interface pcie; not available/,
  ],
  [
    "persistent storage of an offered class",
    {
      storage: [{ size: "1Gi" }, {
        name: "d",
        size: "1Gi",
        attributes: { persistent: true, class: "beta2" },
      }],
    },
    {},
    "bid",
  ],
  [
    "persistent storage of the default class",
    { storage: [{ size: "1Gi" }, { name: "d", size: "1Gi", attributes: { persistent: true } }] },
    {},
    "bid",
  ],
  [
    "storage class not offered",
    {
      storage: [{ size: "1Gi" }, {
        name: "d",
        size: "1Gi",
        attributes: { persistent: true, class: "beta3" },
      }],
    },
    {},
    /volume d: storage class beta3 not offered \(offered: default, beta2\)/,
  ],
  [
    "ram volume (memory-backed) is always offered",
    { storage: [{ size: "1Gi" }, { name: "shm", size: "64Mi", attributes: { class: "ram" } }] },
    {},
    "bid",
  ],
  [
    "signedBy cannot be met",
    { signedBy: { anyOf: ["cirrus1auditor"] } },
    {},
    /^provider cirrus1prov lacks attestations from auditor cirrus1auditor for any attribute$/,
  ],
  ["denom not accepted", { denom: "uatom" }, {}, /denom uatom not accepted \(this provider bids in ucrs\)/],
  ["order not open", {}, { state: "active" }, /is not open \(state active\)/],
  ["price above max", { count: 2, amount: "25" }, {}, /^price 50\.2048 ucrs above max 50 ucrs$/],
  [
    "price equal to max",
    { cpu: "1", memory: "1024Mi", storage: [{ size: "1024Mi" }], amount: "50.1536" },
    {},
    "bid",
  ],
  ["capacity: cpu", { cpu: "9" }, {}, /^capacity: insufficient cpu: needs 9, free 8 of 8$/],
  [
    "capacity: memory",
    { memory: "17Gi" },
    {},
    /^capacity: insufficient memory: needs 17Gi, free 16Gi of 16Gi$/,
  ],
  [
    "capacity: storage pool",
    { storage: [{ size: "101Gi" }] },
    {},
    /insufficient storage \(default\): needs 101Gi/,
  ],
];

test("decisions table: attributes, signedBy, gpu, storage, denom, max price, capacity", () => {
  for (const [name, spec, over, want] of TABLE) {
    const { e, prov } = engine();
    const g = group(spec);
    const o = order(g, over);
    const d = e.evaluate(o, g, prov, 5);
    if (want === "bid") {
      assert.is(d.action, "bid", `${name}: ${JSON.stringify(d)}`);
      assert.ok(e.inventory.get(o.id), `${name}: reserved`);
    } else {
      assert.is(d.action, "skip", `${name}: ${JSON.stringify(d)}`);
      if (d.action === "skip") assert.match(d.reason, want, name);
      assert.is(e.inventory.list().length, 0, `${name}: nothing reserved on skip`);
    }
  }
});

test("persistent storage is skipped when the provider offers no persistent class", () => {
  const cfg = config();
  cfg.storageClasses = [];
  const { e, prov } = engine(cfg);
  const d = decide(
    e,
    prov,
    group({ storage: [{ size: "1Gi" }, { name: "d", size: "1Gi", attributes: { persistent: true } }] }),
  );
  assert.is(
    d.action === "skip" && d.reason,
    "unit 1 volume d: persistent storage requested; this provider offers no persistent storage class",
  );
  assert.is(decide(e, prov, group()).action, "bid", "ephemeral storage is still offered");
});

test("capacity full: the second order is skipped until the first bid is lost", () => {
  const { e, prov } = engine();
  const g = group({ cpu: "5" });
  const o1 = order(g), o2 = order(g), o3 = order(g);
  assert.is(e.evaluate(o1, g, prov, 5).action, "bid");
  const d2 = e.evaluate(o2, g, prov, 5);
  assert.is(d2.action === "skip" && d2.reason, "capacity: insufficient cpu: needs 5, free 3 of 8");
  assert.is(e.onBidState(`${o1.id}/${BIDDER}`, "lost"), "released");
  assert.is(e.evaluate(o2, g, prov, 6).action, "bid");
  // the won bid becomes a lease; lease + nothing else fits
  assert.is(e.onBidState(o2.id, "active"), "committed");
  assert.is(e.evaluate(o3, g, prov, 7).action, "skip");
  assert.equal(e.tick(100), [], "a lease never expires");
  assert.is(e.onLeaseClosed(`${o2.id}/${BIDDER}`), true);
  assert.is(e.evaluate(o3, g, prov, 101).action, "bid");
  assert.is(e.onBidState(o3.id, "closed"), "released");
  assert.is(e.inventory.used().cpu, 0);
});

test("with the chain's market params: full orders, refused denoms and a too-small deposit are skipped", () => {
  const params = { ...defaultMarketParams(), bidsPerOrderMax: 2 };
  const cfg = config('denoms: [ucrs, uother]\nbidDeposit: "400000"\n');
  const prov = { address: "cirrus1prov", attributes: advertisedAttributes(cfg) };
  const e = BidEngine.fromConfig(cfg, capacityFromConfig(cfg), params);
  const g = group();
  const r1 = e.evaluate(order(g), g, prov, 5);
  assert.is(
    r1.action === "skip" && r1.reason,
    "configured bidDeposit 400000 is below the chain's bid deposit 500000",
  );
  const e2 = BidEngine.fromConfig(config("denoms: [ucrs, uother]\n"), capacityFromConfig(cfg), params);
  const r2 = e2.evaluate(order(g, { bids: 2 }), g, prov, 5);
  assert.match(r2.action === "skip" ? r2.reason : "", /already has the maximum of 2 bids$/);
  const g2 = group({ denom: "uother" });
  const r3 = e2.evaluate(order(g2), g2, prov, 5);
  assert.is(r3.action === "skip" && r3.reason, "denom uother not accepted by the chain");
  assert.is(e2.evaluate(order(g), g, prov, 5).action, "bid");
});

test("the same order is never bid twice", () => {
  const { e, prov } = engine();
  const g = group();
  const o = order(g);
  assert.is(e.evaluate(o, g, prov, 5).action, "bid");
  const d = e.evaluate(o, g, prov, 6);
  assert.is(d.action === "skip" && d.reason, `already bid on order ${o.id}`);
  assert.is(e.inventory.used().cpu, 500);
});

test("reservations expire after reservationTimeoutBlocks; a late lease is adopted if it fits", () => {
  const { e, prov } = engine(); // timeout 10
  const g = group({ cpu: "5" });
  const o1 = order(g), o2 = order(g);
  assert.is(e.evaluate(o1, g, prov, 5).action, "bid");
  assert.equal(e.tick(14), []);
  assert.equal(e.tick(15), [o1.id]);
  assert.is(e.inventory.used().cpu, 0);
  assert.is(e.evaluate(o2, g, prov, 15).action, "bid");
  // o1's tenant creates the lease anyway: the reservation is gone and o2 holds the cpu
  assert.is(e.onBidState(o1.id, "active"), "unknown");
  const a = e.adoptLease(o1.id, g, 16);
  assert.ok("error" in a && /insufficient cpu/.test(a.error), JSON.stringify(a));
  assert.is(e.onBidState(o2.id, "lost"), "released");
  assert.equal(e.adoptLease(o1.id, g, 17), { ok: true });
  assert.equal(e.tracked(), [{ orderId: o1.id, state: "active", height: 17 }]);
  // the restart path: a fresh engine built from the config restores its active leases
  const cfg = config();
  const e2 = new BidEngine(cfg, capacityFromConfig(cfg));
  assert.is(e2.restoreLease(`${o1.id}/${BIDDER}`, g), true);
  assert.is(e2.restoreLease(o2.id, g), false, "a second 5-cpu lease does not fit in 8 cpus");
  assert.is(e2.inventory.used().cpu, 5000);
});

test("minimum raises the price; a bid deposit is attached when configured", () => {
  const cfg = config('bidDeposit: "600000"\n');
  cfg.pricing.minimum = 60n * PRICE_SCALE;
  const { e, prov } = engine(cfg);
  const d = decide(e, prov, group({ count: 2, amount: "100" }));
  assert.equal(d, {
    action: "bid",
    price: { denom: "ucrs", amount: "60" },
    deposit: { denom: "ucrs", amount: "600000" },
    reservation: (d as Extract<BidDecision, { action: "bid" }>).reservation,
  });
  const d2 = decide(e, prov, group({ amount: "59" }));
  assert.is(d2.action === "skip" && d2.reason, "price 60 ucrs above max 59 ucrs");
});

test("with a pricing script: its price is used, never above max, and required", () => {
  const cfg = config();
  cfg.pricing.script = "/nonexistent/price.sh";
  const { e, prov } = engine(cfg);
  const g = group({ amount: "100" });
  const o1 = order(g);
  assert.is(e.check(o1, g, prov), null);
  const d0 = e.evaluate(o1, g, prov, 5);
  assert.is(d0.action === "skip" && d0.reason, "pricing script configured but no script price given");
  const d1 = e.evaluate(o1, g, prov, 5, 100n * PRICE_SCALE);
  assert.is(d1.action === "bid" && d1.price.amount, "100");
  const o2 = order(g);
  const d2 = e.evaluate(o2, g, prov, 5, 100n * PRICE_SCALE + 1n);
  assert.is(d2.action === "skip" && d2.reason, "price 100.000000000000000001 ucrs above max 100 ucrs");
  assert.is(e.inventory.get(o2.id), undefined, "a skipped order holds nothing");
});

test("a provider never holds more than its capacity (many random orders)", () => {
  const { e, prov } = engine();
  let seed = 7;
  const rnd = (n: number) => { // mulberry32
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296 * n) | 0;
  };
  const ids: string[] = [];
  const leased: string[] = [];
  let bids = 0, skips = 0, leases = 0;
  for (let i = 0; i < 300; i++) {
    const g = group({
      cpu: `${100 * (1 + rnd(30))}m`,
      memory: `${64 * (1 + rnd(40))}Mi`,
      count: 1 + rnd(3),
      gpu: rnd(3) === 0
        ? { units: 1 + rnd(3), attributes: { vendor: { nvidia: [{ model: "*" }] } } }
        : undefined,
      amount: "100000",
    });
    const o = order(g);
    const d = e.evaluate(o, g, prov, i);
    if (d.action === "bid") ids.push(o.id), bids++;
    else skips++;
    if (rnd(3) === 0 && ids.length) {
      const id = ids.splice(rnd(ids.length), 1)[0]!;
      const k = rnd(4);
      if (k < 2 && e.onBidState(id, "active") === "committed") leases++, leased.push(id);
      else if (k === 2) e.onBidState(id, "closed");
      else e.onBidState(id, "lost");
    }
    if (rnd(8) === 0 && leased.length) e.onLeaseClosed(leased.splice(rnd(leased.length), 1)[0]!);
    const f = e.inventory.free();
    assert.ok(f.cpu >= 0 && f.memory >= 0 && f.gpus.every((x) => x.count >= 0), JSON.stringify(f));
    e.tick(i);
  }
  assert.ok(bids > 20 && skips > 20 && leases > 5, `bids ${bids}, skips ${skips}, leases ${leases}`);
});

test("every bid satisfies the chain's placementProblem; stale on-chain attributes are caught", () => {
  const { e, prov } = engine();
  const specs: Spec[] = [
    { attributes: { region: "us-west" } },
    { attributes: { region: "us-east" } },
    { attributes: { tier: "community", region: "us-west" } },
    { gpu: nv({ model: "h100", ram: "80Gi" }) },
    { gpu: nv({ model: "a100", interface: "pcie" }) },
    { gpu: nv({ model: "a100", interface: "sxm" }) },
    { gpu: { units: 1, attributes: { vendor: { amd: [{ model: "*" }] } } } },
  ];
  for (const s of specs) {
    const g = group(s);
    const d = decide(e, prov, g);
    const chain = placementProblem(prov.address, {
      ...prov,
      hostUri: [],
      info: {},
      createdAt: 0,
      updatedAt: 0,
    }, g);
    if (d.action === "bid") assert.is(chain, null, JSON.stringify(s));
    if (chain !== null) assert.is(d.action, "skip", JSON.stringify(s));
  }
  // the provider registered without its gpu capabilities: the chain would reject, so no bid
  const stale = {
    address: "cirrus1prov",
    attributes: prov.attributes.filter((a) => !a.key.startsWith("capabilities/gpu/")),
  };
  const d = decide(e, stale, group({ gpu: nv({ model: "h100" }) }));
  assert.is(
    d.action === "skip" && d.reason,
    "provider cirrus1prov does not satisfy the placement of group dc: unit 1 needs gpu capabilities/gpu/vendor/nvidia/model/h100=true",
  );
});

test("inventory: release/commit of unknown ids, deterministic listing, ram volumes count as memory", () => {
  const inv = new Inventory({ cpu: 1000, memory: 1 * Gi, storage: { default: 10 * Gi }, gpus: [] });
  assert.is(inv.release("x"), false);
  assert.is(inv.commit("x"), false);
  const g = group({
    cpu: "0.1",
    memory: "256Mi",
    storage: [{ size: "1Gi" }, { name: "shm", size: "256Mi", attributes: { class: "ram" } }],
  });
  const r = inv.tryReserve("b", g, 1);
  assert.ok(!("error" in r));
  assert.is(inv.used().memory, 512 * Mi);
  assert.ok("error" in inv.tryReserve("b", g, 1), "same id twice");
  inv.tryReserve("a", g, 2);
  assert.equal(inv.list().map((x) => x.id), ["a", "b"]);
  const third = inv.tryReserve("c", g, 3);
  assert.ok(
    "error" in third && third.error.startsWith("insufficient memory: needs 512Mi, free 0 of 1Gi"),
    JSON.stringify(third),
  );
  assert.equal(inv.expire(3, 1), ["a", "b"]);
  assert.equal(inv.free(), inv.capacity);
});

// ---------------------------------------------------------------------------------------------------
// pricing scripts

const dir = await Deno.makeTempDir({ prefix: "cirrus-pricing-" });
async function script(name: string, body: string): Promise<string> {
  const p = `${dir}/${name}`;
  await Deno.writeTextFile(p, `#!/bin/sh\n${body}\n`);
  await Deno.chmod(p, 0o755);
  return p;
}

async function rejects(fn: () => Promise<unknown>, want: RegExp): Promise<void> {
  try {
    await fn();
  } catch (e) {
    assert.match(String(e), want);
    return;
  }
  assert.unreachable(`expected a rejection matching ${want}`);
}

test("pricing script: its stdout is the price; it reads the order as JSON on stdin", async () => {
  const s = await script("echo.sh", 'echo " 12.50 "');
  assert.is(await scriptPrice(s, {}), 12n * PRICE_SCALE + PRICE_SCALE / 2n);
  const s2 = await script(
    "stdin.sh",
    `read -r x; case "$x" in *'"dseq":42'*) echo 7.5;; *) echo 1;; esac`,
  );
  const g = group();
  assert.is(formatScaled(await scriptPrice(s2, order(g, { dseq: 42 }))), "7.5");
  assert.is(formatScaled(await scriptPrice(s2, order(g, { dseq: 43 }))), "1");
});

test("pricing script: a failing script reports its exit code and first stderr line", async () => {
  const s = await script("fail.sh", "echo 'no price for you' >&2; echo second >&2; exit 1");
  await rejects(() => scriptPrice(s, {}), /^PricingScriptError: pricing script exited 1: no price for you$/);
  try {
    await scriptPrice(s, {});
  } catch (e) {
    assert.is((e as Error).message, "pricing script exited 1: no price for you");
  }
});

test("pricing script: a slow script is killed at the timeout", async () => {
  const s = await script("slow.sh", "sleep 5; echo 1");
  const t0 = performance.now();
  try {
    await scriptPrice(s, {}, { timeoutMs: 300 });
    assert.unreachable("should time out");
  } catch (e) {
    assert.is((e as Error).message, "pricing script timed out after 300ms");
  }
  assert.ok(performance.now() - t0 < 2000, `took ${performance.now() - t0}ms`);
});

test("pricing script: garbage, negative, oversized output and missing scripts are clear errors", async () => {
  const cases: [string, string, RegExp][] = [
    ["garbage.sh", "echo lots", /^pricing script printed "lots", not a decimal price/],
    ["negative.sh", "echo -3", /^pricing script printed "-3", not a decimal price/],
    ["empty.sh", "true", /^pricing script printed "", not a decimal price/],
    ["two.sh", "echo 1; echo 2", /^pricing script printed "1\\n2", not a decimal price/],
    ["big.sh", "yes 1 | head -c 100000", /^pricing script printed more than 4096 bytes$/],
  ];
  for (const [name, body, want] of cases) {
    const s = await script(name, body);
    try {
      await scriptPrice(s, {});
      assert.unreachable(name);
    } catch (e) {
      assert.match((e as Error).message, want, name);
    }
  }
  await Deno.writeTextFile(`${dir}/noexec.sh`, "#!/bin/sh\necho 1\n");
  await Deno.chmod(`${dir}/noexec.sh`, 0o644);
  await rejects(() => scriptPrice(`${dir}/noexec.sh`, {}), /noexec\.sh: permission denied/);
  await rejects(() => scriptPrice(`${dir}/missing.sh`, {}), /missing\.sh: not found/);
});

test.after(async () => {
  await Deno.remove(dir, { recursive: true });
});

/** A state view holding the given attestations: `[provider, auditor, {key: value}]`. */
function attestations(list: [string, string, Record<string, string>][]): MarketReader {
  const m = new Map<string, Uint8Array>();
  for (const [provider, auditor, attrs] of list) {
    const rec: AttestationRecord = {
      attributes: Object.entries(attrs).map(([key, value]) => ({ key, value })),
      height: 1,
    };
    m.set(marketKeys.audit(provider, auditor), encode(rec));
  }
  return { get: (k) => m.get(k) };
}

test("signedBy: bids only with the auditors' attestations, skips with the chain's reason", () => {
  const a1 = "akash1365yvmc4s7awdyj3n2sav7xfx76adc6dnmlx63", a2 = "cirrus1auditor2";
  const cases: [string, unknown, [string, string, Record<string, string>][], RegExp | "bid"][] = [
    [
      "anyOf: no attestation view given",
      { anyOf: [a1] },
      [],
      /lacks attestations from auditor akash1365\S+ for region=us-west$/,
    ],
    ["anyOf: signed by the auditor", { anyOf: [a1] }, [["cirrus1prov", a1, { region: "us-west" }]], "bid"],
    [
      "anyOf: one of two is enough",
      { anyOf: [a2, a1] },
      [["cirrus1prov", a1, { region: "us-west", x: "y" }]],
      "bid",
    ],
    [
      "anyOf: another provider's attestation does not count",
      { anyOf: [a1] },
      [["cirrus1other", a1, { region: "us-west" }]],
      /^provider cirrus1prov lacks attestations from auditor akash1365\S+ for region=us-west$/,
    ],
    [
      "allOf: both signed",
      { allOf: [a1, a2] },
      [["cirrus1prov", a1, { region: "us-west" }], ["cirrus1prov", a2, { region: "us-west" }]],
      "bid",
    ],
    [
      "allOf: one auditor missing",
      { allOf: [a1, a2] },
      [["cirrus1prov", a1, { region: "us-west" }]],
      /^provider cirrus1prov lacks attestations from auditor cirrus1auditor2 for region=us-west$/,
    ],
    [
      "allOf: attested value differs",
      { allOf: [a1] },
      [["cirrus1prov", a1, { region: "eu" }]],
      /^provider cirrus1prov lacks attestations from auditor akash1365\S+ for region=us-west$/,
    ],
  ];
  for (const [name, signedBy, list, want] of cases) {
    const { e, prov } = engine();
    const view = attestations(list);
    const who = name.includes("no attestation view") ? prov : { ...prov, attestations: view };
    const g = group({ attributes: { region: "us-west" }, signedBy });
    const o = order(g);
    const d = e.evaluate(o, g, who, 5);
    // the engine and the chain's rule agree
    const chain = signedByProblem(view, prov.address, g.requirements);
    if (want === "bid") {
      assert.is(d.action, "bid", `${name}: ${JSON.stringify(d)}`);
      assert.is(chain, null, name);
    } else {
      assert.is(d.action, "skip", name);
      if (d.action === "skip") {
        assert.match(d.reason, want, name);
        assert.is(e.check(o, g, who), d.reason, `${name}: check gives the same reason`);
        if (who !== prov) assert.is(d.reason, chain, `${name}: same reason as the chain`);
      }
      assert.is(e.inventory.list().length, 0, `${name}: nothing reserved on skip`);
    }
  }
});

test.run();
