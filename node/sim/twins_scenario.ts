/**
 * Twins scenarios (Bano et al., "Twins: BFT Systems Made Robust"): which validators run twice
 * (two nodes with the same key, each with its own signer guard, so both sign: equivocation and
 * amnesia), a partition of the nodes for each scheduled consensus round, and restarts. Generated
 * from a seed, so scenario `i` of seed `s` is the same everywhere; serialisable for `--replay`.
 *
 * Leaders: Tendermint's proposer of each (height, round) is fixed by the validator set's weighted
 * round-robin (`consensus/validator_set.ts`), so a scenario cannot choose them as the Twins paper
 * does for DiemBFT; it covers them instead by which validators it twins (with equal powers every
 * validator leads one round in n), and the trace names the leader of each scheduled round.
 * @module
 */
import { randomInt, type Rng, seededRng } from "../../lib/rng.ts";
import { isMutant, type Mutant } from "../../consensus/mutant.ts";

/** Validator counts a Twins run accepts. */
export const TWINS_VALIDATORS: readonly number[] = [4, 7];

/** Settings shared by every scenario of a run. */
export interface TwinsConfig {
  /** Validators (4 or 7), equal power. */
  validators: number;
  /** Twinned validators, at most f = floor((validators - 1) / 3). */
  twins: number;
  /** Most groups in one round's partition (>= 1; 1 = no partition). */
  partitions: number;
  /** Scheduled Twins rounds (steps of Tendermint rounds, see {@link TwinsSlot}), each partitioned. */
  rounds: number;
  /** Heights every honest node must decide. */
  heights: number;
  /** Scenarios to run. */
  scenarios: number;
  seed: number;
  /** A deliberately broken rule (`consensus/mutant.ts`), or null. */
  mutant: Mutant | null;
}

/** Defaults of {@link TwinsConfig}. */
export const TWINS_DEFAULTS: TwinsConfig = {
  validators: 4,
  twins: 1,
  partitions: 2,
  rounds: 12,
  heights: 2,
  scenarios: 1000,
  seed: 1,
  mutant: null,
};

/** Most scenarios a run accepts. */
export const TWINS_SCENARIOS_MAX = 100_000_000;
/** Most scheduled Twins rounds (each partitioned) a run accepts. */
export const TWINS_ROUNDS_MAX = 64;
/** Most heights a run may ask every honest node to decide. */
export const TWINS_HEIGHTS_MAX = 16;

/** A wrong Twins setting; the message names it. */
export class TwinsConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TwinsConfigError";
  }
}

/**
 * Checks a configuration.
 * @param c the configuration.
 * @returns the same configuration.
 * @throws TwinsConfigError naming the first wrong setting.
 */
export function checkTwinsConfig(c: TwinsConfig): TwinsConfig {
  const int = (name: string, v: number, min: number, max: number) => {
    if (!Number.isSafeInteger(v) || v < min || v > max) {
      throw new TwinsConfigError(`${name}: expected a whole number in [${min}, ${max}], got ${v}`);
    }
  };
  if (!TWINS_VALIDATORS.includes(c.validators)) {
    throw new TwinsConfigError(`validators: expected ${TWINS_VALIDATORS.join(" or ")}, got ${c.validators}`);
  }
  const f = Math.floor((c.validators - 1) / 3);
  int("twins", c.twins, 0, f);
  int("partitions", c.partitions, 1, c.validators + c.twins);
  int("rounds", c.rounds, 0, TWINS_ROUNDS_MAX);
  int("heights", c.heights, 1, TWINS_HEIGHTS_MAX);
  int("scenarios", c.scenarios, 1, TWINS_SCENARIOS_MAX);
  int("seed", c.seed, 0, 2 ** 32 - 1);
  if (c.mutant !== null && !isMutant(c.mutant)) throw new TwinsConfigError(`mutant: unknown "${c.mutant}"`);
  return c;
}

