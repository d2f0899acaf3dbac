/**
 * The ledger state machine: PURE and synchronous (no I/O, no clock, no randomness).
 *
 * State is a map of printable-ASCII string keys to bytes (canonical CBOR values):
 * - `acct/<address>`     -> cbor({balance: "dec", nonce: "dec"})
 * - `val/<address>`      -> cbor({pubKey: bytes32, power: "dec", name?: string})
 * - `bank/supply`        -> cbor("dec")            total ucrs in existence
 * - `chain/id`           -> cbor(chainId)
 * - `chain/genesisTime`  -> cbor(iso string)
 * - `chain/params`       -> cbor(Params)
 *
 * App hash (a chained hash of write sets, so a block costs O(its writes), not O(state)):
 * - appHash_0 = sha256(cbor(["cirrus/genesis/1", [[key, value], ...sorted by key]]))
 * - appHash_h = sha256(appHash_{h-1} (32 raw bytes) ‖ cbor(["cirrus/writes/1", h, [[key, value|null], ...sorted]]))
 * Two nodes agree on appHash_h iff they agree on genesis and on every block's write set. Unlike a
 * Merkle root it cannot prove a single key's value to a light client (known gap).
 * @module
 */
import type { Hex } from "../../consensus/types.ts";
import { type BlockSigningInfo, NO_SIGNING_INFO } from "./evidence.ts";
import { concatBytes, fromHex, sha256, toHex } from "../../lib/crypto.ts";
import { canonicalEncode, isPlainObject } from "../../lib/cbor.ts";
import { AMOUNT_MAX, parseUint } from "../../lib/units.ts";
import type { Genesis, Params } from "./genesis.ts";
import { decode } from "cborg";
import { type Account, type ApplyContext, type SignedTx, TxError, type TxEvent } from "./tx.ts";
import type { Ledger } from "./ledger.ts";

/** State key of an account. */
export const accountKey = (address: string): string => `acct/${address}`;
/** State key of a validator. */
export const validatorKey = (address: string): string => `val/${address}`;
/** State key of the total supply. */
export const SUPPLY_KEY = "bank/supply";
/** State key of the chain id. */
export const CHAIN_ID_KEY = "chain/id";
/** State key of the params. */
export const PARAMS_KEY = "chain/params";
/** State key of the genesis time. */
export const GENESIS_TIME_KEY = "chain/genesisTime";

const KEY_RE = /^[\x21-\x7e]{1,512}$/;

/** Throws unless `key` is 1-512 printable ASCII characters (so string order == byte order). */
export function assertStateKey(key: string): void {
  if (typeof key !== "string" || !KEY_RE.test(key)) {
    throw new Error(`invalid state key ${JSON.stringify(key)}`);
  }
}

/** Canonical bytes of an account value. */
export function encodeAccount(a: Account): Uint8Array {
  return canonicalEncode({ balance: a.balance.toString(), nonce: a.nonce.toString() });
}

/** Decodes an account value stored under `acct/<address>`. Throws on corrupt state. */
export function decodeAccount(address: string, bytes: Uint8Array): Account {
  const v = decode(bytes);
  const balance = isPlainObject(v) ? parseUint(v.balance) : null;
  const nonce = isPlainObject(v) ? parseUint(v.nonce) : null;
  if (balance === null || nonce === null) throw new Error(`corrupt account ${address}`);
  return { address, balance, nonce };
}

/** A key-value reader. */
export interface StateReader {
  get(key: string): Uint8Array | undefined;
}

/** A validator as stored in state. */
export interface StateValidator {
  address: string;
  pubKey: Uint8Array;
  power: bigint;
  name?: string;
}

/**
 * The committed state at some height, with the {@link Ledger} (the modules) whose rules run on it.
 * Mutated only by {@link LedgerState.apply}.
 */
export class LedgerState implements StateReader {
  /** The rules of this state: its modules' tx types, block steps, supply counters and queries. */
  readonly ledger: Ledger;
  #map: Map<string, Uint8Array>;
  #sorted: string[] | null = null;
  #height: number;
  #appHash: Hex;
  #chainId: string;
  #params: Params;

