/**
 * `cirrus devnet`: a fresh local network of N validator processes on loopback, with a shared genesis
 * and funded keys (`alice`, `bob`, and `bench0..` for load tests). Writes `DIR/devnet.json`, prints
 * the RPC URLs and an example, runs until Ctrl-C / SIGTERM, then stops every process it started.
 * @module
 */
import { join, resolve } from "node:path";
import { initHome, loadHome, writeGenesis } from "../node/config.ts";
import type { Misbehaviour } from "../node/misbehave.ts";
import { ensureBusyboxImage, podmanAvailable, PodmanDriver } from "../provider/cluster/podman.ts";
import type { Genesis } from "../node/ledger/genesis.ts";
import { sendTx, UserError } from "./util.ts";
import {
  assertPortsFree,
  createKeys,
  createProviderHomes,
  createValidatorHomes,
  DEVNET_CHAIN_ID,
  type DevnetKeys,
  nodePorts,
  peerIdOf,
  portFree,
  providerAttributes,
  writeDevnetGenesis,
} from "./devnet_layout.ts";

export { DEVNET_CHAIN_ID } from "./devnet_layout.ts";

/** Options of a devnet. */
export interface DevnetOptions {
  validators: number;
  dir: string;
  accounts: number;
  basePort: number;
  /** Print progress lines (default true). */
  quiet?: boolean;
  /** Resolve once the network is up instead of waiting for a signal (tests, benchmarks). */
  detach?: boolean;
  /** Provider accounts to fund and register (default 2: provider1, provider2). */
  providers?: number;
  /** Run a provider node per provider account (default true); false: accounts only (hand-driven auctions). */
  providerNodes?: boolean;
  /** Cluster driver of the provider nodes (default: podman when it works here, else sim). */
  driver?: "podman" | "sim";
  /** Extra genesis parameter overrides. */
  consensusParams?: Partial<Genesis["params"]["consensus"]>;
  /** Marketplace parameter overrides (e.g. a longer bid window for hand-driven auctions). */
  marketParams?: Partial<NonNullable<Genesis["params"]["market"]>>;
  /** Test only: validators that misbehave, by name (`node1` -> kinds); see `node/misbehave.ts`. */
  misbehave?: Map<string, Misbehaviour[]>;
  /** Serve the web console from node0 on port `basePort + 2` (default false; `cirrus devnet` turns it on). */
  console?: boolean;
}

/** The file `DIR/devnet.json`. */
export interface DevnetInfo {
  chainId: string;
  home: string;
  nodes: { name: string; rpc: string; p2p: string; home: string; pid: number; validator: string }[];
  accounts: Record<string, string>;
  /** Provider accounts (and, when provider nodes run, their node: rpc, p2p, home, pid, driver). */
  providers: {
    name: string;
    address: string;
    attributes: Record<string, string>;
    rpc?: string;
    p2p?: string;
    home?: string;
    pid?: number;
    driver?: string;
  }[];
  /** The web console's URL (node0), when the devnet serves it. */
  console?: string;
}

/** A running devnet. */
export interface Devnet {
  info: DevnetInfo;
  procs: Deno.ChildProcess[];
  /** Stop every process (SIGTERM, then SIGKILL after 5 s). */
  stop(): Promise<void>;
  /** Send a signal to process i (default SIGKILL) and wait for it to exit (validators first, then providers). */
  kill(i: number, signal?: Deno.Signal): Promise<void>;
  /** Stop node i gracefully and start it again from its home. */
  restart(i: number): Promise<Deno.ChildProcess>;
  /** Start node i again (after kill) from its home; its log is appended to. */
  respawn(i: number): Promise<Deno.ChildProcess>;
}

/** Polls `fn` every 200 ms until it returns a value, for at most `ms` (then a {@link UserError}). */
async function waitFor<T>(what: string, ms: number, fn: () => Promise<T | null>): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown = null;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== null) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new UserError(`devnet: ${what} did not happen within ${ms / 1000}s${last ? ` (${last})` : ""}`);
}

