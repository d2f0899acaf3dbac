/**
 * The files of a devnet, before any process runs: a home per validator and per provider node (ports
 * `basePort + 10 i` for p2p and `+1` for RPC), the CLI keystore with the funded keys (`alice`, `bob`,
 * `auditor`, `provider1..`, `bench0..`), one genesis written to every home, provider configs.
 * @module
 */
import { join } from "node:path";
import { initHome, loadHome, writeGenesis } from "../node/config.ts";
import { keyFileFromSeed, Keystore } from "../node/keystore.ts";
import { devnetGenesis } from "../node/ledger/devnet_genesis.ts";
import type { Genesis } from "../node/ledger/genesis.ts";
import { peerIdFromSeed } from "../node/p2p.ts";
import { toHex } from "../lib/crypto.ts";
import { UserError } from "./util.ts";

/** Chain id of every devnet. */
export const DEVNET_CHAIN_ID = "cirrus-devnet";
/** Balance of every funded devnet account, ucrs. */
const BALANCE = "1000000000000";

/** The p2p and RPC ports of devnet node i. */
export function nodePorts(basePort: number, i: number): { p2p: number; rpc: number } {
  return { p2p: basePort + 10 * i, rpc: basePort + 10 * i + 1 };
}

/** Throws a {@link UserError} when a port of the first `count` nodes is taken. */
export function assertPortsFree(basePort: number, count: number): void {
  for (let i = 0; i < count; i++) {
    const { p2p, rpc } = nodePorts(basePort, i);
    for (const port of [p2p, rpc]) {
      if (!portFree(port)) {
        throw new UserError(`devnet: port ${port} is in use (another devnet running? use --base-port)`);
      }
    }
  }
}

/** True when nothing listens on 127.0.0.1:`port`. */
export function portFree(port: number): boolean {
  try {
    const l = Deno.listen({ hostname: "127.0.0.1", port });
    l.close();
    return true;
  } catch {
    return false;
  }
}

/** Attributes of devnet provider j. */
export function providerAttributes(j: number): Record<string, string> {
  return { host: "akash", tier: "community", region: j % 2 === 0 ? "us-west" : "eu-central" };
}

/** The provider config of devnet provider j (prices differ so that auctions have a clear winner). */
export function providerYaml(name: string, j: number, driver: string): string {
  const factor = 1 + j * 0.5;
  const price = (x: number) => JSON.stringify(String(Number((x * factor).toPrecision(6))));
  return [
    `# devnet provider ${name}`,
    `key: ${name}`,
    `cluster:`,
    `  driver: ${driver}`,
    `  hostPorts: [${31000 + 1000 * j}, ${31999 + 1000 * j}]`,
    `  publicHost: 127.0.0.1`,
    driver === "sim"
      ? `capacity: {cpu: "8", memory: 16Gi, storage: {default: 200Gi, beta2: 100Gi, beta3: 100Gi}}`
      : `capacity: probe`,
    `storageClasses: [default, beta2, beta3] # persistent classes (podman: named volumes of the lease)`,
    `capacityCap: {cpu: "4", memory: 8Gi, storage: 50Gi}`,
    `attributes: ${JSON.stringify(providerAttributes(j))}`,
    `pricing:`,
    `  cpu: ${price(0.05)}`,
    `  memory: ${price(0.0001)}`,
    `  storage: {default: ${price(0.00005)}}`,
    `  gpu: {default: ${price(100)}}`,
    `workloadGraceSeconds: 20 # devnet: a workload that cannot start is closed soon (workload_failed)`,
    `manifestTimeoutBlocks: 300 # devnet: a lease whose manifest never comes is closed soon (manifest_timeout)`,
    `workloadCheckSeconds: 5`,
    ``,
  ].join("\n");
}

async function initNodeHome(dir: string, name: string, basePort: number, i: number): Promise<string> {
  const home = join(dir, name);
  const ports = nodePorts(basePort, i);
  await initHome({
    home,
    moniker: name,
    chainId: DEVNET_CHAIN_ID,
    p2pListen: `/ip4/127.0.0.1/tcp/${ports.p2p}`,
    rpcListen: `127.0.0.1:${ports.rpc}`,
  });
  return home;
}

