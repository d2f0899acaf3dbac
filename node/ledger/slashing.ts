/**
 * Slashing: burning a fraction of a validator's stake as of an infraction height (its bonded tokens,
 * and the unbonding and redelegation entries that left it after that height), jailing, and the
 * downtime tracker (a sliding window of `signedBlocksWindow` blocks per validator, as a bitmap in
 * 64-bit chunks indexed by height mod window: O(1) per validator per block, and nothing written for a
 * validator that signs while it has no miss in the window).
 *
 * Slash amounts (exact bigint, floors): `tokens x fraction` from the validator (every delegation
 * shrinks with it, shares are untouched), `initial x fraction` (capped by what is left) from each
 * entry created after the infraction; for a redelegation, the matching shares of the destination
 * delegation. Everything slashed is burned (`bank/supply` decreases by it).
 * @module
 */
import { decode } from "cborg";
import { canonicalEncode } from "../../lib/cbor.ts";
import type { ApplyContext } from "./tx.ts";
import { parseRatePpm, PPM, type StakingParams } from "./staking_params.ts";
import {
  adjustSupply,
  entryId,
  getDelegation,
  getList,
  getRecord,
  getValidator,
  mulPpm,
  putRecord,
  putValidator,
  type RedelegationEntry,
  SK,
  type StakingStore,
  type UnbondingEntry,
  type ValidatorRecord,
} from "./staking_state.ts";
import { setAt } from "./staking_valset.ts";
import { settleDelegation } from "./distribution.ts";

/**
 * Burns `fractionPpm` of validator `op`'s stake as of `infractionHeight`. Returns the ucrs burned.
 * Emits `staking.slash`.
 */
export function slashValidator(
  ctx: ApplyContext,
  op: string,
  infractionHeight: number,
  fractionPpm: bigint,
  reason: string,
): bigint {
  const v = getValidator(ctx, op);
  if (!v || fractionPpm === 0n) return 0n;
  let burned = mulPpm(v.tokens, fractionPpm);
  v.tokens -= burned;
  for (const item of getList<string>(ctx, SK.unbondingsOf(op))) {
    const id = entryId(item);
    const e = getRecord<UnbondingEntry>(ctx, SK.unbonding(id));
    if (!e || e.creationHeight <= infractionHeight) continue;
    const take = min(mulPpm(e.initial, fractionPpm), e.balance);
    if (take === 0n) continue;
    e.balance -= take;
    burned += take;
    putRecord(ctx, SK.unbonding(id), e);
  }
  putValidator(ctx, v);
  for (const item of getList<string>(ctx, SK.redelegationsOf(op))) {
    const e = getRecord<RedelegationEntry>(ctx, SK.redelegation(entryId(item)));
    if (!e || e.creationHeight <= infractionHeight) continue;
    burned += slashRedelegation(ctx, e, fractionPpm);
  }
  adjustSupply(ctx, -burned);
  ctx.emit("staking.slash", {
    validator: op,
    cons: v.cons,
    infractionHeight: String(infractionHeight),
    fraction: fractionString(fractionPpm),
    burned: burned.toString(),
    reason,
  });
  return burned;
}

/** Takes back, from the destination delegation, the shares worth `initial x fraction`; returns ucrs burned. */
function slashRedelegation(ctx: ApplyContext, e: RedelegationEntry, fractionPpm: bigint): bigint {
  const dst = getValidator(ctx, e.dst);
  if (!dst || !getDelegation(ctx, e.delegator, e.dst) || dst.tokens === 0n || dst.shares === 0n) return 0n;
  const d = settleDelegation(ctx, e.delegator, e.dst).record; // rewards earned so far are kept
  const want = mulPpm(e.initial, fractionPpm);
  let shares = ceilDiv(want * dst.shares, dst.tokens);
  shares = min(shares, d.shares, e.shares);
  if (shares === 0n) return 0n;
  const tokens = shares === dst.shares ? dst.tokens : (shares * dst.tokens) / dst.shares;
  d.shares -= shares;
  dst.shares -= shares;
  dst.tokens -= tokens;
  e.shares -= shares;
  putRecord(ctx, SK.redelegation(e.id), e);
  if (d.shares === 0n) ctx.delete(SK.delegation(e.delegator, e.dst));
  else putRecord(ctx, SK.delegation(e.delegator, e.dst), d);
  putValidator(ctx, dst);
  return tokens;
}

