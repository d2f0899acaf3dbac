/**
 * A cluster of real node processes for the fault suite: homes, a shared test genesis (chain id
 * `cirrus-test-faults`, so the misbehaviour switches and the clock skew are allowed), processes started,
 * killed and restarted, and RPC helpers. With network namespaces (root + iproute2) every node has its own
 * address in 198.18.0.0/15 and links can be partitioned (iptables in each namespace) or slowed (the
 * NFQUEUE delayer of `tests/helpers/netns.ts`); without them the nodes run on 127.0.0.1 with ports the
 * kernel picked (port 0) and network cases are skipped.
 * `cleanup()` stops every process and removes every namespace and directory; idempotent, never throws.
 * @module
 */
import { join } from "node:path";
import { initHome, loadHome, writeGenesis } from "../../node/config.ts";
import type { Genesis } from "../../node/ledger/genesis.ts";
import type { StakingParams } from "../../node/ledger/staking_params.ts";
import { devnetGenesis } from "../../node/ledger/devnet_genesis.ts";
import { addressOf, generatePrivateKey, publicKeyOf } from "../../lib/crypto.ts";
import { peerIdFromSeed } from "../../node/p2p.ts";
import type { Misbehaviour } from "../../node/misbehave.ts";
import { CLOCK_SKEW_ENV } from "../../node/misbehave.ts";
import { spawnToLog } from "../../cli/devnet.ts";
import { createLab, type Lab, leftovers, run, stopProcess } from "../helpers/netns.ts";
import { root } from "../helpers/cli.ts";

/** The chain id of every fault cluster (a test chain: switches allowed). */
export const FAULTS_CHAIN_ID = "cirrus-test-faults";
/** Balance of every funded account at genesis. */
export const BALANCE = 1_000_000_000_000n;
const P2P_PORT = 26656;
const RPC_PORT = 26657;

/** Sleep. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Poll `fn` every `everyMs` until it returns true or `ms` passes; whether it did. */
export async function until(ms: number, fn: () => Promise<boolean>, everyMs = 300): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await fn().catch(() => false)) return true;
    await sleep(everyMs);
  }
  return false;
}

/** Options of {@link createCluster}. */
export interface ClusterOptions {
  /** Case name (directory prefix). */
  name: string;
  validators: number;
  /** Misbehaviours by validator index; `duplicate-key` adds a twin process with the same key. */
  misbehave?: Record<number, Misbehaviour[]>;
  /** Clock skew (ms) by validator index (env CIRRUS_CLOCK_SKEW_MS). */
  skewMs?: Record<number, number>;
  /** Full nodes (not validators), not started by {@link Cluster.startAll}. */
  fullNodes?: number;
  /** Network namespaces (needed for partitions and latency). */
  netns: boolean;
  consensus?: Partial<Genesis["params"]["consensus"]>;
  /** Staking params of the genesis (issue 9). */
  staking?: Partial<StakingParams>;
  /** Balance of each genesis validator's own account (its operator), default none. */
  validatorBalance?: string;
  /**
   * Validators-to-be: nodes with their own consensus keys, not in the genesis set, started with
   * `--validator` by {@link Cluster.startAll} (full nodes until a `staking.create_validator` names them).
   */
  joiners?: number;
  /** Funded load accounts. */
  senders?: number;
  /** Funded accounts that the load does not use (stakers: delegations, validator operators). */
  stakers?: number;
}

/** One node of a cluster. */
export interface ClusterNode {
  index: number;
  name: string;
  home: string;
  /** Validator address (the twin shares its original's), or null for a full node. */
  validator: string | null;
  /** Index of the node whose key this twin copies (duplicate-key), else null. */
  twinOf: number | null;
  kinds: Misbehaviour[];
  skewMs: number;
  ip: string;
  p2pPort: number;
  rpcPort: number;
  peerId: string;
  proc: Deno.ChildProcess | null;
  /** Times started. */
  starts: number;
}

/** A load account. */
export interface Sender {
  name: string;
  address: string;
  privKey: Uint8Array;
}

/** /status of a node (the fields the suite reads). */
export interface NodeStatus {
  height: number;
  hash: string;
  appHash: string;
  peers: number;
}

/** Every cluster not cleaned up yet (the runner cleans them on timeout or signal). */
export const liveClusters = new Set<Cluster>();

