/** Small helpers of the marketplace commands: tx events, prices, repeatable options. */
import type { SentTx } from "./util.ts";

/** The attributes of `r`'s events of `type`. */
export function eventsOf(r: SentTx, type: string): Record<string, string>[] {
  return (r.events ?? []).filter((e) => e.type === type).map((e) => e.attrs);
}

/** `amount denom` as one word pair. */
export function price(denom: string | undefined, amount: string | undefined): string {
  return `${amount} ${denom ?? ""}`.trim();
}

/** A repeatable commander option: each value appended. */
export function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}
