/**
 * Bonding arithmetic of the staking module: delegating tokens for shares, undelegating shares back,
 * unbonding and redelegation entries with their height-indexed payout queue. Exact bigint:
 * - delegating `a` to a validator with `T` tokens and `S` shares issues floor(a x S / T) shares
 *   (`a` shares for the first delegation);
 * - undelegating `a` ucrs burns ceil(a x S / T) shares (all of them when `a` is the delegation's whole
 *   value), and the last share out takes whatever tokens are left;
 * so rounding never favours the one who moves.
 * @module
 */
import type { ApplyContext } from "./tx.ts";
import { TxError } from "./tx.ts";
import type { StakingParams } from "./staking_params.ts";
import {
  type DelegationRecord,
  entryId,
  getDelegation,
  getList,
  getRecord,
  getRewards,
  getValidator,
  mustValidator,
  padHeight,
  putList,
  putRecord,
  putValidator,
  type RedelegationEntry,
  SK,
  tokensOf,
  type UnbondingEntry,
  type ValidatorRecord,
} from "./staking_state.ts";
import { settleDelegation } from "./distribution.ts";
import { jail } from "./slashing.ts";

/** Most pending unbonding (or redelegation) entries of one delegator with one validator. */
export const ENTRIES_PER_PAIR_MAX = 7;
/** Most pending unbonding (or redelegation) entries from one validator. */
export const ENTRIES_PER_VALIDATOR_MAX = 5000;

function writeDelegation(ctx: ApplyContext, del: string, op: string, d: DelegationRecord): void {
  if (d.shares === 0n) ctx.delete(SK.delegation(del, op));
  else putRecord(ctx, SK.delegation(del, op), d);
}

/**
 * Adds `amount` ucrs of `del` (already taken from its account, or moved from another validator) to
 * validator `v` (written). Pays the delegation's pending rewards first. Returns the shares issued.
 */
export function addBond(ctx: ApplyContext, del: string, v: ValidatorRecord, amount: bigint): bigint {
  if (v.tombstoned) throw new TxError(`validator ${v.operator} is tombstoned`);
  if (v.shares > 0n && v.tokens === 0n) {
    throw new TxError(`validator ${v.operator} has no tokens left (slashed)`);
  }
  const shares = v.shares === 0n ? amount : (amount * v.shares) / v.tokens;
  if (shares === 0n) throw new TxError(`amount ${amount} is worth less than one share of ${v.operator}`);
  const { record } = settleDelegation(ctx, del, v.operator);
  record.shares += shares;
  writeDelegation(ctx, del, v.operator, record);
  v.tokens += amount;
  v.shares += shares;
  putValidator(ctx, v);
  return shares;
}

/**
 * Removes `amount` ucrs of `del`'s delegation from validator `op` (rewards paid first); refuses more
 * than is bonded. Jails the validator when its operator's self-bond falls below `minSelfBond`.
 * Returns the tokens removed (held by the caller's entry).
 */
export function removeBond(
  ctx: ApplyContext,
  p: StakingParams,
  del: string,
  op: string,
  amount: bigint,
): bigint {
  const v = mustValidator(ctx, op);
  const d = getDelegation(ctx, del, op);
  const bonded = d ? tokensOf(v, d.shares) : 0n;
  if (amount > bonded) throw new TxError(`cannot undelegate ${amount}: ${del} has ${bonded} bonded to ${op}`);
  const { record } = settleDelegation(ctx, del, op);
  const all = amount === bonded;
  let shares = all ? record.shares : ceilDiv(amount * v.shares, v.tokens);
  if (shares > record.shares) shares = record.shares;
  const tokens = shares === v.shares ? v.tokens : amount;
  record.shares -= shares;
  writeDelegation(ctx, del, op, record);
  v.tokens -= tokens;
  v.shares -= shares;
  putValidator(ctx, v);
  if (del === op && !v.jailed && tokensOf(v, record.shares) < BigInt(p.minSelfBond)) {
    jail(ctx, v, ctx.time, false, "self-bond below the minimum");
  }
  return tokens;
}

function ceilDiv(a: bigint, b: bigint): bigint {
  return (a + b - 1n) / b;
}

/** Entries of a per-validator list: `<padded id>|<delegator>`. */
function pairCount(list: readonly string[], del: string): number {
  return list.filter((e) => e.endsWith(`|${del}`)).length;
}

function checkRoom(list: readonly string[], del: string, op: string): void {
  if (list.length >= ENTRIES_PER_VALIDATOR_MAX) {
    throw new TxError(
      `validator ${op} has ${list.length} pending entries (max ${ENTRIES_PER_VALIDATOR_MAX})`,
    );
  }
  if (pairCount(list, del) >= ENTRIES_PER_PAIR_MAX) {
    throw new TxError(`${del} has ${ENTRIES_PER_PAIR_MAX} pending entries with ${op} (the most allowed)`);
  }
}

