/**
 * Peer discovery and limits on real libp2p hosts (memory transport, or TCP on 127.0.0.1 port 0; wall
 * time, bounded waits): a host bootstrapped to one peer of a 10-host network ends up connected to
 * several (through the DHT); learned peers survive a restart (the peer file) and bad entries of the
 * file are dropped; the peer cap and the per-IP cap refuse connections beyond them.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { createP2P, type P2P, type P2POptions, peerIdFromSeed } from "../../node/p2p.ts";
import { memoryAddr, stopAll, waitFor } from "../helpers/p2p.ts";
import { loadPeerFile, PEER_FILE_PEERS_MAX, savePeerFile } from "../../node/p2p_peer_file.ts";
import { generatePrivateKey } from "../../lib/crypto.ts";

const TOPICS = ["cirrus/test/discovery"];
const DHT = "/cirrus/test/kad/1.0.0";

function host(over: Partial<P2POptions> = {}): Promise<P2P> {
  return createP2P({ transport: "memory", listen: [memoryAddr("d")], topics: TOPICS, ...over });
}

async function dir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "cirrus-p2p-disc-" });
}

test("a host bootstrapped to one peer of a 10-host network connects to several (DHT)", async () => {
  const hosts: P2P[] = [];
  try {
    // a line: host i knows only host i-1, so without discovery nobody has more than 2 peers
    for (let i = 0; i < 10; i++) {
      const bootstrap = i === 0 ? [] : [hosts[i - 1]!.addrs()[0]!];
      hosts.push(await host({ bootstrap, dhtProtocol: DHT }));
    }
    const newcomer = await host({ bootstrap: [hosts[0]!.addrs()[0]!], dhtProtocol: DHT });
    hosts.push(newcomer);
    await waitFor(() => newcomer.peers().length >= 5, 60_000, "newcomer connected to 5 peers", 100);
    assert.ok(newcomer.peers().length >= 5, `peers: ${newcomer.peers().length}`);
  } finally {
    await stopAll(hosts);
  }
});

test("without discovery the same newcomer stays with its bootstrap peer (the control)", async () => {
  const hosts: P2P[] = [];
  try {
    for (let i = 0; i < 4; i++) {
      const bootstrap = i === 0 ? [] : [hosts[i - 1]!.addrs()[0]!];
      hosts.push(await host({ bootstrap }));
    }
    const newcomer = await host({ bootstrap: [hosts[0]!.addrs()[0]!] });
    hosts.push(newcomer);
    await waitFor(() => newcomer.peers().length >= 1, 10_000, "bootstrap link");
    await new Promise((r) => setTimeout(r, 1_500));
    assert.is(newcomer.peers().length, 1);
  } finally {
    await stopAll(hosts);
  }
});

test("peers learned survive a restart (the peer file)", async () => {
  const hosts: P2P[] = [];
  const d = await dir();
  const peerFile = join(d, "peers.json");
  const key = generatePrivateKey();
  try {
    const a = await host({ dhtProtocol: DHT });
    const b = await host({ bootstrap: [a.addrs()[0]!], dhtProtocol: DHT });
    hosts.push(a, b);
    const c = await host({ bootstrap: [b.addrs()[0]!], dhtProtocol: DHT, privateKey: key, peerFile });
    hosts.push(c);
    // connected, and identify has told c where a and b listen
    await waitFor(
      async () =>
        c.peers().includes(a.peerId) && (await c.peerAddrs!(a.peerId)).length > 0 &&
        (await c.peerAddrs!(b.peerId)).length > 0,
      30_000,
      "c discovers a",
      100,
    );
    await c.stop();
    const saved = await loadPeerFile(peerFile, () => {});
    assert.ok(saved.some((e) => e.peerId === a.peerId), "a is in the peer file");
    assert.ok(saved.some((e) => e.peerId === b.peerId), "b is in the peer file");
    // restarted with no bootstrap at all: it finds both again from the file
    const c2 = await host({ privateKey: key, peerFile });
    hosts.push(c2);
    assert.is(c2.peerId, c.peerId);
    await waitFor(
      () => c2.peers().includes(a.peerId) && c2.peers().includes(b.peerId),
      15_000,
      "c reconnects to a and b from the file",
      50,
    );
  } finally {
    await stopAll(hosts);
    await Deno.remove(d, { recursive: true }).catch(() => {});
  }
});

test("the peer file: bad entries dropped with a reason, a bad file ignored, size bounded", async () => {
  const d = await dir();
  try {
    const path = join(d, "peers.json");
    const good = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";
    const warnings: string[] = [];
    const log = (_l: string, msg: string, f?: Record<string, unknown>) =>
      warnings.push(`${msg} ${JSON.stringify(f)}`);
    await Deno.writeTextFile(
      path,
      JSON.stringify({
        peers: [
          { peerId: good, addrs: ["/ip4/10.0.0.1/tcp/26656", "not an address", 7], seenMs: 5 },
          { peerId: "not-a-peer-id", addrs: ["/ip4/10.0.0.2/tcp/1"] },
          { peerId: good.replace("D3e", "D3f"), addrs: [] },
          { peerId: good, addrs: [`/ip4/10.0.0.3/tcp/1/p2p/${good.replace("D3e", "Zzz")}`] },
          "junk",
        ],
      }),
    );
    const got = await loadPeerFile(path, log);
    assert.equal(got, [{ peerId: good, addrs: [`/ip4/10.0.0.1/tcp/26656/p2p/${good}`], seenMs: 5 }]);
    assert.ok(warnings.filter((w) => w.includes("entry dropped")).length >= 3, warnings.join("\n"));
    await Deno.writeTextFile(path, "{not json");
    assert.equal(await loadPeerFile(path, log), []);
    assert.ok(warnings.some((w) => w.includes("not JSON")));
    assert.equal(await loadPeerFile(join(d, "missing.json"), log), []);
    // bounded: more peers than the cap are trimmed to the most recently seen
    const ids = await Promise.all(
      Array.from({ length: PEER_FILE_PEERS_MAX + 20 }, () => peerIdFromSeed(generatePrivateKey())),
    );
    const many = ids.map((peerId, i) => ({
      peerId,
      addrs: [`/ip4/10.0.${i >> 8}.${i & 255}/tcp/1`],
      seenMs: i,
    }));
    await savePeerFile(path, many);
    const trimmed = await loadPeerFile(path, log);
    assert.is(trimmed.length, PEER_FILE_PEERS_MAX);
    assert.is(trimmed[0]!.peerId, ids.at(-1), "most recently seen first");
    assert.not.ok(trimmed.some((e) => e.peerId === ids[0]), "the oldest dropped");
  } finally {
    await Deno.remove(d, { recursive: true }).catch(() => {});
  }
});

/** Dial `target` from each of `dialers`; resolves to how many dials succeeded. */
async function dialAll(dialers: P2P[], target: P2P): Promise<number> {
  const r = await Promise.allSettled(dialers.map((h) => h.dial(target.addrs()[0]!)));
  return r.filter((x) => x.status === "fulfilled").length;
}

