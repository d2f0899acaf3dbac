/**
 * The staking module's state: every key it owns, its records and their (canonical CBOR) codecs, and
 * small helpers shared by its txs, block steps and queries. Block steps only see `get`/`set`/`delete`
 * (no key iteration), so every list a block needs is an explicit record, bucketed by height.
 *
 * Keys (heights are zero-padded to 12 digits so key order is height order):
 * - `stk/v/<operator>`            validator {consPubKey, cons, moniker, commission, tokens, shares, ...}
 * - `stk/vals`                    every validator's operator address, sorted (bounded: VALIDATORS_TOTAL_MAX)
 * - `stk/cons/<consAddress>`      operator of a consensus key (kept forever: a key is never reused)
 * - `stk/d/<delegator>/<operator>` delegation {shares, acc}
 * - `stk/rw/<operator>`           rewards {acc (per share, scaled by REWARD_SCALE), commission}
 * - `stk/pool`                    reward funds held {held, carry}
 * - `stk/u/<id>`                  unbonding entry {delegator, validator, creationHeight, completionHeight, initial, balance}
 * - `stk/r/<id>`                  redelegation entry {delegator, src, dst, creationHeight, completionHeight, initial, shares}
 * - `stk/uq/<height>`, `stk/rq/<height>`  ids of entries maturing at that height (the payout queue)
 * - `stk/uv/<operator>`, `stk/rv/<operator>`  ids of the pending entries from that validator (for slashing)
 * - `stk/rin/<delegator>/<dst>`   pending redelegations into dst (no transitive redelegation)
 * - `stk/seq`                     last entry id
 * - `stk/set/<height>`            active set effective from that height; `stk/sets` their heights
 * - `stk/dirty`                   present when powers or jails changed in this block
 * - `stk/si/<cons>`, `stk/mb/<cons>/<chunk>`  downtime: missed count and the window bitmap
 * - `stk/ev/<cons>/<height>`      punished evidence; `stk/time/<height>` block-time checkpoints
 * @module
 */
import { decode } from "cborg";
import { canonicalEncode } from "../../lib/cbor.ts";
import { PARAMS_KEY, SUPPLY_KEY } from "./state.ts";
import { defaultStakingParams, PPM, type StakingParams } from "./staking_params.ts";
import { TxError } from "./tx.ts";

/** What staking code reads and writes: a tx or block context, or (read-only) a committed state. */
export interface StakingStore {
  get(key: string): Uint8Array | undefined;
  set(key: string, value: Uint8Array): void;
  delete(key: string): void;
}

/** A read-only view. */
export interface StakingReader {
  get(key: string): Uint8Array | undefined;
}

/** Most validators ever created (the recomputation of the active set reads them all). */
export const VALIDATORS_TOTAL_MAX = 2000;
/** Rewards per share are kept scaled by this (exact integer arithmetic, floors documented in README). */
export const REWARD_SCALE = 10n ** 27n;
/** Block-time checkpoints (for the evidence age in time) are written every this many heights. */
export const TIME_CHECKPOINT_BLOCKS = 100;

/** A zero-padded height for keys. */
export const padHeight = (h: number): string => String(h).padStart(12, "0");

/** State keys of the staking module. */
export const SK = {
  validator: (op: string) => `stk/v/${op}`,
  validators: "stk/vals",
  cons: (cons: string) => `stk/cons/${cons}`,
  delegation: (del: string, op: string) => `stk/d/${del}/${op}`,
  delegationsOf: (del: string) => `stk/d/${del}/`,
  rewards: (op: string) => `stk/rw/${op}`,
  pool: "stk/pool",
  unbonding: (id: number) => `stk/u/${padHeight(id)}`,
  redelegation: (id: number) => `stk/r/${padHeight(id)}`,
  unbondingQueue: (h: number) => `stk/uq/${padHeight(h)}`,
  redelegationQueue: (h: number) => `stk/rq/${padHeight(h)}`,
  unbondingsOf: (op: string) => `stk/uv/${op}`,
  redelegationsOf: (op: string) => `stk/rv/${op}`,
  incoming: (del: string, dst: string) => `stk/rin/${del}/${dst}`,
  seq: "stk/seq",
  set: (h: number) => `stk/set/${padHeight(h)}`,
  sets: "stk/sets",
  dirty: "stk/dirty",
  signingInfo: (cons: string) => `stk/si/${cons}`,
  missedChunk: (cons: string, chunk: number) => `stk/mb/${cons}/${chunk}`,
  evidence: (cons: string, h: number) => `stk/ev/${cons}/${padHeight(h)}`,
  time: (h: number) => `stk/time/${padHeight(h)}`,
} as const;

