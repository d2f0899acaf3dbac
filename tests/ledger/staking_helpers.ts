/**
 * A staking test chain: the cirrus ledger (bank, market, audit, staking) on a genesis with two
 * validators and funded users, small staking params, blocks one second apart, signing info given per
 * block, and checks that supply is conserved after every block.
 * @module
 */
import * as assert from "uvu/assert";
import { sign, toHex } from "../../lib/crypto.ts";
import { voteSignBytes } from "../../consensus/codec.ts";
import type { SignedVote, Vote } from "../../consensus/types.ts";
import {
  type BlockExecution,
  type BlockSigningInfo,
  checkTx,
  cirrusLedger,
  defaultParams,
  type DuplicateVoteEvidence,
  executeBlock,
  FEE_COLLECTOR,
  type Genesis,
  LedgerState,
  type SignedTx,
  signTx,
  type StakingParams,
  totalSupply,
  type TxEvent,
} from "../../node/ledger/mod.ts";
import { type TestKey, testKey } from "../helpers/ledger.ts";

/** Users and validators of the test chain. */
export const val0 = testKey("sval0"), val1 = testKey("sval1");
export const users = [0, 1, 2, 3].map((i) => testKey(`suser${i}`));
/** Consensus keys for validators created by txs. */
export const consKeys = [0, 1, 2].map((i) => testKey(`scons${i}`));
/** Balance of every user at genesis. */
export const USER_BALANCE = 1_000_000_000n;
/** Block time of height h: T0 + h seconds. */
export const T0 = 1_700_000_000_000;

/** Small params for tests. */
export function testStakingParams(over: Partial<StakingParams> = {}): StakingParams {
  return {
    validatorsMax: 3,
    minSelfBond: "1000000",
    unbondingBlocks: 10,
    powerReduction: "1000000",
    inflationPerBlock: "0",
    slashFractionDoubleSign: "0.1",
    slashFractionDowntime: "0.01",
    signedBlocksWindow: 10,
    minSignedPerWindow: "0.5",
    downtimeJailMs: 5000,
    evidenceMaxAgeBlocks: 10,
    evidenceMaxAgeMs: 1_000_000,
    evidencePerBlockMax: 4,
    commissionChangeMax: "1",
    ...over,
  };
}

/** The genesis: val0 and val1 with power 10 (10 000 000 ucrs bonded each), users funded. */
export function stakingGenesis(over: Partial<StakingParams> = {}): Genesis {
  const params = defaultParams();
  params.staking = testStakingParams(over);
  return {
    chainId: "cirrus-stake",
    genesisTime: "2026-01-01T00:00:00Z",
    validators: [val0, val1].map((k, i) => ({
      name: `val${i}`,
      address: k.address,
      pubKey: toHex(k.pubKey),
      power: "10",
    })),
    accounts: [...users, val0, val1].map((k, i) => ({
      name: i < users.length ? `user${i}` : `val${i - users.length}`,
      address: k.address,
      balance: USER_BALANCE.toString(),
    })),
    params,
  };
}

/** Keys of a state except the accounts in `except`, with their values (hex). */
export function snapshot(s: LedgerState, except: readonly string[] = []): string {
  return JSON.stringify(s.entries().filter(([k]) => !except.includes(k)).map(([k, v]) => [k, toHex(v)]));
}

/** A chain of the cirrus ledger for staking tests. */
export class StakingChain {
  readonly state: LedgerState;
  readonly #nonces = new Map<string, bigint>();
  /** Signers of the next block's lastCommit (default: every member of the set of the last height). */
  signers: string[] | null = null;

  constructor(over: Partial<StakingParams> = {}) {
    this.state = LedgerState.fromGenesis(stakingGenesis(over), cirrusLedger());
  }

  get height(): number {
    return this.state.height;
  }

  /** Signs a tx with the next nonce of `from`. */
  async tx(from: TestKey, type: string, body: Record<string, unknown>, fee = 1n): Promise<SignedTx> {
    const nonce = this.#nonces.get(from.address) ?? this.state.account(from.address)?.nonce ?? 0n;
    this.#nonces.set(from.address, nonce + 1n);
    const r = this.state.ledger.decodeTx(
      await signTx({ chainId: this.state.chainId, type, from: from.address, nonce, fee, body }, from.seed),
    );
    if (!r.ok) throw new Error(r.reason);
    return r.stx;
  }

  /** The signing info of the next block: the given signers (or all of the last set) and evidence. */
  signingFor(evidence: DuplicateVoteEvidence[] = []): BlockSigningInfo {
    const h = this.state.height;
    const all = h === 0 ? [] : this.state.ledger.validatorsFor(this.state, h).map((v) => v.address);
    return { lastCommitSigners: h === 0 ? [] : (this.signers ?? all), evidence };
  }

