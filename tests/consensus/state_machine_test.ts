import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  type HeightState,
  type Input,
  newHeightState,
  type Output,
  step,
} from "../../consensus/state_machine.ts";
import { ValidatorSet } from "../../consensus/validator_set.ts";
import type { Hex, SignedVote, VoteType } from "../../consensus/types.ts";

const A: Hex = "aa".repeat(32);
const B: Hex = "bb".repeat(32);
const TIMEOUTS = { proposeMs: 3000, prevoteMs: 1000, precommitMs: 1200, deltaMs: 500 };
const CHAIN = "cirrus-test";

function makeSet(powers: Record<string, bigint>): ValidatorSet {
  return new ValidatorSet(
    Object.entries(powers).map(([address, power]) => ({
      address,
      pubKey: new Uint8Array(32),
      power,
    })),
  );
}

/** Four validators of power 10: proposers are v1, v2, v3, v4 for rounds 0..3. */
const EQUAL = makeSet({ v1: 10n, v2: 10n, v3: 10n, v4: 10n });

class Node {
  state: HeightState;
  constructor(self: string | null, validators = EQUAL, height = 1) {
    this.state = newHeightState({ chainId: CHAIN, height, validators, self, timeouts: TIMEOUTS });
  }
  feed(input: Input): Output[] {
    const result = step(this.state, input);
    this.state = result.state;
    return result.outputs;
  }
  start(): Output[] {
    return this.feed({ type: "start" });
  }
  proposal(
    round: number,
    blockHash: Hex,
    opts: { polRound?: number; valid?: boolean; timely?: boolean; proposer?: string } = {},
  ) {
    return this.feed({
      type: "proposal",
      proposal: {
        chainId: CHAIN,
        height: this.state.height,
        round,
        polRound: opts.polRound ?? -1,
        blockHash,
        proposer: opts.proposer ?? this.state.validators.proposerForRound(round).address,
      },
      valid: opts.valid ?? true,
      ...(opts.timely !== undefined ? { timely: opts.timely } : {}),
    });
  }
  votes(type: VoteType, round: number, blockHash: Hex | null, validators: string[]): Output[] {
    return validators.flatMap((v) => this.feed({ type: "vote", signed: signed(v, type, round, blockHash) }));
  }
  timeout(which: "propose" | "prevote" | "precommit", round: number): Output[] {
    return this.feed({ type: "timeout", step: which, height: this.state.height, round });
  }
}

function signed(
  validator: string,
  type: VoteType,
  round: number,
  blockHash: Hex | null,
  height = 1,
): SignedVote {
  return {
    vote: { chainId: CHAIN, type, height, round, blockHash, validator },
    signature: new Uint8Array(64).fill(validator.length + round),
  };
}

/** Compact view of outputs for golden comparisons. */
function brief(outputs: Output[]): string[] {
  return outputs.map((o) => {
    switch (o.type) {
      case "vote":
        return `${o.vote.type} r${o.vote.round} ${
          o.vote.blockHash === null ? "nil" : o.vote.blockHash.slice(0, 2)
        }`;
      case "schedule_timeout":
        return `timeout ${o.step} r${o.round} ${o.durationMs}ms`;
      case "propose":
        return `propose r${o.proposal.round} ${o.proposal.blockHash.slice(0, 2)} pol${o.proposal.polRound}`;
      case "get_value":
        return `get_value r${o.round}`;
      case "decide":
        return `decide r${o.round} ${o.blockHash.slice(0, 2)}`;
      case "evidence":
        return `evidence ${o.evidence.a.vote.validator}`;
    }
  });
}

/** Drives `node` (a non-proposer of round 0 with equal powers) until it is locked on A in round 0. */
function lockOnAInRound0(node: Node, others: string[]): void {
  node.start();
  assert.equal(brief(node.proposal(0, A)), ["prevote r0 aa"]);
  assert.equal(brief(node.votes("prevote", 0, A, [node.state.self!, ...others])), ["precommit r0 aa"]);
  assert.is(node.state.lockedValue, A);
  assert.is(node.state.lockedRound, 0);
}

