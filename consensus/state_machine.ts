/**
 * The consensus core of one height: Algorithm 1 of "The latest gossip on BFT consensus" (Buchman, Kwon,
 * Milosevic, 2018) as a pure `step(state, input) -> { state, outputs }` function. No clock, no
 * randomness, no I/O: timeouts, signing, block building and validity checks are the driver's, exchanged
 * through inputs and outputs. Comments `L22` etc. name the paper's line numbers.
 *
 * Ownership: `step` updates the given state object in place and returns that same object. The driver
 * owns one state per height and must not share it; nothing else is mutated.
 * @module
 */
import { ROUND_MAX } from "./codec.ts";
import type { Commit, DuplicateVoteEvidence, Hex, Proposal, SignedVote, Vote, VoteType } from "./types.ts";
import type { ValidatorSet } from "./validator_set.ts";
import { HeightVoteSet } from "./vote_set.ts";
import type { Mutant } from "./mutant.ts";

/** A step of a round, in order propose < prevote < precommit. */
export type Step = "propose" | "prevote" | "precommit";

/** Timeout parameters: a timeout of round r lasts `init + r * deltaMs`. */
export interface Timeouts {
  proposeMs: number;
  prevoteMs: number;
  precommitMs: number;
  deltaMs: number;
}

/**
 * A proposal received for some round, with the driver's validity answer for its block and whether
 * its time is close enough to the local clock (proposer-based time, as CometBFT's PBTS): `timely`
 * only gates the prevote for a fresh proposal (L22); locking and deciding need `valid` alone, so a
 * node whose clock is off still follows what 2f+1 decided.
 */
export interface ReceivedProposal {
  proposal: Proposal;
  valid: boolean;
  timely: boolean;
}

/** The whole consensus state of one height (see the module doc for ownership). */
export interface HeightState {
  readonly chainId: string;
  readonly height: number;
  readonly validators: ValidatorSet;
  /** Our validator address, or null for an observer (never proposes or votes). */
  readonly self: string | null;
  readonly timeouts: Timeouts;
  /** False until the "start" input. */
  started: boolean;
  round: number;
  step: Step;
  lockedValue: Hex | null;
  lockedRound: number;
  validValue: Hex | null;
  validRound: number;
  /** Set once a value is decided; the state is then inert. */
  decision: { round: number; blockHash: Hex } | null;
  votes: HeightVoteSet;
  /** First proposal from the right proposer, per round. */
  proposals: Map<number, ReceivedProposal>;
  /** Round for which a get_value is outstanding, or -1. */
  awaitingValueRound: number;
  /** Round in which L34 (schedule prevote timeout) last fired, or -1. */
  prevoteTimeoutRound: number;
  /** Round in which L36 (lock / valid value) last fired, or -1. */
  lockRuleRound: number;
  /** Round in which L47 (schedule precommit timeout) last fired, or -1. */
  precommitTimeoutRound: number;
  /** A deliberately broken rule (`consensus/mutant.ts`; the simulator's checker only), or null. */
  readonly mutant: Mutant | null;
}

/** An input to {@link step}. */
export type Input =
  | { type: "start" }
  | { type: "proposal"; proposal: Proposal; valid: boolean; timely?: boolean }
  | { type: "vote"; signed: SignedVote }
  | { type: "timeout"; step: Step; height: number; round: number }
  | { type: "value"; height: number; round: number; blockHash: Hex };

/** An output of {@link step}: an action for the driver. */
export type Output =
  | { type: "get_value"; height: number; round: number }
  | { type: "propose"; proposal: Proposal }
  | { type: "vote"; vote: Vote }
  | { type: "schedule_timeout"; step: Step; height: number; round: number; durationMs: number }
  | { type: "decide"; height: number; round: number; blockHash: Hex; commit: Commit }
  | { type: "evidence"; evidence: DuplicateVoteEvidence };

/** Parameters of {@link newHeightState}. */
export interface NewHeightStateOptions {
  chainId: string;
  height: number;
  validators: ValidatorSet;
  self: string | null;
  timeouts: Timeouts;
  /**
   * Simulator only (`node/sim/twins*.ts`): run with this deliberately broken rule to prove the
   * checker catches it. Default null (the correct rules); no node flag, config or genesis sets it.
   */
  mutant?: Mutant | null;
}

