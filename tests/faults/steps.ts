/**
 * What a fault case is and the steps cases share: boot a cluster, check progress and convergence,
 * count log lines, send a signed tx through a node's RPC.
 * @module
 */
import { toHex } from "../../lib/crypto.ts";
import { signTx, txId } from "../../node/ledger/tx.ts";
import type { Cluster, ClusterOptions } from "./cluster.ts";
import type { Load, startLoad } from "./load.ts";

/** What a case can do: make clusters, start load, say things, record checks. */
export interface CaseContext {
  netns: boolean;
  /** Make a cluster (stopped, checked and removed by the runner). */
  cluster(o: Omit<ClusterOptions, "netns" | "name"> & { netns?: boolean }): Promise<Cluster>;
  /** Start tx load on a cluster (stopped by the runner before the checkers). */
  load(c: Cluster, opts?: Parameters<typeof startLoad>[1]): Load;
  say(s: string): void;
  check(what: string, ok: boolean, detail: string): void;
}

/** One fault case. */
export interface FaultCase {
  name: string;
  /** What it does and checks (for the README table). */
  what: string;
  /** Needs network namespaces. */
  netns?: boolean;
  /** Issue 8 finding whose fix it needs (failures are marked "needs finding N"). */
  finding?: number;
  /** Bound of the whole case. */
  timeoutMs: number;
  run(ctx: CaseContext): Promise<void>;
  /** On failure: the known cause, read from the stopped cluster's logs (e.g. "needs finding 1: ..."). */
  diagnose?(c: Cluster): Promise<string | null>;
}

/** Start the validators and wait for a first block on all of them. */
export async function boot(ctx: CaseContext, c: Cluster): Promise<void> {
  await c.startAll();
  const idx = c.nodes.filter((n) => n.validator !== null).map((n) => n.index);
  // Starting N Deno processes on a loaded 2-core machine takes a while: 60 s + 15 s per process.
  const ms = 60_000 + 15_000 * idx.length;
  const r = await c.waitHeights(idx, 1, ms);
  ctx.say(`${idx.length} processes up, heights ${r.heights.join(",")}`);
  if (!r.ok) {
    throw new Error(`the cluster did not commit a block within ${ms / 1000} s (heights ${r.heights})`);
  }
}

/** Check that every node in `idx` gains `blocks` blocks within `ms`; returns the height reached. */
export async function progress(
  ctx: CaseContext,
  c: Cluster,
  idx: number[],
  blocks: number,
  ms: number,
  what: string,
): Promise<number> {
  const h0 = await c.maxHeight(idx);
  const t0 = Date.now();
  const r = await c.waitHeights(idx, h0 + blocks, ms);
  ctx.check(
    what,
    r.ok,
    `${idx.map((i) => c.nodes[i]!.name).join(",")} from ${h0} to >= ${
      h0 + blocks
    }: heights ${r.heights} after ${((Date.now() - t0) / 1000).toFixed(1)}s`,
  );
  return h0 + blocks;
}

/** Wait until every node in `idx` reached the highest height among them now (they converge). */
export async function converge(
  ctx: CaseContext,
  c: Cluster,
  idx: number[],
  ms: number,
  what: string,
): Promise<void> {
  const goal = await c.maxHeight(idx);
  const r = await c.waitHeights(idx, goal, ms);
  ctx.check(what, r.ok, `all of ${idx.map((i) => c.nodes[i]!.name).join(",")} at >= ${goal}: ${r.heights}`);
}

/** Lines of node i's log that contain `needle`. */
export async function countLog(c: Cluster, i: number, needle: string): Promise<number> {
  return (await c.log(i)).split("\n").filter((l) => l.includes(needle)).length;
}

/** The outcome of a tx sent with {@link sendTx}: committed (ok or failed, with the reason) or refused. */
export interface SentTx {
  txId: string;
  /** Committed at this height (undefined when refused or not committed in time). */
  height?: number;
  ok: boolean;
  reason?: string;
}

/**
 * Sign a tx with `key` (nonce from node i's account query) and post it to node i, waiting (bounded)
 * for its block.
 */
export async function sendTx(
  c: Cluster,
  i: number,
  key: { address: string; privKey: Uint8Array },
  type: string,
  body: Record<string, unknown>,
): Promise<SentTx> {
  const acct = await c.get<{ nonce?: string }>(i, `/query/account/${key.address}`);
  const nonce = BigInt(acct?.nonce ?? "0");
  const bytes = await signTx(
    { chainId: c.genesis.chainId, type, from: key.address, nonce, fee: 1n, body },
    key.privKey,
  );
  const id = txId(bytes);
  try {
    const res = await fetch(`${c.rpc(i)}/tx`, {
      method: "POST",
      body: JSON.stringify({ tx: toHex(bytes), wait: true, timeoutMs: 15_000 }),
      signal: AbortSignal.timeout(20_000),
    });
    const r = await res.json() as { height?: number; ok?: boolean; reason?: string; error?: string };
    if (res.status !== 200) return { txId: id, ok: false, reason: r.error ?? `HTTP ${res.status}` };
    return {
      txId: id,
      ...(typeof r.height === "number" ? { height: r.height } : {}),
      ok: r.ok === true,
      ...(r.reason ?? r.error ? { reason: r.reason ?? r.error } : {}),
    };
  } catch (e) {
    return { txId: id, ok: false, reason: String(e) };
  }
}