test("full round: proposal, prevotes, precommits, decide with a commit", () => {
  const node = new Node("v2");
  assert.equal(brief(node.start()), ["timeout propose r0 3000ms"]);
  assert.equal(brief(node.proposal(0, A)), ["prevote r0 aa"]);
  assert.equal(brief(node.votes("prevote", 0, A, ["v2", "v1"])), []);
  assert.equal(brief(node.votes("prevote", 0, A, ["v3"])), ["precommit r0 aa"]);
  assert.equal(brief(node.votes("precommit", 0, A, ["v2", "v1"])), []);
  const out = node.votes("precommit", 0, A, ["v4"]);
  assert.equal(brief(out), ["decide r0 aa"]);
  const decide = out[0]!;
  assert.ok(decide.type === "decide");
  assert.equal(decide.commit.signatures.map((s) => s.validator), ["v1", "v2", "v4"]);
  assert.is(decide.commit.height, 1);
  assert.equal(node.state.decision, { round: 0, blockHash: A });
  assert.equal(node.votes("precommit", 0, A, ["v3"]), [], "inert after deciding");
  assert.equal(node.timeout("precommit", 0), []);
});

test("proposer asks for a value, proposes it, and prevotes it when fed back", () => {
  const node = new Node("v1");
  assert.equal(brief(node.start()), ["get_value r0", "timeout propose r0 3000ms"]);
  assert.equal(brief(node.feed({ type: "value", height: 1, round: 1, blockHash: A })), [], "wrong round");
  const out = node.feed({ type: "value", height: 1, round: 0, blockHash: A });
  assert.equal(out, [{
    type: "propose",
    proposal: { chainId: CHAIN, height: 1, round: 0, polRound: -1, blockHash: A, proposer: "v1" },
  }]);
  assert.equal(node.feed({ type: "value", height: 1, round: 0, blockHash: B }), [], "answered once");
  assert.equal(brief(node.proposal(0, A)), ["prevote r0 aa"]);
});

test("nil round: proposal times out, prevote nil, precommit nil, next round", () => {
  const node = new Node("v2");
  node.start();
  assert.equal(brief(node.timeout("propose", 0)), ["prevote r0 nil"]);
  assert.equal(brief(node.votes("prevote", 0, null, ["v2", "v1"])), []);
  assert.equal(brief(node.votes("prevote", 0, null, ["v4"])), ["precommit r0 nil"]);
  assert.equal(brief(node.votes("precommit", 0, null, ["v2", "v1", "v4"])), ["timeout precommit r0 1200ms"]);
  // v2 is the proposer of round 1: it asks for a value; timeouts grow by delta.
  assert.equal(brief(node.timeout("precommit", 0)), ["get_value r1", "timeout propose r1 3500ms"]);
  assert.is(node.state.round, 1);
  assert.is(node.state.step, "propose");
});

test("split prevotes schedule the prevote timeout, which precommits nil", () => {
  const node = new Node("v3");
  node.start();
  node.proposal(0, A);
  assert.equal(brief(node.votes("prevote", 0, A, ["v3", "v1"])), []);
  assert.equal(brief(node.votes("prevote", 0, B, ["v2"])), ["timeout prevote r0 1000ms"]);
  assert.equal(brief(node.votes("prevote", 0, null, ["v4"])), [], "scheduled once");
  assert.equal(brief(node.timeout("prevote", 0)), ["precommit r0 nil"]);
  assert.equal(brief(node.timeout("prevote", 0)), [], "only in step prevote");
});

test("stale timeouts of another round or height are ignored", () => {
  const node = new Node("v2");
  node.start();
  assert.equal(node.feed({ type: "timeout", step: "propose", height: 2, round: 0 }), []);
  assert.equal(node.timeout("propose", 1), []);
  assert.equal(node.timeout("prevote", 0), [], "prevote timeout in step propose does nothing");
  assert.is(node.state.step, "propose");
});

test("invalid block: prevotes nil", () => {
  const node = new Node("v2");
  node.start();
  assert.equal(brief(node.proposal(0, A, { valid: false })), ["prevote r0 nil"]);
});

test("invalid block never locks nor decides even with +2/3 votes for it", () => {
  const node = new Node("v2");
  node.start();
  node.proposal(0, A, { valid: false });
  assert.equal(brief(node.votes("prevote", 0, A, ["v1", "v3", "v4"])), ["timeout prevote r0 1000ms"]);
  assert.equal(brief(node.votes("precommit", 0, A, ["v1", "v3", "v4"])), ["timeout precommit r0 1200ms"]);
  assert.is(node.state.decision, null);
  assert.is(node.state.lockedValue, null);
});

