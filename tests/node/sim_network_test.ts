/**
 * The simulated network: gossip through the validators (reject/ignore stop the relay), latency and
 * FIFO links, partitions, seeded loss, determinism, request/response and streams, and a large
 * sparse network whose work per message is its fan-out.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { SimClock } from "../../lib/sim_clock.ts";
import { seededRng } from "../../lib/rng.ts";
import { type LinkProfile, SimNetwork } from "../../node/sim/network.ts";
import type { SimHost } from "../../node/sim/host.ts";
import type { GossipResult } from "../../node/gossip_validation.ts";
import { RemoteError } from "../../node/p2p.ts";

const TOPIC = "/t";
const enc = new TextEncoder();
const dec = new TextDecoder();

interface Sim {
  clock: SimClock;
  net: SimNetwork;
  hosts: SimHost[];
  got: string[][];
}

/** `n` hosts; host i bootstraps to `links(i)` (default: a line 0-1-2-...); each logs what it handles. */
async function sim(
  n: number,
  opts: { seed?: number; link?: Partial<LinkProfile>; links?: (i: number) => number[]; traceMax?: number } =
    {},
  verdict: (data: string, host: number) => GossipResult = () => "accept",
): Promise<Sim> {
  const clock = new SimClock();
  const net = new SimNetwork({
    clock,
    seed: opts.seed ?? 1,
    ...(opts.link ? { link: opts.link } : {}),
    traceMax: opts.traceMax ?? 0,
  });
  const hosts: SimHost[] = [];
  const got: string[][] = [];
  const links = opts.links ?? ((i: number) => (i === 0 ? [] : [i - 1]));
  for (let i = 0; i < n; i++) {
    const h = await net.join({
      transport: "memory",
      listen: [`/sim/h${i}`],
      topics: [TOPIC],
      bootstrap: links(i).map((j) => hosts[j]!.addrs()[0]!),
    });
    const mine: string[] = [];
    h.onMessage(TOPIC, (d) => verdict(dec.decode(d), i), (d) => mine.push(`${dec.decode(d)}@${clock.now()}`));
    hosts.push(h);
    got.push(mine);
  }
  return { clock, net, hosts, got };
}

test("gossip floods along links with the link latency, in FIFO order per link", async () => {
  const s = await sim(3, { link: { latencyMs: 10 } });
  assert.is(await s.hosts[0]!.publish(TOPIC, enc.encode("m1")), 1, "sent to its one linked peer");
  await s.hosts[0]!.publish(TOPIC, enc.encode("m2"));
  await s.clock.advance(100);
  assert.equal(s.got[1], ["m1@10", "m2@10"]);
  assert.equal(s.got[2], ["m1@20", "m2@20"], "relayed by host 1, one more hop");
  assert.equal(s.got[0], [], "the publisher does not handle its own message");
  assert.is(await s.hosts[0]!.publish(TOPIC, enc.encode("m1")), 0, "the same bytes again are one message");
});

test("with jitter, one link still delivers in the order sent (one connection is FIFO)", async () => {
  const s = await sim(2, { link: { latencyMs: 1, jitterMs: 50 } });
  const sent = Array.from({ length: 30 }, (_, k) => `m${k}`);
  for (const m of sent) await s.hosts[0]!.publish(TOPIC, enc.encode(m));
  await s.clock.advance(200);
  assert.equal(s.got[1]!.map((x) => x.split("@")[0]), sent);
});

test("a rejected message is not relayed and lowers the sender's score; ignored ones are dropped quietly", async () => {
  const s = await sim(
    3,
    {},
    (d, i) =>
      d.startsWith("bad") && i === 1
        ? { action: "reject", reason: "bad_signature" }
        : d.startsWith("meh")
        ? { action: "ignore", reason: "stale_height" }
        : "accept",
  );
  const [a, b, c] = s.hosts;
  await a!.publish(TOPIC, enc.encode("bad-1"));
  await a!.publish(TOPIC, enc.encode("meh-1"));
  await a!.publish(TOPIC, enc.encode("good-1"));
  await s.clock.advance(100);
  assert.equal(s.got[1]!.map((x) => x.split("@")[0]), ["good-1"]);
  assert.equal(
    s.got[2]!.map((x) => x.split("@")[0]),
    ["good-1"],
    "neither the rejected nor the ignored one reached C",
  );
  assert.is(b!.scoreOf(a!.peerId), -1, "one reject, one point");
  assert.equal(b!.gossipCounts(a!.peerId), { reject: { bad_signature: 1 }, ignore: { stale_height: 1 } });
  assert.is(c!.scoreOf(b!.peerId), 0);
});

