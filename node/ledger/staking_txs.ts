/**
 * The staking tx types: `staking.create_validator`, `staking.delegate`, `staking.undelegate`,
 * `staking.redelegate`, `staking.unjail`, `staking.edit_validator`, `staking.withdraw_rewards`.
 * Each refusal is a {@link TxError} with a reason, and changes nothing (the tx's overlay is dropped).
 * @module
 */
import { decode } from "cborg";
import { addressOf, fromHex, isAddress, isHex, isValidPublicKey } from "../../lib/crypto.ts";
import { canonicalEncode, exactKeysProblem, isPlainObject } from "../../lib/cbor.ts";
import { uintProblem } from "../../lib/units.ts";
import { type ApplyContext, type SignedTx, TxError, type TxHandler } from "./tx.ts";
import { parseRatePpm, ratePpmString, rateProblem } from "./staking_params.ts";
import {
  getDelegation,
  getList,
  getValidator,
  mustValidator,
  nextId,
  putList,
  putRecord,
  putValidator,
  SK,
  stakingParamsOf,
  tokensOf,
  type ValidatorRecord,
  VALIDATORS_TOTAL_MAX,
} from "./staking_state.ts";
import { addBond, addRedelegation, addUnbonding, removeBond } from "./staking_bonds.ts";
import { settleDelegation, withdrawCommission } from "./distribution.ts";

/** Longest moniker. */
export const MONIKER_LENGTH_MAX = 64;
/** Most validators one `staking.withdraw_rewards` names. */
export const WITHDRAW_VALIDATORS_MAX = 32;

function keysProblem(
  body: Record<string, unknown>,
  required: string[],
  optional: string[] = [],
): string | null {
  for (const k of required) if (!Object.hasOwn(body, k)) return `body.${k}: missing`;
  for (const k of Object.keys(body)) {
    if (!required.includes(k) && !optional.includes(k)) return `body.${k}: unknown field`;
  }
  return null;
}

function monikerProblem(v: unknown): string | null {
  if (typeof v !== "string" || v.length < 1 || v.length > MONIKER_LENGTH_MAX || !/^[\x20-\x7e]+$/.test(v)) {
    return `body.moniker: must be 1-${MONIKER_LENGTH_MAX} printable ASCII characters`;
  }
  return null;
}

function addressProblem(v: unknown, path: string): string | null {
  return isAddress(v) ? null : `${path}: must be a cirrus address`;
}

const str = (stx: SignedTx, k: string): string => stx.tx.body[k] as string;

function handler(
  validateBody: (body: Record<string, unknown>) => string | null,
  apply: (ctx: ApplyContext, stx: SignedTx) => void,
  addresses?: (stx: SignedTx) => string[],
): TxHandler {
  return addresses ? { validateBody, apply, addresses } : { validateBody, apply };
}

function debit(ctx: ApplyContext, from: string, amount: bigint): void {
  const a = ctx.account(from);
  if (!a || a.balance < amount) {
    throw new TxError(`insufficient funds: balance ${a?.balance ?? 0n} < ${amount}`);
  }
  ctx.setAccount({ ...a, balance: a.balance - amount });
}

