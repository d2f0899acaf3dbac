/**
 * The lease protocol (`/cirrus/lease/1`): a tenant's signed request for a lease's status, logs,
 * events or a `lease shell` command, checked (signature, chain id, the lease's owner, freshness)
 * and answered; followed logs are streamed on `/cirrus/lease/1/logs`. `ProviderService` serves
 * these handlers.
 * @module
 */
import type { Clock } from "../lib/clock.ts";
import { type ClusterDriver, NotFoundError } from "./cluster/driver.ts";
import { getLease, type LeaseInfo } from "../auction/market/mod.ts";
import {
  decodeLeaseRequest,
  encodeResponse,
  errorResponse,
  type FreshnessGuard,
  type LeaseEvent,
  type LeaseRequest,
  type LeaseResponse,
  type LogStreamFrame,
  type ProtocolErrorCode,
  verifyLeaseRequest,
} from "./protocol/mod.ts";
import { answerShell } from "./lease_shell.ts";
import { type KeptQuery, type LeaseLogs } from "./log_keeper.ts";
import { dnsLabel } from "./cluster/objects.ts";
import type { ShellSessions } from "./shell_sessions.ts";
import type { ChainClient } from "./chain_client.ts";

/** What the lease protocol handlers read: the service's chain, driver, clock and memory. */
export interface LeaseAccess {
  chain: ChainClient;
  /** the provider's address */
  address: string;
  driver: ClusterDriver;
  clock: Clock;
  /** wall time for request freshness (default: the clock's) */
  now?: () => number;
  /** nonces remembered against replays */
  fresh: FreshnessGuard;
  /** recent events by lease id */
  events: ReadonlyMap<string, LeaseEvent[]>;
  /** the kept logs (absent, or unsupported by the driver: the driver's `logs` as is) */
  logs?: LeaseLogs;
  /** open interactive shells (absent: interactive shells are refused) */
  shells?: ShellSessions;
  /** how often a followed log is read again, ms (default {@link LOG_FOLLOW_POLL_MS}) */
  logPollMs?: number;
}

/** How often a followed log is read again by default, ms. */
export const LOG_FOLLOW_POLL_MS = 500;

/** What a tenant asks of a lease: its signed request without the envelope (chain, lease, freshness, key). */
export type LeaseAsk = Omit<LeaseRequest, "chainId" | "leaseId" | "timestamp" | "nonce" | "pubKey">;

export async function authorizeLeaseRequest(d: LeaseAccess, req: Uint8Array): Promise<
  | ({ ok: true; lease: LeaseInfo } & LeaseAsk)
  | { ok: false; code: ProtocolErrorCode; error: string }
> {
  let signed;
  try {
    signed = decodeLeaseRequest(req);
  } catch (e) {
    return { ok: false, code: "bad_request", error: `malformed lease request: ${(e as Error).message}` };
  }
  const v = await verifyLeaseRequest(signed);
  if (!v.ok) return { ok: false, code: "forbidden", error: v.reason };
  const r = signed.request;
  if (r.chainId !== d.chain.chainId) {
    return { ok: false, code: "bad_request", error: `wrong chain id ${r.chainId}` };
  }
  const lease = getLease(d.chain.view(), r.leaseId);
  if (!lease || lease.provider !== d.address) {
    return { ok: false, code: "not_found", error: `lease ${r.leaseId} is not a lease of this provider` };
  }
  if (v.signer !== lease.owner) {
    return { ok: false, code: "forbidden", error: "forbidden: only the deployment's owner may ask" };
  }
  // Nonces are remembered only for the lease's owner: a stranger's keys cannot fill the table.
  const stale = d.fresh.check(r.timestamp, r.nonce, d.now?.() ?? d.clock.now());
  if (stale) return { ok: false, code: "forbidden", error: stale };
  const { chainId: _chain, leaseId: _lease, timestamp: _time, nonce: _nonce, pubKey: _key, ...ask } = r;
  return { ok: true, lease: lease as LeaseInfo, ...ask };
}

