import { test } from "uvu";
import * as assert from "uvu/assert";
import { ValidatorSet } from "../../consensus/validator_set.ts";
import type { Validator } from "../../consensus/types.ts";

function val(address: string, power: bigint): Validator {
  return { address, pubKey: new Uint8Array(32).fill(address.charCodeAt(0)), power };
}

/** Proposers of `heights` consecutive heights (the set advanced once per height). */
function proposerSequence(set: ValidatorSet, heights: number): string[] {
  const out: string[] = [];
  let current = set;
  for (let i = 0; i < heights; i++) {
    out.push(current.proposer.address);
    current = current.advance(1);
  }
  return out;
}

test("sorts validators by address and sums power", () => {
  const set = new ValidatorSet([val("c", 3n), val("a", 1n), val("b", 2n)]);
  assert.equal(set.validators.map((v) => v.address), ["a", "b", "c"]);
  assert.is(set.totalPower, 6n);
  assert.is(set.get("b")?.power, 2n);
  assert.ok(set.has("a"));
  assert.not.ok(set.has("z"));
  assert.is(set.size, 3);
});

test("rejects duplicates, zero and negative power, and an empty set", () => {
  assert.throws(() => new ValidatorSet([val("a", 1n), val("a", 2n)]), /duplicate/);
  assert.throws(() => new ValidatorSet([val("a", 0n)]), /power/);
  assert.throws(() => new ValidatorSet([val("a", -5n)]), /power/);
  assert.throws(() => new ValidatorSet([]), /empty/);
});

test("equal powers rotate the proposer in address order", () => {
  const set = new ValidatorSet([val("d", 10n), val("b", 10n), val("a", 10n), val("c", 10n)]);
  assert.equal(proposerSequence(set, 8), ["a", "b", "c", "d", "a", "b", "c", "d"]);
});

test("powers 1,2,3 give the hand-derived CometBFT sequence C B A C B C", () => {
  // By hand: priorities start 0; each increment adds power then the max (ties -> lower address) pays 6.
  // (1,2,3)->C:(1,2,-3); (2,4,0)->B:(2,-2,0); (3,0,3) tie A/C -> A:(-3,0,3); (-2,2,6)->C:(-2,2,0);
  // (-1,4,3)->B:(-1,-2,3); (0,0,6)->C:(0,0,0) and the cycle repeats.
  const set = new ValidatorSet([val("a", 1n), val("b", 2n), val("c", 3n)]);
  assert.equal(proposerSequence(set, 12), ["c", "b", "a", "c", "b", "c", "c", "b", "a", "c", "b", "c"]);
  assert.equal(set.validators.map((v) => v.priority), [1n, 2n, -3n]);
});

test("powers 1,2,3 are proposers in proportion over 600 rounds", () => {
  const set = new ValidatorSet([val("a", 1n), val("b", 2n), val("c", 3n)]);
  const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
  for (let r = 0; r < 600; r++) counts[set.proposerForRound(r).address]! += 1;
  assert.equal(counts, { a: 100, b: 200, c: 300 });
});

test("proposerForRound(r) equals the proposer of the set advanced r times", () => {
  const set = new ValidatorSet([val("a", 5n), val("b", 1n), val("c", 7n), val("d", 2n)]);
  for (let r = 0; r < 30; r++) {
    assert.is(set.proposerForRound(r).address, set.advance(r).proposer.address);
  }
  assert.is(set.advance(0), set);
});

test("priorities stay centred and within the 2*total window", () => {
  let set = new ValidatorSet([val("a", 1n), val("b", 1000n), val("c", 3n), val("d", 77n)]);
  for (let i = 0; i < 500; i++) {
    set = set.advance(1);
    const ps = set.validators.map((v) => v.priority);
    const max = ps.reduce((m, p) => (p > m ? p : m));
    const min = ps.reduce((m, p) => (p < m ? p : m));
    assert.ok(max - min <= 3n * set.totalPower, `window at ${i}: ${max - min}`);
    const sum = ps.reduce((s, p) => s + p, 0n);
    assert.ok(sum >= -BigInt(ps.length) && sum <= BigInt(ps.length) * set.totalPower, `sum ${sum}`);
  }
});

