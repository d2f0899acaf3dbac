/**
 * Tenant access to providers over libp2p: send the manifest (`/cirrus/manifest/1`), read a lease's
 * status, logs and events (`/cirrus/lease/1`). Every request is signed by the tenant's key and fresh
 * (timestamp + nonce), so only the deployment's owner gets answers and nothing can be replayed.
 * @module
 */
import type { Command } from "commander";
import { createP2P, type P2P } from "../node/p2p.ts";
import { Keystore } from "../node/keystore.ts";
import { toHex } from "../lib/crypto.ts";
import { parseLeaseId } from "../lib/ids.ts";
import type { Manifest } from "../auction/sdl/types.ts";
import {
  decodeResponse,
  type ServiceView,
  signLeaseRequest,
  signManifestRequest,
} from "../provider/protocol/mod.ts";
import { LEASE_PROTOCOL, MANIFEST_PROTOCOL } from "../provider/service.ts";
import { followWithResume, ProviderRefusal } from "./lease_logs.ts";
import { runInteractiveShell } from "./lease_shell.ts";
import {
  dseqArg,
  emit,
  ExitCode,
  fromKey,
  type GlobalOptions,
  globals,
  readSdl,
  rpc,
  UserError,
} from "./util.ts";

/** A lease as the RPC lists it. */
interface LeaseRow {
  id: string;
  owner: string;
  dseq: number;
  provider: string;
  state: string;
  price: { denom: string; amount: string };
}

function nonce(): string {
  return toHex(crypto.getRandomValues(new Uint8Array(16)));
}

/** A short-lived libp2p host of the CLI, dialing providers. */
export async function withHost<T>(fn: (p2p: P2P) => Promise<T>): Promise<T> {
  const p2p = await createP2P({ transport: "tcp", listen: ["/ip4/127.0.0.1/tcp/0"], topics: [] });
  try {
    return await fn(p2p);
  } finally {
    await p2p.stop();
  }
}

/** Dial the provider of a lease: its on-chain hostUri; returns its peer id. */
export async function dialProvider(g: GlobalOptions, p2p: P2P, provider: string): Promise<string> {
  const info = await rpc<{ hostUri: string[] }>(g, `/query/provider/${provider}`);
  let lastError = "no host address";
  for (const addr of info.hostUri) {
    const peer = /\/p2p\/([^/]+)$/.exec(addr)?.[1];
    if (!peer) continue;
    try {
      await p2p.dial(addr);
      return peer;
    } catch (e) {
      lastError = (e as Error).message;
    }
  }
  throw new UserError(`cannot reach provider ${provider} at ${info.hostUri.join(", ")}: ${lastError}`);
}

/** The chain id of the node the CLI talks to. */
export async function chainId(g: GlobalOptions): Promise<string> {
  return (await rpc<{ chainId: string }>(g, "/status")).chainId;
}

function failure(provider: string, r: { ok: boolean; code?: string; error?: string }): UserError {
  return new UserError(
    `provider ${provider} refused: ${r.error ?? "unknown error"}${r.code ? ` (${r.code})` : ""}`,
  );
}