/** A validator record. */
export interface ValidatorRecord {
  operator: string;
  consPubKey: Uint8Array;
  /** addressOf(consPubKey): the address its votes are signed under. */
  cons: string;
  moniker: string;
  /** Commission rate, parts per million. */
  commissionPpm: number;
  /** Bonded ucrs (self-bond and delegations, net of slashes). */
  tokens: bigint;
  /** Delegation shares issued (a delegation's tokens = shares x tokens / totalShares). */
  shares: bigint;
  jailed: boolean;
  /** Block time (ms) before which `unjail` is refused. */
  jailedUntilMs: number;
  /** Double-signed: jailed forever. */
  tombstoned: boolean;
  createdHeight: number;
}

/** A delegation: shares of a validator and the reward accumulator at its last settlement. */
export interface DelegationRecord {
  shares: bigint;
  acc: bigint;
}

/** A validator's reward accounts. */
export interface RewardsRecord {
  /** Cumulative delegator reward per share, x REWARD_SCALE. */
  acc: bigint;
  /** Commission earned, not yet withdrawn. */
  commission: bigint;
}

/** Reward funds held by the module: `held` (all of it, counted in the supply), `carry` (not yet allotted). */
export interface PoolRecord {
  held: bigint;
  carry: bigint;
}

/** An unbonding entry: ucrs leaving a validator, slashable until `completionHeight`. */
export interface UnbondingEntry {
  id: number;
  delegator: string;
  validator: string;
  creationHeight: number;
  completionHeight: number;
  initial: bigint;
  balance: bigint;
}

/** A redelegation entry: stake moved from `src` to `dst`, slashable for `src`'s faults until maturity. */
export interface RedelegationEntry {
  id: number;
  delegator: string;
  src: string;
  dst: string;
  creationHeight: number;
  completionHeight: number;
  initial: bigint;
  /** Shares of `dst` the move created (what a slash of `src` may take back). */
  shares: bigint;
}

/** A member of a stored active set. */
export interface SetMember {
  cons: string;
  operator: string;
  pubKey: Uint8Array;
  power: bigint;
}

const BIG_FIELDS = new Set([
  "tokens",
  "shares",
  "acc",
  "commission",
  "held",
  "carry",
  "initial",
  "balance",
  "power",
]);

/** Canonical bytes of a record: bigint fields as decimal strings. */
export function encodeRecord(r: object): Uint8Array {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r)) out[k] = typeof v === "bigint" ? v.toString() : v;
  return canonicalEncode(out);
}

/** Decodes a record written by {@link encodeRecord} (bigint fields restored). */
export function decodeRecord<T>(bytes: Uint8Array): T {
  const v = decode(bytes) as Record<string, unknown>;
  for (const k of Object.keys(v)) if (BIG_FIELDS.has(k)) v[k] = BigInt(v[k] as string);
  return v as T;
}

/** Reads and decodes a record, or null. */
export function getRecord<T>(s: StakingReader, key: string): T | null {
  const b = s.get(key);
  return b === undefined ? null : decodeRecord<T>(b);
}

/** Encodes and writes a record. */
export function putRecord(s: StakingStore, key: string, r: object): void {
  s.set(key, encodeRecord(r));
}