/** The steps of a Tendermint round, in order: each is one Twins round. */
export const TWINS_STEPS = ["propose", "prevote", "precommit"] as const;
/** A step of a Tendermint round: the messages it sends (proposals, prevotes, precommits). */
export type TwinsStep = typeof TWINS_STEPS[number];

/**
 * One scheduled Twins round: the partition of the nodes for the messages of one step of one
 * Tendermint (height, round). (DiemBFT, for which Twins was written, has one vote per round; a
 * Tendermint round has a proposal and two votes, so each is partitioned on its own: prevotes may
 * reach a node whose precommits are then cut, which is how locks without decisions arise.)
 */
export interface TwinsSlot {
  height: number;
  round: number;
  step: TwinsStep;
  /** Groups of node indices; nodes of different groups drop each other's messages of this round. */
  groups: number[][];
}

/**
 * A crash: `node` goes down right after it signs its message of (`height`, `round`, `step`) (the
 * message is sent), stays down `downMs` of simulated time, then restarts from its WAL. A crash at a
 * step the node never signs does not happen.
 */
export interface TwinsRestart {
  node: number;
  height: number;
  round: number;
  step: TwinsStep;
  downMs: number;
}

/** One generated scenario. */
export interface TwinsScenario {
  /** Index in the run (scenario `index` of the run's seed). */
  index: number;
  /** Seed of this scenario's network jitter. */
  seed: number;
  /**
   * Validator of each node: nodes 0..n-1 are validators 0..n-1, nodes n.. are the twins of
   * `twinned` in order.
   */
  nodeValidator: number[];
  /** Validators running twice. */
  twinned: number[];
  slots: TwinsSlot[];
  restarts: TwinsRestart[];
}

/** 32-bit FNV-1a over numbers, for per-scenario seeds. */
export function mixSeed(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    for (let i = 0; i < 4; i++) h = Math.imul(h ^ ((p >>> (8 * i)) & 0xff), 0x01000193);
  }
  return h >>> 0;
}

