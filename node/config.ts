/**
 * A node's home directory: config, genesis, validator key, p2p key and data.
 *
 * ```
 * <home>/config.json              moniker, chain id, listen addresses, bootstrap peers, peer limits
 * <home>/genesis.json             the chain's genesis
 * <home>/priv_validator_key.json  the consensus key (mode 0600)
 * <home>/node_key.json            the libp2p identity (mode 0600)
 * <home>/data/ledger/             LevelDB: blocks, commits, state, tx index
 * <home>/data/cs.wal              consensus write-ahead log
 * <home>/data/priv_validator_state.json  last signed height/round/step
 * <home>/data/peers.json         peers this node was connected to (node/p2p_peer_file.ts)
 * <home>/keys/                    the CLI keystore
 * ```
 * @module
 */
import { join } from "node:path";
import { addressOf, fromHex, generatePrivateKey, publicKeyOf, sha256, toHex } from "../lib/crypto.ts";
import { defaultParams, type Genesis, validateGenesis } from "./ledger/genesis.ts";

/** What `config.json` holds. */
export interface NodeConfig {
  moniker: string;
  chainId: string;
  p2pListen: string;
  rpcListen: string;
  bootstrap: string[];
  /** Most peers connected at once (optional; default {@link PEERS_MAX_DEFAULT}). */
  peersMax?: number;
  /** Most connections from one IP address (optional; default {@link CONNECTIONS_PER_IP_MAX_DEFAULT}). */
  connectionsPerIpMax?: number;
}

/** Default of `peersMax`: the libp2p connection manager's cap. */
export const PEERS_MAX_DEFAULT = 64;
/**
 * Default of `connectionsPerIpMax`. Loopback addresses are exempt (a devnet runs every node on
 * 127.0.0.1); see `node/p2p_gater.ts`.
 */
export { CONNECTIONS_PER_IP_MAX_DEFAULT } from "./p2p_gater.ts";

/**
 * The genesis hash: sha256 of the exact bytes of `genesis.json`, in hex. Two nodes on one chain have
 * the same file; `node init --join` prints it and checks it against `--genesis-hash`.
 */
export function genesisHash(bytes: Uint8Array): string {
  return toHex(sha256(bytes));
}

/** A configuration problem a user can fix. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Paths inside a home directory. */
export function homePaths(home: string) {
  return {
    config: join(home, "config.json"),
    genesis: join(home, "genesis.json"),
    validatorKey: join(home, "priv_validator_key.json"),
    nodeKey: join(home, "node_key.json"),
    data: join(home, "data"),
    ledger: join(home, "data", "ledger"),
    wal: join(home, "data", "cs.wal"),
    signerState: join(home, "data", "priv_validator_state.json"),
  };
}

