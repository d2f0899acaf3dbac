/**
 * An immutable validator set with CometBFT's weighted round-robin proposer selection
 * (`types/validator_set.go`: IncrementProposerPriority, RescalePriorities, shiftByAvgProposerPriority).
 * @module
 */
import { bytesEqual } from "../lib/crypto.ts";
import type { Validator } from "./types.ts";

/** CometBFT's PriorityWindowSizeFactor: priorities are kept within 2 * totalPower of each other. */
export const PRIORITY_WINDOW_SIZE_FACTOR = 2n;

/** Upper bound on the number of validators in one set. */
export const VALIDATOR_COUNT_MAX = 10_000;

/** A validator together with its current proposer priority. */
export interface PrioritizedValidator extends Validator {
  /** CometBFT's ProposerPriority (may be negative). */
  readonly priority: bigint;
}

/** JSON form of a validator set (priorities and current proposer kept). */
export interface ValidatorSetJson {
  validators: { address: string; pubKey: string; power: string; priority: string }[];
  proposer: string;
}

function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-f]*$/.test(hex)) {
    throw new TypeError(`Cannot parse hex "${hex.slice(0, 16)}": must be lower-case hex of even length`);
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * CometBFT's RescalePriorities(PriorityWindowSizeFactor * total) then shiftByAvgProposerPriority, in
 * place: priorities squeezed into the window, then centred on zero.
 */
function rescaleAndCentre(vals: { priority: bigint }[], total: bigint): void {
  const diffMax = PRIORITY_WINDOW_SIZE_FACTOR * total;
  let max = vals[0]!.priority, min = vals[0]!.priority;
  for (const v of vals) {
    if (v.priority > max) max = v.priority;
    if (v.priority < min) min = v.priority;
  }
  const diff = max - min;
  if (diff > diffMax) {
    const ratio = (diff + diffMax - 1n) / diffMax;
    for (const v of vals) v.priority = v.priority / ratio; // Go int64 division truncates toward 0
  }
  const avg = floorDiv(vals.reduce((sum, v) => sum + v.priority, 0n), BigInt(vals.length));
  for (const v of vals) v.priority -= avg;
}

/** Floor division for a positive divisor (Go's big.Int Div is Euclidean: floor for d > 0). */
function floorDiv(a: bigint, d: bigint): bigint {
  const q = a / d;
  return (a % d !== 0n && a < 0n) ? q - 1n : q;
}

function validate(validators: readonly Validator[]): Validator[] {
  if (validators.length === 0) throw new RangeError("Cannot create validator set: it is empty");
  if (validators.length > VALIDATOR_COUNT_MAX) {
    throw new RangeError(`Cannot create validator set: more than ${VALIDATOR_COUNT_MAX} validators`);
  }
  const sorted = [...validators].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  for (let i = 0; i < sorted.length; i++) {
    const v = sorted[i]!;
    if (typeof v.power !== "bigint" || v.power <= 0n) {
      throw new RangeError(`Cannot create validator set: validator ${v.address} has power ${v.power} <= 0`);
    }
    if (i > 0 && sorted[i - 1]!.address === v.address) {
      throw new RangeError(`Cannot create validator set: duplicate validator ${v.address}`);
    }
  }
  return sorted;
}

/**
 * An immutable set of validators sorted by address, with proposer priorities.
 *
 * Like CometBFT's `NewValidatorSet`, the constructor starts every priority at 0 and advances once, so
 * `proposer` is defined. At each new height the chain advances the set once (`advance(1)`); within a
 * height, round r is led by `proposerForRound(r)`.
 *
 * @example
 * ```ts
 * const set = new ValidatorSet([{ address: "a", pubKey: new Uint8Array(32), power: 1n }]);
 * set.proposer.address; // "a"
 * ```
 */
export class ValidatorSet {
  /** Validators sorted by address, with their priorities. */
  readonly validators: readonly PrioritizedValidator[];
  /** Sum of all voting power. */
  readonly totalPower: bigint;
  /** The current proposer (round 0 of the height this set belongs to). */
  readonly proposer: PrioritizedValidator;
  readonly #index: Map<string, PrioritizedValidator>;
  readonly #roundCache = new Map<number, PrioritizedValidator>();

  /**
   * Creates a set with all priorities 0, advanced once (CometBFT's NewValidatorSet).
   * @param validators members; addresses unique, power > 0.
   * @throws RangeError on an empty set, duplicate addresses or non-positive power.
   */
  constructor(validators: readonly Validator[]);
  /** @internal used by `advance` and `fromJSON`. */
  constructor(validators: readonly Validator[], state: { priorities: bigint[]; proposer: string });
  constructor(validators: readonly Validator[], state?: { priorities: bigint[]; proposer: string }) {
    const sorted = validate(validators);
    let initial = state;
    if (initial === undefined) {
      const next = ValidatorSet.#increment(sorted.map((v) => ({ ...v, priority: 0n })), 1);
      initial = { priorities: next.validators.map((v) => v.priority), proposer: next.proposer };
    }
    if (initial.priorities.length !== sorted.length) {
      throw new RangeError("Cannot create validator set: priorities do not match validators");
    }
    if (state !== undefined && sorted.some((v, i) => v.address !== validators[i]!.address)) {
      throw new RangeError(
        "Cannot create validator set with priorities: validators must be sorted by address",
      );
    }
    const priorities = initial.priorities;
    this.validators = Object.freeze(sorted.map((v, i) => Object.freeze({ ...v, priority: priorities[i]! })));
    this.totalPower = this.validators.reduce((sum, v) => sum + v.power, 0n);
    this.#index = new Map(this.validators.map((v) => [v.address, v]));
    const proposer = this.#index.get(initial.proposer);
    if (proposer === undefined) {
      throw new RangeError(`Cannot create validator set: proposer ${initial.proposer} is not a member`);
    }
    this.proposer = proposer;
  }

  /** Runs CometBFT's IncrementProposerPriority(times) on mutable copies. */
  static #increment(
    input: PrioritizedValidator[],
    times: number,
  ): {
    validators: { -readonly [K in keyof PrioritizedValidator]: PrioritizedValidator[K] }[];
    proposer: string;
  } {
    const vals = input.map((v) => ({ ...v }));
    const total = vals.reduce((sum, v) => sum + v.power, 0n);
    rescaleAndCentre(vals, total);
    // incrementProposerPriority, `times` times
    let proposer = vals[0]!;
    for (let i = 0; i < times; i++) {
      for (const v of vals) v.priority += v.power;
      let most = vals[0]!;
      for (const v of vals) {
        if (v.priority > most.priority || (v.priority === most.priority && v.address < most.address)) {
          most = v;
        }
      }
      most.priority -= total;
      proposer = most;
    }
    return { validators: vals, proposer: proposer.address };
  }

  /**
   * Returns a new set with priorities advanced `times` times (CometBFT's IncrementProposerPriority).
   * @param times number of increments, >= 0 (0 returns this set).
   * @returns the advanced set; its `proposer` is the validator chosen by the last increment.
   */
  advance(times: number): ValidatorSet {
    if (!Number.isSafeInteger(times) || times < 0) {
      throw new RangeError(`Cannot advance validator set: times ${times} must be a non-negative integer`);
    }
    if (times === 0) return this;
    const next = ValidatorSet.#increment([...this.validators], times);
    return new ValidatorSet(next.validators, {
      priorities: next.validators.map((v) => v.priority),
      proposer: next.proposer,
    });
  }

  /**
   * The set with members and powers replaced by `next`, priorities carried over as CometBFT's
   * `UpdateWithChangeSet` does: a continuing validator keeps its priority (whatever its new power), a
   * new one starts at `-1.125 * U` (U: the total power after the updates, before the removals, so that
   * leaving and re-joining never resets a negative priority), removed ones go; then the priorities are
   * rescaled to the `2 * totalPower` window and re-centred on their average. When `next` has the same
   * members and powers, this set is returned unchanged (CometBFT applies no empty change set).
   *
   * The result's `proposer` is the old one when it stays, else the member with the highest priority;
   * it is meaningful only once advanced: the set of the next height is `withValidators(next).advance(1)`.
   * @param next the members of the new set (any order; addresses unique, power > 0).
   * @returns the updated set (pure: this set is not changed).
   * @throws RangeError when `next` is empty, has duplicates or a non-positive power.
   * @example
   * ```ts
   * const next = set.withValidators([...list, newcomer]).advance(1);
   * ```
   */
  withValidators(next: readonly Validator[]): ValidatorSet {
    const sorted = validate(next);
    const same = sorted.length === this.validators.length &&
      sorted.every((v, i) => {
        const o = this.validators[i]!;
        return v.address === o.address && v.power === o.power && bytesEqual(v.pubKey, o.pubKey);
      });
    if (same) return this;
    const incoming = new Set(sorted.map((v) => v.address));
    let removedPower = 0n;
    for (const v of this.validators) if (!incoming.has(v.address)) removedPower += v.power;
    const total = sorted.reduce((sum, v) => sum + v.power, 0n);
    // verifyUpdates' tvpAfterUpdatesBeforeRemovals; computeNewPriorities' -(U + U >> 3)
    const updatedTotal = total + removedPower;
    const newcomer = -(updatedTotal + (updatedTotal >> 3n));
    const vals = sorted.map((v) => ({ ...v, priority: this.#index.get(v.address)?.priority ?? newcomer }));
    rescaleAndCentre(vals, total);
    let proposer = vals.find((v) => v.address === this.proposer.address);
    if (proposer === undefined) {
      proposer = vals[0]!;
      for (const v of vals) if (v.priority > proposer.priority) proposer = v;
    }
    return new ValidatorSet(vals, { priorities: vals.map((v) => v.priority), proposer: proposer.address });
  }

  /**
   * Whether `other` has the same members with the same powers and keys (priorities aside).
   * @param other another set.
   * @returns true when the memberships are equal.
   */
  sameMembers(other: ValidatorSet): boolean {
    if (other.size !== this.size) return false;
    return this.validators.every((v, i) => {
      const o = other.validators[i]!;
      return o.address === v.address && o.power === v.power && bytesEqual(o.pubKey, v.pubKey);
    });
  }

  /**
   * The proposer of round `round` of this set's height: the proposer of a copy advanced `round` times.
   * @param round round number >= 0.
   * @returns the proposing validator.
   */
  proposerForRound(round: number): PrioritizedValidator {
    if (round === 0) return this.proposer;
    const cached = this.#roundCache.get(round);
    if (cached !== undefined) return cached;
    const proposer = this.advance(round).proposer;
    if (this.#roundCache.size < 1024) this.#roundCache.set(round, proposer);
    return proposer;
  }

  /** @returns the validator with `address`, or undefined. */
  get(address: string): PrioritizedValidator | undefined {
    return this.#index.get(address);
  }

  /** @returns whether `address` is a member. */
  has(address: string): boolean {
    return this.#index.has(address);
  }

  /** @returns the number of validators. */
  get size(): number {
    return this.validators.length;
  }

  /** @returns true when `power` is more than 2/3 of the total (power * 3 > total * 2). */
  hasTwoThirds(power: bigint): boolean {
    return power * 3n > this.totalPower * 2n;
  }

  /** @returns true when `power` is more than 1/3 of the total (power * 3 > total): f+1. */
  hasOneThird(power: bigint): boolean {
    return power * 3n > this.totalPower;
  }

  /** @returns a JSON-safe form keeping priorities and the current proposer. */
  toJSON(): ValidatorSetJson {
    return {
      validators: this.validators.map((v) => ({
        address: v.address,
        pubKey: toHex(v.pubKey),
        power: v.power.toString(),
        priority: v.priority.toString(),
      })),
      proposer: this.proposer.address,
    };
  }

  /**
   * Restores a set written by `toJSON`.
   * @param json the JSON form (untrusted shape is checked).
   * @throws TypeError or RangeError on a malformed form.
   */
  static fromJSON(json: ValidatorSetJson): ValidatorSet {
    if (typeof json !== "object" || json === null || !Array.isArray(json.validators)) {
      throw new TypeError("Cannot parse validator set: validators must be an array");
    }
    const integer = /^-?[0-9]{1,40}$/;
    const validators: Validator[] = [];
    const priorities: bigint[] = [];
    for (const v of json.validators) {
      if (
        typeof v?.address !== "string" || typeof v.pubKey !== "string" || typeof v.power !== "string" ||
        typeof v.priority !== "string" || !integer.test(v.power) || !integer.test(v.priority)
      ) {
        throw new TypeError("Cannot parse validator set: bad validator entry");
      }
      validators.push({ address: v.address, pubKey: fromHex(v.pubKey), power: BigInt(v.power) });
      priorities.push(BigInt(v.priority));
    }
    // Sorting in the constructor must keep priorities aligned: sort both by address first.
    const order = validators.map((_, i) => i).sort((a, b) => {
      const x = validators[a]!.address, y = validators[b]!.address;
      return x < y ? -1 : x > y ? 1 : 0;
    });
    if (typeof json.proposer !== "string") {
      throw new TypeError("Cannot parse validator set: proposer missing");
    }
    return new ValidatorSet(order.map((i) => validators[i]!), {
      priorities: order.map((i) => priorities[i]!),
      proposer: json.proposer,
    });
  }
}
