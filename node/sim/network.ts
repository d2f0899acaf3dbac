/**
 * A simulated network: the links between in-process {@link SimHost}s, driven by a {@link SimClock}.
 *
 * - Links are made from each host's bootstrap list (both ways) and by `dial`, like the real host's
 *   connections; a host talks only to its linked peers, so a sparse bootstrap graph keeps the work
 *   per message at the fan-out itself (gossip floods along links, deduplicated by message id).
 * - Each directed link delivers in order (FIFO, like one TCP connection) after
 *   `latencyMs + jitter`, jitter drawn from the link's own rng (seeded from the network's seed and
 *   the two peer ids, so one link's draws do not depend on the traffic of others); gossip messages are lost with
 *   probability `loss` (request/response and streams are reliable, as over TCP).
 * - Partitions: `partition([[a, b], [c, d]])` puts hosts in groups; hosts of different groups
 *   (unlisted hosts form one more group) neither talk nor list each other as peers until `heal()`.
 * - Deterministic: for one seed and one sequence of calls, the same deliveries happen in the same
 *   virtual-time order (see {@link SimNetwork.trace}); deliveries due at one instant fire by
 *   (receiver, sender, order sent), whatever order the senders ran in.
 * @module
 */
import type { SimClock } from "../../lib/sim_clock.ts";
import { type Rng, seededRng } from "../../lib/rng.ts";
import type { Logger } from "../../lib/log.ts";
import type { P2POptions } from "../p2p.ts";
import { peerIdFromSeed } from "../p2p.ts";
import { SimHost } from "./host.ts";

/** Latency, jitter and loss of a link. */
export interface LinkProfile {
  /** One-way delay, ms (default 5). */
  latencyMs: number;
  /** Extra whole milliseconds drawn uniformly in [0, jitterMs) per message (default 0). */
  jitterMs: number;
  /** Probability in [0, 1] that a gossip message is lost (default 0). */
  loss: number;
}

/** The default link: 5 ms one way, no jitter, no loss. */
export const DEFAULT_LINK: LinkProfile = { latencyMs: 5, jitterMs: 0, loss: 0 };

/** Options of a {@link SimNetwork}. */
export interface SimNetworkOptions {
  clock: SimClock;
  /** Seed of the network's rng (jitter, loss). */
  seed: number;
  /** Default profile of every link. */
  link?: Partial<LinkProfile>;
  /** How long a gossip message id is remembered for deduplication, ms (default 120 000). */
  seenTtlMs?: number;
  /** Keep the last this many delivery records in {@link SimNetwork.trace} (default 0: none). */
  traceMax?: number;
  logger?: Logger;
}

/** Delivery counters of the whole network. */
export interface SimNetworkStats {
  sent: number;
  delivered: number;
  lost: number;
  /** Dropped at a cut link, a partition or a stopped host. */
  dropped: number;
}

/** The kind of a delivery: gossip may be lost, the others are reliable. */
export type DeliveryKind = "gossip" | "reliable";

/**
 * In-memory links between simulated hosts. `join(options)` has the shape of `createP2P` and
 * returns a host implementing the `P2P` facade.
 */
export class SimNetwork {
  readonly clock: SimClock;
  readonly seed: number;
  readonly seenTtlMs: number;
  readonly logger: Logger;
  readonly stats: SimNetworkStats = { sent: 0, delivered: 0, lost: 0, dropped: 0 };
  /** The last deliveries, `"<ms> <from> -> <to> <what>"` (bounded by `traceMax`). */
  readonly trace: string[] = [];
  readonly #traceMax: number;
  readonly #defaultLink: LinkProfile;
  readonly #hosts = new Map<string, SimHost>();
  /** Wanted links by host (both directions), whether or not both ends are up. */
  readonly #links = new Map<string, Set<string>>();
  readonly #profiles = new Map<string, LinkProfile>();
  /** Earliest next delivery time per directed link, for FIFO order. */
  readonly #linkClock = new Map<string, number>();
  /** The rng of each directed link (jitter, loss). */
  readonly #linkRng = new Map<string, Rng>();
  #groups = new Map<string, number>();
  #anon = 0;

  constructor(opts: SimNetworkOptions) {
    this.clock = opts.clock;
    this.seed = opts.seed;
    this.seenTtlMs = opts.seenTtlMs ?? 120_000;
    this.#traceMax = opts.traceMax ?? 0;
    this.logger = opts.logger ?? (() => {});
    this.#defaultLink = { ...DEFAULT_LINK, ...opts.link };
  }

