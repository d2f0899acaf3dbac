/**
 * `query deployments|orders|bids|leases|providers|...`: the marketplace queries.
 * @module
 */
import type { Command } from "commander";
import YAML from "yaml";
import { Keystore } from "../node/keystore.ts";
import { isAddress } from "../lib/crypto.ts";
import { escrowRunway, runwayTimeText } from "./runway.ts";
import { dseqArg, emit, fromKey, globals, rpc, UserError } from "./util.ts";

/** Register the marketplace queries on `query`. */
export function addMarketQueries(query: Command): void {
  const list = (kind: "deployments" | "orders" | "bids" | "leases") =>
    query.command(kind).description(`list ${kind}`)
      .option("--owner <address>", "only those of this owner")
      .option("--provider <address>", "only those of this provider (bids, leases)")
      .option("--state <state>", "only those in this state")
      .action(async (o, cmd) => {
        const g = globals(cmd);
        const params = new URLSearchParams();
        for (const k of ["owner", "provider", "state"] as const) if (o[k]) params.set(k, o[k]);
        const r = await rpc<Record<string, Record<string, unknown>[]>>(g, `/query/${kind}?${params}`);
        const rows = r[kind] ?? [];
        emit(g, r, () => {
          if (rows.length === 0) return `no ${kind}`;
          return rows.map((x) => {
            const p = x.price as { denom: string; amount: string } | undefined;
            const extra = p
              ? ` ${p.amount} ${p.denom}`
              : x.maxPrice
              ? ` max ${JSON.stringify(x.maxPrice)}`
              : "";
            const why = x.closeReason ?? x.reason;
            return `${x.id}\t${x.state}${extra}${why ? ` (${why})` : ""}`;
          }).join("\n");
        });
      });
  for (const k of ["deployments", "orders", "bids", "leases"] as const) list(k);

  query.command("provider <address>").description("a provider's registration").action(
    async (addr, _o, cmd) => {
      const g = globals(cmd);
      if (!isAddress(addr)) throw new UserError(`"${addr}" is not a cirrus address`);
      const p = await rpc<Record<string, unknown>>(g, `/query/provider/${addr}`);
      emit(g, p, () => YAML.stringify(p).trimEnd());
    },
  );
  query.command("providers").description("all providers").action(async (_o, cmd) => {
    const g = globals(cmd);
    const p = await rpc<{ providers: Record<string, unknown>[] }>(g, `/query/providers`);
    emit(
      g,
      p,
      () =>
        p.providers.map((x) => `${x.owner}\t${(x.hostUri as string[]).join(",")}`).join("\n") ||
        "no providers",
    );
  });
  query.command("audits").description("auditors' attestations of providers")
    .option("--provider <address>", "only of this provider")
    .option("--auditor <address>", "only by this auditor")
    .action(async (o, cmd) => {
      const g = globals(cmd);
      const params = new URLSearchParams();
      for (const k of ["provider", "auditor"] as const) if (o[k]) params.set(k, o[k]);
      const r = await rpc<
        { audits: { provider: string; auditor: string; attributes: { key: string; value: string }[] }[] }
      >(
        g,
        `/query/audits?${params}`,
      );
      emit(
        g,
        r,
        () =>
          r.audits.map((a) =>
            `${a.provider}\tby ${a.auditor}\t${a.attributes.map((x) => `${x.key}=${x.value}`).join(", ")}`
          ).join("\n") || "no attestations",
      );
    });
  query.command("escrow <dseq>").description("a deployment's escrow: balance and blocks remaining")
    .option("--owner <address>", "owner address (default: the --from key's)")
    .option("--from <name>", "owner key")
    .action(async (dseq: string, o, cmd) => {
      const g = globals(cmd);
      const owner = o.owner ?? (await new Keystore(g.home).get(await fromKey(g, o.from))).address;
      if (!isAddress(owner)) throw new UserError(`--owner: "${owner}" is not a cirrus address`);
      const e = await rpc<Record<string, unknown>>(g, `/query/escrow/${owner}/${dseqArg(dseq)}`);
      const run = await escrowRunway(g, e);
      if (run) e.runway = run;
      emit(
        g,
        e,
        () =>
          `escrow of ${owner}/${dseq}: ${e.balance} ${e.denom} (${e.state}), ${e.ratePerBlock}/block, ` +
          `${e.blocksRemaining ?? "-"} blocks remaining${runwayTimeText(run)}`,
      );
    });
}
