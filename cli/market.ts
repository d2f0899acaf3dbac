/**
 * Marketplace commands: deployments, bids, leases, providers, audits; `deployment create` is in
 * deployment_create.ts, the queries in market_queries.ts, `events` in market_events.ts (all
 * re-exported here). Same conventions as every command: `--node`, `--home`, `--output`, one-line errors.
 * @module
 */
import { DENOM } from "../lib/units.ts";
import type { Command } from "commander";
import YAML from "yaml";
import { groupsForTx } from "../auction/market/mod.ts";
import { Keystore } from "../node/keystore.ts";
import { isAddress } from "../lib/crypto.ts";
import { escrowRunway, runwayTimeText } from "./runway.ts";
import { dseqArg, emit, fromKey, globals, parseAmount, readSdl, rpc, sendTx, UserError } from "./util.ts";
import { collect, eventsOf } from "./market_util.ts";
import { createDeployment } from "./deployment_create.ts";

export { addEventsCommand, type MarketEvent, subscribeEvents } from "./market_events.ts";
import { addDeploymentEventsCommand } from "./market_events.ts";
export {
  type CreatedDeployment,
  createDeployment,
  type CreateDeploymentOptions,
} from "./deployment_create.ts";
export { addMarketQueries } from "./market_queries.ts";

/** The provider file of `provider create|update`: YAML with host multiaddrs, attributes, info. */
async function readProviderFile(file: string): Promise<Record<string, unknown>> {
  let doc: unknown;
  try {
    doc = YAML.parse(await Deno.readTextFile(file));
  } catch (e) {
    throw new UserError(`Cannot read ${file}: ${(e as Error).message}`);
  }
  if (typeof doc !== "object" || doc === null) throw new UserError(`${file}: expected a YAML mapping`);
  const d = doc as Record<string, unknown>;
  const hosts = d.hostUri ?? d.host ?? d.hosts;
  const hostUri = typeof hosts === "string" ? [hosts] : hosts;
  if (!Array.isArray(hostUri) || hostUri.some((h) => typeof h !== "string")) {
    throw new UserError(
      `${file}: host must be a multiaddr or a list of multiaddrs (e.g. /ip4/1.2.3.4/tcp/26656/p2p/...)`,
    );
  }
  let attributes = d.attributes ?? [];
  if (attributes && !Array.isArray(attributes) && typeof attributes === "object") {
    attributes = Object.entries(attributes as Record<string, unknown>).map(([key, value]) => ({
      key,
      value: String(value),
    }));
  }
  if (!Array.isArray(attributes)) {
    throw new UserError(`${file}: attributes must be a list of {key, value} or a mapping`);
  }
  const body: Record<string, unknown> = {
    hostUri,
    attributes: (attributes as { key: unknown; value: unknown }[]).map((a) => ({
      key: String(a.key),
      value: String(a.value),
    })),
  };
  if (d.info && typeof d.info === "object") {
    const info = d.info as Record<string, unknown>;
    body.info = Object.fromEntries(
      Object.entries(info).filter(([k, v]) => (k === "email" || k === "website") && typeof v === "string"),
    );
  }
  return body;
}

