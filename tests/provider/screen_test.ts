/**
 * Screening (`/cirrus/screen/1`): a provider says whether it would bid on each group and at what
 * price (the bid engine's own price), or why not (the bid engine's own reason), reserving nothing;
 * floods are bounded per peer; garbage bytes get a clear `bad_request`, never a crash. Tested on the
 * Screener, through a ProviderService's registered handler, and over real libp2p hosts.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { encode } from "cborg";
import { createP2P } from "../../node/p2p.ts";
import { parseSdl } from "../../auction/sdl/mod.ts";
import type { Group } from "../../auction/sdl/types.ts";
import { groupsForTx, marketKeys, type MarketView, type ProviderRecord } from "../../auction/market/mod.ts";
import {
  advertisedAttributes,
  BidEngine,
  capacityFromConfig,
  decodeResponse,
  encodeScreenRequest,
  Inventory,
  parseProviderConfig,
  type ProviderConfig,
  type ScreenAnswer,
  screenAnswerFrom,
  SimDriver,
} from "../../provider/mod.ts";
import { RateLimiter, Screener, screeningOrder } from "../../provider/screen.ts";
import { type ChainClient, ProviderService, SCREEN_PROTOCOL } from "../../provider/service.ts";

const CHAIN = "cirrus-test";
const ADDRESS = "cirrus1screenprovider";

const CONFIG = `
key: provider
cluster: {driver: sim, hostPorts: [31000, 31099]}
capacity: {cpu: 4, memory: 4Gi, storage: {default: 10Gi, beta2: 10Gi}}
storageClasses: [default, beta2]
attributes: {region: us-west}
pricing: {cpu: "0.01", memory: "0", storage: {default: "0", beta2: "0"}}
reservationTimeoutBlocks: 10
`;

function sdl(o: { storage?: string; amount?: string; name?: string } = {}): Group[] {
  const text = `
version: "2.0"
services:
  web:
    image: localhost/busybox:latest
    expose: [{port: 80, to: [{global: true}]}]${
    o.storage ? `\n    params: {storage: {data: {mount: /data}}}` : ""
  }
profiles:
  compute:
    web:
      resources:
        cpu: {units: 0.5}
        memory: {size: 128Mi}
        storage: ${o.storage ? `[{size: 1Gi}, ${o.storage}]` : "{size: 1Gi}"}
  placement:
    ${o.name ?? "dc"}:
      attributes: {region: us-west}
      pricing:
        web: {denom: ucrs, amount: ${o.amount ?? "1000"}}
deployment:
  web:
    ${o.name ?? "dc"}: {profile: web, count: 1}
`;
  const r = parseSdl(text);
  if (!r.ok) throw new Error(r.error);
  return groupsForTx(r.groups);
}

/** A state view holding only this provider's registration. */
function viewWith(cfg: ProviderConfig, hostUri: string[] = []): MarketView {
  const rec: ProviderRecord = {
    hostUri,
    attributes: advertisedAttributes(cfg).sort((a, b) => a.key.localeCompare(b.key)),
    info: {},
    createdAt: 1,
    updatedAt: 1,
  };
  const m = new Map<string, Uint8Array>([[marketKeys.provider(ADDRESS), encode(rec)]]);
  return {
    get: (k) => m.get(k),
    keys: (prefix) => [...m.keys()].filter((k) => k.startsWith(prefix)).sort(),
    height: 7,
  };
}

function setup(limits?: ConstructorParameters<typeof RateLimiter>[0], now?: () => number) {
  const cfg = parseProviderConfig(CONFIG, "/tmp");
  const engine = BidEngine.fromConfig(cfg, capacityFromConfig(cfg));
  const view = viewWith(cfg);
  const screener = new Screener({
    engine,
    address: ADDRESS,
    chainId: CHAIN,
    view: () => view,
    height: () => 7,
    pricing: cfg.pricing,
    ...(limits ? { limits } : {}),
    ...(now ? { now } : {}),
  });
  return { cfg, engine, screener };
}

async function ask(s: Screener, groups: Group[], from = "peerA", chainId = CHAIN) {
  return decodeResponse(await s.answer(encodeScreenRequest({ chainId, groups }), from));
}

