/**
 * Formatting for people: prices (the chain's per-block prices are decimals scaled by 10^18),
 * amounts, heights and durations.
 * @module
 */

/** A per-block price as the chain shows it (`{denom, amount}`, amount a decimal string). */
export interface Coin {
  denom: string;
  amount: string;
}

/**
 * A decimal string shortened to `digits` decimals ("100.000000000000000000" -> "100").
 * @param amount a decimal string
 * @param digits decimals kept at most
 * @returns the shortened text
 * @example
 * ```ts
 * decimalText("0.123456789", 4); // "0.1234"
 * ```
 */
export function decimalText(amount: string, digits = 6): string {
  const [int, frac = ""] = amount.split(".");
  const f = frac.slice(0, digits).replace(/0+$/, "");
  return f ? `${int}.${f}` : `${int}`;
}

/** "100 ucrs/block". */
export function priceText(p: Coin | undefined): string {
  return p ? `${decimalText(p.amount)} ${p.denom}/block` : "-";
}

/** "45s", "12m", "3h 20m", "4d 6h". */
export function durationText(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.round(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.round((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.round((s % 86400) / 3600)}h`;
}

/** A marketplace id without its owner (`dseq/gseq/oseq[/provider]`), for a table of one owner's ids. */
export function withoutOwner(id: string): string {
  return id.split("/").slice(1).join("/");
}

/** "cirrus1abcd...wxyz" for long ids; short ones as they are. */
export function shortId(id: string, keep = 10): string {
  return id.length <= 2 * keep + 3 ? id : `${id.slice(0, keep)}...${id.slice(-6)}`;
}

/**
 * The runway of an escrow: blocks it still pays, and that many blocks at `msPerBlock` as a duration.
 * @returns "unbounded (no active lease)", "120 blocks (~2m)" or "120 blocks"
 */
export function runwayText(blocksRemaining: number | null, msPerBlock: number | null): string {
  if (blocksRemaining === null) return "unbounded (no active lease)";
  const t = msPerBlock !== null && msPerBlock > 0
    ? ` (~${durationText((blocksRemaining * msPerBlock) / 1000)})`
    : "";
  return `${blocksRemaining} blocks${t}`;
}
