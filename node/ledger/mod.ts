/**
 * The ledger: transactions, genesis, the pure state machine, blocks and the block store.
 * @module
 */
export * from "../../lib/cbor.ts";
export * from "./tx.ts";
export * from "./genesis.ts";
export * from "./state.ts";
export * from "./block.ts";
export * from "./store.ts";
export * from "./testing.ts";
export * from "./market_adapter.ts";