test("a validator that throws counts as reject; topics not handled yet are ignored", async () => {
  const clock = new SimClock();
  const net = new SimNetwork({ clock, seed: 1 });
  const a = await net.join({ transport: "memory", listen: [], topics: [TOPIC] });
  const b = await net.join({ transport: "memory", listen: [], topics: [TOPIC], bootstrap: a.addrs() });
  await a.publish(TOPIC, enc.encode("before"));
  await clock.advance(50);
  b.onMessage(TOPIC, () => {
    throw new Error("boom");
  }, () => {});
  await a.publish(TOPIC, enc.encode("after"));
  await clock.advance(50);
  assert.is(b.scoreOf(a.peerId), -1, "only the message after onMessage was judged");
  assert.equal(b.gossipCounts(a.peerId).reject, { validator_error: 1 });
});

test("partitions cut gossip, requests and peer lists until healed", async () => {
  const s = await sim(4, { links: (i) => [...Array(i).keys()] }); // full mesh
  const [h0, h1, h2, h3] = s.hosts;
  const events: string[] = [];
  h0!.onPeer((p, e) => events.push(`${e}:${s.hosts.findIndex((h) => h.peerId === p)}`));
  s.net.partition([[h0!.peerId, h1!.peerId], [h2!.peerId, h3!.peerId]]);
  assert.equal(h0!.peers().sort(), [h1!.peerId].sort());
  assert.equal(events, ["disconnect:2", "disconnect:3"]);
  await h0!.publish(TOPIC, enc.encode("split"));
  await s.clock.advance(100);
  assert.is(s.got[1]!.length, 1);
  assert.is(s.got[2]!.length + s.got[3]!.length, 0, "nothing crossed the partition");
  await h2!.handle("/echo", (req) => req);
  try {
    await h0!.request(h2!.peerId, "/echo", enc.encode("x"));
    assert.unreachable("should throw");
  } catch (e) {
    assert.match((e as Error).message, /not connected/);
  }
  s.net.heal();
  assert.equal(events.slice(2), ["connect:2", "connect:3"]);
  await h0!.publish(TOPIC, enc.encode("healed"));
  await s.clock.advance(100);
  assert.equal(s.got[3]!.map((x) => x.split("@")[0]), ["healed"]);
});

test("loss drops gossip with the seeded rng; the same seed gives the same trace, another seed another", async () => {
  const run = async (seed: number) => {
    const s = await sim(6, {
      seed,
      link: { latencyMs: 5, jitterMs: 20, loss: 0.3 },
      links: (i) => [...Array(i).keys()],
      traceMax: 10_000,
    });
    const rng = seededRng(99);
    for (let k = 0; k < 40; k++) {
      await s.hosts[Math.floor(rng() * 6)]!.publish(TOPIC, enc.encode(`m${k}`));
      await s.clock.advance(3);
    }
    await s.clock.advance(1_000);
    return { trace: s.net.trace.join("\n"), stats: { ...s.net.stats }, got: s.got.map((g) => g.length) };
  };
  const a = await run(7), b = await run(7), c = await run(8);
  assert.ok(a.stats.lost > 0, `some messages were lost: ${JSON.stringify(a.stats)}`);
  assert.ok(a.got.every((n) => n > 0 && n <= 40), `flooding still delivers: ${a.got}`);
  assert.is(a.trace, b.trace, "same seed, same deliveries in the same order at the same times");
  assert.equal(a.stats, b.stats);
  assert.is.not(a.trace, c.trace, "another seed, another run");
});

