/**
 * Genesis file: the chain id, start time, initial validators and balances, and parameters.
 * `validateGenesis` checks untrusted JSON and throws a {@link GenesisError} naming the bad path.
 * @module
 */
import { addressOf, fromHex, isAddress, isHex, isValidPublicKey } from "../../lib/crypto.ts";
import { exactKeysProblem, isPlainObject } from "../../lib/cbor.ts";
import { AMOUNT_MAX, DENOM, parseUint } from "../../lib/units.ts";
import { defaultMarketParams, type MarketParams } from "../../auction/market/types.ts";
import { BLOCK_BYTES_MAX, BLOCK_TXS_MAX, blockOverheadBytesMax, TX_BYTES_MAX } from "./limits.ts";
import { defaultStakingParams, type StakingParams, validateStakingParams } from "./staking_params.ts";

/** Consensus timing and block limits. */
export interface ConsensusParams {
  timeoutProposeMs: number;
  timeoutPrevoteMs: number;
  timeoutPrecommitMs: number;
  /** Added per round to each timeout. */
  timeoutDeltaMs: number;
  timeoutCommitMs: number;
  /** Most txs in a block, at most {@link BLOCK_TXS_MAX}. */
  maxBlockTxs: number;
  /** Largest encoded block (header, txs, last commit), at most {@link BLOCK_BYTES_MAX}. */
  maxBlockBytes: number;
  /**
   * A node at rest: when a height has nothing to do (no tx in the mempool, no ledger work scheduled,
   * see `LedgerModule.scheduledWork`), the next height starts only when a tx or a peer's message for
   * it arrives, or this many ms after the last commit (an empty block). Absent or 0: every height
   * starts `timeoutCommitMs` after the last (the old behaviour, an empty block each time).
   */
  createEmptyBlocksIntervalMs?: number;
}

/** Ledger and mempool parameters. */
export interface LedgerParams {
  denom: typeof DENOM;
  /** Minimum fee per tx, decimal string. */
  minFee: string;
  /** Largest signed tx, at most {@link TX_BYTES_MAX}; one such tx must fit in a block. */
  maxTxBytes: number;
  mempoolMaxTxs: number;
  mempoolMaxBytes: number;
}

/** All chain parameters. */
export interface Params {
  consensus: ConsensusParams;
  ledger: LedgerParams;
  /** Marketplace params (auction/market): denoms, bid window, bid limits, minimum deposits. */
  market: MarketParams;
  /** Staking params (validator set, bonds, rewards, slashing, evidence): see staking_params.ts. */
  staking: StakingParams;
}

/** A genesis validator; `address` must equal addressOf(pubKey). */
export interface GenesisValidator {
  name?: string;
  address: string;
  /** hex of the 32-byte ed25519 public key. */
  pubKey: string;
  /** Voting power, positive decimal string. */
  power: string;
}

/** A genesis account balance. */
export interface GenesisAccount {
  name?: string;
  address: string;
  /** decimal string, ucrs. */
  balance: string;
}

/** The genesis document. */
export interface Genesis {
  chainId: string;
  /** ISO 8601 time, e.g. "2026-11-25T00:00:00.000Z". */
  genesisTime: string;
  validators: GenesisValidator[];
  accounts: GenesisAccount[];
  params: Params;
}

/** Invalid genesis; the message names the path, e.g. `genesis.accounts[1].balance: ...`. */
export class GenesisError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GenesisError";
  }
}

/** Devnet defaults. */
export function defaultParams(): Params {
  return {
    consensus: {
      timeoutProposeMs: 1000,
      timeoutPrevoteMs: 500,
      timeoutPrecommitMs: 500,
      timeoutDeltaMs: 250,
      timeoutCommitMs: 50,
      maxBlockTxs: 2000,
      maxBlockBytes: BLOCK_BYTES_MAX,
    },
    ledger: {
      denom: DENOM,
      minFee: "1",
      maxTxBytes: 16384,
      mempoolMaxTxs: 50_000,
      mempoolMaxBytes: 64 * 1024 * 1024,
    },
    market: defaultMarketParams(),
    staking: defaultStakingParams(),
  };
}

function fail(path: string, what: string): never {
  throw new GenesisError(`${path}: ${what}`);
}

function intIn(v: unknown, path: string, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max) {
    fail(path, `must be an integer in [${min}, ${max}]`);
  }
  return v;
}

function uintStr(v: unknown, path: string, positive: boolean): string {
  const n = parseUint(v);
  if (n === null) fail(path, "must be a non-negative integer string");
  if (positive && n === 0n) fail(path, "must be positive");
  return v as string;
}

function optName(v: unknown, path: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "string" || v.length > 64) fail(path, "must be a string of at most 64 characters");
  return v;
}

/** Longest wait for an empty block at rest (one day): a chain at rest still proves it is alive. */
export const CREATE_EMPTY_BLOCKS_INTERVAL_MS_MAX = 86_400_000;

