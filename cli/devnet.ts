/**
 * `cirrus devnet`: a fresh local network of N validator processes on loopback, with a shared genesis
 * and funded keys (`alice`, `bob`, and `bench0..` for load tests). Writes `DIR/devnet.json`, prints
 * the RPC URLs and an example, runs until Ctrl-C / SIGTERM, then stops every process it started.
 * @module
 */
import { join, resolve } from "node:path";
import { initHome, loadHome, writeGenesis } from "../node/config.ts";
import { keyFileFromSeed, Keystore } from "../node/keystore.ts";
import { ensureBusyboxImage, podmanAvailable, PodmanDriver } from "../provider/cluster/podman.ts";
import { defaultParams, type Genesis } from "../node/ledger/genesis.ts";
import { toHex } from "../lib/crypto.ts";
import { peerIdFromSeed } from "../node/p2p.ts";
import { sendTx, UserError } from "./util.ts";
import type { Misbehaviour } from "../node/misbehave.ts";

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

export const DEVNET_CHAIN_ID = "cirrus-devnet";
const BALANCE = "1000000000000";

function portFree(port: number): boolean {
  try {
    const l = Deno.listen({ hostname: "127.0.0.1", port });
    l.close();
    return true;
  } catch {
    return false;
  }
}

async function peerIdOf(home: string): Promise<string> {
  const loaded = await loadHome(home);
  return await peerIdFromSeed(loaded.nodeKey.privKey);
}

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

/** Attributes of devnet provider j. */
function providerAttributes(j: number): Record<string, string> {
  return { host: "akash", tier: "community", region: j % 2 === 0 ? "us-west" : "eu-central" };
}

