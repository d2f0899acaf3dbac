/**
 * In-process networks of real nodes for tests: real LevelDB stores, real WALs, real libp2p hosts on
 * the memory transport (or TCP on loopback), in a temporary directory removed at the end.
 */
import { join } from "node:path";
import { initHome, loadHome, writeGenesis } from "../../node/config.ts";
import type { Genesis } from "../../node/ledger/genesis.ts";
import { devnetGenesis, type DevnetValidator } from "../../node/ledger/devnet_genesis.ts";
import { addressOf, generatePrivateKey, publicKeyOf } from "../../lib/crypto.ts";
import { CirrusNode } from "../../node/node.ts";
import { peerIdFromSeed } from "../../node/p2p.ts";
import { signTx } from "../../node/ledger/tx.ts";

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
}

/** A test network: start/stop nodes by index; `cleanup()` stops all and deletes the files. */
export class TestNet {
  readonly nodes: (CirrusNode | null)[] = [];
  readonly homes: string[] = [];
  readonly addrs: string[] = [];
  accounts: TestAccount[] = [];
  genesis!: Genesis;

  private constructor(readonly dir: string, readonly opts: TestNetOptions) {}

  static async create(opts: TestNetOptions): Promise<TestNet> {
    const dir = await Deno.makeTempDir({ prefix: "cirrus-test-" });
    const net = new TestNet(dir, opts);
    try {
      await net.#init();
    } catch (e) {
      await net.cleanup();
      throw e;
    }
    return net;
  }

  async #init(): Promise<void> {
    const tag = crypto.randomUUID().slice(0, 8);
    const validators: DevnetValidator[] = [];
    for (let i = 0; i < this.opts.validators; i++) {
      const home = join(this.dir, `node${i}`);
      await initHome({ home, moniker: `node${i}`, chainId: "cirrus-test" });
      const h = await loadHome(home);
      validators.push({ name: `node${i}`, address: h.validatorKey.address, pubKey: h.validatorKey.pubKey });
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
    });
    for (const home of this.homes) await writeGenesis(home, this.genesis);
  }

  /** Start node i (memory transport, bootstrapping from every other node). */
  async start(i: number): Promise<CirrusNode> {
    if (this.nodes[i]) return this.nodes[i]!;
    const listen = this.addrs[i]!.replace(/\/p2p\/.*$/, "");
    const node = await CirrusNode.fromHome(this.homes[i]!, {
      validator: true,
      transport: "memory",
      p2pListen: [listen],
      bootstrap: this.addrs.filter((_, j) => j !== i),
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
    await n?.stop();
  }

  /** Stop every node and delete the directory. */
  async cleanup(): Promise<void> {
    for (let i = 0; i < this.nodes.length; i++) await this.stop(i).catch(() => {});
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }

  /** Wait until every running node has committed `height` (bounded). */
  async waitHeight(height: number, timeoutMs = 60_000, which?: number[]): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const idx = which ?? this.nodes.map((_, i) => i).filter((i) => this.nodes[i]);
    while (Date.now() < deadline) {
      if (idx.every((i) => (this.nodes[i]?.chain.height ?? 0) >= height)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    const hs = idx.map((i) => `node${i}=${this.nodes[i]?.chain.height}`).join(" ");
    throw new Error(`height ${height} not reached within ${timeoutMs} ms: ${hs}`);
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
 * Sign a tx with `account` (nonce from node i's mempool view), submit it to node i and wait for its
 * block (bounded). Throws when the node refuses it.
 */
export async function sendAndWait(
  net: TestNet,
  i: number,
  account: TestAccount,
  type: string,
  body: Record<string, unknown>,
  timeoutMs = 30_000,
): Promise<TxOutcome> {
  const node = net.nodes[i]!;
  const bytes = await signTx({
    chainId: net.genesis.chainId,
    type,
    from: account.address,
    nonce: node.mempool.nextNonce(node.chain.state, account.address),
    fee: 1n,
    body,
  }, account.privKey);
  let resolve!: (o: TxOutcome) => void;
  const done = new Promise<TxOutcome>((r) => resolve = r);
  let id = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
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
    const r = await node.submitTx(bytes);
    if (!r.ok) throw new Error(`${type} refused: ${r.error}`);
    id = r.txId;
    const expired = new Promise<never>((_, rej) => {
      timer = setTimeout(() => rej(new Error(`${type} not committed in ${timeoutMs} ms`)), timeoutMs);
    });
    return await Promise.race([done, expired]);
  } finally {
    clearTimeout(timer);
    off();
  }
}

/** Sleep (for bounded observations of "nothing happens"). */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
