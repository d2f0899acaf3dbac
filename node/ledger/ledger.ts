/**
 * A ledger: the state machine's rules, composed from an explicit list of modules. Tables (tx handler
 * by type, queries by name) are built once here, so applying a tx costs one map lookup.
 *
 * A {@link LedgerState} is created with its ledger (`LedgerState.fromGenesis(genesis, ledger)`), and
 * every function that runs on that state (`checkTx`, `executeBlock`, `totalSupply`) uses its rules.
 * @module
 */
import {
  type ApplyContext,
  decodeSignedTx,
  type DecodeTxResult,
  type SignedTx,
  type TxHandler,
} from "./tx.ts";
import type { LedgerState } from "./state.ts";
import type { ActiveValidator, GenesisStore, LedgerModule, LedgerQuery } from "./module.ts";
import type { Genesis } from "./genesis.ts";

/** Options of {@link createLedger}. */
export interface LedgerOptions {
  /** The modules, in the order their block steps run (e.g. `[bank, market, audit]`). */
  modules: readonly LedgerModule[];
}

/** The rules of one chain: its modules' tx types, block steps, supply counters and queries. */
export class Ledger {
  /** The modules, in order. */
  readonly modules: readonly LedgerModule[];
  readonly #handlers = new Map<string, TxHandler>();
  readonly #queries = new Map<string, LedgerQuery>();
  readonly #beginBlock: LedgerModule[];
  readonly #endBlock: LedgerModule[];
  readonly #holders: LedgerModule[];
  readonly #schedulers: LedgerModule[];
  readonly #validators: LedgerModule | undefined;
  /** The account tx fees are paid into, when a module collects them (else the block's proposer). */
  readonly feeCollector: string | null;

  /** Builds the tables; throws on a duplicate module name, tx type or query name. */
  constructor(opts: LedgerOptions) {
    this.modules = Object.freeze([...opts.modules]);
    const names = new Set<string>();
    for (const m of this.modules) {
      if (names.has(m.name)) throw new Error(`ledger module ${m.name} is listed twice`);
      names.add(m.name);
      for (const [type, handler] of Object.entries(m.txTypes)) {
        if (this.#handlers.has(type)) throw new Error(`tx type ${type} is declared by two modules`);
        this.#handlers.set(type, handler);
      }
      for (const [name, query] of Object.entries(m.queries ?? {})) {
        if (this.#queries.has(name)) throw new Error(`query ${name} is declared by two modules`);
        this.#queries.set(name, query);
      }
    }
    this.#beginBlock = this.modules.filter((m) => m.beginBlock !== undefined);
    this.#endBlock = this.modules.filter((m) => m.endBlock !== undefined);
    this.#holders = this.modules.filter((m) => m.heldFunds !== undefined);
    this.#schedulers = this.modules.filter((m) => m.scheduledWork !== undefined);
    const deciders = this.modules.filter((m) => m.validators !== undefined);
    if (deciders.length > 1) {
      throw new Error(`validator sets are decided by two modules: ${deciders.map((m) => m.name).join(", ")}`);
    }
    this.#validators = deciders[0];
    const collectors = this.modules.filter((m) => m.feeCollector !== undefined);
    if (collectors.length > 1) {
      throw new Error(`fees are collected by two modules: ${collectors.map((m) => m.name).join(", ")}`);
    }
    this.feeCollector = collectors[0]?.feeCollector ?? null;
  }

  /** Runs every module's genesis hook, in module order (from `LedgerState.fromGenesis`). */
  initGenesis(genesis: Genesis, store: GenesisStore): void {
    for (const m of this.modules) m.initGenesis?.(genesis, store);
  }

  /** The handler of a tx type, if one of the modules declares it. */
  handler(type: string): TxHandler | undefined {
    return this.#handlers.get(type);
  }

  /** Names of every tx type of this ledger, sorted. */
  txTypes(): string[] {
    return [...this.#handlers.keys()].sort();
  }

  /** Names of the modules, in order. */
  moduleNames(): string[] {
    return this.modules.map((m) => m.name);
  }

  /**
   * {@link decodeSignedTx}, then the body check of the tx's type when this ledger knows it (an
   * unknown type decodes, and is rejected with a reason when checked or executed). Never throws.
   */
  decodeTx(bytes: Uint8Array, opts: { maxTxBytes?: number } = {}): DecodeTxResult {
    const d = decodeSignedTx(bytes, opts);
    if (!d.ok) return d;
    const why = this.#handlers.get(d.stx.tx.type)?.validateBody(d.stx.tx.body);
    return why ? { ok: false, reason: why } : d;
  }

  /** Every address a tx concerns: `from` plus its handler's `addresses`, deduplicated. */
  txAddresses(stx: SignedTx): string[] {
    const extra = this.#handlers.get(stx.tx.type)?.addresses?.(stx) ?? [];
    return [...new Set([stx.tx.from, ...extra])];
  }

  /** Runs every module's `beginBlock`, in module order. */
  beginBlock(ctx: ApplyContext): void {
    for (const m of this.#beginBlock) m.beginBlock!(ctx);
  }

  /** Runs every module's `endBlock`, in module order. */
  endBlock(ctx: ApplyContext): void {
    for (const m of this.#endBlock) m.endBlock!(ctx);
  }

  /** True when some module has work at `height` or pending later (its `scheduledWork` hook). */
  scheduledWork(state: LedgerState, height: number): boolean {
    return this.#schedulers.some((m) => m.scheduledWork!(state, height));
  }

  /**
   * The active validator set for consensus at `height` (sorted by address): the deciding module's
   * (staking) when the ledger has one and it knows that height, else the validators recorded at
   * genesis.
   */
  validatorsFor(state: LedgerState, height: number): ActiveValidator[] {
    const decided = this.#validators?.validators?.(state, height);
    if (decided) return decided;
    return state.validators().map((v) => ({ address: v.address, pubKey: v.pubKey, power: v.power }));
  }

  /** Funds all modules hold outside accounts in `state`. */
  heldFunds(state: LedgerState): bigint {
    let sum = 0n;
    for (const m of this.#holders) sum += m.heldFunds!(state);
    return sum;
  }

  /** The query named `name`, if a module declares it. */
  query(name: string): LedgerQuery | undefined {
    return this.#queries.get(name);
  }

  /** Names of every module query, in module then declaration order. */
  queryNames(): string[] {
    return [...this.#queries.keys()];
  }
}

/**
 * A ledger from an explicit list of modules.
 * @example
 * ```ts
 * const ledger = createLedger({ modules: [bank, market, audit] });
 * const state = LedgerState.fromGenesis(genesis, ledger);
 * ```
 */
export function createLedger(opts: LedgerOptions): Ledger {
  return new Ledger(opts);
}
