/**
 * RPC limits (issue 8 finding 8): a chunked body larger than the cap is refused while it streams
 * (never buffered whole), and an SSE client that never reads is dropped once its queue is full.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { TestNet } from "../helpers/network.ts";
import { type RpcNode, RpcServer } from "../../node/rpc.ts";
import type { CommittedBlock } from "../../node/chain.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let o = 0; o < data.length;) o += await conn.write(data.subarray(o));
}

/** Read from `conn` until `want` appears in what was read or `ms` pass; returns what was read. */
async function readUntil(conn: Deno.Conn, want: string, ms: number): Promise<string> {
  let text = "";
  const buf = new Uint8Array(4096);
  const deadline = Date.now() + ms;
  while (!text.includes(want) && Date.now() < deadline) {
    const n = await Promise.race([
      conn.read(buf),
      new Promise<"late">((r) => setTimeout(() => r("late"), Math.max(1, deadline - Date.now()))),
    ]);
    if (n === "late" || n === null) break;
    text += dec.decode(buf.subarray(0, n));
  }
  return text;
}

test("finding 8: a chunked body over the cap is refused while it streams, never buffered whole", async () => {
  const net = await TestNet.create({ validators: 1, time: "real" }); // RPC over real HTTP;
  let rpc: RpcServer | null = null;
  let conn: Deno.Conn | null = null;
  try {
    const node = await net.start(0);
    rpc = new RpcServer(node);
    const url = new URL(await rpc.start("127.0.0.1:0"));
    conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(url.port) });
    const c = conn;
    await writeAll(
      c,
      enc.encode(
        "POST /tx HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n",
      ),
    );
    // 9 MiB of chunks, and never the terminating chunk: a server that buffers the whole body waits forever
    const chunk = new Uint8Array(64 * 1024).fill(0x20);
    const head = enc.encode(`${chunk.length.toString(16)}\r\n`);
    const tail = enc.encode("\r\n");
    const writing = (async () => {
      for (let i = 0; i < 9 * 16; i++) {
        await writeAll(c, head);
        await writeAll(c, chunk);
        await writeAll(c, tail);
      }
    })().catch(() => {}); // the server may close on us
    const reply = await readUntil(c, "\r\n\r\n", 10_000);
    assert.match(reply, /^HTTP\/1\.1 413/, `refused with 413 while streaming, got: ${reply.slice(0, 80)}`);
    c.close();
    conn = null;
    await writing;
  } finally {
    conn?.close();
    await rpc?.stop();
    await net.cleanup();
  }
});

test("finding 8: an SSE client that never reads is dropped once its bounded queue is full", async () => {
  const net = await TestNet.create({ validators: 1, time: "real" }); // RPC over real HTTP;
  let rpc: RpcServer | null = null;
  let conn: Deno.Conn | null = null;
  try {
    const node = await net.start(0);
    const listeners: ((b: CommittedBlock) => void)[] = [];
    // the real node, except that the test emits the committed blocks
    const rpcNode: RpcNode = {
      chain: node.chain,
      mempool: node.mempool,
      log: node.log,
      clock: node.clock,
      status: () => node.status(),
      submitTx: (b) => node.submitTx(b),
      onCommit: (fn) => {
        listeners.push(fn);
        return () => {};
      },
    };
    rpc = new RpcServer(rpcNode);
    const url = new URL(await rpc.start("127.0.0.1:0"));
    conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(url.port) });
    await conn.write(enc.encode("GET /events?type=event HTTP/1.1\r\nhost: x\r\n\r\n"));
    const hello = await readUntil(conn, "cirrus events", 5_000);
    assert.match(hello, /200/, "subscribed");
    assert.is(rpc.sseClients, 1);
    // the client never reads again: push 64 MiB of events (more than any socket buffers)
    const attrs = { blob: "x".repeat(64 * 1024) };
    const block: CommittedBlock = {
      height: 1,
      hash: "00".repeat(32),
      time: 0,
      proposer: "p",
      txs: [],
      appHash: "00".repeat(32),
      events: Array.from({ length: 16 }, () => ({ type: "big", attrs })),
    };
    for (let i = 0; i < 64 && rpc.sseClients > 0; i++) {
      for (const l of listeners) l(block);
      await new Promise((r) => setTimeout(r, 5)); // let the server write what the socket takes
    }
    assert.is(rpc.sseClients, 0, "the slow client was dropped");
  } finally {
    conn?.close();
    await rpc?.stop();
    await net.cleanup();
  }
});

test.run();
