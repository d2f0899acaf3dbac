/**
 * `query validators|validator|delegations|rewards|evidence`: the staking module's queries, as text
 * or (`--output json`) the RPC's JSON as is.
 * @module
 */
import type { Command } from "commander";
import YAML from "yaml";
import { isAddress } from "../lib/crypto.ts";
import { emit, globals, rpc, UserError } from "./util.ts";

interface ValidatorRow {
  operator: string;
  cons: string;
  moniker: string;
  power: string;
  tokens: string;
  commission: string;
  active: boolean;
  jailed: boolean;
  tombstoned: boolean;
}

function addressArg(a: string): string {
  if (!isAddress(a)) throw new UserError(`"${a}" is not a cirrus address`);
  return a;
}

function status(v: ValidatorRow): string {
  return v.tombstoned ? "tombstoned" : v.jailed ? "jailed" : v.active ? "active" : "inactive";
}

/** Register the staking queries on `query`. */
export function addStakingQueries(query: Command): void {
  query.command("validators").description(
    "every validator: power, stake, status (active set of the next height)",
  )
    .option("--status <status>", "only active, jailed or tombstoned ones")
    .action(async (o, cmd) => {
      const g = globals(cmd);
      const params = new URLSearchParams();
      if (o.status) params.set("status", o.status);
      const r = await rpc<{ height: number; validators: ValidatorRow[] }>(g, `/query/validators?${params}`);
      emit(
        g,
        r,
        () =>
          r.validators.map((v) =>
            `${v.operator}\t${v.moniker}\tpower ${v.power}\t${v.tokens} ucrs\tcommission ${v.commission}\t${
              status(v)
            }`
          ).join("\n") || "no validators",
      );
    });
  query.command("validator <address>").description("a validator by operator or consensus address")
    .action(async (addr: string, _o, cmd) => {
      const g = globals(cmd);
      const v = await rpc<Record<string, unknown>>(g, `/query/validator/${addressArg(addr)}`);
      emit(g, v, () => YAML.stringify(v).trimEnd());
    });
  query.command("delegations <address>").description("a delegator's delegations, unbonding and redelegations")
    .action(async (addr: string, _o, cmd) => {
      const g = globals(cmd);
      const d = await rpc<{
        delegations: { validator: string; tokens: string }[];
        unbonding: { validator: string; balance: string; completionHeight: number }[];
        redelegations: { src: string; dst: string; initial: string; completionHeight: number }[];
      }>(g, `/query/delegations/${addressArg(addr)}`);
      emit(g, d, () =>
        [
          ...d.delegations.map((x) => `delegation\t${x.validator}\t${x.tokens} ucrs`),
          ...d.unbonding.map((x) =>
            `unbonding\t${x.validator}\t${x.balance} ucrs\tat height ${x.completionHeight}`
          ),
          ...d.redelegations.map((x) =>
            `redelegation\t${x.src} -> ${x.dst}\t${x.initial} ucrs\tmatures at ${x.completionHeight}`
          ),
        ].join("\n") || "no delegations");
    });
  query.command("rewards <address>").description("rewards a delegator can withdraw (and commission)")
    .action(async (addr: string, _o, cmd) => {
      const g = globals(cmd);
      const r = await rpc<
        { rewards: { validator: string; amount: string }[]; total: string; commission: string }
      >(
        g,
        `/query/rewards/${addressArg(addr)}`,
      );
      emit(g, r, () =>
        [
          ...r.rewards.map((x) => `${x.validator}\t${x.amount} ucrs`),
          `total\t${r.total} ucrs`,
          ...(r.commission !== "0" ? [`commission\t${r.commission} ucrs`] : []),
        ].join("\n"));
    });
  query.command("evidence").description("double signs punished (slashed, jailed, tombstoned)")
    .action(async (_o, cmd) => {
      const g = globals(cmd);
      const r = await rpc<
        {
          evidence: {
            cons: string;
            operator: string;
            height: number;
            includedHeight: number;
            burned: string;
          }[];
        }
      >(g, "/query/evidence");
      emit(
        g,
        r,
        () =>
          r.evidence.map((e) =>
            `${e.operator} (${e.cons})\tdouble sign at height ${e.height}\tincluded at ${e.includedHeight}\tburned ${e.burned} ucrs`
          ).join("\n") || "no evidence",
      );
    });
}
