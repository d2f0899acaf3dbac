/**
 * The node: config, keystore, libp2p host, mempool, chain, consensus driver, block sync, RPC.
 * @module
 */
export * from "./config.ts";
export * from "./keystore.ts";
export * from "./mempool.ts";
export * from "./chain.ts";
export * from "./consensus_driver.ts";
export * from "./sync.ts";
export * from "./node.ts";
export * from "./rpc.ts";
export * from "./p2p.ts";