test("finding 1: an untimely fresh proposal gets a nil prevote, yet locks and decides with +2/3 for it", () => {
  const node = new Node("v2");
  node.start();
  assert.equal(brief(node.proposal(0, A, { timely: false })), ["prevote r0 nil"]);
  node.votes("prevote", 0, A, ["v1", "v3", "v4"]);
  assert.is(node.state.lockedValue, A, "timeliness gates only the prevote (PBTS)");
  node.votes("precommit", 0, A, ["v1", "v3", "v4"]);
  assert.is(node.state.decision?.blockHash, A);
});

test("finding 1: a value re-proposed with a proof of lock is prevoted even if its time is not timely here", () => {
  const node = new Node("v3");
  node.start();
  node.votes("prevote", 0, A, ["v1", "v2", "v4"]);
  node.timeout("prevote", 0);
  node.votes("prevote", 1, null, ["v1", "v2"]); // f+1 of round 1: go there
  assert.is(node.state.round, 1);
  assert.ok(brief(node.proposal(1, A, { polRound: 0, timely: false })).includes("prevote r1 aa"));
});

test("wrong proposer is ignored, then the propose timeout prevotes nil", () => {
  const node = new Node("v3");
  node.start();
  assert.equal(node.proposal(0, A, { proposer: "v2" }), []);
  assert.equal(node.state.proposals.size, 0);
  assert.equal(brief(node.timeout("propose", 0)), ["prevote r0 nil"]);
});

test("a second different proposal for the same round is ignored", () => {
  const node = new Node("v3");
  node.start();
  node.feed({ type: "vote", signed: signed("v1", "prevote", 5, null) }); // unrelated noise
  assert.equal(brief(node.proposal(0, A, { valid: false })), ["prevote r0 nil"]);
  node.proposal(0, B);
  assert.is(node.state.proposals.get(0)?.proposal.blockHash, A);
});

test("proposals for another height or chain are ignored", () => {
  const node = new Node("v3");
  node.start();
  node.feed({
    type: "proposal",
    proposal: { chainId: "other", height: 1, round: 0, polRound: -1, blockHash: A, proposer: "v1" },
    valid: true,
  });
  node.feed({
    type: "proposal",
    proposal: { chainId: CHAIN, height: 2, round: 0, polRound: -1, blockHash: A, proposer: "v1" },
    valid: true,
  });
  assert.is(node.state.proposals.size, 0);
  assert.is(node.state.step, "propose");
});

test("lock without POL: the locked validator prevotes nil for a different value in the next round", () => {
  const node = new Node("v3");
  lockOnAInRound0(node, ["v1", "v2"]);
  assert.equal(brief(node.votes("precommit", 0, null, ["v1", "v2"])), []);
  assert.equal(brief(node.votes("precommit", 0, A, ["v3"])), ["timeout precommit r0 1200ms"]);
  node.timeout("precommit", 0);
  assert.is(node.state.round, 1);
  assert.equal(brief(node.proposal(1, B)), ["prevote r1 nil"]);
  assert.is(node.state.lockedValue, A);
});

test("lock without POL: the locked validator prevotes its locked value when re-proposed", () => {
  const node = new Node("v3");
  lockOnAInRound0(node, ["v1", "v2"]);
  node.votes("precommit", 0, null, ["v1", "v2", "v4"]);
  node.timeout("precommit", 0);
  assert.equal(brief(node.proposal(1, A)), ["prevote r1 aa"]);
});

test("a locked proposer re-proposes its valid value with its valid round", () => {
  const node = new Node("v2"); // proposer of round 1
  lockOnAInRound0(node, ["v1", "v3"]);
  node.votes("precommit", 0, null, ["v1", "v3", "v4"]);
  assert.equal(brief(node.timeout("precommit", 0)), ["propose r1 aa pol0", "timeout propose r1 3500ms"]);
});

test("POL relock: +2/3 prevotes for a new value in a later round with polRound relock it", () => {
  const node = new Node("v4");
  lockOnAInRound0(node, ["v1", "v2"]);
  node.votes("precommit", 0, null, ["v1", "v2", "v3"]);
  node.timeout("precommit", 0);
  // Round 1: we miss the proposal, others prevote B.
  assert.equal(brief(node.timeout("propose", 1)), ["prevote r1 nil"]);
  assert.equal(brief(node.votes("prevote", 1, B, ["v1", "v2", "v3"])), ["timeout prevote r1 1500ms"]);
  assert.equal(brief(node.timeout("prevote", 1)), ["precommit r1 nil"]);
  node.votes("precommit", 1, null, ["v1", "v2", "v3"]);
  node.timeout("precommit", 1);
  assert.is(node.state.round, 2);
  // Round 2: v3 proposes B with polRound 1; lockedRound 0 <= 1 so we prevote B (L28-30).
  assert.equal(brief(node.proposal(2, B, { polRound: 1 })), ["prevote r2 bb"]);
  assert.equal(brief(node.votes("prevote", 2, B, ["v1", "v2", "v3"])), ["precommit r2 bb"]);
  assert.is(node.state.lockedValue, B);
  assert.is(node.state.lockedRound, 2);
  assert.is(node.state.validValue, B);
});

