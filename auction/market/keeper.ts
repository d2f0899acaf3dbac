/**
 * The marketplace state machine (pure, synchronous, deterministic): tx handlers and the per-block
 * steps, over a {@link MarketStore}.
 *
 * State (canonical CBOR values, printable keys under `mkt/`):
 * - `mkt/provider/<addr>`                          ProviderRecord
 * - `mkt/deployment/<owner>/<dseq>`                DeploymentRecord (with its groups)
 * - `mkt/escrow/<owner>/<dseq>`                    EscrowRecord (balance held in custody)
 * - `mkt/order/<owner>/<dseq>/<gseq>/<oseq>`       OrderRecord (bidders in arrival order)
 * - `mkt/bid/<order id>/<provider>`                BidRecord (deposit held while open/active)
 * - `mkt/lease/<order id>/<provider>`              LeaseRecord
 * - `mkt/audit/<provider>/<auditor>`               AttestationRecord (attributes the auditor signed)
 * - `mkt/idx/orderclose/<H>`                       [order id...] whose bid window ends at H
 * - `mkt/idx/exhaust/<H>`                          ["owner/dseq"...] whose escrow runs out at H
 *
 * Scale: no step scans state. A tx touches its own records; beginBlock(H) reads the one exhaust
 * bucket of H, endBlock(H) the one order bucket of H.
 *
 * Escrow settles lazily: a lease created at height c with scaled price p has been owed
 * floor(p x (h - c) / 10^18) in total at height h; the escrow pays what is owed when touched
 * (deposit, lease create/close, deployment close) and records `settledAt`. `exhaustAt` is the first
 * height whose cumulative owed exceeds the balance; at beginBlock(exhaustAt) the escrow pays through
 * exhaustAt-1, then its leases close as insufficient_funds, its deployment closes, and the
 * remainder (less than one block's price) is refunded to the owner.
 * @module
 */
import { decode, encode } from "cborg";
import type { Attribute, Group, SignedBy } from "../sdl/types.ts";
import { formatScaled, owedAfter, parseScaled } from "./decimal.ts";
import { parseUint } from "../../lib/units.ts";
import {
  type AttestationRecord,
  type BidRecord,
  type CloseReason,
  type DeploymentRecord,
  type EscrowRecord,
  type LeaseRecord,
  MarketError,
  type MarketParams,
  type MarketReader,
  type MarketStore,
  type OrderRecord,
  type ProviderRecord,
} from "./types.ts";
import { bodyValidators, groupMaxPrice } from "./validate.ts";
import {
  type BidId,
  bidIdOf,
  deploymentIdOf,
  type OrderId,
  orderIdOf,
  parseBidId,
  parseOrderId,
} from "../../lib/ids.ts";

/** State keys of the marketplace. */
export const marketKeys = {
  provider: (addr: string): string => `mkt/provider/${addr}`,
  deployment: (owner: string, dseq: number): string => `mkt/deployment/${owner}/${dseq}`,
  escrow: (owner: string, dseq: number): string => `mkt/escrow/${owner}/${dseq}`,
  order: (id: OrderId): string => `mkt/order/${orderIdOf(id)}`,
  bid: (id: BidId): string => `mkt/bid/${bidIdOf(id)}`,
  lease: (id: BidId): string => `mkt/lease/${bidIdOf(id)}`,
  audit: (provider: string, auditor: string): string => `mkt/audit/${provider}/${auditor}`,
  orderClose: (h: number): string => `mkt/idx/orderclose/${h}`,
  exhaust: (h: number): string => `mkt/idx/exhaust/${h}`,
};
const K = marketKeys;

// ---------------------------------------------------------------------------------------------------
// record io

