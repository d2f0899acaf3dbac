/**
 * `node init --join RPC_URL`: the genesis (exact bytes) and peers come from a running node's RPC, the
 * chain id and genesis hash are checked, the new home syncs; an unreachable URL, a non-cirrus answer,
 * an oversized or malformed answer and a mismatched chain id or hash are refused with a reason and
 * leave no home behind.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { TestNet } from "../helpers/network.ts";
import { waitFor } from "../helpers/wait.ts";
import { cli } from "../helpers/cli.ts";
import { RpcServer } from "../../node/rpc.ts";
import { ConfigError, genesisHash, homePaths, loadHome } from "../../node/config.ts";
import { CirrusNode } from "../../node/node.ts";
import { JOIN_ANSWER_BYTES_MAX, joinNetwork, peerLimitOptions } from "../../cli/node_join.ts";
import { UserError } from "../../cli/util.ts";
import { toHex } from "../../lib/crypto.ts";

let net: TestNet;
let rpc: RpcServer;
let url = "";
let dir = "";
const servers: Deno.HttpServer[] = [];

test.before(async () => {
  net = await TestNet.create({ validators: 1, time: "real" });
  await net.startAll();
  rpc = new RpcServer(net.nodes[0]!);
  url = await rpc.start("127.0.0.1:0");
  dir = await Deno.makeTempDir({ prefix: "cirrus-join-" });
  await net.waitHeight(3, 30_000);
});

test.after(async () => {
  for (const s of servers) await s.shutdown().catch(() => {});
  await rpc?.stop();
  await net?.cleanup();
  if (dir) await Deno.remove(dir, { recursive: true }).catch(() => {});
});

/** A local HTTP server answering every request with `handler` (stopped in `after`). */
function serve(handler: (req: Request) => Response): Promise<string> {
  return new Promise((resolve) => {
    const s = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: (a) => resolve(`http://127.0.0.1:${a.port}`),
    }, handler);
    servers.push(s);
  });
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/** joinNetwork must refuse with a UserError matching `re`, writing nothing. */
async function refuses(opts: Partial<Parameters<typeof joinNetwork>[0]>, re: RegExp): Promise<void> {
  const home = join(dir, `refused-${crypto.randomUUID().slice(0, 8)}`);
  try {
    await joinNetwork({ url, home, moniker: "x", timeoutMs: 3_000, ...opts });
    assert.unreachable("joined");
  } catch (e) {
    assert.instance(e, UserError, String(e));
    assert.match((e as Error).message, re, (e as Error).message);
  }
  assert.not.ok(await exists(homePaths(home).config), "no config written");
  assert.not.ok(await exists(homePaths(home).genesis), "no genesis written");
}