test("request/response crosses the link twice; errors come back as RemoteError; a cut link times out", async () => {
  const s = await sim(2, { link: { latencyMs: 25 } });
  const [a, b] = s.hosts;
  await b!.handle(
    "/echo",
    (req, from) => enc.encode(`${dec.decode(req)} from ${from === a!.peerId ? "a" : "?"}`),
  );
  await b!.handle("/fail", () => {
    throw new Error("no such thing");
  });
  const reply = await s.clock.runFor(a!.request(b!.peerId, "/echo", enc.encode("hi")));
  assert.is(dec.decode(reply), "hi from a");
  assert.is(s.clock.now(), 50, "one round trip");
  try {
    await s.clock.runFor(a!.request(b!.peerId, "/fail", new Uint8Array(1)));
    assert.unreachable("should throw");
  } catch (e) {
    assert.instance(e, RemoteError);
    assert.match((e as Error).message, /no such thing/);
  }
  const pending = a!.request(b!.peerId, "/echo", enc.encode("lost"), { timeoutMs: 2_000 });
  s.net.partition([[a!.peerId]]);
  try {
    await s.clock.runFor(pending);
    assert.unreachable("should throw");
  } catch (e) {
    assert.match((e as Error).message, /timed out after 2000 ms/);
  }
});

test("a stream delivers the handler's frames in order, then ends; handler errors reach the reader", async () => {
  const s = await sim(2, { link: { latencyMs: 10 } });
  const [a, b] = s.hosts;
  await b!.handleStream("/count", async (req, _from, send) => {
    const n = Number(dec.decode(req));
    if (n < 0) throw new Error("negative");
    for (let i = 0; i < n; i++) await send(enc.encode(String(i)));
  });
  const read = async (n: number) => {
    const out: string[] = [];
    for await (const f of a!.openStream(b!.peerId, "/count", enc.encode(String(n)))) out.push(dec.decode(f));
    return out;
  };
  assert.equal(await s.clock.runFor(read(3)), ["0", "1", "2"]);
  try {
    await s.clock.runFor(read(-1));
    assert.unreachable("should throw");
  } catch (e) {
    assert.match((e as Error).message, /negative/);
  }
});

test("a stopped host leaves: its peers see it go, messages to it are dropped, its id can rejoin", async () => {
  const s = await sim(3, { links: (i) => [...Array(i).keys()] });
  const [a, b] = s.hosts;
  await b!.stop();
  assert.ok(!a!.peers().includes(b!.peerId));
  await a!.publish(TOPIC, enc.encode("while b is away"));
  await s.clock.advance(100);
  assert.is(s.got[2]!.length, 1);
  assert.is(s.got[1]!.length, 0);
  try {
    await s.net.join({ transport: "memory", listen: [], topics: [TOPIC], privateKey: new Uint8Array(32) });
    await s.net.join({ transport: "memory", listen: [], topics: [TOPIC], privateKey: new Uint8Array(32) });
    assert.unreachable("the same peer id twice is refused");
  } catch (e) {
    assert.match((e as Error).message, /already up/);
  }
});

test("300 hosts in a sparse graph: one message reaches all with deliveries bounded by the links", async () => {
  const n = 300, degree = 4;
  const rng = seededRng(3);
  const s = await sim(n, {
    links: (i) =>
      i === 0 ? [] : [...new Set(Array.from({ length: Math.min(i, degree) }, () => Math.floor(rng() * i)))],
  });
  let links = 0;
  for (const h of s.hosts) links += h.peers().length;
  const t0 = performance.now();
  await s.hosts[0]!.publish(TOPIC, enc.encode("everyone"));
  await s.clock.runUntil(() => s.got.every((g, i) => i === 0 || g.length === 1), {
    label: "delivery to all",
  });
  const wallMs = performance.now() - t0;
  assert.ok(s.net.stats.sent <= links, `at most one send per directed link: ${s.net.stats.sent} <= ${links}`);
  assert.ok(wallMs < 5_000, `fast: ${wallMs.toFixed(0)} ms`);
});

test.run();
