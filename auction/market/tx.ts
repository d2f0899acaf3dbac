/**
 * Marketplace txs: the one entry point that executes them, and the addresses each concerns.
 * @module
 */
import { parseBidId, parseOrderId } from "../../lib/ids.ts";
import { auditHandlers } from "./tx_audit.ts";
import { bidHandlers } from "./tx_bid.ts";
import type { Body, Handler } from "./tx_common.ts";
import { deploymentHandlers } from "./tx_deployment.ts";
import { leaseHandlers } from "./tx_lease.ts";
import { providerHandlers } from "./tx_provider.ts";
import { MarketError, type MarketParams, type MarketStore } from "./types.ts";
import { bodyValidators } from "./validate.ts";

const handlers: Record<string, Handler> = {
  ...providerHandlers,
  ...deploymentHandlers,
  ...bidHandlers,
  ...leaseHandlers,
  ...auditHandlers,
};

/**
 * Executes a marketplace tx (body already validated by {@link bodyValidators}). Throws
 * {@link MarketError} to reject; the caller must then discard every write.
 */
export function applyMarketTx(
  s: MarketStore,
  params: MarketParams,
  type: string,
  from: string,
  body: Body,
): void {
  const h = handlers[type];
  if (!h) throw new MarketError(`unknown marketplace tx type ${type}`);
  const bad = bodyValidators[type]!(body);
  if (bad) throw new MarketError(bad);
  h(s, params, from, body);
}

/** Addresses a marketplace tx concerns besides its sender (for the by-address tx index). */
export function marketTxAddresses(type: string, body: Body): string[] {
  if (type === "bid.create") {
    const o = parseOrderId(body.order);
    return o ? [o.owner] : [];
  }
  if (type === "audit.attest" || type === "audit.revoke") {
    return typeof body.provider === "string" ? [body.provider] : [];
  }
  const id = parseBidId(body.bid ?? body.lease);
  return id && ["bid.close", "lease.create", "lease.close"].includes(type) ? [id.owner, id.provider] : [];
}
