/**
 * Pure, synchronous marketplace queries over a committed state view (the RPC calls these). Outputs are
 * JSON-friendly: amounts and prices are decimal strings. Escrow balances and lease payments are shown
 * settled lazily at the query height (default: the view's height), without writing anything.
 * Listing scans the `mkt/<kind>/` prefix (or `mkt/<kind>/<owner>/` when an owner is given): query
 * cost, never block cost.
 * @module
 */
import { formatScaled, owedAfter } from "./decimal.ts";
import { escrowRates, exhaustionHeight } from "./escrow.ts";
import { marketKeyIds as ids, marketKeys as K, marketPrefixes as P, readRecord } from "./records.ts";
import type {
  AttestationInfo,
  AttestationRecord,
  BidInfo,
  BidRecord,
  BidState,
  DeploymentDetail,
  DeploymentInfo,
  DeploymentRecord,
  DeploymentState,
  EscrowRecord,
  EscrowStatus,
  LeaseInfo,
  LeaseRecord,
  LeaseState,
  MarketView,
  OrderInfo,
  OrderRecord,
  OrderState,
  ProviderInfo,
  ProviderRecord,
} from "./types.ts";
import { leaseCloseReason } from "./types.ts";
import {
  type BidId,
  bidIdOf,
  deploymentIdOf,
  type OrderId,
  orderIdOf,
  parseBidId,
  parseOrderId,
} from "../../lib/ids.ts";

const heightOf = (view: MarketView, height?: number): number => height ?? view.height ?? 0;

/** Height through which an escrow's leases have been paid as seen at `h` (exhaustion caps it). */
function paidThrough(esc: EscrowRecord, h: number): number {
  if (esc.state !== "open") return esc.settledAt;
  const cap = esc.exhaustAt === null ? h : Math.min(h, esc.exhaustAt - 1);
  return Math.max(cap, esc.settledAt);
}

/** A provider, or null. */
export function getProvider(view: MarketView, addr: string): ProviderInfo | null {
  const p = readRecord<ProviderRecord>(view, K.provider(addr));
  return p ? { owner: addr, ...p } : null;
}

/** All providers, sorted by address. */
export function listProviders(view: MarketView): ProviderInfo[] {
  return view.keys(P.provider).map((k) => getProvider(view, ids.provider(k)!)!);
}

/** The escrow of deployment owner/dseq settled at `height` (default: the view's height), or null. */
export function escrowStatus(
  view: MarketView,
  owner: string,
  dseq: number,
  height?: number,
): EscrowStatus | null {
  const esc = readRecord<EscrowRecord>(view, K.escrow(owner, dseq));
  if (!esc) return null;
  const h = heightOf(view, height);
  const rates = esc.state === "open" ? escrowRates(view, esc) : [];
  const through = paidThrough(esc, h);
  let owed = 0n;
  let rate = 0n;
  for (const r of rates) {
    owed += owedAfter(r.price, BigInt(through) - r.createdAt) - r.paid;
    rate += r.price;
  }
  let balance = BigInt(esc.balance) - owed;
  let refunded = BigInt(esc.refunded);
  let state = esc.state;
  const exhausted = esc.state === "open" && esc.exhaustAt !== null && esc.exhaustAt <= h;
  if (exhausted) {
    refunded += balance;
    balance = 0n;
    state = "closed";
  }
  const exhaustAt = esc.state === "open"
    ? (esc.exhaustAt ?? exhaustionHeight(rates, esc.settledAt, BigInt(esc.balance)))
    : null;
  return {
    owner,
    dseq,
    state,
    denom: esc.denom,
    balance: balance.toString(),
    deposited: esc.deposited,
    transferred: (BigInt(esc.transferred) + owed).toString(),
    refunded: refunded.toString(),
    height: h,
    ratePerBlock: formatScaled(exhausted ? 0n : rate),
    exhaustAt: exhausted ? esc.exhaustAt : exhaustAt,
    blocksRemaining: exhausted || esc.state !== "open"
      ? 0
      : exhaustAt === null
      ? null
      : Math.max(0, exhaustAt - 1 - h),
  };
}

