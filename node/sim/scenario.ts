/**
 * The simulator's configuration: what is simulated (validators, heights, links, faults, traffic),
 * parsed from flags or a scenario file. Pure: parsing only, errors name the field.
 * @module
 */
import type { ConsensusParams } from "../ledger/genesis.ts";
import { type Misbehaviour, parseNamedMisbehaviours } from "../misbehave.ts";

/** A partition between two heights: `groups` of validator indexes cannot talk to each other. */
export interface PartitionFault {
  /** Applied once the chain reaches this height. */
  fromHeight: number;
  /** Healed once the chain reaches this height (or when it stalls, see {@link SimConfig.stallMs}). */
  toHeight: number;
  groups: number[][];
}

/**
 * A validator down between two heights (stopped, then restarted from its storage); with `role`
 * "provider", provider `node` instead (its service stops, its cluster and stored manifests stay).
 */
export interface CrashFault {
  node: number;
  fromHeight: number;
  toHeight: number;
  /** What is down: a validator node (default) or a provider (`p1@H1-H2`). */
  role?: "validator" | "provider";
}

/** A byzantine validator: the test-only switches of `node/misbehave.ts`, for the whole run. */
export interface MisbehaveFault {
  node: number;
  kinds: Misbehaviour[];
}

/** Kinds a simulation cannot run: they need a second process or state on disk. */
export const SIM_MISBEHAVIOURS_UNSUPPORTED: readonly Misbehaviour[] = ["duplicate-key", "amnesia"];

/** A range [min, max] a value is drawn in from the seed. */
export type DrawRange = [number, number];

/**
 * The market side of a run: genesis market params, what providers offer and charge, what tenants
 * ask, deposit and do. Prices are ucrs per block; drawn per provider (prices, capacity) and per
 * deployment (size, max price, deposit) from the seed.
 */
export interface SimMarketConfig {
  /** Genesis: blocks an order takes bids. */
  bidWindowBlocks: number;
  /** Genesis: smallest deployment deposit, ucrs. */
  minDeposit: number;
  /** Each provider's cpu in millicores (memory 2 MiB and storage 8 MiB per millicore). */
  providerCpu: DrawRange;
  /** Each provider's price per cpu millicore per block (its pricing `cpu`; memory and storage free). */
  providerPrice: DrawRange;
  /** Each deployment's cpu in millicores (one service, one replica; rounded to 100 m). */
  tenantCpu: DrawRange;
  /** Each deployment's max price per cpu millicore per block (times its cpu: the SDL's price). */
  tenantMaxPrice: DrawRange;
  /** Each deployment's deposit, ucrs (at least `minDeposit`). */
  deposit: DrawRange;
  /** Deployments a tenant keeps open at most (a create beyond it becomes a close). */
  openMax: number;
  /** Weights of a tenant's next action: create a deployment, top up a deposit, close one. */
  actions: { create: number; deposit: number; close: number };
}

/** Everything one simulation run depends on (with the seed, the whole outcome). */
export interface SimConfig {
  validators: number;
  heights: number;
  seed: number;
  /** One-way link latency, ms. */
  latencyMs: number;
  /** Extra delay drawn in [0, jitterMs), ms. */
  jitterMs: number;
  /** Probability a gossip message is lost. */
  loss: number;
  partitions: PartitionFault[];
  crashes: CrashFault[];
  /** Byzantine validators. */
  misbehave: MisbehaveFault[];
  /**
   * Transactions submitted per simulated second: bank transfers between funded accounts, or, with
   * tenants, the tenants' market txs (deployments, deposits, closes) instead.
   */
  txRate: number;
  /** Funded accounts sending the transfers. */
  accounts: number;
  /** Providers bidding (run by the market actors the caller injects, `cli/sim_market.ts`). */
  providers: number;
  /** Tenants deploying (run by the market actors the caller injects). */
  tenants: number;
  /** What providers and tenants do (only read when there are some). */
  market: SimMarketConfig;
  /** A partition heals early when no height is committed for this long, simulated ms. */
  stallMs: number;
  /** Consensus timeouts (the devnet's defaults otherwise). */
  consensus: Partial<ConsensusParams>;
}

