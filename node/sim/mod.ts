/**
 * The simulated network and clustered nodes on simulated time (for tests and `cirrus sim`).
 * @module
 */
export * from "./network.ts";
export * from "./host.ts";
export * from "./cluster.ts";
