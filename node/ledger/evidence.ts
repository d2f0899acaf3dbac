/**
 * Evidence of validator misbehaviour, as carried in blocks and handed to the ledger's modules (issue 9).
 *
 * The contract between the consensus side (which detects equivocation, pools evidence, gossips it and
 * includes it in blocks: `node/consensus_driver.ts`, `node/ledger/block.ts`) and the ledger side (which
 * verifies it against the validator set at the infraction height and punishes it once: the staking
 * module). Only types live here.
 * @module
 */
import type { SignedVote } from "../../consensus/types.ts";

/**
 * Two signed votes by one validator key for the same chain, height, round and vote type, naming
 * different blocks (one may be nil). Canonical order: `voteA` is the vote whose block hash sorts first
 * (nil, i.e. null, sorts before any hash), so one equivocation has exactly one encoding.
 */
export interface DuplicateVoteEvidence {
  type: "duplicate_vote";
  voteA: SignedVote;
  voteB: SignedVote;
}

/** Every kind of evidence a block may carry. */
export type Evidence = DuplicateVoteEvidence;

/**
 * What a block tells the ledger about its signers, beyond its txs: who signed the previous block's
 * commit (for downtime tracking) and the evidence it carries. Empty at height 1 and in tx contexts.
 */
export interface BlockSigningInfo {
  /** Validator addresses whose precommits are in the block's `lastCommit` (for height - 1), sorted. */
  readonly lastCommitSigners: readonly string[];
  /** Evidence included in the block, in block order. */
  readonly evidence: readonly Evidence[];
}

/** The empty {@link BlockSigningInfo}. */
export const NO_SIGNING_INFO: BlockSigningInfo = Object.freeze({
  lastCommitSigners: Object.freeze([]) as readonly string[],
  evidence: Object.freeze([]) as readonly Evidence[],
});
