/**
 * cirrus: a decentralized cloud marketplace on a BFT chain. The public library API.
 *
 * - `lib`: the bottom layer (crypto, canonical CBOR, ids, units, storage classes, logger, clock, rng).
 * - `consensus`: the pure Tendermint-style state machine, validator sets, codecs, WAL, signer guard.
 * - `ledger`: transactions, the pure ledger state machine, blocks, the LevelDB store.
 * - `node`: the node (libp2p, mempool, consensus driver, block sync, RPC).
 * - `auction`: the marketplace (SDL).
 * - `sim`: the simulator, `simulate(config) -> metrics` (whole nodes on simulated time and network; with
 *   providers and tenants when the configuration has some: `cli/sim_market.ts` composes them).
 * @module
 */
export * as lib from "./lib/mod.ts";
export * as consensus from "./consensus/mod.ts";
export * as ledger from "./node/ledger/mod.ts";
export * as node from "./node/mod.ts";
export * as auction from "./auction/mod.ts";
export * as provider from "./provider/mod.ts";
export * as sim from "./node/sim/mod.ts";
// The simulator with the market (providers and tenants composed by cli/, as node/ may not import them).
export { simulateMarket as simulate } from "./cli/sim_market.ts";
