/**
 * cirrus: a decentralized cloud marketplace on a BFT chain. The public library API.
 * @module
 */
export * from "./consensus/types.ts";
