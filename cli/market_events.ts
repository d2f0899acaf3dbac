/**
 * `cirrus events` and the marketplace event stream (`GET /events?type=event`) it and
 * `deployment create --wait` follow.
 * @module
 */
import type { Command } from "commander";
import { dseqArg, fromKey, type GlobalOptions, globals, UserError } from "./util.ts";
import { Keystore } from "../node/keystore.ts";
import { collect } from "./market_util.ts";

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

/** How `escrow.low` reads for a person (`deployment create --wait`, `deployment events`). */
export function escrowLowLine(a: Record<string, string>): string {
  return `  escrow low: ${a.blocksLeft} blocks of runway left (under ${a.threshold}); top up with: ` +
    `cirrus deployment deposit ${a.dseq} AMOUNT`;
}

/** Whether a marketplace event is about deployment `owner/dseq` (its escrow, orders, bids, leases). */
export function eventOfDeployment(e: MarketEvent, owner: string, dseq: number): boolean {
  const id = `${owner}/${dseq}`;
  const a = e.attrs;
  if (a.deployment === id) return true;
  return [a.order, a.bid, a.lease].some((x) => x !== undefined && x.startsWith(`${id}/`));
}

/** `cirrus deployment events DSEQ`: stream one deployment's marketplace events until Ctrl-C. */
export function addDeploymentEventsCommand(deployment: Command): void {
  deployment.command("events <dseq>").description(
    "stream one deployment's marketplace events (bids, leases, payments, escrow.low, closes) until Ctrl-C",
  )
    .option("--from <name>", "owner key")
    .option("--owner <address>", "the deployment's owner (default: the --from key's address)")
    .action(async (dseqText: string, o, cmd) => {
      const g = globals(cmd);
      const dseq = dseqArg(dseqText);
      const owner: string = o.owner ?? (await new Keystore(g.home).get(await fromKey(g, o.from))).address;
      const sub = await subscribeEvents(g, ["event"], (_kind, data) => {
        const e = data as MarketEvent;
        if (!eventOfDeployment(e, owner, dseq)) return;
        if (g.output === "json") console.log(JSON.stringify(e));
        else if (e.type === "escrow.low") {
          console.log(`${e.height}\t${e.type}\t${escrowLowLine(e.attrs).trim()}`);
        } else {console.log(`${e.height}\t${e.type}\t${
            Object.entries(e.attrs).map(([k, v]) => `${k}=${v}`).join(" ")
          }`);}
      });
      Deno.addSignalListener("SIGINT", () => sub.close());
      await sub.done;
    });
}