/** A list of strings or numbers stored under `key` ([] when absent). */
export function getList<T extends string | number>(s: StakingReader, key: string): T[] {
  const b = s.get(key);
  return b === undefined ? [] : (decode(b) as T[]);
}

/** Writes a list (deletes the key when empty, so empty queues leave nothing behind). */
export function putList<T extends string | number>(s: StakingStore, key: string, list: readonly T[]): void {
  if (list.length === 0) s.delete(key);
  else s.set(key, canonicalEncode(list));
}

/** The staking params of the state `s` runs on (defaults when the stored params predate them). */
export function stakingParamsOf(s: StakingReader): StakingParams {
  const raw = s.get(PARAMS_KEY);
  if (!raw) return defaultStakingParams();
  let p = paramsCache.get(raw);
  if (!p) {
    p = Object.freeze((decode(raw) as { staking?: StakingParams }).staking ?? defaultStakingParams());
    paramsCache.set(raw, p);
  }
  return p;
}

/** Decoded params by their (immutable) stored bytes: a block step does not decode them again. */
const paramsCache = new WeakMap<Uint8Array, StakingParams>();

/** The validator operated by `op`, or null. */
export function getValidator(s: StakingReader, op: string): ValidatorRecord | null {
  return getRecord<ValidatorRecord>(s, SK.validator(op));
}

/** The validator operated by `op`; throws a TxError naming it when there is none. */
export function mustValidator(s: StakingReader, op: string): ValidatorRecord {
  const v = getValidator(s, op);
  if (!v) throw new TxError(`${op} is not a validator`);
  return v;
}

/** Writes a validator record and marks the active set for recomputation at the end of the block. */
export function putValidator(s: StakingStore, v: ValidatorRecord): void {
  putRecord(s, SK.validator(v.operator), v);
  s.set(SK.dirty, canonicalEncode(1));
}

/** A delegation, or null. */
export function getDelegation(s: StakingReader, del: string, op: string): DelegationRecord | null {
  return getRecord<DelegationRecord>(s, SK.delegation(del, op));
}

/** A validator's reward accounts (zero when absent). */
export function getRewards(s: StakingReader, op: string): RewardsRecord {
  return getRecord<RewardsRecord>(s, SK.rewards(op)) ?? { acc: 0n, commission: 0n };
}

/** The reward pool (zero when absent). */
export function getPool(s: StakingReader): PoolRecord {
  return getRecord<PoolRecord>(s, SK.pool) ?? { held: 0n, carry: 0n };
}

/** Tokens of `shares` of validator `v` (floor). */
export function tokensOf(v: ValidatorRecord, shares: bigint): bigint {
  return v.shares === 0n ? 0n : (shares * v.tokens) / v.shares;
}

/** Consensus voting power of `v`'s tokens: floor(tokens / powerReduction). */
export function powerOf(v: ValidatorRecord, p: StakingParams): bigint {
  return v.tokens / BigInt(p.powerReduction);
}

/** `amount` x `ppm` / 1e6, floor. */
export function mulPpm(amount: bigint, ppm: bigint): bigint {
  return (amount * ppm) / PPM;
}

/** The next entry id (a counter in state). */
export function nextId(s: StakingStore): number {
  const b = s.get(SK.seq);
  const id = (b === undefined ? 0 : (decode(b) as number)) + 1;
  s.set(SK.seq, canonicalEncode(id));
  return id;
}

/** Adds `delta` (may be negative) to the recorded total supply (`bank/supply`): minting and burning. */
export function adjustSupply(s: StakingStore, delta: bigint): void {
  const b = s.get(SUPPLY_KEY);
  const now = b === undefined ? 0n : BigInt(decode(b) as string);
  if (now + delta < 0n) throw new Error("supply would go negative");
  s.set(SUPPLY_KEY, canonicalEncode((now + delta).toString()));
}

/** The id of an element of a per-validator entry list (`<padded id>|<delegator>`). */
export function entryId(e: string): number {
  return Number(e.slice(0, e.indexOf("|")));
}