/** The provider config of devnet provider j (prices differ so that auctions have a clear winner). */
function providerYaml(name: string, j: number, driver: string): string {
  const factor = 1 + j * 0.5;
  const price = (x: number) => JSON.stringify(String(Number((x * factor).toPrecision(6))));
  return [
    `# devnet provider ${name}`,
    `key: ${name}`,
    `cluster:`,
    `  driver: ${driver}`,
    `  hostPorts: [${31000 + 1000 * j}, ${31999 + 1000 * j}]`,
    `  publicHost: 127.0.0.1`,
    driver === "sim" ? `capacity: {cpu: "8", memory: 16Gi, storage: 200Gi}` : `capacity: probe`,
    `capacityCap: {cpu: "4", memory: 8Gi, storage: 50Gi}`,
    `attributes: ${JSON.stringify(providerAttributes(j))}`,
    `pricing:`,
    `  cpu: ${price(0.05)}`,
    `  memory: ${price(0.0001)}`,
    `  storage: {default: ${price(0.00005)}}`,
    `  gpu: {default: ${price(100)}}`,
    ``,
  ].join("\n");
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

/** Create the homes, genesis and keys, start the processes, wait until blocks are committed. */
export async function startDevnet(o: DevnetOptions): Promise<Devnet> {
  const say = (s: string) => {
    if (!o.quiet) console.log(s);
  };
  const n = o.validators;
  const misbehave = o.misbehave ?? new Map<string, Misbehaviour[]>();
  for (const name of misbehave.keys()) {
    if (!/^node\d+$/.test(name) || Number(name.slice(4)) >= n) {
      throw new UserError(`--misbehave: no validator "${name}" (node0..node${n - 1})`);
    }
  }
  const dir = resolve(o.dir);
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(dir, { recursive: true });
  const providerCount = o.providers ?? 2;
  const providerNodes = o.providerNodes !== false ? providerCount : 0;
  for (let i = 0; i < n + providerNodes; i++) {
    for (const port of [o.basePort + 10 * i, o.basePort + 10 * i + 1]) {
      if (!portFree(port)) {
        throw new UserError(`devnet: port ${port} is in use (another devnet running? use --base-port)`);
      }
    }
  }
  // Homes and keys.
  const homes: string[] = [];
  for (let i = 0; i < n; i++) {
    const home = join(dir, `node${i}`);
    await initHome({
      home,
      moniker: `node${i}`,
      chainId: DEVNET_CHAIN_ID,
      p2pListen: `/ip4/127.0.0.1/tcp/${o.basePort + 10 * i}`,
      rpcListen: `127.0.0.1:${o.basePort + 10 * i + 1}`,
    });
    homes.push(home);
  }
  const cliHome = join(dir, "cli");
  const ks = new Keystore(cliHome);
  const accounts: Record<string, string> = {};
  // `auditor` attests the providers' attributes (for placements with signedBy, as Akash's audit).
  for (const name of ["alice", "bob", "auditor"]) accounts[name] = (await ks.add(name)).address;
  const providerNames = Array.from({ length: providerCount }, (_, i) => `provider${i + 1}`);
  for (const name of providerNames) accounts[name] = (await ks.add(name)).address;
  const bench: { name: string; address: string; privKey: string }[] = [];
  for (let i = 0; i < o.accounts; i++) {
    const k = await ks.add(`bench${i}`);
    bench.push({ name: k.name, address: k.address, privKey: toHex(k.privKey) });
  }
  // Genesis shared by all.
  const validators: Genesis["validators"] = [];
  const vAccounts: Genesis["accounts"] = [];
  for (let i = 0; i < n; i++) {
    const h = await loadHome(homes[i]!);
    validators.push({
      name: `node${i}`,
      address: h.validatorKey.address,
      pubKey: toHex(h.validatorKey.pubKey),
      power: "10",
    });
    vAccounts.push({ name: `node${i}`, address: h.validatorKey.address, balance: BALANCE });
  }
  const params = defaultParams();
  Object.assign(params.consensus, o.consensusParams ?? {});
  if (params.market) Object.assign(params.market, o.marketParams ?? {});
  const genesis: Genesis = {
    chainId: DEVNET_CHAIN_ID,
    genesisTime: new Date().toISOString(),
    validators,
    accounts: [
      ...Object.entries(accounts).map(([name, address]) => ({ name, address, balance: BALANCE })),
      ...bench.map((b) => ({ name: b.name, address: b.address, balance: BALANCE })),
      ...vAccounts,
    ],
    params,
  };
  const peerIds: string[] = [];
  for (const home of homes) {
    await writeGenesis(home, genesis);
    peerIds.push(await peerIdOf(home));
  }
  if (bench.length > 0) await Deno.writeTextFile(join(dir, "bench_keys.json"), JSON.stringify(bench));
  // Misbehaving validators (test only; a devnet is a test chain). `duplicate-key` is a second process
  // with a copy of the validator's key (its "twin", started after the providers).
  const twinOf = [...misbehave].filter(([, k]) => k.includes("duplicate-key")).map(([name]) =>
    Number(name.slice(4))
  );
  // Provider nodes: full nodes (not validators) with the provider role and their own key.
  const driver = providerNodes > 0 ? (o.driver ?? await pickDriver(say)) : "sim";
  for (let j = 0; j < providerNodes; j++) {
    const name = providerNames[j]!;
    const i = n + j;
    const home = join(dir, name);
    await initHome({
      home,
      moniker: name,
      chainId: DEVNET_CHAIN_ID,
      p2pListen: `/ip4/127.0.0.1/tcp/${o.basePort + 10 * i}`,
      rpcListen: `127.0.0.1:${o.basePort + 10 * i + 1}`,
    });
    await writeGenesis(home, genesis);
    await new Keystore(home).save(keyFileFromSeed(name, (await ks.get(name)).privKey));
    await Deno.writeTextFile(join(home, "provider.yaml"), providerYaml(name, j, driver));
    homes.push(home);
    peerIds.push(await peerIdOf(home));
  }
  // Processes: each bootstraps from all the others.
  const main = new URL("./main.ts", import.meta.url).pathname;
  const config = new URL("../deno.json", import.meta.url).pathname;
  const procs: Deno.ChildProcess[] = [];
  const nodes: DevnetInfo["nodes"] = [];
  const spawnNode = async (i: number, append: boolean): Promise<Deno.ChildProcess> => {
    // Everyone bootstraps from the validators (and validators from each other).
    const bootstrap = peerIds.slice(0, n).flatMap((id, j) =>
      j === i ? [] : ["--bootstrap", `/ip4/127.0.0.1/tcp/${o.basePort + 10 * j}/p2p/${id}`]
    );
    const twin = i >= n + providerNodes ? twinOf[i - n - providerNodes]! : null;
    const kinds = (misbehave.get(`node${twin ?? i}`) ?? []).filter((k) => k !== "duplicate-key");
    const role = i < n || twin !== null
      ? ["--validator", ...(kinds.length > 0 ? ["--misbehave", kinds.join(",")] : [])]
      : ["--provider", "--provider-config", join(homes[i]!, "provider.yaml")];
    return await spawnToLog(
      Deno.execPath(),
      [
        "run",
        "-A",
        // For profiling: CIRRUS_INSPECT_NODE=i opens the V8 inspector of node i on 127.0.0.1:9229.
        ...(Deno.env.get("CIRRUS_INSPECT_NODE") === String(i) ? ["--inspect=127.0.0.1:9229"] : []),
        "--config",
        config,
        main,
        "node",
        "start",
        "--home",
        homes[i]!,
        ...role,
        ...bootstrap,
      ],
      join(homes[i]!, "node.log"),
      append,
    );
  };
  for (let i = 0; i < n; i++) {
    const p2p = `/ip4/127.0.0.1/tcp/${o.basePort + 10 * i}/p2p/${peerIds[i]}`;
    const child = await spawnNode(i, false);
    procs.push(child);
    const h = await loadHome(homes[i]!);
    nodes.push({
      name: `node${i}`,
      rpc: `http://127.0.0.1:${o.basePort + 10 * i + 1}`,
      p2p,
      home: homes[i]!,
      pid: child.pid,
      validator: h.validatorKey.address,
    });
  }
  const providers: DevnetInfo["providers"] = providerNames.map((name, j) => ({
    name,
    address: accounts[name]!,
    attributes: providerAttributes(j),
  }));
  for (let j = 0; j < providerNodes; j++) {
    const i = n + j;
    const child = await spawnNode(i, false);
    procs.push(child);
    Object.assign(providers[j]!, {
      rpc: `http://127.0.0.1:${o.basePort + 10 * i + 1}`,
      p2p: `/ip4/127.0.0.1/tcp/${o.basePort + 10 * i}/p2p/${peerIds[i]}`,
      home: homes[i]!,
      pid: child.pid,
      driver,
    });
  }
  for (const [k, v] of twinOf.entries()) {
    const i = n + providerNodes + k;
    const home = join(dir, `node${v}-twin`);
    await initHome({
      home,
      moniker: `node${v}-twin`,
      chainId: DEVNET_CHAIN_ID,
      p2pListen: `/ip4/127.0.0.1/tcp/${o.basePort + 10 * i}`,
      rpcListen: `127.0.0.1:${o.basePort + 10 * i + 1}`,
    });
    await writeGenesis(home, genesis);
    await Deno.copyFile(join(homes[v]!, "priv_validator_key.json"), join(home, "priv_validator_key.json"));
    homes.push(home);
    peerIds.push(await peerIdOf(home));
    const child = await spawnNode(i, false);
    procs.push(child);
    nodes.push({
      name: `node${v}-twin`,
      rpc: `http://127.0.0.1:${o.basePort + 10 * i + 1}`,
      p2p: `/ip4/127.0.0.1/tcp/${o.basePort + 10 * i}/p2p/${peerIds[i]}`,
      home,
      pid: child.pid,
      validator: nodes[v]!.validator,
    });
  }
  const info: DevnetInfo = { chainId: DEVNET_CHAIN_ID, home: cliHome, nodes, accounts, providers };
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
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
    // The containers of a devnet's leases go with it.
    for (const p of providers) {
      if (p.driver !== "podman" || !p.home) continue;
      const d = new PodmanDriver({ stateDir: join(p.home, "provider", "podman") });
      for (const id of await d.list().catch(() => [] as string[])) await d.teardown(id).catch(() => {});
    }
  };
  try {
    say(`devnet: starting ${n} validators in ${dir} ...`);
    await waitFor("every node answering and committing a block", 60_000, async () => {
      for (const node of nodes) {
        const s = await (await fetch(`${node.rpc}/status`)).json() as { height: number };
        if (s.height < 1) return null;
      }
      return true;
    });
    // Provider nodes register themselves; wait for them. Without provider nodes, register the accounts
    // (their host: a validator) for hand-driven auctions.
    if (providerNodes > 0) {
      say(`devnet: waiting for ${providerNodes} provider nodes (${driver} driver) to register ...`);
      await waitFor("every provider node registering on chain", 90_000, async () => {
        const r = await (await fetch(`${nodes[0]!.rpc}/query/providers`)).json() as {
          providers: { owner: string }[];
        };
        const have = new Set(r.providers.map((p) => p.owner));
        return providers.slice(0, providerNodes).every((p) => have.has(p.address)) ? true : null;
      });
    }
    for (const [i, p] of (providerNodes > 0 ? [] : providers).entries()) {
      const node = nodes[i % nodes.length]!;
      await sendTx({ node: node.rpc, home: cliHome, output: "text" }, p.name, "provider.create", {
        hostUri: [node.p2p],
        attributes: Object.entries(p.attributes).map(([key, value]) => ({ key, value })),
        info: { website: "https://cirrus.invalid/devnet" },
      });
    }
    // The auditor attests every provider's attributes.
    for (const p of providers) {
      await sendTx({ node: nodes[0]!.rpc, home: cliHome, output: "text" }, "auditor", "audit.attest", {
        provider: p.address,
        attributes: Object.entries(p.attributes).map(([key, value]) => ({ key, value })),
      });
    }
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
    const child = await spawnNode(i, true);
    procs[i] = child;
    const entry = i < n ? nodes[i] : providers[i - n];
    if (entry) entry.pid = child.pid;
    return child;
  };
  const restart = async (i: number) => {
    await kill(i, "SIGTERM");
    return await respawn(i);
  };
  return { info, procs, stop, kill, restart, respawn };
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