/** Most rule firings one input may cause; exceeding it is a bug in the core. */
const RULE_FIRINGS_MAX = 10_000;

/**
 * Creates the state of a height, before "start".
 * @param options chain id, height (>= 1), validator set, our address (or null), timeouts.
 * @returns a fresh state: round 0, step propose, nothing locked.
 * @example
 * ```ts
 * let state = newHeightState({ chainId: "c", height: 1, validators, self: "v1",
 *   timeouts: { proposeMs: 3000, prevoteMs: 1000, precommitMs: 1000, deltaMs: 500 } });
 * const { outputs } = step(state, { type: "start" });
 * ```
 */
export function newHeightState(options: NewHeightStateOptions): HeightState {
  const { chainId, height, validators, self, timeouts } = options;
  const mutant = options.mutant ?? null;
  if (!Number.isSafeInteger(height) || height < 1) {
    throw new RangeError(`height ${height} must be an integer >= 1`);
  }
  for (const [name, ms] of Object.entries(timeouts)) {
    if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) {
      throw new RangeError(`timeouts.${name} ${ms} must be a finite number >= 0`);
    }
  }
  return {
    chainId,
    height,
    validators,
    self,
    timeouts: { ...timeouts },
    started: false,
    round: 0,
    step: "propose",
    lockedValue: null,
    lockedRound: -1,
    validValue: null,
    validRound: -1,
    decision: null,
    votes: new HeightVoteSet(chainId, height, validators, mutant),
    proposals: new Map(),
    awaitingValueRound: -1,
    prevoteTimeoutRound: -1,
    lockRuleRound: -1,
    precommitTimeoutRound: -1,
    mutant,
  };
}

/**
 * Applies one input and re-evaluates every rule until none fires.
 * @param state the height's state; updated in place and returned.
 * @param input a peer message, timer expiry or driver answer.
 * @returns the (same) state and the actions for the driver, in order.
 */
export function step(state: HeightState, input: Input): { state: HeightState; outputs: Output[] } {
  const outputs: Output[] = [];
  if (state.decision !== null) return { state, outputs };
  switch (input.type) {
    case "start":
      if (!state.started) {
        state.started = true;
        startRound(state, 0, outputs); // L10: upon start do StartRound(0)
      }
      break;
    case "proposal":
      receiveProposal(state, input.proposal, input.valid, input.timely ?? true);
      break;
    case "vote": {
      const result = state.votes.add(input.signed);
      if (result.status === "conflicting" && result.evidence !== null) {
        outputs.push({ type: "evidence", evidence: result.evidence });
      }
      break;
    }
    case "timeout":
      onTimeout(state, input.step, input.height, input.round, outputs);
      break;
    case "value":
      // L18: proposal <- getValue(), answered by the driver.
      if (
        state.started && input.height === state.height && input.round === state.round &&
        state.awaitingValueRound === state.round && state.step === "propose" && state.self !== null
      ) {
        state.awaitingValueRound = -1;
        outputs.push({
          type: "propose",
          proposal: {
            chainId: state.chainId,
            height: state.height,
            round: state.round,
            polRound: -1,
            blockHash: input.blockHash,
            proposer: state.self,
          },
        });
      }
      break;
    default: {
      const never: never = input;
      throw new TypeError(`unknown consensus input ${JSON.stringify(never)}`);
    }
  }
  if (state.started) applyRules(state, outputs);
  return { state, outputs };
}

function receiveProposal(state: HeightState, proposal: Proposal, valid: boolean, timely: boolean): void {
  if (proposal.chainId !== state.chainId || proposal.height !== state.height) return;
  const r = proposal.round;
  if (!Number.isInteger(r) || r < 0 || r > ROUND_MAX) return;
  if (!Number.isInteger(proposal.polRound) || proposal.polRound < -1) return;
  if (proposal.polRound >= r && state.mutant !== "accept-stale-pol") return;
  if (state.proposals.has(r)) return; // only the first proposal of a round counts
  if (proposal.proposer !== state.validators.proposerForRound(r).address) return;
  state.proposals.set(r, { proposal, valid, timely });
}

function isSelfValidator(state: HeightState): state is HeightState & { self: string } {
  return state.self !== null && state.validators.has(state.self);
}