  /** Creates a host (the simulated counterpart of `createP2P`) and links it to its bootstrap peers. */
  async join(opts: P2POptions): Promise<SimHost> {
    const peerId = opts.privateKey ? await peerIdFromSeed(opts.privateKey) : `sim-${++this.#anon}`;
    if (this.#hosts.has(peerId)) throw new Error(`sim network: ${peerId} is already up`);
    const host = new SimHost(this, peerId, opts);
    this.#hosts.set(peerId, host);
    for (const addr of opts.bootstrap ?? []) this.link(peerId, peerIdOfAddr(addr));
    for (const other of this.#links.get(peerId) ?? []) {
      if (this.connected(peerId, other)) {
        this.#hosts.get(other)!.notePeer(peerId, "connect");
        host.notePeer(other, "connect");
      }
    }
    return host;
  }

  /** Wants a link between two hosts (idempotent); it is up whenever both are and no partition cuts it. */
  link(a: string, b: string): void {
    if (a === b) return;
    const wasUp = this.connected(a, b);
    for (const [x, y] of [[a, b], [b, a]] as const) {
      let s = this.#links.get(x);
      if (!s) this.#links.set(x, s = new Set());
      s.add(y);
    }
    if (!wasUp && this.connected(a, b)) {
      this.#hosts.get(a)!.notePeer(b, "connect");
      this.#hosts.get(b)!.notePeer(a, "connect");
    }
  }

  /** Sets the profile of the link between `a` and `b` (both directions). */
  setLink(a: string, b: string, profile: Partial<LinkProfile>): void {
    const p = { ...this.#profile(a, b), ...profile };
    this.#profiles.set(pairKey(a, b), p);
  }

  /** Splits hosts into groups that cannot talk to each other (unlisted hosts form one more group). */
  partition(groups: string[][]): void {
    const before = this.#snapshotUp();
    this.#groups = new Map();
    groups.forEach((g, i) => g.forEach((id) => this.#groups.set(id, i + 1)));
    this.#notifyChanges(before);
  }

  /** Removes every partition. */
  heal(): void {
    const before = this.#snapshotUp();
    this.#groups = new Map();
    this.#notifyChanges(before);
  }

  /** Whether `a` and `b` are both up, linked and on the same side of every partition. */
  connected(a: string, b: string): boolean {
    return this.#hosts.has(a) && this.#hosts.has(b) && (this.#links.get(a)?.has(b) ?? false) &&
      (this.#groups.get(a) ?? 0) === (this.#groups.get(b) ?? 0);
  }

  /** The peers `id` is connected to now, in link order. */
  peersOf(id: string): string[] {
    const out: string[] = [];
    for (const other of this.#links.get(id) ?? []) if (this.connected(id, other)) out.push(other);
    return out;
  }

  /** The running host with this peer id, if any. */
  host(id: string): SimHost | undefined {
    return this.#hosts.get(id);
  }

  /** Running hosts' ids, in join order. */
  hostIds(): string[] {
    return [...this.#hosts.keys()];
  }

  /** @internal Removes a stopped host; its links stay wanted for when it comes back. */
  leave(host: SimHost): void {
    if (this.#hosts.get(host.peerId) !== host) return;
    const peers = this.peersOf(host.peerId);
    this.#hosts.delete(host.peerId);
    for (const p of peers) this.#hosts.get(p)?.notePeer(host.peerId, "disconnect");
  }

  /**
   * @internal Schedules `deliver` on host `to` after the link's delay, in FIFO order per link;
   * drops it when the link is down now or at delivery time, or (gossip) when the rng loses it.
   * Returns false when dropped at once.
   */
  send(
    from: string,
    to: string,
    kind: DeliveryKind,
    what: string,
    deliver: (host: SimHost) => void,
  ): boolean {
    this.stats.sent++;
    const target = this.#hosts.get(to);
    if (!target || !this.connected(from, to)) {
      this.stats.dropped++;
      return false;
    }
    const p = this.#profile(from, to);
    const key = `${from}>${to}`;
    let rng = this.#linkRng.get(key);
    if (!rng) this.#linkRng.set(key, rng = seededRng(this.seed ^ hash32(key)));
    if (kind === "gossip" && p.loss > 0 && rng() < p.loss) {
      this.stats.lost++;
      this.#record(`lost ${from} -> ${to} ${what}`);
      return true;
    }
    const jitter = p.jitterMs > 0 ? Math.floor(rng() * p.jitterMs) : 0;
    const at = Math.max(this.clock.now() + p.latencyMs + jitter, this.#linkClock.get(key) ?? 0);
    this.#linkClock.set(key, at);
    this.clock.touch();
    this.clock.schedule(
      () => {
        if (this.#hosts.get(to) !== target || !this.connected(from, to) || target.stopped) {
          this.stats.dropped++;
          return;
        }
        this.stats.delivered++;
        this.#record(`${from} -> ${to} ${what}`);
        deliver(target);
      },
      at - this.clock.now(),
      `net ${to} ${from}`,
    );
    return true;
  }

  #record(line: string): void {
    if (this.#traceMax <= 0) return;
    this.trace.push(`${this.clock.now()} ${line}`);
    if (this.trace.length > this.#traceMax) this.trace.shift();
  }

  #profile(a: string, b: string): LinkProfile {
    return this.#profiles.get(pairKey(a, b)) ?? this.#defaultLink;
  }

  #snapshotUp(): Map<string, string[]> {
    const m = new Map<string, string[]>();
    for (const id of this.#hosts.keys()) m.set(id, this.peersOf(id));
    return m;
  }

  #notifyChanges(before: Map<string, string[]>): void {
    for (const [id, was] of before) {
      const host = this.#hosts.get(id)!;
      const now = new Set(this.peersOf(id));
      for (const p of was) if (!now.has(p)) host.notePeer(p, "disconnect");
      const wasSet = new Set(was);
      for (const p of now) if (!wasSet.has(p)) host.notePeer(p, "connect");
    }
  }
}

/** FNV-1a of a string, 32 bits. */
function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function pairKey(a: string, b: string): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}

/** The peer id at the end of a multiaddr (`.../p2p/<id>`), or the whole string. */
export function peerIdOfAddr(addr: string): string {
  const i = addr.lastIndexOf("/p2p/");
  return i >= 0 ? addr.slice(i + 5) : addr;
}