function deploymentInfo(
  view: MarketView,
  owner: string,
  dseq: number,
  d: DeploymentRecord,
  h: number,
): DeploymentInfo {
  const out: DeploymentInfo = {
    id: deploymentIdOf(owner, dseq),
    owner,
    dseq,
    state: d.state,
    manifestHash: d.manifestHash,
    createdAt: d.createdAt,
    updatedAt: d.updatedAt,
    groups: d.groups.map((g) => ({ gseq: g.gseq, name: g.spec.name, state: g.state, spec: g.spec })),
    escrow: escrowStatus(view, owner, dseq, h),
  };
  if (d.reason !== undefined) out.reason = d.reason;
  if (d.closedAt !== undefined) out.closedAt = d.closedAt;
  return out;
}

const byDseq = <T extends { owner: string; dseq: number }>(a: T, b: T) =>
  a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : a.dseq - b.dseq;

/** Deployments, optionally of one owner and/or in one state; sorted by owner, dseq. */
export function listDeployments(
  view: MarketView,
  filter: { owner?: string; state?: DeploymentState; height?: number } = {},
): DeploymentInfo[] {
  const h = heightOf(view, filter.height);
  const out: DeploymentInfo[] = [];
  for (const k of view.keys(filter.owner ? `${P.deployment}${filter.owner}/` : P.deployment)) {
    const d = readRecord<DeploymentRecord>(view, k)!;
    if (filter.state && d.state !== filter.state) continue;
    const { owner, dseq } = ids.deployment(k)!;
    out.push(deploymentInfo(view, owner, dseq, d, h));
  }
  return out.sort(byDseq);
}

function orderInfo(view: MarketView, id: OrderId, o: OrderRecord, dep?: DeploymentRecord): OrderInfo {
  dep ??= readRecord<DeploymentRecord>(view, K.deployment(id.owner, id.dseq))!;
  const out: OrderInfo = {
    id: orderIdOf(id),
    ...id,
    state: o.state,
    maxPrice: { denom: o.denom, amount: formatScaled(BigInt(o.maxPrice)) },
    createdAt: o.createdAt,
    closesAt: o.closesAt,
    group: dep.groups.find((g) => g.gseq === id.gseq)!.spec,
    bids: o.bids.length,
  };
  if (o.closedAt !== undefined) out.closedAt = o.closedAt;
  return out;
}

const bySeq = <T extends { owner: string; dseq: number; gseq: number; oseq: number; provider?: string }>(
  a: T,
  b: T,
) =>
  byDseq(a, b) || a.gseq - b.gseq || a.oseq - b.oseq ||
  ((a.provider ?? "") < (b.provider ?? "") ? -1 : (a.provider ?? "") > (b.provider ?? "") ? 1 : 0);

/** Orders, optionally of one owner and/or in one state; sorted by id. */
export function listOrders(
  view: MarketView,
  filter: { owner?: string; state?: OrderState } = {},
): OrderInfo[] {
  const out: OrderInfo[] = [];
  for (const k of view.keys(filter.owner ? `${P.order}${filter.owner}/` : P.order)) {
    const o = readRecord<OrderRecord>(view, k)!;
    if (filter.state && o.state !== filter.state) continue;
    out.push(orderInfo(view, ids.order(k)!, o));
  }
  return out.sort(bySeq);
}

/** One order, or null. */
export function getOrder(view: MarketView, id: string): OrderInfo | null {
  const oid = parseOrderId(id);
  const o = oid && readRecord<OrderRecord>(view, K.order(oid));
  return oid && o ? orderInfo(view, oid, o) : null;
}

function bidInfo(id: BidId, b: BidRecord): BidInfo {
  const out: BidInfo = {
    id: bidIdOf(id),
    ...id,
    price: { denom: b.denom, amount: formatScaled(BigInt(b.price)) },
    deposit: { denom: b.depositDenom, amount: b.deposit },
    state: b.state,
    createdAt: b.createdAt,
  };
  if (b.closedAt !== undefined) out.closedAt = b.closedAt;
  return out;
}

/** Bids, optionally of one deployment owner, one provider and/or in one state; sorted by id. */
export function listBids(
  view: MarketView,
  filter: { owner?: string; provider?: string; state?: BidState } = {},
): BidInfo[] {
  const out: BidInfo[] = [];
  for (const k of view.keys(filter.owner ? `${P.bid}${filter.owner}/` : P.bid)) {
    const id = ids.bid(k)!;
    if (filter.provider && id.provider !== filter.provider) continue;
    const b = readRecord<BidRecord>(view, k)!;
    if (filter.state && b.state !== filter.state) continue;
    out.push(bidInfo(id, b));
  }
  return out.sort(bySeq);
}

