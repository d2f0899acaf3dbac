/**
 * Vote bookkeeping for one height: power per (round, type, value), equivocation detection, commits.
 * @module
 */
import type { Commit, DuplicateVoteEvidence, Hex, SignedVote, VoteType } from "./types.ts";
import { ROUND_MAX } from "./codec.ts";
import type { ValidatorSet } from "./validator_set.ts";
import type { Mutant } from "./mutant.ts";

/** What happened to a vote given to {@link HeightVoteSet.add}. */
export type AddVoteResult =
  | { status: "added" }
  | { status: "duplicate" }
  | { status: "ignored"; reason: string }
  | { status: "conflicting"; evidence: DuplicateVoteEvidence | null };

const NIL = "nil";

interface RoundTypeVotes {
  /** First vote of each validator. */
  byValidator: Map<string, SignedVote>;
  /**
   * A validator's first vote for another value, counted for that value too (the paper counts
   * 2f+1 messages per value: an equivocator counts for both, which quorum intersection allows, and
   * without which honest nodes that saw its other vote first can never see a lock's proof of lock:
   * found by the Twins checker). Values beyond the second are not counted (memory bound).
   */
  second: Map<string, SignedVote>;
  /** Power per block hash, or "nil" (each validator once per value). */
  powerByValue: Map<string, bigint>;
  /** Power of the distinct validators that voted. */
  total: bigint;
}

/**
 * All votes of one height, for every round. The caller has checked signatures; votes from outside the
 * validator set, or for another height or chain, are ignored.
 *
 * @example
 * ```ts
 * const votes = new HeightVoteSet("chain", 1, validators);
 * const result = votes.add(signedVote);
 * if (result.status === "conflicting" && result.evidence) report(result.evidence);
 * ```
 */
export class HeightVoteSet {
  readonly chainId: string;
  readonly height: number;
  readonly validators: ValidatorSet;
  /** A deliberately broken rule (simulator only, see `consensus/mutant.ts`), or null. */
  readonly mutant: Mutant | null;
  readonly #votes = new Map<string, RoundTypeVotes>();
  /** Validators that sent any vote in a round, for the f+1 round-skip rule. */
  readonly #votersByRound = new Map<number, { voters: Set<string>; power: bigint }>();
  /** (round/type/validator) keys for which evidence was already reported. */
  readonly #reported = new Set<string>();

  /**
   * @param chainId chain id the votes must carry.
   * @param height height the votes must carry.
   * @param validators the height's validator set.
   * @param mutant simulator only: `count-duplicate-votes` counts repeated votes again (default null).
   */
  constructor(chainId: string, height: number, validators: ValidatorSet, mutant: Mutant | null = null) {
    this.chainId = chainId;
    this.height = height;
    this.validators = validators;
    this.mutant = mutant;
  }

