/**
 * cirrus p2p layer: libp2p v3 (TCP or in-process memory transport, Noise, Yamux, Identify) with
 * gossipsub for topics and a small length-prefixed request/response protocol on top of streams.
 *
 * - Gossip: every incoming message goes through the topic's validator BEFORE it is delivered or
 *   relayed. "reject" counts against the propagating peer's gossipsub score; "ignore" drops silently.
 *   A validator that throws (or takes longer than `validateTimeoutMs`) counts as reject (timeout:
 *   ignore). Until `onMessage` is called for a topic, messages on it are ignored (never relayed).
 *   Message id = sha256(topic || 0 || data): identical bytes published twice on a topic, or by two
 *   nodes, are one message (deduplicated for seenTTL = 2 min: a second publish returns 0).
 * - Request/response: the requester writes one frame, the responder answers with one frame whose first
 *   byte is a status (0 ok, 1 error: the rest is a UTF-8 message). Frames are varint length-prefixed.
 * - Streaming (for `logs --follow`): one request frame, then any number of status-0 frames, ended by
 *   a status-2 (end) or status-1 (error) frame.
 */
import type { Logger } from "../lib/log.ts";
import { createLibp2p } from "libp2p";
import { tcp } from "@libp2p/tcp";
import { memory } from "@libp2p/memory";
import { noise } from "@libp2p/noise";
import { yamux } from "@libp2p/yamux";
import { identify } from "@libp2p/identify";
import { type GossipSub, gossipsub, type GossipsubMessage, TopicValidatorResult } from "@libp2p/gossipsub";
import { generateKeyPairFromSeed } from "@libp2p/crypto/keys";
import { peerIdFromPrivateKey, peerIdFromString } from "@libp2p/peer-id";
import { multiaddr } from "@multiformats/multiaddr";
import type { Connection, PeerId, Stream } from "@libp2p/interface";
import "./p2p_deno.ts";
import { encodeFrame, FrameReader, FrameTooLargeError, writeAll } from "./p2p_frame.ts";

export { FrameTooLargeError } from "./p2p_frame.ts";

export type Verdict = "accept" | "reject" | "ignore";

export interface P2POptions {
  transport: "tcp" | "memory";
  /** e.g. "/ip4/127.0.0.1/tcp/26656" (port 0 = any) or "/memory/node-1" */
  listen: string[];
  /** full multiaddrs including /p2p/<peerId>; dialled at start and re-dialled while disconnected */
  bootstrap?: string[];
  /** 32-byte ed25519 seed: a stable PeerId */
  privateKey?: Uint8Array;
  topics: string[];
  logger?: Logger;
  /** largest gossip message, default and maximum MAX_GOSSIP_BYTES (4 MiB - 64 KiB) */
  maxMessageBytes?: number;
  /** gossipsub heartbeat, default 500 ms */
  heartbeatMs?: number;
  /** a validator slower than this counts as "ignore", default 5 s */
  validateTimeoutMs?: number;
  /** connection manager cap, default 64 */
  maxConnections?: number;
}

export interface HandleOptions {
  /** default 1 MiB */
  maxRequestBytes?: number;
  /** concurrent inbound streams for this protocol on one connection (libp2p limit), default 16 */
  maxInboundStreams?: number;
  /** concurrent inbound streams for this protocol over all peers; beyond it the reply is "busy". default 64 */
  maxConcurrent?: number;
  /** time to read the request + run the handler + write the reply, default 30 s (unary only) */
  timeoutMs?: number;
  /** the reply is refused (error sent instead) above this size, default 16 MiB */
  maxResponseBytes?: number;
}

export interface RequestOptions {
  /** default 10 s, covers dial + request + response */
  timeoutMs?: number;
  /** default 16 MiB */
  maxResponseBytes?: number;
  signal?: AbortSignal;
}

