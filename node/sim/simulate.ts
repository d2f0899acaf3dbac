/**
 * `simulate(config) -> metrics`: whole real nodes (consensus driver and core, mempool, ledger with
 * all its modules, block sync) on a {@link SimCluster} with in-memory storage and one signature
 * verdict cache shared by every node, driven height by height through a fault schedule (partitions,
 * crashes) with seeded bank traffic. Keys, genesis, links, jitter, loss and traffic all come from
 * the seed, and nothing reads the wall clock, so one configuration gives one outcome: the returned
 * {@link SimMetrics} (and their JSON) are identical run after run.
 *
 * Other actors (providers bidding, tenants deploying) are injected as {@link SimActorsFactory}: the
 * node layer may not import the provider, so the CLI composes them (`cli/sim_actors.ts`).
 * @module
 */
import {
  addressOf,
  publicKeyOf,
  sha256,
  shareVerdicts,
  signSynchronously,
  VerdictCache,
} from "../../lib/crypto.ts";
import { randomInt, seededRng } from "../../lib/rng.ts";
import type { LoadedHome } from "../config.ts";
import type { CirrusNode } from "../node.ts";
import { devnetGenesis } from "../ledger/devnet_genesis.ts";
import { decodeSignedTx, type SignedTx, signTx, type Tx, verifyTxSignature } from "../ledger/tx.ts";
import { topics } from "../consensus_gossip.ts";
import { encode } from "cborg";
import { blockHash, decodeBlock, decodeCommit } from "../ledger/mod.ts";
import { totalSupply } from "../ledger/state.ts";
import { type Genesis, genesisSupply } from "../ledger/genesis.ts";
import { SimCluster, synchronousMessageId } from "./cluster.ts";
import { checkSimConfig, type SimConfig, SimConfigError } from "./scenario.ts";

/** Balance of every traffic account at genesis. */
const ACCOUNT_BALANCE = 1_000_000_000_000n;
/** Chain id of simulated chains (a test chain: the misbehaviour switches run only on those). */
export const SIM_CHAIN_ID = "cirrus-test-sim";

/** One committed height, as the first node to commit it saw it. */
export interface HeightMetrics {
  height: number;
  /** Round of the commit certificate (0: decided in the first round). */
  round: number;
  /** Simulated ms since the start at which the first node committed it. */
  committedAtMs: number;
  /** Simulated ms since the previous height's first commit. */
  latencyMs: number;
  txs: number;
  blockBytes: number;
  /** Index of the proposing validator. */
  proposer: number;
}

/** Messages and bytes one node sent, by type (gossip topic, or request/reply and protocol). */
export interface NodeMetrics {
  node: number;
  messages: Record<string, number>;
  bytes: Record<string, number>;
}

/** A fault applied or lifted. */
export interface FaultEvent {
  atMs: number;
  height: number;
  event: string;
}

/** What the injected actors report (orders, providers). */
export interface ActorMetrics {
  orders: {
    order: string;
    /** Height of the block that opened it. */
    openedAt: number;
    bids: number;
    /** The order's max price per block, ucrs (decimal). */
    maxPrice: string;
    /** The lease's price per block, ucrs (decimal), or null when no lease. */
    price: string | null;
    /** Clearing price over the order's max price, or null when no lease. */
    priceRatio: number | null;
    /** Blocks from the order's creation to its lease, or null. */
    blocksToLease: number | null;
    /** The winning provider, or null. */
    provider: string | null;
  }[];
  providers: {
    provider: string;
    /** Capacity offered, cpu millicores. */
    cpu: number;
    bids: number;
    leases: number;
    /** Utilisation samples: [height, fraction of the cpu capacity leased]. */
    utilisation: [number, number][];
  }[];
  /** Named counts (`deployments.created`, `leases.closed.insufficient_funds`, `manifests.accepted`...). */
  counts: Record<string, number>;
  /** Transactions the actors submitted (accepted by a node or not). */
  txsSubmitted: number;
  /** Invariant checks of the actors (lowest valid bid wins, escrow never negative), failures listed. */
  violations: string[];
}

