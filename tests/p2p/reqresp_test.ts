import { test } from "uvu";
import * as assert from "uvu/assert";
import { createP2P, type P2P, RemoteError } from "../../node/p2p.ts";
import { sleep, startHosts, stopAll, waitFor } from "../helpers/p2p.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const ECHO = "/cirrus/test/echo/1";

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected a rejection");
}

test("request/response over TCP on 127.0.0.1 port 0", async () => {
  const hosts: P2P[] = [];
  try {
    const opts = { transport: "tcp" as const, listen: ["/ip4/127.0.0.1/tcp/0"], topics: [] };
    const a = await createP2P(opts);
    hosts.push(a);
    const b = await createP2P(opts);
    hosts.push(b);
    await a.handle(ECHO, (req, from) => {
      assert.is(from, b.peerId);
      const out = new Uint8Array(5 + req.length);
      out.set(enc.encode("echo:"));
      out.set(req, 5);
      return out;
    });
    const addr = a.addrs().find((x) => x.startsWith("/ip4/127.0.0.1/tcp/"));
    assert.ok(addr !== undefined && !addr.includes("/tcp/0/"), `bound port: ${a.addrs()}`);
    await b.dial(addr);
    const t0 = performance.now();
    const resp = await b.request(a.peerId, ECHO, enc.encode("hi"));
    console.log(`  tcp request round trip (connected): ${(performance.now() - t0).toFixed(1)} ms`);
    assert.is(dec.decode(resp), "echo:hi");
    // a larger body, both ways
    const big = new Uint8Array(300_000).map((_, i) => i % 251);
    const back = await b.request(a.peerId, ECHO, big);
    assert.is(back.length, big.length + 5);
    assert.equal(back.subarray(5), big);
  } finally {
    await stopAll(hosts);
  }
});

test("request/response over memory; request dials by peer id when not connected", async () => {
  const hosts: P2P[] = [];
  try {
    const [a, b] = await startHosts(2, [], hosts);
    await a!.handle(ECHO, (req) => req);
    const r = await b!.request(a!.peerId, ECHO, enc.encode("mem"));
    assert.is(dec.decode(r), "mem");
    // empty request and empty response are fine
    assert.is((await b!.request(a!.peerId, ECHO, new Uint8Array())).length, 0);
    // and the other direction: a knows b from the inbound connection
    await b!.handle(ECHO, (req) => req);
    assert.is(dec.decode(await a!.request(b!.peerId, ECHO, enc.encode("back"))), "back");
  } finally {
    await stopAll(hosts);
  }
});

test("oversized request is rejected with an error; the server keeps serving", async () => {
  const hosts: P2P[] = [];
  try {
    const [a, b] = await startHosts(2, [], hosts);
    let calls = 0;
    await a!.handle(ECHO, (req) => {
      calls++;
      return req;
    }, { requestBytesMax: 1024 });
    const err = await rejection(b!.request(a!.peerId, ECHO, new Uint8Array(64 * 1024)));
    assert.instance(err, RemoteError);
    assert.match(err.message, /request too large: 65536 bytes > 1024/);
    assert.is(calls, 0, "the handler never saw the oversized request");
    assert.is(dec.decode(await b!.request(a!.peerId, ECHO, enc.encode("small"))), "small");
    // a much larger one (bigger than yamux windows) too
    const err2 = await rejection(b!.request(a!.peerId, ECHO, new Uint8Array(2 * 1024 * 1024)));
    assert.match(err2.message, /too large/);
    assert.is(dec.decode(await b!.request(a!.peerId, ECHO, enc.encode("again"))), "again");
  } finally {
    await stopAll(hosts);
  }
});

test("oversized response is refused by the client", async () => {
  const hosts: P2P[] = [];
  try {
    const [a, b] = await startHosts(2, [], hosts);
    await a!.handle(ECHO, () => new Uint8Array(10_000));
    const err = await rejection(b!.request(a!.peerId, ECHO, enc.encode("x"), { responseBytesMax: 100 }));
    assert.match(err.message, /response .* too large/);
    assert.is((await b!.request(a!.peerId, ECHO, enc.encode("x"))).length, 10_000);
  } finally {
    await stopAll(hosts);
  }
});

