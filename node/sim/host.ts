/**
 * One host of a {@link SimNetwork}: the `P2P` facade of `node/p2p.ts` over simulated links.
 *
 * - Gossip: a message is validated by the topic's validator BEFORE it is delivered or relayed, as
 *   on the real host: "accept" delivers and relays to the linked peers subscribed to the topic,
 *   "reject" counts against the sender (score -1 each) and stops there, "ignore" drops it. The
 *   validator's typed result goes through the same `toVerdict` as on libp2p (logged, counted per
 *   peer and reason in the host's `GossipStats`, the node's when it passes one); a validator that
 *   throws counts as a reject ("validator_error"). Validation takes no simulated time, so
 *   `validateTimeoutMs` never applies. Until `onMessage` is called for a topic, its messages are
 *   ignored. Message id = `messageIdOf(topic, data)` (default sha256(topic || 0 || data)),
 *   remembered `seenTtlMs`: one id published twice is one message (a second publish returns 0).
 * - Request/response and streams go over the same links (latency, partitions; never lost). A
 *   request to a peer that is not connected fails at once; one whose link is cut in flight times out.
 * - The mesh is every linked peer subscribed to the topic (`meshPeers` = `topicPeers`). A message is
 *   not relayed to a peer to which it was already delivered (as gossipsub 1.2's IDONTWANT): the same
 *   outcome as delivering a duplicate it would drop, without the work.
 * @module
 */
import { toHex } from "../../lib/crypto.ts";
import type {
  HandleOptions,
  MessageIdFn,
  OpenStreamOptions,
  P2P,
  P2POptions,
  RequestOptions,
  StreamHandlerFn,
} from "../p2p.ts";
import { messageId, P2PTimeoutError, RemoteError } from "../p2p.ts";
import {
  asGossipResult,
  GOSSIP_BYTES_MAX,
  type GossipResult,
  GossipStats,
  type PeerGossipCounts,
  toVerdict,
} from "../gossip_validation.ts";
import type { SimNetwork } from "./network.ts";

interface Subscription {
  validate: (data: Uint8Array, from: string) => GossipResult | Promise<GossipResult>;
  handle: (data: Uint8Array, from: string) => void;
}

interface Handler {
  fn: (req: Uint8Array, from: string) => Uint8Array | Promise<Uint8Array>;
  requestBytesMax: number;
  responseBytesMax: number;
  concurrentMax: number;
  active: number;
}

interface StreamHandler {
  fn: StreamHandlerFn;
  requestBytesMax: number;
  concurrentMax: number;
  active: number;
}

/** A simulated host; create it with {@link SimNetwork.join}. */
export class SimHost implements P2P {
  readonly peerId: string;
  stopped = false;
  readonly #net: SimNetwork;
  readonly #topics: Set<string>;
  readonly #listen: string[];
  readonly #messageBytesMax: number;
  readonly #messageIdOf: MessageIdFn;
  /** Refused gossip per peer and reason (the node's, when it hands one in). */
  readonly gossipStats: GossipStats;
  readonly #subs = new Map<string, Subscription>();
  readonly #handlers = new Map<string, Handler>();
  readonly #streams = new Map<string, StreamHandler>();
  /** Message ids seen, with their expiry time, in insertion (= expiry) order. */
  readonly #seen = new Map<string, number>();
  /** Gossip ids delivered here, with the simulated time of their first delivery. */
  readonly #arrived = new Map<string, number>();
  readonly #peerCbs: ((peerId: string, event: "connect" | "disconnect") => void)[] = [];
  readonly #pending = new Set<() => void>();
  /** Connected peers subscribed to each topic, as of the network's `epoch`. */
  readonly #topicPeers = new Map<string, { epoch: number; peers: string[] }>();
  /** The tail of the gossip inbox (see `#enqueue`). */
  #inbox: Promise<void> = Promise.resolve();

  constructor(net: SimNetwork, peerId: string, opts: P2POptions) {
    this.#net = net;
    this.peerId = peerId;
    this.#topics = new Set(opts.topics);
    this.#listen = opts.listen.length > 0 ? opts.listen : [`/sim/${peerId}`];
    this.#messageBytesMax = Math.min(opts.messageBytesMax ?? GOSSIP_BYTES_MAX, GOSSIP_BYTES_MAX);
    this.#messageIdOf = opts.messageIdOf ?? messageId;
    this.gossipStats = opts.gossipStats ?? new GossipStats();
  }

  /** Listen addresses with `/p2p/<peerId>`. */
  addrs(): string[] {
    return this.#listen.map((a) => `${a}/p2p/${this.peerId}`);
  }