export interface OpenStreamOptions {
  /** time allowed to dial and write the request, default 10 s */
  timeoutMs?: number;
  /** time allowed between two frames; default none (a follow stream may be idle for long) */
  idleTimeoutMs?: number;
  /** largest frame, default 4 MiB */
  maxFrameBytes?: number;
  signal?: AbortSignal;
}

export type StreamHandlerFn = (
  req: Uint8Array,
  from: string,
  send: (frame: Uint8Array) => Promise<void>,
  signal: AbortSignal,
) => Promise<void>;

export interface P2P {
  peerId: string;
  /** full multiaddrs with /p2p/<peerId> */
  addrs(): string[];
  /** resolves to the number of peers the message was sent to (0 is fine) */
  publish(topic: string, data: Uint8Array): Promise<number>;
  onMessage(
    topic: string,
    validate: (data: Uint8Array, from: string) => Verdict | Promise<Verdict>,
    handle: (data: Uint8Array, from: string) => void,
  ): void;
  handle(
    protocol: string,
    handler: (req: Uint8Array, from: string) => Uint8Array | Promise<Uint8Array>,
    opts?: HandleOptions,
  ): Promise<void>;
  request(peerId: string, protocol: string, req: Uint8Array, opts?: RequestOptions): Promise<Uint8Array>;
  handleStream(protocol: string, handler: StreamHandlerFn, opts?: HandleOptions): Promise<void>;
  openStream(
    peerId: string,
    protocol: string,
    req: Uint8Array,
    opts?: OpenStreamOptions,
  ): AsyncGenerator<Uint8Array>;
  peers(): string[];
  dial(addr: string): Promise<void>;
  onPeer(cb: (peerId: string, event: "connect" | "disconnect") => void): void;
  /** gossipsub score this node gives the peer (0 if unknown) */
  scoreOf(peerId: string): number;
  /** peers subscribed to a topic, as this node knows them */
  topicPeers(topic: string): string[];
  /** peers in this node's gossipsub mesh for the topic (relays go only to these; formed on heartbeats) */
  meshPeers(topic: string): string[];
  stop(): Promise<void>;
}

/** The remote side answered with an error frame (handler threw, request too large, busy...). */
export class RemoteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RemoteError";
  }
}

export class P2PTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TimeoutError";
  }
}

const MiB = 1024 * 1024;
/**
 * Largest gossip payload. gossipsub's outbound stream length-prefixes each RPC with it-length-prefixed,
 * whose encoder refuses frames over 4 MiB (not configurable); the refusal is silent (publish just
 * reports 0 recipients). Keep 64 KiB for the RPC envelope and piggybacked control messages.
 */
export const MAX_GOSSIP_BYTES = 4 * MiB - 64 * 1024;
const STATUS_OK = 0;
const STATUS_ERROR = 1;
const STATUS_END = 2;

const enc = new TextEncoder();
const dec = new TextDecoder();

function statusFrame(status: number, body: Uint8Array): Uint8Array {
  const payload = new Uint8Array(1 + body.length);
  payload[0] = status;
  payload.set(body, 1);
  return encodeFrame(payload);
}

function errMsg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Methods the GossipSub class has but the exported `GossipSub` interface does not declare. */
interface ScoredGossipSub extends GossipSub {
  getScore?(peerId: string): number;
  getMeshPeers?(topic: string): string[];
}

/**
 * Gossip message id: sha256(topic || 0x00 || data). Content-addressed (the same bytes published twice,
 * or by two nodes, are one message), but per topic: the same bytes on two topics are two messages.
 */
export async function messageId(topic: string, data: Uint8Array): Promise<Uint8Array> {
  const t = enc.encode(topic);
  const buf = new Uint8Array(t.length + 1 + data.length);
  buf.set(t, 0);
  buf.set(data, t.length + 1);
  return new Uint8Array(await crypto.subtle.digest("SHA-256", buf));
}