const CONSENSUS_LIMITS: Record<keyof ConsensusParams, [number, number]> = {
  timeoutProposeMs: [1, 600_000],
  timeoutPrevoteMs: [1, 600_000],
  timeoutPrecommitMs: [1, 600_000],
  timeoutDeltaMs: [0, 600_000],
  timeoutCommitMs: [0, 600_000],
  maxBlockTxs: [1, BLOCK_TXS_MAX],
  maxBlockBytes: [1024, BLOCK_BYTES_MAX],
  createEmptyBlocksIntervalMs: [0, CREATE_EMPTY_BLOCKS_INTERVAL_MS_MAX],
};

function validateParams(v: unknown, path: string): Params {
  const out = defaultParams();
  if (v === undefined) return out;
  if (!isPlainObject(v)) fail(path, "must be an object");
  for (const k of Object.keys(v)) {
    if (k !== "consensus" && k !== "ledger" && k !== "market" && k !== "staking") {
      fail(`${path}.${k}`, "unknown field");
    }
  }
  if (v.consensus !== undefined) {
    const c = v.consensus;
    if (!isPlainObject(c)) fail(`${path}.consensus`, "must be an object");
    for (const k of Object.keys(c)) {
      const lim = Object.hasOwn(CONSENSUS_LIMITS, k) ? CONSENSUS_LIMITS[k as keyof ConsensusParams] : null;
      if (!lim) fail(`${path}.consensus.${k}`, "unknown field");
      out.consensus[k as keyof ConsensusParams] = intIn(c[k], `${path}.consensus.${k}`, lim[0], lim[1]);
    }
  }
  if (v.ledger !== undefined) {
    const l = v.ledger;
    if (!isPlainObject(l)) fail(`${path}.ledger`, "must be an object");
    for (const k of Object.keys(l)) {
      const p = `${path}.ledger.${k}`;
      switch (k) {
        case "denom":
          if (l.denom !== DENOM) fail(p, `must be "${DENOM}"`);
          break;
        case "minFee":
          out.ledger.minFee = uintStr(l.minFee, p, false);
          break;
        case "maxTxBytes":
          out.ledger.maxTxBytes = intIn(l.maxTxBytes, p, 256, TX_BYTES_MAX);
          break;
        case "mempoolMaxTxs":
          out.ledger.mempoolMaxTxs = intIn(l.mempoolMaxTxs, p, 1, 10_000_000);
          break;
        case "mempoolMaxBytes":
          out.ledger.mempoolMaxBytes = intIn(l.mempoolMaxBytes, p, 1024, 16 * 1024 * 1024 * 1024);
          break;
        default:
          fail(p, "unknown field");
      }
    }
  }
  if (v.market !== undefined) out.market = validateMarketParams(v.market, `${path}.market`, out.ledger.denom);
  if (v.staking !== undefined) out.staking = validateStakingParams(v.staking, `${path}.staking`, fail);
  return out;
}

const MARKET_LIMITS = {
  bidWindowBlocks: [1, 100_000],
  bidsPerOrderMax: [1, 1000],
  groupsPerDeploymentMax: [1, 20],
  escrowLowBlocks: [0, 100_000_000],
} as const;

function validateMarketParams(m: unknown, path: string, baseDenom: string): MarketParams {
  const out = defaultMarketParams();
  if (!isPlainObject(m)) fail(path, "must be an object");
  for (const k of Object.keys(m)) {
    const p = `${path}.${k}`;
    switch (k) {
      case "denoms": {
        const d = m.denoms;
        if (
          !Array.isArray(d) || d.length === 0 || d.length > 16 ||
          !d.every((x) => typeof x === "string" && /^[a-zA-Z][a-zA-Z0-9/:._-]{2,127}$/.test(x)) ||
          new Set(d).size !== d.length
        ) {
          fail(p, "must be a non-empty array of distinct denoms");
        }
        if (!(d as string[]).includes(baseDenom)) fail(p, `must include the base denom ${baseDenom}`);
        out.denoms = [...(d as string[])];
        break;
      }
      case "minDeposit":
      case "bidDeposit":
        out[k] = uintStr(m[k], p, false);
        break;
      case "bidWindowBlocks":
      case "bidsPerOrderMax":
      case "groupsPerDeploymentMax":
      case "escrowLowBlocks":
        out[k] = intIn(m[k], p, MARKET_LIMITS[k][0], MARKET_LIMITS[k][1]);
        break;
      default:
        fail(p, "unknown field");
    }
  }
  return out;
}

/**
 * The total supply a (validated) genesis starts with: the account balances plus the genesis
 * validators' bonds (power x `params.staking.powerReduction`, minted by the staking module).
 */
export function genesisSupply(g: Genesis): bigint {
  const reduction = BigInt(g.params.staking.powerReduction);
  const bonds = g.validators.reduce((sum, v) => sum + BigInt(v.power) * reduction, 0n);
  return g.accounts.reduce((sum, a) => sum + BigInt(a.balance), bonds);
}

/**
 * Validates untrusted genesis JSON (already parsed) and returns a typed copy. Missing `params` fields
 * take their {@link defaultParams} values; unknown fields anywhere are errors. Throws {@link GenesisError}.
 */
