/**
 * In-process networks of real nodes for tests: real LevelDB stores and WALs in a temporary directory
 * removed at the end, on SIMULATED time by default (`node/sim/`: a simulated clock and network, a
 * seeded rng; nothing sleeps), or on wall time over real libp2p hosts on the memory transport
 * (`time: "real"`, for tests that reach the nodes from outside: HTTP RPC, a libp2p tenant).
 *
 * Waiting goes through the net (`net.until`, `net.pass`, `net.run`, `net.waitHeight`), which drive
 * the simulated clock or wait on the wall clock depending on the mode.
 */
import { join } from "node:path";
import { initHome, loadHome, writeGenesis } from "../../node/config.ts";
import type { Genesis } from "../../node/ledger/genesis.ts";
import { devnetGenesis, type DevnetValidator } from "../../node/ledger/devnet_genesis.ts";
import { addressOf, generatePrivateKey, publicKeyOf } from "../../lib/crypto.ts";
import { CirrusNode } from "../../node/node.ts";
import { peerIdFromSeed } from "../../node/p2p.ts";
import { signTx } from "../../node/ledger/tx.ts";
import { SimCluster } from "../../node/sim/cluster.ts";
import type { LinkProfile } from "../../node/sim/network.ts";
import { sleep, waitFor } from "./wait.ts";
import type { Misbehaviour } from "../../node/misbehave.ts";
import type { Ledger } from "../../node/ledger/ledger.ts";
import type { StakingParams } from "../../node/ledger/staking_params.ts";

/** A funded test account. */
export interface TestAccount {
  address: string;
  privKey: Uint8Array;
}

/** Options of a test network. */
export interface TestNetOptions {
  validators: number;
  accounts?: number;
  consensus?: Partial<Genesis["params"]["consensus"]>;
  market?: Partial<NonNullable<Genesis["params"]["market"]>>;
  transport?: "memory" | "tcp";
  /** "sim" (default): simulated clock and network; "real": libp2p memory transport on wall time. */
  time?: "sim" | "real";
  /** Seed of the simulated network (default 1). */
  seed?: number;
  /** Link profile of the simulated network (default {@link TEST_LINK}). */
  link?: Partial<LinkProfile>;
  /** Test only: misbehaving validators, by index (`node/misbehave.ts`). */
  misbehave?: Record<number, Misbehaviour[]>;
  /** The ledger every node runs (default the node's); a fresh one per node. */
  ledger?: () => Ledger;
  /** Nodes beyond `validators` whose keys are not in the genesis set (full nodes, later validators). */
  extraNodes?: number;
  /** Staking params of the genesis (defaults otherwise). */
  staking?: Partial<StakingParams>;
}

/**
 * Links of a simulated test network: 20-30 ms one way, no loss. Compute costs no virtual time, so
 * a realistic latency keeps the number of heights per simulated second near a real network's.
 */
export const TEST_LINK: LinkProfile = { latencyMs: 20, jitterMs: 10, loss: 0 };

/** A test network: start/stop nodes by index; `cleanup()` stops all and deletes the files. */
export class TestNet {
  readonly nodes: (CirrusNode | null)[] = [];
  readonly homes: string[] = [];
  readonly addrs: string[] = [];
  accounts: TestAccount[] = [];
  /** Validator (consensus) keys of every node, by index: address and hex public key. */
  readonly keys: { address: string; pubKey: Uint8Array }[] = [];
  genesis!: Genesis;
  /** The simulated cluster (null on wall time). */
  sim: SimCluster | null = null;

  private constructor(readonly dir: string, readonly opts: TestNetOptions) {}

  static async create(opts: TestNetOptions): Promise<TestNet> {
    const dir = await Deno.makeTempDir({ prefix: "cirrus-test-" });
    const net = new TestNet(dir, opts);
    try {
      await net.#init();
      if ((opts.time ?? "sim") === "sim") {
        net.sim = await SimCluster.create({
          homes: net.homes,
          seed: opts.seed ?? 1,
          link: { ...TEST_LINK, ...opts.link },
          misbehave: (i) => opts.misbehave?.[i] ?? [],
          ...(opts.ledger ? { ledger: opts.ledger } : {}),
        });
      }
    } catch (e) {
      await net.cleanup();
      throw e;
    }
    return net;
  }

