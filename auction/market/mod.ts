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
 *
 * Files: `records.ts` (the map of every state key; record io), `escrow.ts` (lazy settlement,
 * exhaustion index), `closing.ts` (orders, leases, deployments closed), `placement.ts` (provider
 * requirements, winning bid), `tx.ts` (the entry point) and one handler file per tx family
 * (`tx_provider.ts`, `tx_deployment.ts`, `tx_bid.ts`, `tx_lease.ts`, `tx_audit.ts`), `blocks.ts`
 * (begin/end block), `validate.ts` (stateless body checks), `query.ts` (reads for the RPC).
 * @module
 */
export * from "./types.ts";
export * from "./decimal.ts";
export * from "./validate.ts";
export { marketKeyIds, marketKeys, marketPrefixes, readRecord } from "./records.ts";
export { exhaustionHeight } from "./escrow.ts";
export { attestationOf, placementProblem, signedByProblem, winningBid } from "./placement.ts";
export { applyMarketTx, marketTxAddresses } from "./tx.ts";
export { marketBeginBlock, marketEndBlock, marketHeldFunds, marketScheduledWork } from "./blocks.ts";
export * from "./query.ts";