test("POL proposal waits for the +2/3 prevotes of its polRound, else times out to nil", () => {
  const node = new Node("v4");
  lockOnAInRound0(node, ["v1", "v2"]);
  node.votes("precommit", 0, null, ["v1", "v2", "v3"]);
  node.timeout("precommit", 0);
  node.timeout("propose", 1);
  node.votes("prevote", 1, null, ["v1", "v2", "v3"]);
  node.votes("precommit", 1, null, ["v1", "v2", "v3"]);
  node.timeout("precommit", 1);
  assert.equal(brief(node.proposal(2, B, { polRound: 1 })), [], "no POL for B in round 1");
  assert.equal(brief(node.timeout("propose", 2)), ["prevote r2 nil"]);
});

test("a POL older than the lock does not unlock: prevote nil", () => {
  const node = new Node("v4");
  // Round 0: B gets +2/3 prevotes but we never saw the proposal (no lock); round 1: lock on A.
  node.start();
  node.timeout("propose", 0);
  node.votes("prevote", 0, B, ["v1", "v2", "v3"]);
  node.timeout("prevote", 0);
  node.votes("precommit", 0, null, ["v1", "v2", "v3"]);
  node.timeout("precommit", 0);
  assert.equal(brief(node.proposal(1, A)), ["prevote r1 aa"]);
  assert.equal(brief(node.votes("prevote", 1, A, ["v1", "v2", "v4"])), ["precommit r1 aa"]);
  node.votes("precommit", 1, null, ["v1", "v2", "v3"]);
  node.timeout("precommit", 1);
  // Round 2 (v3): proposes B with polRound 0 < lockedRound 1 -> nil (L32).
  assert.equal(brief(node.proposal(2, B, { polRound: 0 })), ["prevote r2 nil"]);
});

test("late +2/3 prevotes while in precommit update the valid value but not the lock (L36, L42-43)", () => {
  const node = new Node("v2");
  node.start();
  node.proposal(0, A);
  node.votes("prevote", 0, A, ["v2", "v3"]);
  assert.equal(brief(node.votes("prevote", 0, null, ["v4"])), ["timeout prevote r0 1000ms"]);
  assert.equal(brief(node.timeout("prevote", 0)), ["precommit r0 nil"]);
  assert.equal(brief(node.votes("prevote", 0, A, ["v1"])), [], "no second precommit");
  assert.is(node.state.validValue, A);
  assert.is(node.state.validRound, 0);
  assert.is(node.state.lockedValue, null);
  assert.is(node.state.lockedRound, -1);
});

test("round skip: f+1 power of messages from a higher round starts that round", () => {
  const node = new Node("v1");
  node.start();
  assert.equal(brief(node.votes("prevote", 5, null, ["v3"])), [], "one of four is not f+1");
  assert.equal(brief(node.votes("precommit", 5, null, ["v3"])), [], "same validator counts once");
  assert.equal(brief(node.votes("prevote", 5, B, ["v4"])), ["timeout propose r5 5500ms"]);
  assert.is(node.state.round, 5);
  assert.is(node.state.step, "propose");
});

test("round skip then lands on the proposer's own round and asks for a value", () => {
  const node = new Node("v2");
  node.start();
  assert.equal(brief(node.votes("prevote", 1, null, ["v3", "v4"])), [
    "get_value r1",
    "timeout propose r1 3500ms",
  ]);
});

test("commit from a previous round: +2/3 precommits of round 0 while in round 1 decide", () => {
  const node = new Node("v2");
  node.start();
  node.proposal(0, A);
  node.votes("prevote", 1, null, ["v3", "v4"]); // skip to round 1
  assert.is(node.state.round, 1);
  const out = node.votes("precommit", 0, A, ["v1", "v3", "v4"]);
  assert.equal(brief(out), ["decide r0 aa"]);
  const decide = out[0]!;
  assert.ok(decide.type === "decide");
  assert.equal(decide.commit.signatures.map((s) => s.validator), ["v1", "v3", "v4"]);
  assert.is(decide.commit.round, 0);
});

