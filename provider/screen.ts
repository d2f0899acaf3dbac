/**
 * The provider's side of `/cirrus/screen/1`: answers "would you bid on these groups, at what price,
 * or why not?" with the bid engine's own decision ({@link BidEngine.screen}: the same filters,
 * capacity check, price and reason words as a real bid, nothing reserved), bounded per peer by a
 * {@link RateLimiter}. Untrusted bytes never throw out of {@link Screener.answer}: they get a
 * `bad_request` answer.
 * @module
 */
import { formatScaled } from "../auction/market/decimal.ts";
import { getProvider, groupMaxPrice, type MarketView, type OrderInfo } from "../auction/market/mod.ts";
import type { Group } from "../auction/sdl/types.ts";
import type { BidEngine } from "./bid_engine.ts";
import type { PricingConfig } from "./config.ts";
import { scriptPrice } from "./pricing.ts";
import {
  decodeScreenRequest,
  encodeResponse,
  errorResponse,
  type GroupScreening,
  ProtocolError,
  type ScreenResponse,
} from "./protocol/mod.ts";

/** Options of a {@link RateLimiter}: a token bucket per key. */
export interface RateLimitOptions {
  /** tokens a key may spend at once (the bucket's size), default 20 */
  burst?: number;
  /** tokens a key gets back per minute, default 60 */
  perMinute?: number;
  /** most keys remembered; past it the least recently seen is forgotten, default 10 000 */
  keysMax?: number;
}

/**
 * Token buckets per key (a peer id), with bounded memory. `take(key, cost, now)` spends `cost`
 * tokens, or refuses and says when to come back.
 */
export class RateLimiter {
  readonly burst: number;
  readonly perMinute: number;
  readonly keysMax: number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(opts: RateLimitOptions = {}) {
    this.burst = opts.burst ?? 20;
    this.perMinute = opts.perMinute ?? 60;
    this.keysMax = opts.keysMax ?? 10_000;
    if (!(this.burst > 0 && this.perMinute > 0 && this.keysMax > 0)) {
      throw new RangeError("burst, perMinute and keysMax must be > 0");
    }
  }

  /** Keys remembered now. */
  get size(): number {
    return this.#buckets.size;
  }

  /** Spends `cost` tokens of `key` at `nowMs`: null when allowed, else the ms to wait. */
  take(key: string, cost: number, nowMs: number): number | null {
    const b = this.#buckets.get(key) ?? { tokens: this.burst, at: nowMs };
    const elapsed = Math.max(0, nowMs - b.at);
    b.tokens = Math.min(this.burst, b.tokens + (elapsed * this.perMinute) / 60_000);
    b.at = nowMs;
    this.#buckets.delete(key);
    if (this.#buckets.size >= this.keysMax) {
      const oldest = this.#buckets.keys().next();
      if (!oldest.done) this.#buckets.delete(oldest.value);
    }
    this.#buckets.set(key, b);
    const need = Math.min(cost, this.burst);
    if (b.tokens < need) return Math.ceil(((need - b.tokens) * 60_000) / this.perMinute);
    b.tokens -= need;
    return null;
  }
}

/** What a {@link Screener} reads and uses. */
export interface ScreenerOptions {
  engine: BidEngine;
  /** this provider's account address */
  address: string;
  chainId: string;
  /** the committed state (the provider's registration and attestations) */
  view(): MarketView;
  height(): number;
  pricing: PricingConfig;
  /** per-peer limit (each group costs one token) */
  limits?: RateLimitOptions;
  now?: () => number;
}

/** Answers screening requests; see the module doc. */
export class Screener {
  readonly #o: ScreenerOptions;
  readonly #perPeer: RateLimiter;

  constructor(opts: ScreenerOptions) {
    this.#o = opts;
    this.#perPeer = new RateLimiter(opts.limits);
  }

  /** The response bytes to a request from peer `from`. Never throws. */
  async answer(req: Uint8Array, from: string): Promise<Uint8Array> {
    return encodeResponse(await this.#answer(req, from));
  }

  async #answer(bytes: Uint8Array, from: string): Promise<ScreenResponse> {
    const now = (this.#o.now ?? Date.now)();
    // A request that cannot be read still costs its peer a token: garbage floods are bounded too.
    let req;
    try {
      req = decodeScreenRequest(bytes);
    } catch (e) {
      const wait = this.#perPeer.take(from, 1, now);
      if (wait !== null) return busy(wait);
      const why = e instanceof ProtocolError ? e.message : String(e);
      return errorResponse("bad_request", `malformed screen request: ${why}`);
    }
    const wait = this.#perPeer.take(from, req.groups.length, now);
    if (wait !== null) return busy(wait);
    if (req.chainId !== this.#o.chainId) {
      return errorResponse(
        "bad_request",
        `the request is for chain ${req.chainId}, this provider is on ${this.#o.chainId}`,
      );
    }
    const view = this.#o.view();
    const height = this.#o.height();
    const registered = getProvider(view, this.#o.address);
    if (!registered) return errorResponse("not_found", "this provider is not registered on chain yet");
    const who = { address: this.#o.address, attributes: registered.attributes, attestations: view };
    const groups: GroupScreening[] = [];
    for (let i = 0; i < req.groups.length; i++) {
      const group = req.groups[i]!;
      const order = screeningOrder(group, i + 1, height);
      groups.push(await this.#screenGroup(order, group, who, height));
    }
    return { ok: true, provider: this.#o.address, height, groups };
  }

  async #screenGroup(
    order: OrderInfo,
    group: Group,
    who: Parameters<BidEngine["screen"]>[2],
    height: number,
  ): Promise<GroupScreening> {
    const e = this.#o.engine;
    const no = (reason: string): GroupScreening => ({ name: group.name, bid: false, reasons: [reason] });
    const problem = e.check(order, group, who);
    if (problem) return no(problem);
    let script: bigint | undefined;
    if (this.#o.pricing.script) {
      try {
        script = await scriptPrice(this.#o.pricing.script, order, {
          timeoutMs: this.#o.pricing.scriptTimeoutMs,
        });
      } catch (err) {
        return no(`pricing script failed: ${(err as Error).message}`);
      }
    }
    const d = e.screen(order, group, who, height, script);
    return d.action === "bid" ? { name: group.name, bid: true, price: d.price } : no(d.reason);
  }
}

function busy(waitMs: number): ScreenResponse {
  return errorResponse(
    "busy",
    `too many screening requests from this peer; try again in ${Math.ceil(waitMs / 1000)}s`,
  );
}

/** The open order a group would get (what the chain's `deployment.create` opens), for the engine. */
export function screeningOrder(group: Group, gseq: number, height: number): OrderInfo {
  return {
    id: `screen/0/${gseq}/1`,
    owner: "screen",
    dseq: 0,
    gseq,
    oseq: 1,
    state: "open",
    maxPrice: { denom: group.units[0]!.price.denom, amount: formatScaled(groupMaxPrice(group)) },
    createdAt: height,
    closesAt: height,
    group,
    bids: 0,
  };
}
