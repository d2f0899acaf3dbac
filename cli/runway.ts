/**
 * An escrow's runway: how long its balance pays the active leases, in blocks (the chain's
 * `blocksRemaining`) and in time at the chain's current block rate (measured over the last blocks).
 * @module
 */
import { type GlobalOptions, rpc } from "./util.ts";

/** Blocks measured for the block rate. */
export const RATE_WINDOW_BLOCKS = 100;

/** The runway of an escrow. */
export interface Runway {
  /** blocks the escrow still pays in full; null: unbounded (no active lease) */
  blocks: number | null;
  /** ms per block over the last blocks; null when the chain has fewer than two blocks */
  msPerBlock: number | null;
  /** `blocks` x `msPerBlock`, in seconds; null when either is unknown */
  seconds: number | null;
}

/**
 * The runway of `blocks` at the rate between two block headers (height and time in ms).
 * @param blocks the escrow's `blocksRemaining`
 * @param from an earlier block
 * @param to the latest block
 * @returns the runway; `msPerBlock` null when the two blocks do not give a rate
 * @example
 * ```ts
 * runwayOf(600, { height: 1, time: 0 }, { height: 101, time: 100_000 }); // {blocks: 600, msPerBlock: 1000, seconds: 600}
 * ```
 */
export function runwayOf(
  blocks: number | null,
  from: { height: number; time: number },
  to: { height: number; time: number },
): Runway {
  const n = to.height - from.height;
  const ms = to.time - from.time;
  const msPerBlock = n > 0 && ms > 0 ? ms / n : null;
  const seconds = blocks !== null && msPerBlock !== null ? Math.round((blocks * msPerBlock) / 1000) : null;
  return { blocks, msPerBlock: msPerBlock === null ? null : Math.round(msPerBlock), seconds };
}

/** "45s", "12m", "3h 20m", "4d 6h": a runway for people. */
export function formatSeconds(s: number): string {
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.round(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.round((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.round((s % 86400) / 3600)}h`;
}

/** " (~2h 5m at 1.1 s/block)" when the runway has a time, else "". */
export function runwayTimeText(r: Runway | undefined): string {
  if (!r || r.seconds === null || r.msPerBlock === null) return "";
  return ` (~${formatSeconds(r.seconds)} at ${(r.msPerBlock / 1000).toFixed(1)} s/block)`;
}

/** The runway of an open escrow as the RPC returns it (undefined when closed or unreadable). */
export async function escrowRunway(
  g: GlobalOptions,
  esc: Record<string, unknown>,
): Promise<Runway | undefined> {
  if (esc.state !== "open") return undefined;
  const blocks = typeof esc.blocksRemaining === "number" ? esc.blocksRemaining : null;
  try {
    return await runway(g, blocks);
  } catch {
    return undefined;
  }
}

/** The runway of `blocks` at the rate of the node's last {@link RATE_WINDOW_BLOCKS} blocks. */
export async function runway(g: GlobalOptions, blocks: number | null): Promise<Runway> {
  const to = await rpc<{ height: number; time: number }>(g, "/query/block/latest");
  const fromHeight = Math.max(1, to.height - RATE_WINDOW_BLOCKS);
  const from = fromHeight === to.height ? to : await rpc<{ height: number; time: number }>(
    g,
    `/query/block/${fromHeight}`,
  );
  return runwayOf(blocks, from, to);
}
