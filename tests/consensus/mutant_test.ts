/**
 * The mutant switches of `consensus/mutant.ts` change exactly the rule they name, and the default
 * (no mutant) keeps the paper's rule: the Twins checker's catch figures rest on that.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ValidatorSet } from "../../consensus/validator_set.ts";
import { HeightVoteSet } from "../../consensus/vote_set.ts";
import {
  type HeightState,
  type Input,
  newHeightState,
  type Output,
  step,
} from "../../consensus/state_machine.ts";
import type { Mutant } from "../../consensus/mutant.ts";
import type { Hex, SignedVote, VoteType } from "../../consensus/types.ts";

const A = "aa".repeat(32), B = "bb".repeat(32);
const set = new ValidatorSet(["v1", "v2", "v3", "v4"].map((address) => ({
  address,
  pubKey: new Uint8Array(32),
  power: 10n,
})));
const timeouts = { proposeMs: 100, prevoteMs: 100, precommitMs: 100, deltaMs: 10 };

function sv(validator: string, type: VoteType, round: number, blockHash: Hex | null): SignedVote {
  return {
    vote: { chainId: "c", type, height: 1, round, blockHash, validator },
    signature: new Uint8Array(64),
  };
}

/** A node that is not the proposer of rounds 1 and 2. */
function node(mutant: Mutant | null): { s: HeightState; feed: (i: Input) => Output[] } {
  const leaders = new Set([1, 2].map((r) => set.proposerForRound(r).address));
  const self = ["v1", "v2", "v3", "v4"].find((v) => !leaders.has(v))!;
  const s = newHeightState({ chainId: "c", height: 1, validators: set, self, timeouts, mutant });
  // As the driver does: own votes are fed back as inputs (outputs of those included).
  const feed = (i: Input): Output[] => {
    const outputs = step(s, i).outputs;
    const all = [...outputs];
    for (const o of outputs) {
      if (o.type === "vote") {
        all.push(...feed({ type: "vote", signed: { vote: o.vote, signature: new Uint8Array(64) } }));
      }
    }
    return all;
  };
  feed({ type: "start" });
  return { s, feed };
}

function others(s: HeightState): string[] {
  return ["v1", "v2", "v3", "v4"].filter((v) => v !== s.self);
}

function proposal(round: number, blockHash: Hex, polRound: number): Input {
  const proposer = set.proposerForRound(round).address;
  return {
    type: "proposal",
    proposal: { chainId: "c", height: 1, round, polRound, blockHash, proposer },
    valid: true,
  };
}

/** Locks A in round 1 (after B got 2f+1 prevotes in round 0, unseen as a lock), then enters round 2. */
function lockedOnAThenRound2(mutant: Mutant | null) {
  const n = node(mutant);
  const [x, y, z] = others(n.s);
  for (const v of [x!, y!, z!]) n.feed({ type: "vote", signed: sv(v, "prevote", 0, B) });
  for (const v of [x!, y!]) n.feed({ type: "vote", signed: sv(v, "prevote", 1, A) }); // f+1: round 1
  assert.is(n.s.round, 1);
  n.feed(proposal(1, A, -1));
  assert.is(n.s.lockedValue, A);
  assert.is(n.s.lockedRound, 1);
  for (const v of [x!, y!]) n.feed({ type: "vote", signed: sv(v, "precommit", 2, null) }); // f+1: round 2
  assert.is(n.s.round, 2);
  return n;
}

function prevoteOf(outputs: Output[]): Hex | null | undefined {
  const o = outputs.find((x) => x.type === "vote" && x.vote.type === "prevote");
  return o?.type === "vote" ? o.vote.blockHash : undefined;
}

test("skip-lock-check: a locked node prevotes a fresh proposal for another value", () => {
  assert.is(prevoteOf(lockedOnAThenRound2(null).feed(proposal(2, B, -1))), null);
  assert.is(prevoteOf(lockedOnAThenRound2("skip-lock-check").feed(proposal(2, B, -1))), B);
});

test("accept-stale-pol: a node locked in round 1 prevotes a value whose proof of lock is from round 0", () => {
  assert.is(prevoteOf(lockedOnAThenRound2(null).feed(proposal(2, B, 0))), null);
  assert.is(prevoteOf(lockedOnAThenRound2("accept-stale-pol").feed(proposal(2, B, 0))), B);
});

test("precommit-without-quorum: a node precommits on its own prevote alone", () => {
  const precommits = (mutant: Mutant | null) => {
    const n = node(mutant);
    return n.feed(proposal(0, A, -1)).filter((o) => o.type === "vote" && o.vote.type === "precommit").length;
  };
  assert.is(precommits(null), 0);
  assert.is(precommits("precommit-without-quorum"), 1);
});

test("count-duplicate-votes: a repeated vote adds its power again", () => {
  for (const [mutant, power] of [[null, 10n], ["count-duplicate-votes", 20n]] as const) {
    const votes = new HeightVoteSet("c", 1, set, mutant);
    votes.add(sv("v1", "prevote", 0, A));
    votes.add(sv("v1", "prevote", 0, A));
    assert.is(votes.powerFor(0, "prevote", A), power);
  }
});

test.run();
