/**
 * Checks and codecs of {@link Evidence} shared by the consensus side (the evidence pool, gossip, block
 * validity: `node/evidence_pool.ts`, `node/chain.ts`) and the ledger side (the staking module, which
 * punishes it): one definition of what makes a duplicate vote a proof.
 *
 * - {@link evidenceShapeProblem}: pure, synchronous: one chain, height, round, type and validator;
 *   different blocks; canonical order (voteA's block hash first, nil first).
 * - {@link evidenceSignatureProblem}: the signer is in the validator set of that height and both
 *   signatures verify (async: ed25519).
 * - {@link encodeEvidence} / {@link decodeEvidence}: the canonical CBOR form carried in blocks and on
 *   gossip, `{type: "duplicate_vote", voteA: signedVoteBytes, voteB: signedVoteBytes}`; the decoder is
 *   strict (one encoding per evidence).
 * @module
 */
import { decodeSignedVote, encodeSignedVote, voteSignBytes } from "../../consensus/codec.ts";
import type { SignedVote, Validator } from "../../consensus/types.ts";
import { bytesEqual, sha256, toHex, verify } from "../../lib/crypto.ts";
import {
  canonicalEncode,
  DecodeError,
  exactKeysProblem,
  isPlainObject,
  strictDecode,
} from "../../lib/cbor.ts";
import type { DuplicateVoteEvidence, Evidence } from "./evidence.ts";

/** Largest encoded evidence accepted (two signed votes and framing). */
export const EVIDENCE_BYTES_MAX = 2 * 4 * 1024 + 256;

/** Orders block hashes as the canonical evidence order does: nil (null) first, then hex order. */
function hashOrder(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  return a < b ? -1 : 1;
}

/**
 * The {@link DuplicateVoteEvidence} of two conflicting votes, in canonical order.
 * @param x one signed vote.
 * @param y a vote of the same validator, height, round and type for another block.
 * @returns the evidence, `voteA` being the vote whose block hash sorts first (nil first).
 * @example
 * ```ts
 * const ev = duplicateVoteEvidence(seen, conflicting); // same result with the arguments swapped
 * ```
 */
export function duplicateVoteEvidence(x: SignedVote, y: SignedVote): DuplicateVoteEvidence {
  const [voteA, voteB] = hashOrder(x.vote.blockHash, y.vote.blockHash) <= 0 ? [x, y] : [y, x];
  return { type: "duplicate_vote", voteA, voteB };
}

/**
 * Why `ev` is not a well-formed duplicate vote for `chainId`, or null (no signature is checked).
 * @param ev untrusted evidence (decoded).
 * @param chainId the chain's id.
 * @returns a reason, or null.
 */
export function evidenceShapeProblem(ev: Evidence, chainId: string): string | null {
  if (ev.type !== "duplicate_vote") return `unknown evidence type ${String(ev.type)}`;
  const a = ev.voteA.vote, b = ev.voteB.vote;
  if (a.chainId !== chainId || b.chainId !== chainId) {
    return `votes of another chain (${a.chainId}, not ${chainId})`;
  }
  if (a.validator !== b.validator) return "the two votes are by different validators";
  if (a.height !== b.height) return `the votes are for heights ${a.height} and ${b.height}`;
  if (a.round !== b.round) return `the votes are for rounds ${a.round} and ${b.round}`;
  if (a.type !== b.type) return `the votes are a ${a.type} and a ${b.type}`;
  const order = hashOrder(a.blockHash, b.blockHash);
  if (order === 0) return "the two votes name the same block: no equivocation";
  if (order > 0) return "votes out of canonical order (voteA's block hash must sort first, nil first)";
  return null;
}

/**
 * Why `ev` is not a proof of equivocation by a validator of its height, or null: its shape
 * ({@link evidenceShapeProblem}), the signer's membership in `validators` (the set of the votes'
 * height) and both signatures.
 * @param ev untrusted evidence (decoded).
 * @param chainId the chain's id.
 * @param validators the members of the validator set at the votes' height (lookup by address).
 * @returns a reason, or null.
 */
export async function evidenceProblem(
  ev: Evidence,
  chainId: string,
  validators: { get(address: string): Validator | undefined },
): Promise<string | null> {
  const shape = evidenceShapeProblem(ev, chainId);
  if (shape !== null) return shape;
  const vote = ev.voteA.vote;
  const v = validators.get(vote.validator);
  if (v === undefined) return `${vote.validator} is not a validator at height ${vote.height}`;
  const [okA, okB] = await Promise.all([
    verify(v.pubKey, voteSignBytes(ev.voteA.vote), ev.voteA.signature),
    verify(v.pubKey, voteSignBytes(ev.voteB.vote), ev.voteB.signature),
  ]);
  if (!okA) return "voteA's signature is invalid";
  if (!okB) return "voteB's signature is invalid";
  return null;
}

/** The CBOR map of an evidence (its votes in the consensus codec's signed form). */
export function evidenceMap(ev: Evidence): Record<string, unknown> {
  return { type: ev.type, voteA: encodeSignedVote(ev.voteA), voteB: encodeSignedVote(ev.voteB) };
}

/** Canonical bytes of an evidence. */
export function encodeEvidence(ev: Evidence): Uint8Array {
  return canonicalEncode(evidenceMap(ev));
}

/** The evidence's id: hex sha256 of its canonical bytes (one equivocation, one id). */
export function evidenceId(ev: Evidence): string {
  return toHex(sha256(encodeEvidence(ev)));
}

/**
 * Parses an evidence map (already decoded from CBOR) strictly: exact keys, each vote in its one
 * canonical signed encoding. Checks no rule of {@link evidenceShapeProblem}.
 * @throws DecodeError naming the bad field.
 */
export function parseEvidence(v: unknown, path = "evidence"): Evidence {
  if (!isPlainObject(v)) throw new DecodeError(`${path}: must be a map`);
  const k = exactKeysProblem(v, ["type", "voteA", "voteB"], path);
  if (k) throw new DecodeError(k);
  if (v.type !== "duplicate_vote") throw new DecodeError(`${path}.type: must be "duplicate_vote"`);
  const vote = (x: unknown, name: string): SignedVote => {
    if (!(x instanceof Uint8Array)) throw new DecodeError(`${path}.${name}: must be bytes`);
    let sv: SignedVote;
    try {
      sv = decodeSignedVote(x);
    } catch (e) {
      throw new DecodeError(`${path}.${name}: ${(e as Error).message}`);
    }
    if (!bytesEqual(encodeSignedVote(sv), x)) throw new DecodeError(`${path}.${name}: not canonical`);
    return sv;
  };
  return { type: "duplicate_vote", voteA: vote(v.voteA, "voteA"), voteB: vote(v.voteB, "voteB") };
}

/**
 * Strictly decodes untrusted evidence bytes (gossip).
 * @throws DecodeError naming the bad field.
 */
export function decodeEvidence(bytes: Uint8Array): Evidence {
  if (bytes.length > EVIDENCE_BYTES_MAX) {
    throw new DecodeError(`evidence too large: ${bytes.length} bytes > ${EVIDENCE_BYTES_MAX}`);
  }
  return parseEvidence(strictDecode(bytes, "evidence"));
}
