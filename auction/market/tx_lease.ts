/**
 * Leases: how a winning bid becomes a lease (by the owner's `lease.create` or at the end of the bid
 * window), and `lease.close` by the owner or the provider (who may say why: `workload_failed`,
 * `manifest_timeout`).
 * @module
 */
import { type BidId, bidIdOf, orderIdOf, parseBidId } from "../../lib/ids.ts";
import { closeLease, refundBid, touch } from "./closing.ts";
import { formatScaled } from "./decimal.ts";
import { reindexExhaust } from "./escrow.ts";
import { fail, indexRemove, marketKeys as K, mustRecord, readRecord, writeRecord } from "./records.ts";
import type { Handler } from "./tx_common.ts";
import type {
  BidRecord,
  EscrowRecord,
  LeaseRecord,
  MarketStore,
  OrderRecord,
  ProviderCloseReason,
} from "./types.ts";

/** Creates the lease of `bidId` on its open order at the current height; other open bids lose. */
export function createLease(s: MarketStore, bidId: BidId): void {
  const h = s.height;
  touch(s, bidId.owner, bidId.dseq);
  const order = mustRecord<OrderRecord>(s, K.order(bidId), "order");
  if (order.state !== "open") fail(`order ${orderIdOf(bidId)} is not open (state ${order.state})`);
  if (order.closesAt > 0) indexRemove(s, K.orderClose(order.closesAt), orderIdOf(bidId));
  writeRecord(s, K.order(bidId), { ...order, state: "active" });
  for (const p of order.bids) {
    const id = { ...bidId, provider: p };
    const bid = mustRecord<BidRecord>(s, K.bid(id), "bid");
    if (p === bidId.provider) writeRecord(s, K.bid(id), { ...bid, state: "active" });
    else if (bid.state === "open") refundBid(s, id, bid, "lost", h);
  }
  const win = mustRecord<BidRecord>(s, K.bid(bidId), "bid");
  const lease: LeaseRecord = { state: "active", denom: win.denom, price: win.price, createdAt: h, paid: "0" };
  writeRecord(s, K.lease(bidId), lease);
  const esc = mustRecord<EscrowRecord>(s, K.escrow(bidId.owner, bidId.dseq), "escrow");
  writeRecord(s, K.escrow(bidId.owner, bidId.dseq), { ...esc, leases: [...esc.leases, bidIdOf(bidId)] });
  reindexExhaust(s, bidId.owner, bidId.dseq);
  s.emit("lease.created", {
    lease: bidIdOf(bidId),
    owner: bidId.owner,
    dseq: String(bidId.dseq),
    gseq: String(bidId.gseq),
    oseq: String(bidId.oseq),
    provider: bidId.provider,
    price: formatScaled(BigInt(win.price)),
    denom: win.denom,
  });
}

/** Handlers of the lease txs. */
export const leaseHandlers: Record<string, Handler> = {
  "lease.create"(s, _p, from, body) {
    const id = parseBidId(body.bid)!;
    const bid = readRecord<BidRecord>(s, K.bid(id));
    if (!bid) fail(`bid ${bidIdOf(id)} not found`);
    if (from !== id.owner) {
      fail(`only the deployment owner ${id.owner} can create a lease for bid ${bidIdOf(id)}`);
    }
    if (bid!.state !== "open") fail(`bid ${bidIdOf(id)} is not open (state ${bid!.state})`);
    createLease(s, id);
  },
  "lease.close"(s, _p, from, body) {
    const id = parseBidId(body.lease)!;
    const lease = readRecord<LeaseRecord>(s, K.lease(id));
    if (!lease) fail(`lease ${bidIdOf(id)} not found`);
    if (from !== id.owner && from !== id.provider) {
      fail(`only the deployment owner or the provider can close lease ${bidIdOf(id)}`);
    }
    if (lease!.state !== "active") fail(`lease ${bidIdOf(id)} is not active (state ${lease!.state})`);
    const reason = body.reason as ProviderCloseReason | undefined;
    if (reason !== undefined && from !== id.provider) {
      fail(`only the provider can close lease ${bidIdOf(id)} for ${reason}`);
    }
    closeLease(s, id, reason ?? (from === id.owner ? "owner" : "provider"));
  },
};
