/**
 * Peer discovery beyond the bootstrap peers. The source is libp2p's Kademlia DHT
 * (`@libp2p/kad-dht`, see `p2p_host.ts`): its queries (a self-lookup at start, then periodically)
 * ask known peers for the peers closest to an id, and every peer learned that way enters libp2p's
 * peer store and is announced as `peer:discovery`. This file turns discoveries into connections and
 * remembers them:
 *
 * - a {@link PeerDialer} dials discovered peers while fewer than `peersTarget` are connected (a few
 *   dials at a time; a peer that failed waits, 30 s doubling to 10 min), re-checking every 10 s;
 * - while below the target it also walks the DHT (a lookup of a random key: every peer met on the
 *   way is a candidate), at most every 2 s, and with a pause doubling up to 5 min while walks find
 *   nobody new (a small network at rest asks little); a new connection starts the pause over;
 * - the peers connected are saved every minute and at stop into the peer file (`p2p_peer_file.ts`),
 *   and those of the file are dial candidates at the next start.
 * @module
 */
import { multiaddr } from "@multiformats/multiaddr";
import { peerIdFromString } from "@libp2p/peer-id";
import { errorMessage, type Logger } from "../lib/log.ts";
import type { PeerInfo } from "@libp2p/interface";
import type { Host } from "./p2p_host.ts";
import { loadPeerFile, type PeerEntry, savePeerFile, trimPeers } from "./p2p_peer_file.ts";

/** Dials in flight at once, at most. */
const DIALS_IN_FLIGHT_MAX = 4;
/** Candidates remembered, at most (oldest forgotten). */
const CANDIDATES_MAX = 512;
/** How often the dialer looks again (after disconnects, failed dials). */
const PUMP_MS = 10_000;
/** Wait after a failed dial, doubling per failure up to {@link RETRY_MS_MAX}. */
const RETRY_MS = 30_000;
const RETRY_MS_MAX = 10 * 60_000;
/** Shortest pause between two DHT walks. */
const WALK_MS = 2_000;
/** Longest pause between two walks that found nobody new. */
const WALK_MS_MAX = 5 * 60_000;
/** Time allowed for one walk. */
const WALK_TIMEOUT_MS = 10_000;
/** How often the peer file is written (when it changed). */
export const PEER_FILE_SAVE_MS = 60_000;

/** Options of {@link PeerDialer}. */
export interface PeerDialerOptions {
  /** Dial discovered peers while fewer than this are connected. */
  peersTarget: number;
  /** The peer file (`<data>/peers.json`); none: nothing persisted. */
  peerFile?: string;
  /** A DHT lookup of a random key (its events name the peers met); none: no walks. */
  walk?: (signal: AbortSignal) => AsyncIterable<unknown>;
  logger: Logger;
}

/** Peers named by a DHT query event (`PEER_RESPONSE` has `closer`, `FINAL_PEER` has `peer`). */
function peersOfEvent(ev: unknown): PeerInfo[] {
  if (typeof ev !== "object" || ev === null) return [];
  const e = ev as { closer?: unknown; peer?: unknown; name?: unknown };
  const out: PeerInfo[] = [];
  if (Array.isArray(e.closer)) out.push(...e.closer as PeerInfo[]);
  if (e.name === "FINAL_PEER" && typeof e.peer === "object" && e.peer !== null) out.push(e.peer as PeerInfo);
  return out.filter((p) =>
    p !== null && typeof p === "object" && p.id !== undefined && Array.isArray(p.multiaddrs)
  );
}

/** Dials discovered and remembered peers; persists the peers it was connected to. */
export class PeerDialer {
  readonly #node: Host;
  readonly #o: PeerDialerOptions;
  readonly #selfId: string;
  /** peerId -> known addresses (may be empty: the peer store has them) */
  readonly #candidates = new Map<string, string[]>();
  /** peerId -> failures and when it may be dialled again */
  readonly #failures = new Map<string, { n: number; until: number }>();
  readonly #inFlight = new Set<string>();
  /** what the file holds (and peers seen since) */
  #remembered: PeerEntry[] = [];
  #lastSaved = "";
  #timers: ReturnType<typeof setInterval>[] = [];
  #stopped = false;
  #walking: AbortController | null = null;
  #nextWalkAt = 0;
  #walkGapMs = WALK_MS;

