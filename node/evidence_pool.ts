/**
 * The evidence pool: duplicate-vote evidence this node detected or received on gossip, waiting to be
 * included in a block by a proposer (issue 9, part 2).
 *
 * Bounded in count and bytes (a newcomer beyond is refused: evidence is signed by a validator, so only
 * a real equivocation fills it, and the oldest stays first in line); de-duplicated by evidence id;
 * entries older than `ageBlocksMax` heights are dropped ({@link EvidencePool.prune}), and committed
 * ones removed and remembered (bounded) so that gossip does not bring them back. In memory only: after
 * a restart, evidence already committed may be proposed again, and the ledger refuses to punish twice.
 * @module
 */
import type { Evidence } from "./ledger/evidence.ts";
import { encodeEvidence, evidenceId } from "./ledger/evidence_check.ts";

/** Default most pieces of evidence pending. */
export const EVIDENCE_POOL_COUNT_MAX = 256;
/** Default most bytes of evidence pending. */
export const EVIDENCE_POOL_BYTES_MAX = 1024 * 1024;
/**
 * Default age (in heights below the current one) past which pending evidence is dropped (the driver
 * passes the staking param `evidenceMaxAgeBlocks`: older evidence is no longer punished).
 */
export const EVIDENCE_POOL_AGE_BLOCKS_MAX = 10_000;
/** Ids of committed evidence remembered at most (oldest forgotten). */
const COMMITTED_IDS_MAX = 4096;

/** Options of {@link EvidencePool}. */
export interface EvidencePoolOptions {
  /** Most pieces pending (default {@link EVIDENCE_POOL_COUNT_MAX}). */
  countMax?: number;
  /** Most bytes pending (default {@link EVIDENCE_POOL_BYTES_MAX}). */
  bytesMax?: number;
  /** Heights after which a piece is dropped (default {@link EVIDENCE_POOL_AGE_BLOCKS_MAX}). */
  ageBlocksMax?: number;
}

/** What {@link EvidencePool.add} did. */
export type EvidenceAddResult = "added" | "known" | "committed" | "full" | "expired";

interface Entry {
  id: string;
  evidence: Evidence;
  bytes: number;
  height: number;
}

/**
 * Pending evidence, in a deterministic order (votes' height, then id).
 *
 * @example
 * ```ts
 * const pool = new EvidencePool();
 * pool.add(evidence, currentHeight); // "added"
 * const picked = pool.pending(height, { countMax: 16, bytesMax: 16 * 1024 });
 * pool.committed(block.evidence);
 * ```
 */
export class EvidencePool {
  readonly countMax: number;
  readonly bytesMax: number;
  readonly ageBlocksMax: number;
  readonly #entries = new Map<string, Entry>();
  readonly #committed = new Set<string>();
  #bytes = 0;

  constructor(opts: EvidencePoolOptions = {}) {
    this.countMax = opts.countMax ?? EVIDENCE_POOL_COUNT_MAX;
    this.bytesMax = opts.bytesMax ?? EVIDENCE_POOL_BYTES_MAX;
    this.ageBlocksMax = opts.ageBlocksMax ?? EVIDENCE_POOL_AGE_BLOCKS_MAX;
    for (const [name, v] of Object.entries({ countMax: this.countMax, bytesMax: this.bytesMax })) {
      if (!Number.isSafeInteger(v) || v < 1) {
        throw new RangeError(`Cannot create evidence pool: bad ${name} ${v}`);
      }
    }
  }

  /** Pieces pending. */
  get size(): number {
    return this.#entries.size;
  }

  /** Bytes pending. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Whether the evidence with id `id` is pending or was committed. */
  knows(id: string): boolean {
    return this.#entries.has(id) || this.#committed.has(id);
  }

  /**
   * Adds checked evidence (the caller verified it: `Chain.evidenceProblem` or gossip validation).
   * @param ev the evidence (canonical order).
   * @param height the height being decided now (for the age rule).
   * @returns "added", or why not: already pending ("known"), already in a block ("committed"), the
   *   pool is at its bounds ("full"), older than `ageBlocksMax` ("expired").
   */
  add(ev: Evidence, height: number): EvidenceAddResult {
    const id = evidenceId(ev);
    if (this.#entries.has(id)) return "known";
    if (this.#committed.has(id)) return "committed";
    const h = ev.voteA.vote.height;
    if (h + this.ageBlocksMax < height) return "expired";
    const bytes = encodeEvidence(ev).length;
    if (this.#entries.size >= this.countMax || this.#bytes + bytes > this.bytesMax) return "full";
    this.#entries.set(id, { id, evidence: ev, bytes, height: h });
    this.#bytes += bytes;
    return "added";
  }

  /**
   * Evidence a block of `height` may carry: pieces for heights below it, oldest first (then by id),
   * as many as fit in `countMax` pieces and `bytesMax` bytes (each piece's encoding; the caller keeps
   * room for the list's framing).
   */
  pending(height: number, bounds: { countMax: number; bytesMax: number }): Evidence[] {
    const ready = [...this.#entries.values()].filter((e) => e.height < height)
      .sort((a, b) => a.height - b.height || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const out: Evidence[] = [];
    let bytes = 0;
    for (const e of ready) {
      if (out.length >= bounds.countMax) break;
      if (bytes + e.bytes > bounds.bytesMax) continue;
      out.push(e.evidence);
      bytes += e.bytes;
    }
    return out;
  }

  /** Removes the evidence of a committed block and remembers it (gossip does not bring it back). */
  committed(evidence: readonly Evidence[]): void {
    for (const ev of evidence) {
      const id = evidenceId(ev);
      this.#remove(id);
      if (this.#committed.size >= COMMITTED_IDS_MAX) {
        const first = this.#committed.values().next();
        if (!first.done) this.#committed.delete(first.value);
      }
      this.#committed.add(id);
    }
  }

  /** Drops pieces older than `ageBlocksMax` heights below `height`. */
  prune(height: number): void {
    for (const e of [...this.#entries.values()]) {
      if (e.height + this.ageBlocksMax < height) this.#remove(e.id);
    }
  }

  #remove(id: string): void {
    const e = this.#entries.get(id);
    if (!e) return;
    this.#entries.delete(id);
    this.#bytes -= e.bytes;
  }
}