/** Send the deployment's manifest to the providers of its active leases. */
export async function sendManifest(
  g: GlobalOptions,
  o: { keyName: string; dseq: number; manifest: Manifest; manifestHash: string; leaseIds?: string[] },
): Promise<{ lease: string; provider: string; services: ServiceView[] }[]> {
  const key = await new Keystore(g.home).get(o.keyName);
  const dep = await rpc<{ manifestHash: string; updatedAt?: number; createdAt: number; leases: LeaseRow[] }>(
    g,
    `/query/deployment/${key.address}/${o.dseq}`,
  );
  if (dep.manifestHash !== o.manifestHash) {
    throw new UserError(
      `the manifest's hash ${o.manifestHash.slice(0, 16)}... differs from deployment ${o.dseq}'s on-chain ` +
        `${dep.manifestHash.slice(0, 16)}...: run \`cirrus deployment update ${o.dseq} FILE\` first`,
    );
  }
  const leases = dep.leases.filter((l) => l.state === "active" && (!o.leaseIds || o.leaseIds.includes(l.id)));
  if (leases.length === 0) throw new UserError(`deployment ${o.dseq} has no active lease yet`);
  const id = await chainId(g);
  const version = dep.updatedAt ?? dep.createdAt;
  return await withHost(async (p2p) => {
    const out = [];
    for (const lease of leases) {
      const peer = await dialProvider(g, p2p, lease.provider);
      const req = await signManifestRequest({
        chainId: id,
        leaseId: lease.id,
        manifest: o.manifest,
        manifestHash: o.manifestHash,
        version,
        timestamp: Date.now(),
        nonce: nonce(),
      }, key.privKey);
      const res = decodeResponse(await p2p.request(peer, MANIFEST_PROTOCOL, req, { timeoutMs: 120_000 }));
      if (!res.ok) throw failure(lease.provider, res);
      const status = (res as { status?: { services?: ServiceView[] } }).status;
      out.push({ lease: lease.id, provider: lease.provider, services: status?.services ?? [] });
    }
    return out;
  });
}

/** Ask a lease's provider (signed by the tenant). */
export async function leaseRequest<T>(
  g: GlobalOptions,
  keyName: string,
  leaseId: string,
  op: "status" | "logs" | "events" | "shell",
  extra: { service?: string; tail?: number; replica?: number; command?: string[] } = {},
): Promise<T> {
  const provider = parseLeaseId(leaseId)?.provider;
  if (!provider) {
    throw new UserError(`lease id must be owner/dseq/gseq/oseq/provider, got "${leaseId}"`);
  }
  const key = await new Keystore(g.home).get(keyName);
  const id = await chainId(g);
  return await withHost(async (p2p) => {
    const peer = await dialProvider(g, p2p, provider);
    const req = await signLeaseRequest({
      chainId: id,
      leaseId,
      op,
      ...extra,
      timestamp: Date.now(),
      nonce: nonce(),
    }, key.privKey);
    const res = decodeResponse(
      await p2p.request(peer, LEASE_PROTOCOL, req, { timeoutMs: op === "shell" ? 60_000 : 30_000 }),
    );
    if (!res.ok) throw failure(provider, res);
    return res as T;
  });
}

