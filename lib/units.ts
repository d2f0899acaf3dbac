/**
 * Money and denominations: the chain's base denomination, what a denom may look like, and canonical
 * non-negative integer amounts (decimal strings of at most 38 digits, as bigint in memory).
 * @module
 */

/** The chain's base denomination (micro-cirrus). */
export const DENOM = "ucrs";

/** What a denomination may look like (Cosmos SDK's rule: a letter, then 2..127 of `[a-zA-Z0-9/:._-]`). */
export const DENOM_RE = /^[a-zA-Z][a-zA-Z0-9/:._-]{2,127}$/;

/** True when `v` is a well-formed denomination. */
export function isDenom(v: unknown): v is string {
  return typeof v === "string" && DENOM_RE.test(v);
}

/** A canonical non-negative integer string: no sign, no leading zeros, at most 38 digits. */
export const UINT_RE = /^(?:0|[1-9][0-9]{0,37})$/;

/** Largest amount representable: 38 decimal digits (< 1e38, fits in u128). */
export const AMOUNT_MAX = 10n ** 38n - 1n;

/**
 * Parses a canonical non-negative decimal integer string ("0", "1000"; no sign, no leading zeros,
 * at most 38 digits). Returns null for anything else.
 */
export function parseUint(s: unknown): bigint | null {
  if (typeof s !== "string" || !UINT_RE.test(s)) return null;
  return BigInt(s);
}

/** Reason (prefixed by `path`) when `s` is not a canonical non-negative integer string, else null. */
export function uintProblem(s: unknown, path: string, positive = false): string | null {
  const v = parseUint(s);
  if (v === null) return `${path}: must be a non-negative integer string`;
  if (positive && v === 0n) return `${path}: must be positive`;
  return null;
}
