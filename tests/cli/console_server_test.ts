/**
 * The console's server (cli/console_server.ts, cli/console_api.ts) over real HTTP on port 0, with a
 * stand-in node: the bundle and the RPC are served, and every refusal carries its reason (devnet keys
 * off a devnet, unknown relay protocols, bad or oversized request bytes, paths outside the bundle,
 * foreign host names).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { ConsoleServer } from "../../cli/console_server.ts";
import type { ConsoleNode } from "../../cli/console_api.ts";
import { Keystore } from "../../node/keystore.ts";

const examplesDir = new URL("../../examples", import.meta.url).pathname;

/** A node with nothing behind it: enough for the refusals, which never reach the chain or the network. */
function standIn(chainId: string): ConsoleNode {
  return {
    chainId,
    log: () => {},
    chain: { ledger: { query: () => undefined } },
    p2p: { dial: () => Promise.reject(new Error("no network here")) },
  } as unknown as ConsoleNode;
}

async function withServer(
  chainId: string,
  opts: { devnetKeysHome?: string },
  fn: (url: string, dist: string) => Promise<void>,
): Promise<void> {
  const dist = await Deno.makeTempDir({ prefix: "cirrus-console-dist-" });
  await Deno.writeTextFile(join(dist, "index.html"), "<!doctype html><title>cirrus console</title>");
  await Deno.writeTextFile(join(dist, "app.js"), "console.log(1)");
  const rpc = {
    handle: (req: Request) =>
      Promise.resolve(Response.json({ rpcPath: new URL(req.url).pathname, method: req.method })),
  };
  const server = new ConsoleServer(standIn(chainId), rpc, { distDir: dist, examplesDir, ...opts });
  const url = await server.start("127.0.0.1:0");
  try {
    await fn(url, dist);
  } finally {
    await server.stop();
    await Deno.remove(dist, { recursive: true });
  }
}

async function getJson(
  url: string,
  init?: RequestInit,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(url, init);
  return { status: r.status, body: await r.json() };
}

test("serves the bundle, the node's RPC under /api and the templates of examples/", async () => {
  await withServer("cirrus-devnet", {}, async (url) => {
    const page = await fetch(url);
    assert.is(page.status, 200);
    assert.match(page.headers.get("content-type") ?? "", /text\/html/);
    assert.match(await page.text(), /cirrus console/);
    const js = await fetch(`${url}/app.js`);
    assert.match(js.headers.get("content-type") ?? "", /javascript/);
    await js.body?.cancel();
    const rpc = await getJson(`${url}/api/query/account/x?y=1`);
    assert.equal(rpc.body, { rpcPath: "/query/account/x", method: "GET" });
    const t = await getJson(`${url}/api/console/templates`);
    const names = (t.body.templates as { name: string; title: string }[]).map((x) => x.name);
    assert.ok(names.includes("hello.yaml"), names.join());
    assert.not.ok(names.includes("provider.yaml"), "a provider config is not an SDL template");
  });
});

test("devnet keys: refused off a test chain, and without a keystore; on a devnet, the named keys only", async () => {
  await withServer("cirrus-mainnet", {}, async (url) => {
    const r = await getJson(`${url}/api/console/devnet-keys`);
    assert.is(r.status, 403);
    assert.match(String(r.body.error), /for tests only.*cirrus-mainnet/);
  });
  await withServer("cirrus-devnet", {}, async (url) => {
    const r = await getJson(`${url}/api/console/devnet-keys`);
    assert.is(r.status, 404);
    assert.match(String(r.body.error), /not given the devnet's keystore/);
  });
  const home = await Deno.makeTempDir({ prefix: "cirrus-console-keys-" });
  try {
    const ks = new Keystore(home);
    const alice = await ks.add("alice");
    await ks.add("bench0");
    await withServer("cirrus-devnet", { devnetKeysHome: home }, async (url) => {
      const r = await getJson(`${url}/api/console/devnet-keys`);
      assert.is(r.status, 200);
      const keys = r.body.keys as { name: string; address: string; seed: string }[];
      assert.equal(keys.map((k) => k.name), ["alice"]);
      assert.is(keys[0]!.address, alice.address);
      assert.match(keys[0]!.seed, /^[0-9a-f]{64}$/);
    });
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

test("relay: unknown protocols, non-hex, oversized bytes and bad JSON are refused with the reason", async () => {
  await withServer("cirrus-devnet", {}, async (url) => {
    const post = (body: string) =>
      getJson(`${url}/api/console/relay`, {
        method: "POST",
        body,
        headers: { "content-type": "application/json" },
      });
    let r = await post(JSON.stringify({ provider: "cirrus1x", protocol: "sync", request: "00" }));
    assert.is(r.status, 400);
    assert.match(String(r.body.error), /protocol must be "manifest" or "lease"/);
    r = await post(JSON.stringify({ provider: "cirrus1x", protocol: "lease", request: "xyz" }));
    assert.is(r.status, 400);
    assert.match(String(r.body.error), /lowercase hex/);
    r = await post(JSON.stringify({ provider: "cirrus1x", protocol: "lease", request: "ab".repeat(5000) }));
    assert.is(r.status, 413);
    r = await post("{not json");
    assert.is(r.status, 400);
    assert.match(String(r.body.error), /not valid JSON/);
    const big = await getJson(`${url}/api/console/relay`, {
      method: "POST",
      body: "x".repeat(3 * 1024 * 1024),
    });
    assert.is(big.status, 413);
    r = await getJson(`${url}/api/console/nothing`);
    assert.is(r.status, 404);
    assert.match(String(r.body.error), /no console route GET nothing/);
  });
});

/** One raw HTTP/1.1 GET (fetch cannot set the Host header); the whole response as text. */
async function rawGet(url: string, path: string, host: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(new URL(url).port) });
  try {
    await conn.write(
      new TextEncoder().encode(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`),
    );
    let text = "";
    const buf = new Uint8Array(4096);
    const dec = new TextDecoder();
    for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
      text += dec.decode(buf.subarray(0, n));
    }
    return text;
  } finally {
    conn.close();
  }
}

test("paths outside the bundle and foreign host names are refused", async () => {
  await withServer("cirrus-devnet", {}, async (url) => {
    const traversal = await rawGet(url, "/../../../etc/passwd", "127.0.0.1");
    assert.not.match(traversal, /root:/);
    const encoded = await rawGet(url, "/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "127.0.0.1");
    assert.not.match(encoded, /root:/);
    // The URL parser resolves the dots first: what is served is the bundle's page, never the file.
    assert.match(encoded, /cirrus console|error/);
    const missing = await fetch(`${url}/nothing.js`);
    assert.is(missing.status, 404);
    await missing.body?.cancel();
    const rebound = await rawGet(url, "/api/status", "evil.example");
    assert.match(rebound, /^HTTP\/1\.1 403/);
    assert.match(rebound, /host \\"evil.example\\" refused/);
    assert.match(await rawGet(url, "/api/status", "localhost"), /^HTTP\/1\.1 200/);
  });
});

test.run();