function timeoutOutput(state: HeightState, which: Step): Output {
  const init = which === "propose"
    ? state.timeouts.proposeMs
    : which === "prevote"
    ? state.timeouts.prevoteMs
    : state.timeouts.precommitMs;
  return {
    type: "schedule_timeout",
    step: which,
    height: state.height,
    round: state.round,
    durationMs: init + state.round * state.timeouts.deltaMs,
  };
}

function castVote(state: HeightState, type: VoteType, blockHash: Hex | null, outputs: Output[]): void {
  if (!isSelfValidator(state)) return;
  outputs.push({
    type: "vote",
    vote: {
      chainId: state.chainId,
      type,
      height: state.height,
      round: state.round,
      blockHash,
      validator: state.self,
    },
  });
}

/** L11-21: StartRound(round). */
function startRound(state: HeightState, round: number, outputs: Output[]): void {
  state.round = round; // L12
  state.step = "propose"; // L13
  state.awaitingValueRound = -1;
  if (isSelfValidator(state) && state.validators.proposerForRound(round).address === state.self) { // L14
    if (state.validValue !== null) { // L15-16
      outputs.push({
        type: "propose", // L19
        proposal: {
          chainId: state.chainId,
          height: state.height,
          round,
          polRound: state.validRound,
          blockHash: state.validValue,
          proposer: state.self,
        },
      });
    } else { // L17-18: ask the driver for a value; it answers with a "value" input
      state.awaitingValueRound = round;
      outputs.push({ type: "get_value", height: state.height, round });
    }
  }
  // L21 (CometBFT also schedules it for the proposer: if its own block never arrives it prevotes nil).
  outputs.push(timeoutOutput(state, "propose"));
}

/** L57-65: OnTimeoutPropose / OnTimeoutPrevote / OnTimeoutPrecommit. */
function onTimeout(state: HeightState, which: Step, height: number, round: number, outputs: Output[]): void {
  if (!state.started || height !== state.height || round !== state.round) return;
  if (which === "propose" && state.step === "propose") { // L57-60
    castVote(state, "prevote", null, outputs);
    state.step = "prevote";
  } else if (which === "prevote" && state.step === "prevote") { // L61-64
    castVote(state, "precommit", null, outputs);
    state.step = "precommit";
  } else if (which === "precommit") { // L65
    startRound(state, state.round + 1, outputs);
  }
}

function applyRules(state: HeightState, outputs: Output[]): void {
  for (let firings = 0; firings < RULE_FIRINGS_MAX; firings++) {
    if (state.decision !== null) return;
    const fired = ruleDecide(state, outputs) ||
      ruleRoundSkip(state, outputs) ||
      ruleProposalNoPol(state, outputs) ||
      ruleProposalWithPol(state, outputs) ||
      ruleLock(state, outputs) ||
      rulePrevoteNil(state, outputs) ||
      rulePrevoteTimeout(state, outputs) ||
      rulePrecommitTimeout(state, outputs);
    if (!fired) return;
  }
  throw new Error(`consensus core invariant: rules fired more than ${RULE_FIRINGS_MAX} times on one input`);
}

/** L49-54: proposal(h, r, v, *) and 2f+1 precommit(h, r, id(v)) for ANY round r, valid(v) -> decide. */
function ruleDecide(state: HeightState, outputs: Output[]): boolean {
  const rounds = [...state.proposals.keys()].sort((a, b) => a - b);
  for (const r of rounds) {
    const received = state.proposals.get(r)!;
    const v = received.proposal.blockHash;
    if (received.valid && state.votes.twoThirdsMajority(r, "precommit") === v) {
      state.decision = { round: r, blockHash: v }; // L51
      outputs.push({
        type: "decide",
        height: state.height,
        round: r,
        blockHash: v,
        commit: state.votes.makeCommit(r, v),
      });
      return true;
    }
  }
  return false;
}

/** L55-56: f+1 messages of a round > round_p -> StartRound(that round) (the highest such round). */
function ruleRoundSkip(state: HeightState, outputs: Output[]): boolean {
  const rounds = state.votes.rounds();
  for (let i = rounds.length - 1; i >= 0; i--) {
    const r = rounds[i]!;
    if (r <= state.round) return false;
    if (state.votes.hasOneThirdAnyInRound(r)) {
      startRound(state, r, outputs);
      return true;
    }
  }
  return false;
}

