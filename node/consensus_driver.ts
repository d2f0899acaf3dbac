/**
 * The consensus shell: connects the pure state machine (`consensus/`) to gossip, timers, the WAL,
 * the signer and the chain. One serial queue feeds every input (peer messages, timeouts, synced
 * blocks) to the core, so the core never sees two inputs at once.
 *
 * Own messages are signed, persisted and published by `consensus_own.ts`, then fed back to the core
 * as input; the WAL records and their replay are `consensus_wal.ts`.
 * @module
 */
import { encode } from "cborg";
import { type Clock, systemClock } from "../lib/clock.ts";
import type { Logger } from "../lib/log.ts";
import { blockTimeProblem, type Chain, type ValidatedBlock } from "./chain.ts";
import type { Mempool } from "./mempool.ts";
import type { P2P } from "./p2p.ts";
import {
  blockBytesMismatch,
  type ConsensusGossipContext,
  decodeProposalMessage,
  decodeProposedBlock,
  decodeVoteMessage,
  resendProtocol,
  SeenSignatures,
  topics,
  validateProposalMessage,
  validateResend,
  validateVoteMessage,
  VOTES_PER_MESSAGE_MAX,
} from "./consensus_gossip.ts";
import { ConsensusWal, type WalLog } from "./consensus_wal.ts";

export type { WalLog } from "./consensus_wal.ts";
/** What the driver needs of its signer state ({@link SignerState} on disk, or the simulator's). */
export type SignerGuard = Pick<SignerState, "authorize">;
import { OwnMessages } from "./consensus_own.ts";
import { GOSSIP_BYTES_MAX, GossipStats, toVerdict } from "./gossip_validation.ts";
import { validateSyncedBlock } from "./sync_verify.ts";
import { BlockCache, FutureBuffer } from "./height_buffers.ts";
import { buildBlock } from "./block_builder.ts";
import { SerialQueue } from "./serial_queue.ts";
import { EvidencePool } from "./evidence_pool.ts";
import { EvidenceGossip } from "./evidence_gossip.ts";
import {
  encodeSignedProposal,
  encodeSignedVote,
  newHeightState,
  SignerState,
  step,
} from "../consensus/mod.ts";
import type { Commit, Proposal, Vote } from "../consensus/types.ts";

/** Options of the driver. */
export interface DriverOptions {
  chain: Chain;
  p2p: P2P;
  mempool: Mempool;
  /** The validator key when this node validates. */
  validatorKey: { address: string; privKey: Uint8Array } | null;
  walPath: string;
  signerStatePath: string;
  /** Opens the log under the WAL at `walPath` (default the fsynced file; the simulator keeps it in memory). */
  openWal?: (path: string) => Promise<WalLog>;
  /** Loads the signer state at `signerStatePath` (default the file, `SignerState.load`). */
  loadSigner?: (path: string) => Promise<SignerGuard>;
  clock?: Clock;
  logger?: Logger;
  /** Re-send own messages of a stuck height every this many ms (default 1000). */
  rebroadcastMs?: number;
  /** Where refused re-sent messages are counted per peer and reason (the node's gossip stats). */
  gossipStats?: GossipStats;
  /** Pending evidence (default a new pool with the default bounds). */
  evidencePool?: EvidencePool;
}

type CoreState = ReturnType<typeof newHeightState>;
type CoreInput = Parameters<typeof step>[1];
type CoreOutput = ReturnType<typeof step>["outputs"][number];

export { topics } from "./consensus_gossip.ts";

/** The consensus driver of one node. */
export class ConsensusDriver {
  readonly #o: DriverOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #topics: ReturnType<typeof topics>;
  #cs: CoreState | null = null;
  #height = 0;
  /** Every input goes through this queue. */
  readonly #q: SerialQueue;
  #stopped = false;
  #timers = new Set<unknown>();
  /** Blocks seen for the current height by hash (validated or not). */
  readonly #blocks = new BlockCache();
  /** Own messages (validators only; set by start). */
  #own: OwnMessages | null = null;
  readonly #future = new FutureBuffer();
  /** Signatures of the peer messages of this height already in the WAL (identical messages once). */
  #walSeen = new SeenSignatures();
  #wal!: ConsensusWal;
  #replaying = false;
  #pendingGetValue: { height: number; round: number } | null = null;
  #lastProgress = 0;
  /** The height waiting at rest (nothing to do) for a tx, a peer's message or the empty-block interval. */
  #resting: { height: number; timer: unknown } | null = null;
  /** Heights decided after round 0 (a timeout or a missing proposal cost a round). */
  laterRounds = 0;
  /** Evidence: detection, pool, gossip (issue 9). */
  readonly #evidence: EvidenceGossip;
  /** Pending evidence. */
  readonly evidencePool: EvidencePool;
  /** Heights seen in messages from peers, above ours: a hint for block sync. */
  #onBehind: ((height: number) => void) | null = null;

