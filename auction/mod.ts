/**
 * The marketplace (pure): SDL parsing and validation; deployments, orders, bids, leases, escrow.
 * @module
 */
export * from "./sdl/mod.ts";
export * from "./market/mod.ts";
