/**
 * What the simulator's market metrics and checks are made of: every committed block, once (as the
 * first node to commit its height applied it), read for its market events. From them: per order its
 * bids, clearing price over the max price and blocks to lease; per provider its leased cpu over
 * height; counts of leases closed by reason. Two checks over the chain's own record, independent of
 * the rules that produced it: the winner of every lease made at a window's end has the lowest price
 * among the order's bids still open then (ties: the earlier bid, then the lower address), and no
 * escrow balance is ever negative.
 * @module
 */
import type { CommittedBlock } from "../node/chain.ts";
import type { CirrusNode } from "../node/node.ts";
import type { ActorMetrics } from "../node/sim/simulate.ts";
import {
  type EscrowRecord,
  escrowStatus,
  marketPrefixes,
  parseScaled,
  readRecord,
} from "../auction/market/mod.ts";
import { deploymentIdOfAny, orderIdOfBid, parseDeploymentId } from "../lib/ids.ts";

/** Violations listed at most (the rest counted). */
export const VIOLATIONS_MAX = 50;

interface BidSeen {
  provider: string;
  price: bigint;
  height: number;
  /** Set when the bid was closed or lost before the order got its lease. */
  gone: boolean;
}

interface OrderSeen {
  order: string;
  openedAt: number;
  maxPrice: bigint;
  bids: BidSeen[];
  lease: { provider: string; price: bigint; height: number } | null;
}

/** A market event the observer hands on (to the tenants). */
export interface MarketEvent {
  height: number;
  type: string;
  attrs: Record<string, string>;
}

/** Options of {@link MarketObserver}. */
export interface MarketObserverOptions {
  /** Provider addresses and their cpu capacity (millicores), in provider order. */
  providers: { address: string; cpu: number }[];
  /** The cpu (millicores) of a deployment `owner/dseq`, as its tenant asked (null when unknown). */
  cpuOf(deployment: string): number | null;
  /** Called for each market event of each new block, after the observer's own bookkeeping. */
  onEvent?(e: MarketEvent): void;
  /** Called after each new block (its height). */
  onBlock?(height: number): void;
}

/** Watches committed blocks of every node and keeps the market's metrics (see the module doc). */
export class MarketObserver {
  readonly #o: MarketObserverOptions;
  /** Highest height read; a block is read when it is the next one. */
  #top = 0;
  readonly #orders = new Map<string, OrderSeen>();
  readonly #leasedCpu = new Map<string, number>();
  readonly #leasesOf = new Map<string, number>();
  readonly #bidsOf = new Map<string, number>();
  /** cpu of each active lease, by lease id (what a close gives back). */
  readonly #leaseCpu = new Map<string, { provider: string; cpu: number }>();
  readonly #utilisation = new Map<string, [number, number][]>();
  readonly #counts = new Map<string, number>();
  readonly violations: string[] = [];
  #violationsDropped = 0;

  constructor(opts: MarketObserverOptions) {
    this.#o = opts;
    for (const p of opts.providers) {
      this.#leasedCpu.set(p.address, 0);
      this.#utilisation.set(p.address, []);
    }
  }

  /** Subscribes to a node's commits (call again for a node restarted); returns the unsubscribe. */
  watch(node: CirrusNode): () => void {
    return node.onCommit((b) => {
      if (b.height !== this.#top + 1) return;
      this.#top = b.height;
      this.#read(node, b);
    });
  }

  /** The highest height read. */
  get height(): number {
    return this.#top;
  }

  /** Adds to a named count (`txs.submitted`, `manifests.accepted`...). */
  count(name: string, n = 1): void {
    this.#counts.set(name, (this.#counts.get(name) ?? 0) + n);
  }

  /** Records a violation found by an actor. */
  violation(text: string): void {
    if (this.violations.length < VIOLATIONS_MAX) this.violations.push(text);
    else this.#violationsDropped++;
  }

  #read(node: CirrusNode, b: CommittedBlock): void {
    const events = [...b.txs.filter((t) => t.ok).flatMap((t) => t.events), ...b.events];
    for (const e of events) {
      this.#apply(b.height, e.type, e.attrs);
      this.#o.onEvent?.({ height: b.height, type: e.type, attrs: e.attrs });
    }
    this.#checkEscrows(node, b.height);
    for (const p of this.#o.providers) {
      const used = this.#leasedCpu.get(p.address) ?? 0;
      this.#utilisation.get(p.address)!.push([b.height, round4(p.cpu > 0 ? used / p.cpu : 0)]);
    }
    this.#o.onBlock?.(b.height);
  }

