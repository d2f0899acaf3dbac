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
import type { Hex } from "../../consensus/types.ts";
import { seededRng } from "../../lib/rng.ts";

const NAMES = ["v1", "v2", "v3", "v4"];
const TIMEOUTS = { proposeMs: 100, prevoteMs: 50, precommitMs: 50, deltaMs: 20 };

interface Result {
  decisions: Map<string, { round: number; blockHash: Hex }>;
}

/**
 * Four honest nodes; messages are delivered in random order, each copy dropped with `dropRate`
 * (only while `steps < dropUntil`); when nothing is in flight the earliest scheduled timeout fires.
 */
function simulate(seed: number, dropRate: number, dropUntil: number, powers: bigint[]): Result {
  const next = seededRng(seed);
  const set = new ValidatorSet(
    NAMES.map((address, i) => ({ address, pubKey: new Uint8Array(32), power: powers[i]! })),
  );
  const states = new Map<string, HeightState>(
    NAMES.map((
      self,
    ) => [self, newHeightState({ chainId: "sim", height: 1, validators: set, self, timeouts: TIMEOUTS })]),
  );
  const inflight: { to: string; input: Input }[] = [];
  const timers: { at: number; to: string; input: Input }[] = [];
  const decisions = new Map<string, { round: number; blockHash: Hex }>();
  let now = 0;
  let steps = 0;
  let retransmissions = 0;
  const sent: Input[] = [];
  const broadcast = (input: Input) => {
    sent.push(input);
    for (const to of NAMES) {
      if (steps < dropUntil && next() < dropRate) continue;
      inflight.push({ to, input });
    }
  };
  const handle = (self: string, outputs: Output[]) => {
    for (const o of outputs) {
      switch (o.type) {
        case "get_value":
          inflight.push({
            to: self,
            input: {
              type: "value",
              height: 1,
              round: o.round,
              blockHash: (self.charCodeAt(1) + o.round).toString(16).padStart(64, "0"),
            },
          });
          break;
        case "propose":
          broadcast({ type: "proposal", proposal: o.proposal, valid: true });
          break;
        case "vote":
          broadcast({ type: "vote", signed: { vote: o.vote, signature: new Uint8Array(64) } });
          break;
        case "schedule_timeout":
          timers.push({
            at: now + o.durationMs,
            to: self,
            input: { type: "timeout", step: o.step, height: 1, round: o.round },
          });
          break;
        case "decide":
          assert.not.ok(decisions.has(self), "decides once");
          decisions.set(self, { round: o.round, blockHash: o.blockHash });
          assert.ok(
            set.hasTwoThirds(o.commit.signatures.reduce((s, x) => s + set.get(x.validator)!.power, 0n)),
          );
          break;
        case "evidence":
          assert.unreachable("honest nodes never equivocate");
      }
    }
  };
  for (const self of NAMES) handle(self, step(states.get(self)!, { type: "start" }).outputs);
  while (decisions.size < NAMES.length && steps < 200_000) {
    steps++;
    let item: { to: string; input: Input } | undefined;
    if (timers.length > 0 && (inflight.length === 0 || next() < 0.03)) {
      // Timers race with message delivery, so rounds do fail and later rounds get exercised.
      timers.sort((a, b) => a.at - b.at);
      const t = timers.shift()!;
      now = Math.max(now, t.at);
      item = t;
    } else if (inflight.length > 0) {
      const i = Math.floor(next() * inflight.length);
      item = inflight[i]!;
      inflight[i] = inflight[inflight.length - 1]!;
      inflight.pop();
    } else {
      // Stuck: gossip catch-up re-delivers everything ever sent (duplicates are harmless).
      if (retransmissions++ > 50) break;
      for (const input of sent) for (const to of NAMES) inflight.push({ to, input });
      continue;
    }
    handle(item.to, step(states.get(item.to)!, item.input).outputs);
  }
  return { decisions };
}

test("agreement and termination: random delivery order, no loss, equal and unequal powers", () => {
  for (let seed = 1; seed <= 150; seed++) {
    const powers = seed % 2 === 0 ? [10n, 10n, 10n, 10n] : [1n, 2n, 3n, 4n];
    const { decisions } = simulate(seed, 0, 0, powers);
    assert.is(decisions.size, 4, `seed ${seed}: all decide`);
    const values = new Set([...decisions.values()].map((d) => d.blockHash));
    assert.is(values.size, 1, `seed ${seed}: agreement`);
  }
});

test("agreement and termination under early message loss and racing timers", () => {
  let later = 0;
  for (let seed = 1; seed <= 150; seed++) {
    const { decisions } = simulate(seed, 0.3, 400, [10n, 10n, 10n, 10n]);
    const values = new Set([...decisions.values()].map((d) => d.blockHash));
    assert.is(decisions.size, 4, `seed ${seed}: all decide after catch-up`);
    assert.is(values.size, 1, `seed ${seed}: agreement`);
    later += [...decisions.values()].filter((d) => d.round > 0).length;
  }
  assert.ok(later > 0, "some runs decide in a later round");
});

test.run();
