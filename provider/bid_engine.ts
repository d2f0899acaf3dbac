/**
 * The bid engine: decides, without I/O, whether to bid on a committed open order and at what price,
 * and keeps the inventory in step with the bids' fate. The caller (the provider node) feeds it orders,
 * sends `bid.create` for each `{action: "bid"}`, runs the pricing script when one is configured (see
 * {@link BidEngine.check}: run it only for orders that pass) and reports bid/lease changes and heights.
 *
 * Filters, in order (each skip says why): order not open or already bid on; denom not accepted;
 * signedBy (the chain's own rule `signedByProblem`, imported, over the attestations the caller
 * passes in {@link ProviderIdentity.attestations}: none given means none held); gpu
 * vendor/model/ram/interface not among the configured gpus; storage class not offered / persistent
 * storage without a persistent class; the chain's own placement rule (`placementProblem`, imported:
 * attributes and advertised gpu capabilities, so a bid is never sent where the chain would reject it);
 * capacity (reservations + leases <= capacity); price (scale or script, raised to `minimum`) above
 * the order's max.
 *
 * Everything is tracked by order id (`owner/dseq/gseq/oseq`); bid ids (`.../provider`) are accepted too.
 * @module
 */
import { DENOM } from "../lib/units.ts";
import { orderIdOfBid } from "../lib/ids.ts";
import { placementProblem, signedByProblem } from "../auction/market/placement.ts";
import { formatScaled, parseScaled } from "../auction/market/decimal.ts";
import type {
  DecCoin,
  MarketParams,
  MarketReader,
  OrderInfo,
  ProviderRecord,
} from "../auction/market/types.ts";
import type { Group } from "../auction/sdl/types.ts";
import type { PricingConfig, ProviderConfig } from "./config.ts";
import { gpuCandidates, gpuLabel, Inventory, type InventoryCapacity, type Reservation } from "./inventory.ts";
import { scalePrice } from "./pricing.ts";

export interface BidEngineOptions {
  pricing: PricingConfig;
  /** persistent storage classes offered (`ram` volumes are always offered) */
  storageClasses: string[];
  /** price denoms this provider bids in */
  denoms: string[];
  /** bid deposit, integer base units (omitted: the chain's default) */
  bidDeposit?: string;
  /** denom of the deposit (the chain's base denom), default "ucrs" */
  depositDenom?: string;
  reservationTimeoutBlocks: number;
  /** when given: also skip orders at the chain's bids-per-order max, and denoms the chain refuses */
  marketParams?: MarketParams;
}

export type BidDecision =
  | { action: "bid"; price: DecCoin; deposit?: DecCoin; reservation: Reservation }
  | { action: "skip"; reason: string };

export interface ProviderIdentity {
  address: string;
  /** the attributes registered on chain (what the chain's placement check reads) */
  attributes: { key: string; value: string }[];
  /**
   * A read of the committed state (e.g. the chain view) where the chain keeps auditor attestations
   * (`mkt/audit/<provider>/<auditor>`); only read for groups with `signedBy`. Absent: no attestations.
   */
  attestations?: MarketReader;
}

const NO_STATE: MarketReader = { get: () => undefined };

interface Tracked {
  group: Group;
  state: "open" | "active";
  height: number;
}

/** Order id of an order id or a bid/lease id (`lib/ids.ts`'s `orderIdOfBid`; a malformed id as it is). */
export function orderIdOfKey(id: string): string {
  return orderIdOfBid(id) ?? id;
}

function describeGpu(a: { vendor: string; model: string; ram?: string; interface?: string }): string {
  return [a.vendor, a.model, a.ram && `ram ${a.ram}`, a.interface && `interface ${a.interface}`].filter((x) =>
    x
  )
    .join(" ");
}

export class BidEngine {
  readonly inventory: Inventory;
  readonly #opts: BidEngineOptions;
  readonly #orders = new Map<string, Tracked>();
  /** Screenings so far (each holds `screen:<n>` for an instant). */
  #screens = 0;

  /** `new BidEngine(capacityOrInventory, options)`, or `new BidEngine(config, capacityOrInventory)`. */
  constructor(capacity: InventoryCapacity | Inventory, opts: BidEngineOptions);
  constructor(cfg: ProviderConfig, capacity: InventoryCapacity | Inventory, marketParams?: MarketParams);
  constructor(
    a: InventoryCapacity | Inventory | ProviderConfig,
    b: BidEngineOptions | InventoryCapacity | Inventory,
    marketParams?: MarketParams,
  ) {
    let cap: InventoryCapacity | Inventory;
    let opts: BidEngineOptions;
    if ("cluster" in a) {
      cap = b as InventoryCapacity | Inventory;
      opts = BidEngine.optionsFromConfig(a, marketParams);
    } else {
      cap = a;
      opts = b as BidEngineOptions;
    }
    this.inventory = cap instanceof Inventory ? cap : new Inventory(cap);
    this.#opts = { ...opts, storageClasses: [...opts.storageClasses], denoms: [...opts.denoms] };
  }

