/**
 * Marketplace commands: deployments, bids, leases, providers, marketplace queries and events.
 * Same conventions as every command: `--node`, `--home`, `--output`, one-line errors.
 * @module
 */
import { DENOM } from "../lib/units.ts";
import type { Command } from "commander";
import YAML from "yaml";
import { groupsForTx } from "../auction/market/mod.ts";
import { Keystore } from "../node/keystore.ts";
import { isAddress } from "../lib/crypto.ts";
import { orderIdOfBid } from "../lib/ids.ts";
import { sendManifest, waitReady } from "./lease.ts";
import { screenGroups, type Screening } from "./screen.ts";
import { escrowRunway, type Runway, runwayTimeText } from "./runway.ts";
import {
  dseqArg,
  emit,
  fromKey,
  type GlobalOptions,
  globals,
  parseAmount,
  readSdl,
  rpc,
  sendTx,
  type SentTx,
  UserError,
} from "./util.ts";

/** A marketplace event as streamed by `GET /events?type=event`. */
export interface MarketEvent {
  height: number;
  txId?: string;
  type: string;
  attrs: Record<string, string>;
}

/** Subscribe to the node's event stream; `close()` ends it. */
export async function subscribeEvents(
  g: GlobalOptions,
  types: string[],
  onEvent: (kind: string, data: unknown) => void,
): Promise<{ close(): void; done: Promise<void> }> {
  const ctrl = new AbortController();
  let res: Response;
  try {
    res = await fetch(`${g.node}/events?${types.map((t) => `type=${t}`).join("&")}`, { signal: ctrl.signal });
  } catch {
    throw new UserError(`node ${g.node} not reachable (is a node running? set --node URL)`);
  }
  if (!res.ok || !res.body) {
    throw new UserError(`node ${g.node} refused the event stream (HTTP ${res.status})`);
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  const done = (async () => {
    let buf = "";
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) return;
        buf += value;
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const chunk = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const kind = /^event: (\S+)$/m.exec(chunk)?.[1];
          const data = /^data: (.*)$/m.exec(chunk)?.[1];
          if (kind && data) {
            try {
              onEvent(kind, JSON.parse(data));
            } catch { /* a bad frame is skipped */ }
          }
        }
      }
    } catch { /* aborted */ }
  })();
  return {
    close: () => {
      ctrl.abort();
      reader.cancel().catch(() => {});
    },
    done,
  };
}

function eventsOf(r: SentTx, type: string): Record<string, string>[] {
  return (r.events ?? []).filter((e) => e.type === type).map((e) => e.attrs);
}