/** L22-27: proposal(h, round_p, v, -1) while step = propose. */
function ruleProposalNoPol(state: HeightState, outputs: Output[]): boolean {
  if (state.step !== "propose") return false;
  const received = state.proposals.get(state.round);
  if (received === undefined || received.proposal.polRound !== -1) return false;
  const v = received.proposal.blockHash;
  // L23: valid(v) and (lockedRound = -1 or lockedValue = v); PBTS adds timely(v) for a fresh value
  const ok = received.valid && received.timely &&
    (state.lockedRound === -1 || state.lockedValue === v || state.mutant === "skip-lock-check");
  castVote(state, "prevote", ok ? v : null, outputs); // L24 / L26
  state.step = "prevote"; // L27
  return true;
}

/** L28-33: proposal(h, round_p, v, vr) and 2f+1 prevote(h, vr, id(v)), 0 <= vr < round_p, step = propose. */
function ruleProposalWithPol(state: HeightState, outputs: Output[]): boolean {
  if (state.step !== "propose") return false;
  const received = state.proposals.get(state.round);
  if (received === undefined) return false;
  const { polRound: vr, blockHash: v } = received.proposal;
  const stale = state.mutant === "accept-stale-pol";
  if (vr < 0 || (vr >= state.round && !stale)) return false;
  if (state.votes.twoThirdsMajority(vr, "prevote") !== v) return false;
  // L29: valid(v) and (lockedRound <= vr or lockedValue = v)
  const ok = received.valid && (state.lockedRound <= vr || state.lockedValue === v || stale);
  castVote(state, "prevote", ok ? v : null, outputs); // L30 / L32
  state.step = "prevote"; // L33
  return true;
}

/** L34-35: 2f+1 prevote(h, round_p, *) while step = prevote, first time -> schedule prevote timeout. */
function rulePrevoteTimeout(state: HeightState, outputs: Output[]): boolean {
  if (state.step !== "prevote" || state.prevoteTimeoutRound === state.round) return false;
  if (!state.votes.hasTwoThirdsAny(state.round, "prevote")) return false;
  state.prevoteTimeoutRound = state.round;
  outputs.push(timeoutOutput(state, "prevote"));
  return true;
}

/** L36-43: proposal(h, round_p, v, *) valid and 2f+1 prevote(h, round_p, id(v)), step >= prevote, first time. */
function ruleLock(state: HeightState, outputs: Output[]): boolean {
  if (state.step === "propose" || state.lockRuleRound === state.round) return false;
  const received = state.proposals.get(state.round);
  if (received === undefined || !received.valid) return false;
  const v = received.proposal.blockHash;
  const quorum = state.mutant === "precommit-without-quorum"
    ? state.votes.powerFor(state.round, "prevote", v) > 0n
    : state.votes.twoThirdsMajority(state.round, "prevote") === v;
  if (!quorum) return false;
  state.lockRuleRound = state.round;
  if (state.step === "prevote") { // L37
    state.lockedValue = v; // L38
    state.lockedRound = state.round; // L39
    castVote(state, "precommit", v, outputs); // L40
    state.step = "precommit"; // L41
  }
  state.validValue = v; // L42
  state.validRound = state.round; // L43
  return true;
}

/** L44-46: 2f+1 prevote(h, round_p, nil) while step = prevote -> precommit nil. */
function rulePrevoteNil(state: HeightState, outputs: Output[]): boolean {
  if (state.step !== "prevote") return false;
  if (state.votes.twoThirdsMajority(state.round, "prevote") !== null) return false;
  castVote(state, "precommit", null, outputs); // L45
  state.step = "precommit"; // L46
  return true;
}

/** L47-48: 2f+1 precommit(h, round_p, *) for the first time -> schedule precommit timeout. */
function rulePrecommitTimeout(state: HeightState, outputs: Output[]): boolean {
  if (state.precommitTimeoutRound === state.round) return false;
  if (!state.votes.hasTwoThirdsAny(state.round, "precommit")) return false;
  state.precommitTimeoutRound = state.round;
  outputs.push(timeoutOutput(state, "precommit"));
  return true;
}