/** Defaults of every field but what the caller sets. */
export const SIM_DEFAULTS: SimConfig = {
  validators: 4,
  heights: 20,
  seed: 1,
  latencyMs: 20,
  jitterMs: 0,
  loss: 0,
  partitions: [],
  crashes: [],
  misbehave: [],
  txRate: 0,
  accounts: 8,
  providers: 0,
  tenants: 0,
  market: {
    bidWindowBlocks: 2,
    minDeposit: 5_000_000,
    providerCpu: [4_000, 16_000],
    providerPrice: [0.02, 0.1],
    tenantCpu: [250, 2_000],
    tenantMaxPrice: [0.05, 0.15],
    deposit: [5_000_000, 20_000_000],
    openMax: 3,
    actions: { create: 5, deposit: 2, close: 3 },
  },
  stallMs: 30_000,
  consensus: {
    timeoutProposeMs: 1_000,
    timeoutPrevoteMs: 500,
    timeoutPrecommitMs: 500,
    timeoutDeltaMs: 250,
    timeoutCommitMs: 200,
    // 0: a block every height, as before issue 9's rest (set it to study a resting chain).
    createEmptyBlocksIntervalMs: 0,
  },
};

/** Most validators one run simulates. */
export const SIM_VALIDATORS_MAX = 1_000;
/** Most heights one run simulates. */
export const SIM_HEIGHTS_MAX = 100_000;

/** A configuration problem a user can fix. */
export class SimConfigError extends Error {
  override name = "SimConfigError";
}

/**
 * Parses `"H1-H2:0,1|2,3"` (several separated by `;`) into partitions.
 * @example
 * ```ts
 * parsePartitions("10-20:0,1|2,3"); // [{fromHeight: 10, toHeight: 20, groups: [[0, 1], [2, 3]]}]
 * ```
 */
export function parsePartitions(spec: string): PartitionFault[] {
  return spec.split(";").map((s) => s.trim()).filter((s) => s !== "").map((s) => {
    const m = /^(\d+)-(\d+):([\d,|\s]+)$/.exec(s);
    if (!m) throw new SimConfigError(`partition "${s}": expected H1-H2:0,1|2,3`);
    const groups = m[3]!.split("|").map((g) =>
      g.split(",").map((x) => x.trim()).filter((x) => x).map(Number)
    );
    if (groups.some((g) => g.length === 0)) throw new SimConfigError(`partition "${s}": an empty group`);
    return range(s, Number(m[1]), Number(m[2]), { groups });
  });
}

/**
 * Parses `"v3@H1-H2"` (validator 3) or `"p1@H1-H2"` (provider 1), several separated by `,` or `;`,
 * into crashes.
 * @example
 * ```ts
 * parseCrashes("v3@10-20"); // [{node: 3, fromHeight: 10, toHeight: 20}]
 * parseCrashes("p0@5-9"); // [{node: 0, fromHeight: 5, toHeight: 9, role: "provider"}]
 * ```
 */
export function parseCrashes(spec: string): CrashFault[] {
  return spec.split(/[;,]/).map((s) => s.trim()).filter((s) => s !== "").map((s) => {
    const m = /^([vp]?)(\d+)@(\d+)-(\d+)$/.exec(s);
    if (!m) {
      throw new SimConfigError(`crash "${s}": expected v3@H1-H2 (a validator) or p1@H1-H2 (a provider)`);
    }
    const role = m[1] === "p" ? { role: "provider" as const } : {};
    return range(s, Number(m[3]), Number(m[4]), { node: Number(m[2]), ...role });
  });
}

/**
 * Parses `"v2=double-sign,v3=silent"` into byzantine validators.
 * @example
 * ```ts
 * parseMisbehave("v2=double-sign"); // [{node: 2, kinds: ["double-sign"]}]
 * ```
 */
export function parseMisbehave(spec: string): MisbehaveFault[] {
  let named: Map<string, Misbehaviour[]>;
  try {
    named = parseNamedMisbehaviours(spec);
  } catch (e) {
    throw new SimConfigError(`misbehave: ${(e as Error).message}`);
  }
  return [...named].map(([name, kinds]) => {
    const m = /^v?(\d+)$/.exec(name);
    if (!m) throw new SimConfigError(`misbehave "${name}": expected vN=KIND`);
    return { node: Number(m[1]), kinds };
  });
}