  /** The engine options a provider config implies. */
  static optionsFromConfig(cfg: ProviderConfig, marketParams?: MarketParams): BidEngineOptions {
    const o: BidEngineOptions = {
      pricing: cfg.pricing,
      storageClasses: cfg.storageClasses,
      denoms: cfg.denoms,
      reservationTimeoutBlocks: cfg.reservationTimeoutBlocks,
    };
    if (cfg.bidDeposit !== undefined) o.bidDeposit = cfg.bidDeposit;
    if (marketParams) o.marketParams = marketParams;
    return o;
  }

  static fromConfig(
    cfg: ProviderConfig,
    capacity: InventoryCapacity | Inventory,
    marketParams?: MarketParams,
  ): BidEngine {
    return new BidEngine(capacity, BidEngine.optionsFromConfig(cfg, marketParams));
  }

  /** Whether a price must come from the pricing script (pass it to {@link evaluate}). */
  get usesScript(): boolean {
    return this.#opts.pricing.script !== undefined;
  }

  /**
   * Every filter except capacity and price: the skip reason, or null when the order may be bid on.
   * Run the pricing script only when this is null.
   */
  check(order: OrderInfo, group: Group, provider: ProviderIdentity): string | null {
    const oid = order.id;
    if (order.state !== "open") return `order ${oid} is not open (state ${order.state})`;
    if (this.#orders.has(oid)) return `already bid on order ${oid}`;
    const denom = order.maxPrice.denom;
    if (!this.#opts.denoms.includes(denom)) {
      return `denom ${denom} not accepted (this provider bids in ${this.#opts.denoms.join(", ")})`;
    }
    const mp = this.#opts.marketParams;
    if (mp && !mp.denoms.includes(denom)) return `denom ${denom} not accepted by the chain`;
    if (mp && order.bids >= mp.bidsPerOrderMax) {
      return `order ${oid} already has the maximum of ${mp.bidsPerOrderMax} bids`;
    }
    if (mp && this.#opts.bidDeposit !== undefined && BigInt(this.#opts.bidDeposit) < BigInt(mp.bidDeposit)) {
      return `configured bidDeposit ${this.#opts.bidDeposit} is below the chain's bid deposit ${mp.bidDeposit}`;
    }
    const signed = signedByProblem(provider.attestations ?? NO_STATE, provider.address, group.requirements);
    if (signed) return signed;
    const gpus = this.inventory.capacity.gpus;
    const offered = this.#opts.storageClasses.filter((c) => c !== "ram");
    for (const u of group.units) {
      if (u.gpu.units > 0 && gpuCandidates(gpus, u).length === 0) {
        const want = u.gpu.attributes.map(describeGpu).join(" or ") || "any gpu";
        const have = gpus.map((g) => gpuLabel(g)).join(", ") || "none";
        return `unit ${u.id} needs gpu ${want}; not available (have: ${have})`;
      }
      for (const v of u.storage) {
        if (!v.persistent || v.class === "ram") continue;
        const cls = v.class ?? "default";
        if (offered.length === 0) {
          return `unit ${u.id} volume ${v.name}: persistent storage requested; this provider offers no persistent storage class`;
        }
        if (!offered.includes(cls)) {
          return `unit ${u.id} volume ${v.name}: storage class ${cls} not offered (offered: ${
            offered.join(", ")
          })`;
        }
      }
    }
    const rec: ProviderRecord = {
      hostUri: [],
      attributes: provider.attributes,
      info: {},
      createdAt: 0,
      updatedAt: 0,
    };
    const bad = placementProblem(provider.address, rec, group);
    if (bad) return bad;
    return null;
  }

  /**
   * Decides on an order. On "bid" the group's resources are reserved under the order id (released by
   * {@link onBidState} lost/closed, {@link onLeaseClosed}, or {@link tick} after the timeout). With a
   * pricing script configured, `scriptPrice` (scaled 10^18) is required.
   */
  evaluate(
    order: OrderInfo,
    group: Group,
    provider: ProviderIdentity,
    height: number,
    scriptPrice?: bigint,
  ): BidDecision {
    const d = this.#decide(order, group, provider, height, scriptPrice, order.id);
    if ("reason" in d) return { action: "skip", reason: d.reason };
    this.#orders.set(order.id, { group, state: "open", height });
    const out: BidDecision = { action: "bid", price: d.price, reservation: d.reservation };
    if (this.#opts.bidDeposit !== undefined) {
      out.deposit = { denom: this.#opts.depositDenom ?? DENOM, amount: this.#opts.bidDeposit };
    }
    return out;
  }

  /**
   * What {@link evaluate} would decide now, with the same filters, capacity check and price, but
   * reserving nothing and tracking nothing (a tenant's screening question; see `provider/screen.ts`).
   */
  screen(
    order: OrderInfo,
    group: Group,
    provider: ProviderIdentity,
    height: number,
    scriptPrice?: bigint,
  ): { action: "bid"; price: DecCoin } | { action: "skip"; reason: string } {
    // A hold id no order id can take (order ids have no ':'); released before returning.
    const hold = `screen:${++this.#screens}`;
    const d = this.#decide(order, group, provider, height, scriptPrice, hold);
    if ("reason" in d) return { action: "skip", reason: d.reason };
    this.inventory.release(hold);
    return { action: "bid", price: d.price };
  }

  /** The filters, a reservation under `holdId` (kept on success) and the price; or the skip reason. */
  #decide(
    order: OrderInfo,
    group: Group,
    provider: ProviderIdentity,
    height: number,
    scriptPrice: bigint | undefined,
    holdId: string,
  ): { price: DecCoin; reservation: Reservation } | { reason: string } {
    const problem = this.check(order, group, provider);
    if (problem) return { reason: problem };
    if (this.usesScript && scriptPrice === undefined) {
      return { reason: "pricing script configured but no script price given" };
    }
    const res = this.inventory.tryReserve(holdId, group, height);
    if ("error" in res) return { reason: `capacity: ${res.error}` };
    const denom = order.maxPrice.denom;
    let price = scriptPrice ?? scalePrice(group, this.#opts.pricing, res.gpus);
    if (price < this.#opts.pricing.minimum) price = this.#opts.pricing.minimum;
    const max = parseScaled(order.maxPrice.amount);
    let reason: string | undefined;
    if (max === null) reason = `order max price ${JSON.stringify(order.maxPrice.amount)} is not a decimal`;
    else if (price === 0n) reason = "computed price is zero (set pricing.minimum)";
    else if (price > max) {
      reason = `price ${formatScaled(price)} ${denom} above max ${formatScaled(max)} ${denom}`;
    }
    if (reason) {
      this.inventory.release(holdId);
      return { reason };
    }
    return { price: { denom, amount: formatScaled(price) }, reservation: res };
  }

  /**
   * A bid changed state (from the chain's events or queries): `lost`/`closed` release its
   * reservation (or lease), `active` (the tenant created the lease) commits it. Returns what happened;
   * `"unknown"` for an `active` bid whose reservation is gone (expired): call {@link adoptLease}.
   */
  onBidState(id: string, state: "lost" | "closed" | "active"): "released" | "committed" | "unknown" {
    const oid = orderIdOfKey(id);
    const t = this.#orders.get(oid);
    if (state === "active") {
      if (!t || !this.inventory.commit(oid)) return "unknown";
      t.state = "active";
      return "committed";
    }
    this.#orders.delete(oid);
    return this.inventory.release(oid) ? "released" : "unknown";
  }

  /** The lease of an order closed: its resources are free again. */
  onLeaseClosed(id: string): boolean {
    const oid = orderIdOfKey(id);
    this.#orders.delete(oid);
    return this.inventory.release(oid);
  }

  /**
   * Takes an existing lease into the inventory (at start, or a lease won after its reservation
   * expired). Returns an error when it does not fit (the caller should close that lease).
   */
  adoptLease(id: string, group: Group, height: number): { ok: true } | { error: string } {
    const oid = orderIdOfKey(id);
    const cur = this.#orders.get(oid);
    if (cur?.state === "active") return { ok: true };
    if (cur) {
      this.inventory.commit(oid);
      cur.state = "active";
      return { ok: true };
    }
    const res = this.inventory.tryReserve(oid, group, height);
    if ("error" in res) return { error: `capacity: ${res.error}` };
    this.inventory.commit(oid);
    this.#orders.set(oid, { group, state: "active", height });
    return { ok: true };
  }

  /** {@link adoptLease} for the reconcile on start (errors ignored: the lease simply is not counted). */
  restoreLease(id: string, group: Group, height = 0): boolean {
    return "ok" in this.adoptLease(id, group, height);
  }

  /** New height: releases reservations older than `reservationTimeoutBlocks`; their order ids. */
  tick(height: number): string[] {
    const gone = this.inventory.expire(height, this.#opts.reservationTimeoutBlocks);
    for (const id of gone) this.#orders.delete(id);
    return gone;
  }

  /** Tracked orders: open bids and active leases, sorted by order id. */
  tracked(): { orderId: string; state: "open" | "active"; height: number }[] {
    return [...this.#orders].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([orderId, t]) => ({
      orderId,
      state: t.state,
      height: t.height,
    }));
  }
}