/**
 * Spawn a process whose stdout and stderr go to a log file (appended to, or truncated); stdin closed.
 * The devnet's nodes and the fault tests' nodes start this way.
 */
export async function spawnToLog(
  command: string,
  args: string[],
  logPath: string,
  append: boolean,
): Promise<Deno.ChildProcess> {
  const log = await Deno.open(logPath, { create: true, write: true, append, truncate: !append });
  const child = new Deno.Command(command, {
    args,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
    env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
  }).spawn();
  const pump = async (s: ReadableStream<Uint8Array>) => {
    try {
      for await (const chunk of s) await log.write(chunk);
    } catch { /* closed */ }
  };
  void Promise.all([pump(child.stdout), pump(child.stderr)]).finally(() => {
    try {
      log.close();
    } catch { /* closed */ }
  });
  return child;
}

/** podman when it works on this machine (building the example image), else sim; says which. */
async function pickDriver(say: (s: string) => void): Promise<"podman" | "sim"> {
  const p = await podmanAvailable();
  if (p.ok) {
    await ensureBusyboxImage();
    say(`devnet: providers run containers with podman ${p.version} (image localhost/busybox:latest ready)`);
    return "podman";
  }
  say(
    `devnet: podman is not usable here (${p.reason}); providers use the sim driver (capacity only, no containers).`,
  );
  say(`devnet: to run real containers: scripts/install-podman.sh`);
  return "sim";
}

/** The files of a devnet: homes (validators, then provider nodes), keys, genesis, peer ids. */
interface Layout {
  dir: string;
  /** Validator count. */
  n: number;
  /** Provider nodes to run. */
  providerNodes: number;
  homes: string[];
  peerIds: string[];
  keys: DevnetKeys;
  driver: "podman" | "sim";
  /** Misbehaviours by validator index; `duplicate-key` ones have a twin (`node<i>-twin`, after the providers). */
  misbehave: Map<number, Misbehaviour[]>;
  /** The validator each twin copies the key of (twin t is node index n + providerNodes + t). */
  twins: number[];
}

/** Step 1: a fresh directory with every home, key and the genesis. */
async function createLayout(o: DevnetOptions, say: (s: string) => void): Promise<Layout> {
  const misbehave = misbehaviourByIndex(o);
  const dir = resolve(o.dir);
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(dir, { recursive: true });
  const n = o.validators;
  const providerCount = o.providers ?? 2;
  const providerNodes = o.providerNodes !== false ? providerCount : 0;
  const twinCount = [...misbehave.values()].filter((k) => k.includes("duplicate-key")).length;
  assertPortsFree(o.basePort, n + providerNodes + twinCount);
  if (o.console && !portFree(consolePort(o.basePort))) {
    throw new UserError(`devnet: port ${consolePort(o.basePort)} (the console) is in use (use --base-port)`);
  }
  const homes = await createValidatorHomes(dir, n, o.basePort);
  const keys = await createKeys(dir, providerCount, o.accounts);
  const genesis = await writeDevnetGenesis(homes, keys, {
    ...(o.consensusParams ? { consensus: o.consensusParams } : {}),
    ...(o.marketParams ? { market: o.marketParams } : {}),
  });
  // Provider nodes: full nodes (not validators) with the provider role and their own key.
  const driver = providerNodes > 0 ? (o.driver ?? await pickDriver(say)) : "sim";
  homes.push(
    ...await createProviderHomes(
      { dir, validators: n, basePort: o.basePort, count: providerNodes, driver },
      keys,
      genesis,
    ),
  );
  const twins = [...misbehave].filter(([, k]) => k.includes("duplicate-key")).map(([i]) => i);
  for (const [t, v] of twins.entries()) {
    homes.push(await createTwinHome(dir, v, o.basePort, n + providerNodes + t, homes[v]!, genesis));
  }
  const peerIds: string[] = [];
  for (const home of homes) peerIds.push(await peerIdOf(home));
  return { dir, n, providerNodes, homes, peerIds, keys, driver, misbehave, twins };
}

