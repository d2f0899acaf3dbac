/**
 * Staking parameters (`genesis.params.staking`): the active set's size, bonds, unbonding period,
 * power, inflation, slashing fractions, downtime window and evidence age; their defaults and their
 * validation (reasons name the path, as the other params'). Fractions are decimal strings with at
 * most 6 decimals in [0, 1] ("0.05"), held as parts per million in memory.
 * @module
 */
import { isPlainObject } from "../../lib/cbor.ts";
import { parseUint } from "../../lib/units.ts";

/** Parameters of the staking module. Amounts are decimal strings of ucrs. */
export interface StakingParams {
  /** Size of the active set: the top `validatorsMax` validators by power. */
  validatorsMax: number;
  /** Smallest self-bond of a validator (ucrs); below it the validator is jailed. */
  minSelfBond: string;
  /** Blocks an undelegation waits (still slashable) before it is paid out. */
  unbondingBlocks: number;
  /** Bonded ucrs per unit of consensus voting power (power = floor(tokens / powerReduction)). */
  powerReduction: string;
  /** ucrs minted each block and paid to the active set with the block's fees (may be "0"). */
  inflationPerBlock: string;
  /** Fraction of stake burned for a double sign ("0.05"). */
  slashFractionDoubleSign: string;
  /** Fraction of stake burned for downtime ("0.0001"). */
  slashFractionDowntime: string;
  /** Length of the sliding window of blocks over which signatures are counted. */
  signedBlocksWindow: number;
  /** Fraction of the window a validator must sign ("0.5"); missing more jails it. */
  minSignedPerWindow: string;
  /** How long a downtime jail lasts, in block-time ms. */
  downtimeJailMs: number;
  /** Evidence older than this many blocks is refused (at most `unbondingBlocks`). */
  evidenceMaxAgeBlocks: number;
  /** Evidence older than this (block time, ms) is refused. */
  evidenceMaxAgeMs: number;
  /** Most pieces of evidence a block may carry (more are skipped with a reason). */
  evidencePerBlockMax: number;
  /**
   * Largest change of a validator's commission in one `staking.edit_validator` ("0.01": one point up
   * or down per edit; "1", the default: any), as the Cosmos SDK's max change rate.
   */
  commissionChangeMax: string;
}

/** Parts per million: the denominator of every staking fraction. */
export const PPM = 1_000_000n;

/** Default staking params (devnet-friendly: a short unbonding period, no inflation). */
export function defaultStakingParams(): StakingParams {
  return {
    validatorsMax: 100,
    minSelfBond: "1000000",
    unbondingBlocks: 1000,
    powerReduction: "1000000",
    inflationPerBlock: "0",
    slashFractionDoubleSign: "0.05",
    slashFractionDowntime: "0.0001",
    signedBlocksWindow: 100,
    minSignedPerWindow: "0.5",
    downtimeJailMs: 600_000,
    evidenceMaxAgeBlocks: 1000,
    evidenceMaxAgeMs: 172_800_000,
    evidencePerBlockMax: 16,
    commissionChangeMax: "1",
  };
}

const RATE_RE = /^(?:0(?:\.[0-9]{1,6})?|1(?:\.0{1,6})?)$/;

/** A fraction ("0.05", "1", at most 6 decimals, in [0, 1]) as parts per million, or null. */
export function parseRatePpm(s: unknown): bigint | null {
  if (typeof s !== "string" || !RATE_RE.test(s)) return null;
  const [whole, frac = ""] = s.split(".");
  return BigInt(whole!) * PPM + BigInt(frac.padEnd(6, "0"));
}

/** Parts per million as the decimal fraction {@link parseRatePpm} reads (100000 -> "0.1"). */
export function ratePpmString(ppm: number): string {
  const frac = String(ppm % Number(PPM)).padStart(6, "0").replace(/0+$/, "");
  return `${Math.floor(ppm / Number(PPM))}${frac ? `.${frac}` : ""}`;
}

/** Reason (prefixed by `path`) when `s` is not a fraction in [0, 1] with at most 6 decimals, else null. */
export function rateProblem(s: unknown, path: string): string | null {
  return parseRatePpm(s) === null
    ? `${path}: must be a decimal fraction in [0, 1] with at most 6 decimals`
    : null;
}

const INT_LIMITS = {
  validatorsMax: [1, 1000],
  unbondingBlocks: [1, 100_000_000],
  signedBlocksWindow: [1, 1_000_000],
  downtimeJailMs: [0, 31_536_000_000],
  evidenceMaxAgeBlocks: [1, 100_000_000],
  evidenceMaxAgeMs: [1, 31_536_000_000],
  evidencePerBlockMax: [0, 1000],
} as const;
const AMOUNTS = { minSelfBond: false, powerReduction: true, inflationPerBlock: false } as const;
const RATES = [
  "slashFractionDoubleSign",
  "slashFractionDowntime",
  "minSignedPerWindow",
  "commissionChangeMax",
] as const;

/**
 * Validates untrusted `params.staking` (missing fields take their defaults, unknown ones are errors);
 * returns the typed params or throws `fail(path, what)`'s error.
 */
export function validateStakingParams(
  v: unknown,
  path: string,
  fail: (path: string, what: string) => never,
): StakingParams {
  const out = defaultStakingParams();
  if (!isPlainObject(v)) fail(path, "must be an object");
  const o = out as unknown as Record<string, unknown>;
  for (const k of Object.keys(v)) {
    const p = `${path}.${k}`;
    const x = v[k];
    if (Object.hasOwn(INT_LIMITS, k)) {
      const [min, max] = INT_LIMITS[k as keyof typeof INT_LIMITS];
      if (typeof x !== "number" || !Number.isSafeInteger(x) || x < min || x > max) {
        fail(p, `must be an integer in [${min}, ${max}]`);
      }
      o[k] = x;
    } else if (Object.hasOwn(AMOUNTS, k)) {
      const n = parseUint(x);
      if (n === null) fail(p, "must be a non-negative integer string");
      if (AMOUNTS[k as keyof typeof AMOUNTS] && n === 0n) fail(p, "must be positive");
      o[k] = x;
    } else if ((RATES as readonly string[]).includes(k)) {
      const why = rateProblem(x, p);
      if (why) fail(p, why.slice(p.length + 2));
      o[k] = x;
    } else {
      fail(p, "unknown field");
    }
  }
  if (out.evidenceMaxAgeBlocks > out.unbondingBlocks) {
    fail(
      `${path}.evidenceMaxAgeBlocks`,
      `${out.evidenceMaxAgeBlocks} exceeds unbondingBlocks ${out.unbondingBlocks} (stake could leave before its evidence is judged)`,
    );
  }
  return out;
}