/** Records an unbonding entry of `tokens` paid out at `height + unbondingBlocks`. */
export function addUnbonding(
  ctx: ApplyContext,
  p: StakingParams,
  id: number,
  del: string,
  op: string,
  tokens: bigint,
): UnbondingEntry {
  const list = getList<string>(ctx, SK.unbondingsOf(op));
  checkRoom(list, del, op);
  const e: UnbondingEntry = {
    id,
    delegator: del,
    validator: op,
    creationHeight: ctx.height,
    completionHeight: ctx.height + p.unbondingBlocks,
    initial: tokens,
    balance: tokens,
  };
  putRecord(ctx, SK.unbonding(id), e);
  putList(ctx, SK.unbondingsOf(op), [...list, `${padHeight(id)}|${del}`]);
  const q = SK.unbondingQueue(e.completionHeight);
  putList(ctx, q, [...getList<number>(ctx, q), id]);
  return e;
}

/** Records a redelegation entry (slashable for `src`'s faults until `height + unbondingBlocks`). */
export function addRedelegation(
  ctx: ApplyContext,
  p: StakingParams,
  id: number,
  del: string,
  src: string,
  dst: string,
  tokens: bigint,
  shares: bigint,
): RedelegationEntry {
  const list = getList<string>(ctx, SK.redelegationsOf(src));
  checkRoom(list, del, src);
  const e: RedelegationEntry = {
    id,
    delegator: del,
    src,
    dst,
    creationHeight: ctx.height,
    completionHeight: ctx.height + p.unbondingBlocks,
    initial: tokens,
    shares,
  };
  putRecord(ctx, SK.redelegation(id), e);
  putList(ctx, SK.redelegationsOf(src), [...list, `${padHeight(id)}|${del}`]);
  const q = SK.redelegationQueue(e.completionHeight);
  putList(ctx, q, [...getList<number>(ctx, q), id]);
  const inKey = SK.incoming(del, dst);
  putList(ctx, inKey, [...getList<number>(ctx, inKey), id]);
  return e;
}

/**
 * The payout queue at the start of block `ctx.height`: unbonding entries maturing now are paid to
 * their delegators (what slashing left of them), redelegation entries maturing now are forgotten.
 * Reads one key per queue when nothing matures.
 */
export function matureEntries(ctx: ApplyContext): void {
  const uq = SK.unbondingQueue(ctx.height);
  for (const id of getList<number>(ctx, uq)) {
    const e = getRecord<UnbondingEntry>(ctx, SK.unbonding(id));
    if (!e) continue;
    ctx.delete(SK.unbonding(id));
    dropFromList(ctx, SK.unbondingsOf(e.validator), id);
    if (e.balance > 0n) {
      const a = ctx.account(e.delegator) ?? { address: e.delegator, balance: 0n, nonce: 0n };
      ctx.setAccount({ ...a, balance: a.balance + e.balance });
    }
    ctx.emit("staking.unbonded", {
      delegator: e.delegator,
      validator: e.validator,
      amount: e.balance.toString(),
    });
    removeIfEmpty(ctx, e.validator);
  }
  if (ctx.get(uq) !== undefined) ctx.delete(uq);
  const rq = SK.redelegationQueue(ctx.height);
  for (const id of getList<number>(ctx, rq)) {
    const e = getRecord<RedelegationEntry>(ctx, SK.redelegation(id));
    if (!e) continue;
    ctx.delete(SK.redelegation(id));
    dropFromList(ctx, SK.redelegationsOf(e.src), id);
    const inKey = SK.incoming(e.delegator, e.dst);
    putList(ctx, inKey, getList<number>(ctx, inKey).filter((x) => x !== id));
    removeIfEmpty(ctx, e.src);
  }
  if (ctx.get(rq) !== undefined) ctx.delete(rq);
}

function dropFromList(ctx: ApplyContext, key: string, id: number): void {
  putList(ctx, key, getList<string>(ctx, key).filter((e) => entryId(e) !== id));
}

/**
 * Forgets a validator nobody is bonded to any more, once no entry from it is pending (so no evidence
 * within the evidence age can still slash it: `evidenceMaxAgeBlocks <= unbondingBlocks`) and it has
 * no commission to withdraw: its slot in `stk/vals` (bounded) is freed. Its consensus key stays taken.
 */
function removeIfEmpty(ctx: ApplyContext, op: string): void {
  const v = getValidator(ctx, op);
  if (!v || v.shares !== 0n || v.tokens !== 0n) return;
  if (getList<string>(ctx, SK.unbondingsOf(op)).length > 0) return;
  if (getList<string>(ctx, SK.redelegationsOf(op)).length > 0) return;
  if (getRewards(ctx, op).commission > 0n) return;
  ctx.delete(SK.validator(op));
  if (ctx.get(SK.rewards(op)) !== undefined) ctx.delete(SK.rewards(op));
  putList(ctx, SK.validators, getList<string>(ctx, SK.validators).filter((x) => x !== op));
  ctx.emit("staking.validator_removed", { validator: op, cons: v.cons });
}
