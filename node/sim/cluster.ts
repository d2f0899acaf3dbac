/**
 * A cluster of whole nodes in one process on simulated time: each node is built by the same
 * `startNode` as `cirrus node start` (real `Chain` on LevelDB, ledger, mempool, consensus driver
 * with its WAL and signer state, block sync), with a {@link SimClock} for every timer and a
 * {@link SimNetwork} host instead of libp2p. The simulator and the in-process network tests drive
 * it with {@link SimCluster.runUntil}; nothing sleeps.
 * @module
 */
import { join } from "node:path";
import { type RunUntilOptions, SimClock } from "../../lib/sim_clock.ts";
import type { Logger } from "../../lib/log.ts";
import { randomInt, seededRng } from "../../lib/rng.ts";
import { type LoadedHome, loadHome } from "../config.ts";
import { MemoryStorage } from "./memory_storage.ts";
import { type CirrusNode, startNode } from "../node.ts";
import { type MessageIdFn, peerIdFromSeed } from "../p2p.ts";
import { sha256 } from "../../lib/crypto.ts";
import { DEFAULT_LINK, type LinkProfile, SimNetwork } from "./network.ts";
import type { Misbehaviour } from "../misbehave.ts";
import type { Ledger } from "../ledger/ledger.ts";

/** Clusters up to this many nodes are a full mesh by default. */
export const FULL_MESH_MAX = 8;
/** Earlier nodes each node links to by default beyond the full mesh (about twice this degree). */
export const LINKS_PER_NODE = 4;

/**
 * The default topology of `n` nodes: every other node up to {@link FULL_MESH_MAX} nodes; beyond,
 * node i links to node i-1 (so the graph is connected) and to up to {@link LINKS_PER_NODE} - 1
 * other earlier nodes drawn from `seed`.
 */
export function defaultLinks(n: number, seed: number): (i: number) => number[] {
  if (n <= FULL_MESH_MAX) return (i) => [...Array(n).keys()].filter((j) => j !== i);
  const rng = seededRng(seed ^ 0x5eed);
  const table: number[][] = [];
  for (let i = 0; i < n; i++) {
    const picks = new Set<number>(i > 0 ? [i - 1] : []);
    for (let k = 0; k < 4 * LINKS_PER_NODE && picks.size < Math.min(i, LINKS_PER_NODE); k++) {
      picks.add(randomInt(rng, i));
    }
    table.push([...picks]);
  }
  return (i) => table[i] ?? [];
}

/**
 * The default gossip message id, sha256(topic || 0 || data), computed synchronously (the node's is a
 * WebCrypto digest: real async work whose completion order, among the sends of one simulated
 * instant, would decide the order of messages on a link and leak into the run).
 */
export function synchronousMessageId(topic: string, data: Uint8Array): Uint8Array {
  const t = new TextEncoder().encode(topic);
  const buf = new Uint8Array(t.length + 1 + data.length);
  buf.set(t, 0);
  buf.set(data, t.length + 1);
  return sha256(buf);
}

/** A node's message id function with its asynchronous answers replaced by {@link synchronousMessageId}. */
function synchronousIds(own: MessageIdFn | undefined): MessageIdFn {
  return (topic, data) => {
    const id = own?.(topic, data);
    return id instanceof Uint8Array ? id : synchronousMessageId(topic, data);
  };
}

/** Options of {@link SimCluster.create}. */
export interface SimClusterOptions {
  /**
   * One per node: an initialised home directory (config, genesis, keys), or a home already loaded
   * (the simulator builds them in memory from its seed).
   */
  homes: (string | LoadedHome)[];
  /**
   * Where nodes keep blocks, WAL and signer state: "disk" (default, real LevelDB and fsynced files
   * under each data directory) or "memory" ({@link MemoryStorage}, kept across a node's restarts).
   */
  storage?: "disk" | "memory";
  /** Seed of the network's rng. */
  seed: number;
  /** Default link profile. */
  link?: Partial<LinkProfile>;
  /** Virtual start time, ms since the epoch (default 0: blocks carry times from 1970). */
  startMs?: number;
  /**
   * Peers each node bootstraps to, by index (links go both ways). Default {@link defaultLinks}: a
   * full mesh up to {@link FULL_MESH_MAX} nodes, a sparse connected graph beyond, so that a large
   * cluster's gossip work per message stays at its fan-out.
   */
  links?: (i: number) => number[];
  /**
   * Clock lookahead, ms (default the default link's latency; see `SimClockOptions.lookaheadMs`).
   * Keep it at most the smallest latency of any link, or 0 for one settle per instant.
   */
  lookaheadMs?: number;
  /** Deliveries kept in the network trace (default 0). */
  traceMax?: number;
  /** Test only: the misbehaviours of node i (`node/misbehave.ts`; default none). */
  misbehave?: (i: number) => readonly Misbehaviour[];
  /** Logger of node i (default silent). */
  logger?: (i: number) => Logger;
  /** Data directory of node i (default `<home>/data`). */
  dataDir?: (i: number) => string;
  /** The ledger of node i (default the node's, `cirrusLedger`). */
  ledger?: (i: number) => Ledger;
}