test("peersMax: a host takes no more than its cap", async () => {
  const hosts: P2P[] = [];
  try {
    const hub = await host({ connectionsMax: 3 });
    hosts.push(hub);
    const dialers: P2P[] = [];
    for (let i = 0; i < 6; i++) dialers.push(await host());
    hosts.push(...dialers);
    await dialAll(dialers, hub);
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(hub.peers().length <= 3, `hub has ${hub.peers().length} peers`);
    assert.ok(hub.peers().length >= 1, "some got in");
    const refused = dialers.filter((d) => !d.peers().includes(hub.peerId)).length;
    assert.ok(refused >= 3, `refused: ${refused}`);
  } finally {
    await stopAll(hosts);
  }
});

test("connectionsPerIpMax: at most N connections from one IP (TCP on 127.0.0.1), loopback exempt by default", async () => {
  const hosts: P2P[] = [];
  const tcp = (over: Partial<P2POptions> = {}) =>
    createP2P({ transport: "tcp", listen: ["/ip4/127.0.0.1/tcp/0"], topics: TOPICS, ...over });
  try {
    const strict = await tcp({ connectionsPerIpMax: 2, connectionsPerIpExempt: [] });
    const lenient = await tcp({ connectionsPerIpMax: 2 }); // 127.0.0.1 exempt
    hosts.push(strict, lenient);
    const dialers: P2P[] = [];
    for (let i = 0; i < 4; i++) dialers.push(await tcp());
    hosts.push(...dialers);
    for (const d of dialers) await d.dial(strict.addrs()[0]!).catch(() => {});
    await new Promise((r) => setTimeout(r, 500));
    assert.is(strict.peers().length, 2, `strict host has ${strict.peers().length} peers`);
    assert.is(await dialAll(dialers, lenient), 4);
    await waitFor(() => lenient.peers().length === 4, 5_000, "lenient host takes all 4");
  } finally {
    await stopAll(hosts);
  }
});

test.run();
