/** What the provider role needs from a node (`ChainClient`), and the blocks and events it reports. */
import type { MarketView } from "../auction/market/mod.ts";

/** A committed block as the chain client reports it. */
export interface ChainBlock {
  height: number;
  txs: { id: string; ok: boolean; type: string; from: string; events: ChainEvent[] }[];
  /** Events of the block itself (window ends, escrow exhaustion). */
  events: ChainEvent[];
}

/** One event. */
export interface ChainEvent {
  type: string;
  attrs: Record<string, string>;
}

/** What the provider needs from a node: committed state and events, tx submission, streams. */
export interface ChainClient {
  chainId: string;
  /** The committed state (market queries run on it). */
  view(): MarketView;
  height(): number;
  onCommit(fn: (b: ChainBlock) => void): () => void;
  /** Sign with the provider key and submit; resolves when the node accepted it (not committed). */
  submit(
    type: string,
    body: Record<string, unknown>,
  ): Promise<{ ok: true; txId: string } | { ok: false; error: string }>;
  /** This node's p2p addresses (hostUri). */
  addrs(): string[];
  handle(protocol: string, handler: (req: Uint8Array, from: string) => Promise<Uint8Array>): Promise<void>;
  handleStream(
    protocol: string,
    handler: (
      req: Uint8Array,
      from: string,
      send: (frame: Uint8Array) => Promise<void>,
      signal: AbortSignal,
    ) => Promise<void>,
  ): Promise<void>;
  /** Stop serving a protocol registered by this client (so a stopped service answers nothing). */
  unhandle?(protocol: string): void;
}
