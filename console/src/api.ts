/**
 * The page's calls: the node's RPC (through the console's `/api/`), transactions signed here with
 * the project's own encoding (`node/ledger/tx.ts`), and tenant-signed provider requests
 * (`provider/protocol`) that the node relays to the provider. No private key leaves the page.
 * @module
 */
import { toHex } from "../../lib/crypto.ts";
import { parseLeaseId } from "../../lib/ids.ts";
import { signTx } from "../../node/ledger/tx.ts";
import {
  decodeResponse,
  newNonce,
  signLeaseRequest,
  signManifestRequest,
} from "../../provider/protocol/mod.ts";
import type { Manifest } from "../../auction/sdl/types.ts";
import type { DeploymentDetail } from "../../auction/market/types.ts";
import type { UnlockedKey } from "./vault.ts";

/** A refusal from the node or a provider, with its reason. */
export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = "ApiError";
  }
}

/** GET `/api<path>` as JSON; a 4xx/5xx throws {@link ApiError} with the node's reason. */
export async function get<T>(path: string): Promise<T> {
  const r = await fetch(`/api${path}`);
  const body = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
  if (!r.ok) throw new ApiError(r.status, (body as { error?: string }).error ?? `HTTP ${r.status}`);
  return body as T;
}

/** POST JSON to `/api<path>`. */
export async function post<T>(path: string, body: unknown): Promise<T> {
  const r = await fetch(`/api${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const out = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
  if (!r.ok) throw new ApiError(r.status, (out as { error?: string }).error ?? `HTTP ${r.status}`);
  return out as T;
}

/** The node's `/status`. */
export interface NodeStatus {
  chainId: string;
  moniker: string;
  height: number;
  time: number;
  peers: number;
  minFee: string;
  denom: string;
  validator: string | null;
  mempool: { txs: number; bytes: number };
}

/** What `POST /tx` with wait answers. */
export interface TxResult {
  txId: string;
  height?: number;
  ok?: boolean;
  reason?: string;
  events?: { type: string; attrs: Record<string, string> }[];
}

/**
 * Signs a tx with `key` (nonce from the node, the chain's minimum fee) and waits for its commit.
 * @throws ApiError when the node refuses it or the chain rejects it (with the chain's reason)
 */
export async function sendTx(
  key: UnlockedKey,
  type: string,
  body: Record<string, unknown>,
): Promise<TxResult> {
  const status = await get<NodeStatus>("/status");
  const acct = await get<{ nextNonce: string }>(`/query/account/${key.address}`).catch((e) => {
    throw new ApiError(400, `cannot send from ${key.name} (${key.address}): ${(e as Error).message}`);
  });
  const bytes = await signTx({
    chainId: status.chainId,
    type,
    from: key.address,
    nonce: BigInt(acct.nextNonce),
    fee: BigInt(status.minFee),
    body,
  }, key.seed);
  const r = await post<TxResult>("/tx", { tx: toHex(bytes), wait: true });
  if (r.ok === false) throw new ApiError(400, `${type} failed in block ${r.height}: ${r.reason}`);
  return r;
}

/** The attributes of each event of type `type` in a tx result. */
export function eventsOf(r: TxResult, type: string): Record<string, string>[] {
  return (r.events ?? []).filter((e) => e.type === type).map((e) => e.attrs);
}

function providerOf(leaseId: string): string {
  const p = parseLeaseId(leaseId)?.provider;
  if (!p) throw new ApiError(400, `lease id must be owner/dseq/gseq/oseq/provider, got "${leaseId}"`);
  return p;
}

/** Provider operations on a lease. */
export type LeaseOp = "status" | "logs" | "events" | "shell";

/**
 * Asks a lease's provider, signed here by the tenant, relayed by the node.
 * @throws ApiError with the provider's reason when it refuses
 */
export async function leaseCall<T>(
  key: UnlockedKey,
  leaseId: string,
  op: LeaseOp,
  extra: { service?: string; tail?: number; replica?: number; command?: string[] } = {},
): Promise<T> {
  const { chainId } = await get<NodeStatus>("/status");
  const req = await signLeaseRequest(
    { chainId, leaseId, op, ...extra, timestamp: Date.now(), nonce: newNonce() },
    key.seed,
  );
  const provider = providerOf(leaseId);
  const { response } = await post<{ response: string }>("/console/relay", {
    provider,
    protocol: "lease",
    request: toHex(req),
  });
  const res = decodeResponse(hexBytes(response));
  if (!res.ok) throw new ApiError(502, `provider ${provider} refused: ${res.error} (${res.code})`);
  return res as T;
}

function hexBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Sends the deployment's manifest to a lease's provider (signed here). */
export async function sendManifest(
  key: UnlockedKey,
  o: { leaseId: string; manifest: Manifest; manifestHash: string; version: number },
): Promise<void> {
  const { chainId } = await get<NodeStatus>("/status");
  const provider = providerOf(o.leaseId);
  // The provider's node may not have committed the lease's block yet when this node has: it answers
  // not_found until it does. Ask again (a freshly signed request each time), for a bounded while.
  for (let attempt = 1;; attempt++) {
    const req = await signManifestRequest({
      chainId,
      leaseId: o.leaseId,
      manifest: o.manifest,
      manifestHash: o.manifestHash,
      version: o.version,
      timestamp: Date.now(),
      nonce: newNonce(),
    }, key.seed);
    const { response } = await post<{ response: string }>("/console/relay", {
      provider,
      protocol: "manifest",
      request: toHex(req),
    });
    const res = decodeResponse(hexBytes(response));
    if (res.ok) return;
    if (res.code !== "not_found" || attempt >= MANIFEST_ATTEMPTS) {
      throw new ApiError(502, `provider ${provider} refused the manifest: ${res.error} (${res.code})`);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Tries of a manifest whose lease the provider does not see yet (one a second). */
const MANIFEST_ATTEMPTS = 15;

/**
 * Follows a lease's logs: calls `onLine` per line until `signal` aborts or the provider ends.
 * @throws ApiError with the provider's reason when it refuses
 */
export async function followLogs(
  key: UnlockedKey,
  leaseId: string,
  o: { tail: number; service?: string },
  onLine: (line: string) => void,
  signal: AbortSignal,
): Promise<void> {
  const { chainId } = await get<NodeStatus>("/status");
  const req = await signLeaseRequest({
    chainId,
    leaseId,
    op: "logs",
    tail: o.tail,
    ...(o.service ? { service: o.service } : {}),
    follow: true,
    timestamp: Date.now(),
    nonce: newNonce(),
  }, key.seed);
  const r = await fetch("/api/console/relay/logs", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ provider: providerOf(leaseId), request: toHex(req) }),
    signal,
  });
  if (!r.ok || !r.body) {
    const b = await r.json().catch(() => ({}));
    throw new ApiError(r.status, (b as { error?: string }).error ?? `HTTP ${r.status}`);
  }
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) return;
      buf += value;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const msg = JSON.parse(buf.slice(0, nl)) as { frame?: string; error?: string };
        buf = buf.slice(nl + 1);
        if (msg.error) throw new ApiError(502, msg.error);
        if (msg.frame) {
          const f = decodeResponse(hexBytes(msg.frame)) as {
            ok: boolean;
            line?: string;
            error?: string;
            code?: string;
          };
          if (!f.ok) throw new ApiError(502, `provider refused: ${f.error} (${f.code})`);
          if (typeof f.line === "string") onLine(f.line);
        }
      }
    }
  } catch (e) {
    if (signal.aborted) return;
    throw e;
  }
}

/**
 * Subscribes to the node's committed events (SSE, `/events`); returns the unsubscribe function.
 * @param types `block`, `tx`, `event`
 */
export function subscribe(
  types: string[],
  on: (kind: string, data: Record<string, unknown>) => void,
): () => void {
  const es = new EventSource(`/api/events?${types.map((t) => `type=${t}`).join("&")}`);
  for (const t of types) es.addEventListener(t, (m) => on(t, JSON.parse((m as MessageEvent).data)));
  return () => es.close();
}

/**
 * Sends a deployment's manifest to the providers of its active leases (all, or `leaseIds`), as
 * `lease send-manifest` does: the hash must be the one on chain, the version is the deployment's last
 * update height.
 * @throws ApiError when the hash differs from the chain's or a provider refuses
 */
export async function sendManifests(
  key: UnlockedKey,
  o: { dseq: number; sdl: { manifest: Manifest; manifestHash: string }; leaseIds?: string[] },
): Promise<string[]> {
  const dep = await get<DeploymentDetail>(`/query/deployment/${key.address}/${o.dseq}`);
  if (dep.manifestHash !== o.sdl.manifestHash) {
    throw new ApiError(
      400,
      `the manifest's hash ${
        o.sdl.manifestHash.slice(0, 16)
      }... differs from deployment ${o.dseq}'s on-chain ` +
        `${dep.manifestHash.slice(0, 16)}...: update the deployment first`,
    );
  }
  const leases = dep.leases.filter((l) => l.state === "active" && (!o.leaseIds || o.leaseIds.includes(l.id)));
  for (const l of leases) {
    await sendManifest(key, {
      leaseId: l.id,
      manifest: o.sdl.manifest,
      manifestHash: o.sdl.manifestHash,
      version: dep.updatedAt ?? dep.createdAt,
    });
  }
  return leases.map((l) => l.id);
}
