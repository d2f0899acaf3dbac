/**
 * The staking module's RPC queries (`GET /query/<name>/...`) over committed state:
 * `validators` (every validator, `?status=active|jailed|tombstoned`), `validator/ADDR` (operator or
 * consensus address), `delegations/ADDR` (a delegator's delegations, unbonding and redelegation
 * entries), `rewards/ADDR` (its pending rewards, and commission when it is a validator), `evidence`
 * (punished double signs). Amounts are decimal strings.
 * @module
 */
import { decode } from "cborg";
import { isAddress, toHex } from "../../lib/crypto.ts";
import { type LedgerQuery, QueryError, type QueryRequest } from "./module.ts";
import type { LedgerState } from "./state.ts";
import { ratePpmString } from "./staking_params.ts";
import {
  decodeRecord,
  type DelegationRecord,
  getDelegation,
  getList,
  getRecord,
  getRewards,
  getValidator,
  powerOf,
  type RedelegationEntry,
  SK,
  stakingParamsOf,
  tokensOf,
  type UnbondingEntry,
  type ValidatorRecord,
} from "./staking_state.ts";
import { setAt } from "./staking_valset.ts";
import { pendingRewards } from "./distribution.ts";
import type { EvidenceRecord } from "./slashing_evidence.ts";

/** A validator as the queries show it. */
export interface ValidatorView {
  operator: string;
  cons: string;
  consPubKey: string;
  moniker: string;
  commission: string;
  tokens: string;
  shares: string;
  power: string;
  selfBond: string;
  /** In the active set of the next height. */
  active: boolean;
  jailed: boolean;
  jailedUntilMs: number;
  tombstoned: boolean;
  createdHeight: number;
}

function view(state: LedgerState, v: ValidatorRecord, active: ReadonlySet<string>): ValidatorView {
  const self = getDelegation(state, v.operator, v.operator);
  return {
    operator: v.operator,
    cons: v.cons,
    consPubKey: toHex(v.consPubKey),
    moniker: v.moniker,
    commission: ratePpmString(v.commissionPpm),
    tokens: v.tokens.toString(),
    shares: v.shares.toString(),
    power: powerOf(v, stakingParamsOf(state)).toString(),
    selfBond: (self ? tokensOf(v, self.shares) : 0n).toString(),
    active: active.has(v.cons),
    jailed: v.jailed,
    jailedUntilMs: v.jailedUntilMs,
    tombstoned: v.tombstoned,
    createdHeight: v.createdHeight,
  };
}

function activeSet(state: LedgerState): Set<string> {
  return new Set((setAt(state, state.height + 1) ?? []).map((m) => m.cons));
}

function addressArg(req: QueryRequest, kind: string): string {
  const a = req.args[0] ?? req.params.get("address") ?? "";
  if (!isAddress(a)) throw new QueryError(400, `"${a}" is not a cirrus address (want /query/${kind}/ADDR)`);
  return a;
}

/** The validator whose operator or consensus address is `a`, or null. */
function validatorByAny(state: LedgerState, a: string): ValidatorRecord | null {
  const byOp = getValidator(state, a);
  if (byOp) return byOp;
  const op = state.get(SK.cons(a));
  return op === undefined ? null : getValidator(state, decode(op) as string);
}

function entriesOf<T extends { delegator: string }>(state: LedgerState, prefix: string, del: string): T[] {
  const out: T[] = [];
  for (const [, v] of state.entries(prefix)) {
    const e = decodeRecord<T>(v);
    if (e.delegator === del) out.push(e);
  }
  return out;
}

const STATUSES = ["active", "jailed", "tombstoned"] as const;

/** The staking queries by name. */
export const stakingQueries: Readonly<Record<string, LedgerQuery>> = {
  validators(state, req) {
    const status = req.params.get("status");
    if (status !== null && status !== "" && !(STATUSES as readonly string[]).includes(status)) {
      throw new QueryError(400, `status: "${status}" is not one of ${STATUSES.join(", ")}`);
    }
    const active = activeSet(state);
    const all = getList<string>(state, SK.validators)
      .map((op) => getValidator(state, op))
      .filter((v): v is ValidatorRecord => v !== null)
      .map((v) => view(state, v, active))
      .filter((v) =>
        !status || (status === "active" ? v.active : status === "jailed" ? v.jailed : v.tombstoned)
      );
    return { height: state.height, validators: all };
  },
  validator(state, req) {
    const a = addressArg(req, "validator");
    const v = validatorByAny(state, a);
    if (!v) throw new QueryError(404, `validator ${a} not found`);
    const rw = getRewards(state, v.operator);
    const info = getRecord<{ missed: number }>(state, SK.signingInfo(v.cons));
    return {
      ...view(state, v, activeSet(state)),
      commissionPending: rw.commission.toString(),
      missedInWindow: info?.missed ?? 0,
      signedBlocksWindow: stakingParamsOf(state).signedBlocksWindow,
    };
  },
  delegations(state, req) {
    const del = addressArg(req, "delegations");
    const delegations = state.entries(SK.delegationsOf(del)).map(([k, b]) => {
      const op = k.slice(SK.delegationsOf(del).length);
      const d = decodeRecord<DelegationRecord>(b);
      const v = getValidator(state, op);
      return {
        validator: op,
        shares: d.shares.toString(),
        tokens: (v ? tokensOf(v, d.shares) : 0n).toString(),
      };
    });
    const unbonding = entriesOf<UnbondingEntry>(state, "stk/u/", del).map((e) => ({
      id: e.id,
      validator: e.validator,
      creationHeight: e.creationHeight,
      completionHeight: e.completionHeight,
      initial: e.initial.toString(),
      balance: e.balance.toString(),
    }));
    const redelegations = entriesOf<RedelegationEntry>(state, "stk/r/", del).map((e) => ({
      id: e.id,
      src: e.src,
      dst: e.dst,
      creationHeight: e.creationHeight,
      completionHeight: e.completionHeight,
      initial: e.initial.toString(),
    }));
    return { delegator: del, delegations, unbonding, redelegations };
  },
  rewards(state, req) {
    const del = addressArg(req, "rewards");
    let total = 0n;
    const rewards = state.entries(SK.delegationsOf(del)).map(([k, b]) => {
      const op = k.slice(SK.delegationsOf(del).length);
      const amount = pendingRewards(state, decodeRecord<DelegationRecord>(b), op);
      total += amount;
      return { validator: op, amount: amount.toString() };
    });
    const own = getValidator(state, del);
    const commission = own ? getRewards(state, del).commission : 0n;
    return { delegator: del, rewards, total: total.toString(), commission: commission.toString() };
  },
  evidence(state) {
    const evidence = state.entries("stk/ev/").map(([, b]) => decode(b) as EvidenceRecord);
    return { evidence };
  },
};
