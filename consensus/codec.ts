/**
 * Canonical encodings of consensus messages: sign bytes (domain tag + chain id) and the wire codecs used
 * for gossip. Decoders take untrusted bytes and throw only {@link ConsensusDecodeError}.
 *
 * Every encoding is a deterministic CBOR array in a fixed field order; decoders re-encode what they
 * parsed and reject any input that is not byte-identical (non-minimal integers, floats, trailing bytes),
 * so one message has exactly one encoding.
 * @module
 */
import { decode, encode } from "cborg";
import { bytesEqual } from "../lib/crypto.ts";
import type { Commit, Hex, Proposal, SignedProposal, SignedVote, Vote, VoteType } from "./types.ts";

/** Domain tag of vote sign bytes and signed-vote wire messages. */
export const VOTE_TAG = "cirrus/vote/1";
/** Domain tag of proposal sign bytes and signed-proposal wire messages. */
export const PROPOSAL_TAG = "cirrus/proposal/1";
/** Domain tag of commit wire messages. */
export const COMMIT_TAG = "cirrus/commit/1";

/** Largest accepted encoded signed vote, in bytes. */
export const SIGNED_VOTE_BYTES_MAX = 4 * 1024;
/** Largest accepted encoded signed proposal, in bytes. */
export const SIGNED_PROPOSAL_BYTES_MAX = 4 * 1024;
/** Largest accepted encoded commit, in bytes. */
export const COMMIT_BYTES_MAX = 512 * 1024;
/** Most signatures a commit may carry. */
export const COMMIT_SIGNATURES_MAX = 2_000;
/** Highest accepted round number. */
export const ROUND_MAX = 10_000;
/** Longest accepted chain id, in characters (printable ASCII). */
export const CHAIN_ID_LENGTH_MAX = 64;
/** Longest accepted validator address, in characters (printable ASCII). */
export const ADDRESS_LENGTH_MAX = 128;
/** Length of an ed25519 signature, in bytes. */
export const SIGNATURE_BYTES = 64;

/** Thrown by every decoder on malformed, oversized or non-canonical input; the message names the field. */
export class ConsensusDecodeError extends Error {
  /** @param message "field: what is wrong". */
  constructor(message: string) {
    super(message);
    this.name = "ConsensusDecodeError";
  }
}

const voteTypes: readonly VoteType[] = ["prevote", "precommit"];

function voteFields(vote: Vote): unknown[] {
  return [VOTE_TAG, vote.chainId, vote.type, vote.height, vote.round, vote.blockHash, vote.validator];
}

function proposalFields(p: Proposal): unknown[] {
  return [PROPOSAL_TAG, p.chainId, p.height, p.round, p.polRound, p.blockHash, p.proposer];
}

/**
 * The bytes a validator signs for a vote.
 * @param vote the vote.
 * @returns CBOR of [VOTE_TAG, chainId, type, height, round, blockHash|null, validator].
 * @example
 * ```ts
 * const bytes = voteSignBytes({ chainId: "c", type: "prevote", height: 1, round: 0, blockHash: null, validator: "v" });
 * ```
 */
export function voteSignBytes(vote: Vote): Uint8Array {
  return encode(voteFields(vote));
}

/**
 * The bytes a proposer signs for a proposal.
 * @param proposal the proposal.
 * @returns CBOR of [PROPOSAL_TAG, chainId, height, round, polRound, blockHash, proposer].
 */
export function proposalSignBytes(proposal: Proposal): Uint8Array {
  return encode(proposalFields(proposal));
}

/**
 * Wire encoding of a signed vote: the sign-bytes array followed by the signature.
 * @param signed the signed vote.
 * @returns canonical CBOR bytes.
 */
export function encodeSignedVote(signed: SignedVote): Uint8Array {
  return encode([...voteFields(signed.vote), signed.signature]);
}

/**
 * Wire encoding of a signed proposal: the sign-bytes array followed by the signature.
 * @param signed the signed proposal.
 * @returns canonical CBOR bytes.
 */
export function encodeSignedProposal(signed: SignedProposal): Uint8Array {
  return encode([...proposalFields(signed.proposal), signed.signature]);
}

function commitFields(commit: Commit): unknown[] {
  return [
    COMMIT_TAG,
    commit.height,
    commit.round,
    commit.blockHash,
    commit.signatures.map((s) => [s.validator, s.signature]),
  ];
}

/**
 * Wire encoding of a commit certificate. Signatures must be sorted by validator address.
 * @param commit the commit.
 * @returns canonical CBOR bytes.
 */
export function encodeCommit(commit: Commit): Uint8Array {
  return encode(commitFields(commit));
}

// ---- decoding -------------------------------------------------------------------------------------------

function fail(field: string, problem: string): never {
  throw new ConsensusDecodeError(`${field}: ${problem}`);
}

