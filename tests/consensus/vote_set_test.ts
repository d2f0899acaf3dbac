import { test } from "uvu";
import * as assert from "uvu/assert";
import { ValidatorSet } from "../../consensus/validator_set.ts";
import { HeightVoteSet } from "../../consensus/vote_set.ts";
import type { Hex, SignedVote, VoteType } from "../../consensus/types.ts";

const A = "aa".repeat(32), B = "bb".repeat(32);
const set = new ValidatorSet(["v1", "v2", "v3", "v4"].map((address) => ({
  address,
  pubKey: new Uint8Array(32),
  power: 10n,
})));

function sv(validator: string, type: VoteType, round: number, blockHash: Hex | null, height = 1): SignedVote {
  return {
    vote: { chainId: "c", type, height, round, blockHash, validator },
    signature: new Uint8Array(64).fill(validator.charCodeAt(1)),
  };
}

test("two-thirds majority needs more than 2/3 of the power", () => {
  const votes = new HeightVoteSet("c", 1, set);
  votes.add(sv("v1", "prevote", 0, A));
  votes.add(sv("v2", "prevote", 0, A));
  assert.is(votes.twoThirdsMajority(0, "prevote"), undefined);
  votes.add(sv("v3", "prevote", 0, A));
  assert.is(votes.twoThirdsMajority(0, "prevote"), A);
  assert.is(votes.twoThirdsMajority(0, "precommit"), undefined);
});

test("nil majority is reported as null, split votes as any-but-none", () => {
  const votes = new HeightVoteSet("c", 1, set);
  for (const v of ["v1", "v2", "v3"]) votes.add(sv(v, "prevote", 0, null));
  assert.is(votes.twoThirdsMajority(0, "prevote"), null);
  const split = new HeightVoteSet("c", 1, set);
  split.add(sv("v1", "prevote", 0, A));
  split.add(sv("v2", "prevote", 0, B));
  assert.not.ok(split.hasTwoThirdsAny(0, "prevote"));
  split.add(sv("v3", "prevote", 0, null));
  assert.ok(split.hasTwoThirdsAny(0, "prevote"));
  assert.is(split.twoThirdsMajority(0, "prevote"), undefined);
});

test("a conflicting second vote yields evidence once and counts for its own value, a third value not", () => {
  const votes = new HeightVoteSet("c", 1, set);
  const first = sv("v1", "precommit", 0, A);
  const second = sv("v1", "precommit", 0, B);
  assert.equal(votes.add(first), { status: "added" });
  const result = votes.add(second);
  assert.equal(result, { status: "conflicting", evidence: { a: first, b: second } });
  assert.equal(votes.add(sv("v1", "precommit", 0, null)), { status: "conflicting", evidence: null });
  assert.is(votes.powerFor(0, "precommit", B), 10n);
  assert.is(votes.powerFor(0, "precommit", A), 10n);
  assert.is(votes.powerFor(0, "precommit", null), 0n);
  assert.not.ok(votes.hasTwoThirdsAny(0, "precommit")); // one validator, however many values
});

test("an equivocator's other vote completes a quorum an honest node could not see otherwise", () => {
  // v1, v2 and v3 saw v4 prevote A first; v4's prevote for B must still count toward B's +2/3.
  const votes = new HeightVoteSet("c", 1, set);
  votes.add(sv("v4", "precommit", 0, A));
  for (const v of ["v1", "v2"]) votes.add(sv(v, "precommit", 0, B));
  assert.is(votes.twoThirdsMajority(0, "precommit"), undefined);
  votes.add(sv("v4", "precommit", 0, B));
  assert.is(votes.twoThirdsMajority(0, "precommit"), B);
  assert.equal(votes.makeCommit(0, B).signatures.map((s) => s.validator), ["v1", "v2", "v4"]);
});

test("exact duplicates are ignored", () => {
  const votes = new HeightVoteSet("c", 1, set);
  votes.add(sv("v1", "prevote", 0, A));
  assert.equal(votes.add(sv("v1", "prevote", 0, A)), { status: "duplicate" });
  assert.is(votes.powerFor(0, "prevote", A), 10n);
});

test("ignores non-validators, other heights and other chains", () => {
  const votes = new HeightVoteSet("c", 1, set);
  assert.is(votes.add(sv("v9", "prevote", 0, A)).status, "ignored");
  assert.is(votes.add(sv("v1", "prevote", 0, A, 2)).status, "ignored");
  const other = sv("v1", "prevote", 0, A);
  other.vote.chainId = "x";
  assert.is(votes.add(other).status, "ignored");
  assert.is(votes.powerFor(0, "prevote", A), 0n);
});

test("f+1 in a round counts each validator once across vote types", () => {
  const votes = new HeightVoteSet("c", 1, set);
  votes.add(sv("v1", "prevote", 3, A));
  votes.add(sv("v1", "precommit", 3, A));
  assert.not.ok(votes.hasOneThirdAnyInRound(3));
  votes.add(sv("v2", "precommit", 3, null));
  assert.ok(votes.hasOneThirdAnyInRound(3));
  assert.equal(votes.rounds(), [3]);
});

test("makeCommit collects the precommits for the block sorted by address", () => {
  const votes = new HeightVoteSet("c", 1, set);
  for (const v of ["v4", "v2", "v1"]) votes.add(sv(v, "precommit", 1, A));
  votes.add(sv("v3", "precommit", 1, null));
  const commit = votes.makeCommit(1, A);
  assert.equal(commit.signatures.map((s) => s.validator), ["v1", "v2", "v4"]);
  assert.is(commit.height, 1);
  assert.is(commit.round, 1);
  assert.throws(() => votes.makeCommit(1, B), /no \+2\/3/);
});

test.run();