  async #init(): Promise<void> {
    const tag = crypto.randomUUID().slice(0, 8);
    const validators: DevnetValidator[] = [];
    for (let i = 0; i < this.opts.validators + (this.opts.extraNodes ?? 0); i++) {
      const home = join(this.dir, `node${i}`);
      await initHome({ home, moniker: `node${i}`, chainId: "cirrus-test" });
      const h = await loadHome(home);
      this.keys.push({ address: h.validatorKey.address, pubKey: h.validatorKey.pubKey });
      if (i < this.opts.validators) {
        validators.push({ name: `node${i}`, address: h.validatorKey.address, pubKey: h.validatorKey.pubKey });
      }
      const peerId = await peerIdFromSeed(h.nodeKey.privKey);
      this.homes.push(home);
      this.addrs.push(
        this.opts.transport === "tcp" ? "" : `/memory/cirrus-${tag}-${i}/p2p/${peerId}`,
      );
      this.nodes.push(null);
    }
    for (let i = 0; i < (this.opts.accounts ?? 2); i++) {
      const privKey = generatePrivateKey();
      this.accounts.push({ address: addressOf(publicKeyOf(privKey)), privKey });
    }
    this.genesis = devnetGenesis({
      chainId: "cirrus-test",
      genesisTime: new Date(0).toISOString(),
      validators,
      accounts: this.accounts.map((a) => ({ address: a.address, balance: "1000000000" })),
      consensus: {
        timeoutProposeMs: 400,
        timeoutPrevoteMs: 200,
        timeoutPrecommitMs: 200,
        timeoutDeltaMs: 100,
        timeoutCommitMs: 0,
        ...this.opts.consensus,
      },
      ...(this.opts.market ? { market: this.opts.market } : {}),
      ...(this.opts.staking ? { staking: this.opts.staking } : {}),
    });
    for (const home of this.homes) await writeGenesis(home, this.genesis);
  }

  /** Start node i (bootstrapping from every other node). */
  async start(i: number): Promise<CirrusNode> {
    if (this.nodes[i]) return this.nodes[i]!;
    if (this.sim) {
      const node = await this.sim.start(i);
      this.nodes[i] = node;
      return node;
    }
    const listen = this.addrs[i]!.replace(/\/p2p\/.*$/, "");
    const node = await CirrusNode.fromHome(this.homes[i]!, {
      validator: true,
      transport: "memory",
      p2pListen: [listen],
      bootstrap: this.addrs.filter((_, j) => j !== i),
      ...(this.opts.misbehave?.[i]?.length ? { misbehave: this.opts.misbehave[i] } : {}),
      ...(this.opts.ledger ? { ledger: this.opts.ledger() } : {}),
    });
    this.nodes[i] = node;
    return node;
  }

  async startAll(): Promise<void> {
    for (let i = 0; i < this.homes.length; i++) await this.start(i);
  }

  /** Stop node i (its store and WAL stay on disk). */
  async stop(i: number): Promise<void> {
    const n = this.nodes[i];
    this.nodes[i] = null;
    if (this.sim) await this.sim.stop(i);
    else await n?.stop();
  }

  /** Stop every node and delete the directory. */
  async cleanup(): Promise<void> {
    for (let i = 0; i < this.nodes.length; i++) await this.stop(i).catch(() => {});
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }

  /** Let `ms` pass: simulated time, or a wall-clock sleep. */
  async pass(ms: number): Promise<void> {
    if (this.sim) await this.sim.clock.advance(ms);
    else await sleep(ms);
  }

  /**
   * Run (simulated) or wait (wall time) until `cond` holds; throws after `timeoutMs`. An async
   * `cond` is polled every 50 ms (of simulated or wall time).
   */
  async until(cond: () => boolean | Promise<boolean>, label: string, timeoutMs = 60_000): Promise<void> {
    if (!this.sim) return void await waitFor(cond, timeoutMs, label, 50);
    const first = cond();
    if (typeof first === "boolean") {
      if (!first) await this.sim.clock.runUntil(() => cond() as boolean, { maxMs: timeoutMs, label });
      return;
    }
    const start = this.sim.clock.now();
    while (!await (this.sim.clock.now() === start ? first : cond())) {
      if (this.sim.clock.now() - start >= timeoutMs) throw new Error(`${label}: not within ${timeoutMs} ms`);
      await this.sim.clock.advance(50);
    }
  }

  /** Milliseconds since the epoch: simulated, or the wall clock's. */
  now(): number {
    return this.sim ? this.sim.clock.now() : Date.now();
  }

  /** Run (simulated) or wait (wall time) until `p` settles; throws after `timeoutMs`. */
  async run<T>(p: Promise<T>, label: string, timeoutMs = 60_000): Promise<T> {
    if (this.sim) return await this.sim.clock.runFor(p, { maxMs: timeoutMs, label });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${label}: not done in ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([p, expired]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Wait until every running node (or those in `which`) has committed `height` (bounded). */
  async waitHeight(height: number, timeoutMs = 60_000, which?: number[]): Promise<void> {
    const idx = which ?? this.nodes.map((_, i) => i).filter((i) => this.nodes[i]);
    try {
      await this.until(
        () => idx.every((i) => (this.nodes[i]?.chain.height ?? 0) >= height),
        `height ${height}`,
        timeoutMs,
      );
    } catch (e) {
      const hs = idx.map((i) => `node${i}=${this.nodes[i]?.chain.height}`).join(" ");
      throw new Error(`${(e as Error).message}: ${hs}`);
    }
  }

  /** Counts `p` as work in flight for the simulated clock (a no-op on wall time); returns `p`. */
  track<T>(p: Promise<T>): Promise<T> {
    return this.sim ? this.sim.clock.track(p) : p;
  }
}

/** The outcome of a tx sent with {@link sendAndWait}. */
export interface TxOutcome {
  txId: string;
  height: number;
  ok: boolean;
  reason?: string;
  events: { type: string; attrs: Record<string, string> }[];
}

/**
 * Sign a tx with `account` (nonce from node i's mempool view) and submit it to node i; resolves at
 * its block, without driving time (drive it with `net.run`, or use {@link sendAndWait}). Rejects
 * when the node refuses it.
 */
export async function sendTx(
  net: TestNet,
  i: number,
  account: TestAccount,
  type: string,
  body: Record<string, unknown>,
): Promise<TxOutcome> {
  const node = net.nodes[i]!;
  // Signing is real work: tracked, so that a resting cluster's clock does not jump past it.
  const bytes = await net.track(signTx({
    chainId: net.genesis.chainId,
    type,
    from: account.address,
    nonce: node.mempool.nextNonce(node.chain.state, account.address),
    fee: 1n,
    body,
  }, account.privKey));
  let resolve!: (o: TxOutcome) => void;
  const done = new Promise<TxOutcome>((r) => resolve = r);
  let id = "";
  const off = node.onCommit((b) => {
    const t = b.txs.find((x) => x.id === id);
    if (t) {
      resolve({
        txId: t.id,
        height: b.height,
        ok: t.ok,
        ...(t.reason ? { reason: t.reason } : {}),
        events: t.events,
      });
    }
  });
  try {
    const r = await net.track(node.submitTx(bytes));
    if (!r.ok) throw new Error(`${type} refused: ${r.error}`);
    id = r.txId;
    return await done;
  } finally {
    off();
  }
}

/** {@link sendTx}, driving time until the tx is committed (bounded). */
export function sendAndWait(
  net: TestNet,
  i: number,
  account: TestAccount,
  type: string,
  body: Record<string, unknown>,
  timeoutMs = 30_000,
): Promise<TxOutcome> {
  return net.run(sendTx(net, i, account, type, body), `${type} committed`, timeoutMs);
}
