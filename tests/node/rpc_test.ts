/**
 * The RPC of a real single-validator node: every bad transaction named by the issue is rejected with
 * a reason, nothing changes, and the node keeps committing; bad requests get 4xx with {error}.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { decode, encode } from "cborg";
import { TestNet } from "../helpers/network.ts";
import { RpcServer } from "../../node/rpc.ts";
import { signTx, type Tx } from "../../node/ledger/tx.ts";
import { addressOf, generatePrivateKey, publicKeyOf, toHex } from "../../lib/crypto.ts";

let net: TestNet;
let rpc: RpcServer;
let url = "";

async function post(path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url + path, {
    method: "POST",
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}
async function get(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url + path);
  return { status: res.status, body: await res.json() };
}

function tx(over: Partial<Tx> = {}, body: Record<string, unknown> = {}): Tx {
  const [a, b] = net.accounts;
  return {
    chainId: "cirrus-test",
    type: "bank.send",
    from: a!.address,
    nonce: 0n,
    fee: 1n,
    body: { to: b!.address, amount: "5", ...body },
    ...over,
  };
}

async function submit(bytes: Uint8Array, wait = false) {
  return await post("/tx", { tx: toHex(bytes), wait });
}

test.before(async () => {
  net = await TestNet.create({ validators: 1, time: "real" }); // RPC over real HTTP
  await net.startAll();
  rpc = new RpcServer(net.nodes[0]!);
  url = await rpc.start("127.0.0.1:0");
  await net.waitHeight(1, 30_000);
});

test.after(async () => {
  await rpc?.stop();
  await net?.cleanup();
});

test("a valid transfer commits and both balances change", async () => {
  const [a, b] = net.accounts;
  const r = await submit(await signTx(tx(), a!.privKey), true);
  assert.is(r.status, 200, JSON.stringify(r.body));
  assert.ok(typeof r.body.height === "number");
  const acct = await get(`/query/account/${b!.address}`);
  assert.equal(acct.body.balance, "1000000005");
  const q = await get(`/query/tx/${r.body.txId}`);
  assert.is(q.body.height, r.body.height);
  const blk = await get(`/query/block/${r.body.height}`);
  assert.ok((blk.body.txs as string[]).includes(r.body.txId as string));
});

const badCases: [string, () => Promise<Uint8Array>, RegExp][] = [
  [
    "malformed CBOR",
    () => Promise.resolve(new Uint8Array([0xff, 0x00, 0x13, 0x37])),
    /cbor|malformed|decode/i,
  ],
  [
    "wrong chain id",
    () => signTx(tx({ chainId: "other-chain", nonce: 1n }), net.accounts[0]!.privKey),
    /chain/i,
  ],
  ["bad signature", async () => {
    const bytes = await signTx(tx({ nonce: 1n }), net.accounts[0]!.privKey);
    const env = decode(bytes) as Record<string, Uint8Array>;
    const sig = env.sig ?? env.signature;
    sig![0]! ^= 0xff;
    return encode(env);
  }, /signature/i],
  ["replayed nonce", () => signTx(tx({ nonce: 0n }), net.accounts[0]!.privKey), /nonce/i],
  ["skipped nonce", () => signTx(tx({ nonce: 7n }), net.accounts[0]!.privKey), /nonce/i],
  [
    "oversized tx",
    () => signTx(tx({ nonce: 1n }, { memo: "x".repeat(40_000) }), net.accounts[0]!.privKey),
    /size|large|bytes/i,
  ],
  ["unknown tx type", () => signTx(tx({ type: "bank.steal", nonce: 1n }), net.accounts[0]!.privKey), /type/i],
  [
    "amount above balance",
    () => signTx(tx({ nonce: 1n }, { amount: "999999999999999" }), net.accounts[0]!.privKey),
    /balance|insufficient|funds/i,
  ],
  ["negative amount", () => signTx(tx({ nonce: 1n }, { amount: "-5" }), net.accounts[0]!.privKey), /amount/i],
  [
    "non-integer amount",
    () => signTx(tx({ nonce: 1n }, { amount: "1.5" }), net.accounts[0]!.privKey),
    /amount/i,
  ],
  ["unknown account", () => {
    const k = generatePrivateKey();
    return signTx(tx({ from: addressOf(publicKeyOf(k)) }), k);
  }, /unknown account|not found/i],
];

for (const [name, make, reason] of badCases) {
  test(`rejects ${name} with a reason and changes nothing`, async () => {
    const [a, b] = net.accounts;
    const before = [await get(`/query/account/${a!.address}`), await get(`/query/account/${b!.address}`)];
    const r = await submit(await make());
    assert.is(r.status, 400, JSON.stringify(r.body));
    assert.type(r.body.error, "string");
    assert.match(r.body.error as string, reason);
    const after = [await get(`/query/account/${a!.address}`), await get(`/query/account/${b!.address}`)];
    assert.equal(after.map((x) => x.body.balance), before.map((x) => x.body.balance));
  });
}

test("the node keeps committing after all the bad input", async () => {
  const h = net.nodes[0]!.chain.height;
  await net.waitHeight(h + 3, 30_000);
});

test("bad requests get a 4xx with a JSON error", async () => {
  const cases: [() => Promise<{ status: number; body: Record<string, unknown> }>, number][] = [
    [() => post("/tx", "{not json"), 400],
    [() => post("/tx", { tx: "zz" }), 400],
    [() => post("/tx", [1, 2]), 400],
    [() => get("/query/account/notanaddress"), 400],
    [() => get(`/query/account/${addressOf(publicKeyOf(generatePrivateKey()))}`), 404],
    [() => get("/query/block/-1"), 400],
    [() => get("/query/block/abc"), 400],
    [() => get("/query/block/99999999"), 404],
    [() => get("/query/tx/xyz"), 400],
    [() => get(`/query/tx/${"0".repeat(64)}`), 404],
    [() => get("/nope"), 404],
    [() => post("/status", {}), 405],
  ];
  for (const [call, status] of cases) {
    const r = await call();
    assert.is(r.status, status, JSON.stringify(r.body));
    assert.type(r.body.error, "string");
  }
});

test("status has the shape scripts rely on", async () => {
  const s = await get("/status");
  assert.is(s.body.chainId, "cirrus-test");
  assert.type(s.body.height, "number");
  assert.type(s.body.hash, "string");
  assert.type(s.body.peers, "number");
});

test("GET /events streams the block, the tx and its events", async () => {
  const res = await fetch(`${url}/events?type=block&type=tx&type=event`);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const [a, b] = net.accounts;
  const nonce = net.nodes[0]!.mempool.nextNonce(net.nodes[0]!.chain.state, a!.address);
  const sent = await submit(await signTx(tx({ nonce }, { amount: "7" }), a!.privKey));
  assert.is(sent.status, 200, JSON.stringify(sent.body));
  const seen = new Set<string>();
  let buf = "";
  const deadline = Date.now() + 20_000;
  try {
    while (Date.now() < deadline && !(seen.has("tx") && seen.has("transfer") && seen.has("block"))) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      for (let i; (i = buf.indexOf("\n\n")) >= 0;) {
        const chunk = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const kind = /^event: (\w+)/m.exec(chunk)?.[1];
        const data = JSON.parse(/^data: (.*)$/m.exec(chunk)?.[1] ?? "null");
        if (kind === "block") seen.add("block");
        if (kind === "tx" && data.id === sent.body.txId) seen.add("tx");
        if (kind === "event" && data.txId === sent.body.txId && data.type === "transfer") {
          assert.is(data.attrs.amount, "7");
          assert.is(data.attrs.to, b!.address);
          seen.add("transfer");
        }
      }
    }
  } finally {
    await reader.cancel();
  }
  assert.equal([...seen].sort(), ["block", "transfer", "tx"]);
});

test.run();
