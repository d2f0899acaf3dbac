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
 * - `audit.attest` `{provider, attributes: {key, value}[] (1-64, unique keys)}`: the sender (any
 *   account) signs those attributes of a registered provider, replacing its earlier attestation of it
 * - `audit.revoke` `{provider, keys?: string[]}`: withdraws the sender's attestation (all, or the keys)
 *
 * A group's `signedBy` is met as Akash meets it: see {@link signedByProblem}.
 * @module
 */
export * from "./types.ts";
export * from "./decimal.ts";
export * from "./validate.ts";
export {
  applyMarketTx,
  attestationOf,
  exhaustionHeight,
  marketBeginBlock,
  marketEndBlock,
  marketHeldFunds,
  marketKeys,
  marketTxAddresses,
  placementProblem,
  readRecord,
  signedByProblem,
} from "./keeper.ts";
export * from "./query.ts";
