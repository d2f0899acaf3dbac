/**
 * Closing: bringing an escrow up to the current height (which may run an overdue exhaustion), and
 * closing orders (bids refunded), leases and whole deployments (escrow refunded).
 * @module
 */
import { type BidId, bidIdOf, deploymentIdOf, type OrderId, orderIdOf, parseBidId } from "../../lib/ids.ts";
import { reindexExhaust, settle } from "./escrow.ts";
import { dec, indexRemove, marketKeys as K, mustRecord, writeRecord } from "./records.ts";
import type {
  BidRecord,
  CloseReason,
  DeploymentRecord,
  EscrowRecord,
  LeaseRecord,
  MarketStore,
  OrderRecord,
  ProviderCloseReason,
} from "./types.ts";
import { leaseCloseReason } from "./types.ts";

/**
 * Brings an escrow up to the current height: settles through it, or — if its exhaustion height has
 * already come (possible only in a mempool dry run, which skips the block steps) — runs the exhaustion
 * first, exactly as beginBlock would have.
 */
export function touch(s: MarketStore, owner: string, dseq: number): void {
  const esc = mustRecord<EscrowRecord>(s, K.escrow(owner, dseq), "escrow");
  if (esc.state !== "open") return;
  if (esc.exhaustAt !== null && esc.exhaustAt <= s.height) exhaust(s, owner, dseq, esc.exhaustAt);
  else settle(s, owner, dseq, s.height);
}

/** Runs an escrow's exhaustion at `at`: pays through `at - 1`, then closes the deployment (insufficient_funds). */
export function exhaust(s: MarketStore, owner: string, dseq: number, at: number): void {
  settle(s, owner, dseq, at - 1);
  closeDeployment(s, owner, dseq, "insufficient_funds", at);
}

/** Ends a bid as lost or closed at `at`, refunding its deposit to the provider. */
export function refundBid(
  s: MarketStore,
  id: BidId,
  bid: BidRecord,
  state: "lost" | "closed",
  at: number,
): void {
  s.credit(id.provider, BigInt(bid.deposit));
  writeRecord(s, K.bid(id), { ...bid, state, closedAt: at });
  if (state === "lost") s.emit("bid.lost", { bid: bidIdOf(id), order: orderIdOf(id), provider: id.provider });
  else s.emit("bid.closed", { bid: bidIdOf(id), order: orderIdOf(id), provider: id.provider });
}

/** Closes an order and all of its open bids (deposits refunded); removes it from the window index. */
export function closeOrder(s: MarketStore, oid: OrderId, at: number): void {
  const order = mustRecord<OrderRecord>(s, K.order(oid), "order");
  if (order.state === "closed") return;
  if (order.state === "open" && order.closesAt > 0) {
    indexRemove(s, K.orderClose(order.closesAt), orderIdOf(oid));
  }
  for (const p of order.bids) {
    const bid = mustRecord<BidRecord>(s, K.bid({ ...oid, provider: p }), "bid");
    if (bid.state === "open") refundBid(s, { ...oid, provider: p }, bid, "closed", at);
  }
  writeRecord(s, K.order(oid), { ...order, state: "closed", closedAt: at });
  s.emit("order.closed", { order: orderIdOf(oid) });
}

/**
 * Ends one lease (escrow must already be settled through `at` or `at - 1`): lease, its bid (deposit
 * refunded) and order close. Does not touch the group or the escrow's lease list.
 */
export function endLease(s: MarketStore, id: BidId, at: number, reason: CloseReason): void {
  const lease = mustRecord<LeaseRecord>(s, K.lease(id), "lease");
  const state = reason === "insufficient_funds" ? "insufficient_funds" : "closed";
  writeRecord(s, K.lease(id), { ...lease, state, reason, closedAt: at });
  const bid = mustRecord<BidRecord>(s, K.bid(id), "bid");
  if (bid.state === "active") refundBid(s, id, bid, "closed", at);
  closeOrder(s, id, at);
  s.emit("lease.closed", {
    lease: bidIdOf(id),
    owner: id.owner,
    dseq: String(id.dseq),
    gseq: String(id.gseq),
    oseq: String(id.oseq),
    provider: id.provider,
    reason,
    closeReason: leaseCloseReason(reason),
    state,
    paid: lease.paid,
  });
}