  /** Executes the next block (not committed). */
  exec(txs: SignedTx[] = [], evidence: DuplicateVoteEvidence[] = []): BlockExecution {
    const h = this.state.height + 1;
    return executeBlock(this.state, {
      height: h,
      proposer: val0.address,
      time: T0 + h * 1000,
      txs,
      signing: this.signingFor(evidence),
    });
  }

  /** Executes and commits the next block; checks supply. */
  block(txs: SignedTx[] = [], evidence: DuplicateVoteEvidence[] = []): BlockExecution {
    const ex = this.exec(txs, evidence);
    this.state.apply(ex.writes, this.state.height + 1, ex.appHash);
    this.#nonces.clear();
    assert.is(totalSupply(this.state), this.state.supply, `supply conserved at height ${this.state.height}`);
    return ex;
  }

  /** Commits a block with one tx that must succeed. */
  async ok(from: TestKey, type: string, body: Record<string, unknown>, fee = 1n): Promise<BlockExecution> {
    const ex = this.block([await this.tx(from, type, body, fee)]);
    assert.ok(ex.results[0]!.ok, `${type} failed: ${ex.results[0]!.reason}`);
    return ex;
  }

  /** Commits empty blocks until the height is `h`. */
  advanceTo(h: number): BlockExecution[] {
    const out: BlockExecution[] = [];
    while (this.state.height < h) out.push(this.block());
    return out;
  }

  /**
   * Asserts a tx is refused by checkTx and executeBlock with `reason`, and that nothing but the
   * sender's fee and nonce (and where the fee goes) changes.
   */
  async rejects(from: TestKey, type: string, body: Record<string, unknown>, reason: string | RegExp) {
    const stx = await this.tx(from, type, body);
    this.#nonces.delete(from.address);
    const c = checkTx(this.state, stx, undefined, T0 + (this.state.height + 1) * 1000);
    assert.is(c.ok, false, `checkTx should refuse ${type}`);
    if (!c.ok) typeof reason === "string" ? assert.is(c.reason, reason) : assert.match(c.reason, reason);
    const withTx = this.exec([stx]);
    const r = withTx.results[0]!;
    assert.is(r.ok, false, `executeBlock should refuse ${type}`);
    typeof reason === "string" ? assert.is(r.reason, reason) : assert.match(r.reason!, reason);
    const without = this.exec([]);
    // The fee is charged and paid out as rewards; nothing else may differ from a block without the tx.
    const fee = [`acct/${from.address}`, `acct/${FEE_COLLECTOR}`, "stk/pool"];
    const rest = (e: BlockExecution) =>
      JSON.stringify(
        [...e.writes].filter(([k]) => !fee.includes(k) && !k.startsWith("stk/rw/")).map((
          [k, v],
        ) => [k, v && toHex(v)]),
      );
    assert.is(rest(withTx), rest(without), `the refused ${type} changes nothing but the fee and nonce`);
  }

  /** Runs a module query on committed state. */
  query<T>(name: string, ...args: string[]): T {
    const q = this.state.ledger.query(name);
    if (!q) throw new Error(`no query ${name}`);
    return q(this.state, { args, params: new URLSearchParams() }) as T;
  }

  /** The active set for consensus at `height`, as `address:power` strings. */
  setAt(height: number): string[] {
    return this.state.ledger.validatorsFor(this.state, height).map((v) => `${v.address}:${v.power}`);
  }
}

/** Events of a block execution (begin, txs, end), flattened. */
export function eventsOf(ex: BlockExecution): TxEvent[] {
  return [...ex.beginEvents, ...ex.results.flatMap((r) => r.events), ...ex.endEvents];
}

/** A signed vote by `key` (the validator's consensus key). */
export async function signedVote(key: TestKey, vote: Omit<Vote, "validator">): Promise<SignedVote> {
  const v: Vote = { ...vote, validator: key.address };
  return { vote: v, signature: await sign(key.seed, voteSignBytes(v)) };
}

/** Duplicate-vote evidence of `key` at `height` (canonical order: nil first, then by hash). */
export async function doubleSign(
  key: TestKey,
  height: number,
  chainId = "cirrus-stake",
  hashes: [string | null, string] = ["aa".repeat(32), "bb".repeat(32)],
): Promise<DuplicateVoteEvidence> {
  const base = { chainId, type: "precommit" as const, height, round: 0 };
  return {
    type: "duplicate_vote",
    voteA: await signedVote(key, { ...base, blockHash: hashes[0] }),
    voteB: await signedVote(key, { ...base, blockHash: hashes[1] }),
  };
}

/** Asserts `f` throws (or rejects) with a message matching `why`. */
export async function assertThrowsAsync(f: () => Promise<unknown>, why: RegExp): Promise<void> {
  try {
    await f();
  } catch (e) {
    assert.match((e as Error).message, why);
    return;
  }
  assert.unreachable(`expected an error matching ${why}`);
}