/** The funded keys of a devnet, in the CLI's keystore. */
export interface DevnetKeys {
  cliHome: string;
  keystore: Keystore;
  /** alice, bob, auditor, provider1.. by name. */
  accounts: Record<string, string>;
  providerNames: string[];
  /** Load-test keys (written to `DIR/bench_keys.json`). */
  bench: { name: string; address: string; privKey: string }[];
}

/** Step: validator homes `DIR/node<i>`. */
export async function createValidatorHomes(
  dir: string,
  validators: number,
  basePort: number,
): Promise<string[]> {
  const homes: string[] = [];
  for (let i = 0; i < validators; i++) homes.push(await initNodeHome(dir, `node${i}`, basePort, i));
  return homes;
}

/** Step: the CLI keystore `DIR/cli` with every funded key. */
export async function createKeys(dir: string, providers: number, benchAccounts: number): Promise<DevnetKeys> {
  const cliHome = join(dir, "cli");
  const keystore = new Keystore(cliHome);
  const accounts: Record<string, string> = {};
  // `auditor` attests the providers' attributes (for placements with signedBy, as Akash's audit).
  for (const name of ["alice", "bob", "auditor"]) accounts[name] = (await keystore.add(name)).address;
  const providerNames = Array.from({ length: providers }, (_, i) => `provider${i + 1}`);
  for (const name of providerNames) accounts[name] = (await keystore.add(name)).address;
  const bench: DevnetKeys["bench"] = [];
  for (let i = 0; i < benchAccounts; i++) {
    const k = await keystore.add(`bench${i}`);
    bench.push({ name: k.name, address: k.address, privKey: toHex(k.privKey) });
  }
  if (bench.length > 0) await Deno.writeTextFile(join(dir, "bench_keys.json"), JSON.stringify(bench));
  return { cliHome, keystore, accounts, providerNames, bench };
}

/**
 * A devnet at rest makes one empty block every this many ms (issue 9, part 5); txs, open bid windows
 * and paying leases keep the normal cadence. Override with `consensusParams`.
 */
export const DEVNET_EMPTY_BLOCKS_INTERVAL_MS = 30_000;

/** Step: the genesis (validators of `homes`, every key funded), written to every home. */
export async function writeDevnetGenesis(
  homes: readonly string[],
  keys: DevnetKeys,
  overrides: {
    consensus?: Partial<Genesis["params"]["consensus"]>;
    market?: Partial<Genesis["params"]["market"]>;
  },
): Promise<Genesis> {
  const validators = [];
  for (const [i, home] of homes.entries()) {
    const h = await loadHome(home);
    validators.push({ name: `node${i}`, address: h.validatorKey.address, pubKey: h.validatorKey.pubKey });
  }
  const genesis = devnetGenesis({
    chainId: DEVNET_CHAIN_ID,
    genesisTime: new Date().toISOString(),
    validators,
    accounts: [
      ...Object.entries(keys.accounts).map(([name, address]) => ({ name, address, balance: BALANCE })),
      ...keys.bench.map((b) => ({ name: b.name, address: b.address, balance: BALANCE })),
    ],
    validatorBalance: BALANCE,
    consensus: { createEmptyBlocksIntervalMs: DEVNET_EMPTY_BLOCKS_INTERVAL_MS, ...overrides.consensus },
    ...(overrides.market ? { market: overrides.market } : {}),
  });
  for (const home of homes) await writeGenesis(home, genesis);
  return genesis;
}

/**
 * Step: provider node homes `DIR/provider<j>` (node index `validators + j`): the genesis, the
 * provider's key and `provider.yaml` for `driver`.
 */
export async function createProviderHomes(
  o: { dir: string; validators: number; basePort: number; count: number; driver: string },
  keys: DevnetKeys,
  genesis: Genesis,
): Promise<string[]> {
  const homes: string[] = [];
  for (let j = 0; j < o.count; j++) {
    const name = keys.providerNames[j]!;
    const home = await initNodeHome(o.dir, name, o.basePort, o.validators + j);
    await writeGenesis(home, genesis);
    await new Keystore(home).save(keyFileFromSeed(name, (await keys.keystore.get(name)).privKey));
    await Deno.writeTextFile(join(home, "provider.yaml"), providerYaml(name, j, o.driver));
    homes.push(home);
  }
  return homes;
}

/** The libp2p peer id of the node at `home`. */
export async function peerIdOf(home: string): Promise<string> {
  const loaded = await loadHome(home);
  return await peerIdFromSeed(loaded.nodeKey.privKey);
}