test("a group the provider can serve gets a bid at the engine's own price; nothing is reserved", async () => {
  const { engine, screener } = setup();
  const groups = sdl();
  const r = await ask(screener, groups);
  assert.ok(r.ok, JSON.stringify(r));
  const a = screenAnswerFrom(r as Parameters<typeof screenAnswerFrom>[0]);
  assert.equal(a.provider, ADDRESS);
  assert.equal(a.height, 7);
  // 500 millicores x 0.01 = 5 per block: what a real bid would be.
  assert.equal(a.groups, [{ name: "dc", bid: true, price: { denom: "ucrs", amount: "5" } }]);
  const real = engine.evaluate(screeningOrder(groups[0]!, 1, 7), groups[0]!, {
    address: ADDRESS,
    attributes: [{ key: "region", value: "us-west" }],
  }, 7);
  assert.equal(real.action === "bid" && real.price, { denom: "ucrs", amount: "5" });
  engine.onBidState("screen/0/1/1", "closed");
  assert.equal(engine.inventory.list(), [], "screening holds no reservation");
  assert.equal(engine.tracked(), []);
});

test("a group the provider would not bid on gets the bid engine's reason (storage class, price)", async () => {
  const { screener, engine } = setup();
  const beta3 = sdl({ storage: "{name: data, size: 1Gi, attributes: {persistent: true, class: beta3}}" });
  const r1 = await ask(screener, beta3);
  assert.ok(r1.ok);
  const g1 = (r1 as unknown as ScreenAnswer).groups[0]!;
  assert.equal(g1.bid, false);
  assert.equal(
    g1.bid === false && g1.reasons,
    ["unit 1 volume data: storage class beta3 not offered (offered: default, beta2)"],
  );
  // The reason is the engine's own words for the same order.
  const order = screeningOrder(beta3[0]!, 1, 7);
  const who = { address: ADDRESS, attributes: [{ key: "region", value: "us-west" }] };
  assert.equal(g1.bid === false && g1.reasons[0], engine.check(order, beta3[0]!, who));

  const cheap = sdl({ amount: "1" });
  const r2 = await ask(screener, cheap);
  const g2 = (r2 as unknown as ScreenAnswer).groups[0]!;
  assert.equal(g2.bid === false && g2.reasons, ["price 5 ucrs above max 1 ucrs"]);
  assert.equal(engine.inventory.list(), []);
});

test("too big for the free capacity: the reason is the capacity check's", async () => {
  const { screener, engine } = setup();
  const big = sdl();
  big[0]!.units[0]!.count = 9; // 9 x 0.5 cpu > 4 cpu
  const r = await ask(screener, big);
  const g = (r as unknown as ScreenAnswer).groups[0]!;
  assert.equal(g.bid, false);
  assert.match(
    g.bid === false ? g.reasons[0]! : "",
    /^capacity: insufficient cpu: needs 4500m, free 4 of 4$/,
  );
  assert.equal(engine.inventory.list(), []);
});

test("floods are bounded per peer: a burst, then busy, other peers unaffected, tokens come back", async () => {
  let now = 1_000_000;
  const { screener } = setup({ burst: 3, perMinute: 60 }, () => now);
  const groups = sdl();
  for (let i = 0; i < 3; i++) assert.ok((await ask(screener, groups, "flooder")).ok, `request ${i}`);
  const r = await ask(screener, groups, "flooder");
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.code, "busy");
  assert.match(!r.ok ? r.error : "", /too many screening requests from this peer; try again in 1s/);
  // Garbage from the flooder is refused as busy too (it costs a token like any request).
  const g = decodeResponse(await screener.answer(new Uint8Array([1, 2, 3]), "flooder"));
  assert.equal(!g.ok && g.code, "busy");
  assert.ok((await ask(screener, groups, "someone-else")).ok, "another peer is not limited");
  now += 1_000; // one token back
  assert.ok((await ask(screener, groups, "flooder")).ok);
  assert.equal((await ask(screener, groups, "flooder")).ok, false);
});

test("the rate limiter remembers a bounded number of peers", () => {
  const l = new RateLimiter({ burst: 1, perMinute: 1, keysMax: 100 });
  for (let i = 0; i < 1000; i++) assert.equal(l.take(`peer${i}`, 1, 0), null);
  assert.equal(l.size, 100);
  assert.equal(l.take("peer999", 1, 0), 60_000, "a remembered peer must wait for its next token");
  assert.throws(() => new RateLimiter({ burst: 0 }), /must be > 0/);
});

