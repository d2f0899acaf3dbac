/**
 * The one source of truth for how big blocks, txs and gossip messages may be (issue 8, finding 4).
 *
 * The chain's limits come from genesis (`params.consensus.maxBlockBytes`, `maxBlockTxs`,
 * `params.ledger.maxTxBytes`); the bounds below are what genesis may ask for, because they are what
 * the network can carry: a block travels whole in one gossip message next to its signed proposal.
 *
 *   GOSSIP_BYTES_MAX (4 MiB - 64 KiB, the transport's; defined in `node/gossip_validation.ts`)
 *     >= PROPOSAL_ENVELOPE_BYTES_MAX + maxBlockBytes          (a proposal message)
 *   maxBlockBytes >= blockOverheadBytesMax(validators) + maxTxBytes   (one tx of the largest size fits)
 *
 * A block's `maxBlockBytes` is its whole encoding (header, txs, last commit), checked exactly by
 * validation and respected by the block builder.
 * @module
 */
import { SIGNED_PROPOSAL_BYTES_MAX } from "../../consensus/codec.ts";
import { GOSSIP_BYTES_MAX } from "../gossip_validation.ts";

const MiB = 1024 * 1024;

/** Bytes of a proposal message besides its block: the signed proposal and the CBOR framing. */
export const PROPOSAL_ENVELOPE_BYTES_MAX = SIGNED_PROPOSAL_BYTES_MAX + 1024;

/** Largest encoded block the network carries: what genesis's `maxBlockBytes` may be at most. */
export const BLOCK_BYTES_MAX = GOSSIP_BYTES_MAX - PROPOSAL_ENVELOPE_BYTES_MAX;

/** Largest signed tx genesis's `maxTxBytes` may allow. */
export const TX_BYTES_MAX = 1 * MiB;

/** Most txs per block genesis's `maxBlockTxs` may allow (a signed tx takes well over 40 bytes). */
export const BLOCK_TXS_MAX = 100_000;

/** Most pieces of evidence in one block (issue 9): a proposer includes no more, validity refuses more. */
export const BLOCK_EVIDENCE_MAX = 16;

/**
 * Most bytes the evidence list of one block takes (its CBOR array). One duplicate vote takes about
 * 450 bytes, so {@link BLOCK_EVIDENCE_MAX} of them fit.
 */
export const BLOCK_EVIDENCE_BYTES_MAX = 16 * 1024;

/**
 * Bytes a block takes besides its txs, at most, with `validators` validators: the header (chain id,
 * hashes, proposer, numbers: under 1 KiB), the last commit (under 200 bytes per signature) and the
 * evidence ({@link BLOCK_EVIDENCE_BYTES_MAX}). With a changing validator set, pass the most the set
 * may hold (`validatorsMax`), so that the bound holds at every height.
 * @param validators the largest size of the validator set.
 * @returns an upper bound in bytes.
 * @example
 * ```ts
 * blockOverheadBytesMax(4); // 18208
 * ```
 */
export function blockOverheadBytesMax(validators: number): number {
  return 1024 + 200 * validators + BLOCK_EVIDENCE_BYTES_MAX;
}

/** Length of a CBOR major-type header for a length or count of `n`. */
function cborHeaderBytes(n: number): number {
  return n < 24 ? 1 : n < 256 ? 2 : n < 65_536 ? 3 : n < 4_294_967_296 ? 5 : 9;
}

/**
 * How many of `txLengths` (in order) a block builder can include so that the encoded block stays
 * within `maxBlockBytes`, given the encoding of the same block without txs (exact: CBOR framing of
 * each tx and of the array included).
 * @param txLengths byte lengths of the candidate txs, in block order.
 * @param maxBlockBytes genesis's limit on the whole block.
 * @param emptyBlockBytes length of the block encoded with no txs.
 * @returns the number of leading txs that fit.
 * @example
 * ```ts
 * txsThatFit([100, 100, 100], 800, 600); // 1
 * ```
 */
export function txsThatFit(
  txLengths: readonly number[],
  maxBlockBytes: number,
  emptyBlockBytes: number,
): number {
  const size = emptyBlockBytes - cborHeaderBytes(0);
  let sum = 0;
  for (let i = 0; i < txLengths.length; i++) {
    sum += cborHeaderBytes(txLengths[i]!) + txLengths[i]!;
    if (size + cborHeaderBytes(i + 1) + sum > maxBlockBytes) return i;
  }
  return txLengths.length;
}