  private constructor(map: Map<string, Uint8Array>, height: number, appHash: Hex, ledger: Ledger) {
    this.ledger = ledger;
    this.#map = map;
    this.#height = height;
    this.#appHash = appHash;
    const id = map.get(CHAIN_ID_KEY);
    const params = map.get(PARAMS_KEY);
    if (!id || !params) throw new Error("state lacks chain/id or chain/params");
    this.#chainId = decode(id) as string;
    this.#params = decode(params) as Params;
  }

  /** The state at height 0 for a (validated) genesis, run by `ledger`'s modules. */
  static fromGenesis(g: Genesis, ledger: Ledger): LedgerState {
    const map = new Map<string, Uint8Array>();
    let supply = 0n;
    for (const a of g.accounts) {
      const balance = BigInt(a.balance);
      supply += balance;
      map.set(accountKey(a.address), encodeAccount({ address: a.address, balance, nonce: 0n }));
    }
    for (const v of g.validators) {
      const val: Record<string, unknown> = { pubKey: fromHex(v.pubKey), power: v.power };
      if (v.name !== undefined) val.name = v.name;
      map.set(validatorKey(v.address), canonicalEncode(val));
    }
    map.set(SUPPLY_KEY, canonicalEncode(supply.toString()));
    map.set(CHAIN_ID_KEY, canonicalEncode(g.chainId));
    map.set(GENESIS_TIME_KEY, canonicalEncode(g.genesisTime));
    map.set(PARAMS_KEY, canonicalEncode(g.params));
    ledger.initGenesis(g, { get: (k) => map.get(k), set: (k, v) => map.set(k, v) });
    return LedgerState.fromEntries(map, { ledger });
  }

  /**
   * A state from raw entries (e.g. loaded from the store), run by `opts.ledger`'s modules. At height 0
   * the app hash is computed; at any other height it must be given.
   */
  static fromEntries(
    entries: Iterable<readonly [string, Uint8Array]>,
    opts: { ledger: Ledger; height?: number; appHash?: Hex },
  ): LedgerState {
    const map = new Map<string, Uint8Array>();
    for (const [k, v] of entries) {
      assertStateKey(k);
      map.set(k, v);
    }
    const height = opts.height ?? 0;
    let appHash = opts.appHash;
    if (appHash === undefined) {
      if (height !== 0) throw new Error("fromEntries: appHash required above height 0");
      appHash = genesisAppHash(map);
    }
    return new LedgerState(map, height, appHash, opts.ledger);
  }

