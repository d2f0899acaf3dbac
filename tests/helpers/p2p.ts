/** Helpers for tests of the real p2p layer (libp2p hosts on the memory transport, wall time). */
import { createP2P, type P2P, type P2POptions } from "../../node/p2p.ts";
import { waitFor } from "./wait.ts";

export { sleep, waitFor } from "./wait.ts";

let counter = 0;

/** A unique in-process listen address. */
export function memoryAddr(name = "node"): string {
  return `/memory/${name}-${Deno.pid}-${++counter}-${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * Start `n` memory-transport hosts. `links` gives, for host i, the hosts it bootstraps to (default: a
 * star on host 0); `extra` adds options to every host, or per host when a function. Hosts are
 * pushed into `into` as they start, so a caller's finally can stop them even if a later one fails.
 */
export async function startHosts(
  n: number,
  topics: string[],
  into: P2P[],
  links: (i: number) => number[] = (i) => (i === 0 ? [] : [0]),
  extra: Partial<P2POptions> | ((i: number) => Partial<P2POptions>) = {},
): Promise<P2P[]> {
  const hosts: P2P[] = [];
  for (let i = 0; i < n; i++) {
    const bootstrap = links(i).map((j) => {
      const h = hosts[j];
      if (h === undefined) throw new Error(`host ${i} links to ${j}, which is not started yet`);
      return h.addrs()[0]!;
    });
    const h = await createP2P({
      transport: "memory",
      listen: [memoryAddr(`h${i}`)],
      topics,
      bootstrap,
      ...(typeof extra === "function" ? extra(i) : extra),
    });
    hosts.push(h);
    into.push(h);
  }
  // bootstrap dials run in the background: wait until every link is up
  await waitFor(
    () => hosts.every((h, i) => links(i).every((j) => h.peers().includes(hosts[j]!.peerId))),
    10_000,
    "bootstrap links",
    10,
  );
  return hosts;
}

/** Stop every host, never throwing (for finally blocks). */
export async function stopAll(hosts: P2P[]): Promise<void> {
  await Promise.allSettled(hosts.map((h) => h.stop()));
  hosts.length = 0;
}