/** The outcome of a run. Deterministic: no wall time inside. */
export interface SimMetrics {
  config: SimConfig;
  /** Simulated ms from start to the last height's first commit. */
  simulatedMs: number;
  heights: HeightMetrics[];
  nodes: NodeMetrics[];
  network: { sent: number; delivered: number; lost: number; dropped: number; suppressed: number };
  faults: FaultEvent[];
  /** Transfers submitted, committed by the last height, and the rest (in flight or refused). */
  txs: { submitted: number; refused: number; committed: number };
  safety: {
    /** Heights at which two nodes hold different blocks. */
    forks: number[];
    supplyConserved: boolean;
    /** Running nodes' heights at the end. */
    finalHeights: number[];
  };
  orders: ActorMetrics["orders"];
  providers: ActorMetrics["providers"];
  /** The market's counts (see {@link ActorMetrics.counts}); empty without actors. */
  market: ActorMetrics["counts"];
  violations: string[];
}

/** What injected actors get: the running cluster and the genesis accounts reserved for them. */
export interface SimContext {
  cluster: SimCluster;
  config: SimConfig;
  genesis: Genesis;
  /** A running node to talk to (the lowest index up). */
  anyNode(): CirrusNode;
  /** Accounts funded at genesis for the actors, by name (`provider0`, `tenant0`, ...). */
  keys: Map<string, { address: string; privKey: Uint8Array }>;
}

/** Actors started once the chain runs, called at every new height, stopped at the end. */
export interface SimActors {
  onHeight(height: number): Promise<void> | void;
  /** Node i is about to stop (a crash): what runs on it stops first. */
  nodeDown?(i: number): Promise<void>;
  /** Node i started again: what ran on it starts again (the clock is not running: drive it). */
  nodeUp?(i: number, node: CirrusNode): Promise<void>;
  /** A scheduled actor fault: provider k goes down (`up` false) or comes back. */
  providerFault?(k: number, up: boolean): Promise<void>;
  stop(): Promise<void>;
  metrics(): Promise<ActorMetrics> | ActorMetrics;
}

/** Builds the actors of a run (providers, tenants), given their funded accounts. */
export type SimActorsFactory = (ctx: SimContext) => Promise<SimActors>;

/** Progress of a run, reported after every height. */
export interface SimProgress {
  height: number;
  heights: number;
  simulatedMs: number;
}

/** Options of {@link simulate} beyond the configuration. */
export interface SimulateOptions {
  actors?: SimActorsFactory;
  /** Called after each committed height (the CLI prints speed and ETA). */
  onProgress?: (p: SimProgress) => void;
  /** Names of actor accounts to fund at genesis (with {@link ACCOUNT_BALANCE}). */
  actorAccounts?: string[];
}

/** A 32-byte key seed derived from the run's seed and a label. */
export function simKey(seed: number, label: string): { address: string; privKey: Uint8Array } {
  const privKey = sha256(new TextEncoder().encode(`cirrus-sim/${seed}/${label}`));
  return { address: addressOf(publicKeyOf(privKey)), privKey };
}

function homes(c: SimConfig, actorAccounts: string[]): {
  homes: LoadedHome[];
  genesis: Genesis;
  accounts: { address: string; privKey: Uint8Array }[];
  actorKeys: Map<string, { address: string; privKey: Uint8Array }>;
} {
  const vals = [...Array(c.validators).keys()].map((i) => ({
    validator: simKey(c.seed, `validator/${i}`),
    node: simKey(c.seed, `node/${i}`),
  }));
  const accounts = [...Array(c.accounts).keys()].map((i) => simKey(c.seed, `account/${i}`));
  const actorKeys = new Map(actorAccounts.map((n) => [n, simKey(c.seed, `actor/${n}`)]));
  const genesis = devnetGenesis({
    chainId: SIM_CHAIN_ID,
    genesisTime: new Date(0).toISOString(),
    validators: vals.map((v, i) => ({
      name: `v${i}`,
      address: v.validator.address,
      pubKey: publicKeyOf(v.validator.privKey),
    })),
    accounts: [...accounts, ...actorKeys.values()].map((a) => ({
      address: a.address,
      balance: ACCOUNT_BALANCE.toString(),
    })),
    consensus: c.consensus,
    market: { bidWindowBlocks: c.market.bidWindowBlocks, minDeposit: String(c.market.minDeposit) },
  });
  const seedKey = (k: { address: string; privKey: Uint8Array }) => ({
    address: k.address,
    pubKey: publicKeyOf(k.privKey),
    privKey: k.privKey,
  });
  return {
    genesis,
    accounts,
    actorKeys,
    homes: vals.map((v, i) => ({
      home: `/sim/v${i}`,
      config: { moniker: `v${i}`, chainId: SIM_CHAIN_ID, p2pListen: "", rpcListen: "", bootstrap: [] },
      genesis,
      validatorKey: seedKey(v.validator),
      nodeKey: seedKey(v.node),
    })),
  };
}

