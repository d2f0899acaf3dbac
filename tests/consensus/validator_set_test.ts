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

test.run();
