/**
 * A cirrus node: chain + mempool + libp2p host + consensus driver + block sync (+ RPC, started by
 * the caller). `startNode` composes them from a home directory or from explicit parts (tests).
 * @module
 */
import { decode, encode } from "cborg";
import { join } from "node:path";
import { Chain, type CommittedBlock } from "./chain.ts";
import { type LoadedHome, loadHome } from "./config.ts";
import { ConsensusDriver, type SignerGuard, topics, type WalLog } from "./consensus_driver.ts";
import { gossipMessageIdOf } from "./consensus_gossip.ts";
import { type Clock, systemClock } from "../lib/clock.ts";
import type { Logger } from "../lib/log.ts";
import type { Rng } from "../lib/rng.ts";
import { Mempool } from "./mempool.ts";
import { createP2P, type P2P, type P2POptions } from "./p2p.ts";
import { type GossipResult, GossipStats, IGNORE, REJECT } from "./gossip_validation.ts";
import { BlockSync } from "./sync.ts";
import type { SignedTx } from "./ledger/tx.ts";
import type { Store } from "./ledger/store.ts";
import type { Ledger } from "./ledger/ledger.ts";
import { cirrusLedger } from "./ledger/default_ledger.ts";
import { forgetConsensusState, misbehavingP2P, type Misbehaviour, testChainProblem } from "./misbehave.ts";

/** Most txs in one gossip batch, and how long a tx waits for its batch. */
const TX_BATCH_MAX = 512;
const TX_BATCH_DELAY_MS = 20;
/**
 * A tx submitted here and still pending after this long is gossiped again (its first gossip may have
 * reached no peer, e.g. sent before any connection): a chain at rest would otherwise never see it.
 * After a gossip that reached peers, with a backoff up to {@link TX_REGOSSIP_MS_MAX}, and while the chain
 * commits blocks only once the backoff is at its maximum (about a minute pending: the tx waits for room
 * in a block; re-gossiping every pending tx of a saturated chain every 2 s doubled its load).
 */
const TX_REGOSSIP_MS = 2_000;
const TX_REGOSSIP_MS_MAX = 32_000;
/** Most txs submitted here that are followed for a re-gossip. */
const TX_REGOSSIP_MAX = 4_096;

/** A tx submitted here, followed for a re-gossip while pending. */
interface OwnTx {
  bytes: Uint8Array;
  /** When it was last gossiped (or its re-gossip last skipped). */
  at: number;
  /** The chain's height then. */
  height: number;
  /** Whether its last gossip was sent to at least one peer. */
  reached: boolean;
  /** How long after `at` it is looked at again. */
  waitMs: number;
}

/** Options of {@link startNode}. */
export interface NodeOptions {
  /** A loaded home (config, genesis, keys). */
  home: LoadedHome;
  validator: boolean;
  transport?: "tcp" | "memory";
  p2pListen?: string[];
  bootstrap?: string[];
  /** Directory of the node's data (default `<home>/data`). */
  dataDir?: string;
  /** Timers and wall time (default the system clock). */
  clock?: Clock;
  logger?: Logger;
  /** The ledger's modules (default: {@link cirrusLedger}, bank + market + audit). */
  ledger?: Ledger;
  /**
   * Where the block store, consensus WAL and signer state live (default: on disk under `dataDir`,
   * LevelDB and fsynced files; the simulator passes in-memory ones, `node/sim/memory_storage.ts`).
   */
  storage?: NodeStorage;
  /** Randomness of the node's choices, e.g. block sync's peer sample (default: seeded from the crypto source). */
  rng?: Rng;
  /** Builds the node's network host (default `createP2P`, libp2p; the simulator passes its own). */
  network?: (opts: P2POptions) => Promise<P2P>;
  /** Test only (refused unless the chain is a test chain): misbehave in these ways (`node/misbehave.ts`). */
  misbehave?: readonly Misbehaviour[];
}

/** Openers of a node's durable parts (see {@link NodeOptions.storage}). */
export interface NodeStorage {
  openStore: (dir: string) => Promise<Store>;
  openWal: (path: string) => Promise<WalLog>;
  loadSigner: (path: string) => Promise<SignerGuard>;
}

/** Result of submitting a transaction. */
export type SubmitResult = { ok: true; txId: string } | { ok: false; error: string; txId?: string };

