/**
 * Rewards: every tx fee goes to the fee collector account (not the proposer), and at the end of each
 * block the collected fees plus `inflationPerBlock` (minted) are paid to the set that committed the
 * block, by power. Of a validator's part, `commission` goes to its operator; the rest accrues to its
 * delegators through a per-share accumulator (`acc`, scaled by REWARD_SCALE), so a block costs
 * O(active set), never a scan of delegations; a delegation's rewards are
 * `shares x (acc_now - acc_then) / REWARD_SCALE`, paid when it is withdrawn or its shares change.
 *
 * Rounding (exact bigint, always in the module's favour, nothing is lost): a validator's part is
 * floor(reward x power / totalPower), the block's remainder is carried to the next block; commission
 * is floored; the accumulator step is floored, and the dust it leaves stays in the pool (`held`,
 * counted in the supply) for good. Slashing burns tokens, not shares, so it needs no adjustment here.
 * @module
 */
import { addressOf, sha256 } from "../../lib/crypto.ts";
import type { ApplyContext } from "./tx.ts";
import type { StakingParams } from "./staking_params.ts";
import {
  adjustSupply,
  type DelegationRecord,
  getDelegation,
  getPool,
  getRewards,
  getValidator,
  mulPpm,
  putRecord,
  REWARD_SCALE,
  type SetMember,
  SK,
  type StakingReader,
  type StakingStore,
} from "./staking_state.ts";

/** The account every tx fee is paid into (a hash, no key): emptied into the reward pool each block. */
export const FEE_COLLECTOR = addressOf(
  sha256(new TextEncoder().encode("cirrus/module/staking/fee_collector")),
);

/**
 * The end-of-block distribution: takes the fee collector's balance, mints `inflationPerBlock`, and
 * pays the set of this height (`setOf`, read only then) by power. Writes nothing when there is
 * nothing to pay.
 */
export function distributeBlockRewards(
  ctx: ApplyContext,
  p: StakingParams,
  setOf: () => readonly SetMember[],
): void {
  const collector = ctx.account(FEE_COLLECTOR);
  const fees = collector?.balance ?? 0n;
  const minted = BigInt(p.inflationPerBlock);
  const pool = getPool(ctx);
  const reward = fees + minted + pool.carry;
  if (fees === 0n && minted === 0n) return;
  if (collector && fees > 0n) ctx.setAccount({ ...collector, balance: 0n });
  if (minted > 0n) adjustSupply(ctx, minted);
  const members = setOf();
  pool.held += fees + minted;
  const total = members.reduce((sum, m) => sum + m.power, 0n);
  let allotted = 0n;
  if (total > 0n) {
    for (const m of members) {
      const part = (reward * m.power) / total;
      if (part > 0n && allot(ctx, m.operator, part)) allotted += part; // else carried to the next block
    }
  }
  pool.carry = reward - allotted;
  putRecord(ctx, SK.pool, pool);
  ctx.emit("rewards", { height: String(ctx.height), fees: fees.toString(), minted: minted.toString() });
}

/**
 * Credits `amount` to validator `op`: commission to its operator, the rest to its delegators'
 * accumulator. False (nothing credited) when the validator is gone.
 */
function allot(ctx: StakingStore, op: string, amount: bigint): boolean {
  const v = getValidator(ctx, op);
  if (!v) return false;
  const rw = getRewards(ctx, op);
  const commission = v.shares === 0n ? amount : mulPpm(amount, BigInt(v.commissionPpm));
  rw.commission += commission;
  const rest = amount - commission;
  if (rest > 0n) rw.acc += (rest * REWARD_SCALE) / v.shares;
  putRecord(ctx, SK.rewards(op), rw);
  return true;
}

/** Rewards accrued to a delegation since its last settlement (floor). */
export function pendingRewards(s: StakingReader, d: DelegationRecord, op: string): bigint {
  const rw = getRewards(s, op);
  return (d.shares * (rw.acc - d.acc)) / REWARD_SCALE;
}

/** Pays `amount` from the pool to `to`. */
function payOut(ctx: ApplyContext, to: string, amount: bigint): void {
  if (amount === 0n) return;
  const pool = getPool(ctx);
  if (pool.held < amount) throw new Error(`reward pool ${pool.held} below payout ${amount}`);
  pool.held -= amount;
  putRecord(ctx, SK.pool, pool);
  const a = ctx.account(to) ?? { address: to, balance: 0n, nonce: 0n };
  ctx.setAccount({ ...a, balance: a.balance + amount });
}

/**
 * Pays a delegation's accrued rewards to the delegator and moves its accumulator to now. Returns the
 * updated record (not written: the caller writes it with its new shares) and the amount paid.
 */
export function settleDelegation(
  ctx: ApplyContext,
  del: string,
  op: string,
): { record: DelegationRecord; paid: bigint } {
  const d = getDelegation(ctx, del, op) ?? { shares: 0n, acc: 0n };
  const rw = getRewards(ctx, op);
  const paid = (d.shares * (rw.acc - d.acc)) / REWARD_SCALE;
  payOut(ctx, del, paid);
  return { record: { shares: d.shares, acc: rw.acc }, paid };
}

/** Pays validator `op`'s accrued commission to its operator. Returns the amount. */
export function withdrawCommission(ctx: ApplyContext, op: string): bigint {
  const rw = getRewards(ctx, op);
  if (rw.commission === 0n) return 0n;
  const amount = rw.commission;
  rw.commission = 0n;
  putRecord(ctx, SK.rewards(op), rw);
  payOut(ctx, op, amount);
  return amount;
}