/** Register the marketplace commands on the program. */
export function addMarketCommands(program: Command, deployment: Command): void {
  deployment.command("create <file>").description("create a deployment from an SDL file and open its orders")
    .requiredOption("--deposit <amount>", "escrow deposit in ucrs (at least the chain's minDeposit)")
    .option("--from <name>", "key to sign with (default: $CIRRUS_FROM or the only key)")
    .option("--dseq <n>", "deployment sequence (default: the block height)")
    .option("--wait", "follow the auction until a lease is created")
    .option("--timeout <seconds>", "with --wait: give up after this long", "60")
    .option("--no-manifest", "with --wait: stop at the lease, do not send the manifest")
    .action(async (file: string, o, cmd) => {
      const g = globals(cmd);
      const r = await createDeployment(g, {
        file,
        deposit: o.deposit,
        from: o.from,
        ...(o.dseq !== undefined ? { dseq: dseqArg(o.dseq) } : {}),
        wait: o.wait === true,
        sendManifest: o.manifest !== false,
        timeoutMs: Number(o.timeout) * 1000,
        ...(g.output === "text" ? { progress: (l: string) => console.log(l) } : {}),
      });
      if (g.output === "json") emit(g, r, () => "");
      else if (!o.wait) {
        console.log(`watch it with: cirrus deployment status ${r.dseq} --from ${o.from ?? "<key>"}`);
      }
    });

  deployment.command("status <dseq>").description(
    "a deployment with its groups, orders, bids, leases and escrow",
  )
    .option("--from <name>", "owner key (default: $CIRRUS_FROM or the only key)")
    .option("--owner <address>", "owner address (instead of a key)")
    .action(async (dseq: string, o, cmd) => {
      const g = globals(cmd);
      const owner = o.owner ?? (await new Keystore(g.home).get(await fromKey(g, o.from))).address;
      if (!isAddress(owner)) throw new UserError(`--owner: "${owner}" is not a cirrus address`);
      const d = await rpc<Record<string, unknown>>(g, `/query/deployment/${owner}/${dseqArg(dseq)}`);
      const escrow = d.escrow as Record<string, unknown> | undefined;
      const run = escrow ? await escrowRunway(g, escrow) : undefined;
      if (escrow && run) escrow.runway = run;
      emit(g, d, () => {
        const lines = [`deployment ${d.id}: ${d.state}${d.reason ? ` (${d.reason})` : ""}`];
        const esc = d.escrow as Record<string, string> | undefined;
        if (esc) {
          lines.push(
            `  escrow: ${esc.balance} ${esc.denom}, ${esc.ratePerBlock}/block, ${
              esc.blocksRemaining ?? "-"
            } blocks left${runwayTimeText(run)}`,
          );
        }
        for (const x of (d.orders as Record<string, unknown>[] | undefined) ?? []) {
          lines.push(`  order ${x.id}: ${x.state}`);
        }
        for (const x of (d.bids as Record<string, unknown>[] | undefined) ?? []) {
          const p = x.price as { denom: string; amount: string };
          lines.push(`  bid   ${x.id}: ${x.state} at ${p.amount} ${p.denom}`);
        }
        for (const x of (d.leases as Record<string, unknown>[] | undefined) ?? []) {
          const p = x.price as { denom: string; amount: string };
          lines.push(
            `  lease ${x.id}: ${x.state}${
              x.closeReason ?? x.reason ? ` (${x.closeReason ?? x.reason})` : ""
            } at ${p.amount} ${p.denom}, paid ${x.paid}`,
          );
        }
        return lines.join("\n");
      });
    });

  deployment.command("update <dseq> <file>").description("new manifest (same resources) for a deployment")
    .option("--from <name>", "owner key")
    .action(async (dseq: string, file: string, o, cmd) => {
      const g = globals(cmd);
      const sdl = await readSdl(file);
      const r = await sendTx(g, await fromKey(g, o.from), "deployment.update", {
        dseq: dseqArg(dseq),
        manifestHash: sdl.manifestHash,
        groups: groupsForTx(sdl.groups),
      });
      emit(
        g,
        { dseq: dseqArg(dseq), txId: r.txId, height: r.height, manifestHash: sdl.manifestHash },
        () => `deployment ${dseq} updated in block ${r.height}: manifest ${sdl.manifestHash}`,
      );
    });

  deployment.command("deposit <dseq> <amount>").description("add ucrs to a deployment's escrow")
    .option("--from <name>", "owner key")
    .action(async (dseq: string, amount: string, o, cmd) => {
      const g = globals(cmd);
      const r = await sendTx(g, await fromKey(g, o.from), "deployment.deposit", {
        dseq: dseqArg(dseq),
        amount: parseAmount(amount).toString(),
      });
      emit(
        g,
        { dseq: dseqArg(dseq), txId: r.txId, height: r.height },
        () => `deposited ${amount} ucrs in block ${r.height}`,
      );
    });

  addDeploymentEventsCommand(deployment);

  deployment.command("close <dseq>").description("close a deployment: its leases end, the escrow is refunded")
    .option("--from <name>", "owner key")
    .action(async (dseq: string, o, cmd) => {
      const g = globals(cmd);
      const r = await sendTx(g, await fromKey(g, o.from), "deployment.close", { dseq: dseqArg(dseq) });
      const closed = eventsOf(r, "deployment.closed")[0];
      emit(
        g,
        { dseq: dseqArg(dseq), txId: r.txId, height: r.height, refund: closed?.refund ?? "0" },
        () =>
          `deployment ${dseq} closed in block ${r.height}; refunded ${closed?.refund ?? 0} ${
            closed?.denom ?? DENOM
          }`,
      );
    });

  const bid = program.command("bid").description("bids on orders (as a provider)");
  bid.command("create <order>").description("bid on an order (owner/dseq/gseq/oseq)")
    .requiredOption("--price <amount>", "price per block (ucrs; decimals allowed)")
    .option("--deposit <amount>", "bid deposit in ucrs (default: the chain's bidDeposit)")
    .option("--from <name>", "provider key")
    .action(async (order: string, o, cmd) => {
      const g = globals(cmd);
      if (!/^\d+(\.\d+)?$/.test(o.price)) {
        throw new UserError(`--price must be a non-negative decimal, got "${o.price}"`);
      }
      const body: Record<string, unknown> = { order, price: { denom: "ucrs", amount: o.price } };
      if (o.deposit !== undefined) {
        body.deposit = { denom: "ucrs", amount: parseAmount(o.deposit).toString() };
      }
      const r = await sendTx(g, await fromKey(g, o.from), "bid.create", body);
      const placed = eventsOf(r, "bid.placed")[0];
      emit(
        g,
        { bid: placed?.bid, txId: r.txId, height: r.height },
        () => `bid ${placed?.bid} placed in block ${r.height}`,
      );
    });
  bid.command("close <bid>").description("withdraw a bid (or end its lease, as the provider)")
    .option("--from <name>", "provider key")
    .action(async (id: string, o, cmd) => {
      const g = globals(cmd);
      const r = await sendTx(g, await fromKey(g, o.from), "bid.close", { bid: id });
      emit(g, { bid: id, txId: r.txId, height: r.height }, () => `bid ${id} closed in block ${r.height}`);
    });

  const lease = program.command("lease").description("leases");
  lease.command("create <bid>").description("accept a bid before the window ends (as the tenant)")
    .option("--from <name>", "owner key")
    .action(async (id: string, o, cmd) => {
      const g = globals(cmd);
      const r = await sendTx(g, await fromKey(g, o.from), "lease.create", { bid: id });
      const created = eventsOf(r, "lease.created")[0];
      emit(
        g,
        { lease: created?.lease ?? id, provider: created?.provider, txId: r.txId, height: r.height },
        () => `lease ${created?.lease ?? id} created in block ${r.height}`,
      );
    });
  lease.command("close <lease>").description("end a lease (tenant or provider)")
    .option("--from <name>", "key of the tenant or the provider")
    .action(async (id: string, o, cmd) => {
      const g = globals(cmd);
      const r = await sendTx(g, await fromKey(g, o.from), "lease.close", { lease: id });
      emit(g, { lease: id, txId: r.txId, height: r.height }, () => `lease ${id} closed in block ${r.height}`);
    });

  const provider = program.command("provider").description("register as a provider");
  for (const verb of ["create", "update"] as const) {
    provider.command(`${verb} <file>`)
      .description(
        `${verb === "create" ? "register" : "update"} this key as a provider (YAML: host, attributes, info)`,
      )
      .option("--from <name>", "provider key")
      .action(async (file: string, o, cmd) => {
        const g = globals(cmd);
        const body = await readProviderFile(file);
        const r = await sendTx(g, await fromKey(g, o.from), `provider.${verb}`, body);
        emit(
          g,
          { provider: r.from, txId: r.txId, height: r.height },
          () => `provider ${r.from} ${verb}d in block ${r.height}`,
        );
      });
  }
}