/** A running node. */
export class CirrusNode {
  readonly chain: Chain;
  readonly mempool: Mempool;
  readonly p2p: P2P;
  readonly driver: ConsensusDriver;
  readonly sync: BlockSync;
  readonly home: LoadedHome;
  readonly validator: boolean;
  readonly log: Logger;
  /** The clock every timer of this node runs on. */
  readonly clock: Clock;
  /** Refused gossip, counted per peer and per reason (all topics). */
  readonly gossipStats: GossipStats;
  #txBatch: Uint8Array[] = [];
  /** Ids of the txs submitted here in `#txBatch` (their gossip's reach is recorded). */
  #txBatchOwn: string[] = [];
  /** Batches decoded by the gossip validator, handed to the message handler without decoding twice. */
  #decoded = new WeakMap<Uint8Array, SignedTx[]>();
  #txTimer: unknown = null;
  /**
   * Txs submitted here, still followed for a re-gossip: id -> bytes, time and chain height of the
   * last gossip, whether it reached a peer, the wait before the next one.
   */
  #ownTxs = new Map<string, OwnTx>();
  #regossipTimer: unknown = null;
  #stopped = false;

  private constructor(
    parts: {
      chain: Chain;
      mempool: Mempool;
      p2p: P2P;
      driver: ConsensusDriver;
      sync: BlockSync;
      home: LoadedHome;
      validator: boolean;
      log: Logger;
      clock: Clock;
      gossipStats: GossipStats;
    },
  ) {
    this.chain = parts.chain;
    this.mempool = parts.mempool;
    this.p2p = parts.p2p;
    this.driver = parts.driver;
    this.sync = parts.sync;
    this.home = parts.home;
    this.validator = parts.validator;
    this.log = parts.log;
    this.clock = parts.clock;
    this.gossipStats = parts.gossipStats;
  }

  /** Start a node from a home directory path. */
  static async fromHome(
    homeDir: string,
    opts: Omit<NodeOptions, "home"> & { p2pListen?: string[]; bootstrap?: string[] },
  ): Promise<CirrusNode> {
    return await startNode({ ...opts, home: await loadHome(homeDir) });
  }

  get chainId(): string {
    return this.chain.chainId;
  }

  /** Subscribe to committed blocks. */
  onCommit(fn: (b: CommittedBlock) => void): () => void {
    return this.chain.onCommit(fn);
  }

