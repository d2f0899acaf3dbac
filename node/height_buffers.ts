/**
 * What the consensus driver keeps around one height, bounded: consensus messages of the next height
 * until it starts ({@link FutureBuffer}: beyond its bounds new messages are dropped, a peer re-sends
 * what a stuck height needs), and the blocks seen for the current height with their validation
 * ({@link BlockCache}).
 * @module
 */
import type { Hex } from "../consensus/types.ts";
import type { ValidatedBlock } from "./chain.ts";

/** Messages kept at most. */
export const FUTURE_BUFFER_MAX = 2_000;
/** Bytes of next-height messages kept at most (a few full proposals). */
export const FUTURE_BUFFER_BYTES_MAX = 32 * 1024 * 1024;

/** One kept message: its kind and its gossip bytes. */
export interface FutureMessage {
  kind: "proposal" | "vote";
  data: Uint8Array;
}

/** A bounded buffer of next-height messages. */
export class FutureBuffer {
  #items: FutureMessage[] = [];
  #bytes = 0;

  /** Messages kept. */
  get size(): number {
    return this.#items.length;
  }

  /** Keeps a message unless the buffer is at its bounds. @returns whether it was kept. */
  push(kind: "proposal" | "vote", data: Uint8Array): boolean {
    if (this.#items.length >= FUTURE_BUFFER_MAX || this.#bytes + data.length > FUTURE_BUFFER_BYTES_MAX) {
      return false;
    }
    this.#items.push({ kind, data });
    this.#bytes += data.length;
    return true;
  }

  /** Takes every kept message, in arrival order, and empties the buffer. */
  take(): FutureMessage[] {
    const out = this.#items;
    this.#items = [];
    this.#bytes = 0;
    return out;
  }
}

/** Blocks remembered per height at most (the oldest is forgotten beyond). */
export const BLOCK_CACHE_MAX = 16;

/** A block seen for the height and its validation: valid (with its execution) or why not. */
export type BlockVerdict = { ok: true; value: ValidatedBlock } | { ok: false; reason: string };

/** Blocks of the current height by hash, validated or not; bounded by {@link BLOCK_CACHE_MAX}. */
export class BlockCache {
  readonly #blocks = new Map<Hex, BlockVerdict>();

  /** The verdict on block `hash`, if seen. */
  get(hash: Hex): BlockVerdict | undefined {
    return this.#blocks.get(hash);
  }

  /** Remembers the verdict on block `hash` (forgetting the oldest beyond the bound). */
  set(hash: Hex, v: BlockVerdict): void {
    if (this.#blocks.size >= BLOCK_CACHE_MAX && !this.#blocks.has(hash)) {
      const first = this.#blocks.keys().next();
      if (!first.done) this.#blocks.delete(first.value);
    }
    this.#blocks.set(hash, v);
  }

  /** Forgets every block (a new height). */
  clear(): void {
    this.#blocks.clear();
  }
}
