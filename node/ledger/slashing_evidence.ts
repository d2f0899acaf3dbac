/**
 * Evidence verification and punishment. A duplicate vote is punished once when: it is well formed,
 * its shape passes `evidenceShapeProblem` (`evidence_check.ts`, the rule the consensus side applies
 * too: one chain, height, round, type and validator, different blocks, canonical order); the infraction
 * is at most `evidenceMaxAgeBlocks` blocks and `evidenceMaxAgeMs` of block time old; the validator was
 * in the active set at that height (the stored sets); both signatures are valid over `voteSignBytes`
 * under its key; and it is not tombstoned already. Anything else is refused with a reason; a block
 * carrying bad evidence is NOT failed: the evidence is skipped with an `evidence.rejected` event.
 *
 * The infraction's block time is taken from the block-time checkpoint written at the first multiple
 * of TIME_CHECKPOINT_BLOCKS at or after its height (not before it): an upper bound of that time, so the
 * age in time may be under-estimated by at most that many blocks' worth of time (lenient), while
 * nothing is written on ordinary blocks.
 * @module
 */
import { decode } from "cborg";
import { isValidPublicKey, verifyWithNoble } from "../../lib/crypto.ts";
import { isPlainObject } from "../../lib/cbor.ts";
import { voteSignBytes } from "../../consensus/codec.ts";
import type { SignedVote, Vote } from "../../consensus/types.ts";
import type { Evidence } from "./evidence.ts";
import { evidenceShapeProblem } from "./evidence_check.ts";
import type { LedgerState } from "./state.ts";
import type { ApplyContext } from "./tx.ts";
import { parseRatePpm, type StakingParams } from "./staking_params.ts";
import {
  getValidator,
  putRecord,
  SK,
  stakingParamsOf,
  type StakingReader,
  TIME_CHECKPOINT_BLOCKS,
} from "./staking_state.ts";
import { setAt } from "./staking_valset.ts";
import { jail, slashValidator } from "./slashing.ts";

/** A punished piece of evidence, as stored and queried. */
export interface EvidenceRecord {
  cons: string;
  operator: string;
  height: number;
  round: number;
  voteType: string;
  blockA: string | null;
  blockB: string | null;
  /** Height of the block that carried it. */
  includedHeight: number;
  burned: string;
}

function voteShapeProblem(sv: unknown, name: string): string | null {
  if (!isPlainObject(sv) || !isPlainObject(sv.vote)) return `${name}: must be a signed vote`;
  const v = sv.vote;
  if (!(sv.signature instanceof Uint8Array) || sv.signature.length !== 64) {
    return `${name}.signature: must be 64 bytes`;
  }
  if (typeof v.chainId !== "string") return `${name}.vote.chainId: must be a string`;
  if (v.type !== "prevote" && v.type !== "precommit") {
    return `${name}.vote.type: must be prevote or precommit`;
  }
  if (typeof v.height !== "number" || !Number.isSafeInteger(v.height) || v.height < 1) {
    return `${name}.vote.height: must be a positive integer`;
  }
  if (typeof v.round !== "number" || !Number.isSafeInteger(v.round) || v.round < 0) {
    return `${name}.vote.round: must be a non-negative integer`;
  }
  if (v.blockHash !== null && typeof v.blockHash !== "string") {
    return `${name}.vote.blockHash: must be hex or nil`;
  }
  if (typeof v.validator !== "string") return `${name}.vote.validator: must be an address`;
  return null;
}

/** The time of the first checkpoint at or after `height` (<= `height`'s block time bound), or null. */
function checkpointTimeAfter(s: StakingReader, height: number): number | null {
  const c = Math.ceil(height / TIME_CHECKPOINT_BLOCKS) * TIME_CHECKPOINT_BLOCKS;
  const b = s.get(SK.time(c));
  return b === undefined ? null : (decode(b) as number);
}

/**
 * Why `ev` may not be punished in a block at `height` with time `time` on a state whose staking
 * records `s` holds (chain `chainId`), or null when it may. Pure, synchronous (noble's strict ed25519).
 */