function price(denom: string | undefined, amount: string | undefined): string {
  return `${amount} ${denom ?? ""}`.trim();
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

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

/** Options of {@link createDeployment}. */
export interface CreateDeploymentOptions {
  file: string;
  deposit: string;
  from?: string;
  dseq?: number;
  wait: boolean;
  timeoutMs: number;
  /** With wait: send the manifest to the winner and wait until the services are ready (default true). */
  sendManifest?: boolean;
  /** Progress lines (text mode). */
  progress?: (line: string) => void;
}

/** The result of `deployment create`. */
export interface CreatedDeployment {
  dseq: number;
  txId: string;
  height: number;
  owner: string;
  orders: string[];
  lease?: { id: string; provider: string; price: { denom: string; amount: string } };
  /** With --wait and a manifest sent: each service and its URIs. */
  services?: { name: string; uris: string[] }[];
  /** With --wait: what every provider said, before the deployment was sent, about each group. */
  screening?: Screening;
  /** With --wait, once leased: how long the deposit pays the leases. */
  runway?: Runway;
}

/** Progress lines of a screening: each provider that would not bid, and why; groups nobody would bid on. */
function declineLines(s: Screening, only?: string): string[] {
  const out: string[] = [];
  for (const grp of s.groups) {
    if (only !== undefined && grp.name !== only) continue;
    for (const p of grp.providers) {
      if (!p.bid) {
        out.push(`  provider ${p.address} will not bid on group ${grp.name}: ${p.reasons.join("; ")}`);
      }
    }
    if (!grp.providers.some((p) => p.bid)) out.push(`  no provider would bid on group ${grp.name}`);
  }
  return out;
}

/** Screens groups for `deployment create --wait`; a failure is a line of progress, never an error. */
async function screenQuietly(
  g: GlobalOptions,
  groups: ReturnType<typeof groupsForTx>,
  say: (line: string) => void,
): Promise<Screening | undefined> {
  try {
    return await screenGroups(g, groups, { timeoutMs: 5_000 });
  } catch (e) {
    say(`  could not ask the providers whether they would bid: ${(e as Error).message}`);
    return undefined;
  }
}

/** Create a deployment; with `wait`, follow the auction until a lease is created (or time out). */
export async function createDeployment(
  g: GlobalOptions,
  o: CreateDeploymentOptions,
): Promise<CreatedDeployment> {
  const sdl = await readSdl(o.file);
  const deposit = parseAmount(o.deposit, "--deposit");
  const keyName = await fromKey(g, o.from);
  const say = o.progress ?? (() => {});
  // Subscribe before sending, so no event can be missed.
  const seen: MarketEvent[] = [];
  let wake: (() => void) | null = null;
  const sub = o.wait
    ? await subscribeEvents(g, ["event"], (kind, data) => {
      if (kind === "event") {
        seen.push(data as MarketEvent);
        wake?.();
      }
    })
    : null;
  try {
    const groups = groupsForTx(sdl.groups);
    // Ask the providers first (nothing of ours is reserved yet): who would bid, and why not.
    const screening = sub ? await screenQuietly(g, groups, say) : undefined;
    const body: Record<string, unknown> = {
      groups,
      manifestHash: sdl.manifestHash,
      deposit: { denom: DENOM, amount: deposit.toString() },
    };
    if (o.dseq !== undefined) body.dseq = o.dseq;
    const r = await sendTx(g, keyName, "deployment.create", body);
    const created = eventsOf(r, "deployment.created")[0];
    const orders = eventsOf(r, "order.opened");
    const out: CreatedDeployment = {
      dseq: Number(created?.dseq ?? o.dseq ?? r.height),
      txId: r.txId,
      height: r.height!,
      owner: r.from,
      orders: orders.map((x) => x.order!),
    };
    if (screening) out.screening = screening;
    const groupOf = new Map(orders.map((x) => [x.order!, x.group ?? ""]));
    say(`deployment ${out.dseq} created in block ${out.height} (tx ${out.txId.slice(0, 16)}...)`);
    for (const ord of orders) {
      say(
        `  order ${ord.order} open for bids until block ${ord.closesAt}, max ${
          price(ord.denom, ord.maxPrice)
        }/block`,
      );
    }
    if (screening) { for (const l of declineLines(screening)) say(l); }
    if (!sub) return out;
    const deadline = Date.now() + o.timeoutMs;
    const wanted = new Set(out.orders);
    const leases = new Map<string, Record<string, string>>();
    const reopened = new Set<string>();
    let cursor = 0;
    while (leases.size < wanted.size) {
      while (cursor < seen.length) {
        const e = seen[cursor++]!;
        const a = e.attrs;
        if (e.type === "bid.placed" && wanted.has(a.order ?? "")) {
          say(`  bid from ${a.provider} at ${price(a.denom, a.price)}/block (block ${e.height})`);
        } else if (
          e.type === "lease.created" && wanted.has(orderIdOfBid(a.lease ?? "") ?? "")
        ) {
          leases.set(a.lease!, a);
          say(
            `  lease ${a.lease} won by ${a.provider} at ${price(a.denom, a.price)}/block (block ${e.height})`,
          );
        } else if (e.type === "order.reopened" && wanted.has(a.order ?? "") && !reopened.has(a.order!)) {
          reopened.add(a.order!);
          say(`  no bids yet: order ${a.order} stays open; the next bid opens a new bid window`);
          // Why not, now: the providers' own reasons for this group.
          const name = groupOf.get(a.order!);
          const again = await screenQuietly(g, groups.filter((x) => x.name === name), say);
          if (again) { for (const l of declineLines(again, name)) say(l); }
        }
      }
      if (leases.size >= wanted.size) break;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new UserError(
          `no lease for deployment ${out.dseq} within ${o.timeoutMs / 1000}s; its orders stay open ` +
            `(see: cirrus query orders --owner ${out.owner}); close it with: cirrus deployment close ${out.dseq}`,
        );
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, Math.min(left, 500));
      });
      wake = null;
    }
    const first = [...leases.values()][0];
    if (first) {
      out.lease = {
        id: first.lease!,
        provider: first.provider!,
        price: { denom: first.denom!, amount: first.price! },
      };
    }
    const esc = await rpc<Record<string, unknown>>(g, `/query/escrow/${out.owner}/${out.dseq}`).catch(() =>
      null
    );
    const run = esc ? await escrowRunway(g, esc) : undefined;
    if (run) {
      out.runway = run;
      say(`  escrow runway: ${run.blocks ?? "unbounded"} blocks${runwayTimeText(run)}`);
    }
    if (o.sendManifest === false || leases.size === 0) return out;
    // The manifest goes to the winners; then wait until the workload answers.
    const sent = await sendManifest(g, {
      keyName,
      dseq: out.dseq,
      manifest: sdl.manifest,
      manifestHash: sdl.manifestHash,
      leaseIds: [...leases.keys()],
    });
    for (const s of sent) say(`  manifest accepted by ${s.provider}`);
    out.services = [];
    for (const [id, l] of leases) {
      const left = Math.max(5_000, deadline - Date.now());
      const services = await waitReady(g, keyName, id, left).catch((e) => {
        // Say what the tenant pays meanwhile, and how to stop it.
        throw new UserError(
          `${(e as Error).message}; lease ${id} is still billed (${
            price(l.denom, l.price)
          }/block) until its ` +
            `provider closes it (workload_failed, after its grace window) or you close it: ` +
            `cirrus deployment close ${out.dseq}`,
        );
      });
      for (const svc of services) {
        say(
          `  service ${svc.name} ready (${svc.ready}/${svc.total})${
            svc.uris.length ? `: ${svc.uris.join(" ")}` : ""
          }`,
        );
        out.services.push({ name: svc.name, uris: svc.uris });
      }
    }
    return out;
  } finally {
    sub?.close();
  }
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

/** `cirrus events [--type T ...]`: stream marketplace events until Ctrl-C. */
export function addEventsCommand(program: Command): void {
  program.command("events").description(
    "stream marketplace events (order opened, bid placed, lease created, ...)",
  )
    .option("--type <type>", "only this event type, e.g. lease.created (repeatable)", collect, [])
    .action(async (o, cmd) => {
      const g = globals(cmd);
      const only = new Set<string>(o.type);
      const sub = await subscribeEvents(g, ["event"], (_kind, data) => {
        const e = data as MarketEvent;
        if (only.size > 0 && !only.has(e.type)) return;
        if (g.output === "json") console.log(JSON.stringify(e));
        else {
          console.log(
            `${e.height}\t${e.type}\t${Object.entries(e.attrs).map(([k, v]) => `${k}=${v}`).join(" ")}`,
          );
        }
      });
      Deno.addSignalListener("SIGINT", () => sub.close());
      await sub.done;
    });
}
