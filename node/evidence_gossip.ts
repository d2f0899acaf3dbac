/**
 * Evidence on gossip (issue 9, part 2): the topic `/cirrus/<chainId>/evidence` carries one
 * duplicate-vote evidence per message (`encodeEvidence`). A message is validated as strictly as a
 * block's evidence (`Chain.evidenceProblem`): shape, the signer in the validator set of the votes'
 * height, both signatures; invalid evidence is rejected (the sender loses score), evidence already
 * pending or committed, too old or for a height this node cannot check yet is ignored.
 *
 * {@link EvidenceGossip} joins the consensus driver to the {@link EvidencePool}: evidence detected by
 * the core (conflicting signed votes) is put in canonical order, pooled and published; evidence from
 * peers is pooled; committed evidence leaves the pool.
 * @module
 */
import type { Logger } from "../lib/log.ts";
import type { SignedVote } from "../consensus/types.ts";
import type { Chain } from "./chain.ts";
import type { P2P } from "./p2p.ts";
import type { Evidence } from "./ledger/evidence.ts";
import {
  decodeEvidence,
  duplicateVoteEvidence,
  encodeEvidence,
  EVIDENCE_BYTES_MAX,
  evidenceId,
  evidenceProblem,
  evidenceShapeProblem,
} from "./ledger/evidence_check.ts";
import { type GossipResult, IGNORE, REJECT } from "./gossip_validation.ts";
import type { EvidencePool } from "./evidence_pool.ts";

/** What evidence validation reads of the node. */
export interface EvidenceGossipContext {
  readonly chain: Chain;
  readonly pool: EvidencePool;
  /** The height being decided. */
  height(): number;
}

/**
 * Gossip validation of an evidence message.
 * @param data the message (untrusted).
 * @param ctx the chain, the pool and the height being decided.
 * @returns "accept", or reject/ignore with a reason.
 */
export async function validateEvidenceMessage(
  data: Uint8Array,
  ctx: EvidenceGossipContext,
): Promise<GossipResult> {
  if (data.length > EVIDENCE_BYTES_MAX) return REJECT.too_large;
  let ev: Evidence;
  try {
    ev = decodeEvidence(data);
  } catch (e) {
    return { action: "reject", reason: "malformed", detail: (e as Error).message };
  }
  const chain = ctx.chain;
  const shape = evidenceShapeProblem(ev, chain.chainId);
  if (shape !== null) return { action: "reject", reason: "invalid_evidence", detail: shape };
  const h = ev.voteA.vote.height;
  if (h > chain.height + 2) return IGNORE.future_height;
  if (h + ctx.pool.ageBlocksMax < ctx.height()) return IGNORE.stale_height;
  if (ctx.pool.knows(evidenceId(ev))) return IGNORE.known_evidence;
  const set = await chain.validatorsAt(h);
  if (set === null) return IGNORE.stale_height;
  const why = await evidenceProblem(ev, chain.chainId, set);
  if (why !== null) {
    return {
      action: "reject",
      reason: set.has(ev.voteA.vote.validator) ? "invalid_evidence" : "not_validator",
      detail: why,
    };
  }
  return "accept";
}

/** Options of {@link EvidenceGossip}. */
export interface EvidenceGossipOptions {
  chain: Chain;
  p2p: P2P;
  pool: EvidencePool;
  /** The evidence topic (`topics(chainId).evidence`). */
  topic: string;
  /** The height being decided (the driver's). */
  height: () => number;
  log: Logger;
}

/** The evidence side of the consensus driver: detection to pool to gossip, gossip to pool, blocks out. */
export class EvidenceGossip {
  readonly #o: EvidenceGossipOptions;
  readonly #ctx: EvidenceGossipContext;
  /** Duplicate votes detected by this node (conflicting signed votes of one validator). */
  detected = 0;

  constructor(opts: EvidenceGossipOptions) {
    this.#o = opts;
    this.#ctx = { chain: opts.chain, pool: opts.pool, height: opts.height };
  }

  /** Subscribes to the evidence topic. */
  start(): void {
    this.#o.p2p.onMessage(
      this.#o.topic,
      (d) => validateEvidenceMessage(d, this.#ctx),
      (d) => {
        try {
          this.#add(decodeEvidence(d), "gossip");
        } catch { /* validated before: cannot happen */ }
      },
    );
  }

  /**
   * Two conflicting signed votes seen by the consensus core (signatures already checked, same
   * validator, height, round and type): pooled in canonical order and published.
   */
  async report(a: SignedVote, b: SignedVote): Promise<void> {
    this.detected++;
    const ev = duplicateVoteEvidence(a, b);
    this.#o.log("warn", "duplicate vote evidence", {
      validator: a.vote.validator,
      height: a.vote.height,
      round: a.vote.round,
      type: a.vote.type,
    });
    if (this.#add(ev, "detected") !== "added") return;
    await this.#o.p2p.publish(this.#o.topic, encodeEvidence(ev)).catch(() => 0);
  }

  /** Evidence a block of `height` may carry (see `EvidencePool.pending`). */
  forBlock(height: number, bounds: { countMax: number; bytesMax: number }): Evidence[] {
    return this.#o.pool.pending(height, bounds);
  }

  /** A block was committed at `height` with `evidence`: it leaves the pool; old pieces are dropped. */
  committed(evidence: readonly Evidence[], height: number): void {
    this.#o.pool.committed(evidence);
    this.#o.pool.prune(height + 1);
  }

  #add(ev: Evidence, from: "detected" | "gossip"): string {
    const r = this.#o.pool.add(ev, this.#o.height());
    if (r === "full") this.#o.log("warn", "evidence pool full: evidence dropped", { from });
    return r;
  }
}