const createValidator = handler(
  (body) =>
    keysProblem(body, ["pubKey", "amount", "moniker", "commission"]) ??
      (isHex(body.pubKey, 32) && isValidPublicKey(fromHex(body.pubKey as string))
        ? null
        : "body.pubKey: must be a valid ed25519 public key as 64 lower-case hex characters") ??
      uintProblem(body.amount, "body.amount", true) ?? monikerProblem(body.moniker) ??
      rateProblem(body.commission, "body.commission"),
  (ctx, stx) => {
    const p = stakingParamsOf(ctx);
    const op = stx.tx.from;
    const pubKey = fromHex(str(stx, "pubKey"));
    const cons = addressOf(pubKey);
    const amount = BigInt(str(stx, "amount"));
    if (getValidator(ctx, op)) throw new TxError(`${op} is already a validator`);
    const owner = ctx.get(SK.cons(cons));
    if (owner !== undefined) {
      throw new TxError(`consensus key ${cons} is already in use by validator ${decode(owner) as string}`);
    }
    if (amount < BigInt(p.minSelfBond)) {
      throw new TxError(`self-bond ${amount} is below the minimum ${p.minSelfBond}`);
    }
    const ops = getList<string>(ctx, SK.validators);
    if (ops.length >= VALIDATORS_TOTAL_MAX) {
      throw new TxError(`the chain has ${ops.length} validators (the most)`);
    }
    debit(ctx, op, amount);
    const v: ValidatorRecord = {
      operator: op,
      consPubKey: pubKey,
      cons,
      moniker: str(stx, "moniker"),
      commissionPpm: Number(parseRatePpm(str(stx, "commission"))),
      tokens: 0n,
      shares: 0n,
      jailed: false,
      jailedUntilMs: 0,
      tombstoned: false,
      createdHeight: ctx.height,
    };
    ctx.set(SK.cons(cons), canonicalEncode(op));
    putList(ctx, SK.validators, [...ops, op].sort());
    addBond(ctx, op, v, amount);
    ctx.emit("staking.create_validator", { validator: op, cons, amount: amount.toString() });
  },
);

const delegate = handler(
  (body) =>
    keysProblem(body, ["validator", "amount"]) ?? addressProblem(body.validator, "body.validator") ??
      uintProblem(body.amount, "body.amount", true),
  (ctx, stx) => {
    const v = mustValidator(ctx, str(stx, "validator"));
    const amount = BigInt(str(stx, "amount"));
    debit(ctx, stx.tx.from, amount);
    addBond(ctx, stx.tx.from, v, amount);
    ctx.emit("staking.delegate", {
      delegator: stx.tx.from,
      validator: v.operator,
      amount: amount.toString(),
    });
  },
  (stx) => [str(stx, "validator")],
);

const undelegate = handler(
  (body) =>
    keysProblem(body, ["validator", "amount"]) ?? addressProblem(body.validator, "body.validator") ??
      uintProblem(body.amount, "body.amount", true),
  (ctx, stx) => {
    const p = stakingParamsOf(ctx);
    const op = str(stx, "validator");
    const tokens = removeBond(ctx, p, stx.tx.from, op, BigInt(str(stx, "amount")));
    const e = addUnbonding(ctx, p, nextId(ctx), stx.tx.from, op, tokens);
    ctx.emit("staking.undelegate", {
      delegator: stx.tx.from,
      validator: op,
      amount: tokens.toString(),
      completionHeight: String(e.completionHeight),
    });
  },
  (stx) => [str(stx, "validator")],
);

const redelegate = handler(
  (body) =>
    keysProblem(body, ["src", "dst", "amount"]) ?? addressProblem(body.src, "body.src") ??
      addressProblem(body.dst, "body.dst") ?? uintProblem(body.amount, "body.amount", true) ??
      (body.src === body.dst ? "body.dst: must differ from body.src" : null),
  (ctx, stx) => {
    const p = stakingParamsOf(ctx);
    const del = stx.tx.from;
    const src = str(stx, "src"), dst = str(stx, "dst");
    mustValidator(ctx, src);
    mustValidator(ctx, dst);
    if (getList<number>(ctx, SK.incoming(del, src)).length > 0) {
      throw new TxError(
        `a redelegation of ${del} into ${src} is still maturing (no transitive redelegation)`,
      );
    }
    const tokens = removeBond(ctx, p, del, src, BigInt(str(stx, "amount")));
    const shares = addBond(ctx, del, mustValidator(ctx, dst), tokens);
    const e = addRedelegation(ctx, p, nextId(ctx), del, src, dst, tokens, shares);
    ctx.emit("staking.redelegate", {
      delegator: del,
      src,
      dst,
      amount: tokens.toString(),
      completionHeight: String(e.completionHeight),
    });
  },
  (stx) => [str(stx, "src"), str(stx, "dst")],
);