  constructor(node: Host, o: PeerDialerOptions) {
    this.#node = node;
    this.#o = o;
    this.#selfId = node.peerId.toString();
    node.addEventListener("peer:discovery", (evt) => {
      this.consider(evt.detail.id.toString(), evt.detail.multiaddrs.map((m) => m.toString()));
    });
    node.addEventListener("peer:disconnect", () => this.#pump());
    node.addEventListener("peer:connect", (evt) => {
      this.#seen(evt.detail.toString());
      // a new peer knows other peers: the next walk may find some, so the pause starts over
      this.#walkGapMs = WALK_MS;
      this.#nextWalkAt = Math.min(this.#nextWalkAt, Date.now() + WALK_MS);
      this.#maybeWalk();
    });
  }

  /** Load the peer file (its peers become candidates) and start the timers. */
  async start(): Promise<void> {
    if (this.#o.peerFile !== undefined) {
      this.#remembered = await loadPeerFile(this.#o.peerFile, this.#o.logger);
      this.#lastSaved = JSON.stringify(this.#remembered);
      for (const e of this.#remembered) this.consider(e.peerId, e.addrs);
      if (this.#remembered.length > 0) {
        this.#o.logger("info", "p2p: peers from the peer file", { peers: this.#remembered.length });
      }
      this.#timers.push(setInterval(() => void this.save().catch(() => {}), PEER_FILE_SAVE_MS));
    }
    this.#timers.push(setInterval(() => {
      this.#pump();
      this.#maybeWalk();
    }, PUMP_MS));
  }

  /** Peers remembered for the peer file (most recent first). */
  remembered(): PeerEntry[] {
    return trimPeers(this.#remembered);
  }

  /** A peer worth dialling (from discovery or the peer file). */
  consider(peerId: string, addrs: string[]): void {
    if (this.#stopped || peerId === this.#selfId) return;
    const known = this.#candidates.get(peerId) ?? [];
    const merged = [...new Set([...addrs, ...known])].slice(0, 8); // the newest first
    this.#candidates.delete(peerId);
    this.#candidates.set(peerId, merged);
    if (this.#candidates.size > CANDIDATES_MAX) {
      const oldest = this.#candidates.keys().next();
      if (!oldest.done) this.#candidates.delete(oldest.value);
    }
    this.#pump();
  }

  #connected(peerId: string): boolean {
    try {
      return this.#node.getConnections(peerIdFromString(peerId)).length > 0;
    } catch {
      return false;
    }
  }

  #pump(): void {
    if (this.#stopped) return;
    const now = Date.now();
    for (const [peerId, addrs] of this.#candidates) {
      if (this.#inFlight.size >= DIALS_IN_FLIGHT_MAX) return;
      if (this.#node.getPeers().length + this.#inFlight.size >= this.#o.peersTarget) return;
      if (this.#inFlight.has(peerId) || this.#connected(peerId)) continue;
      if ((this.#failures.get(peerId)?.until ?? 0) > now) continue;
      void this.#dial(peerId, addrs);
    }
  }

  async #dial(peerId: string, addrs: string[]): Promise<void> {
    this.#inFlight.add(peerId);
    try {
      const target = addrs.length > 0 ? addrs.map((a) => multiaddr(a)) : peerIdFromString(peerId);
      await this.#node.dial(target);
      this.#failures.delete(peerId);
      this.#o.logger("debug", "p2p: connected to a discovered peer", { peer: peerId });
    } catch (e) {
      if (this.#stopped) return;
      const n = (this.#failures.get(peerId)?.n ?? 0) + 1;
      const ms = Math.min(RETRY_MS * 2 ** (n - 1), RETRY_MS_MAX);
      this.#failures.set(peerId, { n, until: Date.now() + ms });
      if (this.#failures.size > CANDIDATES_MAX) {
        const oldest = this.#failures.keys().next();
        if (!oldest.done) this.#failures.delete(oldest.value);
      }
      this.#o.logger("debug", "p2p: dial of a discovered peer failed", {
        peer: peerId,
        err: errorMessage(e),
        retryMs: ms,
      });
    } finally {
      this.#inFlight.delete(peerId);
    }
    this.#pump();
  }

  /** Walk the DHT when below the target, no walk runs, and the pause since the last one is over. */
  #maybeWalk(): void {
    const walk = this.#o.walk;
    if (walk === undefined || this.#stopped || this.#walking !== null) return;
    if (this.#node.getPeers().length === 0 || this.#node.getPeers().length >= this.#o.peersTarget) return;
    if (Date.now() < this.#nextWalkAt) return;
    const ctl = new AbortController();
    this.#walking = ctl;
    const timer = setTimeout(() => ctl.abort(), WALK_TIMEOUT_MS);
    void (async () => {
      let fresh = 0;
      try {
        for await (const ev of walk(ctl.signal)) {
          for (const p of peersOfEvent(ev)) {
            const id = p.id.toString();
            if (id !== this.#selfId && !this.#candidates.has(id) && !this.#connected(id)) fresh++;
            this.consider(id, p.multiaddrs.map((m) => m.toString()));
          }
        }
      } catch (e) {
        if (!this.#stopped) this.#o.logger("debug", "p2p: DHT walk ended", { err: errorMessage(e) });
      } finally {
        clearTimeout(timer);
        this.#walking = null;
        this.#walkGapMs = fresh > 0 ? WALK_MS : Math.min(this.#walkGapMs * 2, WALK_MS_MAX);
        this.#nextWalkAt = Date.now() + this.#walkGapMs;
      }
    })();
  }

  /** A connected peer goes to the front of the remembered list (addresses filled in at save). */
  #seen(peerId: string): void {
    const prev = this.#remembered.find((e) => e.peerId === peerId);
    this.#remembered = [
      { peerId, addrs: prev?.addrs ?? [], seenMs: Date.now() },
      ...this.#remembered.filter((e) => e.peerId !== peerId),
    ];
    if (this.#remembered.length > 2 * 256) this.#remembered = this.remembered();
  }

  /** Write the peer file now (connected peers with their current addresses first), if it changed. */
  async save(): Promise<void> {
    if (this.#o.peerFile === undefined) return;
    const now = Date.now();
    for (const pid of this.#node.getPeers()) {
      const id = pid.toString();
      let addrs: string[] = [];
      try {
        addrs = (await this.#node.peerStore.get(pid)).addresses.map((a) => {
          const s = a.multiaddr.toString();
          return s.includes("/p2p/") ? s : `${s}/p2p/${id}`;
        });
      } catch { /* not in the store */ }
      if (addrs.length === 0) continue;
      const prev = this.#remembered.find((e) => e.peerId === id);
      this.#remembered = [
        { peerId: id, addrs: addrs.slice(0, 8), seenMs: prev?.seenMs ?? now },
        ...this.#remembered.filter((e) => e.peerId !== id),
      ];
    }
    const entries = this.remembered().filter((e) => e.addrs.length > 0);
    const text = JSON.stringify(entries);
    if (text === this.#lastSaved) return;
    await savePeerFile(this.#o.peerFile, entries);
    this.#lastSaved = text;
  }

  /** Stop dialling and timers; write the peer file one last time. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    this.#walking?.abort();
    try {
      await this.save();
    } catch (e) {
      this.#o.logger("warn", "p2p: cannot write the peer file", {
        path: this.#o.peerFile,
        err: errorMessage(e),
      });
    }
    this.#stopped = true;
  }
}
