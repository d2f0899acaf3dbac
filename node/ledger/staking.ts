/**
 * The `staking` ledger module (issue 9): delegated proof of stake. Validators bond a self-bond and
 * take delegations (`staking.*` txs); the active set (top `validatorsMax` by power) is recomputed at
 * the end of a block that changed a power or a jail and takes effect two heights later (the
 * `validators` hook consensus reads); fees and inflation are paid to the set by power (distribution.ts);
 * double signs (block evidence) and downtime (previous commit's signers) are slashed and jailed
 * (slashing.ts, slashing_evidence.ts); unbonding entries are paid out by a height-indexed queue.
 * Genesis validators are ordinary bonded validators: power x powerReduction ucrs minted at genesis.
 *
 * Per block, begin: payouts maturing now, evidence, downtime; end: rewards, a block-time checkpoint
 * every TIME_CHECKPOINT_BLOCKS heights, the active set when `stk/dirty`. A block with no fee, no
 * inflation, no miss and no staking tx writes nothing.
 * @module
 */
import { canonicalEncode } from "../../lib/cbor.ts";
import { fromHex } from "../../lib/crypto.ts";
import type { GenesisStore, LedgerModule } from "./module.ts";
import type { Genesis } from "./genesis.ts";
import type { ApplyContext } from "./tx.ts";
import { defaultStakingParams } from "./staking_params.ts";
import {
  adjustSupply,
  decodeRecord,
  getPool,
  putList,
  putRecord,
  SK,
  stakingParamsOf,
  TIME_CHECKPOINT_BLOCKS,
  type UnbondingEntry,
  type ValidatorRecord,
} from "./staking_state.ts";
import { computeSet, latestSetHeight, setAt, storeSet, toActive } from "./staking_valset.ts";
import { distributeBlockRewards, FEE_COLLECTOR } from "./distribution.ts";
import { resetWindow, trackDowntime } from "./slashing.ts";
import { handleEvidence } from "./slashing_evidence.ts";
import { matureEntries } from "./staking_bonds.ts";
import { stakingTxHandlers } from "./staking_txs.ts";
import { stakingQueries } from "./staking_queries.ts";

function beginBlock(ctx: ApplyContext): void {
  const p = stakingParamsOf(ctx);
  matureEntries(ctx);
  handleEvidence(ctx, p);
  trackDowntime(ctx, p);
}

function endBlock(ctx: ApplyContext): void {
  const p = stakingParamsOf(ctx);
  distributeBlockRewards(ctx, p, () => setAt(ctx, ctx.height) ?? []);
  if (ctx.height % TIME_CHECKPOINT_BLOCKS === 0) {
    ctx.set(SK.time(ctx.height), canonicalEncode(ctx.time));
    const old = ctx.height -
      (Math.ceil(p.evidenceMaxAgeBlocks / TIME_CHECKPOINT_BLOCKS) + 2) * TIME_CHECKPOINT_BLOCKS;
    if (old > 0 && ctx.get(SK.time(old)) !== undefined) ctx.delete(SK.time(old));
  }
  if (ctx.get(SK.dirty) === undefined) return;
  ctx.delete(SK.dirty);
  const members = computeSet(ctx, p);
  if (members.length === 0) {
    ctx.emit("staking.set_kept", { reason: "no validator would be left in the active set" });
    return;
  }
  const before = setAt(ctx, latestSetHeight(ctx)) ?? [];
  if (!storeSet(ctx, ctx.height + 2, members, p.evidenceMaxAgeBlocks)) return;
  const now = new Set(members.map((m) => m.cons));
  for (const m of before) if (!now.has(m.cons)) resetWindow(ctx, p, m.cons);
  ctx.emit("staking.set_changed", {
    effectiveHeight: String(ctx.height + 2),
    validators: String(members.length),
    power: members.reduce((s, m) => s + m.power, 0n).toString(),
  });
}

/** Genesis: each genesis validator bonds power x powerReduction ucrs (minted), self-delegated. */
function initGenesis(g: Genesis, store: GenesisStore): void {
  const p = g.params.staking ?? defaultStakingParams();
  const s = { get: store.get, set: store.set, delete: () => {} };
  const reduction = BigInt(p.powerReduction);
  let minted = 0n;
  const ops: string[] = [];
  for (const gv of g.validators) {
    const tokens = BigInt(gv.power) * reduction;
    const v: ValidatorRecord = {
      operator: gv.address,
      consPubKey: fromHex(gv.pubKey),
      cons: gv.address,
      moniker: gv.name ?? gv.address.slice(0, 16),
      commissionPpm: 0,
      tokens,
      shares: tokens,
      jailed: false,
      jailedUntilMs: 0,
      tombstoned: false,
      createdHeight: 0,
    };
    putRecord(s, SK.validator(v.operator), v);
    putRecord(s, SK.delegation(v.operator, v.operator), { shares: tokens, acc: 0n });
    store.set(SK.cons(v.cons), canonicalEncode(v.operator));
    ops.push(v.operator);
    minted += tokens;
  }
  putList(s, SK.validators, ops.sort());
  adjustSupply(s, minted);
  storeSet(s, 1, computeSet(s, p), p.evidenceMaxAgeBlocks);
}

/** Bonded tokens, unbonding balances and reward funds, by scanning (O(staking state)). */
function heldFunds(state: Parameters<NonNullable<LedgerModule["heldFunds"]>>[0]): bigint {
  let sum = getPool(state).held;
  for (const [, b] of state.entries("stk/v/")) sum += decodeRecord<ValidatorRecord>(b).tokens;
  for (const [, b] of state.entries("stk/u/")) sum += decodeRecord<UnbondingEntry>(b).balance;
  return sum;
}

/** The staking module: `staking.*` txs, the validator set, rewards, slashing, evidence and its queries. */
export const staking: LedgerModule = {
  name: "staking",
  txTypes: stakingTxHandlers,
  beginBlock,
  endBlock,
  initGenesis,
  feeCollector: FEE_COLLECTOR,
  heldFunds,
  validators(state, height) {
    if (height > state.height + 2 || height < 1) return null;
    const members = setAt(state, height);
    return members ? toActive(members) : null;
  },
  scheduledWork: (state, height) => latestSetHeight(state) > height,
  queries: stakingQueries,
};
