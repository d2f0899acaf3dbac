import { test } from "uvu";
import * as assert from "uvu/assert";
import { encode } from "cborg";
import {
  COMMIT_BYTES_MAX,
  ConsensusDecodeError,
  decodeCommit,
  decodeSignedProposal,
  decodeSignedVote,
  encodeCommit,
  encodeSignedProposal,
  encodeSignedVote,
  proposalSignBytes,
  SIGNED_VOTE_BYTES_MAX,
  voteSignBytes,
} from "../../consensus/codec.ts";
import type { Commit, SignedProposal, SignedVote } from "../../consensus/types.ts";
import { seededRng } from "../../lib/rng.ts";

const HASH = "ab".repeat(32);
const sig = (n: number) => new Uint8Array(64).fill(n);

const signedVote: SignedVote = {
  vote: { chainId: "cirrus-1", type: "precommit", height: 7, round: 2, blockHash: HASH, validator: "val1" },
  signature: sig(1),
};
const signedProposal: SignedProposal = {
  proposal: { chainId: "cirrus-1", height: 7, round: 2, polRound: 1, blockHash: HASH, proposer: "val2" },
  signature: sig(2),
};
const commit: Commit = {
  height: 7,
  round: 2,
  blockHash: HASH,
  signatures: [{ validator: "val1", signature: sig(1) }, { validator: "val2", signature: sig(2) }],
};

/** Runs `fn`; fails unless it returns or throws ConsensusDecodeError. Returns whether it threw. */
function onlyDecodeErrors(fn: () => unknown): boolean {
  try {
    fn();
    return false;
  } catch (error) {
    if (!(error instanceof ConsensusDecodeError)) {
      throw new Error(`expected ConsensusDecodeError, got ${error}`);
    }
    return true;
  }
}

function throwsField(fn: () => unknown, field: RegExp): void {
  try {
    fn();
  } catch (error) {
    assert.instance(error, ConsensusDecodeError);
    assert.match((error as Error).message, field);
    return;
  }
  assert.unreachable("expected ConsensusDecodeError");
}

test("sign bytes are deterministic, tagged and include the chain id", () => {
  const a = voteSignBytes(signedVote.vote);
  assert.equal(a, voteSignBytes({ ...signedVote.vote }));
  const text = new TextDecoder().decode(a);
  assert.ok(text.includes("cirrus/vote/1"));
  assert.ok(text.includes("cirrus-1"));
  assert.not.equal(a, voteSignBytes({ ...signedVote.vote, chainId: "other" }));
  assert.not.equal(a, voteSignBytes({ ...signedVote.vote, type: "prevote" }));
  assert.not.equal(a, voteSignBytes({ ...signedVote.vote, blockHash: null }));
  const p = proposalSignBytes(signedProposal.proposal);
  assert.ok(new TextDecoder().decode(p).includes("cirrus/proposal/1"));
  assert.not.equal(p, proposalSignBytes({ ...signedProposal.proposal, polRound: -1 }));
});

test("signed vote, proposal and commit round-trip", () => {
  assert.equal(decodeSignedVote(encodeSignedVote(signedVote)), signedVote);
  const nilVote = { ...signedVote, vote: { ...signedVote.vote, blockHash: null } };
  assert.equal(decodeSignedVote(encodeSignedVote(nilVote)), nilVote);
  assert.equal(decodeSignedProposal(encodeSignedProposal(signedProposal)), signedProposal);
  const noPol = { ...signedProposal, proposal: { ...signedProposal.proposal, polRound: -1 } };
  assert.equal(decodeSignedProposal(encodeSignedProposal(noPol)), noPol);
  assert.equal(decodeCommit(encodeCommit(commit)), commit);
});

test("rejects out-of-range fields with a message naming the field", () => {
  const v = signedVote.vote;
  const enc = (over: Record<string, unknown>) =>
    encodeSignedVote({ ...signedVote, vote: { ...v, ...over } as never });
  throwsField(() => decodeSignedVote(enc({ round: 10_001 })), /^vote\.round: must be an integer 0\.\.10000/);
  throwsField(() => decodeSignedVote(enc({ round: -1 })), /vote\.round/);
  throwsField(() => decodeSignedVote(enc({ height: 0 })), /vote\.height/);
  throwsField(() => decodeSignedVote(enc({ height: 2 ** 53 })), /vote\.height/);
  throwsField(() => decodeSignedVote(enc({ height: 1.5 })), /vote\.height/);
  throwsField(() => decodeSignedVote(enc({ type: "commit" })), /vote\.type/);
  throwsField(() => decodeSignedVote(enc({ blockHash: "AB".repeat(32) })), /vote\.blockHash/);
  throwsField(() => decodeSignedVote(enc({ blockHash: "ab" })), /vote\.blockHash/);
  throwsField(() => decodeSignedVote(enc({ chainId: "" })), /vote\.chainId/);
  throwsField(() => decodeSignedVote(enc({ chainId: "x".repeat(65) })), /vote\.chainId/);
  throwsField(() => decodeSignedVote(enc({ validator: 5 })), /vote\.validator/);
  throwsField(
    () => decodeSignedVote(encodeSignedVote({ ...signedVote, signature: new Uint8Array(63) })),
    /vote\.signature/,
  );
  const p = signedProposal.proposal;
  const encP = (over: Record<string, unknown>) =>
    encodeSignedProposal({ ...signedProposal, proposal: { ...p, ...over } as never });
  throwsField(() => decodeSignedProposal(encP({ polRound: 2 })), /proposal\.polRound/);
  throwsField(() => decodeSignedProposal(encP({ polRound: -2 })), /proposal\.polRound/);
  throwsField(() => decodeSignedProposal(encP({ round: 0, polRound: 0 })), /proposal\.polRound/);
  throwsField(() => decodeSignedProposal(encP({ blockHash: null })), /proposal\.blockHash/);
  throwsField(() => decodeSignedProposal(encodeSignedVote(signedVote)), /proposal\.tag/);
  const unsorted = { ...commit, signatures: [...commit.signatures].reverse() };
  throwsField(() => decodeCommit(encodeCommit(unsorted)), /commit\.signatures\[1\]\.validator/);
  throwsField(() => decodeCommit(encodeCommit({ ...commit, signatures: [] })), /commit\.signatures/);
});