  /**
   * Check and admit a signed tx (bytes from a client): decode, verify the signature, stateful check
   * against state + mempool; gossip it on success.
   */
  async submitTx(bytes: Uint8Array): Promise<SubmitResult> {
    const d = this.chain.ledger.decodeTx(bytes, { maxTxBytes: this.chain.genesis.params.ledger.maxTxBytes });
    if (!d.ok) return { ok: false, error: d.reason };
    const stx = d.stx;
    if (stx.tx.chainId !== this.chainId) {
      return {
        ok: false,
        txId: stx.id,
        error: `wrong chain id "${stx.tx.chainId}", this chain is "${this.chainId}"`,
      };
    }
    if (await this.chain.verifySignatures([stx])) return { ok: false, txId: stx.id, error: "bad signature" };
    const r = this.mempool.add(stx, this.chain.state);
    if (!r.ok) return { ok: false, txId: stx.id, error: r.reason };
    this.#queueGossip(stx.bytes, stx.id);
    if (this.#ownTxs.size < TX_REGOSSIP_MAX) {
      this.#ownTxs.set(stx.id, {
        bytes: stx.bytes,
        at: this.clock.now(),
        height: this.chain.height,
        reached: false,
        waitMs: TX_REGOSSIP_MS,
      });
    }
    this.#armRegossip();
    return { ok: true, txId: stx.id };
  }

  #queueGossip(bytes: Uint8Array, ownId: string): void {
    this.#txBatch.push(bytes);
    this.#txBatchOwn.push(ownId);
    if (this.#txBatch.length >= TX_BATCH_MAX) this.#flushTxs();
    else if (this.#txTimer === null) {
      this.#txTimer = this.clock.setTimeout(() => this.#flushTxs(), TX_BATCH_DELAY_MS);
    }
  }

  /** Armed only while txs submitted here are pending: a node at rest has no timer for it. */
  #armRegossip(): void {
    if (this.#regossipTimer !== null || this.#stopped || this.#ownTxs.size === 0) return;
    this.#regossipTimer = this.clock.setTimeout(() => {
      this.#regossipTimer = null;
      const now = this.clock.now();
      const height = this.chain.height;
      for (const [id, t] of this.#ownTxs) {
        if (!this.mempool.has(id)) {
          this.#ownTxs.delete(id);
          continue;
        }
        if (now - t.at < t.waitMs) continue;
        const moved = height > t.height;
        t.at = now;
        t.height = height;
        if (t.reached && moved && t.waitMs < TX_REGOSSIP_MS_MAX) {
          // peers got it and blocks are being made: it waits its turn (looked at again later, and
          // gossiped again only once pending for about a minute: a peer may have dropped it)
          t.waitMs = Math.min(t.waitMs * 2, TX_REGOSSIP_MS_MAX);
          continue;
        }
        if (t.reached) t.waitMs = Math.min(t.waitMs * 2, TX_REGOSSIP_MS_MAX);
        this.#queueGossip(t.bytes, id);
      }
      this.#armRegossip();
    }, TX_REGOSSIP_MS);
  }

  #flushTxs(): void {
    if (this.#txTimer !== null) this.clock.clearTimeout(this.#txTimer);
    this.#txTimer = null;
    if (this.#txBatch.length === 0 || this.#stopped) return;
    const batch = this.#txBatch;
    const own = this.#txBatchOwn;
    this.#txBatch = [];
    this.#txBatchOwn = [];
    this.p2p.publish(topics(this.chainId).txs, encode(batch)).then((peers) => {
      for (const id of own) {
        const t = this.#ownTxs.get(id);
        if (t !== undefined) t.reached = peers > 0;
      }
    }, (e) => this.log("debug", "tx gossip failed", { error: String(e) }));
  }

  /**
   * Gossip validation of a tx batch: well-formed, right chain, every sender funded for its fee
   * (else ignored: not relayed, checked before any signature), valid signatures (else reject).
   */
  async validateTxBatch(data: Uint8Array): Promise<GossipResult> {
    const stxs = this.#decodeBatch(data);
    if (!Array.isArray(stxs)) return stxs;
    const state = this.chain.state;
    let from = "";
    let balance = -1n;
    for (const s of stxs) {
      if (s.tx.from !== from) { // batches come mostly from few senders: one account read per run
        from = s.tx.from;
        balance = state.account(from)?.balance ?? -1n;
      }
      if (balance < s.tx.fee) return IGNORE.unfunded_sender;
    }
    this.#decoded.set(data, stxs);
    return await this.chain.verifySignatures(stxs) ? REJECT.bad_signature : "accept";
  }

  /** The batch's txs, or why it is refused (malformed, another chain's). */
  #decodeBatch(data: Uint8Array): SignedTx[] | GossipResult {
    const p = this.chain.genesis.params.ledger;
    try {
      const arr = decode(data);
      if (!Array.isArray(arr) || arr.length === 0 || arr.length > TX_BATCH_MAX) return REJECT.malformed;
      const out: SignedTx[] = [];
      for (const b of arr) {
        if (!(b instanceof Uint8Array)) return REJECT.malformed;
        const d = this.chain.ledger.decodeTx(b, { maxTxBytes: p.maxTxBytes });
        if (!d.ok) return REJECT.malformed;
        if (d.stx.tx.chainId !== this.chainId) return REJECT.wrong_chain;
        out.push(d.stx);
      }
      return out;
    } catch {
      return REJECT.malformed;
    }
  }

  #onTxBatch(data: Uint8Array): void {
    const stxs = this.#decoded.get(data) ?? this.#decodeBatch(data);
    if (!Array.isArray(stxs)) return;
    for (const s of stxs) this.mempool.add(s, this.chain.state);
  }

  /** Wire gossip handlers and start consensus and sync. */
  async #start(): Promise<void> {
    this.p2p.onMessage(
      topics(this.chainId).txs,
      (d) => this.validateTxBatch(d),
      (d) => this.#onTxBatch(d),
    );
    await this.driver.start();
    await this.sync.start();
  }

  /** Stop everything this node started (idempotent). */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#txTimer !== null) this.clock.clearTimeout(this.#txTimer);
    if (this.#regossipTimer !== null) this.clock.clearTimeout(this.#regossipTimer);
    this.sync.stop();
    await this.driver.stop();
    await this.p2p.stop();
    await this.chain.close();
  }

  /** Static facts for `/status`. */
  status() {
    return {
      chainId: this.chainId,
      moniker: this.home.config.moniker,
      height: this.chain.height,
      hash: this.chain.lastBlockHash,
      appHash: this.chain.state.appHash,
      time: this.chain.lastBlockTime,
      peers: this.p2p.peers().length,
      peerId: this.p2p.peerId,
      p2p: this.p2p.addrs(),
      validator: this.validator ? this.home.validatorKey.address : null,
      consensus: {
        height: this.driver.height,
        round: this.driver.round,
        laterRounds: this.driver.laterRounds,
      },
      mempool: { txs: this.mempool.size, bytes: this.mempool.bytes },
      minFee: this.chain.genesis.params.ledger.minFee,
      denom: this.chain.genesis.params.ledger.denom,
    };
  }

  /** @internal */
  static async create(opts: NodeOptions): Promise<CirrusNode> {
    const log = opts.logger ?? (() => {});
    const clock = opts.clock ?? systemClock;
    const home = opts.home;
    const dataDir = opts.dataDir ?? join(home.home, "data");
    const misbehave = opts.misbehave ?? [];
    if (misbehave.length > 0) {
      const why = testChainProblem(home.genesis.chainId, "--misbehave");
      if (why) throw new Error(why);
      if (!opts.validator) throw new Error("--misbehave needs a validator (--validator)");
    }
    const walPath = join(dataDir, "cs.wal");
    const signerStatePath = join(dataDir, "priv_validator_state.json");
    if (!opts.storage) await Deno.mkdir(dataDir, { recursive: true });
    if (misbehave.includes("amnesia")) await forgetConsensusState({ walPath, signerStatePath });
    const chain = await Chain.open({
      dir: join(dataDir, "ledger"),
      genesis: home.genesis,
      ledger: opts.ledger ?? cirrusLedger(),
      ...(opts.storage ? { openStore: opts.storage.openStore } : {}),
    });
    const lp = home.genesis.params.ledger;
    const mempool = new Mempool({ txsMax: lp.mempoolMaxTxs, bytesMax: lp.mempoolMaxBytes });
    chain.txLookup = (id) => mempool.get(id);
    const t = topics(chain.chainId);
    const gossipStats = new GossipStats();
    let p2p: P2P;
    try {
      p2p = await (opts.network ?? createP2P)({
        transport: opts.transport ?? "tcp",
        listen: opts.p2pListen ?? [home.config.p2pListen],
        bootstrap: opts.bootstrap ?? home.config.bootstrap,
        privateKey: home.nodeKey.privKey,
        topics: [t.txs, t.proposal, t.vote, t.evidence],
        logger: log,
        gossipStats,
        messageIdOf: gossipMessageIdOf(chain.chainId),
        // peer discovery and limits (node/p2p_discovery.ts, p2p_gater.ts)
        dhtProtocol: `/cirrus/${chain.chainId}/kad/1.0.0`,
        ...(opts.storage ? {} : { peerFile: join(dataDir, "peers.json") }),
        ...(home.config.peersMax !== undefined ? { connectionsMax: home.config.peersMax } : {}),
        ...(home.config.connectionsPerIpMax !== undefined
          ? { connectionsPerIpMax: home.config.connectionsPerIpMax }
          : {}),
      });
    } catch (e) {
      await chain.close();
      throw e;
    }
    if (misbehave.length > 0) {
      log("warn", "MISBEHAVING (test only)", { kinds: misbehave.join(",") });
      p2p = misbehavingP2P(p2p, {
        kinds: misbehave,
        topics: t,
        validatorKey: home.validatorKey,
        maxBlockBytes: home.genesis.params.consensus.maxBlockBytes,
        logger: log,
      });
    }
    const driver = new ConsensusDriver({
      chain,
      p2p,
      mempool,
      validatorKey: opts.validator ? home.validatorKey : null,
      walPath,
      signerStatePath,
      ...(opts.storage ? { openWal: opts.storage.openWal, loadSigner: opts.storage.loadSigner } : {}),
      clock,
      logger: log,
      gossipStats,
    });
    const sync = new BlockSync(chain, p2p, driver, clock, log, undefined, opts.rng ? { rng: opts.rng } : {});
    const node = new CirrusNode({
      chain,
      mempool,
      p2p,
      driver,
      sync,
      home,
      validator: opts.validator,
      log,
      clock,
      gossipStats,
    });
    try {
      await node.#start();
    } catch (e) {
      await node.stop();
      throw e;
    }
    return node;
  }
}

/** Start a node. */
export function startNode(opts: NodeOptions): Promise<CirrusNode> {
  return CirrusNode.create(opts);
}