export function evidenceProblemIn(
  s: StakingReader,
  chainId: string,
  p: StakingParams,
  ev: unknown,
  height: number,
  time: number,
): string | null {
  if (!isPlainObject(ev)) return "evidence: must be an object";
  if (ev.type !== "duplicate_vote") return `evidence: unknown type ${JSON.stringify(ev.type)}`;
  const shape = voteShapeProblem(ev.voteA, "voteA") ?? voteShapeProblem(ev.voteB, "voteB");
  if (shape) return `evidence: ${shape}`;
  const a = ev.voteA as unknown as SignedVote, b = ev.voteB as unknown as SignedVote;
  const va: Vote = a.vote, vb: Vote = b.vote;
  // the one definition of a duplicate vote's shape, shared with the consensus side
  const dup = evidenceShapeProblem({ type: "duplicate_vote", voteA: a, voteB: b }, chainId);
  if (dup) return `evidence: ${dup}`;
  const h = va.height;
  if (h >= height) return `evidence: infraction height ${h} is not below the block's height ${height}`;
  if (height - h > p.evidenceMaxAgeBlocks) {
    return `evidence expired: ${height - h} blocks old (max ${p.evidenceMaxAgeBlocks})`;
  }
  const then = checkpointTimeAfter(s, h);
  if (then !== null && time - then > p.evidenceMaxAgeMs) {
    return `evidence expired: over ${time - then} ms old (max ${p.evidenceMaxAgeMs})`;
  }
  const members = setAt(s, h);
  if (!members) return `evidence expired: no validator set kept for height ${h}`;
  const member = members.find((m) => m.cons === va.validator);
  if (!member) return `evidence: ${va.validator} was not a validator at height ${h}`;
  if (s.get(SK.evidence(va.validator, h)) !== undefined) {
    return `evidence: duplicate (already punished for height ${h})`;
  }
  const opBytes = s.get(SK.cons(va.validator));
  const op = opBytes === undefined ? null : (decode(opBytes) as string);
  const v = op === null ? null : getValidator(s, op);
  if (!v) return `evidence: ${va.validator} has no validator record`;
  if (v.cons !== va.validator) return `evidence: ${va.validator} is no longer the key of validator ${op}`;
  if (v.tombstoned) return `evidence: ${va.validator} is already tombstoned (punished once)`;
  if (!isValidPublicKey(member.pubKey)) return "evidence: the validator's key is invalid";
  if (!verifyWithNoble(member.pubKey, voteSignBytes(va), a.signature)) {
    return "evidence: voteA's signature is invalid";
  }
  if (!verifyWithNoble(member.pubKey, voteSignBytes(vb), b.signature)) {
    return "evidence: voteB's signature is invalid";
  }
  return null;
}

/**
 * Why `ev` may not be punished in the block after `state` at `height`/`time`, or null. For the
 * consensus side's evidence pool (the same rule the ledger applies when the evidence is in a block).
 */
export function evidenceProblem(
  state: LedgerState,
  ev: Evidence,
  height: number,
  time: number,
): string | null {
  return evidenceProblemIn(state, state.chainId, stakingParamsOf(state), ev, height, time);
}

/**
 * The block's evidence (beginBlock): each piece verified and punished (slash `slashFractionDoubleSign`
 * as of the infraction height, jail, tombstone), or skipped with an `evidence.rejected` event.
 */
export function handleEvidence(ctx: ApplyContext, p: StakingParams): void {
  const list = ctx.signing.evidence;
  for (let i = 0; i < list.length; i++) {
    const ev = list[i]!;
    const problem = i >= p.evidencePerBlockMax
      ? `over the block's evidence limit (${p.evidencePerBlockMax})`
      : evidenceProblemIn(ctx, ctx.chainId, p, ev, ctx.height, ctx.time);
    if (problem) {
      ctx.emit("evidence.rejected", { index: String(i), reason: problem });
      continue;
    }
    const va = ev.voteA.vote;
    const op = decode(ctx.get(SK.cons(va.validator))!) as string;
    const burned = slashValidator(
      ctx,
      op,
      va.height,
      parseRatePpm(p.slashFractionDoubleSign)!,
      "double_sign",
    );
    jail(ctx, getValidator(ctx, op)!, Number.MAX_SAFE_INTEGER, true, "double sign");
    const rec: EvidenceRecord = {
      cons: va.validator,
      operator: op,
      height: va.height,
      round: va.round,
      voteType: va.type,
      blockA: va.blockHash,
      blockB: ev.voteB.vote.blockHash,
      includedHeight: ctx.height,
      burned: burned.toString(),
    };
    putRecord(ctx, SK.evidence(va.validator, va.height), rec);
    ctx.emit("evidence.punished", {
      validator: op,
      cons: va.validator,
      height: String(va.height),
      burned: burned.toString(),
    });
  }
}
