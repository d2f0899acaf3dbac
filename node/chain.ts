/**
 * The chain as one node sees it: the committed store and state, the validator set, block validation
 * (decode, header checks, signatures, execution) and the atomic commit of a decided block.
 * @module
 */
import { fromHex, verify } from "../lib/crypto.ts";
import {
  type Block,
  blockHash,
  commitHash,
  decodeBlock,
  encodeCommit,
  type Evidence,
  evidenceHash,
  executeBlock,
  type Genesis,
  LedgerState,
  type SignedTx,
  Store,
} from "./ledger/mod.ts";
import { evidenceId, evidenceProblem } from "./ledger/evidence_check.ts";
import { txId, verifyTxSignature } from "./ledger/tx.ts";
import type { Ledger } from "./ledger/ledger.ts";
import type { Commit, Hex, Validator } from "../consensus/types.ts";
import { ValidatorSet, type ValidatorSetJson, voteSignBytes } from "../consensus/mod.ts";

/** What executing a block produced (not yet committed). */
export type Execution = ReturnType<typeof executeBlock>;

/** A block that passed validation, with its execution result. */
export interface ValidatedBlock {
  block: Block;
  bytes: Uint8Array;
  hash: Hex;
  stxs: SignedTx[];
  exec: Execution;
}

/** A committed block event. */
export interface CommittedBlock {
  height: number;
  hash: Hex;
  time: number;
  proposer: string;
  txs: {
    id: string;
    ok: boolean;
    reason?: string;
    from: string;
    type: string;
    events: { type: string; attrs: Record<string, string> }[];
  }[];
  appHash: Hex;
  /** Events of the block itself (not of a tx): orders closing, leases created at window end, escrow exhaustion. */
  events: { type: string; attrs: Record<string, string> }[];
}

/** Bounded set of tx ids whose signatures were already verified (gossip, RPC, earlier blocks). */
class VerifiedCache {
  #ids = new Set<string>();
  constructor(readonly max: number) {}
  has(id: string): boolean {
    return this.#ids.has(id);
  }
  add(id: string): void {
    if (this.#ids.size >= this.max) {
      const first = this.#ids.values().next();
      if (!first.done) this.#ids.delete(first.value);
    }
    this.#ids.add(id);
  }
}

/**
 * How far ahead of a validator's own clock a freshly proposed block's time may be (issue 8, finding 1).
 *
 * The chain's time is proposer-based and bounded by the honest clocks (as CometBFT's PBTS): a block
 * time must exceed the last one (a rule of validity, the same everywhere), and a validator prevotes a
 * fresh proposal (no proof of lock) only when its time is at most this far ahead of its own clock (a
 * rule of timeliness, local, never cached as invalidity). So no block is committed unless an honest
 * validator found its time plausible: the chain's time never runs ahead of honest wall clocks by more
 * than this, and wall-clock rules can rely on it. A proposer writing `Number.MAX_SAFE_INTEGER` gets
 * nil prevotes and the next round's proposer goes on. BFT time (the weighted median of precommit
 * times) was not chosen: it needs a time in every signed vote and a new commit format.
 */
export const BLOCK_TIME_AHEAD_MS_MAX = 10_000;

/**
 * Why a freshly proposed block's `time` is not timely at local time `nowMs`, or null when it is.
 * @param time the block header's time (Unix ms).
 * @param nowMs the validator's clock.
 * @param aheadMsMax tolerance (default {@link BLOCK_TIME_AHEAD_MS_MAX}).
 * @returns a reason, or null.
 * @example
 * ```ts
 * blockTimeProblem(Number.MAX_SAFE_INTEGER, Date.now()); // "block time ... ahead of the local clock ..."
 * ```
 */
export function blockTimeProblem(
  time: number,
  nowMs: number,
  aheadMsMax = BLOCK_TIME_AHEAD_MS_MAX,
): string | null {
  if (time - nowMs <= aheadMsMax) return null;
  return `block time ${time} is ${time - nowMs} ms ahead of the local clock (at most ${aheadMsMax})`;
}

/** Validators of a genesis as consensus validators. */
export function genesisValidators(genesis: Genesis): Validator[] {
  return genesis.validators.map((v) => ({
    address: v.address,
    pubKey: fromHex(v.pubKey),
    power: BigInt(v.power),
  }));
}

/** Validator sets of past heights kept in memory by {@link Chain.validatorsAt} (others read from the store). */
const PAST_SETS_CACHED_MAX = 64;

