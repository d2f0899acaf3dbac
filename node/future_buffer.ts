/**
 * Consensus messages of the next height, kept until it starts: bounded in count and bytes (beyond,
 * new messages are dropped; a peer re-sends what a stuck height needs).
 * @module
 */

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