export function validateGenesis(json: unknown): Genesis {
  const g = "genesis";
  if (!isPlainObject(json)) fail(g, "must be an object");
  const known = ["chainId", "genesisTime", "validators", "accounts", "params"];
  for (const k of Object.keys(json)) if (!known.includes(k)) fail(`${g}.${k}`, "unknown field");
  const { chainId, genesisTime, validators, accounts } = json;
  if (typeof chainId !== "string" || !/^[a-z0-9][a-z0-9._-]{0,63}$/.test(chainId)) {
    fail(`${g}.chainId`, "must be 1-64 characters of [a-z0-9._-]");
  }
  if (
    typeof genesisTime !== "string" || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(genesisTime) ||
    Number.isNaN(Date.parse(genesisTime))
  ) {
    fail(`${g}.genesisTime`, "must be an ISO 8601 UTC time like 2026-01-01T00:00:00Z");
  }
  if (!Array.isArray(validators) || validators.length === 0) {
    fail(`${g}.validators`, "must be a non-empty array");
  }
  const seen = new Set<string>();
  const vals: GenesisValidator[] = validators.map((v, i) => {
    const p = `${g}.validators[${i}]`;
    if (!isPlainObject(v)) fail(p, "must be an object");
    for (const k of Object.keys(v)) {
      if (!["name", "address", "pubKey", "power"].includes(k)) fail(`${p}.${k}`, "unknown field");
    }
    if (!isHex(v.pubKey, 32)) fail(`${p}.pubKey`, "must be 64 lower-case hex characters");
    if (!isValidPublicKey(fromHex(v.pubKey))) fail(`${p}.pubKey`, "not a valid ed25519 public key");
    if (!isAddress(v.address)) fail(`${p}.address`, "must be a cirrus address");
    if (v.address !== addressOf(fromHex(v.pubKey))) fail(`${p}.address`, "does not match pubKey");
    if (seen.has(v.address)) fail(`${p}.address`, "duplicate validator");
    seen.add(v.address);
    const out: GenesisValidator = {
      address: v.address,
      pubKey: v.pubKey,
      power: uintStr(v.power, `${p}.power`, true),
    };
    const name = optName(v.name, `${p}.name`);
    if (name !== undefined) out.name = name;
    return out;
  });
  if (!Array.isArray(accounts)) fail(`${g}.accounts`, "must be an array");
  const seenAcct = new Set<string>();
  const accts: GenesisAccount[] = accounts.map((a, i) => {
    const p = `${g}.accounts[${i}]`;
    if (!isPlainObject(a)) fail(p, "must be an object");
    const bad = exactKeysProblem(
      a,
      Object.hasOwn(a, "name") ? ["name", "address", "balance"] : ["address", "balance"],
      p,
    );
    if (bad) throw new GenesisError(bad);
    if (!isAddress(a.address)) fail(`${p}.address`, "must be a cirrus address");
    if (seenAcct.has(a.address)) fail(`${p}.address`, "duplicate account");
    seenAcct.add(a.address);
    const out: GenesisAccount = { address: a.address, balance: uintStr(a.balance, `${p}.balance`, false) };
    const name = optName(a.name, `${p}.name`);
    if (name !== undefined) out.name = name;
    return out;
  });
  // Supply is conserved from here on: bounding it bounds every balance and every sum of balances.
  const supply = accts.reduce((sum, a) => sum + BigInt(a.balance), 0n);
  if (supply > AMOUNT_MAX) {
    fail(`${g}.accounts`, `total supply ${supply} exceeds the largest amount ${AMOUNT_MAX} (38 digits)`);
  }
  const params = validateParams(json.params, `${g}.params`);
  // Genesis validators are bonded validators (staking): power x powerReduction ucrs each, minted.
  const reduction = BigInt(params.staking.powerReduction);
  let bonded = 0n;
  vals.forEach((v, i) => {
    const bond = BigInt(v.power) * reduction;
    if (bond < BigInt(params.staking.minSelfBond)) {
      fail(
        `${g}.validators[${i}].power`,
        `bonds ${bond} ucrs (power x params.staking.powerReduction), below params.staking.minSelfBond ${params.staking.minSelfBond}`,
      );
    }
    bonded += bond;
  });
  if (supply + bonded > AMOUNT_MAX) {
    fail(
      `${g}.validators`,
      `balances plus genesis bonds ${supply + bonded} exceed the largest amount ${AMOUNT_MAX}`,
    );
  }
  // The set may grow to validatorsMax (staking): the largest tx must fit next to its last commit.
  const setMax = Math.max(vals.length, params.staking.validatorsMax);
  const room = params.consensus.maxBlockBytes - blockOverheadBytesMax(setMax);
  if (params.ledger.maxTxBytes > room) {
    fail(
      `${g}.params.ledger.maxTxBytes`,
      `${params.ledger.maxTxBytes} does not fit in a block: params.consensus.maxBlockBytes leaves ${room} bytes for txs with ${setMax} validators (params.staking.validatorsMax)`,
    );
  }
  return { chainId, genesisTime, validators: vals, accounts: accts, params };
}