  /** Publishes to the linked peers subscribed to `topic`; resolves to how many it was sent to. */
  async publish(topic: string, data: Uint8Array): Promise<number> {
    if (!this.#topics.has(topic)) throw new Error(`p2p: not a configured topic: ${topic}`);
    if (data.length > this.#messageBytesMax) {
      throw new Error(
        `p2p: message of ${data.length} bytes exceeds messageBytesMax ${this.#messageBytesMax}`,
      );
    }
    if (this.stopped) throw new Error("p2p: stopped");
    const id = toHex(await this.#messageIdOf(topic, data));
    if (!this.#markSeen(id)) return 0;
    return this.#forward(topic, data, id, null);
  }

  /** Sets the validator and handler of a topic. */
  onMessage(topic: string, validate: Subscription["validate"], handle: Subscription["handle"]): void {
    if (!this.#topics.has(topic)) throw new Error(`p2p: not a configured topic: ${topic}`);
    this.#subs.set(topic, { validate, handle });
  }

  /** Serves a request/response protocol. */
  handle(protocol: string, fn: Handler["fn"], opts: HandleOptions = {}): Promise<void> {
    this.#handlers.set(protocol, {
      fn,
      requestBytesMax: opts.requestBytesMax ?? 1024 * 1024,
      responseBytesMax: opts.responseBytesMax ?? 16 * 1024 * 1024,
      concurrentMax: opts.concurrentMax ?? 64,
      active: 0,
    });
    return Promise.resolve();
  }

  /** Serves a streaming protocol. */
  handleStream(protocol: string, fn: StreamHandlerFn, opts: HandleOptions = {}): Promise<void> {
    this.#streams.set(protocol, {
      fn,
      requestBytesMax: opts.requestBytesMax ?? 1024 * 1024,
      concurrentMax: opts.concurrentMax ?? 64,
      active: 0,
    });
    return Promise.resolve();
  }