/** Distinct picks of `k` of 0..n-1, in drawn order. */
function pick(rng: Rng, n: number, k: number): number[] {
  const all = [...Array(n).keys()];
  for (let i = 0; i < k; i++) {
    const j = i + randomInt(rng, n - i);
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  return all.slice(0, k);
}

/**
 * Scenario `index` of a run.
 * - twins: `twins` validators drawn at random;
 * - slots: `rounds` (height, round, step) walking forward from (1, 0, propose) step by step; after a
 *   precommit step comes the next round of the same height (2 in 3) or round 0 of the next height;
 *   each gets a partition of the nodes into at most `partitions` groups (every node in a random
 *   group; empty groups vanish);
 * - restarts: in one scenario in two, one node (any, twins included) crashes right after it signs
 *   the message of a random scheduled step (a lock is taken with a precommit: amnesia bites there),
 *   is down 0-300 ms, then restarts from its WAL.
 * @param c the run's configuration.
 * @param index the scenario number.
 * @returns the scenario.
 */
export function twinsScenario(c: TwinsConfig, index: number): TwinsScenario {
  const rng = seededRng(mixSeed(c.seed, index, 0x7311));
  const n = c.validators;
  const twinned = pick(rng, n, c.twins).sort((a, b) => a - b);
  const nodeValidator = [...Array(n).keys(), ...twinned];
  const nodes = nodeValidator.length;
  const slots: TwinsSlot[] = [];
  let height = 1, round = 0, stepIndex = 0;
  for (let s = 0; s < c.rounds; s++) {
    const of = [...Array(c.partitions)].map((): number[] => []);
    for (let node = 0; node < nodes; node++) of[randomInt(rng, c.partitions)]!.push(node);
    slots.push({ height, round, step: TWINS_STEPS[stepIndex]!, groups: of.filter((g) => g.length > 0) });
    if (++stepIndex < TWINS_STEPS.length) continue;
    stepIndex = 0;
    if (randomInt(rng, 3) < 2 || height >= c.heights) round++;
    else {
      height++;
      round = 0;
    }
  }
  const restarts: TwinsRestart[] = [];
  if (randomInt(rng, 2) === 0 && slots.length > 0) {
    const at = slots[randomInt(rng, slots.length)]!;
    const node = randomInt(rng, nodes);
    restarts.push({ node, height: at.height, round: at.round, step: at.step, downMs: randomInt(rng, 300) });
  }
  return { index, seed: mixSeed(c.seed, index, 0x1e7), nodeValidator, twinned, slots, restarts };
}

/** Node names: `v<i>` for validator i's first node, `v<i>'` for its twin. */
export function nodeNames(s: TwinsScenario): string[] {
  const seen = new Set<number>();
  return s.nodeValidator.map((v) => {
    const name = seen.has(v) ? `v${v}'` : `v${v}`;
    seen.add(v);
    return name;
  });
}

/**
 * Reads a scenario back from its JSON form (a `--replay` file is untrusted input).
 * @throws TwinsConfigError naming what is wrong.
 */
export function parseTwinsScenario(value: unknown, c: TwinsConfig): TwinsScenario {
  const o = value as Partial<TwinsScenario> | null;
  const nodes = c.validators + c.twins;
  const isInt = (x: unknown, min: number, max: number): x is number =>
    typeof x === "number" && Number.isSafeInteger(x) && x >= min && x <= max;
  if (typeof o !== "object" || o === null) throw new TwinsConfigError("scenario: expected an object");
  if (!isInt(o.index, 0, TWINS_SCENARIOS_MAX) || !isInt(o.seed, 0, 2 ** 32 - 1)) {
    throw new TwinsConfigError("scenario: index and seed must be whole numbers");
  }
  if (
    !Array.isArray(o.twinned) || o.twinned.length !== c.twins ||
    !o.twinned.every((v) => isInt(v, 0, c.validators - 1)) || new Set(o.twinned).size !== c.twins
  ) {
    throw new TwinsConfigError(`scenario.twinned: expected ${c.twins} distinct validator indices`);
  }
  if (!Array.isArray(o.slots) || o.slots.length > TWINS_ROUNDS_MAX) {
    throw new TwinsConfigError(`scenario.slots: expected at most ${TWINS_ROUNDS_MAX} slots`);
  }
  for (const s of o.slots) {
    if (
      !isInt(s?.height, 1, TWINS_HEIGHTS_MAX) || !isInt(s.round, 0, 10_000) ||
      !(TWINS_STEPS as readonly string[]).includes(s.step) || !Array.isArray(s.groups) ||
      !s.groups.every((g) => Array.isArray(g) && g.every((x) => isInt(x, 0, nodes - 1)))
    ) {
      throw new TwinsConfigError("scenario.slots: each needs height, round and groups of node indices");
    }
  }
  if (
    !Array.isArray(o.restarts) ||
    !o.restarts.every((r) =>
      isInt(r?.node, 0, nodes - 1) && isInt(r.height, 1, TWINS_HEIGHTS_MAX) && isInt(r.round, 0, 10_000) &&
      (TWINS_STEPS as readonly string[]).includes(r.step) && isInt(r.downMs, 0, 1e9)
    )
  ) {
    throw new TwinsConfigError("scenario.restarts: each needs node, height, round, step and downMs");
  }
  return {
    index: o.index,
    seed: o.seed,
    nodeValidator: [...Array(c.validators).keys(), ...o.twinned],
    twinned: [...o.twinned],
    slots: o.slots.map((s) => ({
      height: s.height,
      round: s.round,
      step: s.step,
      groups: s.groups.map((g) => [...g]),
    })),
    restarts: o.restarts.map((r) => ({
      node: r.node,
      height: r.height,
      round: r.round,
      step: r.step,
      downMs: r.downMs,
    })),
  };
}
