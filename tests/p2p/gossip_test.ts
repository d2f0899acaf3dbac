import { test } from "uvu";
import * as assert from "uvu/assert";
import { GOSSIP_BYTES_MAX, type GossipResult, GossipStats, type P2P } from "../../node/p2p.ts";
import { REJECT } from "../../node/gossip_validation.ts";
import { sleep, startHosts, stopAll, waitFor } from "../helpers/p2p.ts";

const TOPIC = "/cirrus/test/txs";
const enc = new TextEncoder();
const dec = new TextDecoder();

/** Line topology A - B - C: B bootstraps to A, C bootstraps to B; no other links (PX is off). */
async function line(
  hosts: P2P[],
  validateAtB: (data: Uint8Array) => GossipResult | Promise<GossipResult>,
  statsAtB = new GossipStats(),
) {
  const [a, b, c] = await startHosts(
    3,
    [TOPIC],
    hosts,
    (i) => (i === 0 ? [] : [i - 1]),
    (i) => (i === 1 ? { gossipStats: statsAtB } : {}),
  );
  const seen = { a: [] as string[], b: [] as string[], c: [] as string[] };
  a!.onMessage(TOPIC, () => "accept", (d) => seen.a.push(dec.decode(d)));
  b!.onMessage(TOPIC, (d) => validateAtB(d), (d) => seen.b.push(dec.decode(d)));
  c!.onMessage(TOPIC, () => "accept", (d) => seen.c.push(dec.decode(d)));
  await waitFor(
    () =>
      b!.topicPeers(TOPIC).length === 2 && a!.topicPeers(TOPIC).length === 1 &&
      c!.topicPeers(TOPIC).length === 1 &&
      // B relays only to its mesh (formed on heartbeats): wait until A and C are in it
      b!.meshPeers(TOPIC).length === 2,
    10_000,
    "line topology subscriptions",
  );
  assert.not.ok(a!.peers().includes(c!.peerId), "A and C must not be directly connected");
  return { a: a!, b: b!, c: c!, seen };
}

test("4 memory hosts: a message published by one reaches all others", async () => {
  const hosts: P2P[] = [];
  try {
    await startHosts(4, [TOPIC], hosts);
    const got: string[][] = hosts.map(() => []);
    hosts.forEach((h, i) => h.onMessage(TOPIC, () => "accept", (d) => got[i]!.push(dec.decode(d))));
    await waitFor(() => hosts.every((h) => h.topicPeers(TOPIC).length >= 1), 10_000, "subscriptions");
    // the hub relays only to its mesh (formed on heartbeats): wait until the 3 leaves are in it
    await waitFor(() => hosts[0]!.meshPeers(TOPIC).length >= 3, 10_000, "mesh at the hub");
    // publish from a leaf (host 3): it reaches host 0 directly, hosts 1 and 2 only via relay
    const n = await hosts[3]!.publish(TOPIC, enc.encode("hello-all"));
    assert.ok(n >= 1, `recipients ${n}`);
    await waitFor(() => [0, 1, 2].every((i) => got[i]!.includes("hello-all")), 10_000, "delivery to all");
    assert.equal(got[3], [], "emitSelf is off");
    // content-addressed ids: publishing the same bytes again is a no-op, not an error
    assert.is(await hosts[3]!.publish(TOPIC, enc.encode("hello-all")), 0);
    await sleep(200);
    assert.equal(got.map((g) => g.length), [1, 1, 1, 0], "each host got it exactly once");
  } finally {
    await stopAll(hosts);
  }
});

test("publish with no peers resolves to 0; oversized and unknown-topic publish throw", async () => {
  const hosts: P2P[] = [];
  try {
    const [a] = await startHosts(1, [TOPIC], hosts, () => [], { messageBytesMax: 1024 });
    assert.is(await a!.publish(TOPIC, enc.encode("alone")), 0);
    let err: unknown;
    try {
      await a!.publish(TOPIC, new Uint8Array(2048));
    } catch (e) {
      err = e;
    }
    assert.match(String(err), /exceeds messageBytesMax/);
    err = undefined;
    try {
      await a!.publish("/other", enc.encode("x"));
    } catch (e) {
      err = e;
    }
    assert.match(String(err), /not a configured topic/);
  } finally {
    await stopAll(hosts);
  }
});