test("a handler that throws gives the requester a clear error", async () => {
  const hosts: P2P[] = [];
  try {
    const [a, b] = await startHosts(2, [], hosts);
    await a!.handle(ECHO, (req) => {
      if (dec.decode(req) === "bad") throw new Error("no such lease 42");
      return req;
    });
    const err = await rejection(b!.request(a!.peerId, ECHO, enc.encode("bad")));
    assert.instance(err, RemoteError);
    assert.is(err.message, "handler error: no such lease 42");
    assert.is(dec.decode(await b!.request(a!.peerId, ECHO, enc.encode("ok"))), "ok");
  } finally {
    await stopAll(hosts);
  }
});

test("request timeout", async () => {
  const hosts: P2P[] = [];
  try {
    const [a, b] = await startHosts(2, [], hosts);
    await a!.handle(ECHO, async (req) => {
      await sleep(1_500);
      return req;
    });
    const t0 = performance.now();
    const err = await rejection(b!.request(a!.peerId, ECHO, enc.encode("slow"), { timeoutMs: 200 }));
    const took = performance.now() - t0;
    assert.is(err.name, "TimeoutError");
    assert.match(err.message, /timed out after 200 ms/);
    assert.ok(took < 1_000, `timed out in ${took} ms`);
    // unknown peer: bounded failure, not a hang
    const stranger = await createP2P({ transport: "memory", listen: [], topics: [] });
    const id = stranger.peerId;
    await stranger.stop();
    const t1 = performance.now();
    await rejection(b!.request(id, ECHO, enc.encode("?"), { timeoutMs: 2_000 }));
    assert.ok(performance.now() - t1 < 3_000);
  } finally {
    await stopAll(hosts);
  }
});

test("concurrent inbound streams per protocol are bounded ('busy')", async () => {
  const hosts: P2P[] = [];
  try {
    const [a, b] = await startHosts(2, [], hosts);
    let inFlight = 0, peak = 0;
    await a!.handle(ECHO, async (req) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await sleep(300);
      inFlight--;
      return req;
    }, { concurrentMax: 2 });
    const results = await Promise.allSettled(
      [1, 2, 3, 4].map((i) => b!.request(a!.peerId, ECHO, enc.encode(`r${i}`))),
    );
    const ok = results.filter((r) => r.status === "fulfilled").length;
    const busy = results.filter((r) => r.status === "rejected" && /busy/.test(String(r.reason))).length;
    assert.is(peak, 2);
    assert.is(ok, 2);
    assert.is(busy, 2);
  } finally {
    await stopAll(hosts);
  }
});

test("streaming: many frames until done; early cancel aborts the server side", async () => {
  const hosts: P2P[] = [];
  try {
    const [a, b] = await startHosts(2, [], hosts);
    let cancelled = false;
    await a!.handleStream("/cirrus/test/logs/1", async (req, _from, send, signal) => {
      const n = Number(dec.decode(req));
      if (n < 0) throw new Error("negative count");
      if (n === 0) { // follow forever until the client goes away
        for (let i = 0; !signal.aborted; i++) {
          await send(enc.encode(`tick ${i}`)).catch(() => {});
          await sleep(20);
        }
        cancelled = true;
        return;
      }
      for (let i = 0; i < n; i++) await send(enc.encode(`line ${i}`));
    });
    const lines: string[] = [];
    for await (const f of b!.openStream(a!.peerId, "/cirrus/test/logs/1", enc.encode("50"))) {
      lines.push(dec.decode(f));
    }
    assert.is(lines.length, 50);
    assert.is(lines[49], "line 49");

    const err = await rejection((async () => {
      for await (const _ of b!.openStream(a!.peerId, "/cirrus/test/logs/1", enc.encode("-1"))) { /* none */ }
    })());
    assert.instance(err, RemoteError);
    assert.match(err.message, /negative count/);

    let ticks = 0;
    for await (const _ of b!.openStream(a!.peerId, "/cirrus/test/logs/1", enc.encode("0"))) {
      if (++ticks === 3) break;
    }
    await waitFor(() => cancelled, 5_000, "server notices the cancel");
  } finally {
    await stopAll(hosts);
  }
});

test.run();