export async function answerLeaseRequest(d: LeaseAccess, req: Uint8Array): Promise<Uint8Array> {
  const respond = (r: LeaseResponse) => encodeResponse(r);
  const a = await authorizeLeaseRequest(d, req);
  if (!a.ok) return respond(errorResponse(a.code, a.error));
  const id = a.lease.id;
  if (a.op === "status") {
    try {
      const s = await d.driver.status(id);
      return respond({ ok: true, lease: a.lease, services: s.services });
    } catch (e) {
      if (e instanceof NotFoundError) {
        return respond({
          ok: true,
          lease: a.lease,
          services: [],
          message: a.lease.state === "active"
            ? "no workload yet: send the manifest"
            : `lease is ${a.lease.state}`,
        });
      }
      throw e;
    }
  }
  if (a.op === "shell" && a.tty !== undefined) {
    if (!d.shells) return respond(errorResponse("unsupported", "interactive shells are not served here"));
    return respond(await d.shells.open(d.driver, a.lease, { ...a, command: a.command ?? [], tty: a.tty }));
  }
  if (a.op === "shell") {
    return respond(await answerShell(d.driver, a.lease, { ...a, command: a.command ?? [] }));
  }
  if (a.op === "shell_io") {
    if (!d.shells) return respond(errorResponse("unsupported", "interactive shells are not served here"));
    return respond(await d.shells.io(a.lease, a.session ?? "", a.stdin, a.eof === true));
  }
  if (a.op === "events") {
    return respond({ ok: true, events: d.events.get(id) ?? [] });
  }
  if (a.op === "logs" && d.logs?.supported) {
    try {
      await d.logs.refresh(id);
    } catch (e) {
      if (e instanceof NotFoundError) return respond({ ok: true, lines: [] });
      throw e;
    }
    const r = d.logs.keeper.read(id, keptQuery(a));
    const lines = r.lines.map((l) => (r.containers > 1 ? `${l.name} ${l.line}` : l.line));
    const dropped = r.dropped.map((x) => ({ container: x.name, lines: x.lines }));
    return respond({ ok: true, lines, ...(dropped.length > 0 ? { dropped } : {}) });
  }
  if (a.op === "logs") {
    const lines: string[] = [];
    const ac = new AbortController();
    const timer = d.clock.setTimeout(() => ac.abort(), 5000);
    try {
      for await (
        const line of d.driver.logs(id, {
          ...(a.service ? { service: a.service } : {}),
          tail: Math.min(a.tail ?? 100, 10_000),
          signal: ac.signal,
        })
      ) {
        lines.push(line);
        if (lines.length >= 10_000) break;
      }
    } catch (e) {
      if (e instanceof NotFoundError) return respond({ ok: true, lines: [] });
      if (!ac.signal.aborted) throw e;
    } finally {
      d.clock.clearTimeout(timer);
    }
    return respond({ ok: true, lines });
  }
  return respond(errorResponse("bad_request", `unknown op ${String(a.op)}`));
}

function keptQuery(
  a: { service?: string; tail?: number; cursor?: Record<string, number> },
): KeptQuery {
  return {
    ...(a.service !== undefined ? { service: dnsLabel(a.service) } : {}),
    ...(a.cursor !== undefined ? { cursor: a.cursor } : { tail: Math.min(a.tail ?? 100, 10_000) }),
  };
}

/**
 * Follows kept logs: every `logPollMs` the driver is read again and the lines after the cursor are
 * sent, each with its container, id and seq (the client's cursor to resume with). Ends when the
 * tenant goes away, or with a `not_found` frame when the lease is no longer active.
 */
async function followKept(
  d: LeaseAccess & { logs: LeaseLogs },
  a: { lease: LeaseInfo; service?: string; tail?: number; cursor?: Record<string, number> },
  send: (frame: Uint8Array) => Promise<void>,
  signal: AbortSignal,
): Promise<void> {
  const frame = (r: LogStreamFrame) => encodeResponse(r);
  const id = a.lease.id;
  let q = keptQuery(a);
  while (!signal.aborted) {
    const lease = getLease(d.chain.view(), id);
    if (!lease || lease.state !== "active") {
      await send(frame(errorResponse("not_found", `lease ${id} is ${lease?.state ?? "gone"}: no more logs`)));
      return;
    }
    let ready = true;
    try {
      await d.logs.refresh(id);
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
      ready = false; // no workload yet (manifest not sent): keep waiting
    }
    if (ready) {
      const r = d.logs.keeper.read(id, q);
      for (const x of r.dropped) await send(frame({ ok: true, dropped: x.lines, container: x.name }));
      for (const l of r.lines) {
        const line = r.containers > 1 ? `${l.name} ${l.line}` : l.line;
        await send(frame({ ok: true, line, container: l.name, id: l.id, seq: l.seq }));
      }
      q = { ...(q.service !== undefined ? { service: q.service } : {}), cursor: r.next };
    }
    await new Promise<void>((res) => {
      const t = d.clock.setTimeout(done, d.logPollMs ?? LOG_FOLLOW_POLL_MS);
      function done() {
        signal.removeEventListener("abort", stop);
        res();
      }
      function stop() {
        d.clock.clearTimeout(t);
        res();
      }
      signal.addEventListener("abort", stop, { once: true });
    });
  }
}

export async function streamLeaseLogs(
  d: LeaseAccess,
  req: Uint8Array,
  send: (frame: Uint8Array) => Promise<void>,
  signal: AbortSignal,
): Promise<void> {
  const frame = (r: LogStreamFrame) => encodeResponse(r);
  const a = await authorizeLeaseRequest(d, req);
  if (!a.ok || a.op !== "logs") {
    await send(
      frame(
        a.ok
          ? errorResponse("bad_request", `op ${a.op} is not a log stream`)
          : errorResponse(a.code, a.error),
      ),
    );
    return;
  }
  if (d.logs?.supported) {
    await followKept({ ...d, logs: d.logs }, a, send, signal);
    return;
  }
  for await (
    const line of d.driver.logs(a.lease.id, {
      ...(a.service ? { service: a.service } : {}),
      tail: Math.min(a.tail ?? 100, 10_000),
      follow: true,
      signal,
    })
  ) {
    await send(frame({ ok: true, line }));
  }
}
