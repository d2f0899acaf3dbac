/**
 * Construction of the libp2p host: transport (TCP or in-process memory), Noise, Yamux, Identify,
 * a connection manager with limits, and gossipsub with its peer-score parameters and message ids.
 * @module
 */
import { createLibp2p, type Libp2p } from "libp2p";
import { tcp } from "@libp2p/tcp";
import { memory } from "@libp2p/memory";
import { noise } from "@libp2p/noise";
import { yamux } from "@libp2p/yamux";
import { type Identify, identify } from "@libp2p/identify";
import { type GossipSub, gossipsub } from "@libp2p/gossipsub";
import { type KadDHT, kadDHT, passthroughMapper } from "@libp2p/kad-dht";
import { ping } from "@libp2p/ping";
import { generateKeyPairFromSeed } from "@libp2p/crypto/keys";
import type { Logger } from "../lib/log.ts";
import { ipLimitGater } from "./p2p_gater.ts";
import { peerIdFromPrivateKey } from "@libp2p/peer-id";
import "./p2p_deno.ts";

const enc = new TextEncoder();

/** Methods the GossipSub class has but the exported `GossipSub` interface does not declare. */
export interface ScoredGossipSub extends GossipSub {
  getScore?(peerId: string): number;
  getMeshPeers?(topic: string): string[];
}

/** A message id function: the id gossipsub de-duplicates on (seen cache, IHAVE/IWANT). */
export type MessageIdFn = (topic: string, data: Uint8Array) => Uint8Array | Promise<Uint8Array>;

/**
 * Default gossip message id: sha256(topic || 0x00 || data). Content-addressed (the same bytes
 * published twice, or by two nodes, are one message), but per topic.
 */
export async function messageId(topic: string, data: Uint8Array): Promise<Uint8Array> {
  const t = enc.encode(topic);
  const buf = new Uint8Array(t.length + 1 + data.length);
  buf.set(t, 0);
  buf.set(data, t.length + 1);
  return new Uint8Array(await crypto.subtle.digest("SHA-256", buf));
}

/** Gossipsub peer-score parameters for one topic (P3 mesh-delivery penalties are off). */
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

/** What the host needs to be built. */
export interface HostOptions {
  transport: "tcp" | "memory";
  listen: string[];
  /** 32-byte ed25519 seed, or none for a random PeerId */
  privateKey?: Uint8Array;
  topics: string[];
  messageBytesMax: number;
  heartbeatMs: number;
  connectionsMax: number;
  messageIdOf: MessageIdFn;
  /** Inbound connections from one IP, at most (see `p2p_gater.ts`). */
  connectionsPerIpMax: number;
  /** IPs exempt from `connectionsPerIpMax` (default: loopback). */
  connectionsPerIpExempt?: readonly string[];
  /** The DHT's protocol id (peer discovery); none: no DHT. */
  dhtProtocol?: string;
  logger?: Logger;
}

/** The libp2p host with its gossipsub service (and, when discovery is on, the DHT). */
export type Host = Libp2p<{ identify: Identify; pubsub: GossipSub; dht?: KadDHT }>;

/** Build (and start) the libp2p host. */
export async function createHost(o: HostOptions): Promise<{ node: Host; pubsub: ScoredGossipSub }> {
  if (o.privateKey !== undefined && o.privateKey.length !== 32) {
    throw new Error(`privateKey must be a 32-byte ed25519 seed, got ${o.privateKey.length} bytes`);
  }
  const privateKey = o.privateKey !== undefined
    ? await generateKeyPairFromSeed("Ed25519", o.privateKey)
    : undefined;
  const topicScores: Record<string, ReturnType<typeof topicScore>> = {};
  for (const t of o.topics) topicScores[t] = topicScore();
  let host: Host | null = null;
  const gater = ipLimitGater({
    connectionsPerIpMax: o.connectionsPerIpMax,
    ...(o.connectionsPerIpExempt !== undefined ? { exempt: o.connectionsPerIpExempt } : {}),
    remoteAddrs: () => host?.getConnections().map((c) => c.remoteAddr) ?? [],
    ...(o.logger !== undefined ? { logger: o.logger } : {}),
  });
  const base = {
    ...(privateKey !== undefined ? { privateKey } : {}),
    connectionGater: gater,
    addresses: { listen: o.listen },
    transports: [o.transport === "tcp" ? tcp() : memory()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: {
      maxConnections: o.connectionsMax,
      maxIncomingPendingConnections: 16,
      // several local processes (devnet, simulations) connect from 127.0.0.1 at once
      inboundConnectionThreshold: 32,
      dialTimeout: 5_000,
      addressDialTimeout: 3_000,
    },
  };
  const services = {
    identify: identify(),
    pubsub: gossipsub({
      emitSelf: false,
      allowPublishToZeroTopicPeers: true,
      ignoreDuplicatePublishError: true,
      floodPublish: true,
      fallbackToFloodsub: false,
      doPX: false,
      globalSignaturePolicy: "StrictNoSign",
      msgIdFn: (msg) => o.messageIdOf(msg.topic, msg.data),
      allowedTopics: o.topics,
      heartbeatInterval: o.heartbeatMs,
      D: 4,
      Dlo: 3,
      Dhi: 8,
      Dscore: 2,
      Dout: 2,
      Dlazy: 4,
      maxInboundDataLength: o.messageBytesMax + 256 * 1024,
      scoreParams: {
        topics: topicScores,
        // every devnet node shares 127.0.0.1: never count that as a sybil colony
        IPColocationFactorWhitelist: new Set(["127.0.0.1", "::1"]),
      },
    }),
  };
  const node: Host = o.dhtProtocol === undefined
    ? await createLibp2p({ ...base, services })
    : await createLibp2p({
      ...base,
      services: {
        ...services,
        ping: ping(),
        dht: kadDHT({
          protocol: o.dhtProtocol,
          // answer queries (the default waits for a public address, which a LAN or devnet never has)
          clientMode: false,
          // devnets and tests live on 127.0.0.1 / the memory transport: keep every address
          peerInfoMapper: passthroughMapper,
          initialQuerySelfInterval: 500,
        }),
      },
    });
  host = node;
  return { node, pubsub: node.services.pubsub as ScoredGossipSub };
}

/** The PeerId (string) a 32-byte ed25519 seed gives, without starting a node (for configs, tests). */
export async function peerIdFromSeed(seed: Uint8Array): Promise<string> {
  const key = await generateKeyPairFromSeed("Ed25519", seed);
  return peerIdFromPrivateKey(key).toString();
}