/** The message type of a network send (`what` of {@link SimNetwork.tap}). */
export function messageType(what: string): string {
  const [a = "", b = ""] = what.split(" ");
  if (a.startsWith("/")) return a.slice(a.lastIndexOf("/") + 1);
  const proto = b.split("/").filter((x) => x !== "" && x !== "cirrus" && x !== SIM_CHAIN_ID).join("/");
  return `${a} ${proto}`;
}

/**
 * Runs one simulation to `config.heights` and returns its metrics (see the module doc).
 * @throws SimConfigError on a bad configuration; Error when the chain cannot reach the target.
 */
export async function simulate(config: SimConfig, opts: SimulateOptions = {}): Promise<SimMetrics> {
  const c = checkSimConfig(config);
  if ((c.providers > 0 || c.tenants > 0) && !opts.actors) {
    throw new SimConfigError(
      "providers and tenants need the market actors: call simulate from mod.ts (or cli/sim_market.ts), not node/sim",
    );
  }
  const setup = homes(c, opts.actorAccounts ?? []);
  const cluster = await SimCluster.create({
    homes: setup.homes,
    seed: c.seed,
    storage: "memory",
    misbehave: (i) => c.misbehave.find((b) => b.node === i)?.kinds ?? [],
    link: { latencyMs: c.latencyMs, jitterMs: c.jitterMs, loss: c.loss },
  });
  const cache = new VerdictCache();
  const unshare = shareVerdicts(cache);
  const unsync = signSynchronously(true);
  const peerIndex = new Map<string, number>();
  cluster.addrs.forEach((a, i) => peerIndex.set(a.slice(a.lastIndexOf("/p2p/") + 5), i));
  const nodes: NodeMetrics[] = setup.homes.map((_, i) => ({ node: i, messages: {}, bytes: {} }));
  cluster.network.tap = (from, _to, what, bytes) => {
    const m = nodes[peerIndex.get(from) ?? -1];
    if (!m) return;
    const t = messageType(what);
    m.messages[t] = (m.messages[t] ?? 0) + 1;
    m.bytes[t] = (m.bytes[t] ?? 0) + bytes;
  };
  const proposerIndex = new Map(setup.genesis.validators.map((v, i) => [v.address, i]));
  const firstCommit = new Map<number, { atMs: number; proposer: number; txs: number }>();
  /** Supply change of each height: minted by inflation minus burned by slashing (block events). */
  const supplyDelta = new Map<number, bigint>();
  const watch = (node: CirrusNode) =>
    node.onCommit((b) => {
      if (firstCommit.has(b.height)) return;
      firstCommit.set(b.height, {
        atMs: cluster.clock.now(),
        proposer: proposerIndex.get(b.proposer) ?? -1,
        txs: b.txs.length,
      });
      supplyDelta.set(b.height, supplyChange(b.events));
    });
  const top = () => Math.max(0, ...cluster.nodes.map((n) => n?.chain.height ?? 0));
  const faults: FaultEvent[] = c.misbehave.map((b) => ({
    atMs: 0,
    height: 0,
    event: `v${b.node} misbehaves: ${b.kinds.join(",")}`,
  }));
  const note = (event: string) => faults.push({ atMs: cluster.clock.now(), height: top(), event });
  const traffic = { submitted: 0, refused: 0, committed: 0 };
  let actors: SimActors | null = null;
  try {
    for (let i = 0; i < setup.homes.length; i++) watch(await cluster.start(i));
    const anyNode = () => cluster.nodes.find((n) => n !== null)!;
    if (opts.actors) {
      actors = await opts.actors({
        cluster,
        config: c,
        genesis: setup.genesis,
        anyNode,
        keys: setup.actorKeys,
      });
    }
    // With tenants, the tx rate is theirs (market txs); bank transfers only without.
    const stopTraffic = c.tenants > 0 ? () => {} : await startTraffic(cluster, c, setup.accounts, traffic);
    const ids = cluster.addrs.map((a) => a.slice(a.lastIndexOf("/p2p/") + 5));
    let partitioned: number | null = null; // index into c.partitions
    for (let h = 1; h <= c.heights; h++) {
      // Faults that start or end at this height.
      for (const [pi, p] of c.partitions.entries()) {
        if (p.fromHeight === h && partitioned === null) {
          cluster.network.partition(p.groups.map((g) => g.map((i) => ids[i]!)));
          partitioned = pi;
          note(`partition ${p.groups.map((g) => g.join(",")).join("|")}`);
        }
        if (p.toHeight === h && partitioned === pi) {
          cluster.network.heal();
          partitioned = null;
          note("heal");
        }
      }
      for (const k of c.crashes) {
        if (k.role === "provider") {
          if (k.fromHeight === h) {
            await actors?.providerFault?.(k.node, false);
            note(`crash p${k.node}`);
          }
          if (k.toHeight === h) {
            await actors?.providerFault?.(k.node, true);
            note(`restart p${k.node}`);
          }
          continue;
        }
        if (k.fromHeight === h && cluster.nodes[k.node]) {
          await actors?.nodeDown?.(k.node);
          await cluster.stop(k.node);
          note(`crash v${k.node}`);
        }
        if (k.toHeight === h && !cluster.nodes[k.node]) {
          const node = await cluster.start(k.node);
          watch(node);
          note(`restart v${k.node}`);
          await actors?.nodeUp?.(k.node, node);
        }
      }
      if (top() >= h) continue;
      try {
        await cluster.runUntil(() => top() >= h, { maxMs: c.stallMs, label: `height ${h}` });
      } catch (e) {
        if (partitioned === null) throw e;
        cluster.network.heal();
        partitioned = null;
        note("heal (stalled)");
        await cluster.runUntil(() => top() >= h, { maxMs: c.stallMs * 4, label: `height ${h} after heal` });
      }
      await actors?.onHeight(h);
      opts.onProgress?.({ height: h, heights: c.heights, simulatedMs: cluster.clock.now() });
    }
    stopTraffic();
    const simulatedMs = firstCommit.get(c.heights)?.atMs ?? cluster.clock.now();
    if (partitioned !== null) cluster.network.heal();
    // Let the others catch up the last height (bounded), so the safety checks compare whole chains.
    const running = () => cluster.nodes.map((n, i) => (n ? i : -1)).filter((i) => i >= 0);
    await cluster.runUntil(() => running().every((i) => cluster.nodes[i]!.chain.height >= c.heights), {
      maxMs: c.stallMs,
      label: "catch-up",
    }).catch(() => {});
    const heights = await heightMetrics(cluster, c.heights, firstCommit);
    const safety = await safetyChecks(cluster, c.heights, setup.genesis, supplyDelta);
    const am: ActorMetrics = actors
      ? await actors.metrics()
      : { orders: [], providers: [], counts: {}, txsSubmitted: 0, violations: [] };
    traffic.submitted += am.txsSubmitted;
    traffic.committed = heights.reduce((a, m) => a + m.txs, 0);
    traffic.refused = Math.max(0, traffic.submitted - traffic.committed);
    return {
      config: c,
      simulatedMs,
      heights,
      // Types in name order: the first message of each type may be sent in either order within
      // one simulated instant, and the JSON must not depend on it.
      nodes: nodes.map((x) => ({
        node: x.node,
        messages: sortedKeys(x.messages),
        bytes: sortedKeys(x.bytes),
      })),
      network: { ...cluster.network.stats },
      faults,
      txs: traffic,
      safety,
      orders: am.orders,
      providers: am.providers,
      market: am.counts,
      violations: am.violations,
    };
  } finally {
    await actors?.stop().catch(() => {});
    cluster.network.tap = null;
    await cluster.stopAll();
    unshare();
    unsync();
  }
}