  #apply(h: number, type: string, a: Record<string, string>): void {
    switch (type) {
      case "order.opened": {
        const max = parseScaled(a.maxPrice);
        if (!a.order || max === null) return this.violation(`h${h}: order.opened without order or maxPrice`);
        this.#orders.set(a.order, { order: a.order, openedAt: h, maxPrice: max, bids: [], lease: null });
        this.count("orders.opened");
        break;
      }
      case "bid.placed": {
        const o = this.#orders.get(a.order ?? "");
        const price = parseScaled(a.price);
        if (!o || !a.provider || price === null) {
          return this.violation(`h${h}: bid.placed on an unknown order`);
        }
        o.bids.push({ provider: a.provider, price, height: h, gone: false });
        this.#bidsOf.set(a.provider, (this.#bidsOf.get(a.provider) ?? 0) + 1);
        this.count("bids.placed");
        break;
      }
      case "bid.closed":
      case "bid.lost": {
        const o = this.#orders.get(a.order ?? "");
        const bid = o?.bids.find((x) => x.provider === a.provider && !x.gone);
        if (bid && o && o.lease === null) bid.gone = true;
        this.count(type === "bid.lost" ? "bids.lost" : "bids.closed");
        break;
      }
      case "lease.created":
        this.#leaseCreated(h, a);
        break;
      case "lease.closed": {
        const l = this.#leaseCpu.get(a.lease ?? "");
        if (l) {
          this.#leaseCpu.delete(a.lease!);
          this.#leasedCpu.set(l.provider, (this.#leasedCpu.get(l.provider) ?? 0) - l.cpu);
        }
        this.count(`leases.closed.${a.reason ?? "unknown"}`);
        break;
      }
      case "deployment.created":
      case "deployment.closed":
      case "deployment.deposit":
        this.count(`${type.replace("deployment.", "deployments.")}`);
        break;
    }
  }

  /** Lowest valid bid wins: the lease's bid is the first of the bids still open in price, height, address order. */
  #leaseCreated(h: number, a: Record<string, string>): void {
    const lease = a.lease ?? "";
    const order = orderIdOfBid(lease) ?? "";
    const o = this.#orders.get(order);
    const price = parseScaled(a.price);
    if (!o || !a.provider || price === null) {
      return this.violation(`h${h}: lease ${lease} on an unknown order`);
    }
    const open = o.bids.filter((x) => !x.gone);
    const mine = open.find((x) => x.provider === a.provider);
    if (!mine) {
      this.violation(`h${h}: lease ${lease}: ${a.provider} had no open bid on ${order}`);
    } else if (mine.price !== price) {
      this.violation(`h${h}: lease ${lease}: price ${a.price} differs from the bid's`);
    } else {
      const better = open.find((x) =>
        x.price < mine.price ||
        (x.price === mine.price &&
          (x.height < mine.height || (x.height === mine.height && x.provider < mine.provider)))
      );
      if (better) {
        this.violation(
          `h${h}: lease ${lease}: bid of ${better.provider} at ${better.price} was lower (scaled)`,
        );
      }
    }
    if (price > o.maxPrice) this.violation(`h${h}: lease ${lease}: price above the order's max`);
    o.lease = { provider: a.provider, price, height: h };
    const cpu = this.#o.cpuOf(deploymentIdOfAny(order) ?? "") ?? 0;
    this.#leaseCpu.set(lease, { provider: a.provider, cpu });
    this.#leasedCpu.set(a.provider, (this.#leasedCpu.get(a.provider) ?? 0) + cpu);
    this.#leasesOf.set(a.provider, (this.#leasesOf.get(a.provider) ?? 0) + 1);
    this.count("leases.created");
  }

  /** No escrow balance negative: the stored one, and the one settled at this height. */
  #checkEscrows(node: CirrusNode, h: number): void {
    const view = node.chain.state;
    for (const k of view.keys(marketPrefixes.escrow)) {
      const rec = readRecord<EscrowRecord>(view, k);
      if (!rec) continue;
      if (BigInt(rec.balance) < 0n) this.violation(`h${h}: escrow ${k} stored balance ${rec.balance} < 0`);
      if (rec.state !== "open") continue;
      const id = parseDeploymentId(k.slice(marketPrefixes.escrow.length));
      if (!id) continue;
      const st = escrowStatus(view, id.owner, id.dseq, h);
      if (st && BigInt(st.balance) < 0n) this.violation(`h${h}: escrow ${k} balance ${st.balance} < 0`);
    }
  }

  /** The metrics so far (orders in the order they opened, providers in provider order). */
  metrics(): Pick<ActorMetrics, "orders" | "providers" | "counts" | "violations"> {
    const ratio = (
      p: bigint,
      max: bigint,
    ) => (max > 0n ? round4(Number((p * 1_000_000n) / max) / 1_000_000) : null);
    const violations = [...this.violations];
    if (this.#violationsDropped > 0) violations.push(`... and ${this.#violationsDropped} more`);
    return {
      orders: [...this.#orders.values()].map((o) => ({
        order: o.order,
        openedAt: o.openedAt,
        bids: o.bids.length,
        maxPrice: formatPrice(o.maxPrice),
        price: o.lease ? formatPrice(o.lease.price) : null,
        priceRatio: o.lease ? ratio(o.lease.price, o.maxPrice) : null,
        blocksToLease: o.lease ? o.lease.height - o.openedAt : null,
        provider: o.lease?.provider ?? null,
      })),
      providers: this.#o.providers.map((p) => ({
        provider: p.address,
        cpu: p.cpu,
        bids: this.#bidsOf.get(p.address) ?? 0,
        leases: this.#leasesOf.get(p.address) ?? 0,
        utilisation: this.#utilisation.get(p.address) ?? [],
      })),
      counts: Object.fromEntries([...this.#counts].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))),
      violations,
    };
  }
}

function round4(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}

/** A scaled price (1e18 = 1 ucrs) as ucrs with up to 6 decimals. */
function formatPrice(p: bigint): string {
  const micro = p / 10n ** 12n;
  const whole = micro / 1_000_000n;
  const frac = (micro % 1_000_000n).toString().padStart(6, "0").replace(/0+$/, "");
  return frac ? `${whole}.${frac}` : `${whole}`;
}
