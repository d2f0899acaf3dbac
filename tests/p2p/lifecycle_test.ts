import { test } from "uvu";
import * as assert from "uvu/assert";
import { createP2P, type P2P, peerIdFromSeed } from "../../node/p2p.ts";
import { memoryAddr, stopAll, waitFor } from "../helpers/p2p.ts";

const TOPIC = "/cirrus/test/vote";
const root = new URL("../../", import.meta.url).pathname;

function seed(n: number): Uint8Array {
  return new Uint8Array(32).fill(n);
}

test("a 32-byte seed gives a stable PeerId; a bad seed is refused", async () => {
  const hosts: P2P[] = [];
  try {
    const expected = await peerIdFromSeed(seed(7));
    const a = await createP2P({
      transport: "memory",
      listen: [memoryAddr()],
      topics: [],
      privateKey: seed(7),
    });
    hosts.push(a);
    assert.is(a.peerId, expected);
    assert.ok(a.addrs().every((x) => x.endsWith(`/p2p/${expected}`)), String(a.addrs()));
    let err: unknown;
    try {
      await createP2P({ transport: "memory", listen: [], topics: [], privateKey: new Uint8Array(16) });
    } catch (e) {
      err = e;
    }
    assert.match(String(err), /32-byte/);
  } finally {
    await stopAll(hosts);
  }
});

test("nodes start in any order: bootstrap retries until the peer is up, and redials after it restarts", async () => {
  const hosts: P2P[] = [];
  try {
    const aAddr = memoryAddr("a");
    const aId = await peerIdFromSeed(seed(1));
    const events: string[] = [];
    // B starts first, its bootstrap peer A does not exist yet
    const b = await createP2P({
      transport: "memory",
      listen: [memoryAddr("b")],
      topics: [TOPIC],
      bootstrap: [`${aAddr}/p2p/${aId}`, "/memory/nobody-here/p2p/" + (await peerIdFromSeed(seed(99)))],
    });
    hosts.push(b);
    b.onPeer((id, ev) => events.push(`${ev}:${id === aId ? "A" : id}`));
    const got: string[] = [];
    b.onMessage(TOPIC, () => "accept", (d) => got.push(new TextDecoder().decode(d)));
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal(b.peers(), []);

    let a = await createP2P({ transport: "memory", listen: [aAddr], topics: [TOPIC], privateKey: seed(1) });
    hosts.push(a);
    const joined = await waitFor(() => b.peers().includes(aId), 8_000, "B connects to A");
    console.log(`  B connected ${joined.toFixed(0)} ms after A came up`);
    await waitFor(() => a.topicPeers(TOPIC).includes(b.peerId), 5_000, "A sees B's subscription");
    await a.publish(TOPIC, new TextEncoder().encode("v1"));
    await waitFor(() => got.includes("v1"), 5_000, "gossip after late start");

    // A restarts (same key, same address): B must come back by itself
    await a.stop();
    await waitFor(() => !b.peers().includes(aId), 5_000, "B notices A is gone");
    a = await createP2P({ transport: "memory", listen: [aAddr], topics: [TOPIC], privateKey: seed(1) });
    hosts.push(a);
    const back = await waitFor(() => b.peers().includes(aId), 10_000, "B reconnects to A");
    console.log(`  B reconnected ${back.toFixed(0)} ms after A restarted`);
    await waitFor(() => a.topicPeers(TOPIC).includes(b.peerId), 5_000, "resubscribed");
    await a.publish(TOPIC, new TextEncoder().encode("v2"));
    await waitFor(() => got.includes("v2"), 5_000, "gossip after restart");
    assert.ok(events.includes("connect:A") && events.includes("disconnect:A"), events.join(","));
  } finally {
    await stopAll(hosts);
  }
});

test("stop() leaves nothing running: a process that used 4 hosts exits by itself", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cirrus-p2p-" });
  try {
    const script = `${dir}/child.ts`;
    await Deno.writeTextFile(
      script,
      `import { createP2P } from ${JSON.stringify(`${root}node/p2p.ts`)};
import { startHosts, stopAll, waitFor } from ${JSON.stringify(`${root}tests/helpers/p2p.ts`)};
const hosts = [];
const t = "/t";
await startHosts(4, [t], hosts);
let got = 0;
hosts.forEach((h) => h.onMessage(t, () => "accept", () => got++));
await hosts[0].handle("/e", async (r) => r);
// a TCP host whose bootstrap peer never comes up: its retry loop must stop with it
const tcp = await createP2P({
  transport: "tcp",
  listen: ["/ip4/127.0.0.1/tcp/0"],
  topics: [t],
  bootstrap: ["/ip4/127.0.0.1/tcp/1/p2p/12D3KooWJwNEmWwtnfSHyxZF5GKS952TCa2c57RN28fb822Mb3EL"],
});
hosts.push(tcp);
await waitFor(() => hosts[1].topicPeers(t).length > 0, 10_000, "sub");
// the hub relays only to its mesh, formed on heartbeats: wait for the 3 leaves to be in it
await waitFor(() => hosts[0].meshPeers(t).length >= 3, 10_000, "hub mesh");
await hosts[1].publish(t, new Uint8Array([1, 2, 3]));
await hosts[1].request(hosts[0].peerId, "/e", new Uint8Array([9]));
await waitFor(() => got >= 3, 10_000, "delivery");
await new Promise((r) => setTimeout(r, 1_500)); // let a bootstrap retry be pending
await stopAll(hosts);
console.log("CHILD-STOPPED");
`,
    );
    const t0 = performance.now();
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--config", `${root}deno.json`, script],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const killer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }, 20_000);
    const out = await child.output();
    clearTimeout(killer);
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    const took = performance.now() - t0;
    console.log(`  child ran and exited in ${took.toFixed(0)} ms`);
    assert.ok(text.includes("CHILD-STOPPED"), text);
    assert.is(out.signal, null, `child had to be killed (it did not exit after stop()):\n${text}`);
    assert.is(out.code, 0, text);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test.run();
