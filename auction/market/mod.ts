/**
 * auction/market: the marketplace state machine (providers, deployments, orders, bids, leases,
 * escrow), pure and synchronous over a {@link MarketStore}; plus queries over a {@link MarketView}.
 *
 * Tx bodies (the sender is `from`; amounts are decimal strings; prices `{denom, amount}` may have up
 * to 18 decimals; deposits are whole base units):
 * - `provider.create` / `provider.update` `{hostUri: string[] (multiaddrs), attributes: {key, value}[], info?: {email?, website?}}`
 * - `deployment.create` `{dseq?: number (default: the block height), groups: Group[] (as parseSdl makes
 *   them, see groupsForTx), manifestHash: hex sha256, deposit: {denom, amount}}`
 * - `deployment.update` `{dseq, manifestHash, groups?}` (groups, if given, must equal the existing ones)
 * - `deployment.deposit` `{dseq, amount}` ; `deployment.close` `{dseq}`
 * - `bid.create` `{order: "owner/dseq/gseq/oseq", price: {denom, amount}, deposit?: {denom, amount}}`
 * - `bid.close` `{bid: id}` ; `lease.create` `{bid: id}` ; `lease.close` `{lease: id}`
 *   (bid and lease ids: `owner/dseq/gseq/oseq/provider`)
 * @module
 */
export * from "./types.ts";
export * from "./decimal.ts";
export * from "./validate.ts";
export {
  applyMarketTx,
  exhaustionHeight,
  marketBeginBlock,
  marketEndBlock,
  marketHeldFunds,
  marketKeys,
  marketTxAddresses,
  placementProblem,
  readRecord,
} from "./keeper.ts";
export * from "./query.ts";
