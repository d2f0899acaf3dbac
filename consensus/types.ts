/**
 * Types shared by the consensus core and its driver. The core works on block *hashes* (hex strings);
 * the driver holds the block bytes. Votes reaching the core are already signature-checked by the driver
 * and come from validators of the current set.
 * @module
 */

/** Lower-case hex string (a block hash, sha256). */
export type Hex = string;

/** A member of the validator set. `address` is the bech32 account address of its key. */
export interface Validator {
  address: string;
  /** Raw 32-byte ed25519 public key. */
  pubKey: Uint8Array;
  /** Voting power (bonded stake), > 0. */
  power: bigint;
}

export type VoteType = "prevote" | "precommit";

/** A proposal for (height, round). The block itself travels next to it (driver's business). */
export interface Proposal {
  chainId: string;
  height: number;
  round: number;
  /** -1 when the proposer has no proof-of-lock round for this value. */
  polRound: number;
  blockHash: Hex;
  proposer: string;
}

export interface Vote {
  chainId: string;
  type: VoteType;
  height: number;
  round: number;
  /** null = a vote for nil. */
  blockHash: Hex | null;
  validator: string;
}

export interface SignedVote {
  vote: Vote;
  /** ed25519 signature over `voteSignBytes(vote)`. */
  signature: Uint8Array;
}

export interface SignedProposal {
  proposal: Proposal;
  signature: Uint8Array;
}

/** A commit certificate: precommits for `blockHash` at (height, round) with > 2/3 of the power. */
export interface Commit {
  height: number;
  round: number;
  blockHash: Hex;
  signatures: { validator: string; signature: Uint8Array }[];
}

/** Two conflicting signed votes of one validator for the same height/round/type. */
export interface DuplicateVoteEvidence {
  a: SignedVote;
  b: SignedVote;
}
