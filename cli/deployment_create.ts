/**
 * `deployment create`: screen the groups with providers, create the deployment, and with `--wait`
 * follow its bids and leases, send the manifest and wait until the workload is ready.
 * @module
 */
import { DENOM } from "../lib/units.ts";
import { groupsForTx } from "../auction/market/mod.ts";
import { orderIdOfBid } from "../lib/ids.ts";
import { sendManifest, waitReady } from "./lease.ts";
import { screenGroups, type Screening } from "./screen.ts";
import { escrowRunway, type Runway, runwayTimeText } from "./runway.ts";
import { fromKey, type GlobalOptions, parseAmount, readSdl, rpc, sendTx, UserError } from "./util.ts";
import { eventsOf, price } from "./market_util.ts";
import { escrowLowLine, type MarketEvent, subscribeEvents } from "./market_events.ts";

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
        } else if (e.type === "escrow.low" && a.deployment === `${out.owner}/${out.dseq}`) {
          say(escrowLowLine(a));
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