/** A running cluster. */
export class Cluster {
  readonly nodes: ClusterNode[];
  readonly genesis: Genesis;
  readonly senders: Sender[];
  /** Funded accounts the load does not use. */
  readonly stakers: Sender[];
  readonly dir: string;
  readonly lab: Lab | null;
  #cleaned = false;

  constructor(
    p: {
      nodes: ClusterNode[];
      genesis: Genesis;
      senders: Sender[];
      stakers: Sender[];
      dir: string;
      lab: Lab | null;
    },
  ) {
    this.nodes = p.nodes;
    this.genesis = p.genesis;
    this.senders = p.senders;
    this.stakers = p.stakers;
    this.dir = p.dir;
    this.lab = p.lab;
    liveClusters.add(this);
  }

  /** Indices of the validators that run no misbehaviour (and have no twin). */
  get honest(): number[] {
    const dup = new Set(this.nodes.filter((n) => n.twinOf !== null).map((n) => n.twinOf));
    return this.nodes.filter((n) =>
      n.validator !== null && n.kinds.length === 0 && n.twinOf === null &&
      !dup.has(n.index)
    ).map((n) => n.index);
  }

  /** Addresses of the honest validators. */
  get honestAddresses(): Set<string> {
    return new Set(this.honest.map((i) => this.nodes[i]!.validator!));
  }

  /** Indices of every node that runs (validators and twins; full nodes once started). */
  get running(): number[] {
    return this.nodes.filter((n) => n.proc !== null).map((n) => n.index);
  }

  /** RPC base URL of node i. */
  rpc(i: number): string {
    const n = this.nodes[i]!;
    return `http://${n.ip}:${n.rpcPort}`;
  }

  /** GET json from node i; null when it does not answer in time. */
  async get<T>(i: number, path: string, ms = 3_000): Promise<T | null> {
    try {
      const res = await fetch(`${this.rpc(i)}${path}`, { signal: AbortSignal.timeout(ms) });
      if (!res.ok) {
        await res.body?.cancel();
        return null;
      }
      return await res.json() as T;
    } catch {
      return null;
    }
  }

  /** /status of node i, or null. */
  status(i: number): Promise<NodeStatus | null> {
    return this.get<NodeStatus>(i, "/status");
  }

  /** Heights of the nodes (null: no answer). */
  heights(idx: number[]): Promise<(number | null)[]> {
    return Promise.all(idx.map(async (i) => (await this.status(i))?.height ?? null));
  }

  /** Highest height among the nodes (0 when none answers). */
  async maxHeight(idx: number[]): Promise<number> {
    return Math.max(0, ...(await this.heights(idx)).map((h) => h ?? 0));
  }

  /** Wait until every node in `idx` is at height >= h; the heights seen last and whether they got there. */
  async waitHeights(
    idx: number[],
    h: number,
    ms: number,
  ): Promise<{ ok: boolean; heights: (number | null)[] }> {
    let last: (number | null)[] = [];
    const ok = await until(ms, async () => {
      last = await this.heights(idx);
      return last.every((x) => x !== null && x >= h);
    });
    return { ok, heights: last };
  }