test("votes and precommits before the proposal: the proposal decides at once", () => {
  const node = new Node("v3");
  node.start();
  node.votes("prevote", 0, A, ["v1", "v2", "v4"]);
  assert.equal(brief(node.votes("precommit", 0, A, ["v1", "v2", "v4"])), ["timeout precommit r0 1200ms"]);
  assert.equal(brief(node.proposal(0, A)), ["decide r0 aa"]);
});

test("votes before start are kept and acted on after start", () => {
  const node = new Node("v3");
  assert.equal(node.votes("prevote", 0, A, ["v1", "v2", "v4"]), []);
  assert.equal(node.proposal(0, A), []);
  assert.equal(brief(node.start()), ["timeout propose r0 3000ms", "prevote r0 aa", "precommit r0 aa"]);
});

test("duplicate vote: a conflicting vote produces evidence and counts only for its own value", () => {
  const node = new Node("v2");
  node.start();
  node.proposal(0, A);
  node.votes("prevote", 0, A, ["v1"]);
  const out = node.votes("prevote", 0, B, ["v1"]);
  assert.equal(brief(out), ["evidence v1"]);
  const ev = out[0]!;
  assert.ok(ev.type === "evidence");
  assert.is(ev.evidence.a.vote.blockHash, A);
  assert.is(ev.evidence.b.vote.blockHash, B);
  assert.equal(node.votes("prevote", 0, A, ["v1"]), [], "exact duplicate is silent");
  assert.is(node.state.votes.powerFor(0, "prevote", A), node.state.votes.powerFor(0, "prevote", B));
  assert.not.ok(node.state.votes.hasTwoThirdsAny(0, "prevote"), "one validator counted once in the total");
});

test("ignores votes from non-validators, other heights and other chains", () => {
  const node = new Node("v2");
  node.start();
  node.proposal(0, A);
  node.votes("prevote", 0, A, ["x1", "x2", "x3"]);
  for (const v of ["v1", "v3", "v4"]) node.feed({ type: "vote", signed: signed(v, "prevote", 0, A, 2) });
  for (const v of ["v1", "v3", "v4"]) {
    const s = signed(v, "prevote", 0, A);
    s.vote.chainId = "other";
    node.feed({ type: "vote", signed: s });
  }
  assert.is(node.state.step, "prevote");
  assert.is(node.state.votes.powerFor(0, "prevote", A), 0n);
});

test("unequal power: decide needs more than 2/3 of the power, not of the count", () => {
  const set = makeSet({ v1: 1n, v2: 1n, v3: 1n, v4: 5n });
  assert.is(set.proposerForRound(0).address, "v4");
  const node = new Node("v1", set);
  node.start();
  assert.equal(brief(node.proposal(0, A)), ["prevote r0 aa"]);
  assert.equal(brief(node.votes("prevote", 0, A, ["v1", "v2", "v3"])), [], "3 of 8 power");
  assert.equal(brief(node.votes("prevote", 0, A, ["v4"])), ["precommit r0 aa"]);
  assert.equal(brief(node.votes("precommit", 0, A, ["v1", "v2", "v3"])), []);
  assert.equal(brief(node.votes("precommit", 0, A, ["v4"])), ["decide r0 aa"]);
});

test("unequal power: the heavy validator alone is f+1 and triggers a round skip", () => {
  const node = new Node("v1", makeSet({ v1: 1n, v2: 1n, v3: 1n, v4: 5n }));
  node.start();
  assert.equal(brief(node.votes("prevote", 3, null, ["v2", "v3"])), [], "2 of 8 is not f+1");
  assert.equal(brief(node.votes("prevote", 3, null, ["v4"])).at(-1), "timeout propose r3 4500ms");
  assert.is(node.state.round, 3);
});

test("an observer (self null) never votes but decides", () => {
  const node = new Node(null);
  assert.equal(brief(node.start()), ["timeout propose r0 3000ms"]);
  assert.equal(node.proposal(0, A), []);
  node.votes("prevote", 0, A, ["v1", "v2", "v3"]);
  assert.equal(brief(node.votes("precommit", 0, A, ["v1", "v2", "v3"])), ["decide r0 aa"]);
});

test("step returns the same state object it was given (documented in-place update)", () => {
  const node = new Node("v2");
  const before = node.state;
  const { state } = step(before, { type: "start" });
  assert.is(state, before);
});

test.run();