/** The default home: `$CIRRUS_HOME` or `~/.cirrus`. */
export function defaultHome(): string {
  return Deno.env.get("CIRRUS_HOME") ?? join(Deno.env.get("HOME") ?? ".", ".cirrus");
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

async function writeSecret(path: string, value: unknown): Promise<void> {
  await Deno.writeTextFile(path, JSON.stringify(value, null, 2) + "\n", { mode: 0o600 });
  await Deno.chmod(path, 0o600);
}

/** A 32-byte ed25519 seed stored as `{address, pubKey, privKey}`. */
export interface SeedKey {
  address: string;
  pubKey: Uint8Array;
  privKey: Uint8Array;
}

async function readSeedKey(path: string): Promise<SeedKey> {
  let raw: { privKey?: unknown };
  try {
    raw = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw new ConfigError(`Cannot read ${path}: ${(e as Error).message}`);
  }
  if (typeof raw.privKey !== "string" || !/^[0-9a-f]{64}$/.test(raw.privKey)) {
    throw new ConfigError(`Cannot read ${path}: privKey must be 64 lowercase hex characters`);
  }
  const privKey = fromHex(raw.privKey);
  const pubKey = publicKeyOf(privKey);
  return { address: addressOf(pubKey), pubKey, privKey };
}

function seedKeyJson(seed: Uint8Array) {
  const pub = publicKeyOf(seed);
  return { type: "ed25519", address: addressOf(pub), pubKey: toHex(pub), privKey: toHex(seed) };
}

/** Options of `node init`. */
export interface InitOptions {
  home: string;
  moniker: string;
  chainId?: string;
  p2pListen?: string;
  rpcListen?: string;
  bootstrap?: string[];
  /** Overwrite an existing config (keys are kept). */
  force?: boolean;
  /** The exact bytes of a fetched `genesis.json` (`node init --join`): written as they are, always. */
  genesisBytes?: Uint8Array;
  peersMax?: number;
  connectionsPerIpMax?: number;
}

/**
 * Create a home directory: keys, config and a one-validator genesis (this node, with its validator
 * account funded) unless a genesis is already there. Refuses an already initialised home unless `force`.
 */
export async function initHome(opts: InitOptions): Promise<{ config: NodeConfig; validatorAddress: string }> {
  const p = homePaths(opts.home);
  if (!opts.force && await exists(p.config)) {
    throw new ConfigError(`${opts.home} is already initialised (config.json exists); use another --home`);
  }
  await Deno.mkdir(p.data, { recursive: true, mode: 0o700 });
  if (!await exists(p.validatorKey)) await writeSecret(p.validatorKey, seedKeyJson(generatePrivateKey()));
  if (!await exists(p.nodeKey)) await writeSecret(p.nodeKey, seedKeyJson(generatePrivateKey()));
  const val = await readSeedKey(p.validatorKey);
  const chainId = opts.chainId ?? "cirrus-local";
  const config: NodeConfig = {
    moniker: opts.moniker,
    chainId,
    p2pListen: opts.p2pListen ?? "/ip4/127.0.0.1/tcp/26656",
    rpcListen: opts.rpcListen ?? "127.0.0.1:26657",
    bootstrap: opts.bootstrap ?? [],
    ...(opts.peersMax !== undefined ? { peersMax: opts.peersMax } : {}),
    ...(opts.connectionsPerIpMax !== undefined ? { connectionsPerIpMax: opts.connectionsPerIpMax } : {}),
  };
  await Deno.writeTextFile(p.config, JSON.stringify(config, null, 2) + "\n");
  if (opts.genesisBytes !== undefined) {
    await Deno.writeFile(p.genesis, opts.genesisBytes);
  } else if (!await exists(p.genesis)) {
    const genesis: Genesis = {
      chainId,
      genesisTime: new Date().toISOString(),
      validators: [{ name: opts.moniker, address: val.address, pubKey: toHex(val.pubKey), power: "10" }],
      accounts: [{ name: opts.moniker, address: val.address, balance: "1000000000000" }],
      params: defaultParams(),
    };
    await writeGenesis(opts.home, genesis);
  }
  return { config, validatorAddress: val.address };
}

/** Write `genesis.json` into a home. */
export async function writeGenesis(home: string, genesis: Genesis): Promise<void> {
  await Deno.writeTextFile(homePaths(home).genesis, JSON.stringify(genesis, null, 2) + "\n");
}

/** Everything a node needs from its home. */
export interface LoadedHome {
  home: string;
  config: NodeConfig;
  genesis: Genesis;
  /** The exact bytes of `genesis.json` (served by `GET /genesis`; their sha256 is the genesis hash). */
  genesisBytes?: Uint8Array;
  validatorKey: SeedKey;
  nodeKey: SeedKey;
}

/** Load and check a home directory; errors name the file and what is wrong. */
export async function loadHome(home: string): Promise<LoadedHome> {
  const p = homePaths(home);
  if (!await exists(p.config)) {
    throw new ConfigError(
      `${home} is not initialised: run \`cirrus node init --home ${home} --moniker NAME\``,
    );
  }
  let config: NodeConfig;
  try {
    config = JSON.parse(await Deno.readTextFile(p.config));
  } catch (e) {
    throw new ConfigError(`Cannot read ${p.config}: ${(e as Error).message}`);
  }
  for (const f of ["moniker", "chainId", "p2pListen", "rpcListen"] as const) {
    if (typeof config[f] !== "string") throw new ConfigError(`${p.config}: ${f} must be a string`);
  }
  if (!Array.isArray(config.bootstrap)) config.bootstrap = [];
  for (const f of ["peersMax", "connectionsPerIpMax"] as const) {
    const v = config[f];
    if (v !== undefined && (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1)) {
      throw new ConfigError(`${p.config}: ${f} must be a positive integer`);
    }
  }
  let genesis: Genesis;
  let genesisBytes: Uint8Array;
  try {
    genesisBytes = await Deno.readFile(p.genesis);
    genesis = validateGenesis(JSON.parse(new TextDecoder().decode(genesisBytes)));
  } catch (e) {
    throw new ConfigError(`Invalid genesis ${p.genesis}: ${(e as Error).message}`);
  }
  if (genesis.chainId !== config.chainId) {
    throw new ConfigError(
      `${p.config}: chainId ${config.chainId} differs from genesis chainId ${genesis.chainId}`,
    );
  }
  return {
    home,
    config,
    genesis,
    genesisBytes,
    validatorKey: await readSeedKey(p.validatorKey),
    nodeKey: await readSeedKey(p.nodeKey),
  };
}