  /** Start node i (again); its log is appended to. */
  async start(i: number): Promise<void> {
    const n = this.nodes[i]!;
    if (this.#cleaned) throw new Error(`cluster cleaned up: ${n.name} not started`);
    if (n.proc) return;
    const bootstrap: string[] = [];
    for (const m of this.nodes) {
      if (m.index === i || m.validator === null) continue;
      bootstrap.push("--bootstrap", `/ip4/${m.ip}/tcp/${m.p2pPort}/p2p/${m.peerId}`);
    }
    const args = [
      ...(n.skewMs !== 0 ? [`${CLOCK_SKEW_ENV}=${n.skewMs}`] : []),
      Deno.execPath(),
      "run",
      "-A",
      "--config",
      join(root, "deno.json"),
      join(root, "cli", "main.ts"),
      "node",
      "start",
      "--home",
      n.home,
      ...(n.validator !== null ? ["--validator"] : []),
      ...(n.kinds.length > 0 ? ["--misbehave", n.kinds.join(",")] : []),
      "--p2p-listen",
      `/ip4/${n.ip}/tcp/${n.p2pPort}`,
      "--rpc-listen",
      `${n.ip}:${n.rpcPort}`,
      ...bootstrap,
    ];
    const [cmd, ...rest] = this.lab ? [...this.lab.execPrefix(i), "env", ...args] : ["env", ...args];
    n.proc = await spawnToLog(cmd!, rest, join(n.home, "node.log"), n.starts > 0);
    n.starts++;
  }

  /** Start the validators (and twins). */
  async startAll(): Promise<void> {
    for (const n of this.nodes) if (n.validator !== null) await this.start(n.index);
  }

  /** Kill node i (SIGKILL by default) and wait for it to exit. */
  async kill(i: number, signal: Deno.Signal = "SIGKILL"): Promise<void> {
    const n = this.nodes[i]!;
    const p = n.proc;
    if (!p) return;
    n.proc = null;
    if (signal === "SIGTERM") {
      await stopProcess(p, 8_000);
      return;
    }
    try {
      p.kill(signal);
    } catch { /* gone */ }
    await p.status.catch(() => {});
  }

  /** Stop every process (SIGTERM, then SIGKILL). */
  async stopAll(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.kill(n.index, "SIGTERM")));
  }

  /** The log of node i. */
  async log(i: number): Promise<string> {
    return await Deno.readTextFile(join(this.nodes[i]!.home, "node.log")).catch(() => "");
  }

  /**
   * Partition the network into groups of node indices: a node reaches only nodes of its own groups (a
   * node may be in several groups: a bridge). Needs namespaces. Replaces any earlier partition.
   */
  async partition(groups: number[][]): Promise<void> {
    const lab = this.#needLab("partition");
    await this.heal();
    for (const a of this.nodes) {
      for (const b of this.nodes) {
        if (a.index === b.index) continue;
        const together = groups.some((g) => g.includes(a.index) && g.includes(b.index));
        if (together) continue;
        for (const rule of [["-s", b.ip], ["-d", b.ip]]) {
          await mustRun(lab.exec(a.index, "iptables", ["-A", "CIRRUSFAULT", ...rule, "-j", "DROP"]));
        }
      }
    }
  }

  /** Undo {@link partition}. */
  async heal(): Promise<void> {
    const lab = this.#needLab("heal");
    for (const n of this.nodes) await mustRun(lab.exec(n.index, "iptables", ["-F", "CIRRUSFAULT"]));
  }

  /** Delay/loss on every node's incoming traffic, e.g. "delay 100ms 20ms loss 2%"; returns the method. */
  async shape(spec: string): Promise<string> {
    const lab = this.#needLab("shape");
    const modes = new Set<string>();
    for (const n of this.nodes) modes.add(await lab.netem(n.index, spec));
    return [...modes].join(",");
  }

  /** Undo {@link shape}. */
  async unshape(): Promise<void> {
    const lab = this.#needLab("unshape");
    for (const n of this.nodes) await lab.clearNetem(n.index);
  }

  #needLab(what: string): Lab {
    if (!this.lab) throw new Error(`${what} needs network namespaces`);
    return this.lab;
  }

  /** Tail of every node's log (for a failed case). */
  async tails(lines = 15): Promise<string> {
    const out: string[] = [];
    for (const n of this.nodes) {
      const text = (await this.log(n.index)).trimEnd().split("\n").slice(-lines).join("\n");
      out.push(`--- ${n.name} (last ${lines} lines) ---\n${text}`);
    }
    return out.join("\n");
  }

  /** Stop everything, remove namespaces and (unless `keep`) the directory. Idempotent, never throws. */
  async cleanup(keep = false): Promise<void> {
    if (this.#cleaned) return;
    this.#cleaned = true;
    liveClusters.delete(this);
    await this.stopAll().catch(() => {});
    const tag = this.lab?.tag;
    await this.lab?.cleanup().catch(() => {});
    if (tag) {
      const left = await leftovers(tag);
      if (left.length > 0) console.log(`  netns: left behind after cleanup: ${left.join(", ")}`);
    }
    if (!keep) await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

async function mustRun(p: Promise<{ code: number; stderr: string }>): Promise<void> {
  const r = await p;
  if (r.code !== 0) throw new Error(`command failed: ${r.stderr.trim()}`);
}

/** A TCP port nobody listens on now (the kernel picks it: port 0). */
function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Make the homes and genesis of a cluster (nothing started yet). */
export async function createCluster(o: ClusterOptions): Promise<Cluster> {
  const dir = await Deno.makeTempDir({ prefix: `cirrus-faults-${o.name}-` });
  const twins = Object.entries(o.misbehave ?? {}).filter(([, k]) => k.includes("duplicate-key")).map((
    [i],
  ) => Number(i));
  const joiners = o.joiners ?? 0;
  const total = o.validators + twins.length + joiners + (o.fullNodes ?? 0);
  let lab: Lab | null = null;
  try {
    if (o.netns) {
      lab = await createLab(total);
      for (let i = 0; i < total; i++) {
        await mustRun(lab.exec(i, "iptables", ["-N", "CIRRUSFAULT"]));
        await mustRun(lab.exec(i, "iptables", ["-I", "INPUT", "-j", "CIRRUSFAULT"]));
        await mustRun(lab.exec(i, "iptables", ["-I", "OUTPUT", "-j", "CIRRUSFAULT"]));
      }
    }
    const nodes: ClusterNode[] = [];
    const validators: { name: string; address: string; pubKey: Uint8Array }[] = [];
    for (let i = 0; i < total; i++) {
      const isValidator = i < o.validators;
      const twinOf = i >= o.validators && i < o.validators + twins.length ? twins[i - o.validators]! : null;
      const joinerAt = i - o.validators - twins.length;
      const isJoiner = joinerAt >= 0 && joinerAt < joiners;
      const name = twinOf !== null
        ? `node${twinOf}-twin`
        : isValidator
        ? `node${i}`
        : isJoiner
        ? `joiner${joinerAt}`
        : `full${i - o.validators - twins.length - joiners}`;
      const home = join(dir, name);
      const ip = lab ? lab.hosts[i]!.ip : "127.0.0.1";
      const p2pPort = lab ? P2P_PORT : freePort();
      const rpcPort = lab ? RPC_PORT : freePort();
      await initHome({
        home,
        moniker: name,
        chainId: FAULTS_CHAIN_ID,
        p2pListen: `/ip4/${ip}/tcp/${p2pPort}`,
        rpcListen: `${ip}:${rpcPort}`,
      });
      if (twinOf !== null) {
        await Deno.copyFile(
          join(nodes[twinOf]!.home, "priv_validator_key.json"),
          join(home, "priv_validator_key.json"),
        );
      }
      const h = await loadHome(home);
      if (isValidator) {
        validators.push({ name, address: h.validatorKey.address, pubKey: h.validatorKey.pubKey });
      }
      const own = isValidator ? (o.misbehave?.[i] ?? []) : [];
      const inherited = twinOf !== null ? (o.misbehave?.[twinOf] ?? []) : [];
      nodes.push({
        index: i,
        name,
        home,
        validator: isValidator || twinOf !== null || isJoiner ? h.validatorKey.address : null,
        twinOf,
        kinds: [...own, ...inherited].filter((k) => k !== "duplicate-key"),
        skewMs: isValidator ? (o.skewMs?.[i] ?? 0) : 0,
        ip,
        p2pPort,
        rpcPort,
        peerId: await peerIdFromSeed(h.nodeKey.privKey),
        proc: null,
        starts: 0,
      });
    }
    const senders: Sender[] = Array.from({ length: o.senders ?? 4 }, (_, k) => {
      const privKey = generatePrivateKey();
      return { name: `sender${k}`, address: addressOf(publicKeyOf(privKey)), privKey };
    });
    const stakers: Sender[] = Array.from({ length: o.stakers ?? 0 }, (_, k) => {
      const privKey = generatePrivateKey();
      return { name: `staker${k}`, address: addressOf(publicKeyOf(privKey)), privKey };
    });
    // Blocks of at most 1 MiB: an oversize proposal (1 MiB + 64 KiB) still fits a gossip message.
    const genesis = devnetGenesis({
      chainId: FAULTS_CHAIN_ID,
      genesisTime: new Date().toISOString(),
      validators,
      accounts: [...senders, ...stakers].map((s) => ({
        name: s.name,
        address: s.address,
        balance: BALANCE.toString(),
      })),
      consensus: { maxBlockBytes: 1024 * 1024, ...o.consensus },
      ...(o.staking ? { staking: o.staking } : {}),
      ...(o.validatorBalance ? { validatorBalance: o.validatorBalance } : {}),
    });
    for (const n of nodes) await writeGenesis(n.home, genesis);
    return new Cluster({ nodes, genesis, senders, stakers, dir, lab });
  } catch (e) {
    await lab?.cleanup();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  }
}

/** Whether network namespaces and iptables work here (runs `iptables -V` too). */
export async function iptablesAvailable(): Promise<boolean> {
  return (await run("iptables", ["-V"])).code === 0;
}
