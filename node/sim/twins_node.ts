/**
 * One node of a Twins run: the REAL consensus core (`consensus/state_machine.ts` `step`, its vote
 * sets, the validator set's proposer selection) and the real double-sign guard (`checkSign`) inside
 * a small in-memory shell that only moves messages and timers, as `node/consensus_driver.ts` does
 * for a real node: every rule (what to vote, when to lock, when to decide, what is evidence) is the
 * core's. The shell's own parts, each the driver's counterpart:
 * - values: `get_value` is answered with a block id naming the proposer node (twins propose
 *   different blocks); every value is valid and timely (Twins tests the protocol, not the ledger);
 * - signatures: own messages pass the node's own signer guard (two twins: two guards, so both
 *   sign), then carry a stand-in signature: nobody but the validators' nodes sends in a Twins run,
 *   and the core counts votes the shell says were checked;
 * - WAL: every input fed to the core at the current height is recorded and replayed into a fresh
 *   core after a restart (mutant `forget-lock-on-restart` replays only the node's own messages); the
 *   node's own signed messages of the height are kept too, and re-sent as signed (the signer guard
 *   would refuse to sign an earlier step again);
 * - re-send: own messages of a height that lasts are re-sent every `rebroadcastMs`;
 * - catch-up (block sync): a node whose height lasts polls its peers' with a status message; a node
 *   that already decided a height answers that, or any message of that height, with its commit; a node verifies a commit by counting its precommits in a fresh `HeightVoteSet` (more
 *   than 2/3 of the power for the block) before it takes the decision.
 * @module
 */
import {
  checkSign,
  type Commit,
  type DuplicateVoteEvidence,
  HeightVoteSet,
  type Hex,
  type Input,
  type Mutant,
  newHeightState,
  type Proposal,
  type SignedVote,
  type SignRecord,
  type SignStep,
  step,
  type Timeouts,
  type ValidatorSet,
} from "../../consensus/mod.ts";

/** A message between Twins nodes. */
export type TwinsMessage =
  | { kind: "proposal"; proposal: Proposal }
  | { kind: "vote"; signed: SignedVote }
  | { kind: "commit"; height: number; blockHash: Hex; commit: Commit }
  /** Block sync's status poll: "I am deciding `height`" (a node that decided it answers with its commit). */
  | { kind: "status"; height: number };

/** What a node needs from the run around it. */
export interface TwinsEnv {
  readonly chainId: string;
  readonly timeouts: Timeouts;
  /** Heights to decide; a node stops after the last. */
  readonly heights: number;
  readonly mutant: Mutant | null;
  readonly commitDelayMs: number;
  readonly rebroadcastMs: number;
  now(): number;
  /** The validator set of a height. */
  validators(height: number): ValidatorSet;
  /** Sends to every other node. */
  broadcast(from: TwinsNode, msg: TwinsMessage): void;
  /** Sends to one node. */
  send(from: TwinsNode, to: number, msg: TwinsMessage): void;
  /** Runs `fn` after `ms` unless the node restarted in between. */
  schedule(node: TwinsNode, ms: number, fn: () => void): void;
  /** `node` signed and sent its message of (height, round, step) (crash points of a scenario). */
  onSigned(node: TwinsNode, height: number, round: number, step: SignStep): void;
  /** A vote reached the core of `node` (for the evidence check). */
  onVoteFed(node: TwinsNode, signed: SignedVote): void;
  onEvidence(node: TwinsNode, evidence: DuplicateVoteEvidence): void;
  onDecide(node: TwinsNode, height: number, blockHash: Hex, commit: Commit, how: "core" | "sync"): void;
  /** Trace line (only called when tracing). */
  trace: ((line: string) => void) | null;
}

/**
 * Whether a commit certifies `blockHash`: its precommits, counted in a fresh `HeightVoteSet` (each
 * validator once), carry more than 2/3 of the power (signatures are stand-ins in a Twins run).
 * @param chainId the chain id.
 * @param validators the commit height's validator set.
 * @param blockHash the block it should certify.
 * @param commit the commit.
 * @returns true when it does.
 */
export function commitHasQuorum(
  chainId: string,
  validators: ValidatorSet,
  blockHash: Hex,
  commit: Commit,
): boolean {
  if (commit.blockHash !== blockHash) return false;
  const votes = new HeightVoteSet(chainId, commit.height, validators);
  for (const s of commit.signatures) {
    votes.add({
      vote: {
        chainId,
        type: "precommit",
        height: commit.height,
        round: commit.round,
        blockHash,
        validator: s.validator,
      },
      signature: s.signature,
    });
  }
  return votes.twoThirdsMajority(commit.round, "precommit") === blockHash;
}

