/**
 * The plug-in interface of the ledger: a module declares its tx types, its per-block steps, the funds
 * it holds outside accounts and its read-only queries. A {@link Ledger} is built from an explicit
 * list of modules (`createLedger({ modules: [bank, market, audit] })`); nothing registers itself by
 * being imported.
 * @module
 */
import type { ApplyContext, TxHandler } from "./tx.ts";
import type { LedgerState } from "./state.ts";
import type { Genesis } from "./genesis.ts";

/** What a module's genesis hook writes through: the genesis state's keys, before its app hash. */
export interface GenesisStore {
  get(key: string): Uint8Array | undefined;
  set(key: string, value: Uint8Array): void;
}

/** A member of the active validator set: its consensus key's address, public key and voting power. */
export interface ActiveValidator {
  /** `addressOf(pubKey)`: the address votes are signed under. */
  address: string;
  /** 32-byte ed25519 consensus public key. */
  pubKey: Uint8Array;
  /** Voting power (> 0). */
  power: bigint;
}

/** What a query handler gets: the path segments after its name and the URL's query parameters. */
export interface QueryRequest {
  /** Path segments after the query name (`/query/deployment/OWNER/DSEQ` -> `["OWNER", "DSEQ"]`). */
  args: readonly string[];
  /** The query string (`?owner=...&state=...`). */
  params: URLSearchParams;
}

/**
 * A read-only query over committed state, served as `GET /query/<name>/...`. Returns a JSON-ready
 * value; throws {@link QueryError} for a bad request (400) or a missing record (404).
 */
export type LedgerQuery = (state: LedgerState, request: QueryRequest) => unknown;

/** A query that cannot be answered: `status` 400 (bad request) or 404 (not found), and why. */
export class QueryError extends Error {
  constructor(readonly status: 400 | 404, message: string) {
    super(message);
    this.name = "QueryError";
  }
}

/**
 * One ledger module (bank, market, audit, staking...). Everything it does runs inside the pure,
 * deterministic state machine: no I/O, no clock, no randomness.
 */
export interface LedgerModule {
  /** Unique name of the module ("bank", "market"). */
  readonly name: string;
  /** The tx types it handles, by name ("bank.send"); names are unique across a ledger's modules. */
  readonly txTypes: Readonly<Record<string, TxHandler>>;
  /**
   * Step at the start of every block, before its txs (e.g. escrow exhaustion), on the block overlay
   * with the context a tx handler gets (`emit` goes to the block's begin events). Must cost what the
   * block's own work costs (read an index keyed by height, never scan the state). Throwing fails the
   * whole block (a bug: the node halts loudly rather than diverge).
   */
  beginBlock?(ctx: ApplyContext): void;
  /** Step at the end of every block, after its txs (e.g. bid windows closing); as {@link beginBlock}. */
  endBlock?(ctx: ApplyContext): void;
  /**
   * Whether a block at `height` (the next one, on committed `state`) has work of this module to do,
   * or work is pending at a later height that counts in blocks (a bid window, an escrow paying per
   * block): then the chain keeps its normal cadence instead of resting (see the consensus param
   * `createEmptyBlocksIntervalMs`). Read-only, cheap (an index lookup, never a scan); a module
   * without this hook never keeps the chain awake.
   */
  scheduledWork?(state: LedgerState, height: number): boolean;
  /**
   * The active validator set for consensus at `height`, when this module decides it (staking); null
   * when it does not know that height. Defined for heights up to `state.height + 2` (a change computed
   * at the end of block H takes effect at H+2, as CometBFT). Deterministic, cheap (an index lookup).
   * At most one module of a ledger declares it; without one, the genesis validators hold forever.
   */
  validators?(state: LedgerState, height: number): ActiveValidator[] | null;
  /**
   * Writes the module's genesis records (e.g. staking bonds the genesis validators), after the
   * accounts, validators, supply and params are written. Funds it mints must be added to `bank/supply`.
   */
  initGenesis?(genesis: Genesis, store: GenesisStore): void;
  /**
   * An account that receives every tx fee instead of the block's proposer (staking: fees are paid to
   * the whole active set by power). At most one module of a ledger declares it.
   */
  readonly feeCollector?: string;
  /** Funds the module holds outside accounts (escrow, deposits), counted by `totalSupply`. O(state). */
  heldFunds?(state: LedgerState): bigint;
  /** Queries it serves, by name (the first path segment after `/query/`); unique across modules. */
  readonly queries?: Readonly<Record<string, LedgerQuery>>;
}