function sortedKeys(o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

async function heightMetrics(
  cluster: SimCluster,
  heights: number,
  first: Map<number, { atMs: number; proposer: number; txs: number }>,
): Promise<HeightMetrics[]> {
  const out: HeightMetrics[] = [];
  let prev = 0;
  for (let h = 1; h <= heights; h++) {
    const node = cluster.nodes.find((n) => n && n.chain.height >= h);
    const f = first.get(h);
    if (!node || !f) break;
    const bytes = (await node.chain.store.getBlock(h)) ?? new Uint8Array();
    const commit = await node.chain.store.getCommit(h);
    out.push({
      height: h,
      round: commit ? decodeCommit(commit).round : 0,
      committedAtMs: f.atMs,
      latencyMs: f.atMs - prev,
      txs: f.txs,
      blockBytes: bytes.length,
      proposer: f.proposer,
    });
    prev = f.atMs;
  }
  return out;
}

/** What a block's own events change in the supply: `rewards` minted minus `staking.slash` burned. */
function supplyChange(events: readonly { type: string; attrs: Record<string, string> }[]): bigint {
  let delta = 0n;
  for (const e of events) {
    if (e.type === "rewards" && e.attrs.minted) delta += BigInt(e.attrs.minted);
    if (e.type === "staking.slash" && e.attrs.burned) delta -= BigInt(e.attrs.burned);
  }
  return delta;
}

async function safetyChecks(
  cluster: SimCluster,
  heights: number,
  genesis: Genesis,
  supplyDelta: ReadonlyMap<number, bigint>,
): Promise<SimMetrics["safety"]> {
  const forks: number[] = [];
  const running = cluster.nodes.filter((n): n is CirrusNode => n !== null);
  for (let h = 1; h <= heights; h++) {
    const seen = new Set<string>();
    for (const n of running) {
      if (n.chain.height < h) continue;
      const b = await n.chain.store.getBlock(h);
      if (b) seen.add(blockHash(decodeBlock(b)));
    }
    if (seen.size > 1) forks.push(h);
  }
  // Conserved: balances and held funds are the genesis supply, less what slashing burned and plus
  // what inflation minted up to each node's height.
  const supplyAt = (height: number) => {
    let s = genesisSupply(genesis);
    for (let h = 1; h <= height; h++) s += supplyDelta.get(h) ?? 0n;
    return s;
  };
  return {
    forks,
    supplyConserved: running.every((n) =>
      totalSupply(n.chain.state) === supplyAt(n.chain.height) &&
      n.chain.state.supply === supplyAt(n.chain.height)
    ),
    finalHeights: cluster.nodes.map((n) => n?.chain.height ?? -1),
  };
}

/**
 * Seeded bank transfers: every `1000 / txRate` simulated ms one account sends 1 ucrs to another
 * through a client host linked to every node (as a wallet broadcasting to several nodes). Each
 * transfer is signed and its signature verified (into the shared verdict cache) one tick ahead,
 * tracked by the clock, then published in its tick: the nodes take it through gossip validation.
 * Senders are drawn at random, nonces counted here (a refused transfer leaves a gap that blocks
 * its sender: the signer never refuses a well-funded send, so none is expected).
 */
async function startTraffic(
  cluster: SimCluster,
  c: SimConfig,
  accounts: { address: string; privKey: Uint8Array }[],
  counts: { submitted: number; refused: number },
): Promise<() => void> {
  if (c.txRate <= 0) return () => {};
  const txTopic = topics(SIM_CHAIN_ID).txs;
  const client = await cluster.network.join({
    transport: "memory",
    listen: ["/sim/client"],
    topics: [txTopic],
    // The node's id of a tx batch, computed synchronously.
    messageIdOf: synchronousMessageId,
  });
  for (const a of cluster.addrs) cluster.network.link(client.peerId, a.slice(a.lastIndexOf("/p2p/") + 5));
  const rng = seededRng(c.seed ^ 0x7a5f1c);
  const nonces = accounts.map(() => 0n);
  const every = Math.max(1, Math.round(1000 / c.txRate));
  const clock = cluster.clock.view("traffic");
  let timer: unknown = null;
  let stopped = false;
  let ready: { from: number; stx: SignedTx } | null = null;
  const signNext = () => {
    const from = randomInt(rng, accounts.length);
    const to = randomInt(rng, accounts.length);
    const a = accounts[from]!;
    const tx: Tx = {
      chainId: SIM_CHAIN_ID,
      type: "bank.send",
      from: a.address,
      nonce: nonces[from]!,
      fee: 1n,
      body: { to: accounts[to]!.address, amount: "1" },
    };
    nonces[from]!++;
    void cluster.clock.track((async () => {
      const d = decodeSignedTx(await signTx(tx, a.privKey));
      // Checked once here, the verdict shared: the nodes' own checks then take no real async work,
      // which would let a tx's arrival race a proposal in the same settle.
      if (d.ok && await verifyTxSignature(d.stx)) ready = { from, stx: d.stx };
    })());
  };
  const tick = () => {
    if (stopped) return;
    if (ready) {
      const { stx } = ready;
      counts.submitted++;
      // Tracked: publishing runs in the settle after this timer; one publish per tick keeps the
      // order on each of the client's links.
      void cluster.clock.track(client.publish(txTopic, encode([stx.bytes])).catch(() => 0));
    }
    ready = null;
    signNext();
    timer = clock.setTimeout(tick, every);
  };
  signNext();
  timer = clock.setTimeout(tick, every);
  return () => {
    stopped = true;
    if (timer !== null) clock.clearTimeout(timer);
    void client.stop();
  };
}
