/**
 * Escrow, settled lazily: a lease created at height c with scaled price p has been owed
 * floor(p x (h - c) / 10^18) in total at height h; the escrow pays what is owed when touched
 * (deposit, lease create/close, deployment close) and records `settledAt`. `exhaustAt` is the first
 * height whose cumulative owed exceeds the balance, kept in the `mkt/idx/exhaust/<H>` index; at
 * beginBlock(exhaustAt) the escrow pays through exhaustAt-1, then its leases close as
 * insufficient_funds, its deployment closes, and the remainder (less than one block's price) is
 * refunded to the owner (see closing.ts).
 *
 * `escrow.low`: an escrow with `lowBlocks` (the market's `escrowLowBlocks` when it was created) emits
 * it once when its runway falls to `lowBlocks` blocks: at `exhaustAt - lowBlocks`, indexed in
 * `mkt/idx/escrowlow/<H>` (read by beginBlock(H), never a scan), or at once when a change (a lease
 * created, a lease closed) leaves it already that low. A deposit that lifts the runway above the mark
 * again re-arms it (`low` false, a new `lowAt`).
 * @module
 */
import { type BidId, deploymentIdOf, parseBidId } from "../../lib/ids.ts";
import { owedAfter } from "./decimal.ts";
import { dec, indexAdd, indexRemove, marketKeys as K, mustRecord, writeRecord } from "./records.ts";
import type { EscrowRecord, LeaseRecord, MarketReader, MarketStore } from "./types.ts";

/** What one lease costs an escrow: scaled price per block, creation height, paid so far. */
export interface LeaseRate {
  price: bigint;
  createdAt: bigint;
  paid: bigint;
}

function leaseRates(s: MarketReader, esc: EscrowRecord): { id: BidId; rec: LeaseRecord; rate: LeaseRate }[] {
  return esc.leases.map((lid) => {
    const id = parseBidId(lid)!;
    const rec = mustRecord<LeaseRecord>(s, K.lease(id), "lease");
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
export function settle(s: MarketStore, owner: string, dseq: number, to: number): void {
  const esc = mustRecord<EscrowRecord>(s, K.escrow(owner, dseq), "escrow");
  if (esc.state !== "open" || to <= esc.settledAt) return;
  let total = 0n;
  for (const l of leaseRates(s, esc)) {
    const owed = owedAfter(l.rate.price, BigInt(to) - l.rate.createdAt) - l.rate.paid;
    if (owed > 0n) {
      s.credit(l.id.provider, owed);
      writeRecord(s, K.lease(l.id), { ...l.rec, paid: dec(l.rate.paid + owed) });
      total += owed;
    }
  }
  const balance = BigInt(esc.balance) - total;
  if (balance < 0n) throw new Error(`escrow ${owner}/${dseq} would go negative`);
  writeRecord(s, K.escrow(owner, dseq), {
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
export function reindexExhaust(s: MarketStore, owner: string, dseq: number): void {
  const esc = mustRecord<EscrowRecord>(s, K.escrow(owner, dseq), "escrow");
  const did = deploymentIdOf(owner, dseq);
  const next = esc.state === "open"
    ? exhaustionHeight(leaseRates(s, esc).map((l) => l.rate), esc.settledAt, BigInt(esc.balance))
    : null;
  if (next === esc.exhaustAt) return;
  if (esc.exhaustAt !== null) indexRemove(s, K.exhaust(esc.exhaustAt), did);
  if (next !== null) indexAdd(s, K.exhaust(next), did);
  const plan = lowPlan(esc.lowBlocks, next, s.height, esc.low === true);
  const oldLowAt = esc.lowAt ?? null;
  if (oldLowAt !== null && oldLowAt !== plan.lowAt) indexRemove(s, K.escrowLow(oldLowAt), did);
  if (plan.lowAt !== null && plan.lowAt !== oldLowAt) indexAdd(s, K.escrowLow(plan.lowAt), did);
  const low = esc.lowBlocks === undefined ? {} : { lowAt: plan.lowAt, low: plan.low };
  writeRecord(s, K.escrow(owner, dseq), { ...esc, exhaustAt: next, ...low });
  if (plan.emitNow && next !== null) emitEscrowLow(s, owner, dseq, next, esc.lowBlocks!);
}

/**
 * When an escrow's `escrow.low` is due (pure): with runway mark `lowBlocks` and exhaustion at
 * `exhaustAt`, seen at `height` (`wasLow`: already emitted for this crossing). `lowAt`: the height to
 * index (null: none pending); `emitNow`: the escrow is already under the mark and was not before.
 */
export function lowPlan(
  lowBlocks: number | undefined,
  exhaustAt: number | null,
  height: number,
  wasLow: boolean,
): { lowAt: number | null; low: boolean; emitNow: boolean } {
  if (lowBlocks === undefined || lowBlocks <= 0 || exhaustAt === null) {
    return { lowAt: null, low: false, emitNow: false };
  }
  const at = exhaustAt - lowBlocks;
  if (at > height) return { lowAt: at, low: false, emitNow: false };
  return { lowAt: null, low: true, emitNow: !wasLow };
}

/** Emits `escrow.low` for an escrow that runs out at `exhaustAt`. */
export function emitEscrowLow(
  s: MarketStore,
  owner: string,
  dseq: number,
  exhaustAt: number,
  lowBlocks: number,
): void {
  s.emit("escrow.low", {
    deployment: deploymentIdOf(owner, dseq),
    owner,
    dseq: String(dseq),
    blocksLeft: String(Math.max(0, exhaustAt - s.height)),
    exhaustAt: String(exhaustAt),
    threshold: String(lowBlocks),
  });
}