function encodeSet(set: ValidatorSet): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(set.toJSON()));
}

function decodeSet(bytes: Uint8Array): ValidatorSet {
  return ValidatorSet.fromJSON(JSON.parse(new TextDecoder().decode(bytes)) as ValidatorSetJson);
}

/**
 * The validator set of the height after `set`'s: the members and powers the ledger decided for
 * `height` (`Ledger.validatorsFor`: staking's, a change decided at the end of block H taking effect at
 * H+2; the genesis validators without staking), priorities carried over and advanced once (CometBFT's
 * `updateState`: NextValidators.UpdateWithChangeSet, then IncrementProposerPriority(1)). A ledger that
 * returns no valid set (empty, duplicates) keeps the members of `set`: the chain never halts on it.
 * @param set the validator set of height `height - 1` (null for height 1: a fresh set).
 * @param state the committed state at height `height - 1`.
 * @param height the height whose set is wanted.
 * @returns the set for `height`, with its proposer.
 */
export function nextValidatorSet(set: ValidatorSet | null, state: LedgerState, height: number): ValidatorSet {
  const list = state.ledger.validatorsFor(state, height);
  if (set === null) return new ValidatorSet(list);
  try {
    return set.withValidators(list).advance(1);
  } catch {
    return set.advance(1);
  }
}

/** Options of {@link Chain.open}. */
export interface ChainOptions {
  dir: string;
  genesis: Genesis;
  /** The ledger's modules (their rules run on the state, for every block). */
  ledger: Ledger;
  /** Opens the block store (default: LevelDB in `dir`; the simulator passes an in-memory one). */
  openStore?: (dir: string) => Promise<Store>;
}

/** One node's view of the committed chain. */
export class Chain {
  readonly genesis: Genesis;
  readonly store: Store;
  state: LedgerState;
  /** Last committed height (0 before the first block). */
  height: number;
  lastBlockHash: Hex;
  lastBlockTime: number;
  /**
   * The validator set (with proposer priorities) for height `height + 1`, derived after each commit
   * from the ledger ({@link nextValidatorSet}); persisted with each block (`m/validatorSet`).
   */
  validators: ValidatorSet;
  /** The set of height `height` (null before the first block, or from a store without sets). */
  #lastSet: ValidatorSet | null = null;
  /** The set of height `height + 2`, once asked for (cleared at each commit). */
  #afterNext: ValidatorSet | null = null;
  /** Sets of past heights read from the store (members and powers; bounded). */
  readonly #pastSets = new Map<number, ValidatorSet>();
  readonly #verified = new VerifiedCache(200_000);
  /** Decoded txs known by id (the mempool), so a block's txs are not decoded again. */
  txLookup: ((id: string) => SignedTx | undefined) | null = null;
  readonly #listeners: ((b: CommittedBlock) => void)[] = [];

  private constructor(
    genesis: Genesis,
    store: Store,
    state: LedgerState,
    height: number,
    validators: ValidatorSet,
  ) {
    this.genesis = genesis;
    this.store = store;
    this.state = state;
    this.height = height;
    this.lastBlockHash = "";
    this.lastBlockTime = Date.parse(genesis.genesisTime) || 0;
    this.validators = validators;
  }

  /** Open (or create) the store and load the committed state. */
  static async open(opts: ChainOptions): Promise<Chain> {
    const store = await (opts.openStore ?? Store.open)(opts.dir);
    let height = store.latestHeight();
    let state: LedgerState | null;
    if (height === null) {
      state = LedgerState.fromGenesis(opts.genesis, opts.ledger);
      await store.initGenesis(state);
      height = 0;
    } else {
      state = await store.loadState(opts.ledger);
      if (!state) {
        await store.close();
        throw new Error(`the store in ${opts.dir} has no state; remove it to start over`);
      }
    }
    // The set of the next height: from the stored set of the last height and the ledger's decision
    // (a store written before sets were stored: the genesis set, advanced once per height).
    let validators: ValidatorSet;
    const stored = height > 0 ? await store.latestValidatorSet() : undefined;
    if (height === 0) validators = nextValidatorSet(null, state, 1);
    else if (stored) validators = nextValidatorSet(decodeSet(stored), state, height + 1);
    else validators = new ValidatorSet(genesisValidators(opts.genesis)).advance(height);
    const chain = new Chain(opts.genesis, store, state, height, validators);
    if (stored) chain.#lastSet = decodeSet(stored);
    if (height > 0) {
      const bytes = await store.getBlock(height);
      if (bytes) {
        const block = decodeBlock(bytes);
        chain.lastBlockHash = blockHash(block);
        chain.lastBlockTime = block.header.time;
      }
    }
    return chain;
  }

