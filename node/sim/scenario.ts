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

/** A validator down between two heights (stopped, then restarted from its storage). */
export interface CrashFault {
  node: number;
  fromHeight: number;
  toHeight: number;
}

/** A byzantine validator: the test-only switches of `node/misbehave.ts`, for the whole run. */
export interface MisbehaveFault {
  node: number;
  kinds: Misbehaviour[];
}

/** Kinds a simulation cannot run: they need a second process or state on disk. */
export const SIM_MISBEHAVIOURS_UNSUPPORTED: readonly Misbehaviour[] = ["duplicate-key", "amnesia"];

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
  /** Bank transfers submitted per simulated second, over all nodes. */
  txRate: number;
  /** Funded accounts sending the transfers. */
  accounts: number;
  /** Providers bidding (run by the composition that injects them; 0 here). */
  providers: number;
  /** Tenants deploying (run by the composition that injects them; 0 here). */
  tenants: number;
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
 * Parses `"v3@H1-H2"` (several separated by `,` or `;`) into crashes.
 * @example
 * ```ts
 * parseCrashes("v3@10-20"); // [{node: 3, fromHeight: 10, toHeight: 20}]
 * ```
 */
export function parseCrashes(spec: string): CrashFault[] {
  return spec.split(/[;,]/).map((s) => s.trim()).filter((s) => s !== "").map((s) => {
    const m = /^v?(\d+)@(\d+)-(\d+)$/.exec(s);
    if (!m) throw new SimConfigError(`crash "${s}": expected v3@H1-H2`);
    return range(s, Number(m[2]), Number(m[3]), { node: Number(m[1]) });
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
  for (const k of c.crashes) int("crash node", k.node, 0, c.validators - 1);
  for (const b of c.misbehave) {
    int("misbehave node", b.node, 0, c.validators - 1);
    const bad = b.kinds.find((k) => SIM_MISBEHAVIOURS_UNSUPPORTED.includes(k));
    if (bad) {
      throw new SimConfigError(`misbehave: "${bad}" needs a second process or disk state, not simulated`);
    }
  }
  return c;
}

function asNumber(name: string, v: unknown): number {
  const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isFinite(n)) throw new SimConfigError(`${name}: expected a number`);
  return n;
}

/**
 * A configuration from a scenario object (a parsed YAML file) over the defaults. Keys: validators,
 * providers, tenants, heights, latency, jitter, loss, partition (string), crash (string), txRate,
 * accounts, seed, stallMs, misbehave (string), consensus (timeouts). Unknown keys are refused.
 */
export function simConfigFrom(doc: unknown, base: SimConfig = SIM_DEFAULTS): SimConfig {
  if (doc === null || doc === undefined) return { ...base };
  if (typeof doc !== "object" || Array.isArray(doc)) throw new SimConfigError("scenario: expected a mapping");
  const c: SimConfig = { ...base, consensus: { ...base.consensus } };
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
      default:
        throw new SimConfigError(`scenario: unknown key "${k}"`);
    }
  }
  return c;
}
