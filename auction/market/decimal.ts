/**
 * Prices as exact fixed-point integers: a DecCoin amount ("100", "0.5", at most 18 decimals, like
 * cosmos LegacyDec) is stored as `amount x 10^18` in a bigint, so every SDL price is exact and sums
 * of prices never round. Payments are whole base units: a lease with price `p` (scaled) created at
 * height `c` has been owed `floor(p x (h - c) / 10^18)` by height `h` in total (a cumulative floor),
 * so the fractional remainder carries from block to block and nothing is lost to rounding.
 * @module
 */
import { AMOUNT_DECIMALS_MAX } from "../sdl/quantity.ts";

/** 10^18: the fixed-point scale of prices. */
export const PRICE_SCALE = 10n ** 18n;
/** Max fractional digits of a price (the SDL's amount rule). */
export const PRICE_DECIMALS = AMOUNT_DECIMALS_MAX;

const DEC_RE = /^(0|[1-9][0-9]{0,37})(?:\.([0-9]{1,18}))?$/;

/**
 * Parses a canonical non-negative decimal ("100", "0.5"; no sign, no leading zeros, no trailing
 * fractional zeros, at most 18 decimals) into a scaled bigint; null for anything else.
 */
export function parseScaled(s: unknown): bigint | null {
  if (typeof s !== "string") return null;
  const m = DEC_RE.exec(s);
  if (!m) return null;
  const frac = m[2] ?? "";
  if (frac.endsWith("0")) return null;
  return BigInt(m[1]!) * PRICE_SCALE + BigInt(frac.padEnd(PRICE_DECIMALS, "0") || "0");
}

/** A scaled bigint as a canonical decimal string ("0.5", "100"). */
export function formatScaled(v: bigint): string {
  if (v < 0n) throw new Error("negative price");
  const int = v / PRICE_SCALE;
  const frac = (v % PRICE_SCALE).toString().padStart(PRICE_DECIMALS, "0").replace(/0+$/, "");
  return frac ? `${int}.${frac}` : int.toString();
}

/** Total owed by a lease of scaled `price` after `blocks` blocks: floor(price x blocks / 10^18). */
export function owedAfter(price: bigint, blocks: bigint): bigint {
  return blocks <= 0n ? 0n : (price * blocks) / PRICE_SCALE;
}