/** `audit attest|revoke`: attest a provider's attributes (as an auditor), as Akash's audit module. */
export function addAuditCommands(program: Command): void {
  const audit = program.command("audit").description(
    "attest providers' attributes (placements with signedBy need them)",
  );
  audit.command("attest <provider>").description("sign a provider's attributes as this key (the auditor)")
    .requiredOption("--attr <key=value>", "an attribute to attest (repeatable)", collect, [])
    .option("--from <name>", "auditor key")
    .action(async (provider: string, o, cmd) => {
      const g = globals(cmd);
      if (!isAddress(provider)) throw new UserError(`"${provider}" is not a cirrus address`);
      const attributes = (o.attr as string[]).map((kv) => {
        const i = kv.indexOf("=");
        if (i <= 0) throw new UserError(`--attr must be key=value, got "${kv}"`);
        return { key: kv.slice(0, i), value: kv.slice(i + 1) };
      });
      const r = await sendTx(g, await fromKey(g, o.from), "audit.attest", { provider, attributes });
      emit(
        g,
        { provider, auditor: r.from, txId: r.txId, height: r.height },
        () =>
          `${r.from} attested ${
            attributes.map((a) => `${a.key}=${a.value}`).join(", ")
          } of ${provider} in block ${r.height}`,
      );
    });
  audit.command("revoke <provider>").description("withdraw this key's attestation (all, or some keys)")
    .option("--key <key>", "only this attribute (repeatable)", collect, [])
    .option("--from <name>", "auditor key")
    .action(async (provider: string, o, cmd) => {
      const g = globals(cmd);
      if (!isAddress(provider)) throw new UserError(`"${provider}" is not a cirrus address`);
      const body: Record<string, unknown> = { provider };
      if ((o.key as string[]).length > 0) body.keys = o.key;
      const r = await sendTx(g, await fromKey(g, o.from), "audit.revoke", body);
      emit(
        g,
        { provider, auditor: r.from, txId: r.txId, height: r.height },
        () => `${r.from} revoked its attestation of ${provider} in block ${r.height}`,
      );
    });
}