const STAND_IN_SIGNATURE = new Uint8Array(0);
/** Messages of later heights kept at most per node. */
const FUTURE_MAX = 10_000;

/** A Twins node (see the module doc). */
export class TwinsNode {
  readonly index: number;
  readonly name: string;
  readonly address: string;
  up = true;
  /** Bumped at each crash: timers of an earlier incarnation never fire. */
  incarnation = 0;
  /** Decided block per height. */
  readonly decisions = new Map<number, { blockHash: Hex; commit: Commit }>();
  #env: TwinsEnv;
  #core: ReturnType<typeof newHeightState> | null = null;
  #height = 0;
  #heightStartedAt = 0;
  #wal: Input[] = [];
  /** Own signed messages of the height, by position (durable: the WAL holds them on a real node). */
  #own = new Map<string, TwinsMessage>();
  #future: { from: number; msg: TwinsMessage }[] = [];
  #signed: SignRecord | null = null;
  #replaying = false;

  constructor(env: TwinsEnv, index: number, name: string, address: string) {
    this.#env = env;
    this.index = index;
    this.name = name;
    this.address = address;
  }

  /** The height being decided (heights + 1 once done). */
  get height(): number {
    return this.#height;
  }

  /** The round of the height being decided (-1 between heights). */
  get round(): number {
    return this.#core?.round ?? -1;
  }

  /** Starts at the first undecided height and schedules the re-send tick. */
  start(): void {
    this.#startHeight(this.decisions.size + 1, false);
    this.#tick();
  }

  /** Crash: state in memory is lost (decisions, WAL and signer guard are durable). */
  crash(): void {
    this.up = false;
    this.incarnation++;
    this.#core = null;
    this.#future = [];
  }

