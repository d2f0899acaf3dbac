/**
 * The ledger: transactions, genesis, the pure state machine built from an explicit list of modules
 * (bank, market, audit, staking), blocks and the block store.
 * @module
 */
export * from "../../lib/cbor.ts";
export * from "./tx.ts";
export * from "./genesis.ts";
export * from "./module.ts";
export * from "./evidence.ts";
export * from "./ledger.ts";
export * from "./state.ts";
export * from "./block.ts";
export * from "./limits.ts";
export * from "./store.ts";
export * from "./bank.ts";
export * from "./market_adapter.ts";
export * from "./market_module.ts";
export * from "./market_queries.ts";
export * from "./audit_module.ts";
export * from "./staking.ts";
export * from "./staking_params.ts";
export * from "./slashing_evidence.ts";
export { FEE_COLLECTOR } from "./distribution.ts";
export * from "./default_ledger.ts";
export * from "./devnet_genesis.ts";
