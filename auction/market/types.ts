/**
 * Marketplace data model: the store interface the state machine runs on, params, stored records,
 * ids and the JSON-friendly shapes the queries return.
 *
 * The state machine never sees the ledger: it runs on a {@link MarketStore} (a key-value view with
 * account debits/credits and an event sink) that the node adapts from its tx context.
 * @module
 */
import { DENOM } from "../../lib/units.ts";
import type { Group } from "../sdl/types.ts";

/** Thrown by the state machine to reject a tx; `reason` is shown to the sender. Nothing is kept. */
export class MarketError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = "MarketError";
  }
}

/** A read view of the state: exact gets plus sorted prefix listing (queries only). */
export interface MarketReader {
  get(key: string): Uint8Array | undefined;
}

/** A read view that can list keys under a prefix, sorted (for queries; never used by txs or blocks). */
export interface MarketView extends MarketReader {
  keys(prefix: string): string[];
  /** Height of the view (committed state); queries settle escrow at this height when none is given. */
  readonly height?: number;
}

/**
 * What the state machine runs on: a read/write view of one tx (or of a block's begin/end step), the
 * base-denom account balances and an event sink. Writes are kept only if the caller commits them.
 */
export interface MarketStore extends MarketReader {
  /** Height of the block being executed. */
  readonly height: number;
  /** The denom accounts hold (deposits must be in it). */
  readonly baseDenom: string;
  set(key: string, value: Uint8Array): void;
  delete(key: string): void;
  /** Spendable balance of `address` in the base denom (0 when the account does not exist). */
  balance(address: string): bigint;
  /** Takes `amount` from an account into marketplace custody; throws {@link MarketError} if short. */
  debit(address: string, amount: bigint): void;
  /** Pays `amount` out of marketplace custody into an account (created when new). */
  credit(address: string, amount: bigint): void;
  emit(type: string, attrs: Record<string, string>): void;
}

/** Marketplace params (genesis `params.market`). */
export interface MarketParams {
  /** Denoms the marketplace accepts for prices and deposits (devnet: ["ucrs"]). */
  denoms: string[];
  /** Blocks an order stays open for bids (devnet 2); an order without bids reopens for as long again. */
  bidWindowBlocks: number;
  /** Max bids per order (closed bids count too). */
  bidsPerOrderMax: number;
  /** Minimum deployment.create deposit, integer base units ("5000000" = 5 CRS). */
  minDeposit: string;
  /** Default and minimum bid deposit, integer base units. */
  bidDeposit: string;
  /** Max groups (orders) per deployment. */
  groupsPerDeploymentMax: number;
  /**
   * Runway (blocks) under which a deployment's escrow emits `escrow.low`, once per crossing (a top-up
   * above it re-arms the event); copied into each escrow at deployment.create. 0: never. Absent from
   * params stored before it: {@link ESCROW_LOW_BLOCKS_DEFAULT}.
   */
  escrowLowBlocks?: number;
}

/** Default of {@link MarketParams.escrowLowBlocks}: 600 blocks (10 minutes at 1 s per block). */
export const ESCROW_LOW_BLOCKS_DEFAULT = 600;

/** The devnet defaults. */
export function defaultMarketParams(): MarketParams {
  return {
    denoms: [DENOM],
    bidWindowBlocks: 2,
    bidsPerOrderMax: 20,
    minDeposit: "5000000",
    bidDeposit: "500000",
    groupsPerDeploymentMax: 20,
    escrowLowBlocks: ESCROW_LOW_BLOCKS_DEFAULT,
  };
}

/** State of a deployment. */
export type DeploymentState = "active" | "closed";
/** State of a group of a deployment. */
export type GroupState = "open" | "insufficient_funds" | "closed";
/** State of an order. */
export type OrderState = "open" | "active" | "closed";
/** State of a bid. */
export type BidState = "open" | "active" | "lost" | "closed";
/** State of a lease. */
export type LeaseState = "active" | "insufficient_funds" | "closed";