function parse(bytes: unknown, max: number, what: string, length: number): unknown[] {
  if (!(bytes instanceof Uint8Array)) fail(what, "input must be a Uint8Array");
  if (bytes.length > max) fail(what, `encoding is ${bytes.length} bytes, more than ${max}`);
  let value: unknown;
  try {
    value = decode(bytes, {
      strict: true,
      allowIndefinite: false,
      allowUndefined: false,
      allowInfinity: false,
      allowNaN: false,
      allowBigInt: true,
      rejectDuplicateMapKeys: true,
    });
  } catch (error) {
    fail(what, `not valid CBOR (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!Array.isArray(value) || value.length !== length) fail(what, `must be an array of ${length} items`);
  return value;
}

/** A signed vote or proposal: `[tag, chainId, 5 fields, signature]`, with its tag and chain id checked. */
function signedMessage(
  bytes: Uint8Array,
  max: number,
  what: string,
  expectedTag: string,
): { a: unknown[]; chainId: string } {
  const a = parse(bytes, max, what, 8);
  tag(a[0], expectedTag, `${what}.tag`);
  return { a, chainId: printable(a[1], `${what}.chainId`, CHAIN_ID_LENGTH_MAX) };
}

/** `decoded`, once its re-encoding is found to be the input's bytes. */
function canonical<T>(input: Uint8Array, decoded: T, encodeFn: (v: T) => Uint8Array, what: string): T {
  if (!bytesEqual(input, encodeFn(decoded))) fail(what, "not in canonical encoding");
  return decoded;
}

function tag(value: unknown, expected: string, field: string): void {
  if (value !== expected) fail(field, `must be "${expected}"`);
}

function printable(value: unknown, field: string, max: number): string {
  if (typeof value !== "string" || value.length < 1 || value.length > max || !/^[\x21-\x7e]+$/.test(value)) {
    fail(field, `must be a string of 1..${max} printable ASCII characters`);
  }
  return value;
}

function height(value: unknown, field: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    fail(field, "must be a safe integer >= 1");
  }
  return value;
}

function round(value: unknown, field: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > ROUND_MAX) {
    fail(field, `must be an integer 0..${ROUND_MAX}`);
  }
  return value;
}

function hash(value: unknown, field: string): Hex {
  if (typeof value !== "string" || !/^[0-9a-f]{64}$/.test(value)) {
    fail(field, "must be 64 lower-case hex chars");
  }
  return value;
}

function signature(value: unknown, field: string): Uint8Array {
  if (!(value instanceof Uint8Array) || value.length !== SIGNATURE_BYTES) {
    fail(field, `must be ${SIGNATURE_BYTES} bytes`);
  }
  return value;
}

/**
 * Decodes a gossiped signed vote (does not verify the signature).
 * @param bytes untrusted bytes, at most {@link SIGNED_VOTE_BYTES_MAX}.
 * @returns the signed vote.
 * @throws ConsensusDecodeError naming the bad field.
 */
export function decodeSignedVote(bytes: Uint8Array): SignedVote {
  const { a, chainId } = signedMessage(bytes, SIGNED_VOTE_BYTES_MAX, "vote", VOTE_TAG);
  const type = a[2];
  if (typeof type !== "string" || !voteTypes.includes(type as VoteType)) {
    fail("vote.type", 'must be "prevote" or "precommit"');
  }
  const vote: Vote = {
    chainId,
    type: type as VoteType,
    height: height(a[3], "vote.height"),
    round: round(a[4], "vote.round"),
    blockHash: a[5] === null ? null : hash(a[5], "vote.blockHash"),
    validator: printable(a[6], "vote.validator", ADDRESS_LENGTH_MAX),
  };
  return canonical(bytes, { vote, signature: signature(a[7], "vote.signature") }, encodeSignedVote, "vote");
}

/**
 * Decodes a gossiped signed proposal (does not verify the signature).
 * @param bytes untrusted bytes, at most {@link SIGNED_PROPOSAL_BYTES_MAX}.
 * @returns the signed proposal.
 * @throws ConsensusDecodeError naming the bad field.
 */
export function decodeSignedProposal(bytes: Uint8Array): SignedProposal {
  const { a, chainId } = signedMessage(bytes, SIGNED_PROPOSAL_BYTES_MAX, "proposal", PROPOSAL_TAG);
  const h = height(a[2], "proposal.height");
  const r = round(a[3], "proposal.round");
  const polRound = a[4];
  if (typeof polRound !== "number" || !Number.isInteger(polRound) || polRound < -1 || polRound >= r) {
    fail("proposal.polRound", `must be an integer -1..round-1 (round ${r})`);
  }
  const proposal: Proposal = {
    chainId,
    height: h,
    round: r,
    polRound,
    blockHash: hash(a[5], "proposal.blockHash"),
    proposer: printable(a[6], "proposal.proposer", ADDRESS_LENGTH_MAX),
  };
  const signed = { proposal, signature: signature(a[7], "proposal.signature") };
  return canonical(bytes, signed, encodeSignedProposal, "proposal");
}

/**
 * Decodes a commit certificate (does not verify signatures or power).
 * Signatures must be sorted by validator address, without duplicates.
 * @param bytes untrusted bytes, at most {@link COMMIT_BYTES_MAX}.
 * @returns the commit.
 * @throws ConsensusDecodeError naming the bad field.
 */
export function decodeCommit(bytes: Uint8Array): Commit {
  const a = parse(bytes, COMMIT_BYTES_MAX, "commit", 5);
  tag(a[0], COMMIT_TAG, "commit.tag");
  const h = height(a[1], "commit.height");
  const r = round(a[2], "commit.round");
  const blockHash = hash(a[3], "commit.blockHash");
  const list = a[4];
  if (!Array.isArray(list) || list.length < 1 || list.length > COMMIT_SIGNATURES_MAX) {
    fail("commit.signatures", `must be an array of 1..${COMMIT_SIGNATURES_MAX} items`);
  }
  const signatures: Commit["signatures"] = [];
  for (let i = 0; i < list.length; i++) {
    const field = `commit.signatures[${i}]`;
    const entry: unknown = list[i];
    if (!Array.isArray(entry) || entry.length !== 2) fail(field, "must be an array [validator, signature]");
    const validator = printable(entry[0], `${field}.validator`, ADDRESS_LENGTH_MAX);
    const previous = signatures[i - 1];
    if (previous !== undefined && !(previous.validator < validator)) {
      fail(`${field}.validator`, "must be sorted by address without duplicates");
    }
    signatures.push({ validator, signature: signature(entry[1], `${field}.signature`) });
  }
  return canonical(bytes, { height: h, round: r, blockHash, signatures }, encodeCommit, "commit");
}