const unjail = handler(
  (body) => keysProblem(body, []),
  (ctx, stx) => {
    const p = stakingParamsOf(ctx);
    const v = mustValidator(ctx, stx.tx.from);
    if (v.tombstoned) {
      throw new TxError(`validator ${v.operator} is tombstoned (double sign): it never unjails`);
    }
    if (!v.jailed) throw new TxError(`validator ${v.operator} is not jailed`);
    // A mempool dry run has no block time (0): the block decides.
    if (ctx.time > 0 && ctx.time < v.jailedUntilMs) {
      throw new TxError(
        `validator ${v.operator} is jailed until ${v.jailedUntilMs} (block time now ${ctx.time})`,
      );
    }
    const self = getDelegation(ctx, v.operator, v.operator);
    const selfTokens = self ? tokensOf(v, self.shares) : 0n;
    if (selfTokens < BigInt(p.minSelfBond)) {
      throw new TxError(
        `self-bond ${selfTokens} is below the minimum ${p.minSelfBond}: delegate to yourself first`,
      );
    }
    v.jailed = false;
    putValidator(ctx, v);
    ctx.emit("staking.unjail", { validator: v.operator });
  },
);

const editValidator = handler(
  (body) => {
    const keys = keysProblem(body, [], ["moniker", "commission"]);
    if (keys) return keys;
    if (Object.keys(body).length === 0) return "body: give a moniker, a commission or both";
    if (body.moniker !== undefined) {
      const m = monikerProblem(body.moniker);
      if (m) return m;
    }
    return body.commission === undefined ? null : rateProblem(body.commission, "body.commission");
  },
  (ctx, stx) => {
    const v = mustValidator(ctx, stx.tx.from);
    const body = stx.tx.body;
    if (typeof body.moniker === "string") v.moniker = body.moniker;
    if (typeof body.commission === "string") {
      const next = Number(parseRatePpm(body.commission));
      // params stored by a chain made before commissionChangeMax existed: no limit
      const max = Number(parseRatePpm(stakingParamsOf(ctx).commissionChangeMax ?? "1"));
      if (Math.abs(next - v.commissionPpm) > max) {
        throw new TxError(
          `commission ${body.commission} is more than commissionChangeMax ${
            stakingParamsOf(ctx).commissionChangeMax
          } away from the current ${ratePpmString(v.commissionPpm)}`,
        );
      }
      v.commissionPpm = next;
    }
    putRecord(ctx, SK.validator(v.operator), v);
    ctx.emit("staking.edit_validator", { validator: v.operator });
  },
);

const withdrawRewards = handler(
  (body) => {
    const keys = exactKeysProblem(body, ["validators"], "body");
    if (keys) return keys;
    const vs = body.validators;
    if (!Array.isArray(vs) || vs.length === 0 || vs.length > WITHDRAW_VALIDATORS_MAX) {
      return `body.validators: must be a list of 1-${WITHDRAW_VALIDATORS_MAX} validator addresses`;
    }
    if (!vs.every(isAddress) || new Set(vs).size !== vs.length) {
      return "body.validators: must be distinct cirrus addresses";
    }
    return null;
  },
  (ctx, stx) => {
    const del = stx.tx.from;
    let total = 0n;
    for (const op of stx.tx.body.validators as string[]) {
      mustValidator(ctx, op);
      const d = getDelegation(ctx, del, op);
      if (d) {
        const { record, paid } = settleDelegation(ctx, del, op);
        putRecord(ctx, SK.delegation(del, op), record);
        total += paid;
      }
      if (op === del) total += withdrawCommission(ctx, op);
      else if (!d) throw new TxError(`${del} has no delegation with ${op}`);
    }
    ctx.emit("staking.withdraw_rewards", { delegator: del, amount: total.toString() });
  },
  (
    stx,
  ) => (isPlainObject(stx.tx.body) && Array.isArray(stx.tx.body.validators)
    ? stx.tx.body.validators as string[]
    : []),
);

/** The staking module's tx handlers, by type. */
export const stakingTxHandlers: Readonly<Record<string, TxHandler>> = {
  "staking.create_validator": createValidator,
  "staking.delegate": delegate,
  "staking.undelegate": undelegate,
  "staking.redelegate": redelegate,
  "staking.unjail": unjail,
  "staking.edit_validator": editValidator,
  "staking.withdraw_rewards": withdrawRewards,
};