function range<T>(
  s: string,
  from: number,
  to: number,
  rest: T,
): T & { fromHeight: number; toHeight: number } {
  if (!(from >= 1 && to > from)) throw new SimConfigError(`"${s}": heights must satisfy 1 <= H1 < H2`);
  return { fromHeight: from, toHeight: to, ...rest };
}

/**
 * Checks a full configuration; throws {@link SimConfigError} naming the field.
 * @returns the same configuration.
 */
export function checkSimConfig(c: SimConfig): SimConfig {
  const int = (name: string, v: number, min: number, max: number) => {
    if (!Number.isInteger(v) || v < min || v > max) {
      throw new SimConfigError(`${name}: expected a whole number in [${min}, ${max}], got ${v}`);
    }
  };
  int("validators", c.validators, 1, SIM_VALIDATORS_MAX);
  int("heights", c.heights, 1, SIM_HEIGHTS_MAX);
  int("seed", c.seed, 0, 2 ** 32 - 1);
  int("latency", c.latencyMs, 1, 60_000);
  int("jitter", c.jitterMs, 0, 60_000);
  int("accounts", c.accounts, 1, 10_000);
  int("providers", c.providers, 0, 1_000);
  int("tenants", c.tenants, 0, 1_000);
  int("stallMs", c.stallMs, 1_000, 3_600_000);
  if (!(c.loss >= 0 && c.loss < 1)) throw new SimConfigError(`loss: expected a probability in [0, 1)`);
  if (!(c.txRate >= 0 && c.txRate <= 10_000)) {
    throw new SimConfigError(`tx-rate: expected 0..10000 per second`);
  }
  for (const p of c.partitions) {
    for (const i of p.groups.flat()) int("partition node", i, 0, c.validators - 1);
  }
  for (const k of c.crashes) {
    if (k.role === "provider") {
      if (c.providers === 0) {
        throw new SimConfigError(`crash p${k.node}: there are no providers (--providers)`);
      }
      int("crash provider", k.node, 0, c.providers - 1);
    } else int("crash node", k.node, 0, c.validators - 1);
  }
  if (c.tenants > 0 && c.txRate <= 0) {
    throw new SimConfigError(
      "tenants act at the tx rate: give tx-rate > 0 (market txs per simulated second)",
    );
  }
  checkMarket(c.market);
  for (const b of c.misbehave) {
    int("misbehave node", b.node, 0, c.validators - 1);
    const bad = b.kinds.find((k) => SIM_MISBEHAVIOURS_UNSUPPORTED.includes(k));
    if (bad) {
      throw new SimConfigError(`misbehave: "${bad}" needs a second process or disk state, not simulated`);
    }
  }
  return c;
}

function checkMarket(m: SimMarketConfig): void {
  const whole = (name: string, v: number, min: number, max: number) => {
    if (!Number.isInteger(v) || v < min || v > max) {
      throw new SimConfigError(`market.${name}: expected a whole number in [${min}, ${max}], got ${v}`);
    }
  };
  const span = (name: string, r: DrawRange, min: number, max: number, integer: boolean) => {
    if (!Array.isArray(r) || r.length !== 2) throw new SimConfigError(`market.${name}: expected [min, max]`);
    for (const v of r) {
      if (typeof v !== "number" || !(v >= min && v <= max) || (integer && !Number.isInteger(v))) {
        throw new SimConfigError(
          `market.${name}: expected ${integer ? "whole numbers" : "numbers"} in [${min}, ${max}], got ${v}`,
        );
      }
    }
    if (r[0] > r[1]) throw new SimConfigError(`market.${name}: min ${r[0]} above max ${r[1]}`);
  };
  whole("bidWindowBlocks", m.bidWindowBlocks, 1, 1_000);
  whole("minDeposit", m.minDeposit, 1, 1e15);
  whole("openMax", m.openMax, 1, 1_000);
  span("providerCpu", m.providerCpu, 100, 1_000_000, true);
  span("providerPrice", m.providerPrice, 0, 1_000, false);
  span("tenantCpu", m.tenantCpu, 100, 1_000_000, true);
  span("tenantMaxPrice", m.tenantMaxPrice, 0.000001, 1_000, false);
  span("deposit", m.deposit, m.minDeposit, 1e15, true);
  const a = m.actions;
  for (const k of ["create", "deposit", "close"] as const) {
    if (typeof a[k] !== "number" || !(a[k] >= 0 && a[k] <= 1_000)) {
      throw new SimConfigError(`market.actions.${k}: expected a weight in [0, 1000]`);
    }
  }
  if (a.create <= 0) throw new SimConfigError("market.actions.create: must be above 0");
}

