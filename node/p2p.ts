/**
 * cirrus p2p layer: libp2p v3 (TCP or in-process memory transport, Noise, Yamux, Identify) with
 * gossipsub for topics and a small length-prefixed request/response protocol on top of streams.
 * This file is the facade; the parts live in files named by what they do:
 *
 * - `p2p_host.ts`: the libp2p host (transport, encryption, muxer, connection limits, gossipsub
 *   parameters and message ids; default id = sha256(topic || 0 || data), a node may give its own);
 * - `p2p_gossip.ts`: topics, publish, the validation adapter (typed reasons from
 *   `gossip_validation.ts`, counted per peer in a {@link GossipStats});
 * - `p2p_reqresp.ts`: request/response and streaming protocols with limits;
 * - `p2p_peers.ts`: peer events, bootstrap redial, scores;
 * - `p2p_discovery.ts` + `p2p_peer_file.ts`: peers found through the DHT dialled, remembered on disk;
 * - `p2p_gater.ts`: at most `connectionsPerIpMax` connections from one IP.
 * @module
 */
import type { Logger } from "../lib/log.ts";
import { multiaddr } from "@multiformats/multiaddr";
import { GOSSIP_BYTES_MAX, type GossipResult, GossipStats } from "./gossip_validation.ts";
import { createHost, messageId, type MessageIdFn } from "./p2p_host.ts";
import { GossipTopics } from "./p2p_gossip.ts";
import { type HandleOptions, type OpenStreamOptions, Protocols, type RequestOptions } from "./p2p_reqresp.ts";
import type { StreamHandlerFn } from "./p2p_reqresp.ts";
import { PeerTracker } from "./p2p_peers.ts";
import { PeerDialer } from "./p2p_discovery.ts";
import { CONNECTIONS_PER_IP_MAX_DEFAULT } from "./p2p_gater.ts";

export { FrameTooLargeError } from "./p2p_frame.ts";
export { messageId, type MessageIdFn, peerIdFromSeed } from "./p2p_host.ts";
export {
  type HandleOptions,
  type OpenStreamOptions,
  P2PTimeoutError,
  RemoteError,
  type RequestOptions,
  type StreamHandlerFn,
} from "./p2p_reqresp.ts";
export {
  GOSSIP_BYTES_MAX,
  type GossipReason,
  type GossipResult,
  GossipStats,
  type Verdict,
} from "./gossip_validation.ts";

/** Options of {@link createP2P}. */
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
  /** largest gossip message, default and maximum GOSSIP_BYTES_MAX (4 MiB - 64 KiB) */
  messageBytesMax?: number;
  /** gossipsub heartbeat, default 500 ms */
  heartbeatMs?: number;
  /** a validator slower than this counts as "ignore", default 5 s */
  validateTimeoutMs?: number;
  /** connection manager cap (the most peers), default 64 */
  connectionsMax?: number;
  /** inbound connections from one IP, at most; default {@link CONNECTIONS_PER_IP_MAX_DEFAULT} */
  connectionsPerIpMax?: number;
  /** IPs exempt from `connectionsPerIpMax`, default loopback (127.0.0.1, ::1) */
  connectionsPerIpExempt?: string[];
  /**
   * Peer discovery: the Kademlia DHT's protocol id (e.g. `/cirrus/<chainId>/kad/1.0.0`); peers it
   * finds are dialled while fewer than `peersTarget` are connected. None: bootstrap peers only.
   */
  dhtProtocol?: string;
  /** Dial discovered peers while fewer than this are connected; default min(16, connectionsMax) */
  peersTarget?: number;
  /** Where learned peers are remembered across restarts (`<data>/peers.json`); none: not kept */
  peerFile?: string;
  /** gossip message id (what the seen cache de-duplicates on); default {@link messageId} */
  messageIdOf?: MessageIdFn;
  /** where refused gossip is counted per peer and reason (default: a fresh one, see `gossipStats`) */
  gossipStats?: GossipStats;
}