test("garbage request bytes get a clear bad_request, never a throw", async () => {
  const { screener } = setup({ burst: 1000, perMinute: 1000 });
  const cases: [Uint8Array, RegExp][] = [
    [new Uint8Array(), /malformed screen request: screen request/],
    [new Uint8Array([0xff, 0x00, 0x13]), /malformed screen request/],
    [crypto.getRandomValues(new Uint8Array(4096)), /malformed screen request/],
    [new Uint8Array(300 * 1024), /malformed screen request: .*(large|bytes)/],
    [encode([1, 2, 3]), /screen request: must be a map/],
    [encode({ chainId: CHAIN }), /screen request\.groups: missing/],
    [encode({ chainId: CHAIN, groups: [], extra: 1 }), /screen request\.extra: unknown field/],
    [encode({ chainId: CHAIN, groups: [] }), /screen request\.groups: must be an array of 1-/],
    [
      encode({ chainId: CHAIN, groups: [{ name: "x" }] }),
      /screen request\.groups\[0\]\.requirements: missing/,
    ],
  ];
  for (const [bytes, want] of cases) {
    const r = decodeResponse(await screener.answer(bytes, "peer"));
    assert.equal(r.ok, false, `refused: ${want}`);
    assert.equal(!r.ok && r.code, "bad_request", `${want}`);
    assert.match(!r.ok ? r.error : "", want);
  }
  const wrong = await ask(screener, sdl(), "peer", "other-chain");
  assert.equal(
    !wrong.ok && wrong.error,
    "the request is for chain other-chain, this provider is on cirrus-test",
  );
});

test("a provider answers screening over libp2p once its service has started (garbage too)", async () => {
  const cfg = parseProviderConfig(CONFIG, "/tmp");
  const host = await createP2P({
    transport: "memory",
    listen: [`/memory/p-${crypto.randomUUID()}`],
    topics: [],
  });
  const tenant = await createP2P({
    transport: "memory",
    listen: [`/memory/t-${crypto.randomUUID()}`],
    topics: [],
  });
  const stateDir = await Deno.makeTempDir();
  let service: ProviderService | undefined;
  try {
    const view = viewWith(cfg, host.addrs());
    const chain: ChainClient = {
      chainId: CHAIN,
      view: () => view,
      height: () => 7,
      onCommit: () => () => {},
      submit: () => Promise.resolve({ ok: false, error: "not in this test" }),
      addrs: () => host.addrs(),
      handle: (p, h) => host.handle(p, h),
      handleStream: (p, h) => host.handleStream(p, h),
    };
    service = new ProviderService({
      chain,
      driver: new SimDriver({
        capacity: { cpu: 4000, memory: 4 * 1024 ** 3, storage: 20 * 1024 ** 3, gpu: 0 },
      }),
      config: cfg,
      address: ADDRESS,
      stateDir,
    }, new BidEngine(cfg, new Inventory(capacityFromConfig(cfg))));
    await service.start();
    await tenant.dial(host.addrs()[0]!);
    const send = async (bytes: Uint8Array) =>
      decodeResponse(await tenant.request(host.peerId, SCREEN_PROTOCOL, bytes, { timeoutMs: 10_000 }));
    const ok = await send(
      encodeScreenRequest({ chainId: CHAIN, groups: [...sdl(), ...sdl({ name: "b", amount: "1" })] }),
    );
    assert.ok(ok.ok, JSON.stringify(ok));
    const a = screenAnswerFrom(ok as Parameters<typeof screenAnswerFrom>[0]);
    assert.equal(a.groups.map((g) => [g.name, g.bid]), [["dc", true], ["b", false]]);
    const bad = await send(new Uint8Array([0xa1, 0x61]));
    assert.equal(!bad.ok && bad.code, "bad_request");
    // still serving after garbage
    assert.ok((await send(encodeScreenRequest({ chainId: CHAIN, groups: sdl() }))).ok);
  } finally {
    await service?.stop();
    await tenant.stop();
    await host.stop();
    await Deno.remove(stateDir, { recursive: true });
  }
});

test("a screening answer from a provider is checked before the tenant believes it", () => {
  const good = {
    ok: true as const,
    provider: ADDRESS,
    height: 3,
    groups: [{ name: "g", bid: false, reasons: ["x"] }],
  };
  assert.equal(screenAnswerFrom(good).groups.length, 1);
  const bad: Record<string, unknown>[] = [
    { ...good, groups: [{ name: "g", bid: true }] },
    { ...good, groups: [{ name: "g", bid: true, price: { denom: "ucrs", amount: "-1" } }] },
    { ...good, groups: [{ name: "g", bid: false, reasons: [] }] },
    { ...good, height: -1 },
    { ...good, extra: 1 },
  ];
  for (const b of bad) assert.throws(() => screenAnswerFrom({ ok: true, ...b }), /screen answer/);
});

test.run();