function asNumber(name: string, v: unknown): number {
  const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isFinite(n)) throw new SimConfigError(`${name}: expected a number`);
  return n;
}

/**
 * A configuration from a scenario object (a parsed YAML file) over the defaults. Keys: validators,
 * providers, tenants, heights, latency, jitter, loss, partition (string), crash (string), txRate,
 * accounts, seed, stallMs, misbehave (string), consensus (timeouts), market (see
 * {@link SimMarketConfig}: each key optional). Unknown keys are refused.
 */
export function simConfigFrom(doc: unknown, base: SimConfig = SIM_DEFAULTS): SimConfig {
  if (doc === null || doc === undefined) return { ...base };
  if (typeof doc !== "object" || Array.isArray(doc)) throw new SimConfigError("scenario: expected a mapping");
  const c: SimConfig = { ...base, consensus: { ...base.consensus }, market: { ...base.market } };
  for (const [k, v] of Object.entries(doc as Record<string, unknown>)) {
    switch (k) {
      case "name":
      case "description":
        break;
      case "validators":
      case "providers":
      case "tenants":
      case "heights":
      case "accounts":
      case "seed":
      case "stallMs":
      case "loss":
        c[k] = asNumber(k, v);
        break;
      case "latency":
        c.latencyMs = asNumber(k, v);
        break;
      case "jitter":
        c.jitterMs = asNumber(k, v);
        break;
      case "txRate":
      case "tx-rate":
        c.txRate = asNumber(k, v);
        break;
      case "partition":
        c.partitions = parsePartitions(String(v));
        break;
      case "crash":
        c.crashes = parseCrashes(String(v));
        break;
      case "misbehave":
        c.misbehave = parseMisbehave(String(v));
        break;
      case "consensus": {
        if (typeof v !== "object" || v === null) throw new SimConfigError("consensus: expected a mapping");
        for (const [ck, cv] of Object.entries(v)) {
          if (!(ck in SIM_DEFAULTS.consensus)) throw new SimConfigError(`consensus.${ck}: unknown timeout`);
          (c.consensus as Record<string, number>)[ck] = asNumber(`consensus.${ck}`, cv);
        }
        break;
      }
      case "market":
        c.market = marketFrom(v, c.market);
        break;
      default:
        throw new SimConfigError(`scenario: unknown key "${k}"`);
    }
  }
  return c;
}

function marketFrom(v: unknown, base: SimMarketConfig): SimMarketConfig {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new SimConfigError("market: expected a mapping");
  }
  const m: SimMarketConfig = { ...base, actions: { ...base.actions } };
  const pair = (k: string, x: unknown): DrawRange => {
    const r = Array.isArray(x) ? x : [x, x];
    if (r.length !== 2) throw new SimConfigError(`market.${k}: expected [min, max] or one number`);
    return [asNumber(`market.${k}`, r[0]), asNumber(`market.${k}`, r[1])];
  };
  for (const [k, x] of Object.entries(v)) {
    switch (k) {
      case "bidWindowBlocks":
      case "minDeposit":
      case "openMax":
        m[k] = asNumber(`market.${k}`, x);
        break;
      case "providerCpu":
      case "providerPrice":
      case "tenantCpu":
      case "tenantMaxPrice":
      case "deposit":
        m[k] = pair(k, x);
        break;
      case "actions": {
        if (typeof x !== "object" || x === null) {
          throw new SimConfigError("market.actions: expected a mapping");
        }
        for (const [ak, av] of Object.entries(x)) {
          if (ak !== "create" && ak !== "deposit" && ak !== "close") {
            throw new SimConfigError(`market.actions.${ak}: unknown action (create, deposit, close)`);
          }
          m.actions[ak] = asNumber(`market.actions.${ak}`, av);
        }
        break;
      }
      default:
        throw new SimConfigError(`market: unknown key "${k}"`);
    }
  }
  return m;
}