/** `--misbehave` by validator index; names must be validators (`node0`..). A devnet is a test chain. */
function misbehaviourByIndex(o: DevnetOptions): Map<number, Misbehaviour[]> {
  const out = new Map<number, Misbehaviour[]>();
  for (const [name, kinds] of o.misbehave ?? []) {
    const i = /^node\d+$/.test(name) ? Number(name.slice(4)) : -1;
    if (i < 0 || i >= o.validators) {
      throw new UserError(`--misbehave: no validator "${name}" (node0..node${o.validators - 1})`);
    }
    out.set(i, kinds);
  }
  return out;
}

/** `duplicate-key`: a home `node<v>-twin` (node index i) with validator v's key and its own node key. */
async function createTwinHome(
  dir: string,
  v: number,
  basePort: number,
  i: number,
  original: string,
  genesis: Genesis,
): Promise<string> {
  const home = join(dir, `node${v}-twin`);
  const ports = nodePorts(basePort, i);
  await initHome({
    home,
    moniker: `node${v}-twin`,
    chainId: DEVNET_CHAIN_ID,
    p2pListen: `/ip4/127.0.0.1/tcp/${ports.p2p}`,
    rpcListen: `127.0.0.1:${ports.rpc}`,
  });
  await writeGenesis(home, genesis);
  await Deno.copyFile(join(original, "priv_validator_key.json"), join(home, "priv_validator_key.json"));
  return home;
}

/** Starts node i of the layout (a validator, or a provider node) as a process logging to its home. */
function nodeSpawner(
  o: DevnetOptions,
  l: Layout,
): (i: number, append: boolean) => Promise<Deno.ChildProcess> {
  const main = new URL("./main.ts", import.meta.url).pathname;
  const config = new URL("../deno.json", import.meta.url).pathname;
  return async (i, append) => {
    // Everyone bootstraps from the validators (and validators from each other).
    const bootstrap = l.peerIds.slice(0, l.n).flatMap((id, j) =>
      j === i ? [] : ["--bootstrap", `/ip4/127.0.0.1/tcp/${nodePorts(o.basePort, j).p2p}/p2p/${id}`]
    );
    const twin = i >= l.n + l.providerNodes ? l.twins[i - l.n - l.providerNodes]! : null;
    const kinds = (l.misbehave.get(twin ?? i) ?? []).filter((k) => k !== "duplicate-key");
    const role = i < l.n || twin !== null
      ? ["--validator", ...(kinds.length > 0 ? ["--misbehave", kinds.join(",")] : [])]
      : ["--provider", "--provider-config", join(l.homes[i]!, "provider.yaml")];
    if (i === 0 && o.console) {
      role.push("--console-addr", `127.0.0.1:${consolePort(o.basePort)}`, "--console-keys", l.keys.cliHome);
    }
    return await spawnToLog(
      Deno.execPath(),
      [
        "run",
        "-A",
        // For profiling: CIRRUS_INSPECT_NODE=i opens the V8 inspector of node i on 127.0.0.1:9229.
        ...(Deno.env.get("CIRRUS_INSPECT_NODE") === String(i) ? ["--inspect=127.0.0.1:9229"] : []),
        // CIRRUS_CPU_PROF_DIR=DIR writes each node's V8 CPU profile to DIR/<node> when it stops.
        ...(Deno.env.get("CIRRUS_CPU_PROF_DIR")
          ? ["--cpu-prof", `--cpu-prof-dir=${join(Deno.env.get("CIRRUS_CPU_PROF_DIR")!, `node${i}`)}`]
          : []),
        "--config",
        config,
        main,
        "node",
        "start",
        ...(Deno.env.get("CIRRUS_NODE_LOG_LEVEL")
          ? ["--log-level", Deno.env.get("CIRRUS_NODE_LOG_LEVEL")!]
          : []),
        "--home",
        l.homes[i]!,
        ...role,
        ...bootstrap,
      ],
      join(l.homes[i]!, "node.log"),
      append,
    );
  };
}

