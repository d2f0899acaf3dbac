/**
 * The mempool: signature-checked transactions waiting for a block, in arrival order, with per-sender
 * nonces contiguous from the committed state. Bounded in count and bytes.
 * @module
 */
import type { SignedTx } from "./ledger/tx.ts";
import { checkTx, type LedgerState } from "./ledger/state.ts";

/** Limits of a mempool. */
export interface MempoolLimits {
  txsMax: number;
  bytesMax: number;
}

/** Result of adding a transaction. */
export type AddResult = { ok: true; id: string } | { ok: false; reason: string; duplicate?: boolean };

/** Pending transactions, in arrival order. */
export class Mempool {
  #txs = new Map<string, SignedTx>();
  #pendingBySender = new Map<string, number>();
  #bytes = 0;
  #onAdded: (() => void) | null = null;
  readonly limits: MempoolLimits;

  constructor(limits: MempoolLimits) {
    this.limits = limits;
  }

  /** Called after each tx admitted (consensus wakes a resting height with it). One listener. */
  onAdded(fn: (() => void) | null): void {
    this.#onAdded = fn;
  }

  get size(): number {
    return this.#txs.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  has(id: string): boolean {
    return this.#txs.has(id);
  }

  /** A pending tx by id. */
  get(id: string): SignedTx | undefined {
    return this.#txs.get(id);
  }

  /** The nonce the next transaction of `address` must carry. */
  nextNonce(state: LedgerState, address: string): bigint {
    const account = state.account(address);
    return (account?.nonce ?? 0n) + BigInt(this.#pendingBySender.get(address) ?? 0);
  }

  /** Add a signature-checked transaction after a stateful check against `state` plus pending txs. */
  add(stx: SignedTx, state: LedgerState): AddResult {
    if (this.#txs.has(stx.id)) {
      return { ok: false, reason: `tx ${stx.id} is already in the mempool`, duplicate: true };
    }
    if (this.#txs.size >= this.limits.txsMax) {
      return { ok: false, reason: `mempool is full (${this.limits.txsMax} txs); retry later` };
    }
    if (this.#bytes + stx.bytes.length > this.limits.bytesMax) {
      return { ok: false, reason: `mempool is full (${this.limits.bytesMax} bytes); retry later` };
    }
    const check = checkTx(state, stx, this.nextNonce(state, stx.tx.from));
    if (!check.ok) return { ok: false, reason: check.reason };
    this.#insert(stx);
    this.#onAdded?.();
    return { ok: true, id: stx.id };
  }

  #insert(stx: SignedTx): void {
    this.#txs.set(stx.id, stx);
    this.#bytes += stx.bytes.length;
    this.#pendingBySender.set(stx.tx.from, (this.#pendingBySender.get(stx.tx.from) ?? 0) + 1);
  }

  /** The oldest transactions that fit in a block. */
  reap(txsMax: number, bytesMax: number): SignedTx[] {
    const out: SignedTx[] = [];
    let bytes = 0;
    for (const stx of this.#txs.values()) {
      if (out.length >= txsMax || bytes + stx.bytes.length > bytesMax) break;
      out.push(stx);
      bytes += stx.bytes.length;
    }
    return out;
  }

  /**
   * After a block: drop the committed ids, then re-check, in arrival order, the pending txs of the
   * senders the block touched (`senders`: their nonce or balance moved; a tx whose nonce is now stale
   * or that can no longer pay is dropped). Other senders' txs stay valid: a block only ever debits the
   * accounts that signed its txs. Without `senders`, everything is re-checked.
   */
  update(
    committed: Iterable<string>,
    state: LedgerState,
    senders?: ReadonlySet<string>,
  ): { dropped: number } {
    for (const id of committed) this.#txs.delete(id);
    const remaining = [...this.#txs.values()];
    this.#txs.clear();
    this.#pendingBySender.clear();
    this.#bytes = 0;
    let dropped = 0;
    for (const stx of remaining) {
      if (senders && !senders.has(stx.tx.from)) {
        this.#insert(stx);
        continue;
      }
      const check = checkTx(state, stx, this.nextNonce(state, stx.tx.from));
      if (check.ok) this.#insert(stx);
      else dropped++;
    }
    return { dropped };
  }
}