/** N nodes over a simulated network on a simulated clock. */
export class SimCluster {
  readonly clock: SimClock;
  readonly network: SimNetwork;
  readonly nodes: (CirrusNode | null)[];
  /** `/sim/node<i>/p2p/<peerId>` of each node. */
  readonly addrs: string[];
  readonly #opts: SimClusterOptions;
  readonly #unbusy: ((() => void) | null)[];
  readonly #links: (i: number) => number[];
  readonly #storage: (MemoryStorage | null)[];

  private constructor(opts: SimClusterOptions, addrs: string[], clock: SimClock, network: SimNetwork) {
    this.#opts = opts;
    this.addrs = addrs;
    this.clock = clock;
    this.network = network;
    this.nodes = opts.homes.map(() => null);
    this.#unbusy = opts.homes.map(() => null);
    this.#links = opts.links ?? defaultLinks(opts.homes.length, opts.seed);
    this.#storage = opts.homes.map(() => opts.storage === "memory" ? new MemoryStorage() : null);
  }

  /** Prepares the cluster (no node started yet). */
  static async create(opts: SimClusterOptions): Promise<SimCluster> {
    const addrs: string[] = [];
    for (const [i, home] of opts.homes.entries()) {
      const h = typeof home === "string" ? await loadHome(home) : home;
      addrs.push(`/sim/node${i}/p2p/${await peerIdFromSeed(h.nodeKey.privKey)}`);
    }
    const clock = new SimClock({
      startMs: opts.startMs ?? 0,
      lookaheadMs: opts.lookaheadMs ?? opts.link?.latencyMs ?? DEFAULT_LINK.latencyMs,
    });
    const network = new SimNetwork({
      clock,
      seed: opts.seed,
      ...(opts.link ? { link: opts.link } : {}),
      ...(opts.traceMax ? { traceMax: opts.traceMax } : {}),
    });
    return new SimCluster(opts, addrs, clock, network);
  }

  /** Starts node i (a validator when its key is in the genesis set); a no-op when it runs. */
  async start(i: number): Promise<CirrusNode> {
    const running = this.nodes[i];
    if (running) return running;
    const home = this.#opts.homes[i];
    if (home === undefined) {
      throw new RangeError(`Cannot start node ${i}: the cluster has ${this.nodes.length}`);
    }
    const loaded = typeof home === "string" ? await loadHome(home) : home;
    const links = this.#links(i);
    const node = await startNode({
      home: loaded,
      validator: true,
      transport: "memory",
      p2pListen: [`/sim/node${i}`],
      bootstrap: links.map((j) => this.addrs[j]!),
      dataDir: this.#opts.dataDir?.(i) ?? join(loaded.home, "data"),
      ...(this.#storage[i] ? { storage: this.#storage[i] } : {}),
      ...(this.#opts.misbehave?.(i).length ? { misbehave: this.#opts.misbehave(i) } : {}),
      clock: this.clock.view(`node${String(i).padStart(6, "0")}`),
      network: (o) => this.network.join({ ...o, messageIdOf: synchronousIds(o.messageIdOf) }),
      rng: seededRng(this.#opts.seed ^ (i + 1)),
      ...(this.#opts.logger ? { logger: this.#opts.logger(i) } : {}),
      ...(this.#opts.ledger ? { ledger: this.#opts.ledger(i) } : {}),
    });
    this.nodes[i] = node;
    this.#unbusy[i] = this.clock.busyWhile(() => !node.driver.idle);
    return node;
  }

  /** Starts every node not running, in index order. */
  async startAll(): Promise<void> {
    for (let i = 0; i < this.nodes.length; i++) await this.start(i);
  }

  /** Stops node i (its store and WAL stay, on disk or in memory, so it can start again). */
  async stop(i: number): Promise<void> {
    const node = this.nodes[i];
    this.nodes[i] = null;
    this.#unbusy[i]?.();
    this.#unbusy[i] = null;
    await node?.stop();
  }

  /** Stops every running node. */
  async stopAll(): Promise<void> {
    for (let i = 0; i < this.nodes.length; i++) await this.stop(i);
  }

  /** Runs simulated time until `predicate` holds (see {@link SimClock.runUntil}). */
  runUntil(predicate: () => boolean, opts: RunUntilOptions = {}): Promise<number> {
    return this.clock.runUntil(predicate, opts);
  }

  /** Runs simulated time until every node in `which` (default: every running node) reached `height`. */
  async waitHeight(height: number, opts: RunUntilOptions & { which?: number[] } = {}): Promise<number> {
    const idx = opts.which ?? this.nodes.map((_, i) => i).filter((i) => this.nodes[i]);
    try {
      return await this.clock.runUntil(
        () => idx.every((i) => (this.nodes[i]?.chain.height ?? 0) >= height),
        { maxMs: opts.maxMs ?? 60_000, label: `height ${height}` },
      );
    } catch (e) {
      const hs = idx.map((i) => `node${i}=${this.nodes[i]?.chain.height}`).join(" ");
      throw new Error(`${(e as Error).message}: ${hs}`);
    }
  }
}
