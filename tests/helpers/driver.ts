/**
 * One consensus driver (real chain in a temporary LevelDB, real WAL and signer state) behind a fake
 * P2P: the test plays every other validator by signing proposals and votes with their keys and
 * handing them to the driver's gossip handlers, and reads what the driver publishes. No sockets, no
 * other nodes; timeouts are as long as the test wants them.
 */
import { join } from "node:path";
import { encode } from "cborg";
import { addressOf, generatePrivateKey, publicKeyOf, sign, toHex } from "../../lib/crypto.ts";
import type { Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log.ts";
import {
  encodeSignedProposal,
  encodeSignedVote,
  proposalSignBytes,
  voteSignBytes,
} from "../../consensus/mod.ts";
import type { Proposal, Vote } from "../../consensus/types.ts";
import { Chain } from "../../node/chain.ts";
import { ConsensusDriver, topics } from "../../node/consensus_driver.ts";
import { Mempool } from "../../node/mempool.ts";
import type { GossipResult, P2P, RequestOptions, Verdict } from "../../node/p2p.ts";
import { GossipStats, toVerdict } from "../../node/gossip_validation.ts";
import { defaultParams, type Genesis } from "../../node/ledger/genesis.ts";
import { cirrusLedger } from "../../node/ledger/mod.ts";

/** A validator key the test signs with. */
export interface TestKey {
  address: string;
  privKey: Uint8Array;
}

type Handler = {
  validate: (data: Uint8Array, from: string) => GossipResult | Promise<GossipResult>;
  handle: (data: Uint8Array, from: string) => void;
};

/**
 * A P2P that sends nothing anywhere: `publish` records, `deliver` runs a topic's validator and (when
 * accepted) its handler, request handlers are registered and `request` asks the `peers` map.
 */
export class FakeP2P implements P2P {
  readonly peerId = "fake-self";
  readonly published: { topic: string; data: Uint8Array }[] = [];
  readonly handlers = new Map<string, Handler>();
  readonly served = new Map<string, (req: Uint8Array, from: string) => Uint8Array | Promise<Uint8Array>>();
  /** Peers and what they answer to requests (by peer id). */
  readonly peerAnswers = new Map<
    string,
    (protocol: string, req: Uint8Array, maxResponseBytes: number) => Promise<Uint8Array>
  >();
  /** Gossip verdicts counted per peer and reason. */
  readonly stats = new GossipStats();
  /** When set, `publish` throws this error (a transport that refuses). */
  publishError: Error | null = null;
  /** Requests made, in order. */
  readonly requests: { peer: string; protocol: string; req: Uint8Array }[] = [];

  addrs(): string[] {
    return [];
  }
  publish(topic: string, data: Uint8Array): Promise<number> {
    if (this.publishError) return Promise.reject(this.publishError);
    this.published.push({ topic, data });
    return Promise.resolve(0);
  }
  onMessage(topic: string, validate: Handler["validate"], handle: Handler["handle"]): void {
    this.handlers.set(topic, { validate, handle });
  }
  /** Deliver gossip as if from `from`; returns the verdict (as the real adapter makes it). */
  async deliver(topic: string, data: Uint8Array, from = "peer"): Promise<Verdict> {
    const h = this.handlers.get(topic);
    if (!h) throw new Error(`no handler for ${topic}`);
    const verdict = toVerdict(await h.validate(data, from), {
      stats: this.stats,
      from,
      topic,
      logger: () => {},
    });
    if (verdict === "accept") h.handle(data, from);
    return verdict;
  }
  handle(protocol: string, handler: (req: Uint8Array, from: string) => Uint8Array | Promise<Uint8Array>) {
    this.served.set(protocol, handler);
    return Promise.resolve();
  }
  request(
    peerId: string,
    protocol: string,
    req: Uint8Array,
    opts?: RequestOptions,
  ): Promise<Uint8Array> {
    this.requests.push({ peer: peerId, protocol, req });
    const answer = this.peerAnswers.get(peerId);
    if (!answer) return Promise.reject(new Error(`no peer ${peerId}`));
    return answer(protocol, req, opts?.responseBytesMax ?? 16 * 1024 * 1024);
  }
  handleStream(): Promise<void> {
    return Promise.resolve();
  }
  // deno-lint-ignore require-yield
  async *openStream(): AsyncGenerator<Uint8Array> {
    throw new Error("no streams in FakeP2P");
  }
  peers(): string[] {
    return [...this.peerAnswers.keys()];
  }
  dial(): Promise<void> {
    return Promise.resolve();
  }
  onPeer(): void {}
  scoreOf(): number {
    return 0;
  }
  topicPeers(): string[] {
    return [];
  }
  meshPeers(): string[] {
    return [];
  }
  stop(): Promise<void> {
    return Promise.resolve();
  }
}

/** `n` fresh validator keys with equal power, and a genesis naming them (timeouts as given). */
export function testGenesis(
  n: number,
  consensus: Partial<Genesis["params"]["consensus"]> = {},
  accounts: Genesis["accounts"] = [],
): { keys: TestKey[]; genesis: Genesis } {
  const keys: TestKey[] = [];
  const validators: Genesis["validators"] = [];
  for (let i = 0; i < n; i++) {
    const privKey = generatePrivateKey();
    const pubKey = publicKeyOf(privKey);
    const address = addressOf(pubKey);
    keys.push({ address, privKey });
    validators.push({ address, pubKey: toHex(pubKey), power: "10" });
  }
  const params = defaultParams();
  params.consensus = { ...params.consensus, ...consensus };
  return {
    keys,
    genesis: {
      chainId: "cirrus-test",
      genesisTime: "2026-01-01T00:00:00.000Z",
      validators,
      accounts,
      params,
    },
  };
}

/** Options of {@link openDriver}. */
export interface DriverHarnessOptions {
  genesis: Genesis;
  /** The key the driver validates with (null: a full node). */
  self: TestKey | null;
  /** Called with the mempool before the driver starts (to fill it). */
  beforeStart?: (mempool: Mempool, chain: Chain) => void | Promise<void>;
  /** Called with the P2P before the driver starts. */
  p2pSetup?: (p2p: FakeP2P) => void;
  clock?: Clock;
  logger?: Logger;
}

/** A started driver on a fake P2P, with the helpers to talk to it. `close()` removes its files. */
export interface DriverHarness {
  dir: string;
  chain: Chain;
  p2p: FakeP2P;
  mempool: Mempool;
  driver: ConsensusDriver;
  topics: ReturnType<typeof topics>;
  close(): Promise<void>;
}

/** Open a chain in a temporary directory and start a driver on it behind a {@link FakeP2P}. */
export async function openDriver(opts: DriverHarnessOptions): Promise<DriverHarness> {
  const dir = await Deno.makeTempDir({ prefix: "cirrus-driver-" });
  const chain = await Chain.open({ dir: join(dir, "ledger"), genesis: opts.genesis, ledger: cirrusLedger() });
  const p2p = new FakeP2P();
  const lp = opts.genesis.params.ledger;
  const mempool = new Mempool({ txsMax: lp.mempoolMaxTxs, bytesMax: lp.mempoolMaxBytes });
  const driver = new ConsensusDriver({
    chain,
    p2p,
    mempool,
    validatorKey: opts.self,
    walPath: join(dir, "cs.wal"),
    signerStatePath: join(dir, "signer.json"),
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.logger ? { logger: opts.logger } : {}),
    rebroadcastMs: 3_600_000,
  });
  await opts.beforeStart?.(mempool, chain);
  opts.p2pSetup?.(p2p);
  await driver.start();
  return {
    dir,
    chain,
    p2p,
    mempool,
    driver,
    topics: topics(chain.chainId),
    async close() {
      await driver.stop();
      await chain.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** A proposal gossip message signed by `key`, carrying `blockBytes`. */
export async function proposalMessage(
  key: TestKey,
  proposal: Proposal,
  blockBytes: Uint8Array,
): Promise<Uint8Array> {
  const signature = await sign(key.privKey, proposalSignBytes(proposal));
  return encode([encodeSignedProposal({ proposal, signature }), blockBytes, 0]);
}

/** A vote gossip message signed by `key`. */
export async function voteMessage(key: TestKey, vote: Vote): Promise<Uint8Array> {
  const signature = await sign(key.privKey, voteSignBytes(vote));
  return encode([[encodeSignedVote({ vote, signature })], 0]);
}

/** Resolves when the queue of the driver has run what was delivered (polls `cond`). */
export async function until(cond: () => boolean, timeoutMs = 5_000, label = "condition"): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
