/**
 * The marketplace's state: its keys, and how records are read and written (canonical CBOR values,
 * printable keys under `mkt/`).
 *
 * State:
 * - `mkt/provider/<addr>`                          ProviderRecord
 * - `mkt/deployment/<owner>/<dseq>`                DeploymentRecord (with its groups)
 * - `mkt/escrow/<owner>/<dseq>`                    EscrowRecord (balance held in custody)
 * - `mkt/order/<owner>/<dseq>/<gseq>/<oseq>`       OrderRecord (bidders in arrival order)
 * - `mkt/bid/<order id>/<provider>`                BidRecord (deposit held while open/active)
 * - `mkt/lease/<order id>/<provider>`              LeaseRecord
 * - `mkt/audit/<provider>/<auditor>`               AttestationRecord (attributes the auditor signed)
 * - `mkt/idx/orderclose/<H>`                       [order id...] whose bid window ends at H
 * - `mkt/idx/exhaust/<H>`                          ["owner/dseq"...] whose escrow runs out at H
 * - `mkt/idx/escrowlow/<H>`                        ["owner/dseq"...] whose runway reaches its low mark at H
 *
 * Scale: no step scans state. A tx touches its own records; beginBlock(H) reads the one exhaust
 * bucket and the one escrow-low bucket of H, endBlock(H) the one order bucket of H (see blocks.ts).
 * @module
 */
import { decode } from "cborg";
import { canonicalEncode, stripUndefined } from "../../lib/cbor.ts";
import {
  type BidId,
  bidIdOf,
  type DeploymentId,
  type OrderId,
  orderIdOf,
  parseBidId,
  parseDeploymentId,
  parseOrderId,
} from "../../lib/ids.ts";
import { formatScaled } from "./decimal.ts";
import { MarketError, type MarketReader, type MarketStore } from "./types.ts";

/** State keys of the marketplace. */
export const marketKeys = {
  provider: (addr: string): string => `mkt/provider/${addr}`,
  deployment: (owner: string, dseq: number): string => `mkt/deployment/${owner}/${dseq}`,
  escrow: (owner: string, dseq: number): string => `mkt/escrow/${owner}/${dseq}`,
  order: (id: OrderId): string => `mkt/order/${orderIdOf(id)}`,
  bid: (id: BidId): string => `mkt/bid/${bidIdOf(id)}`,
  lease: (id: BidId): string => `mkt/lease/${bidIdOf(id)}`,
  audit: (provider: string, auditor: string): string => `mkt/audit/${provider}/${auditor}`,
  orderClose: (h: number): string => `mkt/idx/orderclose/${h}`,
  exhaust: (h: number): string => `mkt/idx/exhaust/${h}`,
  escrowLow: (h: number): string => `mkt/idx/escrowlow/${h}`,
};

/** Key prefixes of the record kinds (to list them with `keys(prefix)`). */
export const marketPrefixes = {
  provider: "mkt/provider/",
  deployment: "mkt/deployment/",
  escrow: "mkt/escrow/",
  order: "mkt/order/",
  bid: "mkt/bid/",
  lease: "mkt/lease/",
  audit: "mkt/audit/",
  /** Index of bid windows ending, by height. */
  orderClose: "mkt/idx/orderclose/",
  /** Index of escrows running out, by height. */
  exhaust: "mkt/idx/exhaust/",
  /** Index of escrows whose runway reaches their low mark, by height. */
  escrowLow: "mkt/idx/escrowlow/",
} as const;

const after = (key: string, prefix: string): string | null =>
  key.startsWith(prefix) ? key.slice(prefix.length) : null;

/** The ids inside state keys (the inverse of {@link marketKeys}); null when the key is not of that kind. */
export const marketKeyIds = {
  provider: (key: string): string | null => after(key, marketPrefixes.provider),
  deployment: (key: string): DeploymentId | null => parseDeploymentId(after(key, marketPrefixes.deployment)),
  order: (key: string): OrderId | null => parseOrderId(after(key, marketPrefixes.order)),
  bid: (key: string): BidId | null => parseBidId(after(key, marketPrefixes.bid)),
  lease: (key: string): BidId | null => parseBidId(after(key, marketPrefixes.lease)),
  audit: (key: string): { provider: string; auditor: string } | null => {
    const p = after(key, marketPrefixes.audit)?.split("/");
    return p?.length === 2 ? { provider: p[0]!, auditor: p[1]! } : null;
  },
};

/**
 * Reads and decodes a record; undefined when absent. The state is the chain's own (written by
 * {@link writeRecord} and checked by the app hash), so it is decoded without the strict checks that
 * untrusted bytes get.
 */
export function readRecord<T>(s: MarketReader, key: string): T | undefined {
  const b = s.get(key);
  return b === undefined ? undefined : (decode(b) as T);
}

/** Encodes and writes a record (undefined fields dropped). */
export function writeRecord(s: MarketStore, key: string, v: object): void {
  s.set(key, canonicalEncode(stripUndefined(v)));
}

/** Reads a record that must exist; a missing one is corrupt state (a programmer error, thrown). */
export function mustRecord<T>(s: MarketReader, key: string, what: string): T {
  const v = readRecord<T>(s, key);
  if (v === undefined) throw new Error(`corrupt marketplace state: ${what} missing (${key})`);
  return v;
}

/** Adds `item` to the index list at `key` (once). */
export function indexAdd(s: MarketStore, key: string, item: string): void {
  const list = readRecord<string[]>(s, key) ?? [];
  if (!list.includes(item)) list.push(item);
  writeRecord(s, key, list);
}

/** Removes `item` from the index list at `key`; the key goes when the list empties. */
export function indexRemove(s: MarketStore, key: string, item: string): void {
  const list = readRecord<string[]>(s, key);
  if (!list) return;
  const rest = list.filter((x) => x !== item);
  if (rest.length === list.length) return;
  if (rest.length === 0) s.delete(key);
  else writeRecord(s, key, rest);
}

/** Rejects the tx with `reason` ({@link MarketError}). */
export function fail(reason: string): never {
  throw new MarketError(reason);
}

/** A bigint as the decimal string records hold. */
export const dec = (v: bigint): string => v.toString();

/** A scaled price with its denom, for messages: `0.5 ucrs`. */
export const money = (scaled: bigint, denom: string): string => `${formatScaled(scaled)} ${denom}`;