test("rescales priorities whose spread exceeds 2*total (CometBFT RescalePriorities)", () => {
  const base = new ValidatorSet([val("a", 1n), val("b", 1n)]);
  const json = base.toJSON();
  json.validators[0]!.priority = "1000";
  json.validators[1]!.priority = "-1000";
  const wide = ValidatorSet.fromJSON(json);
  // diff 2000 > diffMax 4: ratio = ceil(2000/4) = 500 -> 2, -2; centred (avg 0); +1 each -> 3, -1;
  // a is chosen and pays 2 -> 1, -1.
  const next = wide.advance(1);
  assert.equal(next.validators.map((v) => v.priority), [1n, -1n]);
  assert.is(next.proposer.address, "a");
});

test("toJSON/fromJSON keeps priorities, powers, keys and the proposer", () => {
  const set = new ValidatorSet([val("a", 1n), val("b", 2n), val("c", 3n)]).advance(4);
  const json = JSON.parse(JSON.stringify(set.toJSON()));
  const back = ValidatorSet.fromJSON(json);
  assert.equal(back.toJSON(), set.toJSON());
  assert.is(back.proposer.address, set.proposer.address);
  assert.equal(back.get("b")?.pubKey, set.get("b")?.pubKey);
  assert.equal(proposerSequence(back, 10), proposerSequence(set, 10));
  assert.is(typeof json.validators[0].power, "string");
});

test("fromJSON rejects malformed input", () => {
  assert.throws(() => ValidatorSet.fromJSON({ validators: "x" } as never));
  const json = new ValidatorSet([val("a", 1n)]).toJSON();
  assert.throws(() => ValidatorSet.fromJSON({ ...json, proposer: "zz" }), /proposer/);
  json.validators[0]!.power = "1.5";
  assert.throws(() => ValidatorSet.fromJSON(json));
});

test("two-thirds and one-third thresholds are strict", () => {
  const set = new ValidatorSet([val("a", 1n), val("b", 1n), val("c", 1n)]);
  assert.not.ok(set.hasTwoThirds(2n));
  assert.ok(set.hasTwoThirds(3n));
  assert.not.ok(set.hasOneThird(1n));
  assert.ok(set.hasOneThird(2n));
  const four = new ValidatorSet([val("a", 1n), val("b", 1n), val("c", 1n), val("d", 1n)]);
  assert.ok(four.hasTwoThirds(3n));
  assert.ok(four.hasOneThird(2n));
  assert.not.ok(four.hasOneThird(1n));
});

/** A set with the given powers and priorities (as a height's set restored from disk). */
function withPriorities(entries: [string, bigint, bigint][], proposer: string): ValidatorSet {
  return ValidatorSet.fromJSON({
    validators: entries.map(([a, power, priority]) => ({
      address: a,
      pubKey: "00".repeat(32).replace(/^00/, a.charCodeAt(0).toString(16)),
      power: power.toString(),
      priority: priority.toString(),
    })),
    proposer,
  });
}

const priorities = (set: ValidatorSet) =>
  Object.fromEntries(set.validators.map((v) => [v.address, v.priority]));

test("withValidators: the same members and powers return the very same set", () => {
  const set = new ValidatorSet([val("a", 1n), val("b", 2n)]);
  assert.is(set.withValidators([val("b", 2n), val("a", 1n)]), set);
});

