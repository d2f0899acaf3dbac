/**
 * A simulated network: the links between in-process {@link SimHost}s, driven by a {@link SimClock}.
 *
 * - Links are made from each host's bootstrap list (both ways) and by `dial`, like the real host's
 *   connections; a host talks only to its linked peers, so a sparse bootstrap graph keeps the work
 *   per message at the fan-out itself (gossip floods along links, deduplicated by message id).
 * - Each directed link delivers in order (FIFO, like one TCP connection) after
 *   `latencyMs + jitter`, jitter drawn from an rng seeded by the network's seed, the two peer ids,
 *   the message and the instant (so draws depend neither on other links' traffic nor on the order
 *   in which concurrent senders ran); gossip messages are lost with probability `loss` (request/response and streams are reliable, as over TCP).
 * - Partitions: `partition([[a, b], [c, d]])` puts hosts in groups; hosts of different groups
 *   (unlisted hosts form one more group) neither talk nor list each other as peers until `heal()`.
 * - Deterministic: for one seed and one sequence of calls, the same deliveries happen in the same
 *   virtual-time order (see {@link SimNetwork.trace}); deliveries due at one instant fire by
 *   (receiver, sender, order sent), whatever order the senders ran in.
 * @module
 */
import type { SimClock } from "../../lib/sim_clock.ts";
import { seededRng } from "../../lib/rng.ts";
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
  /** Gossip not relayed because the peer had already seen it (see `SimHost`). */
  suppressed: number;
}

/** Observes every message sent (for the simulator's per-node counters); `what` starts with its type. */
export type SendTap = (from: string, to: string, what: string, bytes: number) => void;

/** What the network keeps per directed link. */
interface LinkState {
  /** Earliest time of the next delivery on the link (FIFO order). */
  next: number;
  /** Key of the link's delivery timers (deliveries due at one instant fire by receiver, then sender). */
  timerKey: string;
  /** The link's profile when it is the default one (no pair profile set), else null. */
  profile: LinkProfile | null;
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
  readonly stats: SimNetworkStats = { sent: 0, delivered: 0, lost: 0, dropped: 0, suppressed: 0 };
  /** The last deliveries, `"<ms> <from> -> <to> <what>"` (bounded by `traceMax`). */
  readonly trace: string[] = [];
  /** Called for every message sent (before loss or partition drops it), when set. */
  tap: SendTap | null = null;
  /** Bumped whenever a host joins or leaves or a link or partition changes (hosts cache their peers by it). */
  epoch = 0;
  readonly #traceMax: number;
  readonly #defaultLink: LinkProfile;
  readonly #hosts = new Map<string, SimHost>();
  /** Wanted links by host (both directions), whether or not both ends are up. */
  readonly #links = new Map<string, Set<string>>();
  readonly #profiles = new Map<string, LinkProfile>();
  /** Per directed link: earliest next delivery (FIFO) and the timer key, by sender then receiver. */
  readonly #linkStates = new Map<string, Map<string, LinkState>>();
  /** Sends of one message on one link at the current instant (to tell identical ones apart). */
  #nthAt = -1;
  readonly #nthCount = new Map<string, number>();
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
    this.epoch++;
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
    this.epoch++;
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
    this.epoch++;
    const before = this.#snapshotUp();
    this.#groups = new Map();
    groups.forEach((g, i) => g.forEach((id) => this.#groups.set(id, i + 1)));
    this.#notifyChanges(before);
  }

  /** Removes every partition. */
  heal(): void {
    this.epoch++;
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
    this.epoch++;
    for (const p of peers) this.#hosts.get(p)?.notePeer(host.peerId, "disconnect");
  }

  /**
   * @internal Schedules `deliver` on host `to` after the link's delay, in FIFO order per link;
   * drops it when the link is down now or at delivery time, or (gossip) when the rng loses it.
   * Returns false when dropped at once. `bytes`: the payload's size, for {@link SimNetwork.tap}.
   */
  send(
    from: string,
    to: string,
    kind: DeliveryKind,
    what: string,
    deliver: (host: SimHost) => void,
    bytes = 0,
  ): boolean {
    this.stats.sent++;
    this.tap?.(from, to, what, bytes);
    const target = this.#hosts.get(to);
    if (!target || !this.connected(from, to)) {
      this.stats.dropped++;
      return false;
    }
    const link = this.#link(from, to);
    const p = link.profile ?? this.#profile(from, to);
    let at = this.clock.now() + p.latencyMs;
    if (p.loss > 0 || p.jitterMs > 0) {
      // The draws of a message depend on the link, the message and the instant, not on the order in
      // which concurrent senders reached this point during one settle (real async work may reorder them).
      const key = `${from}>${to}`;
      const nth = this.#nth(`${key} ${what}`);
      const rng = seededRng(this.seed ^ hash32(`${key} ${what} ${this.clock.now()} ${nth}`));
      if (kind === "gossip" && p.loss > 0 && rng() < p.loss) {
        this.stats.lost++;
        this.#record(`lost ${from} -> ${to} ${what}`);
        return true;
      }
      if (p.jitterMs > 0) at += Math.floor(rng() * p.jitterMs);
    }
    // FIFO per link: never before the previous message on it.
    if (at < link.next) at = link.next;
    link.next = at;
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
      link.timerKey,
    );
    return true;
  }

  /** The per-direction state of a link (created on first use; never removed: ids are few). */
  #link(from: string, to: string): LinkState {
    let byTo = this.#linkStates.get(from);
    if (byTo === undefined) this.#linkStates.set(from, byTo = new Map());
    let link = byTo.get(to);
    if (link === undefined) {
      link = { next: 0, timerKey: `net ${to} ${from}`, profile: null };
      byTo.set(to, link);
    }
    // Profiles are per pair and rarely set: cache the default one only while no pair has its own.
    link.profile = this.#profiles.size === 0 ? this.#defaultLink : null;
    return link;
  }

  #nth(k: string): number {
    if (this.#nthAt !== this.clock.now()) {
      this.#nthAt = this.clock.now();
      this.#nthCount.clear();
    }
    const n = this.#nthCount.get(k) ?? 0;
    this.#nthCount.set(k, n + 1);
    return n;
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