/** Step 2: the validator processes, and their entries of `devnet.json`. */
async function spawnValidators(
  o: DevnetOptions,
  l: Layout,
  spawn: (i: number, append: boolean) => Promise<Deno.ChildProcess>,
  procs: Deno.ChildProcess[],
): Promise<DevnetInfo["nodes"]> {
  const nodes: DevnetInfo["nodes"] = [];
  for (let i = 0; i < l.n; i++) nodes.push(await spawnValidatorNode(o, l, spawn, procs, i, `node${i}`));
  return nodes;
}

/** Starts the validator process of home `i` and returns its entry of `devnet.json`. */
async function spawnValidatorNode(
  o: DevnetOptions,
  l: Layout,
  spawn: (i: number, append: boolean) => Promise<Deno.ChildProcess>,
  procs: Deno.ChildProcess[],
  i: number,
  name: string,
): Promise<DevnetInfo["nodes"][number]> {
  const ports = nodePorts(o.basePort, i);
  const child = await spawn(i, false);
  procs.push(child);
  return {
    name,
    rpc: `http://127.0.0.1:${ports.rpc}`,
    p2p: `/ip4/127.0.0.1/tcp/${ports.p2p}/p2p/${l.peerIds[i]}`,
    home: l.homes[i]!,
    pid: child.pid,
    validator: (await loadHome(l.homes[i]!)).validatorKey.address,
  };
}

/** Step 2b (`duplicate-key`): the twins, second processes with a validator's key, listed as nodes. */
async function spawnTwins(
  o: DevnetOptions,
  l: Layout,
  spawn: (i: number, append: boolean) => Promise<Deno.ChildProcess>,
  procs: Deno.ChildProcess[],
): Promise<DevnetInfo["nodes"]> {
  const nodes: DevnetInfo["nodes"] = [];
  for (const [t, v] of l.twins.entries()) {
    nodes.push(await spawnValidatorNode(o, l, spawn, procs, l.n + l.providerNodes + t, `node${v}-twin`));
  }
  return nodes;
}

/** Step 3: the provider node processes; every provider account gets its entry of `devnet.json`. */
async function spawnProviders(
  o: DevnetOptions,
  l: Layout,
  spawn: (i: number, append: boolean) => Promise<Deno.ChildProcess>,
  procs: Deno.ChildProcess[],
): Promise<DevnetInfo["providers"]> {
  const providers: DevnetInfo["providers"] = l.keys.providerNames.map((name, j) => ({
    name,
    address: l.keys.accounts[name]!,
    attributes: providerAttributes(j),
  }));
  for (let j = 0; j < l.providerNodes; j++) {
    const i = l.n + j;
    const ports = nodePorts(o.basePort, i);
    const child = await spawn(i, false);
    procs.push(child);
    Object.assign(providers[j]!, {
      rpc: `http://127.0.0.1:${ports.rpc}`,
      p2p: `/ip4/127.0.0.1/tcp/${ports.p2p}/p2p/${l.peerIds[i]}`,
      home: l.homes[i]!,
      pid: child.pid,
      driver: l.driver,
    });
  }
  return providers;
}

/** Stops every process (SIGTERM, SIGKILL after 5 s), then removes the podman providers' containers. */
async function stopAll(
  procs: readonly Deno.ChildProcess[],
  providers: DevnetInfo["providers"],
): Promise<void> {
  for (const p of procs) {
    try {
      p.kill("SIGTERM");
    } catch { /* gone */ }
  }
  const killer = setTimeout(() => {
    for (const p of procs) {
      try {
        p.kill("SIGKILL");
      } catch { /* gone */ }
    }
  }, 5000);
  await Promise.all(procs.map((p) => p.status));
  clearTimeout(killer);
  // The containers (and persistent volumes) of a devnet's leases go with it.
  for (const p of providers) {
    if (p.driver !== "podman" || !p.home) continue;
    const d = new PodmanDriver({ stateDir: join(p.home, "provider", "podman"), provider: p.address });
    for (const id of await d.known().catch(() => [] as string[])) await d.teardown(id).catch(() => {});
  }
}

/** Step 4: every validator answers and has committed a block (bounded). */
async function waitCommitting(nodes: DevnetInfo["nodes"]): Promise<void> {
  await waitFor("every node answering and committing a block", 60_000, async () => {
    for (const node of nodes) {
      const s = await (await fetch(`${node.rpc}/status`)).json() as { height: number };
      if (s.height < 1) return null;
    }
    return true;
  });
}