/** Closes a whole deployment at `at` (escrow settled by the caller): leases, orders, bids, groups, refund. */
export function closeDeployment(
  s: MarketStore,
  owner: string,
  dseq: number,
  reason: "owner" | "insufficient_funds" | "groups_closed",
  at: number,
): void {
  const dep = mustRecord<DeploymentRecord>(s, K.deployment(owner, dseq), "deployment");
  const esc = mustRecord<EscrowRecord>(s, K.escrow(owner, dseq), "escrow");
  const leaseReason: CloseReason = reason === "insufficient_funds"
    ? "insufficient_funds"
    : "deployment_closed";
  for (const lid of esc.leases) endLease(s, parseBidId(lid)!, at, leaseReason);
  for (const g of dep.groups) {
    if (g.state !== "closed") closeOrder(s, { owner, dseq, gseq: g.gseq, oseq: g.oseq }, at);
  }
  const groupState = reason === "insufficient_funds" ? "insufficient_funds" : "closed";
  const groups = dep.groups.map((g) => (g.state === "closed" ? g : { ...g, state: groupState }));
  writeRecord(s, K.deployment(owner, dseq), {
    ...dep,
    state: "closed",
    reason,
    closedAt: at,
    updatedAt: at,
    groups,
  });
  const refund = BigInt(esc.balance);
  if (refund > 0n) s.credit(owner, refund);
  if (esc.exhaustAt !== null) indexRemove(s, K.exhaust(esc.exhaustAt), deploymentIdOf(owner, dseq));
  if (esc.lowAt != null) indexRemove(s, K.escrowLow(esc.lowAt), deploymentIdOf(owner, dseq));
  writeRecord(s, K.escrow(owner, dseq), {
    ...esc,
    state: "closed",
    balance: "0",
    refunded: dec(BigInt(esc.refunded) + refund),
    exhaustAt: null,
    leases: [],
    ...(esc.lowBlocks !== undefined ? { lowAt: null } : {}),
  });
  s.emit("deployment.closed", {
    deployment: deploymentIdOf(owner, dseq),
    owner,
    dseq: String(dseq),
    reason,
    refund: dec(refund),
    denom: esc.denom,
  });
}

/** Closes one active lease by tenant or provider (with the provider's reason, if any) at the current height. */
export function closeLease(
  s: MarketStore,
  id: BidId,
  reason: "owner" | "provider" | ProviderCloseReason,
): void {
  touch(s, id.owner, id.dseq);
  const lease = mustRecord<LeaseRecord>(s, K.lease(id), "lease");
  if (lease.state !== "active") return; // closed by the exhaustion that touch() just ran
  const h = s.height;
  endLease(s, id, h, reason);
  const esc = mustRecord<EscrowRecord>(s, K.escrow(id.owner, id.dseq), "escrow");
  writeRecord(s, K.escrow(id.owner, id.dseq), {
    ...esc,
    leases: esc.leases.filter((x) => x !== bidIdOf(id)),
  });
  reindexExhaust(s, id.owner, id.dseq);
  const dep = mustRecord<DeploymentRecord>(s, K.deployment(id.owner, id.dseq), "deployment");
  const groups = dep.groups.map((g) => (g.gseq === id.gseq ? { ...g, state: "closed" as const } : g));
  writeRecord(s, K.deployment(id.owner, id.dseq), { ...dep, groups, updatedAt: h });
  if (groups.every((g) => g.state === "closed")) closeDeployment(s, id.owner, id.dseq, "groups_closed", h);
}