/** Gossipsub peer-score parameters for one topic (see report: P3 mesh-delivery penalties are off). */
function topicScore() {
  return {
    topicWeight: 1,
    // P1: a little credit for time in mesh (capped), so honest quiet peers sit above 0
    timeInMeshWeight: 0.01,
    timeInMeshQuantum: 1000,
    timeInMeshCap: 300,
    // P2: first deliveries
    firstMessageDeliveriesWeight: 0.5,
    firstMessageDeliveriesDecay: 0.9,
    firstMessageDeliveriesCap: 20,
    // P3/P3b off: a validator net has quiet topics (votes only at block rate), do not punish silence
    meshMessageDeliveriesWeight: 0,
    meshMessageDeliveriesDecay: 0.5,
    meshMessageDeliveriesCap: 100,
    meshMessageDeliveriesThreshold: 1,
    meshMessageDeliveriesWindow: 10,
    meshMessageDeliveriesActivation: 5000,
    meshFailurePenaltyWeight: 0,
    meshFailurePenaltyDecay: 0.5,
    // P4: invalid (rejected) messages: -5 * n^2. 1 -> -5, 2 -> -20 (no gossip), 4 -> -80 (graylisted)
    invalidMessageDeliveriesWeight: -5,
    invalidMessageDeliveriesDecay: 0.9, // per second: half-life ~6.6 s
  };
}