  #entry(round: number, type: VoteType): RoundTypeVotes | undefined {
    return this.#votes.get(`${round}/${type}`);
  }

  /**
   * Adds a signature-checked vote.
   * @param signed the vote.
   * @returns "added" when counted; "duplicate" for an exact repeat; "conflicting" (with evidence the
   *   first time per validator/round/type) when the validator already voted differently (its first
   *   vote for another value still counts for that value); "ignored" for
   *   another height/chain or a non-member.
   */
  add(signed: SignedVote): AddVoteResult {
    const vote = signed.vote;
    if (vote.chainId !== this.chainId) return { status: "ignored", reason: "other chain id" };
    if (vote.height !== this.height) return { status: "ignored", reason: "other height" };
    if (!Number.isInteger(vote.round) || vote.round < 0 || vote.round > ROUND_MAX) {
      return { status: "ignored", reason: "bad round" };
    }
    const validator = this.validators.get(vote.validator);
    if (validator === undefined) return { status: "ignored", reason: "not a validator" };
    const key = `${vote.round}/${vote.type}`;
    let entry = this.#votes.get(key);
    if (entry === undefined) {
      entry = { byValidator: new Map(), second: new Map(), powerByValue: new Map(), total: 0n };
      this.#votes.set(key, entry);
    }
    const previous = entry.byValidator.get(vote.validator);
    const value = vote.blockHash ?? NIL;
    if (previous !== undefined) {
      const second = entry.second.get(vote.validator);
      if (
        this.mutant === "count-duplicate-votes" &&
        (previous.vote.blockHash === vote.blockHash || second?.vote.blockHash === vote.blockHash)
      ) {
        entry.powerByValue.set(value, (entry.powerByValue.get(value) ?? 0n) + validator.power);
      }
      if (previous.vote.blockHash === vote.blockHash) return { status: "duplicate" };
      if (second === undefined) {
        entry.second.set(vote.validator, signed);
        entry.powerByValue.set(value, (entry.powerByValue.get(value) ?? 0n) + validator.power);
      }
      const reportKey = `${key}/${vote.validator}`;
      if (this.#reported.has(reportKey)) return { status: "conflicting", evidence: null };
      this.#reported.add(reportKey);
      return { status: "conflicting", evidence: { a: previous, b: signed } };
    }
    entry.byValidator.set(vote.validator, signed);
    entry.powerByValue.set(value, (entry.powerByValue.get(value) ?? 0n) + validator.power);
    entry.total += validator.power;
    let voters = this.#votersByRound.get(vote.round);
    if (voters === undefined) {
      voters = { voters: new Set(), power: 0n };
      this.#votersByRound.set(vote.round, voters);
    }
    if (!voters.voters.has(vote.validator)) {
      voters.voters.add(vote.validator);
      voters.power += validator.power;
    }
    return { status: "added" };
  }

  /**
   * @returns the value with more than 2/3 of the power at (round, type): a block hash, `null` for nil,
   *   or `undefined` when there is none.
   */
  twoThirdsMajority(round: number, type: VoteType): Hex | null | undefined {
    const entry = this.#entry(round, type);
    if (entry === undefined) return undefined;
    for (const [value, power] of entry.powerByValue) {
      if (this.validators.hasTwoThirds(power)) return value === NIL ? null : value;
    }
    return undefined;
  }

  /** @returns the power voting `blockHash` (null = nil) at (round, type). */
  powerFor(round: number, type: VoteType, blockHash: Hex | null): bigint {
    return this.#entry(round, type)?.powerByValue.get(blockHash ?? NIL) ?? 0n;
  }

  /** @returns whether votes of any value at (round, type) carry more than 2/3 of the power. */
  hasTwoThirdsAny(round: number, type: VoteType): boolean {
    const entry = this.#entry(round, type);
    return entry !== undefined && this.validators.hasTwoThirds(entry.total);
  }

  /** @returns whether validators with more than 1/3 of the power sent any vote in `round` (f+1). */
  hasOneThirdAnyInRound(round: number): boolean {
    const voters = this.#votersByRound.get(round);
    return voters !== undefined && this.validators.hasOneThird(voters.power);
  }

  /** @returns the rounds in which any vote was counted, ascending. */
  rounds(): number[] {
    return [...this.#votersByRound.keys()].sort((a, b) => a - b);
  }

  /** @returns the counted votes at (round, type), sorted by validator address. */
  votes(round: number, type: VoteType): SignedVote[] {
    const entry = this.#entry(round, type);
    if (entry === undefined) return [];
    return [...entry.byValidator.values()].sort((a, b) =>
      a.vote.validator < b.vote.validator ? -1 : a.vote.validator > b.vote.validator ? 1 : 0
    );
  }

  /**
   * Builds the commit certificate for `blockHash` at `round` from the counted precommits.
   * @throws RangeError when those precommits do not carry more than 2/3 of the power.
   */
  makeCommit(round: number, blockHash: Hex): Commit {
    if (!this.validators.hasTwoThirds(this.powerFor(round, "precommit", blockHash))) {
      throw new RangeError(`Cannot make commit for ${blockHash} at round ${round}: no +2/3 precommits`);
    }
    const entry = this.#entry(round, "precommit");
    const signatures = [...(entry?.byValidator.values() ?? []), ...(entry?.second.values() ?? [])]
      .filter((s) => s.vote.blockHash === blockHash)
      .sort((a, b) => a.vote.validator < b.vote.validator ? -1 : a.vote.validator > b.vote.validator ? 1 : 0)
      .map((s) => ({ validator: s.vote.validator, signature: s.signature }));
    return { height: this.height, round, blockHash, signatures };
  }
}
