/**
 * Tendermint-style BFT consensus: a pure state machine (Algorithm 1 of "The latest gossip on BFT
 * consensus"), CometBFT's proposer selection, vote bookkeeping and commits, canonical codecs, a
 * double-sign guard and a write-ahead log. The node's driver does the I/O around it.
 * @module
 */
export * from "./types.ts";
export * from "./validator_set.ts";
export * from "./codec.ts";
export * from "./vote_set.ts";
export * from "./state_machine.ts";
export * from "./signer_guard.ts";
export * from "./wal.ts";
export * from "./mutant.ts";
