/**
 * Peer tracking on the host: connect/disconnect callbacks, bootstrap peers dialled and re-dialled
 * while disconnected, and the gossipsub view of peers (scores, topic subscribers, mesh).
 * @module
 */
import { errorMessage, type Logger } from "../lib/log.ts";
import { peerIdFromString } from "@libp2p/peer-id";
import { multiaddr } from "@multiformats/multiaddr";
import type { PeerId } from "@libp2p/interface";
import type { Host, ScoredGossipSub } from "./p2p_host.ts";

/** A connect/disconnect callback. */
export type PeerCallback = (peerId: string, event: "connect" | "disconnect") => void;

/** While connected to a bootstrap peer, check the connection this often. */
const BOOTSTRAP_CHECK_MS = 2_000;
/** Longest wait between two failed bootstrap dials (before jitter). */
const BOOTSTRAP_BACKOFF_MS_MAX = 5_000;

/** Peers of a host: events, bootstrap redial, scores. `stop()` clears every pending timer. */
export class PeerTracker {
  readonly #node: Host;
  readonly #pubsub: ScoredGossipSub;
  readonly #log: Logger;
  readonly #cbs: PeerCallback[] = [];
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  #stopped = false;

  constructor(node: Host, pubsub: ScoredGossipSub, logger: Logger) {
    this.#node = node;
    this.#pubsub = pubsub;
    this.#log = logger;
    node.addEventListener("peer:connect", (evt) => this.#emit(evt.detail, "connect"));
    node.addEventListener("peer:disconnect", (evt) => this.#emit(evt.detail, "disconnect"));
  }

  #emit(id: PeerId, event: "connect" | "disconnect"): void {
    this.#log("debug", `p2p: peer ${event}`, { peer: id.toString() });
    for (const cb of this.#cbs) {
      try {
        cb(id.toString(), event);
      } catch (e) {
        this.#log("error", "p2p: onPeer callback threw", { err: errorMessage(e) });
      }
    }
  }

  #later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      if (!this.#stopped) fn();
    }, ms);
    this.#timers.add(t);
  }

  /**
   * Keep connected to each bootstrap address: dial; while connected, check every 2 s; after a
   * failure retry after 1 s, 2 s, 4 s, 5 s, 5 s ... (+ up to 250 ms jitter). One pending timer per
   * address.
   */
  bootstrap(addrs: string[], selfId: string): void {
    for (const addr of addrs) {
      let ma;
      try {
        ma = multiaddr(addr);
      } catch (e) {
        this.#log("warn", "p2p: bad bootstrap address", { addr, err: errorMessage(e) });
        continue;
      }
      const idStr = ma.getComponents().findLast((c) => c.name === "p2p")?.value;
      if (idStr === selfId) continue;
      const pid = idStr !== undefined ? peerIdFromString(idStr) : undefined;
      let backoff = 1_000;
      const tick = async () => {
        if (pid !== undefined && this.#node.getConnections(pid).length > 0) {
          backoff = 1_000;
          this.#later(BOOTSTRAP_CHECK_MS, tick);
          return;
        }
        try {
          await this.#node.dial(ma);
          if (this.#stopped) return;
          this.#log("info", "p2p: connected to bootstrap peer", { addr });
          backoff = 1_000;
          this.#later(BOOTSTRAP_CHECK_MS, tick);
        } catch (e) {
          if (this.#stopped) return;
          this.#log("debug", "p2p: bootstrap dial failed", { addr, err: errorMessage(e), retryMs: backoff });
          this.#later(backoff + Math.floor(Math.random() * 250), tick);
          backoff = Math.min(backoff * 2, BOOTSTRAP_BACKOFF_MS_MAX);
        }
      };
      this.#later(0, tick);
    }
  }

  /** Add a connect/disconnect callback. */
  onPeer(cb: PeerCallback): void {
    this.#cbs.push(cb);
  }

  /** Connected peers. */
  peers(): string[] {
    return this.#node.getPeers().map((p) => p.toString());
  }

  /** Addresses `peerId` listens on, from the peer store (full multiaddrs; empty if unknown or bad id). */
  async addrsOf(peerId: string): Promise<string[]> {
    let pid: PeerId;
    try {
      pid = peerIdFromString(peerId);
    } catch {
      return [];
    }
    try {
      const peer = await this.#node.peerStore.get(pid);
      return peer.addresses.map((a) => {
        const s = a.multiaddr.toString();
        return s.includes("/p2p/") ? s : `${s}/p2p/${peerId}`;
      });
    } catch {
      return []; // not in the peer store
    }
  }

  /** gossipsub score this node gives the peer (0 if unknown). */
  scoreOf(peerId: string): number {
    return this.#pubsub.getScore?.(peerId) ?? 0;
  }

  /** Peers subscribed to a topic, as this node knows them. */
  topicPeers(topic: string): string[] {
    return this.#pubsub.getSubscribers(topic).map((p) => p.toString());
  }

  /** Peers in this node's gossipsub mesh for the topic. */
  meshPeers(topic: string): string[] {
    return this.#pubsub.getMeshPeers?.(topic) ?? [];
  }

  /** Stop redialling (clears every pending timer). */
  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }
}