/** Step 5: every provider node has registered itself on chain (bounded). */
async function waitProvidersRegistered(info: DevnetInfo, count: number): Promise<void> {
  await waitFor("every provider node registering on chain", 90_000, async () => {
    const r = await (await fetch(`${info.nodes[0]!.rpc}/query/providers`)).json() as {
      providers: { owner: string }[];
    };
    const have = new Set(r.providers.map((p) => p.owner));
    return info.providers.slice(0, count).every((p) => have.has(p.address)) ? true : null;
  });
}

/** Step 5 without provider nodes: register the provider accounts (their host: a validator). */
async function registerProviderAccounts(info: DevnetInfo): Promise<void> {
  for (const [i, p] of info.providers.entries()) {
    const node = info.nodes[i % info.nodes.length]!;
    await sendTx({ node: node.rpc, home: info.home, output: "text" }, p.name, "provider.create", {
      hostUri: [node.p2p],
      attributes: Object.entries(p.attributes).map(([key, value]) => ({ key, value })),
      info: { website: "https://cirrus.invalid/devnet" },
    });
  }
}

/** Step 6: the auditor attests every provider's attributes. */
async function attestProviders(info: DevnetInfo): Promise<void> {
  for (const p of info.providers) {
    await sendTx({ node: info.nodes[0]!.rpc, home: info.home, output: "text" }, "auditor", "audit.attest", {
      provider: p.address,
      attributes: Object.entries(p.attributes).map(([key, value]) => ({ key, value })),
    });
  }
}

/** Create the homes, genesis and keys, start the processes, wait until blocks are committed. */
export async function startDevnet(o: DevnetOptions): Promise<Devnet> {
  const say = (s: string) => {
    if (!o.quiet) console.log(s);
  };
  const layout = await createLayout(o, say);
  const { dir, n, providerNodes } = layout;
  const spawn = nodeSpawner(o, layout);
  const procs: Deno.ChildProcess[] = [];
  const nodes = await spawnValidators(o, layout, spawn, procs);
  const providers = await spawnProviders(o, layout, spawn, procs);
  nodes.push(...await spawnTwins(o, layout, spawn, procs));
  const info: DevnetInfo = {
    chainId: DEVNET_CHAIN_ID,
    home: layout.keys.cliHome,
    nodes,
    accounts: layout.keys.accounts,
    providers,
    ...(o.console ? { console: `http://127.0.0.1:${consolePort(o.basePort)}` } : {}),
  };
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await stopAll(procs, providers);
  };
  try {
    say(`devnet: starting ${n} validators in ${dir} ...`);
    await waitCommitting(nodes);
    // Provider nodes register themselves; wait for them. Without provider nodes, register the accounts
    // (their host: a validator) for hand-driven auctions.
    if (providerNodes > 0) {
      say(`devnet: waiting for ${providerNodes} provider nodes (${layout.driver} driver) to register ...`);
      await waitProvidersRegistered(info, providerNodes);
    } else {
      await registerProviderAccounts(info);
    }
    await attestProviders(info);
    if (info.console) await waitConsole(info.console);
  } catch (e) {
    await stop();
    throw new UserError(`${(e as Error).message}; see the logs in ${dir}/node*/node.log`);
  }
  await Deno.writeTextFile(join(dir, "devnet.json"), JSON.stringify(info, null, 2) + "\n");
  const kill = async (i: number, signal: Deno.Signal = "SIGKILL") => {
    try {
      procs[i]!.kill(signal);
    } catch { /* gone */ }
    await procs[i]!.status;
  };
  const respawn = async (i: number) => {
    const child = await spawn(i, true);
    procs[i] = child;
    const entry = i < n ? nodes[i] : i < n + providerNodes ? providers[i - n] : nodes[i - providerNodes];
    if (entry) entry.pid = child.pid;
    return child;
  };
  const restart = async (i: number) => {
    await kill(i, "SIGTERM");
    return await respawn(i);
  };
  return { info, procs, stop, kill, restart, respawn };
}