/** Why a lease / deployment closed. */
export type CloseReason =
  | "owner" // the tenant closed it
  | "provider" // the provider closed it (lease.close or bid.close of the active bid)
  | "deployment_closed" // the deployment was closed
  | "insufficient_funds" // escrow could not pay the next block
  | "groups_closed" // (deployment) its last open group closed
  | "workload_failed" // the provider closed it: the workload could not start or kept crashing
  | "manifest_timeout"; // the provider closed it: no manifest came within its timeout

/** The reasons a provider may give when it closes a lease (`lease.close` body `reason`). */
export const PROVIDER_CLOSE_REASONS = ["workload_failed", "manifest_timeout"] as const;
/** A reason a provider may give when it closes a lease. */
export type ProviderCloseReason = typeof PROVIDER_CLOSE_REASONS[number];

/** Why a lease closed, as tenants read it (`closeReason` of queries and `lease.closed` events). */
export type LeaseCloseReason =
  | "tenant_closed"
  | "provider_closed"
  | "insufficient_funds"
  | "workload_failed"
  | "manifest_timeout"
  | "deployment_closed";

/** The {@link LeaseCloseReason} of a lease closed for `reason`. */
export function leaseCloseReason(reason: CloseReason): LeaseCloseReason {
  switch (reason) {
    case "owner":
      return "tenant_closed";
    case "provider":
      return "provider_closed";
    case "insufficient_funds":
    case "workload_failed":
    case "manifest_timeout":
      return reason;
    case "deployment_closed":
    case "groups_closed":
      return "deployment_closed";
  }
}

/** A `{denom, amount}` price as it appears in txs and queries (amount: decimal string). */
export interface DecCoin {
  denom: string;
  amount: string;
}

// ---------------------------------------------------------------------------------------------------
// stored records (canonical CBOR; amounts as decimal strings; prices as scaled integers, see decimal.ts)

/** `mkt/provider/<address>` */
export interface ProviderRecord {
  hostUri: string[];
  attributes: { key: string; value: string }[];
  info: { email?: string; website?: string };
  createdAt: number;
  updatedAt: number;
}

/**
 * `mkt/audit/<provider>/<auditor>`: the attributes of `provider` that `auditor` has signed (attested),
 * as of the last `audit.attest` (which replaces the whole set) or `audit.revoke` (which removes keys).
 */
export interface AttestationRecord {
  /** sorted by key, unique keys, 1..64 */
  attributes: { key: string; value: string }[];
  /** height of the last change */
  height: number;
}

/** A group inside a deployment record. */
export interface GroupRecord {
  gseq: number;
  state: GroupState;
  /** The canonical group spec, exactly as sent in deployment.create. */
  spec: Group;
  /** oseq of the group's current (latest) order. */
  oseq: number;
}

/** `mkt/deployment/<owner>/<dseq>` */
export interface DeploymentRecord {
  state: DeploymentState;
  manifestHash: string;
  denom: string;
  createdAt: number;
  updatedAt: number;
  closedAt?: number;
  reason?: CloseReason;
  groups: GroupRecord[];
}

/** `mkt/order/<owner>/<dseq>/<gseq>/<oseq>` */
export interface OrderRecord {
  state: OrderState;
  denom: string;
  /** Max price per block of the whole group (sum of unit price x count), scaled by 10^18. */
  maxPrice: string;
  createdAt: number;
  /**
   * The bid window ends at the end of this height; 0 = a window ended without bids and the order
   * waits for the next bid, which starts a new window.
   */
  closesAt: number;
  closedAt?: number;
  /** Providers that bid, in arrival order (bounded by bidsPerOrderMax). */
  bids: string[];
}

/** `mkt/bid/<owner>/<dseq>/<gseq>/<oseq>/<provider>` */
export interface BidRecord {
  state: BidState;
  denom: string;
  /** scaled by 10^18 */
  price: string;
  /** integer base units held while the bid is open or active */
  deposit: string;
  depositDenom: string;
  createdAt: number;
  closedAt?: number;
}