/** Jails `v` (written) until `untilMs`; tombstones it when asked. Emits `staking.jail`. */
export function jail(
  ctx: ApplyContext,
  v: ValidatorRecord,
  untilMs: number,
  tombstone: boolean,
  reason: string,
): void {
  v.jailed = true;
  v.jailedUntilMs = Math.max(v.jailedUntilMs, untilMs);
  if (tombstone) v.tombstoned = true;
  putValidator(ctx, v);
  ctx.emit("staking.jail", {
    validator: v.operator,
    cons: v.cons,
    until: tombstone ? "forever" : String(v.jailedUntilMs),
    reason,
  });
}

const CHUNK_BITS = 64;

interface SigningInfo {
  missed: number;
}

/**
 * Downtime at the start of block `ctx.height`: each member of the set of height - 1 signed that
 * height's commit (`ctx.signing.lastCommitSigners`) or missed it. A validator missing more than
 * `signedBlocksWindow - ceil(window x minSignedPerWindow)` blocks of its window is slashed
 * `slashFractionDowntime`, jailed for `downtimeJailMs` and its window reset. An empty signer list means
 * the block gave no signing info (tx contexts, tests, a chain not passing it): nothing is counted.
 */
export function trackDowntime(ctx: ApplyContext, p: StakingParams): void {
  const signers = ctx.signing.lastCommitSigners;
  if (ctx.height <= 1 || signers.length === 0) return;
  const members = setAt(ctx, ctx.height - 1);
  if (!members) return;
  const signed = new Set(signers);
  const window = p.signedBlocksWindow;
  const minSigned = ceilDiv(BigInt(window) * parseRatePpm(p.minSignedPerWindow)!, PPM);
  const maxMissed = window - Number(minSigned);
  const index = (ctx.height - 1) % window;
  const chunk = Math.floor(index / CHUNK_BITS);
  const bit = 1n << BigInt(index % CHUNK_BITS);
  for (const m of members) {
    const missedNow = !signed.has(m.cons);
    const infoKey = SK.signingInfo(m.cons);
    const info = getRecord<SigningInfo>(ctx, infoKey);
    if (!info && !missedNow) continue; // no miss in the window: nothing to read or write
    if (missedNow && getValidator(ctx, m.operator)?.jailed) continue; // jailed: leaving the set, not tracked
    const chunkKey = SK.missedChunk(m.cons, chunk);
    const raw = ctx.get(chunkKey);
    const bits = raw === undefined ? 0n : BigInt(decode(raw) as string);
    const wasMissed = (bits & bit) !== 0n;
    if (wasMissed === missedNow) continue;
    const missed = (info?.missed ?? 0) + (missedNow ? 1 : -1);
    const next = missedNow ? bits | bit : bits & ~bit;
    if (next === 0n) ctx.delete(chunkKey);
    else ctx.set(chunkKey, canonicalEncode(next.toString()));
    if (missed === 0) ctx.delete(infoKey);
    else putRecord(ctx, infoKey, { missed });
    if (missedNow && missed > maxMissed) punishDowntime(ctx, p, m.operator, missed);
  }
}

function punishDowntime(ctx: ApplyContext, p: StakingParams, op: string, missed: number): void {
  const v = getValidator(ctx, op);
  if (!v || v.jailed) return;
  slashValidator(ctx, op, ctx.height - 1, parseRatePpm(p.slashFractionDowntime)!, "downtime");
  const after = getValidator(ctx, op)!;
  jail(
    ctx,
    after,
    ctx.time + p.downtimeJailMs,
    false,
    `downtime: missed ${missed} of ${p.signedBlocksWindow}`,
  );
  resetWindow(ctx, p, after.cons);
}

/** Forgets a validator's downtime window (when jailed, or when it leaves the set). */
export function resetWindow(ctx: StakingStore, p: StakingParams, cons: string): void {
  if (ctx.get(SK.signingInfo(cons)) === undefined) return;
  ctx.delete(SK.signingInfo(cons));
  const chunks = Math.ceil(p.signedBlocksWindow / CHUNK_BITS);
  for (let c = 0; c < chunks; c++) ctx.delete(SK.missedChunk(cons, c));
}

function min(...xs: bigint[]): bigint {
  return xs.reduce((a, b) => (b < a ? b : a));
}

function ceilDiv(a: bigint, b: bigint): bigint {
  return (a + b - 1n) / b;
}

function fractionString(ppm: bigint): string {
  const frac = (ppm % PPM).toString().padStart(6, "0").replace(/0+$/, "");
  return `${ppm / PPM}${frac ? `.${frac}` : ""}`;
}
