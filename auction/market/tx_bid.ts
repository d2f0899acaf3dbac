/**
 * Bid txs on orders: `bid.create` (placement and signedBy checked, deposit held; the first bid on a
 * waiting order starts a new bid window), `bid.close` (an active bid closes its lease).
 * @module
 */
import { bidIdOf, orderIdOf, parseBidId, parseOrderId } from "../../lib/ids.ts";
import { parseUint } from "../../lib/units.ts";
import { closeLease, refundBid } from "./closing.ts";
import { formatScaled, parseScaled } from "./decimal.ts";
import { placementProblem, signedByProblem } from "./placement.ts";
import {
  dec,
  fail,
  indexAdd,
  marketKeys as K,
  money,
  mustRecord,
  readRecord,
  writeRecord,
} from "./records.ts";
import { denomAccepted, fundingDenom, type Handler } from "./tx_common.ts";
import type { BidRecord, DeploymentRecord, OrderRecord, ProviderRecord } from "./types.ts";

/** Handlers of the bid txs. */
export const bidHandlers: Record<string, Handler> = {
  "bid.create"(s, p, from, body) {
    const oid = parseOrderId(body.order)!;
    const oidStr = orderIdOf(oid);
    const price = body.price as { denom: string; amount: string };
    const order = readRecord<OrderRecord>(s, K.order(oid));
    if (!order) fail(`order ${oidStr} not found`);
    if (order!.state !== "open") fail(`order ${oidStr} is not open (state ${order!.state})`);
    const prov = readRecord<ProviderRecord>(s, K.provider(from));
    if (!prov) fail(`provider ${from} is not registered (send provider.create first)`);
    denomAccepted(p, price.denom, "body.price");
    if (price.denom !== order!.denom) {
      fail(`body.price: denom ${price.denom} differs from the order's denom ${order!.denom}`);
    }
    const amount = parseScaled(price.amount)!;
    const max = BigInt(order!.maxPrice);
    if (amount > max) {
      fail(
        `body.price: ${money(amount, price.denom)} exceeds the order's max price ${money(max, order!.denom)}`,
      );
    }
    if (order!.bids.includes(from)) fail(`provider ${from} already bid on order ${oidStr}`);
    if (order!.bids.length >= p.bidsPerOrderMax) {
      fail(`order ${oidStr} already has the maximum of ${p.bidsPerOrderMax} bids`);
    }
    const dep = mustRecord<DeploymentRecord>(s, K.deployment(oid.owner, oid.dseq), "deployment");
    const group = dep.groups.find((g) => g.gseq === oid.gseq);
    if (!group) throw new Error(`corrupt marketplace state: group of ${oidStr} missing`);
    const bad = placementProblem(from, prov!, group.spec) ??
      signedByProblem(s, from, group.spec.requirements);
    if (bad) fail(bad);
    const deposit = (body.deposit as { denom: string; amount: string } | undefined) ??
      { denom: s.baseDenom, amount: p.bidDeposit };
    fundingDenom(s, p, deposit.denom, "body.deposit");
    const dAmount = parseUint(deposit.amount)!;
    if (dAmount < BigInt(p.bidDeposit)) {
      fail(
        `body.deposit: ${dAmount} ${deposit.denom} is below the bid deposit ${p.bidDeposit} ${deposit.denom}`,
      );
    }
    s.debit(from, dAmount);
    const id = { ...oid, provider: from };
    const bid: BidRecord = {
      state: "open",
      denom: price.denom,
      price: dec(amount),
      deposit: dec(dAmount),
      depositDenom: deposit.denom,
      createdAt: s.height,
    };
    writeRecord(s, K.bid(id), bid);
    // An order whose window ended without bids waits (no index entry, no work per block); the first
    // bid after that starts a new window.
    let closesAt = order!.closesAt;
    if (closesAt === 0) {
      closesAt = s.height + p.bidWindowBlocks;
      indexAdd(s, K.orderClose(closesAt), oidStr);
    }
    writeRecord(s, K.order(oid), { ...order!, bids: [...order!.bids, from], closesAt });
    s.emit("bid.placed", {
      bid: bidIdOf(id),
      order: oidStr,
      owner: oid.owner,
      provider: from,
      price: formatScaled(amount),
      denom: price.denom,
      deposit: dec(dAmount),
      closesAt: String(closesAt),
    });
  },
  "bid.close"(s, _p, from, body) {
    const id = parseBidId(body.bid)!;
    if (id.provider !== from) fail(`only the bid's provider ${id.provider} can close bid ${bidIdOf(id)}`);
    const bid = readRecord<BidRecord>(s, K.bid(id));
    if (!bid) fail(`bid ${bidIdOf(id)} not found`);
    if (bid!.state === "active") return closeLease(s, id, "provider");
    if (bid!.state !== "open") fail(`bid ${bidIdOf(id)} is not open (state ${bid!.state})`);
    refundBid(s, id, bid!, "closed", s.height);
  },
};