/** `mkt/lease/<owner>/<dseq>/<gseq>/<oseq>/<provider>` */
export interface LeaseRecord {
  state: LeaseState;
  denom: string;
  /** scaled by 10^18 */
  price: string;
  createdAt: number;
  closedAt?: number;
  reason?: CloseReason;
  /** integer base units paid to the provider so far (as of the escrow's settledAt) */
  paid: string;
}

/** An escrow's state and running totals, integer base units (the record and its query output). */
export interface EscrowTotals {
  state: "open" | "closed";
  denom: string;
  /** Left, as of the record's `settledAt` (or the query's `height`). */
  balance: string;
  deposited: string;
  /** Paid to providers so far. */
  transferred: string;
  refunded: string;
}

/** `mkt/escrow/<owner>/<dseq>` */
export interface EscrowRecord extends EscrowTotals {
  settledAt: number;
  /** First height at which the escrow cannot pay its leases; null = none (no leases, or beyond 2^53). */
  exhaustAt: number | null;
  /** Active lease ids (at most one per group). */
  leases: string[];
  /** Runway (blocks) under which `escrow.low` is emitted (absent on escrows older than the event: never). */
  lowBlocks?: number;
  /** Height at which the runway reaches `lowBlocks` (indexed at `mkt/idx/escrowlow/<H>`); null: none pending. */
  lowAt?: number | null;
  /** `escrow.low` was emitted for the current crossing (until a top-up lifts the runway again). */
  low?: boolean;
}

// ---------------------------------------------------------------------------------------------------
// query output (JSON-friendly)

/** A provider (query output). */
export interface ProviderInfo extends ProviderRecord {
  owner: string;
}

/** One auditor's attestation of one provider (query output). */
export interface AttestationInfo extends AttestationRecord {
  provider: string;
  auditor: string;
}

/** The id of an order (or of a bid or lease on it) and its parts (query output). */
export interface OrderIdParts {
  id: string;
  owner: string;
  dseq: number;
  gseq: number;
  oseq: number;
}

/** A lease, `paid` settled at the query height (query output). */
export interface LeaseInfo extends OrderIdParts {
  provider: string;
  price: DecCoin;
  state: LeaseState;
  reason?: CloseReason;
  /** Why it closed, as tenants read it (set with `reason`). */
  closeReason?: LeaseCloseReason;
  createdAt: number;
  closedAt?: number;
  /** Paid to the provider so far (settled at the query height), integer base units. */
  paid: string;
}

/** A bid (query output). */
export interface BidInfo extends OrderIdParts {
  provider: string;
  price: DecCoin;
  deposit: DecCoin;
  state: BidState;
  createdAt: number;
  closedAt?: number;
}

/** An order with its group spec (query output). */
export interface OrderInfo extends OrderIdParts {
  state: OrderState;
  /** Max price per block for the whole group. */
  maxPrice: DecCoin;
  createdAt: number;
  closesAt: number;
  closedAt?: number;
  /** The group spec the order is for (as sent in deployment.create). */
  group: Group;
  bids: number;
}

/** An escrow settled at the query height (query output). */
export interface EscrowStatus extends EscrowTotals {
  owner: string;
  dseq: number;
  height: number;
  /** Sum of the active leases' prices per block. */
  ratePerBlock: string;
  exhaustAt: number | null;
  /** Blocks after `height` that the escrow still pays in full; null = unbounded (no active leases). */
  blocksRemaining: number | null;
}

/** A group of a deployment (query output). */
export interface GroupInfo {
  gseq: number;
  name: string;
  state: GroupState;
  spec: Group;
}

/** A deployment with its groups and escrow status (query output). */
export interface DeploymentInfo {
  id: string;
  owner: string;
  dseq: number;
  state: DeploymentState;
  reason?: CloseReason;
  manifestHash: string;
  createdAt: number;
  updatedAt: number;
  closedAt?: number;
  groups: GroupInfo[];
  escrow: EscrowStatus | null;
}

/** A deployment with its orders, bids and leases (query output). */
export interface DeploymentDetail extends DeploymentInfo {
  orders: OrderInfo[];
  bids: BidInfo[];
  leases: LeaseInfo[];
}