  /** Height of the last applied block (0 = genesis). */
  get height(): number {
    return this.#height;
  }
  /** App hash after the last applied block. */
  get appHash(): Hex {
    return this.#appHash;
  }
  /** Chain id. */
  get chainId(): string {
    return this.#chainId;
  }
  /** Chain params. */
  get params(): Params {
    return this.#params;
  }
  /** Number of keys. */
  get size(): number {
    return this.#map.size;
  }
  /** Total supply as recorded in `bank/supply`. */
  get supply(): bigint {
    const v = this.#map.get(SUPPLY_KEY);
    return v ? BigInt(decode(v) as string) : 0n;
  }
  /** Minimum fee (params.ledger.minFee). */
  get minFee(): bigint {
    return BigInt(this.#params.ledger.minFee);
  }

  /** The value of `key`. */
  get(key: string): Uint8Array | undefined {
    return this.#map.get(key);
  }

  /** The account at `address`, or null. */
  account(address: string): Account | null {
    const v = this.#map.get(accountKey(address));
    return v ? decodeAccount(address, v) : null;
  }

  /** The validators recorded in state, sorted by address. */
  validators(): StateValidator[] {
    return this.entries("val/").map(([k, v]) => {
      const d = decode(v) as { pubKey: Uint8Array; power: string; name?: string };
      const out: StateValidator = { address: k.slice(4), pubKey: d.pubKey, power: BigInt(d.power) };
      if (d.name !== undefined) out.name = d.name;
      return out;
    });
  }

  /** Keys (optionally only those starting with `prefix`), sorted. The sort is cached until the next apply. */
  keys(prefix = ""): string[] {
    const s = this.#sortedKeys();
    const out: string[] = [];
    for (let i = lowerBound(s, prefix); i < s.length && s[i]!.startsWith(prefix); i++) out.push(s[i]!);
    return out;
  }

  /** True when some key starts with `prefix` (one binary search over the cached sort). */
  hasKeyWithPrefix(prefix: string): boolean {
    const s = this.#sortedKeys();
    return s[lowerBound(s, prefix)]?.startsWith(prefix) ?? false;
  }

  #sortedKeys(): string[] {
    if (!this.#sorted) this.#sorted = [...this.#map.keys()].sort();
    return this.#sorted;
  }

  /** Entries (optionally under `prefix`), sorted by key. */
  entries(prefix = ""): [string, Uint8Array][] {
    return this.keys(prefix).map((k) => [k, this.#map.get(k)!]);
  }

  /** Applies a block's write set (from {@link executeBlock}) and moves to `height` / `appHash`. */
  apply(writes: ReadonlyMap<string, Uint8Array | null>, height: number, appHash: Hex): void {
    if (height !== this.#height + 1) throw new Error(`apply: height ${height} after ${this.#height}`);
    let structural = false;
    for (const [k, v] of writes) {
      if (v === null) {
        if (this.#map.delete(k)) structural = true;
      } else {
        if (!this.#map.has(k)) structural = true;
        this.#map.set(k, v);
      }
    }
    if (structural) this.#sorted = null;
    if (writes.has(PARAMS_KEY)) this.#params = decode(this.#map.get(PARAMS_KEY)!) as Params;
    this.#height = height;
    this.#appHash = appHash;
  }

  /** An independent copy. */
  clone(): LedgerState {
    return new LedgerState(new Map(this.#map), this.#height, this.#appHash, this.ledger);
  }
}

/** Index of the first element of sorted `s` that is not below `key`. */
function lowerBound(s: readonly string[], key: string): number {
  let lo = 0, hi = s.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (s[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function genesisAppHash(map: ReadonlyMap<string, Uint8Array>): Hex {
  const sorted = [...map.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return toHex(sha256(canonicalEncode(["cirrus/genesis/1", sorted])));
}

/** appHash_h from appHash_{h-1} and block h's write set (see module doc). Cost: O(writes log writes). */
export function chainAppHash(prev: Hex, height: number, writes: ReadonlyMap<string, Uint8Array | null>): Hex {
  const sorted = [...writes.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return toHex(sha256(concatBytes(fromHex(prev), canonicalEncode(["cirrus/writes/1", height, sorted]))));
}

/** A write-buffering view over a reader. Writes are kept in `writes` (null = deleted). */
export class Overlay implements StateReader {
  /** Buffered writes. */
  readonly writes = new Map<string, Uint8Array | null>();
  constructor(readonly base: StateReader) {}
  /** Value, looking through to the base. */
  get(key: string): Uint8Array | undefined {
    const w = this.writes.get(key);
    if (w !== undefined) return w ?? undefined;
    return this.base.get(key);
  }
  /** Buffers a write. */
  set(key: string, value: Uint8Array): void {
    assertStateKey(key);
    this.writes.set(key, value);
  }
  /** Buffers a delete. */
  delete(key: string): void {
    assertStateKey(key);
    this.writes.set(key, null);
  }
  /** Copies this overlay's writes into `into`. */
  mergeInto(into: Overlay): void {
    for (const [k, v] of this.writes) into.writes.set(k, v);
  }
}

/** Block context for execution. */
export interface BlockContext {
  height: number;
  /** Proposer address: receives the fees. */
  proposer: string;
  /** Block time, unix ms. */
  time: number;
  txs: readonly SignedTx[];
  /** Signers of the previous block's commit and the block's evidence (default: none). */
  signing?: BlockSigningInfo;
}

/** Outcome of one tx in a block. */
export interface TxResult {
  id: Hex;
  ok: boolean;
  reason?: string;
  events: TxEvent[];
}

/** Outcome of a block. */
export interface BlockExecution {
  writes: Map<string, Uint8Array | null>;
  results: TxResult[];
  appHash: Hex;
  /** Events of the modules' beginBlock steps (before the txs), in module order. */
  beginEvents: TxEvent[];
  /** Events of the modules' endBlock steps (after the txs). */
  endEvents: TxEvent[];
}

/** Result of {@link checkTx}. */
export type CheckResult = { ok: true } | { ok: false; reason: string };

function makeContext(
  view: Overlay,
  info: { chainId: string; height: number; time: number; proposer: string; signing?: BlockSigningInfo },
  events: TxEvent[],
): ApplyContext {
  const account = (address: string): Account | null => {
    const v = view.get(accountKey(address));
    return v ? decodeAccount(address, v) : null;
  };
  const setAccount = (a: Account): void => {
    if (a.balance < 0n || a.nonce < 0n) throw new Error(`negative account ${a.address}`);
    if (a.balance > AMOUNT_MAX) throw new Error(`account ${a.address} above the largest amount`);
    view.set(accountKey(a.address), encodeAccount(a));
  };
  return {
    ...info,
    signing: info.signing ?? NO_SIGNING_INFO,
    get: (k) => view.get(k),
    set: (k, v) => view.set(k, v),
    delete: (k) => view.delete(k),
    account,
    setAccount,
    transfer(from, to, amount) {
      if (amount < 0n) throw new TxError("negative transfer");
      const src = account(from);
      if (!src) throw new TxError(`unknown account ${from}`);
      if (src.balance < amount) throw new TxError(`insufficient funds: balance ${src.balance} < ${amount}`);
      setAccount({ ...src, balance: src.balance - amount });
      const dst = account(to) ?? { address: to, balance: 0n, nonce: 0n };
      setAccount({ ...dst, balance: dst.balance + amount });
    },
    emit(type, attrs) {
      events.push({ type, attrs: { ...attrs } });
    },
  };
}

/**
 * The ante step of one tx (as Cosmos's AnteHandler): chain id, type, body shape, nonce and fee; when
 * they pass, charges the fee (credited to the proposer) and advances the nonce on `view`, whatever the
 * body will do (issue 8, finding 5: a failed tx is neither free nor replayable). Returns null when
 * charged, else the reason (nothing written). `proposer` null = a dry run for the mempool.
 */
function chargeTx(
  state: LedgerState,
  view: Overlay,
  stx: SignedTx,
  block: { height: number; time: number; proposer: string | null },
  events: TxEvent[],
  pendingNonce?: bigint,
): string | null {
  const { tx } = stx;
  if (tx.chainId !== state.chainId) return `wrong chain id ${tx.chainId} (expected ${state.chainId})`;
  const handler = state.ledger.handler(tx.type);
  if (!handler) return `unknown tx type ${tx.type}`;
  const bodyProblem = handler.validateBody(tx.body);
  if (bodyProblem) return bodyProblem;
  const ctx = txContext(state, view, block, events);
  const acct = ctx.account(tx.from);
  if (!acct) return `unknown account ${tx.from}`;
  const expected = pendingNonce ?? acct.nonce;
  if (tx.nonce !== expected) return `nonce ${tx.nonce} expected ${expected}`;
  if (tx.fee < state.minFee) return `fee ${tx.fee} below minimum ${state.minFee}`;
  if (acct.balance < tx.fee) return `insufficient funds for fee: balance ${acct.balance} < fee ${tx.fee}`;
  ctx.setAccount({ ...acct, balance: acct.balance - tx.fee, nonce: acct.nonce + 1n });
  if (block.proposer !== null && tx.fee > 0n) {
    const to = state.ledger.feeCollector ?? block.proposer; // staking pays fees to the set by power
    const p = ctx.account(to) ?? { address: to, balance: 0n, nonce: 0n };
    ctx.setAccount({ ...p, balance: p.balance + tx.fee });
    ctx.emit("fee", { from: tx.from, to, amount: tx.fee.toString() });
  }
  return null;
}

/** Runs a charged tx's body on `view`. Returns null on success, else the reason (discard `view`). */
function runTxBody(
  state: LedgerState,
  view: Overlay,
  stx: SignedTx,
  block: { height: number; time: number; proposer: string | null },
  events: TxEvent[],
): string | null {
  const handler = state.ledger.handler(stx.tx.type)!;
  try {
    handler.apply(txContext(state, view, block, events), stx);
  } catch (e) {
    if (e instanceof TxError) return e.reason;
    return `internal error: ${(e as Error).message}`;
  }
  return null;
}

function txContext(
  state: LedgerState,
  view: Overlay,
  block: { height: number; time: number; proposer: string | null },
  events: TxEvent[],
): ApplyContext {
  return makeContext(view, {
    chainId: state.chainId,
    height: block.height,
    time: block.time,
    proposer: block.proposer ?? "",
  }, events);
}

/**
 * Mempool admission against committed state (signature excluded: check it first with
 * `verifyTxSignature`). `pendingNonce` is the next nonce expected after the sender's txs already in
 * the mempool; balances are those of committed state. Dry-runs the tx; `state` is not changed.
 */
export function checkTx(state: LedgerState, stx: SignedTx, pendingNonce?: bigint, time = 0): CheckResult {
  const view = new Overlay(state);
  const block = { height: state.height + 1, time, proposer: null };
  const reason = chargeTx(state, view, stx, block, [], pendingNonce) ??
    runTxBody(state, view, stx, block, []);
  return reason === null ? { ok: true } : { ok: false, reason };
}

/**
 * Executes a block on an overlay of `state` (which is NOT mutated): each tx's ante step (nonce, fee)
 * writes on the block's overlay, its body on its own nested overlay. A tx refused by the ante step
 * changes nothing; once charged, a tx whose body fails keeps its fee and nonce (its result says why
 * the body failed, its events hold only the fee); fees go to `proposer`. Signatures must
 * have been verified by the caller. Returns the write set, per-tx results and the new app hash;
 * commit with `state.apply(writes, height, appHash)`.
 */
export function executeBlock(state: LedgerState, block: BlockContext): BlockExecution {
  if (block.height !== state.height + 1) {
    throw new Error(`executeBlock: height ${block.height} does not follow ${state.height}`);
  }
  const blockView = new Overlay(state);
  const info = {
    chainId: state.chainId,
    height: block.height,
    time: block.time,
    proposer: block.proposer,
    signing: block.signing ?? NO_SIGNING_INFO,
  };
  const beginEvents: TxEvent[] = [];
  const beginCtx = makeContext(blockView, info, beginEvents);
  state.ledger.beginBlock(beginCtx);
  const results: TxResult[] = [];
  for (const stx of block.txs) {
    const events: TxEvent[] = [];
    const refused = chargeTx(state, blockView, stx, block, events);
    if (refused !== null) {
      results.push({ id: stx.id, ok: false, reason: refused, events: [] });
      continue;
    }
    const txView = new Overlay(blockView);
    const feeEvents = events.length;
    const reason = runTxBody(state, txView, stx, block, events);
    if (reason === null) {
      txView.mergeInto(blockView);
      results.push({ id: stx.id, ok: true, events });
    } else {
      // The body's writes and events are dropped; the fee and the nonce stay (and say so).
      events.length = feeEvents;
      results.push({ id: stx.id, ok: false, reason, events });
    }
  }
  const endEvents: TxEvent[] = [];
  const endCtx = makeContext(blockView, info, endEvents);
  state.ledger.endBlock(endCtx);
  const writes = blockView.writes;
  return {
    writes,
    results,
    appHash: chainAppHash(state.appHash, block.height, writes),
    beginEvents,
    endEvents,
  };
}

/**
 * All ucrs in existence by scanning: account balances plus what the state's modules hold (marketplace
 * escrow and deposits: `LedgerModule.heldFunds`). O(state); for tests and invariant checks.
 */
export function totalSupply(state: LedgerState): bigint {
  let sum = 0n;
  for (const [k, v] of state.entries("acct/")) sum += decodeAccount(k.slice(5), v).balance;
  sum += state.ledger.heldFunds(state);
  return sum;
}