/** The p2p facade a node (or a simulated network) gives the rest of the node. */
export interface P2P {
  peerId: string;
  /** full multiaddrs with /p2p/<peerId> */
  addrs(): string[];
  /** resolves to the number of peers the message was sent to (0 is fine) */
  publish(topic: string, data: Uint8Array): Promise<number>;
  /** Set a topic's validator (typed result, see `gossip_validation.ts`) and handler. */
  onMessage(
    topic: string,
    validate: (data: Uint8Array, from: string) => GossipResult | Promise<GossipResult>,
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
  /**
   * Addresses a connected peer listens on, as its identify told (full multiaddrs with /p2p/<id>;
   * empty if unknown). Optional: simulated networks may not have it.
   */
  peerAddrs?(peerId: string): Promise<string[]>;
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

/** Start a libp2p host with the given topics; bootstrap peers are dialled in the background. */
export async function createP2P(opts: P2POptions): Promise<P2P> {
  const log: Logger = opts.logger ?? (() => {});
  let messageBytesMax = opts.messageBytesMax ?? GOSSIP_BYTES_MAX;
  if (messageBytesMax > GOSSIP_BYTES_MAX) {
    log("warn", "p2p: messageBytesMax clamped (gossipsub frames are capped at 4 MiB)", {
      asked: messageBytesMax,
      max: GOSSIP_BYTES_MAX,
    });
    messageBytesMax = GOSSIP_BYTES_MAX;
  }
  const topics = [...new Set(opts.topics)];
  const { node, pubsub } = await createHost({
    transport: opts.transport,
    listen: opts.listen,
    ...(opts.privateKey !== undefined ? { privateKey: opts.privateKey } : {}),
    topics,
    messageBytesMax,
    heartbeatMs: opts.heartbeatMs ?? 500,
    connectionsMax: opts.connectionsMax ?? 64,
    messageIdOf: opts.messageIdOf ?? messageId,
    connectionsPerIpMax: opts.connectionsPerIpMax ?? CONNECTIONS_PER_IP_MAX_DEFAULT,
    ...(opts.connectionsPerIpExempt !== undefined
      ? { connectionsPerIpExempt: opts.connectionsPerIpExempt }
      : {}),
    ...(opts.dhtProtocol !== undefined ? { dhtProtocol: opts.dhtProtocol } : {}),
    logger: log,
  });
  const selfId = node.peerId.toString();
  const gossip = new GossipTopics(pubsub, {
    topics,
    logger: log,
    messageBytesMax,
    validateTimeoutMs: opts.validateTimeoutMs ?? 5_000,
    stats: opts.gossipStats ?? new GossipStats(),
  });
  const peers = new PeerTracker(node, pubsub, log);
  peers.bootstrap(opts.bootstrap ?? [], selfId);
  const protocols = new Protocols(node, log);
  const dht = node.services.dht;
  const dialer = new PeerDialer(node, {
    peersTarget: opts.peersTarget ?? Math.min(16, opts.connectionsMax ?? 64),
    ...(opts.peerFile !== undefined ? { peerFile: opts.peerFile } : {}),
    ...(dht !== undefined
      ? {
        walk: (signal: AbortSignal) =>
          dht.getClosestPeers(crypto.getRandomValues(new Uint8Array(32)), { signal }),
      }
      : {}),
    logger: log,
  });
  let stopped = false;

  const p2p: P2P = {
    peerId: selfId,
    addrs() {
      return node.getMultiaddrs().map((ma) => {
        const s = ma.toString();
        return s.includes("/p2p/") ? s : `${s}/p2p/${selfId}`;
      });
    },
    publish: (topic, data) => gossip.publish(topic, data),
    onMessage: (topic, validate, handle) => gossip.onMessage(topic, validate, handle),
    handle: (protocol, handler, hopts) => protocols.handle(protocol, handler, hopts),
    request: (peerId, protocol, req, ropts) => protocols.request(peerId, protocol, req, ropts),
    handleStream: (protocol, handler, hopts) => protocols.handleStream(protocol, handler, hopts),
    openStream: (peerId, protocol, req, sopts) => protocols.openStream(peerId, protocol, req, sopts),
    peers: () => peers.peers(),
    peerAddrs: (peerId) => peers.addrsOf(peerId),
    async dial(addr) {
      await node.dial(multiaddr(addr));
    },
    onPeer: (cb) => peers.onPeer(cb),
    scoreOf: (peerId) => peers.scoreOf(peerId),
    topicPeers: (topic) => peers.topicPeers(topic),
    meshPeers: (topic) => peers.meshPeers(topic),
    async stop() {
      if (stopped) return;
      stopped = true;
      peers.stop();
      await dialer.stop();
      protocols.stop();
      await node.stop();
    },
  };

  await node.start(); // createLibp2p starts it already; idempotent
  await dialer.start();
  log("info", "p2p: started", { peerId: selfId, addrs: p2p.addrs() });
  return p2p;
}
