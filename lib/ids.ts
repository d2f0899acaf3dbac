/**
 * Marketplace ids, as Akash writes them: one parse and one format for each.
 *
 * - deployment: `owner/dseq`
 * - group:      `owner/dseq/gseq`
 * - order:      `owner/dseq/gseq/oseq`
 * - bid, lease: `owner/dseq/gseq/oseq/provider` (a lease keeps the id of the bid it came from)
 *
 * Sequence numbers are positive safe integers written without leading zeros. Owners and providers are
 * bech32 addresses (any prefix: placements may name Akash auditors, `akash1...`).
 * @module
 */

const BECH32_ADDRESS_RE = /^[a-z][a-z0-9]{0,20}1[02-9ac-hj-np-z]{6,90}$/;
const SEQ_RE = /^[1-9][0-9]{0,15}$/;

/** Longest id accepted by the parsers (a bid id with two 90-character addresses fits). */
export const ID_LENGTH_MAX = 512;

/** True when `v` has the shape of a lower-case bech32 address of any prefix. */
export function isBech32Address(v: unknown): v is string {
  return typeof v === "string" && BECH32_ADDRESS_RE.test(v);
}

/** A deployment id: `owner/dseq`. */
export interface DeploymentId {
  owner: string;
  dseq: number;
}

/** A group id: `owner/dseq/gseq`. */
export interface GroupId extends DeploymentId {
  gseq: number;
}

/** An order id: `owner/dseq/gseq/oseq`. */
export interface OrderId extends GroupId {
  oseq: number;
}

/** A bid id: `owner/dseq/gseq/oseq/provider`. */
export interface BidId extends OrderId {
  provider: string;
}

/** A lease id: the id of the bid it was made from. */
export type LeaseId = BidId;

/** A sequence number from its decimal text; null when malformed. */
export function parseSeq(s: string | undefined): number | null {
  if (s === undefined || !SEQ_RE.test(s)) return null;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : null;
}

function parts(s: unknown, count: number): string[] | null {
  if (typeof s !== "string" || s.length > ID_LENGTH_MAX) return null;
  const p = s.split("/");
  return p.length === count ? p : null;
}

/** Parses `owner/dseq`; null when malformed. */
export function parseDeploymentId(s: unknown): DeploymentId | null {
  const p = parts(s, 2);
  if (!p || !isBech32Address(p[0])) return null;
  const dseq = parseSeq(p[1]);
  return dseq === null ? null : { owner: p[0], dseq };
}

/** Parses `owner/dseq/gseq/oseq`; null when malformed. */
export function parseOrderId(s: unknown): OrderId | null {
  const p = parts(s, 4);
  if (!p || !isBech32Address(p[0])) return null;
  const [dseq, gseq, oseq] = [parseSeq(p[1]), parseSeq(p[2]), parseSeq(p[3])];
  if (dseq === null || gseq === null || oseq === null) return null;
  return { owner: p[0], dseq, gseq, oseq };
}

/** Parses `owner/dseq/gseq/oseq/provider` (a bid or a lease id); null when malformed. */
export function parseBidId(s: unknown): BidId | null {
  const p = parts(s, 5);
  if (!p || !isBech32Address(p[4])) return null;
  const o = parseOrderId(p.slice(0, 4).join("/"));
  return o ? { ...o, provider: p[4] } : null;
}

/** Parses a lease id (the same shape as a bid id); null when malformed. */
export const parseLeaseId: (s: unknown) => LeaseId | null = parseBidId;

/** `owner/dseq` */
export const deploymentIdOf = (owner: string, dseq: number): string => `${owner}/${dseq}`;
/** `owner/dseq/gseq` */
export const groupIdOf = (g: GroupId): string => `${g.owner}/${g.dseq}/${g.gseq}`;
/** `owner/dseq/gseq/oseq` */
export const orderIdOf = (o: OrderId): string => `${o.owner}/${o.dseq}/${o.gseq}/${o.oseq}`;
/** `owner/dseq/gseq/oseq/provider` */
export const bidIdOf = (b: BidId): string => `${orderIdOf(b)}/${b.provider}`;
/** `owner/dseq/gseq/oseq/provider` */
export const leaseIdOf: (l: LeaseId) => string = bidIdOf;

/** The order id inside a bid or lease id (an order id is returned as it is); null when malformed. */
export function orderIdOfBid(id: string): string | null {
  const b = parseBidId(id);
  if (b) return orderIdOf(b);
  return parseOrderId(id) ? id : null;
}

/** The deployment id inside any marketplace id; null when malformed. */
export function deploymentIdOfAny(id: string): string | null {
  const p = typeof id === "string" ? id.split("/") : [];
  if (p.length < 2 || p.length > 5) return null;
  const d = parseDeploymentId(p.slice(0, 2).join("/"));
  return d ? deploymentIdOf(d.owner, d.dseq) : null;
}