  /** Restart from the durable parts: the height's WAL is replayed into a fresh core. */
  restart(): void {
    this.up = true;
    const height = this.decisions.size + 1;
    const replay = height === this.#height ? this.#wal : [];
    const own = height === this.#height ? this.#own : new Map<string, TwinsMessage>();
    this.#startHeight(height, false);
    for (const [k, m] of own) this.#own.set(k, m);
    const keep = this.#env.mutant === "forget-lock-on-restart"
      ? replay.filter((i) => this.#isOwn(i))
      : replay;
    this.#replaying = true;
    try {
      for (const input of keep) this.#feed(input);
    } finally {
      this.#replaying = false;
    }
    if (this.#height === height) this.#wal = [...keep, ...this.#wal];
    this.#tick();
  }

  /** A message from node `from`. */
  receive(from: number, msg: TwinsMessage): void {
    if (!this.up) return;
    if (msg.kind === "commit") return this.#onCommit(msg);
    const h = msg.kind === "proposal"
      ? msg.proposal.height
      : msg.kind === "vote"
      ? msg.signed.vote.height
      : msg.height;
    const decided = this.decisions.get(h);
    if (decided) {
      // The sender lags: give it the commit (CometBFT sends a lagging peer the last commit).
      this.#env.send(this, from, {
        kind: "commit",
        height: h,
        blockHash: decided.blockHash,
        commit: decided.commit,
      });
      return;
    }
    if (msg.kind === "status") return;
    if (h > this.#height || this.#core === null) {
      if (this.#future.length < FUTURE_MAX && h <= this.#env.heights) this.#future.push({ from, msg });
      return;
    }
    if (h < this.#height) return;
    if (msg.kind === "proposal") this.#feed({ type: "proposal", proposal: msg.proposal, valid: true });
    else this.#feed({ type: "vote", signed: msg.signed });
  }

  #isOwn(i: Input): boolean {
    return (i.type === "vote" && i.signed.vote.validator === this.address) ||
      (i.type === "proposal" && i.proposal.proposer === this.address) || i.type === "value";
  }

  #startHeight(height: number, fromDecision: boolean): void {
    if (fromDecision && height !== this.decisions.size + 1) return;
    this.#height = height;
    this.#wal = [];
    this.#own = new Map();
    this.#core = null;
    if (height > this.#env.heights) return;
    this.#heightStartedAt = this.#env.now();
    this.#core = newHeightState({
      chainId: this.#env.chainId,
      height,
      validators: this.#env.validators(height),
      self: this.address,
      timeouts: this.#env.timeouts,
      mutant: this.#env.mutant,
    });
    this.#feed({ type: "start" });
    const future = this.#future;
    this.#future = [];
    for (const { from, msg } of future) this.receive(from, msg);
  }

  #feed(input: Input): void {
    const core = this.#core;
    if (core === null) return;
    if (input.type !== "start" && !this.#replaying) this.#wal.push(input);
    if (input.type === "vote") this.#env.onVoteFed(this, input.signed);
    const { outputs } = step(core, input);
    for (const out of outputs) {
      if (this.#core !== core) return; // decided (or restarted) while handling an earlier output
      switch (out.type) {
        case "get_value":
          this.#feed({
            type: "value",
            height: out.height,
            round: out.round,
            blockHash: `b${out.height}.${out.round}.${this.name}`,
          });
          break;
        case "propose": {
          const p = out.proposal;
          if (!this.#authorize(p.height, p.round, "propose", `${p.blockHash}/${p.polRound}`)) break;
          const msg: TwinsMessage = { kind: "proposal", proposal: p };
          this.#own.set(`p/${p.round}`, msg);
          if (!this.#replaying) {
            this.#env.broadcast(this, msg);
            this.#env.onSigned(this, p.height, p.round, "propose");
          }
          this.#feed({ type: "proposal", proposal: p, valid: true });
          break;
        }
        case "vote": {
          const v = out.vote;
          if (!this.#authorize(v.height, v.round, v.type, v.blockHash ?? "nil")) break;
          const msg: TwinsMessage = { kind: "vote", signed: { vote: v, signature: STAND_IN_SIGNATURE } };
          this.#own.set(`${v.type}/${v.round}`, msg);
          if (!this.#replaying) {
            this.#env.broadcast(this, msg);
            this.#env.onSigned(this, v.height, v.round, v.type);
          }
          this.#feed({ type: "vote", signed: msg.signed });
          break;
        }
        case "schedule_timeout": {
          const { step: s, height, round } = out;
          this.#env.schedule(this, out.durationMs, () => {
            if (this.#core === core) this.#feed({ type: "timeout", step: s, height, round });
          });
          break;
        }
        case "decide":
          this.#decide(out.height, out.blockHash, out.commit, "core");
          break;
        case "evidence":
          this.#env.onEvidence(this, out.evidence);
          break;
      }
    }
  }

  /** The node's signer guard (`checkSign`, as `SignerState` runs it). */
  #authorize(height: number, round: number, s: SignStep, what: string): boolean {
    const next: SignRecord = { height, round, step: s, signBytesHash: what };
    const verdict = checkSign(this.#signed, next);
    if (!verdict.ok) {
      this.#env.trace?.(
        `${this.#env.now()} ${this.name} signer refuses ${s} h${height} r${round}: ${verdict.reason}`,
      );
      return false;
    }
    if (!verdict.resign) this.#signed = next;
    return true;
  }

  #decide(height: number, blockHash: Hex, commit: Commit, how: "core" | "sync"): void {
    this.decisions.set(height, { blockHash, commit });
    this.#core = null;
    this.#env.onDecide(this, height, blockHash, commit, how);
    this.#env.schedule(this, this.#env.commitDelayMs, () => this.#startHeight(height + 1, true));
  }

  /** Block sync's check: the commit's precommits carry more than 2/3 of the power for the block. */
  #onCommit(msg: Extract<TwinsMessage, { kind: "commit" }>): void {
    if (
      msg.height !== this.#height || this.decisions.has(msg.height) || msg.commit.blockHash !== msg.blockHash
    ) {
      return;
    }
    if (!commitHasQuorum(this.#env.chainId, this.#env.validators(msg.height), msg.blockHash, msg.commit)) {
      this.#env.trace?.(`${this.#env.now()} ${this.name} refuses a commit of h${msg.height}: no +2/3`);
      return;
    }
    this.#decide(msg.height, msg.blockHash, msg.commit, "sync");
  }

  /** Re-sends own messages of a height that lasts (the driver's rebroadcast). */
  #tick(): void {
    const every = this.#env.rebroadcastMs;
    this.#env.schedule(this, every, () => {
      if (this.#core !== null && this.#env.now() - this.#heightStartedAt >= every) {
        for (const msg of this.#own.values()) this.#env.broadcast(this, msg);
        this.#env.broadcast(this, { kind: "status", height: this.#height });
      }
      if (this.#height <= this.#env.heights) this.#tick();
    });
  }
}