  /** What the gossip validators read of this driver (one object, no allocation per message). */
  readonly #gossipCtx: ConsensusGossipContext;
  readonly #gossipStats: GossipStats;

  constructor(opts: DriverOptions) {
    this.#o = opts;
    this.#gossipCtx = {
      chain: opts.chain,
      height: () => this.#height,
      onBehind: (h) => this.#onBehind?.(h),
    };
    this.#clock = opts.clock ?? systemClock;
    this.#log = opts.logger ?? (() => {});
    this.#gossipStats = opts.gossipStats ?? new GossipStats();
    this.#topics = topics(opts.chain.chainId);
    this.#q = new SerialQueue(this.#log);
    // Pending evidence is kept as long as the ledger would still punish it (staking's age).
    const staking = opts.chain.genesis.params.staking;
    this.evidencePool = opts.evidencePool ?? new EvidencePool({ ageBlocksMax: staking.evidenceMaxAgeBlocks });
    this.#evidence = new EvidenceGossip({
      chain: opts.chain,
      p2p: opts.p2p,
      pool: this.evidencePool,
      topic: this.#topics.evidence,
      height: () => this.#height,
      log: this.#log,
    });
  }

  /** Duplicate votes this node detected (conflicting signed votes of one validator). */
  get evidenceCount(): number {
    return this.#evidence.detected;
  }

  /** The height being decided. */
  get height(): number {
    return this.#height;
  }

  /** True while the next height waits at rest (no tx, no scheduled ledger work; issue 9, part 5). */
  get resting(): boolean {
    return this.#resting !== null;
  }

  /** The current round (for status). */
  get round(): number {
    return (this.#cs as { round?: number } | null)?.round ?? 0;
  }

  /** Called when peers' messages show heights above ours. */
  onBehind(fn: (height: number) => void): void {
    this.#onBehind = fn;
  }

  /** Open the WAL and signer state, subscribe to gossip, replay the WAL, start the height. */
  async start(): Promise<void> {
    this.#wal = await ConsensusWal.open(this.#o.walPath, this.#o.openWal);
    const signer = await (this.#o.loadSigner ?? SignerState.load)(this.#o.signerStatePath);
    const key = this.#o.validatorKey;
    if (key) {
      const { p2p, chain } = this.#o;
      this.#own = new OwnMessages({
        p2p,
        chainId: chain.chainId,
        topics: this.#topics,
        key,
        signer,
        wal: this.#wal,
        log: this.#log,
      });
    }
    this.#o.p2p.onMessage(
      this.#topics.proposal,
      (d) => validateProposalMessage(d, this.#gossipCtx),
      (d) => this.#enqueue(() => this.#onProposalMessage(d)),
    );
    this.#o.p2p.onMessage(
      this.#topics.vote,
      (d) => validateVoteMessage(d, this.#gossipCtx),
      (d) => this.#enqueue(() => this.#onVoteMessage(d)),
    );
    await this.#o.p2p.handle(
      resendProtocol(this.#o.chain.chainId),
      (req, from) => this.#onResend(req, from),
      // a peer keeps at most one re-send exchange in flight to us (`resendToPeers`); room for one
      // stream still closing
      { requestBytesMax: GOSSIP_BYTES_MAX, concurrentMax: 16, inboundStreamsMax: 2 },
    );
    this.#evidence.start();
    this.#o.mempool.onAdded(() => this.#wake(this.#height));
    await this.#run(async () => {
      await this.#startHeight(this.#o.chain.height + 1, true);
    });
    this.#scheduleRebroadcast();
  }

  /** Stop timers and close the WAL. Queued inputs are dropped. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#o.mempool.onAdded(null);
    this.#resting = null;
    for (const t of this.#timers) this.#clock.clearTimeout(t);
    this.#timers.clear();
    await this.#q.stop();
    await this.#wal?.close();
  }

  /**
   * Apply a block fetched by block sync (with its commit). Serialised with consensus inputs.
   * `durable: false` (every block of a fetched batch but the last) commits it without an fsync: a
   * crash loses only blocks that can be fetched again.
   */
  applySyncedBlock(blockBytes: Uint8Array, commitBytes: Uint8Array, durable = true): Promise<string | null> {
    return new Promise((resolve) => {
      this.#enqueue(async () => {
        const v = await validateSyncedBlock(this.#o.chain, blockBytes, commitBytes);
        if (v.ok) await this.#commit(v.block, v.commit, durable);
        resolve(v.ok ? null : v.reason);
      });
    });
  }

  // ---- queue ----

  /** True when no input is queued or being processed (the simulator waits for this between events). */
  get idle(): boolean {
    return this.#q.idle;
  }

  #enqueue(task: () => Promise<void>): void {
    if (!this.#stopped) this.#q.enqueue(task);
  }

  #run(task: () => Promise<void>): Promise<void> {
    return this.#q.run(task);
  }

  // ---- heights ----

  async #startHeight(height: number, replay: boolean): Promise<void> {
    const chain = this.#o.chain;
    this.#stopResting();
    this.#height = height;
    this.#blocks.clear();
    this.#walSeen.clear();
    this.#own?.clear();
    this.#pendingGetValue = null;
    this.#lastProgress = this.#clock.now();
    const p = chain.genesis.params.consensus;
    this.#cs = newHeightState({
      chainId: chain.chainId,
      height,
      validators: chain.validators,
      self: this.#o.validatorKey && chain.validators.has(this.#o.validatorKey.address)
        ? this.#o.validatorKey.address
        : null,
      timeouts: {
        proposeMs: p.timeoutProposeMs,
        prevoteMs: p.timeoutPrevoteMs,
        precommitMs: p.timeoutPrecommitMs,
        deltaMs: p.timeoutDeltaMs,
      },
    });
    await this.#feed({ type: "start" });
    if (replay) await this.#replayWal();
    // Messages that arrived early for this height.
    for (const m of this.#future.take()) {
      if (m.kind === "proposal") await this.#onProposalMessage(m.data);
      else await this.#onVoteMessage(m.data);
    }
  }

  async #replayWal(): Promise<void> {
    this.#replaying = true;
    let replayed: number;
    try {
      replayed = await this.#wal.replay({
        height: () => this.#height,
        proposal: (d) => this.#onProposalMessage(d),
        vote: (d) => this.#onVoteMessage(d),
        timeout: (s, height, round) => this.#feed({ type: "timeout", step: s, height, round }),
        value: (height, round, bytes) => this.#acceptValue(height, round, bytes),
      }, this.#log);
    } finally {
      this.#replaying = false;
    }
    if (replayed === 0) return;
    this.#log("info", "replayed consensus WAL", { height: this.#height, records: replayed });
    const g = this.#pendingGetValue;
    if (g && g.height === this.#height) {
      this.#pendingGetValue = null;
      await this.#buildValue(g.height, g.round);
    }
  }

  // ---- core ----

  async #feed(input: CoreInput): Promise<void> {
    if (!this.#cs) return;
    const { state, outputs } = step(this.#cs, input);
    this.#cs = state;
    for (const out of outputs) {
      if (this.#stopped) return;
      await this.#handle(out);
    }
  }

  async #handle(out: CoreOutput): Promise<void> {
    switch (out.type) {
      case "get_value":
        if (this.#replaying) this.#pendingGetValue = { height: out.height, round: out.round };
        else await this.#buildValue(out.height, out.round);
        return;
      case "propose":
        await this.#signAndSendProposal(out.proposal);
        return;
      case "vote":
        await this.#signAndSendVote(out.vote);
        return;
      case "schedule_timeout": {
        const { step: s, height, round, durationMs } = out;
        this.#after(durationMs, () =>
          this.#enqueue(async () => {
            if (height !== this.#height) return;
            await this.#wal.timeout(s, height, round);
            await this.#feed({ type: "timeout", step: s, height, round });
          }));
        return;
      }
      case "decide": {
        const vb = this.#blocks.get(out.blockHash);
        if (!vb || !vb.ok) {
          this.#log("error", "decided a block we do not hold; waiting for block sync", {
            height: out.height,
          });
          this.#onBehind?.(out.height);
          return;
        }
        if (out.round > 0) {
          this.laterRounds++;
          this.#log("info", "decided in a later round", { height: out.height, round: out.round });
        }
        // Durable before the WAL reset when this node signs (issue 8, finding 9); a full node's
        // WAL holds no message of its own and its blocks can be fetched again.
        await this.#commit(vb.value, out.commit, this.#signs());
        return;
      }
      case "evidence":
        await this.#evidence.report(out.evidence.a, out.evidence.b);
        return;
    }
  }

  /** Whether this node is a validator of the height being decided (it signs messages of it). */
  #signs(): boolean {
    const key = this.#o.validatorKey;
    return key !== null && this.#o.chain.validators.has(key.address);
  }

  async #commit(vb: ValidatedBlock, commit: Commit, durable: boolean): Promise<void> {
    const chain = this.#o.chain;
    const event = await chain.commit(vb, commit, { durable });
    this.#evidence.committed(vb.block.evidence, event.height);
    this.#o.mempool.update(event.txs.map((t) => t.id), chain.state, new Set(event.txs.map((t) => t.from)));
    // Not synced: the block is (when this node signs), and a WAL that still holds a decided height's
    // records after a crash is replayed as stale (ignored); the next own message's fsync makes the
    // truncation durable. One fsync per block less in the consensus queue.
    await this.#wal.reset(false);
    this.#cs = null;
    this.#stopResting();
    // The next height starts from the queue (never recursively inside this task), after
    // timeoutCommit so that late precommits and txs can arrive; or rests when it has nothing to do.
    const delay = chain.genesis.params.consensus.timeoutCommitMs;
    const next = event.height + 1;
    const committedAt = this.#clock.now();
    this.#height = next;
    this.#after(
      delay,
      () =>
        this.#enqueue(() =>
          this.#height === next && !this.#cs ? this.#startOrRest(next, committedAt) : Promise.resolve()
        ),
    );
  }

  /** Runs `fn` after `ms` on the clock (the timer is cleared on stop). */
  #after(ms: number, fn: () => void): unknown {
    const t = this.#clock.setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    this.#timers.add(t);
    return t;
  }

  // ---- rest (issue 9, part 5: a node at rest costs nothing) ----

  /**
   * Starts `height` now when it has something to do (a tx in the mempool, a peer's message for it,
   * ledger work scheduled) or when `createEmptyBlocksIntervalMs` since the last commit has passed;
   * otherwise rests until one of those happens (CometBFT's create_empty_blocks=false + interval). No
   * round runs while resting, so no timeout fires; every validator applies the same rule, and one
   * that receives a proposal or a vote for the height starts it whatever its own mempool holds.
   */
  async #startOrRest(height: number, committedAt: number): Promise<void> {
    const chain = this.#o.chain;
    const interval = chain.genesis.params.consensus.createEmptyBlocksIntervalMs ?? 0;
    const wait = committedAt + interval - this.#clock.now();
    if (interval <= 0 || wait <= 0 || this.#hasWork(height)) {
      await this.#startHeight(height, false);
      return;
    }
    this.#resting = { height, timer: this.#after(wait, () => this.#wake(height)) };
    this.#log("debug", "resting", { height, waitMs: wait });
  }

  /**
   * Whether `height` has work: txs or evidence pending, peers' messages for it buffered, ledger work
   * scheduled.
   */
  #hasWork(height: number): boolean {
    const chain = this.#o.chain;
    return this.#o.mempool.size > 0 || this.#future.size > 0 || this.evidencePool.size > 0 ||
      chain.ledger.scheduledWork(chain.state, height);
  }

  /** Ends the rest of `height` (a tx, a peer's message or the interval): the height starts from the queue. */
  #wake(height: number): void {
    if (this.#resting?.height !== height || this.#stopped) return;
    this.#stopResting();
    this.#enqueue(() =>
      this.#height === height && !this.#cs ? this.#startHeight(height, false) : Promise.resolve()
    );
  }

  #stopResting(): void {
    const r = this.#resting;
    if (!r) return;
    this.#resting = null;
    this.#clock.clearTimeout(r.timer);
    this.#timers.delete(r.timer);
  }

  // ---- our own messages ----

  async #buildValue(height: number, round: number): Promise<void> {
    const bytes = await buildBlock({
      chain: this.#o.chain,
      mempool: this.#o.mempool,
      evidence: (h, bounds) => this.#evidence.forBlock(h, bounds),
      height,
      nowMs: this.#clock.now(),
      proposer: this.#o.validatorKey!.address,
    });
    await this.#wal.value(height, round, bytes);
    await this.#acceptValue(height, round, bytes);
  }

  async #acceptValue(height: number, round: number, bytes: Uint8Array): Promise<void> {
    const v = await this.#o.chain.validateBlock(bytes, {});
    if (!v.ok) {
      this.#log("error", "own block is invalid", { reason: v.reason });
      return;
    }
    this.#blocks.set(v.value.hash, v);
    await this.#feed({ type: "value", height, round, blockHash: v.value.hash });
  }

  async #signAndSendProposal(proposal: Proposal): Promise<void> {
    const vb = this.#blocks.get(proposal.blockHash);
    if (!this.#own || !vb || !vb.ok) return;
    if (!await this.#own.proposal(proposal, vb.value.bytes, !this.#replaying)) return;
    await this.#feed({ type: "proposal", proposal, valid: true });
  }

  async #signAndSendVote(vote: Vote): Promise<void> {
    const signed = await this.#own?.vote(vote, !this.#replaying);
    if (signed) await this.#feed({ type: "vote", signed });
  }

  #scheduleRebroadcast(): void {
    const every = this.#o.rebroadcastMs ?? 1000;
    this.#after(every, () => {
      if (this.#stopped) return;
      this.#enqueue(() => {
        // Nothing is re-sent between heights (at rest, a node sends nothing).
        if (this.#cs && this.#clock.now() - this.#lastProgress >= every) this.#own?.resend();
        return Promise.resolve();
      });
      this.#scheduleRebroadcast();
    });
  }

  /** A peer's re-sent message: validated exactly like gossip (votes may be bundled), then handled. */
  async #onResend(req: Uint8Array, from: string): Promise<Uint8Array> {
    const r = await validateResend(req, this.#gossipCtx);
    const topic = r.kind === "vote" ? this.#topics.vote : this.#topics.proposal;
    if (toVerdict(r.result, { topic, from, stats: this.#gossipStats, logger: this.#log }) === "accept") {
      const d = r.data;
      this.#enqueue(() => r.kind === "vote" ? this.#onVoteMessage(d) : this.#onProposalMessage(d));
    }
    return new Uint8Array(0);
  }

  // ---- peer messages ----

  /** Keep a message of the next height for when it starts; bounded in count and bytes (drop beyond). */
  #buffer(kind: "proposal" | "vote", data: Uint8Array): void {
    if (!this.#cs) this.#wake(this.#height); // a peer runs our resting height: join it
    this.#future.push(kind, data);
  }

  async #onProposalMessage(data: Uint8Array): Promise<void> {
    // decoded once for the message id, gossip validation and here (remembered by the bytes object)
    const m = decodeProposalMessage(data);
    if (m === null) return;
    const { sp, blockBytes } = m;
    const p = sp.proposal;
    if (p.height === this.#height + 1 || (p.height === this.#height && !this.#cs)) {
      this.#buffer("proposal", data);
      return;
    }
    if (p.height !== this.#height || !this.#cs) return;
    const chain = this.#o.chain;
    if (chain.validators.proposerForRound(p.round).address !== p.proposer) return;
    let v = this.#blocks.get(p.blockHash);
    if (!v) {
      // Bytes that are not the signed block say nothing about the block: never cache them as invalid.
      const mismatch = blockBytesMismatch(chain, blockBytes, p.blockHash);
      if (mismatch !== null) {
        this.#log("debug", "proposal with foreign block bytes dropped", { height: p.height, why: mismatch });
        return;
      }
      const d = decodeProposedBlock(chain, blockBytes);
      v = await chain.validateBlock(blockBytes, {
        hash: p.blockHash,
        ...("block" in d ? { decoded: d.block } : {}),
      });
      if (!v.ok) {
        this.#log("warn", "invalid proposed block", { height: p.height, round: p.round, reason: v.reason });
      }
      this.#blocks.set(p.blockHash, v);
    }
    // the signature covers the block hash, and the bytes are the block's (checked above or cached)
    const first = this.#walSeen.first(sp.signature);
    if (first && !this.#replaying && this.#o.validatorKey?.address !== p.proposer) {
      await this.#wal.proposal(encodeSignedProposal(sp), blockBytes, false);
    }
    // Timeliness is local and gates only the prevote for a fresh value (never cached as invalidity).
    const late = v.ok && p.polRound < 0
      ? blockTimeProblem(v.value.block.header.time, this.#clock.now())
      : null;
    if (late) {
      this.#log("warn", "untimely proposed block", { height: p.height, round: p.round, reason: late });
    }
    await this.#feed({ type: "proposal", proposal: p, valid: v.ok, timely: late === null });
  }

  async #onVoteMessage(data: Uint8Array): Promise<void> {
    for (const signed of decodeVoteMessage(data, VOTES_PER_MESSAGE_MAX)?.votes ?? []) {
      const h = signed.vote.height;
      if (h === this.#height + 1 || (h === this.#height && !this.#cs)) {
        this.#buffer("vote", encode([[encodeSignedVote(signed)], 0]));
        continue;
      }
      if (h !== this.#height || !this.#cs) continue;
      const first = this.#walSeen.first(signed.signature);
      if (first && !this.#replaying && signed.vote.validator !== this.#o.validatorKey?.address) {
        await this.#wal.vote(encodeSignedVote(signed), false);
      }
      await this.#feed({ type: "vote", signed });
    }
  }
}