function strip<T extends object>(v: T): T {
  if (Array.isArray(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = x;
  return out as T;
}

/** Reads and decodes a record; undefined when absent. */
export function readRecord<T>(s: MarketReader, key: string): T | undefined {
  const b = s.get(key);
  return b === undefined ? undefined : (decode(b) as T);
}

function write(s: MarketStore, key: string, v: object): void {
  s.set(key, new Uint8Array(encode(strip(v))));
}

function must<T>(s: MarketReader, key: string, what: string): T {
  const v = readRecord<T>(s, key);
  if (v === undefined) throw new Error(`corrupt marketplace state: ${what} missing (${key})`);
  return v;
}

function idxAdd(s: MarketStore, key: string, item: string): void {
  const list = readRecord<string[]>(s, key) ?? [];
  if (!list.includes(item)) list.push(item);
  write(s, key, list);
}

function idxRemove(s: MarketStore, key: string, item: string): void {
  const list = readRecord<string[]>(s, key);
  if (!list) return;
  const rest = list.filter((x) => x !== item);
  if (rest.length === list.length) return;
  if (rest.length === 0) s.delete(key);
  else write(s, key, rest);
}

function fail(reason: string): never {
  throw new MarketError(reason);
}

const dec = (v: bigint): string => v.toString();
const money = (scaled: bigint, denom: string): string => `${formatScaled(scaled)} ${denom}`;

// ---------------------------------------------------------------------------------------------------
// escrow

interface LeaseRate {
  price: bigint;
  createdAt: bigint;
  paid: bigint;
}

function leaseRates(s: MarketReader, esc: EscrowRecord): { id: BidId; rec: LeaseRecord; rate: LeaseRate }[] {
  return esc.leases.map((lid) => {
    const id = parseBidId(lid)!;
    const rec = must<LeaseRecord>(s, K.lease(id), "lease");
    return {
      id,
      rec,
      rate: { price: BigInt(rec.price), createdAt: BigInt(rec.createdAt), paid: BigInt(rec.paid) },
    };
  });
}

function owedAt(rates: readonly LeaseRate[], h: bigint): bigint {
  let sum = 0n;
  for (const r of rates) sum += owedAfter(r.price, h - r.createdAt) - r.paid;
  return sum;
}

/**
 * First height after `settledAt` at which the leases' cumulative owed exceeds `balance`; null when
 * there are no leases or that height is beyond 2^53 - 1. O(leases x log(blocks)).
 */
export function exhaustionHeight(
  rates: readonly LeaseRate[],
  settledAt: number,
  balance: bigint,
): number | null {
  if (rates.length === 0) return null;
  const s = BigInt(settledAt);
  const cap = BigInt(Number.MAX_SAFE_INTEGER);
  let lo = s, hi = s + 1n;
  while (owedAt(rates, hi) <= balance) {
    lo = hi;
    hi = s + (hi - s) * 2n;
    if (hi >= cap) {
      if (owedAt(rates, cap) <= balance) return null;
      hi = cap;
      break;
    }
  }
  while (hi - lo > 1n) {
    const mid = (lo + hi) / 2n;
    if (owedAt(rates, mid) <= balance) lo = mid;
    else hi = mid;
  }
  return Number(hi);
}

/** The escrow's rates, for queries. */
export function escrowRates(s: MarketReader, esc: EscrowRecord): LeaseRate[] {
  return leaseRates(s, esc).map((l) => l.rate);
}

/** Pays every active lease what it is owed through height `to` (caller ensures `to < exhaustAt`). */
function settle(s: MarketStore, owner: string, dseq: number, to: number): void {
  const esc = must<EscrowRecord>(s, K.escrow(owner, dseq), "escrow");
  if (esc.state !== "open" || to <= esc.settledAt) return;
  let total = 0n;
  for (const l of leaseRates(s, esc)) {
    const owed = owedAfter(l.rate.price, BigInt(to) - l.rate.createdAt) - l.rate.paid;
    if (owed > 0n) {
      s.credit(l.id.provider, owed);
      write(s, K.lease(l.id), { ...l.rec, paid: dec(l.rate.paid + owed) });
      total += owed;
    }
  }
  const balance = BigInt(esc.balance) - total;
  if (balance < 0n) throw new Error(`escrow ${owner}/${dseq} would go negative`);
  write(s, K.escrow(owner, dseq), {
    ...esc,
    balance: dec(balance),
    transferred: dec(BigInt(esc.transferred) + total),
    settledAt: to,
  });
  if (total > 0n) {
    s.emit("payment", {
      deployment: deploymentIdOf(owner, dseq),
      owner,
      dseq: String(dseq),
      amount: dec(total),
      denom: esc.denom,
      leases: String(esc.leases.length),
      through: String(to),
    });
  }
}

/** Recomputes `exhaustAt` from the escrow's current balance and leases, moving its index entry. */
function reindexExhaust(s: MarketStore, owner: string, dseq: number): void {
  const esc = must<EscrowRecord>(s, K.escrow(owner, dseq), "escrow");
  const did = deploymentIdOf(owner, dseq);
  const next = esc.state === "open"
    ? exhaustionHeight(leaseRates(s, esc).map((l) => l.rate), esc.settledAt, BigInt(esc.balance))
    : null;
  if (next === esc.exhaustAt) return;
  if (esc.exhaustAt !== null) idxRemove(s, K.exhaust(esc.exhaustAt), did);
  if (next !== null) idxAdd(s, K.exhaust(next), did);
  write(s, K.escrow(owner, dseq), { ...esc, exhaustAt: next });
}

/**
 * Brings an escrow up to the current height: settles through it, or — if its exhaustion height has
 * already come (possible only in a mempool dry run, which skips the block steps) — runs the exhaustion
 * first, exactly as beginBlock would have.
 */
function touch(s: MarketStore, owner: string, dseq: number): void {
  const esc = must<EscrowRecord>(s, K.escrow(owner, dseq), "escrow");
  if (esc.state !== "open") return;
  if (esc.exhaustAt !== null && esc.exhaustAt <= s.height) exhaust(s, owner, dseq, esc.exhaustAt);
  else settle(s, owner, dseq, s.height);
}

function exhaust(s: MarketStore, owner: string, dseq: number, at: number): void {
  settle(s, owner, dseq, at - 1);
  closeDeployment(s, owner, dseq, "insufficient_funds", at);
}

// ---------------------------------------------------------------------------------------------------
// closing

function refundBid(s: MarketStore, id: BidId, bid: BidRecord, state: "lost" | "closed", at: number): void {
  s.credit(id.provider, BigInt(bid.deposit));
  write(s, K.bid(id), { ...bid, state, closedAt: at });
  if (state === "lost") s.emit("bid.lost", { bid: bidIdOf(id), order: orderIdOf(id), provider: id.provider });
  else s.emit("bid.closed", { bid: bidIdOf(id), order: orderIdOf(id), provider: id.provider });
}

/** Closes an order and all of its open bids (deposits refunded); removes it from the window index. */
function closeOrder(s: MarketStore, oid: OrderId, at: number): void {
  const order = must<OrderRecord>(s, K.order(oid), "order");
  if (order.state === "closed") return;
  if (order.state === "open" && order.closesAt > 0) {
    idxRemove(s, K.orderClose(order.closesAt), orderIdOf(oid));
  }
  for (const p of order.bids) {
    const bid = must<BidRecord>(s, K.bid({ ...oid, provider: p }), "bid");
    if (bid.state === "open") refundBid(s, { ...oid, provider: p }, bid, "closed", at);
  }
  write(s, K.order(oid), { ...order, state: "closed", closedAt: at });
  s.emit("order.closed", { order: orderIdOf(oid) });
}

/**
 * Ends one lease (escrow must already be settled through `at` or `at - 1`): lease, its bid (deposit
 * refunded) and order close. Does not touch the group or the escrow's lease list.
 */
function endLease(s: MarketStore, id: BidId, at: number, reason: CloseReason): void {
  const lease = must<LeaseRecord>(s, K.lease(id), "lease");
  const state = reason === "insufficient_funds" ? "insufficient_funds" : "closed";
  write(s, K.lease(id), { ...lease, state, reason, closedAt: at });
  const bid = must<BidRecord>(s, K.bid(id), "bid");
  if (bid.state === "active") refundBid(s, id, bid, "closed", at);
  closeOrder(s, id, at);
  s.emit("lease.closed", {
    lease: bidIdOf(id),
    owner: id.owner,
    dseq: String(id.dseq),
    gseq: String(id.gseq),
    oseq: String(id.oseq),
    provider: id.provider,
    reason,
    state,
    paid: lease.paid,
  });
}

/** Closes a whole deployment at `at` (escrow settled by the caller): leases, orders, bids, groups, refund. */
function closeDeployment(
  s: MarketStore,
  owner: string,
  dseq: number,
  reason: "owner" | "insufficient_funds" | "groups_closed",
  at: number,
): void {
  const dep = must<DeploymentRecord>(s, K.deployment(owner, dseq), "deployment");
  const esc = must<EscrowRecord>(s, K.escrow(owner, dseq), "escrow");
  const leaseReason: CloseReason = reason === "insufficient_funds"
    ? "insufficient_funds"
    : "deployment_closed";
  for (const lid of esc.leases) endLease(s, parseBidId(lid)!, at, leaseReason);
  for (const g of dep.groups) {
    if (g.state !== "closed") closeOrder(s, { owner, dseq, gseq: g.gseq, oseq: g.oseq }, at);
  }
  const groupState = reason === "insufficient_funds" ? "insufficient_funds" : "closed";
  const groups = dep.groups.map((g) => (g.state === "closed" ? g : { ...g, state: groupState }));
  write(s, K.deployment(owner, dseq), {
    ...dep,
    state: "closed",
    reason,
    closedAt: at,
    updatedAt: at,
    groups,
  });
  const refund = BigInt(esc.balance);
  if (refund > 0n) s.credit(owner, refund);
  if (esc.exhaustAt !== null) idxRemove(s, K.exhaust(esc.exhaustAt), deploymentIdOf(owner, dseq));
  write(s, K.escrow(owner, dseq), {
    ...esc,
    state: "closed",
    balance: "0",
    refunded: dec(BigInt(esc.refunded) + refund),
    exhaustAt: null,
    leases: [],
  });
  s.emit("deployment.closed", {
    deployment: deploymentIdOf(owner, dseq),
    owner,
    dseq: String(dseq),
    reason,
    refund: dec(refund),
    denom: esc.denom,
  });
}

/** Closes one active lease by tenant or provider at the current height. */
function closeLease(s: MarketStore, id: BidId, reason: "owner" | "provider"): void {
  touch(s, id.owner, id.dseq);
  const lease = must<LeaseRecord>(s, K.lease(id), "lease");
  if (lease.state !== "active") return; // closed by the exhaustion that touch() just ran
  const h = s.height;
  endLease(s, id, h, reason);
  const esc = must<EscrowRecord>(s, K.escrow(id.owner, id.dseq), "escrow");
  write(s, K.escrow(id.owner, id.dseq), { ...esc, leases: esc.leases.filter((x) => x !== bidIdOf(id)) });
  reindexExhaust(s, id.owner, id.dseq);
  const dep = must<DeploymentRecord>(s, K.deployment(id.owner, id.dseq), "deployment");
  const groups = dep.groups.map((g) => (g.gseq === id.gseq ? { ...g, state: "closed" as const } : g));
  write(s, K.deployment(id.owner, id.dseq), { ...dep, groups, updatedAt: h });
  if (groups.every((g) => g.state === "closed")) closeDeployment(s, id.owner, id.dseq, "groups_closed", h);
}

// ---------------------------------------------------------------------------------------------------
// leases

/** Creates the lease of `bidId` on its open order at the current height; other open bids lose. */
function createLease(s: MarketStore, bidId: BidId): void {
  const h = s.height;
  touch(s, bidId.owner, bidId.dseq);
  const order = must<OrderRecord>(s, K.order(bidId), "order");
  if (order.state !== "open") fail(`order ${orderIdOf(bidId)} is not open (state ${order.state})`);
  if (order.closesAt > 0) idxRemove(s, K.orderClose(order.closesAt), orderIdOf(bidId));
  write(s, K.order(bidId), { ...order, state: "active" });
  for (const p of order.bids) {
    const id = { ...bidId, provider: p };
    const bid = must<BidRecord>(s, K.bid(id), "bid");
    if (p === bidId.provider) write(s, K.bid(id), { ...bid, state: "active" });
    else if (bid.state === "open") refundBid(s, id, bid, "lost", h);
  }
  const win = must<BidRecord>(s, K.bid(bidId), "bid");
  const lease: LeaseRecord = { state: "active", denom: win.denom, price: win.price, createdAt: h, paid: "0" };
  write(s, K.lease(bidId), lease);
  const esc = must<EscrowRecord>(s, K.escrow(bidId.owner, bidId.dseq), "escrow");
  write(s, K.escrow(bidId.owner, bidId.dseq), { ...esc, leases: [...esc.leases, bidIdOf(bidId)] });
  reindexExhaust(s, bidId.owner, bidId.dseq);
  s.emit("lease.created", {
    lease: bidIdOf(bidId),
    owner: bidId.owner,
    dseq: String(bidId.dseq),
    gseq: String(bidId.gseq),
    oseq: String(bidId.oseq),
    provider: bidId.provider,
    price: formatScaled(BigInt(win.price)),
    denom: win.denom,
  });
}

// ---------------------------------------------------------------------------------------------------
// placement

function gpuCapabilities(
  p: ProviderRecord,
): { vendor: string; model: string; ram?: string; iface?: string }[] {
  const out = [];
  for (const a of p.attributes) {
    if (a.value !== "true") continue;
    const m =
      /^capabilities\/gpu\/vendor\/([^/]+)\/model\/([^/]+)(?:\/ram\/([^/]+))?(?:\/interface\/([^/]+))?$/
        .exec(a.key);
    if (m) out.push({ vendor: m[1]!, model: m[2]!, ram: m[3], iface: m[4] });
  }
  return out;
}

/** Why provider `addr` does not satisfy `group`'s placement (attributes and gpu capabilities), or null. */
export function placementProblem(addr: string, p: ProviderRecord, group: Group): string | null {
  const have = new Map(p.attributes.map((a) => [a.key, a.value]));
  for (const req of group.requirements.attributes) {
    const v = have.get(req.key);
    if (v !== req.value) {
      return `provider ${addr} does not satisfy the placement of group ${group.name}: requires ${req.key}=${req.value}` +
        (v === undefined ? " (provider lacks it)" : ` (provider has ${req.key}=${v})`);
    }
  }
  const caps = gpuCapabilities(p);
  for (const u of group.units) {
    if (u.gpu.units === 0) continue;
    const ok = u.gpu.attributes.length === 0
      ? caps.length > 0
      : u.gpu.attributes.some((g) =>
        caps.some((c) =>
          c.vendor === g.vendor && (g.model === "*" || c.model === g.model) &&
          (g.ram === undefined || c.ram === g.ram) && (g.interface === undefined || c.iface === g.interface)
        )
      );
    if (!ok) {
      const want = u.gpu.attributes.map((g) => `capabilities/gpu/vendor/${g.vendor}/model/${g.model}`).join(
        " or ",
      );
      return `provider ${addr} does not satisfy the placement of group ${group.name}: unit ${u.id} needs gpu ${
        want || "capabilities/gpu/..."
      }=true`;
    }
  }
  return null;
}

/** The attributes `auditor` has attested for `provider`, or undefined (no attestation). */
export function attestationOf(
  view: MarketReader,
  provider: string,
  auditor: string,
): AttestationRecord["attributes"] | undefined {
  return readRecord<AttestationRecord>(view, K.audit(provider, auditor))?.attributes;
}

/**
 * Akash's signedBy rule. With R = `requirements.attributes` and S = `requirements.signedBy`, provider
 * `addr` satisfies S when every auditor of `allOf` and at least one auditor of `anyOf` (an empty list
 * imposes nothing) has attested `addr` for every attribute of R with the same key and value; when R is
 * empty, any attestation by the auditor counts. Returns why not, or null. Pure: reads only
 * `mkt/audit/<addr>/<auditor>` through `view`.
 */
export function signedByProblem(
  view: MarketReader,
  addr: string,
  requirements: { attributes: readonly Attribute[]; signedBy: SignedBy },
): string | null {
  const want = requirements.attributes;
  /** The required attributes `auditor` has not attested as "k=v" (["any attribute"] when R is empty). */
  const missing = (auditor: string): string[] => {
    const have = attestationOf(view, addr, auditor);
    if (want.length === 0) return have && have.length > 0 ? [] : ["any attribute"];
    const m = new Map((have ?? []).map((a) => [a.key, a.value]));
    return want.filter((a) => m.get(a.key) !== a.value).map((a) => `${a.key}=${a.value}`);
  };
  for (const auditor of new Set(requirements.signedBy.allOf)) {
    const m = missing(auditor);
    if (m.length > 0) {
      return `provider ${addr} lacks attestations from auditor ${auditor} for ${m.join(", ")}`;
    }
  }
  const anyOf = [...new Set(requirements.signedBy.anyOf)];
  if (anyOf.length > 0 && !anyOf.some((a) => missing(a).length === 0)) {
    const all = want.length === 0 ? "any attribute" : want.map((a) => `${a.key}=${a.value}`).join(", ");
    return anyOf.length === 1
      ? `provider ${addr} lacks attestations from auditor ${anyOf[0]} for ${all}`
      : `provider ${addr} lacks attestations from any of auditors ${anyOf.join(", ")} for ${all}`;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------------
// tx handlers

type Body = Record<string, unknown>;
type Handler = (s: MarketStore, p: MarketParams, from: string, body: Body) => void;

function denomAccepted(p: MarketParams, denom: string, what: string): void {
  if (!p.denoms.includes(denom)) {
    fail(`${what}: denom ${denom} is not accepted by this chain (accepted: ${p.denoms.join(", ")})`);
  }
}

function fundingDenom(s: MarketStore, p: MarketParams, denom: string, what: string): void {
  denomAccepted(p, denom, what);
  if (denom !== s.baseDenom) {
    fail(`${what}: denom ${denom} cannot be deposited (accounts hold only ${s.baseDenom})`);
  }
}

function activeDeployment(s: MarketStore, owner: string, dseq: number): DeploymentRecord {
  const dep = readRecord<DeploymentRecord>(s, K.deployment(owner, dseq));
  if (!dep) {
    fail(`deployment ${owner}/${dseq} not found (deployments are addressed by the sender's own address)`);
  }
  if (dep!.state !== "active") fail(`deployment ${owner}/${dseq} is closed`);
  return dep!;
}

function providerRecord(body: Body, createdAt: number, h: number): ProviderRecord {
  const info = (body.info ?? {}) as ProviderRecord["info"];
  return {
    hostUri: body.hostUri as string[],
    attributes: body.attributes as ProviderRecord["attributes"],
    info: strip(info),
    createdAt,
    updatedAt: h,
  };
}

const handlers: Record<string, Handler> = {
  "provider.create"(s, _p, from, body) {
    if (s.get(K.provider(from))) fail(`provider ${from} already exists (use provider.update)`);
    write(s, K.provider(from), providerRecord(body, s.height, s.height));
    s.emit("provider.created", { provider: from });
  },
  "provider.update"(s, _p, from, body) {
    const old = readRecord<ProviderRecord>(s, K.provider(from));
    if (!old) fail(`provider ${from} is not registered (use provider.create)`);
    write(s, K.provider(from), providerRecord(body, old!.createdAt, s.height));
    s.emit("provider.updated", { provider: from });
  },
  "deployment.create"(s, p, from, body) {
    const h = s.height;
    const dseq = (body.dseq as number | undefined) ?? h;
    const groups = body.groups as Group[];
    const deposit = body.deposit as { denom: string; amount: string };
    if (s.get(K.deployment(from, dseq))) fail(`deployment ${from}/${dseq} already exists`);
    if (groups.length > p.groupsPerDeploymentMax) {
      fail(`body.groups: at most ${p.groupsPerDeploymentMax} groups per deployment, got ${groups.length}`);
    }
    const denom = groups[0]!.units[0]!.price.denom;
    denomAccepted(p, denom, "body.groups price");
    fundingDenom(s, p, deposit.denom, "body.deposit");
    if (deposit.denom !== denom) {
      fail(`body.deposit: denom ${deposit.denom} differs from the prices' denom ${denom}`);
    }
    const amount = BigInt(deposit.amount);
    if (amount < BigInt(p.minDeposit)) {
      fail(
        `body.deposit: ${amount} ${deposit.denom} is below the minimum deposit ${p.minDeposit} ${deposit.denom}`,
      );
    }
    s.debit(from, amount);
    const closesAt = h + p.bidWindowBlocks;
    const dep: DeploymentRecord = {
      state: "active",
      manifestHash: body.manifestHash as string,
      denom,
      createdAt: h,
      updatedAt: h,
      groups: groups.map((g, i) => ({ gseq: i + 1, state: "open", spec: g, oseq: 1 })),
    };
    write(s, K.deployment(from, dseq), dep);
    const esc: EscrowRecord = {
      state: "open",
      denom,
      balance: dec(amount),
      deposited: dec(amount),
      transferred: "0",
      refunded: "0",
      settledAt: h,
      exhaustAt: null,
      leases: [],
    };
    write(s, K.escrow(from, dseq), esc);
    s.emit("deployment.created", {
      deployment: deploymentIdOf(from, dseq),
      owner: from,
      dseq: String(dseq),
      manifestHash: dep.manifestHash,
      deposit: dec(amount),
      denom,
      groups: String(groups.length),
    });
    groups.forEach((g, i) => {
      const oid = { owner: from, dseq, gseq: i + 1, oseq: 1 };
      const maxPrice = groupMaxPrice(g);
      const order: OrderRecord = {
        state: "open",
        denom,
        maxPrice: dec(maxPrice),
        createdAt: h,
        closesAt,
        bids: [],
      };
      write(s, K.order(oid), order);
      idxAdd(s, K.orderClose(closesAt), orderIdOf(oid));
      s.emit("order.opened", {
        order: orderIdOf(oid),
        owner: from,
        dseq: String(dseq),
        gseq: String(i + 1),
        oseq: "1",
        group: g.name,
        maxPrice: formatScaled(maxPrice),
        denom,
        closesAt: String(closesAt),
      });
    });
  },
  "deployment.update"(s, _p, from, body) {
    const dseq = body.dseq as number;
    const dep = activeDeployment(s, from, dseq);
    if (body.groups !== undefined) {
      const want = encode(dep.groups.map((g) => g.spec));
      const got = encode(body.groups);
      if (want.length !== got.length || want.some((b, i) => b !== got[i])) {
        fail(
          `body.groups: differ from the deployment's groups; resources, counts, placement and prices cannot change (close and re-create the deployment)`,
        );
      }
    }
    write(s, K.deployment(from, dseq), {
      ...dep,
      manifestHash: body.manifestHash as string,
      updatedAt: s.height,
    });
    s.emit("deployment.updated", {
      deployment: deploymentIdOf(from, dseq),
      owner: from,
      dseq: String(dseq),
      manifestHash: body.manifestHash as string,
    });
  },
  "deployment.deposit"(s, _p, from, body) {
    const dseq = body.dseq as number;
    activeDeployment(s, from, dseq);
    touch(s, from, dseq);
    activeDeployment(s, from, dseq); // the touch may have run an overdue exhaustion (dry runs only)
    const amount = BigInt(body.amount as string);
    s.debit(from, amount);
    const esc = must<EscrowRecord>(s, K.escrow(from, dseq), "escrow");
    write(s, K.escrow(from, dseq), {
      ...esc,
      balance: dec(BigInt(esc.balance) + amount),
      deposited: dec(BigInt(esc.deposited) + amount),
    });
    reindexExhaust(s, from, dseq);
    s.emit("deployment.deposit", {
      deployment: deploymentIdOf(from, dseq),
      owner: from,
      dseq: String(dseq),
      amount: dec(amount),
      denom: esc.denom,
    });
  },
  "deployment.close"(s, _p, from, body) {
    const dseq = body.dseq as number;
    activeDeployment(s, from, dseq);
    touch(s, from, dseq);
    activeDeployment(s, from, dseq);
    closeDeployment(s, from, dseq, "owner", s.height);
  },
  "bid.create"(s, p, from, body) {
    const oid = parseOrderId(body.order)!;
    const oidStr = orderIdOf(oid);
    const price = body.price as { denom: string; amount: string };
    const order = readRecord<OrderRecord>(s, K.order(oid));
    if (!order) fail(`order ${oidStr} not found`);
    if (order!.state !== "open") fail(`order ${oidStr} is not open (state ${order!.state})`);
    const prov = readRecord<ProviderRecord>(s, K.provider(from));
    if (!prov) fail(`provider ${from} is not registered (send provider.create first)`);
    denomAccepted(p, price.denom, "body.price");
    if (price.denom !== order!.denom) {
      fail(`body.price: denom ${price.denom} differs from the order's denom ${order!.denom}`);
    }
    const amount = parseScaled(price.amount)!;
    const max = BigInt(order!.maxPrice);
    if (amount > max) {
      fail(
        `body.price: ${money(amount, price.denom)} exceeds the order's max price ${money(max, order!.denom)}`,
      );
    }
    if (order!.bids.includes(from)) fail(`provider ${from} already bid on order ${oidStr}`);
    if (order!.bids.length >= p.bidsPerOrderMax) {
      fail(`order ${oidStr} already has the maximum of ${p.bidsPerOrderMax} bids`);
    }
    const dep = must<DeploymentRecord>(s, K.deployment(oid.owner, oid.dseq), "deployment");
    const group = dep.groups.find((g) => g.gseq === oid.gseq);
    if (!group) throw new Error(`corrupt marketplace state: group of ${oidStr} missing`);
    const bad = placementProblem(from, prov!, group.spec) ??
      signedByProblem(s, from, group.spec.requirements);
    if (bad) fail(bad);
    const deposit = (body.deposit as { denom: string; amount: string } | undefined) ??
      { denom: s.baseDenom, amount: p.bidDeposit };
    fundingDenom(s, p, deposit.denom, "body.deposit");
    const dAmount = parseUint(deposit.amount)!;
    if (dAmount < BigInt(p.bidDeposit)) {
      fail(
        `body.deposit: ${dAmount} ${deposit.denom} is below the bid deposit ${p.bidDeposit} ${deposit.denom}`,
      );
    }
    s.debit(from, dAmount);
    const id = { ...oid, provider: from };
    const bid: BidRecord = {
      state: "open",
      denom: price.denom,
      price: dec(amount),
      deposit: dec(dAmount),
      depositDenom: deposit.denom,
      createdAt: s.height,
    };
    write(s, K.bid(id), bid);
    // An order whose window ended without bids waits (no index entry, no work per block); the first
    // bid after that starts a new window.
    let closesAt = order!.closesAt;
    if (closesAt === 0) {
      closesAt = s.height + p.bidWindowBlocks;
      idxAdd(s, K.orderClose(closesAt), oidStr);
    }
    write(s, K.order(oid), { ...order!, bids: [...order!.bids, from], closesAt });
    s.emit("bid.placed", {
      bid: bidIdOf(id),
      order: oidStr,
      owner: oid.owner,
      provider: from,
      price: formatScaled(amount),
      denom: price.denom,
      deposit: dec(dAmount),
      closesAt: String(closesAt),
    });
  },
  "bid.close"(s, _p, from, body) {
    const id = parseBidId(body.bid)!;
    if (id.provider !== from) fail(`only the bid's provider ${id.provider} can close bid ${bidIdOf(id)}`);
    const bid = readRecord<BidRecord>(s, K.bid(id));
    if (!bid) fail(`bid ${bidIdOf(id)} not found`);
    if (bid!.state === "active") return closeLease(s, id, "provider");
    if (bid!.state !== "open") fail(`bid ${bidIdOf(id)} is not open (state ${bid!.state})`);
    refundBid(s, id, bid!, "closed", s.height);
  },
  "lease.create"(s, _p, from, body) {
    const id = parseBidId(body.bid)!;
    const bid = readRecord<BidRecord>(s, K.bid(id));
    if (!bid) fail(`bid ${bidIdOf(id)} not found`);
    if (from !== id.owner) {
      fail(`only the deployment owner ${id.owner} can create a lease for bid ${bidIdOf(id)}`);
    }
    if (bid!.state !== "open") fail(`bid ${bidIdOf(id)} is not open (state ${bid!.state})`);
    createLease(s, id);
  },
  "lease.close"(s, _p, from, body) {
    const id = parseBidId(body.lease)!;
    const lease = readRecord<LeaseRecord>(s, K.lease(id));
    if (!lease) fail(`lease ${bidIdOf(id)} not found`);
    if (from !== id.owner && from !== id.provider) {
      fail(`only the deployment owner or the provider can close lease ${bidIdOf(id)}`);
    }
    if (lease!.state !== "active") fail(`lease ${bidIdOf(id)} is not active (state ${lease!.state})`);
    closeLease(s, id, from === id.owner ? "owner" : "provider");
  },
  "audit.attest"(s, _p, from, body) {
    const provider = body.provider as string;
    if (!s.get(K.provider(provider))) fail(`provider ${provider} is not registered`);
    const attributes = [...(body.attributes as AttestationRecord["attributes"])]
      .map((a) => ({ key: a.key, value: a.value }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const rec: AttestationRecord = { attributes, height: s.height };
    write(s, K.audit(provider, from), rec);
    s.emit("audit.attested", {
      provider,
      auditor: from,
      attributes: attributes.map((a) => `${a.key}=${a.value}`).join(","),
    });
  },
  "audit.revoke"(s, _p, from, body) {
    const provider = body.provider as string;
    const key = K.audit(provider, from);
    const rec = readRecord<AttestationRecord>(s, key);
    if (!rec) fail(`auditor ${from} has no attestation of provider ${provider}`);
    const keys = body.keys as string[] | undefined;
    let rest: AttestationRecord["attributes"] = [];
    if (keys) {
      const attested = new Set(rec!.attributes.map((a) => a.key));
      const absent = keys.find((k) => !attested.has(k));
      if (absent !== undefined) fail(`auditor ${from} has not attested ${absent} of provider ${provider}`);
      rest = rec!.attributes.filter((a) => !keys.includes(a.key));
    }
    if (rest.length === 0) s.delete(key);
    else write(s, key, { attributes: rest, height: s.height });
    const removed = keys ?? rec!.attributes.map((a) => a.key);
    s.emit("audit.revoked", {
      provider,
      auditor: from,
      keys: removed.join(","),
      remaining: String(rest.length),
    });
  },
};

/**
 * Executes a marketplace tx (body already validated by {@link bodyValidators}). Throws
 * {@link MarketError} to reject; the caller must then discard every write.
 */
export function applyMarketTx(
  s: MarketStore,
  params: MarketParams,
  type: string,
  from: string,
  body: Body,
): void {
  const h = handlers[type];
  if (!h) throw new MarketError(`unknown marketplace tx type ${type}`);
  const bad = bodyValidators[type]!(body);
  if (bad) throw new MarketError(bad);
  h(s, params, from, body);
}

/** Addresses a marketplace tx concerns besides its sender (for the by-address tx index). */
export function marketTxAddresses(type: string, body: Body): string[] {
  if (type === "bid.create") {
    const o = parseOrderId(body.order);
    return o ? [o.owner] : [];
  }
  if (type === "audit.attest" || type === "audit.revoke") {
    return typeof body.provider === "string" ? [body.provider] : [];
  }
  const id = parseBidId(body.bid ?? body.lease);
  return id && ["bid.close", "lease.create", "lease.close"].includes(type) ? [id.owner, id.provider] : [];
}

// ---------------------------------------------------------------------------------------------------
// block steps

/** Start of block H: escrows that run out at H pay through H-1 and close their leases (insufficient_funds). */
export function marketBeginBlock(s: MarketStore): void {
  const h = s.height;
  const key = K.exhaust(h);
  const due = readRecord<string[]>(s, key) ?? [];
  for (const did of due) {
    const i = did.lastIndexOf("/");
    const owner = did.slice(0, i), dseq = Number(did.slice(i + 1));
    const esc = readRecord<EscrowRecord>(s, K.escrow(owner, dseq));
    if (esc?.state === "open" && esc.exhaustAt === h) exhaust(s, owner, dseq, h);
  }
  if (due.length > 0) s.delete(key);
}

/**
 * End of block H: orders whose bid window ends at H pick a winner (lowest price; ties: earliest bid
 * height, then provider address) and get a lease; an order without open bids stays open another window.
 */
export function marketEndBlock(s: MarketStore): void {
  const h = s.height;
  const key = K.orderClose(h);
  const due = readRecord<string[]>(s, key) ?? [];
  if (due.length === 0) return;
  s.delete(key);
  for (const oidStr of due) {
    const oid = parseOrderId(oidStr)!;
    const order = readRecord<OrderRecord>(s, K.order(oid));
    if (!order || order.state !== "open" || order.closesAt !== h) continue;
    const open: { provider: string; bid: BidRecord }[] = [];
    for (const provider of order.bids) {
      const bid = must<BidRecord>(s, K.bid({ ...oid, provider }), "bid");
      if (bid.state === "open") open.push({ provider, bid });
    }
    if (open.length === 0) {
      // No bids: the order stays open and waits for one (closesAt 0); it costs nothing per block
      // until the next bid starts a new window (see bid.create).
      write(s, K.order(oid), { ...order, closesAt: 0 });
      s.emit("order.reopened", { order: oidStr, closesAt: "0" });
      continue;
    }
    open.sort((a, b) => {
      const pa = BigInt(a.bid.price), pb = BigInt(b.bid.price);
      if (pa !== pb) return pa < pb ? -1 : 1;
      if (a.bid.createdAt !== b.bid.createdAt) return a.bid.createdAt - b.bid.createdAt;
      return a.provider < b.provider ? -1 : a.provider > b.provider ? 1 : 0;
    });
    createLease(s, { ...oid, provider: open[0]!.provider });
  }
}

/** Funds the marketplace holds (open escrow balances + open/active bid deposits), by full scan. */
export function marketHeldFunds(
  view: { keys(prefix: string): string[]; get(k: string): Uint8Array | undefined },
): bigint {
  let sum = 0n;
  for (const k of view.keys("mkt/escrow/")) sum += BigInt(must<EscrowRecord>(view, k, "escrow").balance);
  for (const k of view.keys("mkt/bid/")) {
    const b = must<BidRecord>(view, k, "bid");
    if (b.state === "open" || b.state === "active") sum += BigInt(b.deposit);
  }
  return sum;
}
