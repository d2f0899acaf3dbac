/**
 * What every marketplace tx handler shares: its signature, and the denomination checks of prices and
 * deposits.
 * @module
 */
import { fail } from "./records.ts";
import type { MarketParams, MarketStore } from "./types.ts";

/** A tx body (already validated by its body validator). */
export type Body = Record<string, unknown>;

/** Executes one tx type over the store; throws {@link MarketError} (via `fail`) to reject. */
export type Handler = (s: MarketStore, p: MarketParams, from: string, body: Body) => void;

/** Rejects a denom the chain does not accept (`what` names the field). */
export function denomAccepted(p: MarketParams, denom: string, what: string): void {
  if (!p.denoms.includes(denom)) {
    fail(`${what}: denom ${denom} is not accepted by this chain (accepted: ${p.denoms.join(", ")})`);
  }
}

/** Rejects a deposit denom that is not accepted or that accounts cannot hold (only the base denom). */
export function fundingDenom(s: MarketStore, p: MarketParams, denom: string, what: string): void {
  denomAccepted(p, denom, what);
  if (denom !== s.baseDenom) {
    fail(`${what}: denom ${denom} cannot be deposited (accounts hold only ${s.baseDenom})`);
  }
}