test("GET /genesis serves the exact bytes of genesis.json, with their hash", async () => {
  const res = await fetch(`${url}/genesis`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  const file = await Deno.readFile(homePaths(net.homes[0]!).genesis);
  assert.equal(bytes, file);
  assert.is(res.headers.get("x-cirrus-genesis-hash"), genesisHash(file));
});

test("GET /net/peers lists this node's addresses and peer id, and no key", async () => {
  const res = await fetch(`${url}/net/peers`);
  const text = await res.text();
  const body = JSON.parse(text);
  assert.is(body.chainId, "cirrus-test");
  assert.is(body.peerId, net.nodes[0]!.p2p.peerId);
  assert.ok(body.addrs.length > 0 && body.addrs.every((a: string) => a.endsWith(`/p2p/${body.peerId}`)));
  assert.ok(Array.isArray(body.peers));
  assert.not.match(text, /priv/i);
  const home = await loadHome(net.homes[0]!);
  assert.not.ok(text.includes(toHex(home.nodeKey.privKey)));
});

test("a joined home has the network's genesis and peers, and its node syncs the chain", async () => {
  const home = join(dir, "joined");
  const r = await joinNetwork({ url, home, moniker: "joiner" });
  const file = await Deno.readFile(homePaths(net.homes[0]!).genesis);
  assert.equal(await Deno.readFile(homePaths(home).genesis), file, "genesis bytes as served");
  assert.is(r.genesisHash, genesisHash(file));
  assert.is(r.chainId, "cirrus-test");
  const loaded = await loadHome(home);
  assert.equal(loaded.config.bootstrap, r.bootstrap);
  assert.ok(r.bootstrap.includes(net.addrs[0]!), `bootstrap has node0: ${r.bootstrap}`);
  const target = net.nodes[0]!.chain.height + 2;
  const node = await CirrusNode.fromHome(home, {
    validator: false,
    transport: "memory",
    p2pListen: [`/memory/joiner-${crypto.randomUUID()}`],
  });
  try {
    await waitFor(() => node.chain.height >= target, 30_000, `joined node at height ${target}`);
    const h = node.chain.height;
    assert.equal(
      await node.chain.store.getBlock(h),
      await net.nodes[0]!.chain.store.getBlock(h),
      "same block",
    );
  } finally {
    await node.stop();
  }
});

test("--chain-id and --genesis-hash are checked", async () => {
  await refuses({ chainId: "other-chain" }, /chain id mismatch.*cirrus-test.*other-chain/);
  await refuses({ genesisHash: "00".repeat(32) }, /genesis hash mismatch/);
  await refuses({ genesisHash: "xyz" }, /--genesis-hash must be 64 hex/);
  const file = await Deno.readFile(homePaths(net.homes[0]!).genesis);
  const ok = await joinNetwork({
    url,
    home: join(dir, "pinned"),
    moniker: "p",
    chainId: "cirrus-test",
    genesisHash: genesisHash(file).toUpperCase(),
  });
  assert.is(ok.genesisHash, genesisHash(file));
});

test("an unreachable URL is refused with a reason", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  await refuses({ url: `http://127.0.0.1:${port}` }, /cannot reach http:\/\/127\.0\.0\.1:\d+/);
  await refuses({ url: "not a url" }, /is not a URL/);
  await refuses({ url: "ftp://127.0.0.1/" }, /http:\/\/ or https:\/\//);
});

test("a server that is not a cirrus node is refused", async () => {
  const html = await serve(() =>
    new Response("<html>hello</html>", { headers: { "content-type": "text/html" } })
  );
  await refuses({ url: html }, /not valid JSON.*not a cirrus node RPC/);
  const other = await serve(() => Response.json({ name: "something else" }));
  await refuses({ url: other }, /no chainId and height: not a cirrus node RPC/);
  const notFound = await serve(() => new Response("no", { status: 404 }));
  await refuses({ url: notFound }, /HTTP 404.*not a cirrus node RPC/);
  // a cirrus-like status whose genesis is not a genesis
  const badGenesis = await serve((req) =>
    new URL(req.url).pathname === "/status"
      ? Response.json({ chainId: "cirrus-test", height: 5 })
      : Response.json({ chainId: "cirrus-test" })
  );
  await refuses({ url: badGenesis }, /not a valid genesis/);
});

test("oversized and malformed answers are refused (bounded reads)", async () => {
  const big = "x".repeat(JOIN_ANSWER_BYTES_MAX + 10);
  const oversized = await serve(() => Response.json({ chainId: "cirrus-test", height: 1, pad: big }));
  await refuses({ url: oversized }, /more than the 1048576 bytes allowed/);
  // the same without a content-length: streamed, cut at the cap
  const streamed = await serve(() =>
    new Response(
      new ReadableStream({
        pull(c) {
          c.enqueue(new TextEncoder().encode(big.slice(0, 64 * 1024)));
        },
      }),
    )
  );
  await refuses({ url: streamed }, /more than the 1048576 bytes allowed/);
  const malformed = await serve(() => new Response('{"chainId": "cirrus-test", "height": '));
  await refuses({ url: malformed }, /GET \/status is not valid JSON/);
  // peers that are not addresses: nothing to dial
  const genesisBytes = await Deno.readFile(homePaths(net.homes[0]!).genesis);
  const noPeers = await serve((req) => {
    const p = new URL(req.url).pathname;
    if (p === "/status") return Response.json({ chainId: "cirrus-test", height: 5 });
    if (p === "/genesis") return new Response(genesisBytes.slice());
    return Response.json({ chainId: "cirrus-test", peerId: "nope", addrs: ["/garbage", 7], peers: [{}] });
  });
  await refuses({ url: noPeers }, /lists no dialable p2p address/);
});

test("peer limits: flags checked, written to config.json, a bad value in the config refused", async () => {
  assert.equal(peerLimitOptions({ peersMax: "12", connectionsPerIpMax: "3" }), {
    peersMax: 12,
    connectionsPerIpMax: 3,
  });
  assert.equal(peerLimitOptions({}), {});
  assert.throws(() => peerLimitOptions({ peersMax: "0" }), /--peers-max must be a positive integer/);
  assert.throws(() => peerLimitOptions({ connectionsPerIpMax: "x" }), /--connections-per-ip-max must be/);
  const home = join(dir, "limits");
  await joinNetwork({ url, home, moniker: "l", peersMax: 12, connectionsPerIpMax: 3 });
  const cfg = (await loadHome(home)).config;
  assert.is(cfg.peersMax, 12);
  assert.is(cfg.connectionsPerIpMax, 3);
  const raw = JSON.parse(await Deno.readTextFile(homePaths(home).config));
  await Deno.writeTextFile(homePaths(home).config, JSON.stringify({ ...raw, peersMax: -1 }));
  try {
    await loadHome(home);
    assert.unreachable("loaded");
  } catch (e) {
    assert.instance(e, ConfigError);
    assert.match((e as Error).message, /peersMax must be a positive integer/);
  }
});

test("the CLI: node init --join prints the genesis hash; a failure exits non-zero with the reason", async () => {
  const home = join(dir, "cli-home");
  const ok = await cli(
    "node",
    "init",
    "--join",
    url,
    "--moniker",
    "five",
    "--home",
    home,
    "--output",
    "json",
  );
  assert.is(ok.code, 0, ok.stderr);
  const out = JSON.parse(ok.stdout);
  assert.is(out.genesisHash, genesisHash(await Deno.readFile(homePaths(net.homes[0]!).genesis)));
  assert.is((await loadHome(home)).config.chainId, "cirrus-test");
  const bad = await cli(
    "node",
    "init",
    "--join",
    url,
    "--moniker",
    "six",
    "--home",
    join(dir, "cli-bad"),
    "--chain-id",
    "nope",
  );
  assert.is.not(bad.code, 0);
  assert.match(bad.stderr + bad.stdout, /chain id mismatch/);
});

test.run();
