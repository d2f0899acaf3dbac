/**
 * The bottom layer: primitives every folder may import, importing nothing of the project.
 *
 * - `crypto`: ed25519 keys and signatures, sha256, hex, bech32 addresses.
 * - `cbor`: canonical CBOR encoding and the one strict decoder for untrusted bytes.
 * - `schema`: small checks of untrusted plain data that return a reason naming the path.
 * - `units`: the base denomination, denoms, canonical integer amounts.
 * - `storage`: storage classes.
 * - `ids`: deployment, group, order, bid and lease ids (one parse, one format).
 * - `log`, `clock`, `rng`: the logger, time and randomness that components take as inputs;
 *   `sim_clock`: the simulated clock that tests and the simulator pass instead of the system's.
 * - `min_heap`: a binary min-heap under a caller's order.
 * @module
 */
export * from "./crypto.ts";
export * from "./cbor.ts";
export * from "./units.ts";
export * from "./storage.ts";
export * from "./ids.ts";
export * from "./log.ts";
export * from "./clock.ts";
export * from "./sim_clock.ts";
export * from "./min_heap.ts";
export * from "./rng.ts";
export * from "./schema.ts";