/** One bid, or null. */
export function getBid(view: MarketView, id: string): BidInfo | null {
  const bid = parseBidId(id);
  const b = bid && readRecord<BidRecord>(view, K.bid(bid));
  return bid && b ? bidInfo(bid, b) : null;
}

function leaseInfo(
  view: MarketView,
  id: BidId,
  l: LeaseRecord,
  h: number,
  esc?: EscrowRecord | null,
): LeaseInfo {
  let paid = BigInt(l.paid);
  if (l.state === "active") {
    esc ??= readRecord<EscrowRecord>(view, K.escrow(id.owner, id.dseq)) ?? null;
    if (esc) paid = owedAfter(BigInt(l.price), BigInt(paidThrough(esc, h) - l.createdAt));
  }
  const out: LeaseInfo = {
    id: bidIdOf(id),
    ...id,
    price: { denom: l.denom, amount: formatScaled(BigInt(l.price)) },
    state: l.state,
    createdAt: l.createdAt,
    paid: paid.toString(),
  };
  if (l.reason !== undefined) {
    out.reason = l.reason;
    out.closeReason = leaseCloseReason(l.reason);
  }
  if (l.closedAt !== undefined) out.closedAt = l.closedAt;
  return out;
}

/** Leases, optionally of one owner, one provider and/or in one state; `paid` settled at the view height. */
export function listLeases(
  view: MarketView,
  filter: { owner?: string; provider?: string; state?: LeaseState; height?: number } = {},
): LeaseInfo[] {
  const h = heightOf(view, filter.height);
  const out: LeaseInfo[] = [];
  for (const k of view.keys(filter.owner ? `${P.lease}${filter.owner}/` : P.lease)) {
    const id = ids.lease(k)!;
    if (filter.provider && id.provider !== filter.provider) continue;
    const l = readRecord<LeaseRecord>(view, k)!;
    if (filter.state && l.state !== filter.state) continue;
    out.push(leaseInfo(view, id, l, h));
  }
  return out.sort(bySeq);
}

/** One lease, or null. */
export function getLease(view: MarketView, id: string, height?: number): LeaseInfo | null {
  const lid = parseBidId(id);
  const l = lid && readRecord<LeaseRecord>(view, K.lease(lid));
  return lid && l ? leaseInfo(view, lid, l, heightOf(view, height)) : null;
}

/** A deployment with its groups, escrow, orders, bids and leases; null when unknown. */
export function getDeployment(
  view: MarketView,
  owner: string,
  dseq: number,
  height?: number,
): DeploymentDetail | null {
  const d = readRecord<DeploymentRecord>(view, K.deployment(owner, dseq));
  if (!d) return null;
  const h = heightOf(view, height);
  const prefix = `${owner}/${dseq}/`;
  const esc = readRecord<EscrowRecord>(view, K.escrow(owner, dseq)) ?? null;
  const orders = view.keys(`${P.order}${prefix}`).map((k) =>
    orderInfo(view, ids.order(k)!, readRecord<OrderRecord>(view, k)!, d)
  ).sort(bySeq);
  const bids = view.keys(`${P.bid}${prefix}`).map((k) =>
    bidInfo(ids.bid(k)!, readRecord<BidRecord>(view, k)!)
  ).sort(bySeq);
  const leases = view.keys(`${P.lease}${prefix}`).map((k) =>
    leaseInfo(view, ids.lease(k)!, readRecord<LeaseRecord>(view, k)!, h, esc)
  ).sort(bySeq);
  return { ...deploymentInfo(view, owner, dseq, d, h), orders, bids, leases };
}

/**
 * Auditor attestations, optionally of one provider and/or by one auditor; sorted by provider, then
 * auditor. Each: `{provider, auditor, attributes: [{key, value}] (sorted by key), height}`.
 */
export function listAttestations(
  view: MarketView,
  filter: { provider?: string; auditor?: string } = {},
): AttestationInfo[] {
  const out: AttestationInfo[] = [];
  for (const k of view.keys(filter.provider ? `${P.audit}${filter.provider}/` : P.audit)) {
    const { provider, auditor } = ids.audit(k)!;
    if (filter.auditor && auditor !== filter.auditor) continue;
    const r = readRecord<AttestationRecord>(view, k)!;
    out.push({ provider, auditor, attributes: r.attributes, height: r.height });
  }
  return out.sort((a, b) =>
    a.provider < b.provider
      ? -1
      : a.provider > b.provider
      ? 1
      : a.auditor < b.auditor
      ? -1
      : a.auditor > b.auditor
      ? 1
      : 0
  );
}