/** Poll a lease's status until every service is ready (bounded). */
export async function waitReady(
  g: GlobalOptions,
  keyName: string,
  leaseId: string,
  timeoutMs: number,
): Promise<ServiceView[]> {
  const deadline = Date.now() + timeoutMs;
  let last: ServiceView[] = [];
  while (Date.now() < deadline) {
    const s = await leaseRequest<{ services: ServiceView[] }>(g, keyName, leaseId, "status");
    last = s.services;
    if (last.length > 0 && last.every((x) => x.ready >= x.total && x.total > 0)) return last;
    const failed = last.find((x) => x.state?.startsWith("failed") || x.state?.startsWith("crashloop"));
    if (failed) {
      throw new UserError(
        `service ${failed.name}: ${failed.state}${failed.message ? ` (${failed.message})` : ""}`,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const why = last.map((x) => `${x.name} ${x.ready}/${x.total} ${x.state ?? ""}`).join(", ") || "no status";
  throw new UserError(`lease ${leaseId} not ready within ${timeoutMs / 1000}s: ${why}`);
}

/** What `lease shell` gets back. */
interface ShellResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  truncated?: boolean;
}

/** Register `lease send-manifest|status|logs|events|shell`. */
export function addLeaseCommands(lease: Command): void {
  lease.command("send-manifest <dseq> <file>").description("send the deployment's manifest to its providers")
    .option("--from <name>", "the tenant key")
    .action(async (dseq: string, file: string, o, cmd) => {
      const g = globals(cmd);
      const sdl = await readSdl(file);
      const n = dseqArg(dseq);
      const sent = await sendManifest(g, {
        keyName: await fromKey(g, o.from),
        dseq: n,
        manifest: sdl.manifest,
        manifestHash: sdl.manifestHash,
      });
      emit(
        g,
        { leases: sent },
        () => sent.map((s) => `manifest accepted by ${s.provider} for lease ${s.lease}`).join("\n"),
      );
    });

  lease.command("status <lease>").description("per service: image, replicas ready/total, URIs")
    .option("--from <name>", "the tenant key")
    .action(async (id: string, o, cmd) => {
      const g = globals(cmd);
      const s = await leaseRequest<{ services: ServiceView[]; message?: string }>(
        g,
        await fromKey(g, o.from),
        id,
        "status",
      );
      emit(
        g,
        { services: s.services.map((x) => ({ ...x })), ...(s.message ? { message: s.message } : {}) },
        () =>
          s.services.length === 0
            ? `lease ${id}: ${s.message ?? "no workload"}`
            : s.services.map((x) =>
              `${x.name}\t${x.image ?? ""}\t${x.ready}/${x.total} ready\t${x.state ?? ""}\t${
                x.uris.join(" ")
              }`
            ).join("\n"),
      );
    });

  lease.command("logs <lease>").description("the containers' output")
    .option("--from <name>", "the tenant key")
    .option("--service <name>", "only this service")
    .option("--tail <n>", "last N lines", "100")
    .option(
      "--follow",
      "keep streaming until Ctrl-C (resumes after a dropped stream, no line lost or repeated)",
    )
    .action(async (id: string, o, cmd) => {
      const g = globals(cmd);
      const tail = Number(o.tail);
      if (!Number.isInteger(tail) || tail < 0) throw new UserError(`--tail must be a non-negative integer`);
      const keyName = await fromKey(g, o.from);
      const extra = { ...(o.service ? { service: o.service } : {}), tail };
      if (!o.follow) {
        const r = await leaseRequest<{ lines: string[] }>(g, keyName, id, "logs", extra);
        if (g.output === "json") emit(g, { lines: r.lines }, () => "");
        else for (const l of r.lines) console.log(l);
        return;
      }
      await followLogs(g, keyName, id, extra);
    });

  lease.command("shell <lease> [command...]").description(
    "run a command in the lease's container (after --): its output and exit code; without a command, " +
      "an interactive shell (a tty when stdin is a terminal; piped stdin is fed to sh)",
  )
    .usage("<lease> [--service S] [--replica N] [-- CMD [ARGS...]]")
    .option("--from <name>", "the tenant key")
    .option("--service <name>", "the service (default: the lease's only service)")
    .option("--replica <n>", "which replica, 0-based", "0")
    .action(async (id: string, command: string[], o, cmd) => {
      const g = globals(cmd);
      const replica = Number(o.replica);
      if (!Number.isInteger(replica) || replica < 0) {
        throw new UserError(`--replica must be a non-negative integer`);
      }
      if (command.length === 0) {
        const code = await interactiveShell(g, await fromKey(g, o.from), id, {
          ...(o.service ? { service: o.service } : {}),
          ...(replica > 0 ? { replica } : {}),
        });
        if (code !== 0) throw new ExitCode(code);
        return;
      }
      const r = await leaseRequest<ShellResult>(g, await fromKey(g, o.from), id, "shell", {
        ...(o.service ? { service: o.service } : {}),
        ...(replica > 0 ? { replica } : {}),
        command,
      });
      if (g.output === "json") emit(g, r, () => "");
      else {
        await Deno.stdout.write(new TextEncoder().encode(r.stdout));
        await Deno.stderr.write(new TextEncoder().encode(r.stderr));
        if (r.truncated) console.error("(output truncated by the provider)");
      }
      if (r.exitCode !== 0) throw new ExitCode(r.exitCode);
    });

  lease.command("events <lease>").description("what the provider did with the lease")
    .option("--from <name>", "the tenant key")
    .action(async (id: string, o, cmd) => {
      const g = globals(cmd);
      const r = await leaseRequest<
        { events: { height: number; time: string; type: string; message: string }[] }
      >(
        g,
        await fromKey(g, o.from),
        id,
        "events",
      );
      emit(
        g,
        r,
        () =>
          r.events.map((e) => `${e.time}\t${e.height}\t${e.type}\t${e.message}`).join("\n") || "no events",
      );
    });
}

/** `lease shell LEASE` without a command: an interactive session (lease_shell.ts); the exit code. */
async function interactiveShell(
  g: GlobalOptions,
  keyName: string,
  leaseId: string,
  where: { service?: string; replica?: number },
): Promise<number> {
  const provider = parseLeaseId(leaseId)?.provider;
  if (!provider) throw new UserError(`lease id must be owner/dseq/gseq/oseq/provider, got "${leaseId}"`);
  const key = await new Keystore(g.home).get(keyName);
  const id = await chainId(g);
  const tty = Deno.stdin.isTerminal();
  const open: Record<string, unknown> = { ...where, command: ["sh"], tty };
  if (tty) {
    try {
      const { columns, rows } = Deno.consoleSize();
      if (columns > 0 && rows > 0) {
        Object.assign(open, { cols: Math.min(columns, 1000), rows: Math.min(rows, 1000) });
      }
    } catch { /* no size */ }
  }
  return await withHost(async (p2p) => {
    const peer = await dialProvider(g, p2p, provider);
    if (tty) Deno.stdin.setRaw(true);
    try {
      return await runInteractiveShell({
        request: async (op, fields) => {
          const req = await signLeaseRequest(
            { chainId: id, leaseId, op, ...fields, timestamp: Date.now(), nonce: nonce() },
            key.privKey,
          );
          const res = decodeResponse(await p2p.request(peer, LEASE_PROTOCOL, req, { timeoutMs: 30_000 }));
          if (!res.ok) throw failure(provider, res);
          return res as Record<string, unknown>;
        },
        stdin: Deno.stdin.readable,
        write: async (bytes) => {
          for (let n = 0; n < bytes.length;) n += await Deno.stdout.write(bytes.subarray(n));
        },
        open,
      });
    } finally {
      if (tty) Deno.stdin.setRaw(false);
    }
  });
}

async function followLogs(
  g: GlobalOptions,
  keyName: string,
  leaseId: string,
  extra: { service?: string; tail?: number },
): Promise<void> {
  const provider = parseLeaseId(leaseId)?.provider ?? "";
  const key = await new Keystore(g.home).get(keyName);
  const id = await chainId(g);
  const ac = new AbortController();
  const onSigint = () => ac.abort();
  Deno.addSignalListener("SIGINT", onSigint);
  try {
    await withHost(async (p2p) => {
      await followWithResume({
        open: async function* (from) {
          const peer = await dialProvider(g, p2p, provider);
          const req = await signLeaseRequest({
            chainId: id,
            leaseId,
            op: "logs",
            ...(extra.service !== undefined ? { service: extra.service } : {}),
            ...(from === undefined ? { tail: extra.tail ?? 100 } : from),
            follow: true,
            timestamp: Date.now(),
            nonce: nonce(),
          }, key.privKey);
          yield* p2p.openStream(peer, `${LEASE_PROTOCOL}/logs`, req, {
            signal: ac.signal,
            timeoutMs: 30_000,
          });
        },
        line: (text) => console.log(text),
        note: (text) => console.error(text),
        sleep: (ms, signal) =>
          new Promise<void>((res) => {
            const t = setTimeout(done, ms);
            function done() {
              signal.removeEventListener("abort", stop);
              res();
            }
            function stop() {
              clearTimeout(t);
              res();
            }
            signal.addEventListener("abort", stop, { once: true });
          }),
        signal: ac.signal,
      }).catch((e) => {
        if (e instanceof ProviderRefusal) {
          throw failure(provider, { ok: false, code: e.code, error: e.message });
        }
        throw e;
      });
    });
  } finally {
    Deno.removeSignalListener("SIGINT", onSigint);
  }
}