test("withValidators: a newcomer starts at -1.125 * total, then the set is re-centred (by hand)", () => {
  // a=0 b=0 (powers 1,1) + c (power 2): U = 4, c = -(4 + 4>>3) = -4; diff 4 <= 2*4; avg floor(-4/3) = -2
  // -> a=2 b=2 c=-2. Advanced once: +power a=3 b=3 c=0, a leads (tie, lower address) and pays 4: a=-1.
  const set = withPriorities([["a", 1n, 0n], ["b", 1n, 0n]], "a");
  const next = set.withValidators([val("a", 1n), val("b", 1n), val("c", 2n)]);
  assert.equal(priorities(next), { a: 2n, b: 2n, c: -2n });
  assert.is(next.totalPower, 4n);
  const advanced = next.advance(1);
  assert.is(advanced.proposer.address, "a");
  assert.equal(priorities(advanced), { a: -1n, b: 3n, c: 0n });
});

test("withValidators: continuing validators keep their priority through a power change; rescaled", () => {
  // powers 10,10 -> 1,1: priorities 100,-100 kept; new total 2, window 4 < diff 200: ratio 50 -> 2,-2
  const set = withPriorities([["a", 10n, 100n], ["b", 10n, -100n]], "a");
  const next = set.withValidators([val("a", 1n), val("b", 1n)]);
  assert.equal(priorities(next), { a: 2n, b: -2n });
  assert.is(next.proposer.address, "a", "the old proposer stays the (not yet advanced) proposer");
});

test("withValidators: removals count in U for newcomers, rescale truncates toward zero (by hand)", () => {
  // a=0 b=0 c=0 (1,1,2) -> [a:1, d:1]: U = 4 + 1 (removals not subtracted) = 5, d = -(5 + 0) = -5;
  // total 2, window 4 < diff 5: ratio ceil(5/4) = 2 -> a=0, d=trunc(-5/2)=-2; avg floor(-2/2) = -1
  // -> a=1, d=-1. The old proposer c left: the highest priority (a) stands in until advanced.
  const set = withPriorities([["a", 1n, 0n], ["b", 1n, 0n], ["c", 2n, 0n]], "c");
  const next = set.withValidators([val("a", 1n), val("d", 1n)]);
  assert.equal(priorities(next), { a: 1n, d: -1n });
  assert.is(next.proposer.address, "a");
  assert.not.ok(next.has("b"));
  assert.not.ok(next.has("c"));
});

test("withValidators: a validator that leaves and re-joins does not reset a negative priority", () => {
  // Just after proposing, a sits at the bottom; re-joining puts it at -1.125 * U, lower still.
  let set = new ValidatorSet([val("a", 5n), val("b", 5n), val("c", 5n)]);
  set = set.advance(1);
  const without = set.withValidators([val("b", 5n), val("c", 5n)]).advance(1);
  const back = without.withValidators([val("a", 5n), val("b", 5n), val("c", 5n)]);
  const a = back.get("a")!.priority;
  assert.ok(back.validators.every((v) => v.address === "a" || v.priority > a), "a is last in line");
  // and over 300 heights the proposer shares stay proportional to power (a, starting behind, one less)
  let cur = back.advance(1);
  const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
  for (let h = 0; h < 300; h++) {
    counts[cur.proposer.address]! += 1;
    cur = cur.advance(1);
  }
  assert.equal(counts, { a: 99, b: 100, c: 101 });
});

test("withValidators: refuses an empty or malformed list, and is pure", () => {
  const set = new ValidatorSet([val("a", 1n), val("b", 2n)]);
  const before = JSON.stringify(set.toJSON());
  assert.throws(() => set.withValidators([]), /empty/);
  assert.throws(() => set.withValidators([val("a", 0n)]), /power/);
  set.withValidators([val("a", 7n), val("z", 3n)]);
  assert.is(JSON.stringify(set.toJSON()), before);
});

test("sameMembers compares members, powers and keys, not priorities", () => {
  const set = new ValidatorSet([val("a", 1n), val("b", 2n)]);
  assert.ok(set.sameMembers(set.advance(3)));
  assert.not.ok(set.sameMembers(new ValidatorSet([val("a", 1n), val("b", 3n)])));
  assert.not.ok(set.sameMembers(new ValidatorSet([val("a", 1n)])));
});

test.run();