/** node0's console port: the one after its RPC port. */
export function consolePort(basePort: number): number {
  return nodePorts(basePort, 0).rpc + 1;
}

/** Waits (bounded) until the console answers: node0 builds the bundle first when it is missing. */
async function waitConsole(url: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  let last = "no answer";
  while (Date.now() < deadline) {
    try {
      const r = await fetch(`${url}/api/status`);
      await r.body?.cancel();
      if (r.ok) return;
      last = `HTTP ${r.status}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the console at ${url} did not answer within 120 s (${last})`);
}

/** `cirrus devnet`: start, print, run until a signal, stop. */
export async function runDevnet(o: DevnetOptions): Promise<void> {
  const net = await startDevnet(o);
  const { info } = net;
  const rel = (p: string) => p.startsWith(Deno.cwd() + "/") ? p.slice(Deno.cwd().length + 1) : p;
  console.log(`devnet: ${info.nodes.length} validators are committing blocks (chain ${info.chainId})`);
  for (const node of info.nodes) console.log(`  ${node.name}  rpc ${node.rpc}  p2p ${node.p2p}`);
  console.log(`  keys:   ${Object.entries(info.accounts).map(([k, v]) => `${k} ${v}`).join(", ")}`);
  for (const p of info.providers) {
    console.log(
      `  ${p.name}  ${p.address} (${p.attributes.region})` +
        (p.driver ? `  provider node, ${p.driver} driver, rpc ${p.rpc}` : "  account only"),
    );
  }
  console.log(
    `  info:   ${rel(join(resolve(o.dir), "devnet.json"))}   logs: ${rel(resolve(o.dir))}/node*/node.log`,
  );
  if (info.console) {
    console.log(`  console: ${info.console}   (the web console: deploy, watch the auction, explore)`);
  }
  console.log(`\ntry, from another shell:`);
  console.log(
    `  ./cirrus tx send alice ${info.accounts.bob} 1000 --home ${rel(info.home)} --node ${
      info.nodes[0]!.rpc
    }`,
  );
  console.log(
    `  ./cirrus query account ${info.accounts.bob} --node ${info.nodes[1]?.rpc ?? info.nodes[0]!.rpc}`,
  );
  if (info.providers.some((p) => p.driver)) {
    const hasPods = info.providers.some((p) => p.driver === "podman");
    console.log(
      `\ndeploy the example (${hasPods ? "a real container with podman" : "sim driver: no container runs"}):`,
    );
    console.log(
      `  ./cirrus deployment create examples/hello.yaml --deposit 5000000 --from alice --wait ` +
        `--home ${rel(info.home)} --node ${info.nodes[0]!.rpc}`,
    );
    if (hasPods) console.log(`  then: curl <the URL it prints>`);
  }
  console.log(`\nCtrl-C stops the network.`);
  const exits = net.procs.map((p, i) => p.status.then((s) => ({ i, s })));
  let done = false;
  const onSignal = () => {
    done = true;
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  let lastPrint = 0;
  let exited: { i: number; s: Deno.CommandStatus } | null = null;
  void Promise.race(exits).then((e) => {
    exited = e;
  });
  while (!done && !exited) {
    await new Promise((r) => setTimeout(r, 500));
    if (Date.now() - lastPrint > 10_000) {
      lastPrint = Date.now();
      try {
        const s = await (await fetch(`${info.nodes[0]!.rpc}/status`)).json() as {
          height: number;
          peers: number;
        };
        console.log(`devnet: height ${s.height}, node0 has ${s.peers} peers`);
      } catch { /* node busy */ }
    }
  }
  if (exited) {
    const e = exited as { i: number; s: Deno.CommandStatus };
    console.error(
      `devnet: node${e.i} exited (code ${e.s.code}); see ${info.nodes[e.i]!.home}/node.log. Stopping.`,
    );
  }
  console.log("devnet: stopping all nodes ...");
  await net.stop();
  console.log("devnet: stopped");
  Deno.exit(exited ? 1 : 0);
}
