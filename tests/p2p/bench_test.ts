/**
 * Measurements (printed, not asserted beyond completion): gossip round-trip latency between two of 4
 * memory hosts, and deliveries/s of 1,000 1-KB messages published by one host to 3 others.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { P2P } from "../../node/p2p.ts";
import { startHosts, stopAll, waitFor } from "../helpers/p2p.ts";

const PING = "/cirrus/bench/ping";
const PONG = "/cirrus/bench/pong";
const DATA = "/cirrus/bench/data";

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

test("gossip round trip and throughput on 4 memory hosts", async () => {
  const hosts: P2P[] = [];
  try {
    await startHosts(4, [PING, PONG, DATA], hosts);
    const [h0, h1, h2, h3] = hosts as [P2P, P2P, P2P, P2P];
    await waitFor(
      // relays only forward to mesh peers: wait for the hub's mesh, not just the subscriptions
      () => [PING, PONG, DATA].every((t) => h0.meshPeers(t).length === 3),
      10_000,
      "meshes",
    );

    // --- round trip: h1 publishes ping, h2 answers pong (relayed via h0: h1 and h2 only know h0)
    const waiting = new Map<string, () => void>();
    for (const h of hosts) {
      h.onMessage(PING, () => "accept", (d) => {
        if (h === h2) void h2.publish(PONG, d);
      });
      h.onMessage(PONG, () => "accept", (d) => {
        if (h === h1) waiting.get(new TextDecoder().decode(d))?.();
      });
    }
    const rtts: number[] = [];
    for (let i = 0; i < 100; i++) {
      const key = `ping-${i}-${Math.random()}`;
      const t0 = performance.now();
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`ping ${i} lost`)), 5_000);
        waiting.set(key, () => {
          clearTimeout(timer);
          resolve();
        });
        h1.publish(PING, new TextEncoder().encode(key)).catch(reject);
      });
      waiting.delete(key);
      rtts.push(performance.now() - t0);
    }
    console.log(
      `  gossip round trip h1 -> h2 -> h1 (100 pings): median ${pct(rtts, 50).toFixed(2)} ms, ` +
        `p90 ${pct(rtts, 90).toFixed(2)} ms, max ${Math.max(...rtts).toFixed(2)} ms`,
    );

    // --- throughput: 1,000 unique 1-KB messages from h3 (a leaf) to h0, h1, h2
    let delivered = 0;
    for (const h of hosts) h.onMessage(DATA, () => "accept", () => delivered++);
    const N = 1_000;
    const t0 = performance.now();
    for (let i = 0; i < N; i++) {
      const msg = new Uint8Array(1024);
      new DataView(msg.buffer).setUint32(0, i);
      await h3.publish(DATA, msg);
    }
    const published = performance.now() - t0;
    await waitFor(() => delivered >= 3 * N, 60_000, `${3 * N} deliveries (have ${delivered})`, 5);
    const secs = (performance.now() - t0) / 1000;
    console.log(
      `  1,000 x 1 KB from one of 4 hosts: published in ${published.toFixed(0)} ms, ` +
        `${delivered} deliveries in ${(secs * 1000).toFixed(0)} ms = ${
          (delivered / secs).toFixed(0)
        } deliveries/s ` +
        `(${(N / secs).toFixed(0)} msgs/s)`,
    );
    assert.is(delivered, 3 * N);
  } finally {
    await stopAll(hosts);
  }
});

test.run();