export async function createP2P(opts: P2POptions): Promise<P2P> {
  const log: Logger = opts.logger ?? (() => {});
  let maxMessageBytes = opts.maxMessageBytes ?? MAX_GOSSIP_BYTES;
  if (maxMessageBytes > MAX_GOSSIP_BYTES) {
    log("warn", "p2p: maxMessageBytes clamped (gossipsub frames are capped at 4 MiB)", {
      asked: maxMessageBytes,
      max: MAX_GOSSIP_BYTES,
    });
    maxMessageBytes = MAX_GOSSIP_BYTES;
  }
  const validateTimeoutMs = opts.validateTimeoutMs ?? 5_000;
  const topics = [...new Set(opts.topics)];

  if (opts.privateKey !== undefined && opts.privateKey.length !== 32) {
    throw new Error(`privateKey must be a 32-byte ed25519 seed, got ${opts.privateKey.length} bytes`);
  }
  const privateKey = opts.privateKey !== undefined
    ? await generateKeyPairFromSeed("Ed25519", opts.privateKey)
    : undefined;

  const topicScores: Record<string, ReturnType<typeof topicScore>> = {};
  for (const t of topics) topicScores[t] = topicScore();

  const node = await createLibp2p({
    ...(privateKey !== undefined ? { privateKey } : {}),
    addresses: { listen: opts.listen },
    transports: [opts.transport === "tcp" ? tcp() : memory()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: {
      maxConnections: opts.maxConnections ?? 64,
      maxIncomingPendingConnections: 16,
      // several local processes (devnet, simulations) connect from 127.0.0.1 at once
      inboundConnectionThreshold: 32,
      dialTimeout: 5_000,
      addressDialTimeout: 3_000,
    },
    services: {
      identify: identify(),
      pubsub: gossipsub({
        emitSelf: false,
        allowPublishToZeroTopicPeers: true,
        ignoreDuplicatePublishError: true,
        floodPublish: true,
        fallbackToFloodsub: false,
        doPX: false,
        globalSignaturePolicy: "StrictNoSign",
        msgIdFn: (msg) => messageId(msg.topic, msg.data),
        allowedTopics: topics,
        heartbeatInterval: opts.heartbeatMs ?? 500,
        D: 4,
        Dlo: 3,
        Dhi: 8,
        Dscore: 2,
        Dout: 2,
        Dlazy: 4,
        maxInboundDataLength: maxMessageBytes + 256 * 1024,
        scoreParams: {
          topics: topicScores,
          // every devnet node shares 127.0.0.1: never count that as a sybil colony
          IPColocationFactorWhitelist: new Set(["127.0.0.1", "::1"]),
        },
      }),
    },
  });
  const pubsub = node.services.pubsub as ScoredGossipSub;
  const selfId = node.peerId.toString();

  let stopped = false;
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      if (!stopped) fn();
    }, ms);
    timers.add(t);
    return t;
  };

  // ---------------------------------------------------------------- gossip
  type Sub = {
    validate: (data: Uint8Array, from: string) => Verdict | Promise<Verdict>;
    handle: (data: Uint8Array, from: string) => void;
  };
  const subs = new Map<string, Sub>();

  const runValidator = async (
    topic: string,
    data: Uint8Array,
    from: string,
  ): Promise<TopicValidatorResult> => {
    const sub = subs.get(topic);
    if (sub === undefined) return TopicValidatorResult.Ignore;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const timeout = new Promise<Verdict>((resolve) => {
        timer = setTimeout(() => {
          log("warn", "p2p: validator timed out", { topic, from });
          resolve("ignore");
        }, validateTimeoutMs);
      });
      const v = await Promise.race([Promise.resolve().then(() => sub.validate(data, from)), timeout]);
      if (v === "accept") return TopicValidatorResult.Accept;
      if (v === "ignore") return TopicValidatorResult.Ignore;
      if (v !== "reject") log("warn", "p2p: validator returned a bad verdict, rejecting", { topic, v });
      return TopicValidatorResult.Reject;
    } catch (e) {
      log("warn", "p2p: validator threw, rejecting", { topic, from, err: errMsg(e) });
      return TopicValidatorResult.Reject;
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  };

  for (const topic of topics) {
    pubsub.topicValidators.set(topic, (peer, msg) => runValidator(topic, msg.data, peer.toString()));
    pubsub.subscribe(topic);
  }

  pubsub.addEventListener("gossipsub:message", (evt: CustomEvent<GossipsubMessage>) => {
    const { msg, propagationSource } = evt.detail;
    const sub = subs.get(msg.topic);
    if (sub === undefined) return;
    try {
      sub.handle(msg.data, propagationSource.toString());
    } catch (e) {
      log("error", "p2p: message handler threw", { topic: msg.topic, err: errMsg(e) });
    }
  });

  // ---------------------------------------------------------------- peers
  const peerCbs: Array<(peerId: string, event: "connect" | "disconnect") => void> = [];
  const emitPeer = (id: PeerId, event: "connect" | "disconnect") => {
    log("debug", `p2p: peer ${event}`, { peer: id.toString() });
    for (const cb of peerCbs) {
      try {
        cb(id.toString(), event);
      } catch (e) {
        log("error", "p2p: onPeer callback threw", { err: errMsg(e) });
      }
    }
  };
  node.addEventListener("peer:connect", (evt) => emitPeer(evt.detail, "connect"));
  node.addEventListener("peer:disconnect", (evt) => emitPeer(evt.detail, "disconnect"));

  // ---------------------------------------------------------------- bootstrap
  // Each bootstrap address: dial; while connected, check every 2 s; after a failure retry after
  // 1 s, 2 s, 4 s, 5 s, 5 s ... (+ up to 250 ms jitter). One pending timer per address, cleared on stop().
  const CHECK_MS = 2_000;
  for (const addr of opts.bootstrap ?? []) {
    let ma;
    try {
      ma = multiaddr(addr);
    } catch (e) {
      log("warn", "p2p: bad bootstrap address", { addr, err: errMsg(e) });
      continue;
    }
    const idStr = ma.getComponents().findLast((c) => c.name === "p2p")?.value;
    if (idStr === selfId) continue;
    const pid = idStr !== undefined ? peerIdFromString(idStr) : undefined;
    let backoff = 1_000;
    const tick = async () => {
      if (pid !== undefined && node.getConnections(pid).length > 0) {
        backoff = 1_000;
        later(CHECK_MS, tick);
        return;
      }
      try {
        await node.dial(ma);
        if (stopped) return;
        log("info", "p2p: connected to bootstrap peer", { addr });
        backoff = 1_000;
        later(CHECK_MS, tick);
      } catch (e) {
        if (stopped) return;
        log("debug", "p2p: bootstrap dial failed", { addr, err: errMsg(e), retryMs: backoff });
        later(backoff + Math.floor(Math.random() * 250), tick);
        backoff = Math.min(backoff * 2, 5_000);
      }
    };
    later(0, tick);
  }

  // ---------------------------------------------------------------- request / response
  const inflight = new Set<Stream>();
  const track = (s: Stream) => {
    inflight.add(s);
    s.addEventListener("close", () => inflight.delete(s));
  };

  const replyError = async (stream: Stream, message: string) => {
    try {
      await writeAll(stream, statusFrame(STATUS_ERROR, enc.encode(message)));
      await stream.close({ signal: AbortSignal.timeout(2_000) });
    } catch {
      stream.abort(new Error(message));
    }
  };

  const registerHandler = async (
    protocol: string,
    opts: HandleOptions | undefined,
    serve: (stream: Stream, from: string, reader: FrameReader, req: Uint8Array) => Promise<void>,
    unary: boolean,
  ) => {
    const maxRequestBytes = opts?.maxRequestBytes ?? 1 * MiB;
    const maxConcurrent = opts?.maxConcurrent ?? 64;
    const timeoutMs = opts?.timeoutMs ?? 30_000;
    let active = 0;
    await node.handle(protocol, async (stream: Stream, connection: Connection) => {
      const from = connection.remotePeer.toString();
      track(stream);
      if (active >= maxConcurrent) {
        log("warn", "p2p: too many concurrent streams, refusing", { protocol, from });
        await replyError(stream, `busy: ${protocol} is serving ${active} streams`);
        return;
      }
      active++;
      // unary: the whole exchange is bounded; streaming: only reading the request is.
      let timer: ReturnType<typeof setTimeout> | undefined = setTimeout(() => {
        stream.abort(new P2PTimeoutError(`${protocol}: timed out after ${timeoutMs} ms`));
      }, unary ? timeoutMs : Math.min(timeoutMs, 10_000));
      const reader = new FrameReader(stream);
      try {
        let req: Uint8Array | undefined;
        try {
          req = await reader.next(maxRequestBytes);
        } catch (e) {
          if (e instanceof FrameTooLargeError) {
            log("warn", "p2p: request too large", { protocol, from, size: e.size, limit: e.limit });
            await replyError(stream, `request too large: ${e.size} bytes > ${e.limit}`);
            stream.abort(e); // drop the rest of the oversized request
            return;
          }
          throw e;
        }
        if (req === undefined) {
          stream.abort(new Error("no request"));
          return;
        }
        if (!unary) {
          clearTimeout(timer);
          timer = undefined;
        }
        await serve(stream, from, reader, req);
      } catch (e) {
        log("debug", "p2p: inbound stream failed", { protocol, from, err: errMsg(e) });
        stream.abort(e instanceof Error ? e : new Error(String(e)));
      } finally {
        if (timer !== undefined) clearTimeout(timer);
        active--;
      }
    }, { maxInboundStreams: opts?.maxInboundStreams ?? 16 });
  };

  const openOutbound = async (peerId: string, protocol: string, signal: AbortSignal): Promise<Stream> => {
    const stream = await node.dialProtocol(peerIdFromString(peerId), protocol, { signal });
    track(stream);
    return stream;
  };

  const p2p: P2P = {
    peerId: selfId,

    addrs() {
      return node.getMultiaddrs().map((ma) => {
        const s = ma.toString();
        return s.includes("/p2p/") ? s : `${s}/p2p/${selfId}`;
      });
    },

    async publish(topic, data) {
      if (!topics.includes(topic)) throw new Error(`p2p: not a configured topic: ${topic}`);
      if (data.length > maxMessageBytes) {
        throw new Error(`p2p: message of ${data.length} bytes exceeds maxMessageBytes ${maxMessageBytes}`);
      }
      const r = await pubsub.publish(topic, data);
      return r.recipients.length;
    },

    onMessage(topic, validate, handle) {
      if (!topics.includes(topic)) throw new Error(`p2p: not a configured topic: ${topic}`);
      subs.set(topic, { validate, handle });
    },

    async handle(protocol, handler, hopts) {
      const maxResponseBytes = hopts?.maxResponseBytes ?? 16 * MiB;
      await registerHandler(protocol, hopts, async (stream, from, reader, req) => {
        await reader.release();
        let frame: Uint8Array;
        try {
          const resp = await handler(req, from);
          frame = resp.length > maxResponseBytes
            ? statusFrame(STATUS_ERROR, enc.encode(`response too large: ${resp.length} bytes`))
            : statusFrame(STATUS_OK, resp);
        } catch (e) {
          log("debug", "p2p: handler threw", { protocol, from, err: errMsg(e) });
          frame = statusFrame(STATUS_ERROR, enc.encode(`handler error: ${errMsg(e)}`));
        }
        await writeAll(stream, frame);
        await stream.close();
      }, true);
    },

    async request(peerId, protocol, req, ropts) {
      const timeoutMs = ropts?.timeoutMs ?? 10_000;
      const maxResponseBytes = ropts?.maxResponseBytes ?? 16 * MiB;
      const ac = new AbortController();
      const timeoutErr = new P2PTimeoutError(
        `request ${protocol} to ${peerId} timed out after ${timeoutMs} ms`,
      );
      const timer = setTimeout(() => ac.abort(timeoutErr), timeoutMs);
      const onAbort = () => ac.abort(ropts?.signal?.reason);
      ropts?.signal?.addEventListener("abort", onAbort);
      let stream: Stream | undefined;
      try {
        stream = await openOutbound(peerId, protocol, ac.signal);
        const s = stream;
        const abortStream = () => s.abort(ac.signal.reason instanceof Error ? ac.signal.reason : timeoutErr);
        if (ac.signal.aborted) abortStream();
        ac.signal.addEventListener("abort", abortStream);
        const reader = new FrameReader(s);
        // read concurrently with writing: the server may answer (e.g. "too large") before it reads all
        const respP = reader.next(maxResponseBytes + 1);
        respP.catch(() => {});
        let writeErr: unknown;
        try {
          await writeAll(s, encodeFrame(req));
          await s.close();
        } catch (e) {
          writeErr = e;
        }
        let frame: Uint8Array | undefined;
        try {
          frame = await respP;
        } catch (e) {
          if (ac.signal.aborted) throw ac.signal.reason;
          if (e instanceof FrameTooLargeError) {
            throw new Error(`response from ${peerId} too large: ${e.size - 1} bytes > ${maxResponseBytes}`);
          }
          throw writeErr ?? e;
        }
        if (frame === undefined || frame.length === 0) {
          throw new Error(`${protocol}: empty response from ${peerId}`);
        }
        if (frame[0] === STATUS_OK) return frame.subarray(1);
        if (frame[0] === STATUS_ERROR) throw new RemoteError(dec.decode(frame.subarray(1)));
        throw new Error(`${protocol}: bad response status ${frame[0]}`);
      } catch (e) {
        if (ac.signal.aborted && ac.signal.reason === timeoutErr) throw timeoutErr;
        stream?.abort(e instanceof Error ? e : new Error(String(e)));
        throw e;
      } finally {
        clearTimeout(timer);
        ropts?.signal?.removeEventListener("abort", onAbort);
      }
    },

    async handleStream(protocol, handler, hopts) {
      await registerHandler(protocol, hopts, async (stream, from, reader, req) => {
        await reader.release();
        const ac = new AbortController();
        const onClose = () => ac.abort(new Error("stream closed"));
        stream.addEventListener("close", onClose);
        // the client closes its write side after the request; a reset/close ends the stream
        try {
          const send = async (frame: Uint8Array) => {
            if (ac.signal.aborted) throw ac.signal.reason;
            await writeAll(stream, statusFrame(STATUS_OK, frame));
          };
          try {
            await handler(req, from, send, ac.signal);
            if (!ac.signal.aborted) {
              await writeAll(stream, statusFrame(STATUS_END, new Uint8Array()));
              await stream.close();
            }
          } catch (e) {
            if (ac.signal.aborted) return;
            log("debug", "p2p: stream handler threw", { protocol, from, err: errMsg(e) });
            await replyError(stream, `handler error: ${errMsg(e)}`);
          }
        } finally {
          stream.removeEventListener("close", onClose);
        }
      }, false);
    },

    async *openStream(peerId, protocol, req, sopts) {
      const timeoutMs = sopts?.timeoutMs ?? 10_000;
      const maxFrameBytes = sopts?.maxFrameBytes ?? 4 * MiB;
      const ac = new AbortController();
      const openTimer = setTimeout(
        () => ac.abort(new P2PTimeoutError(`openStream ${protocol} to ${peerId} timed out`)),
        timeoutMs,
      );
      const onAbort = () => ac.abort(sopts?.signal?.reason);
      sopts?.signal?.addEventListener("abort", onAbort);
      let idle: ReturnType<typeof setTimeout> | undefined;
      let stream: Stream | undefined;
      let finished = false;
      try {
        stream = await openOutbound(peerId, protocol, ac.signal);
        const s = stream;
        ac.signal.addEventListener("abort", () => s.abort(ac.signal.reason));
        if (ac.signal.aborted) throw ac.signal.reason;
        const reader = new FrameReader(s);
        await writeAll(s, encodeFrame(req));
        await s.close(); // half-close: we only read from here on
        clearTimeout(openTimer);
        while (true) {
          if (sopts?.idleTimeoutMs !== undefined) {
            idle = setTimeout(
              () =>
                ac.abort(new P2PTimeoutError(`openStream ${protocol}: idle for ${sopts.idleTimeoutMs} ms`)),
              sopts.idleTimeoutMs,
            );
          }
          let frame: Uint8Array | undefined;
          try {
            frame = await reader.next(maxFrameBytes + 1);
          } catch (e) {
            if (ac.signal.aborted) throw ac.signal.reason;
            throw e;
          }
          if (idle !== undefined) clearTimeout(idle);
          if (frame === undefined || frame.length === 0) {
            throw new Error(`${protocol}: stream ended without end frame`);
          }
          if (frame[0] === STATUS_END) {
            finished = true;
            return;
          }
          if (frame[0] === STATUS_ERROR) {
            finished = true;
            throw new RemoteError(dec.decode(frame.subarray(1)));
          }
          yield frame.subarray(1);
        }
      } finally {
        clearTimeout(openTimer);
        if (idle !== undefined) clearTimeout(idle);
        sopts?.signal?.removeEventListener("abort", onAbort);
        // consumer broke out early (or an error): reset so the server's handler sees its signal abort
        if (!finished) stream?.abort(new Error("stream cancelled"));
      }
    },

    peers() {
      return node.getPeers().map((p) => p.toString());
    },

    async dial(addr) {
      await node.dial(multiaddr(addr));
    },

    onPeer(cb) {
      peerCbs.push(cb);
    },

    scoreOf(peerId) {
      return pubsub.getScore?.(peerId) ?? 0;
    },

    topicPeers(topic) {
      return pubsub.getSubscribers(topic).map((p) => p.toString());
    },

    meshPeers(topic) {
      return pubsub.getMeshPeers?.(topic) ?? [];
    },

    async stop() {
      if (stopped) return;
      stopped = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const s of inflight) s.abort(new Error("p2p stopping"));
      inflight.clear();
      await node.stop();
    },
  };

  await node.start(); // createLibp2p starts it already; idempotent
  log("info", "p2p: started", { peerId: selfId, addrs: p2p.addrs() });
  return p2p;
}

/** The PeerId (string) a 32-byte ed25519 seed gives, without starting a node (for configs, tests). */
export async function peerIdFromSeed(seed: Uint8Array): Promise<string> {
  const key = await generateKeyPairFromSeed("Ed25519", seed);
  return peerIdFromPrivateKey(key).toString();
}