  /** The chain id of the genesis this chain was opened with. */
  get chainId(): string {
    return this.genesis.chainId;
  }

  /** The ledger (modules) whose rules run on this chain's state. */
  get ledger(): Ledger {
    return this.state.ledger;
  }

  /**
   * The validator set of `height` when it is known without the store: the last committed height's
   * (the set that signed its commit), the next height's ({@link validators}) or the one after (decided
   * by the ledger at the end of the last block, so the votes of a node one height ahead can be
   * checked); null otherwise. Priorities are that height's for the first two.
   */
  validatorsFor(height: number): ValidatorSet | null {
    if (height === this.height + 1) return this.validators;
    if (height === this.height && this.#lastSet) return this.#lastSet;
    if (height !== this.height + 2) return null;
    this.#afterNext ??= nextValidatorSet(this.validators, this.state, height);
    return this.#afterNext;
  }

  /**
   * The members and powers of the validator set of any height from 1 to `height + 2` (past heights
   * from the store: `v/` entries kept where the set changed), or null for another height. Only
   * membership and power are meaningful for a past height (its priorities are not kept).
   */
  async validatorsAt(height: number): Promise<ValidatorSet | null> {
    if (!Number.isSafeInteger(height) || height < 1 || height > this.height + 2) return null;
    const near = this.validatorsFor(height);
    if (near) return near;
    const cached = this.#pastSets.get(height);
    if (cached) return cached;
    const bytes = await this.store.validatorSetAt(height);
    let set: ValidatorSet;
    try {
      set = bytes ? decodeSet(bytes) : new ValidatorSet(genesisValidators(this.genesis));
    } catch {
      return null;
    }
    if (this.#pastSets.size >= PAST_SETS_CACHED_MAX) {
      const first = this.#pastSets.keys().next();
      if (!first.done) this.#pastSets.delete(first.value);
    }
    this.#pastSets.set(height, set);
    return set;
  }

  /**
   * Why the evidence of a block of height `height` is not valid, or null: each piece is for a height
   * below `height`, appears once, and proves an equivocation of a validator of its height (shape,
   * membership, both signatures: `evidence_check.ts`). Whether it is too old or already punished is
   * the ledger's rule (the staking module).
   */
  async evidenceProblem(evidence: readonly Evidence[], height: number): Promise<string | null> {
    const ids = new Set<string>();
    for (const [i, ev] of evidence.entries()) {
      const h = ev.voteA.vote.height;
      if (h >= height) return `evidence ${i}: for height ${h}, not below the block's ${height}`;
      const id = evidenceId(ev);
      if (ids.has(id)) return `evidence ${i}: included twice`;
      ids.add(id);
      const set = await this.validatorsAt(h);
      if (!set) return `evidence ${i}: no validator set known for height ${h}`;
      const why = await evidenceProblem(ev, this.chainId, set);
      if (why) return `evidence ${i}: ${why}`;
    }
    return null;
  }

  /** Subscribe to committed blocks. */
  onCommit(fn: (b: CommittedBlock) => void): () => void {
    this.#listeners.push(fn);
    return () => {
      const i = this.#listeners.indexOf(fn);
      if (i >= 0) this.#listeners.splice(i, 1);
    };
  }

  /**
   * Check the signatures of decoded txs, skipping those already verified on this node (by the RPC, by
   * gossip, or in an earlier proposal); remembers the good ones. Returns the first bad tx, or null.
   */
  async verifySignatures(stxs: readonly SignedTx[]): Promise<SignedTx | null> {
    const pending = stxs.filter((s) => !this.#verified.has(s.id));
    const results = await Promise.all(pending.map((s) => verifyTxSignature(s)));
    const bad = results.indexOf(false);
    if (bad >= 0) return pending[bad]!;
    for (const s of pending) this.#verified.add(s.id);
    return null;
  }

  /**
   * Decode and signature-check signed txs (verified ones are skipped; all of them when
   * `signaturesCommitted`: txs of a block whose +2/3 commit the caller verified).
   */
  async verifyTxs(
    txs: Uint8Array[],
    signaturesCommitted = false,
  ): Promise<{ ok: true; stxs: SignedTx[] } | { ok: false; reason: string }> {
    const maxTxBytes = this.genesis.params.ledger.maxTxBytes;
    const stxs: SignedTx[] = [];
    for (let i = 0; i < txs.length; i++) {
      const known = this.txLookup?.(txId(txs[i]!));
      if (known) {
        stxs.push(known);
        continue;
      }
      const d = this.ledger.decodeTx(txs[i]!, { maxTxBytes });
      if (!d.ok) return { ok: false, reason: `tx ${i}: ${d.reason}` };
      stxs.push(d.stx);
    }
    if (signaturesCommitted) return { ok: true, stxs };
    const bad = await this.verifySignatures(stxs);
    if (bad) return { ok: false, reason: `tx ${bad.id}: bad signature` };
    return { ok: true, stxs };
  }

  /**
   * Check a commit certificate for block `hash` at `height`: signatures of validators of THAT height's
   * set over the precommit, carrying > 2/3 of its power.
   */
  async verifyCommit(commit: Commit, height: number, hash: Hex): Promise<string | null> {
    if (commit.height !== height) return `commit is for height ${commit.height}, expected ${height}`;
    if (commit.blockHash !== hash) return `commit is for block ${commit.blockHash}, expected ${hash}`;
    const set = this.validatorsFor(height) ?? await this.validatorsAt(height);
    if (!set) return `no validator set known for height ${height}`;
    const seen = new Set<string>();
    let power = 0n;
    const checks: Promise<boolean>[] = [];
    for (const s of commit.signatures) {
      if (seen.has(s.validator)) return `commit has two signatures of ${s.validator}`;
      seen.add(s.validator);
      const v = set.get(s.validator);
      if (!v) return `commit signed by ${s.validator}, not a validator`;
      power += v.power;
      const bytes = voteSignBytes({
        chainId: this.chainId,
        type: "precommit",
        height,
        round: commit.round,
        blockHash: hash,
        validator: s.validator,
      });
      checks.push(verify(v.pubKey, bytes, s.signature));
    }
    if (!set.hasTwoThirds(power)) {
      return `commit has ${power} of ${set.totalPower} power`;
    }
    const ok = await Promise.all(checks);
    const bad = ok.indexOf(false);
    if (bad >= 0) return `commit signature of ${commit.signatures[bad]!.validator} is invalid`;
    return null;
  }

  /**
   * Validate a block for height `height + 1`: header fields, last commit, size limits, tx signatures;
   * then execute it (pure) against the current state. The answer depends only on the bytes and the
   * committed chain, so it is the same at every correct node (issue 8, finding 3): the header's
   * proposer must be a validator of the height, not the proposer of the round it is (re-)proposed in.
   * `expect.committed` (block sync only, after the caller verified a +2/3 commit for `expect.hash`):
   * the tx signatures are not checked again (see `sync_verify.ts` for why that is safe).
   */
  async validateBlock(
    bytes: Uint8Array,
    expect: { hash?: Hex; decoded?: Block; committed?: boolean },
  ): Promise<{ ok: true; value: ValidatedBlock } | { ok: false; reason: string }> {
    const p = this.genesis.params.consensus;
    if (bytes.length > p.maxBlockBytes) {
      return { ok: false, reason: `block is ${bytes.length} bytes > maxBlockBytes ${p.maxBlockBytes}` };
    }
    let block: Block;
    try {
      // `decoded`: these bytes already decoded by `decodeBlock` under the same tx limits (gossip
      // validation did it; the byte limit is checked above)
      block = expect.decoded ?? decodeBlock(bytes, {
        maxBlockBytes: p.maxBlockBytes,
        maxBlockTxs: p.maxBlockTxs,
        maxTxBytes: this.genesis.params.ledger.maxTxBytes,
      });
    } catch (e) {
      return { ok: false, reason: `malformed block: ${(e as Error).message}` };
    }
    const h = block.header;
    const height = this.height + 1;
    const hash = blockHash(block);
    if (expect.hash !== undefined && hash !== expect.hash) {
      return { ok: false, reason: "block hash mismatch" };
    }
    if (h.chainId !== this.chainId) return { ok: false, reason: `chain id ${h.chainId}` };
    if (h.height !== height) return { ok: false, reason: `height ${h.height}, expected ${height}` };
    if (!this.validators.has(h.proposer)) {
      return { ok: false, reason: `proposer ${h.proposer} is not a validator of height ${height}` };
    }
    if (h.prevHash !== this.lastBlockHash) {
      return { ok: false, reason: "prevHash does not match the last block" };
    }
    if (h.appHash !== this.state.appHash) return { ok: false, reason: "appHash does not match the state" };
    if (h.time <= this.lastBlockTime && this.height > 0) {
      return { ok: false, reason: "time not after last block" };
    }
    if (block.txs.length > p.maxBlockTxs) {
      return { ok: false, reason: `${block.txs.length} txs > maxBlockTxs` };
    }
    // txsHash: checked by decodeBlock (hashing 2,000 txs again cost as much as the decode)
    if (evidenceHash(block.evidence) !== h.evidenceHash) {
      return { ok: false, reason: "evidenceHash does not match the evidence" };
    }
    if (this.height === 0) {
      if (block.lastCommit !== null) return { ok: false, reason: "first block carries a last commit" };
    } else {
      if (block.lastCommit === null) return { ok: false, reason: "missing last commit" };
      if (commitHash(block.lastCommit) !== h.lastCommitHash) {
        return { ok: false, reason: "lastCommitHash mismatch" };
      }
      const why = await this.verifyCommit(block.lastCommit, this.height, this.lastBlockHash);
      if (why) return { ok: false, reason: `last commit: ${why}` };
    }
    const evidenceWhy = await this.evidenceProblem(block.evidence, height);
    if (evidenceWhy) return { ok: false, reason: evidenceWhy };
    const v = await this.verifyTxs(block.txs, expect.committed === true && expect.hash !== undefined);
    if (!v.ok) return { ok: false, reason: v.reason };
    const signing = {
      lastCommitSigners: (block.lastCommit?.signatures.map((s) => s.validator) ?? []).sort(),
      evidence: block.evidence,
    };
    const exec = executeBlock(this.state, {
      height,
      proposer: h.proposer,
      time: h.time,
      txs: v.stxs,
      signing,
    });
    return { ok: true, value: { block, bytes, hash, stxs: v.stxs, exec } };
  }

  /**
   * Commit a validated block with its commit certificate: one atomic store batch, then the state.
   * `durable: false` skips the fsync of the batch (see `Store.commitBlock`).
   */
  async commit(
    vb: ValidatedBlock,
    commit: Commit,
    opts: { durable?: boolean } = {},
  ): Promise<CommittedBlock> {
    const height = vb.block.header.height;
    if (height !== this.height + 1) throw new Error(`commit of height ${height} at height ${this.height}`);
    const set = this.validators;
    const changed = this.#lastSet === null || !this.#lastSet.sameMembers(set);
    const txIndex = vb.stxs.map((s, index) => ({
      id: s.id,
      height,
      index,
      addresses: this.ledger.txAddresses(s),
    }));
    await this.store.commitBlock({
      block: vb.bytes,
      blockHash: vb.hash,
      commit: encodeCommit(commit),
      height,
      writes: vb.exec.writes,
      appHash: vb.exec.appHash,
      txIndex,
      results: vb.exec.results,
      validatorSet: { bytes: encodeSet(set), changed },
    }, { sync: opts.durable ?? true });
    this.state.apply(vb.exec.writes, height, vb.exec.appHash);
    this.height = height;
    this.lastBlockHash = vb.hash;
    this.lastBlockTime = vb.block.header.time;
    this.#afterNext = null;
    this.#lastSet = set;
    this.validators = nextValidatorSet(set, this.state, height + 1);
    const event: CommittedBlock = {
      height,
      hash: vb.hash,
      time: vb.block.header.time,
      proposer: vb.block.header.proposer,
      appHash: vb.exec.appHash,
      txs: vb.exec.results.map((r, i) => ({
        id: r.id,
        ok: r.ok,
        ...(r.reason !== undefined ? { reason: r.reason } : {}),
        from: vb.stxs[i]!.tx.from,
        type: vb.stxs[i]!.tx.type,
        events: r.events,
      })),
      events: [...vb.exec.beginEvents, ...vb.exec.endEvents],
    };
    for (const fn of [...this.#listeners]) {
      try {
        fn(event);
      } catch { /* a listener's bug must not stop the chain */ }
    }
    return event;
  }

  /** Close the store. */
  async close(): Promise<void> {
    await this.store.close();
  }
}