test("rejects oversized, wrong-shape and non-canonical encodings", () => {
  throwsField(() => decodeSignedVote(new Uint8Array(SIGNED_VOTE_BYTES_MAX + 1)), /vote: encoding is/);
  throwsField(() => decodeCommit(new Uint8Array(COMMIT_BYTES_MAX + 1)), /commit: encoding is/);
  throwsField(() => decodeSignedVote(encode({ a: 1 })), /vote: must be an array of 8 items/);
  throwsField(() => decodeSignedVote(new Uint8Array()), /vote: not valid CBOR/);
  const good = encodeSignedVote(signedVote);
  const trailing = new Uint8Array([...good, 0]);
  throwsField(() => decodeSignedVote(trailing), /^vote: /);
  // height 7 (one byte 0x07 after the three leading strings) written as float16 7.0, or as 0x18 0x07.
  const at = 1 + 14 + 9 + 10;
  assert.is(good[at], 0x07);
  const asFloat = new Uint8Array([...good.subarray(0, at), 0xf9, 0x47, 0x00, ...good.subarray(at + 1)]);
  throwsField(() => decodeSignedVote(asFloat), /^vote/);
  const nonMinimal = new Uint8Array([...good.subarray(0, at), 0x18, 0x07, ...good.subarray(at + 1)]);
  throwsField(() => decodeSignedVote(nonMinimal), /^vote/);
  throwsField(() => decodeSignedVote("nope" as never), /input must be a Uint8Array/);
});

function isSame(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

test("fuzz: 2,000 random byte strings throw only ConsensusDecodeError", () => {
  const next = seededRng(12345);
  for (let i = 0; i < 2000; i++) {
    const bytes = new Uint8Array(Math.floor(next() * 300));
    for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(next() * 256);
    if (i % 4 === 0 && bytes.length > 0) bytes[0] = 0x88 + (i % 8); // start like an array sometimes
    assert.ok(onlyDecodeErrors(() => decodeSignedVote(bytes)), `random ${i} decoded as a vote`);
    assert.ok(onlyDecodeErrors(() => decodeSignedProposal(bytes)));
    assert.ok(onlyDecodeErrors(() => decodeCommit(bytes)));
  }
});

test("fuzz: 2,000 mutated valid encodings throw only ConsensusDecodeError or decode to valid values", () => {
  const next = seededRng(777);
  const seeds = [encodeSignedVote(signedVote), encodeSignedProposal(signedProposal), encodeCommit(commit)];
  for (let i = 0; i < 2000; i++) {
    const seed = seeds[i % 3]!;
    const bytes = new Uint8Array(seed);
    const mutations = 1 + Math.floor(next() * 4);
    for (let m = 0; m < mutations; m++) {
      const at = Math.floor(next() * bytes.length);
      const kind = next();
      if (kind < 0.6) bytes[at] = Math.floor(next() * 256);
      else if (kind < 0.8) bytes[at]! ^= 1 << Math.floor(next() * 8);
      else {bytes[at] = [
          0x00,
          0x18,
          0x1b,
          0x3b,
          0x5f,
          0x9f,
          0xbf,
          0xf6,
          0xf7,
          0xfb,
          0xff,
        ][Math.floor(next() * 11)]!;}
    }
    const truncated = bytes.subarray(0, next() < 0.2 ? Math.floor(next() * bytes.length) : bytes.length);
    for (const decodeFn of [decodeSignedVote, decodeSignedProposal, decodeCommit] as const) {
      onlyDecodeErrors(() => {
        const value = decodeFn(truncated);
        // Anything accepted must re-encode to exactly the input (one encoding per message).
        const again = "vote" in value
          ? encodeSignedVote(value)
          : "proposal" in value
          ? encodeSignedProposal(value)
          : encodeCommit(value);
        assert.ok(isSame(again, truncated), "accepted a non-canonical encoding");
      });
    }
  }
});

test("deeply nested CBOR is rejected with ConsensusDecodeError", () => {
  const deep = new Uint8Array(4000).fill(0x81); // [[[[...
  assert.ok(onlyDecodeErrors(() => decodeSignedVote(deep)));
  const deeper = new Uint8Array(COMMIT_BYTES_MAX).fill(0x81);
  assert.ok(onlyDecodeErrors(() => decodeCommit(deeper)));
});

test.run();