test("rejected message: not delivered at B, not relayed to C, sender's score at B drops, reason counted for the sender", async () => {
  const hosts: P2P[] = [];
  try {
    const stats = new GossipStats();
    const { a, b, c, seen } = await line(
      hosts,
      (d) => (dec.decode(d).startsWith("bad") ? REJECT.malformed : "accept"),
      stats,
    );
    const before = b.scoreOf(a.peerId);
    await a.publish(TOPIC, enc.encode("bad-1"));
    await a.publish(TOPIC, enc.encode("good-1"));
    await waitFor(() => seen.c.includes("good-1"), 10_000, "good message at C");
    await sleep(300); // give a stray relay of bad-1 time to show up
    assert.ok(!seen.b.includes("bad-1"), "B's handler must not see a rejected message");
    assert.ok(!seen.c.includes("bad-1"), "C must never see a message B rejected");
    assert.ok(seen.b.includes("good-1"));
    // gossipsub caches a score for one heartbeat: poll
    await waitFor(() => b.scoreOf(a.peerId) < 0, 3_000, "score of A at B below 0").catch(() => {});
    const after = b.scoreOf(a.peerId);
    console.log(`  score of A at B: before ${before.toFixed(3)}, after one reject ${after.toFixed(3)}`);
    assert.ok(after < before && after < 0, `score should drop below 0: ${before} -> ${after}`);
    assert.ok(b.scoreOf(c.peerId) >= 0, "C's score is untouched");
    assert.equal(stats.peer(a.peerId), { reject: { malformed: 1 }, ignore: {} }, "counted for A, by reason");
    assert.equal(stats.peer(c.peerId), { reject: {}, ignore: {} }, "nothing counted for C");
  } finally {
    await stopAll(hosts);
  }
});

test("a throwing validator counts as reject and the node keeps working", async () => {
  const hosts: P2P[] = [];
  try {
    const stats = new GossipStats();
    const { a, b, c, seen } = await line(hosts, (d) => {
      if (dec.decode(d) === "boom") throw new Error("validator exploded");
      return "accept";
    }, stats);
    await a.publish(TOPIC, enc.encode("boom"));
    await a.publish(TOPIC, enc.encode("after-boom"));
    await waitFor(() => seen.c.includes("after-boom"), 10_000, "message after the throw at C");
    assert.ok(!seen.b.includes("boom") && !seen.c.includes("boom"));
    await waitFor(() => b.scoreOf(a.peerId) < 0, 3_000, "throw = reject lowers the score");
    assert.equal(
      stats.peer(a.peerId).reject,
      { validator_error: 1 },
      "a throw is counted as validator_error",
    );
    // C publishes back through B: B still relays in the other direction
    await c.publish(TOPIC, enc.encode("from-c"));
    await waitFor(() => seen.a.includes("from-c"), 10_000, "C -> A through B");
  } finally {
    await stopAll(hosts);
  }
});

test("ignore: not delivered, not relayed, no score penalty; async validators work", async () => {
  const hosts: P2P[] = [];
  try {
    const { a, b, seen } = await line(hosts, () => "accept");
    b.onMessage(TOPIC, async (d) => {
      await sleep(5);
      return dec.decode(d) === "meh" ? { action: "ignore", reason: "stale_height" } : "accept";
    }, (d) => seen.b.push(dec.decode(d)));
    await a.publish(TOPIC, enc.encode("meh"));
    await a.publish(TOPIC, enc.encode("fine"));
    await waitFor(() => seen.c.includes("fine"), 10_000, "fine at C");
    assert.ok(!seen.b.includes("meh") && !seen.c.includes("meh"));
    assert.ok(b.scoreOf(a.peerId) >= 0, `ignore must not penalise: ${b.scoreOf(a.peerId)}`);
  } finally {
    await stopAll(hosts);
  }
});

test("a throwing message handler does not break delivery", async () => {
  const hosts: P2P[] = [];
  try {
    const [a, b] = await startHosts(2, [TOPIC], hosts);
    const got: string[] = [];
    b!.onMessage(TOPIC, () => "accept", (d) => {
      got.push(dec.decode(d));
      throw new Error("handler bug");
    });
    await waitFor(() => a!.topicPeers(TOPIC).length === 1, 10_000, "subscription");
    await a!.publish(TOPIC, enc.encode("m1"));
    await a!.publish(TOPIC, enc.encode("m2"));
    await waitFor(() => got.length === 2, 10_000, "both messages");
  } finally {
    await stopAll(hosts);
  }
});

test("a message of GOSSIP_BYTES_MAX is delivered and relayed; larger ones are refused at publish", async () => {
  const hosts: P2P[] = [];
  try {
    // messageBytesMax above the gossipsub frame cap is clamped to GOSSIP_BYTES_MAX
    await startHosts(3, [TOPIC], hosts, undefined, { messageBytesMax: 8 * 1024 * 1024 });
    const sizes: number[] = [];
    hosts.forEach((h) => h.onMessage(TOPIC, () => "accept", (d) => sizes.push(d.length)));
    await waitFor(() => hosts[0]!.meshPeers(TOPIC).length === 2, 10_000, "mesh at the hub");
    assert.is(await hosts[1]!.publish(TOPIC, new Uint8Array(GOSSIP_BYTES_MAX).fill(1)), 1);
    await waitFor(() => sizes.length === 2, 10_000, "big message at both peers (one via relay)");
    assert.equal(sizes, [GOSSIP_BYTES_MAX, GOSSIP_BYTES_MAX]);
    let err: unknown;
    try {
      await hosts[1]!.publish(TOPIC, new Uint8Array(GOSSIP_BYTES_MAX + 1));
    } catch (e) {
      err = e;
    }
    assert.match(String(err), /exceeds messageBytesMax/);
  } finally {
    await stopAll(hosts);
  }
});

test.run();