  /** One request, one response, over the link to `peerId`. */
  request(peerId: string, protocol: string, req: Uint8Array, opts: RequestOptions = {}): Promise<Uint8Array> {
    const clock = this.#net.clock;
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const responseBytesMax = opts.responseBytesMax ?? 16 * 1024 * 1024;
    return new Promise<Uint8Array>((resolve, reject) => {
      let done = false;
      const finish = (f: () => void) => {
        if (done) return;
        done = true;
        clock.clearTimeout(timer);
        this.#pending.delete(cancel);
        opts.signal?.removeEventListener("abort", onAbort);
        f();
      };
      const cancel = () => finish(() => reject(new Error("p2p: stopped")));
      const onAbort = () => finish(() => reject(opts.signal?.reason ?? new Error("aborted")));
      const timer = clock.setTimeout(
        () =>
          finish(() =>
            reject(new P2PTimeoutError(`request ${protocol} to ${peerId} timed out after ${timeoutMs} ms`))
          ),
        timeoutMs,
      );
      this.#pending.add(cancel);
      if (opts.signal?.aborted) return onAbort();
      opts.signal?.addEventListener("abort", onAbort);
      const reply = (server: SimHost, r: { ok: Uint8Array } | { error: string }) =>
        this.#net.send(server.peerId, this.peerId, "reliable", `reply ${protocol}`, () => {
          if ("error" in r) return finish(() => reject(new RemoteError(r.error)));
          if (r.ok.length > responseBytesMax) {
            return finish(() =>
              reject(new Error(`response of ${r.ok.length} bytes exceeds ${responseBytesMax}`))
            );
          }
          finish(() => resolve(r.ok));
        }, "ok" in r ? r.ok.length : 0);
      const sent = this.#net.send(this.peerId, peerId, "reliable", `request ${protocol}`, (server) => {
        void clock.track(server.#serve(protocol, req, this.peerId)).then((r) => reply(server, r));
      }, req.length);
      if (!sent) finish(() => reject(new Error(`p2p: not connected to ${peerId}`)));
    });
  }

  /** Opens a stream: one request, then the frames the remote handler sends, until it ends. */
  openStream(
    peerId: string,
    protocol: string,
    req: Uint8Array,
    opts: OpenStreamOptions = {},
  ): AsyncGenerator<Uint8Array> {
    return this.#openStream(peerId, protocol, req, opts);
  }

  async *#openStream(
    peerId: string,
    protocol: string,
    req: Uint8Array,
    opts: OpenStreamOptions,
  ): AsyncGenerator<Uint8Array> {
    const clock = this.#net.clock;
    const frameBytesMax = opts.frameBytesMax ?? 4 * 1024 * 1024;
    type Item = { frame: Uint8Array } | { end: true } | { error: Error };
    const queue: Item[] = [];
    let wake: (() => void) | null = null;
    const push = (item: Item) => {
      queue.push(item);
      wake?.();
    };
    const serverAbort = new AbortController();
    const sent = this.#net.send(this.peerId, peerId, "reliable", `open ${protocol}`, (server) => {
      void clock.track(server.#serveStream(protocol, req, this.peerId, serverAbort.signal, (frame) => {
        this.#net.send(peerId, this.peerId, "reliable", `frame ${protocol}`, () => {
          push(
            frame.length > frameBytesMax
              ? { error: new Error(`frame of ${frame.length} bytes exceeds ${frameBytesMax}`) }
              : { frame },
          );
        }, frame.length);
      })).then((outcome) => {
        this.#net.send(peerId, this.peerId, "reliable", `end ${protocol}`, () => {
          push(outcome === null ? { end: true } : { error: new RemoteError(outcome) });
        });
      });
    });
    if (!sent) throw new Error(`p2p: not connected to ${peerId}`);
    const cancel = () => push({ error: new Error("p2p: stopped") });
    this.#pending.add(cancel);
    try {
      while (true) {
        if (queue.length === 0) {
          await new Promise<void>((resolve, reject) => {
            let timer: unknown = null;
            const onAbort = () => reject(opts.signal?.reason ?? new Error("aborted"));
            if (opts.signal?.aborted) return onAbort();
            opts.signal?.addEventListener("abort", onAbort, { once: true });
            if (opts.idleTimeoutMs !== undefined) {
              timer = clock.setTimeout(
                () => reject(new P2PTimeoutError(`stream ${protocol} idle for ${opts.idleTimeoutMs} ms`)),
                opts.idleTimeoutMs,
              );
            }
            wake = () => {
              wake = null;
              if (timer !== null) clock.clearTimeout(timer);
              opts.signal?.removeEventListener("abort", onAbort);
              resolve();
            };
          });
        }
        const item = queue.shift()!;
        if ("end" in item) return;
        if ("error" in item) throw item.error;
        yield item.frame;
      }
    } finally {
      wake = null;
      this.#pending.delete(cancel);
      serverAbort.abort();
    }
  }

  /** Connected peers. */
  peers(): string[] {
    return this.#net.peersOf(this.peerId);
  }

  /** Links to the peer at the end of `addr` (`.../p2p/<id>`). */
  dial(addr: string): Promise<void> {
    const i = addr.lastIndexOf("/p2p/");
    if (i < 0) return Promise.reject(new Error(`p2p: no /p2p/<id> in ${addr}`));
    const id = addr.slice(i + 5);
    this.#net.link(this.peerId, id);
    return this.#net.connected(this.peerId, id)
      ? Promise.resolve()
      : Promise.reject(new Error(`p2p: cannot reach ${id}`));
  }

  /** Connection events. */
  onPeer(cb: (peerId: string, event: "connect" | "disconnect") => void): void {
    this.#peerCbs.push(cb);
  }

  /** -1 per rejected message from the peer (among the peers its gossip stats still track). */
  scoreOf(peerId: string): number {
    return -Object.values(this.gossipStats.peer(peerId).reject).reduce((a, b) => a + (b ?? 0), 0);
  }

  /** A peer's refused gossip per action and reason (empty when never refused or forgotten). */
  gossipCounts(peerId: string): PeerGossipCounts {
    return this.gossipStats.peer(peerId);
  }

  /** Connected peers subscribed to `topic`. */
  topicPeers(topic: string): string[] {
    const cached = this.#topicPeers.get(topic);
    if (cached !== undefined && cached.epoch === this.#net.epoch) return [...cached.peers];
    const peers = this.peers().filter((p) => this.#net.host(p)?.subscribes(topic) ?? false);
    this.#topicPeers.set(topic, { epoch: this.#net.epoch, peers });
    return [...peers];
  }

  /** Whether this host is configured for `topic`. */
  subscribes(topic: string): boolean {
    return this.#topics.has(topic);
  }

  /** Same as {@link SimHost.topicPeers}: the simulated mesh is every subscribed link. */
  meshPeers(topic: string): string[] {
    return this.topicPeers(topic);
  }

  /** Leaves the network; pending requests and streams fail. */
  stop(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.stopped = true;
    this.#net.leave(this);
    for (const cancel of [...this.#pending]) cancel();
    return Promise.resolve();
  }

  /** @internal A link to `peer` went up or down. */
  notePeer(peer: string, event: "connect" | "disconnect"): void {
    for (const cb of this.#peerCbs) {
      try {
        cb(peer, event);
      } catch (e) {
        this.#net.logger("warn", "onPeer callback threw", { error: String(e) });
      }
    }
  }

  // ---- gossip ----

  #forward(topic: string, data: Uint8Array, id: string, from: string | null): number {
    let n = 0;
    const what = `${topic} ${id.slice(0, 12)}`;
    this.topicPeers(topic); // refreshes the cache read below
    for (const p of this.#topicPeers.get(topic)!.peers) {
      if (p === from) continue;
      // A peer that has the message already would drop it on arrival (gossipsub 1.2's IDONTWANT
      // spares the bytes too): not sent, counted in the network's `suppressed`.
      const peer = this.#net.host(p);
      if (peer && peer.#hasArrived(id)) {
        this.#net.stats.suppressed++;
        continue;
      }
      const sent = this.#net.send(this.peerId, p, "gossip", what, (host) => {
        host.#noteArrival(id);
        host.#enqueue(topic, data, id, this.peerId);
      }, data.length);
      if (sent) n++;
    }
    return n;
  }

  /** Remembers `id`; false when it was already seen (and not expired). */
  /**
   * Records that gossip `id` was delivered here (in the delivery's timer, so at a deterministic
   * point of simulated time, unlike `#seen`, which is marked when the message is processed).
   */
  #noteArrival(id: string): void {
    const now = this.#net.clock.now();
    for (const [old, at] of this.#arrived) {
      if (now - at < this.#net.seenTtlMs / 2) break;
      this.#arrived.delete(old);
    }
    if (!this.#arrived.has(id)) this.#arrived.set(id, now);
  }

  /** Whether `id` was delivered here recently enough that a copy sent now would be dropped as seen. */
  #hasArrived(id: string): boolean {
    const at = this.#arrived.get(id);
    return at !== undefined && this.#net.clock.now() - at < this.#net.seenTtlMs / 2;
  }

  #markSeen(id: string): boolean {
    const now = this.#net.clock.now();
    for (const [old, expiry] of this.#seen) {
      if (expiry > now) break;
      this.#seen.delete(old);
    }
    if (this.#seen.has(id)) return false;
    this.#seen.set(id, now + this.#net.seenTtlMs);
    return true;
  }

  /**
   * Validates and handles received gossip one message at a time, in delivery order, so that a
   * host's processing order does not depend on how fast each validation finished in real time.
   */
  #enqueue(topic: string, data: Uint8Array, id: string, from: string): void {
    this.#inbox = this.#net.clock.track(
      this.#inbox.then(() => this.#receive(topic, data, id, from)).catch((e) =>
        this.#net.logger("error", "gossip receive failed", { topic, error: String(e) })
      ),
    );
  }

  async #receive(topic: string, data: Uint8Array, id: string, from: string): Promise<void> {
    if (this.stopped || !this.#topics.has(topic) || !this.#markSeen(id)) return;
    const sub = this.#subs.get(topic);
    if (!sub) return;
    let result: GossipResult;
    try {
      result = asGossipResult(await this.#net.clock.track(Promise.resolve(sub.validate(data, from))));
    } catch (e) {
      result = { action: "reject", reason: "validator_error", detail: String(e) };
    }
    const verdict = toVerdict(result, { topic, from, stats: this.gossipStats, logger: this.#net.logger });
    if (verdict !== "accept" || this.stopped) return;
    try {
      sub.handle(data, from);
    } catch (e) {
      this.#net.logger("warn", "gossip handler threw", { topic, error: String(e) });
    }
    this.#forward(topic, data, id, from);
  }

  // ---- serving ----

  async #serve(
    protocol: string,
    req: Uint8Array,
    from: string,
  ): Promise<{ ok: Uint8Array } | { error: string }> {
    const h = this.#handlers.get(protocol);
    if (!h || this.stopped) return { error: `protocol ${protocol} not supported` };
    if (req.length > h.requestBytesMax) {
      return { error: `request of ${req.length} bytes exceeds ${h.requestBytesMax}` };
    }
    if (h.active >= h.concurrentMax) return { error: "busy" };
    h.active++;
    try {
      const res = await h.fn(req, from);
      if (res.length > h.responseBytesMax) return { error: `response too large (${res.length} bytes)` };
      return { ok: res };
    } catch (e) {
      return { error: e instanceof Error ? e.message : String(e) };
    } finally {
      h.active--;
    }
  }

  /** Runs a stream handler; resolves to null when it ended, or the error message. */
  async #serveStream(
    protocol: string,
    req: Uint8Array,
    from: string,
    signal: AbortSignal,
    emit: (frame: Uint8Array) => void,
  ): Promise<string | null> {
    const h = this.#streams.get(protocol);
    if (!h || this.stopped) return `protocol ${protocol} not supported`;
    if (req.length > h.requestBytesMax) return `request of ${req.length} bytes exceeds ${h.requestBytesMax}`;
    if (h.active >= h.concurrentMax) return "busy";
    h.active++;
    try {
      await h.fn(req, from, (frame) => {
        if (signal.aborted || this.stopped) return Promise.reject(new Error("stream closed"));
        emit(frame);
        return Promise.resolve();
      }, signal);
      return null;
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    } finally {
      h.active--;
    }
  }
}
