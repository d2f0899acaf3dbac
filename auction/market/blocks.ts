/**
 * The marketplace's block steps: begin block (escrows that run out close their leases), end block
 * (orders whose bid window ends get a lease), and the held-funds total the supply invariant checks.
 * Each step reads only the one index bucket of its height.
 * @module
 */
import { parseDeploymentId, parseOrderId } from "../../lib/ids.ts";
import { exhaust } from "./closing.ts";
import { emitEscrowLow } from "./escrow.ts";
import { winningBid } from "./placement.ts";
import { marketKeys as K, marketPrefixes, mustRecord, readRecord, writeRecord } from "./records.ts";
import { createLease } from "./tx_lease.ts";
import type { BidRecord, EscrowRecord, MarketReader, MarketStore, OrderRecord } from "./types.ts";

/**
 * Start of block H: escrows that run out at H pay through H-1 and close their leases
 * (insufficient_funds); escrows whose runway reaches their low mark at H emit `escrow.low`.
 */
export function marketBeginBlock(s: MarketStore): void {
  const h = s.height;
  const key = K.exhaust(h);
  const due = readRecord<string[]>(s, key) ?? [];
  for (const did of due) {
    const id = parseDeploymentId(did);
    if (!id) throw new Error(`corrupt marketplace state: bad deployment id ${did} in ${key}`);
    const { owner, dseq } = id;
    const esc = readRecord<EscrowRecord>(s, K.escrow(owner, dseq));
    if (esc?.state === "open" && esc.exhaustAt === h) exhaust(s, owner, dseq, h);
  }
  if (due.length > 0) s.delete(key);
  const lowKey = K.escrowLow(h);
  const low = readRecord<string[]>(s, lowKey) ?? [];
  for (const did of low) {
    const id = parseDeploymentId(did);
    if (!id) throw new Error(`corrupt marketplace state: bad deployment id ${did} in ${lowKey}`);
    const ek = K.escrow(id.owner, id.dseq);
    const esc = readRecord<EscrowRecord>(s, ek);
    if (esc?.state !== "open" || esc.lowAt !== h || esc.exhaustAt === null || esc.lowBlocks === undefined) {
      continue;
    }
    writeRecord(s, ek, { ...esc, lowAt: null, low: true });
    emitEscrowLow(s, id.owner, id.dseq, esc.exhaustAt, esc.lowBlocks);
  }
  if (low.length > 0) s.delete(lowKey);
}

/**
 * End of block H: orders whose bid window ends at H pick a winner (lowest price; ties: earliest bid
 * height, then provider address) and get a lease; an order without open bids stays open another window.
 */
export function marketEndBlock(s: MarketStore): void {
  const h = s.height;
  const key = K.orderClose(h);
  const due = readRecord<string[]>(s, key) ?? [];
  if (due.length === 0) return;
  s.delete(key);
  for (const oidStr of due) {
    const oid = parseOrderId(oidStr)!;
    const order = readRecord<OrderRecord>(s, K.order(oid));
    if (!order || order.state !== "open" || order.closesAt !== h) continue;
    const open: { provider: string; bid: BidRecord }[] = [];
    for (const provider of order.bids) {
      const bid = mustRecord<BidRecord>(s, K.bid({ ...oid, provider }), "bid");
      if (bid.state === "open") open.push({ provider, bid });
    }
    if (open.length === 0) {
      // No bids: the order stays open and waits for one (closesAt 0); it costs nothing per block
      // until the next bid starts a new window (see bid.create).
      writeRecord(s, K.order(oid), { ...order, closesAt: 0 });
      s.emit("order.reopened", { order: oidStr, closesAt: "0" });
      continue;
    }
    createLease(s, { ...oid, provider: winningBid(open)!.provider });
  }
}

/**
 * True when a block at `height` has marketplace work (a bid window ends or an escrow runs out there)
 * or such work is scheduled later: windows and lease payments count in blocks, so blocks must keep
 * coming while an order's window is open or a lease pays. An order waiting for its first bid and a
 * lease that never runs out (price 0) schedule nothing. One index lookup per kind, never a scan.
 */
export function marketScheduledWork(
  view: MarketReader & { hasKeyWithPrefix(prefix: string): boolean },
  height: number,
): boolean {
  if (view.get(K.orderClose(height)) !== undefined || view.get(K.exhaust(height)) !== undefined) return true;
  return view.hasKeyWithPrefix(marketPrefixes.orderClose) || view.hasKeyWithPrefix(marketPrefixes.exhaust);
}

/** Funds the marketplace holds (open escrow balances + open/active bid deposits), by full scan. */
export function marketHeldFunds(view: MarketReader & { keys(prefix: string): string[] }): bigint {
  let sum = 0n;
  for (const k of view.keys(marketPrefixes.escrow)) {
    sum += BigInt(mustRecord<EscrowRecord>(view, k, "escrow").balance);
  }
  for (const k of view.keys(marketPrefixes.bid)) {
    const b = mustRecord<BidRecord>(view, k, "bid");
    if (b.state === "open" || b.state === "active") sum += BigInt(b.deposit);
  }
  return sum;
}
