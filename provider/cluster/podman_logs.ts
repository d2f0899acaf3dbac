/**
 * Reading a lease's container logs on Podman incrementally, for the provider's log keeper
 * (log_keeper.ts): `podman logs --timestamps --since T NAME` per container. Podman stamps every line
 * with the time conmon read it, in ns, and often one time for a whole chunk of lines; `--since` is
 * exclusive. So a position is (time of the last line read, lines read at that time): the next read
 * asks from one ns before that time and skips the lines at that time already read. Neither a line
 * lost nor one read twice, whatever the ties. A container's log file outlives its restarts (same
 * container id), so its lines are kept across them.
 * @module
 */
import type { ContainerLog, LogPosition } from "./driver.ts";
import { LABEL_NAMESPACE, LABEL_SERVICE } from "./objects.ts";
import type { PodmanRun } from "./podman_network.ts";

const STAMP = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d) (.*)$/s;

/**
 * Splits a `podman logs --timestamps` line into its time (ns since the epoch) and text; undefined
 * for a line without a stamp (podman's own warnings).
 * @example parseStampedLine("2026-11-30T06:30:50.941057666Z hi") // {timeNs: 1796020250941057666n, line: "hi"}
 */
export function parseStampedLine(s: string): { timeNs: bigint; line: string } | undefined {
  const m = STAMP.exec(s);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}${m[3] === "Z" ? "Z" : m[3]}`);
  if (!Number.isFinite(ms)) return undefined;
  const frac = BigInt((m[2] ?? "").padEnd(9, "0"));
  return { timeNs: BigInt(ms) * 1_000_000n + frac, line: m[4]! };
}

/** A time in ns since the epoch as RFC 3339 with 9 fraction digits, UTC (what `--since` reads). */
export function formatTimeNs(ns: bigint): string {
  const s = ns / 1_000_000_000n;
  const frac = ns % 1_000_000_000n;
  const iso = new Date(Number(s) * 1000).toISOString().replace(/\.\d{3}Z$/, "");
  return `${iso}.${frac.toString().padStart(9, "0")}Z`;
}

/**
 * The lines of a read from one ns before `pos.timeNs` that are new (pure): those at `pos.timeNs`
 * beyond the first `pos.atTime`, and all later ones; and the position after them.
 */
export function linesAfter(
  read: { timeNs: bigint; line: string }[],
  pos: LogPosition | undefined,
): { lines: { timeNs: bigint; line: string }[]; position: LogPosition } {
  const lines: { timeNs: bigint; line: string }[] = [];
  let skip = pos?.atTime ?? 0;
  let last = pos ?? { timeNs: -1n, atTime: 0 };
  for (const l of read) {
    if (pos && l.timeNs < pos.timeNs) continue;
    if (pos && l.timeNs === pos.timeNs && skip > 0) {
      skip--;
      continue;
    }
    lines.push(l);
    last = l.timeNs === last.timeNs
      ? { timeNs: last.timeNs, atTime: last.atTime + 1 }
      : { timeNs: l.timeNs, atTime: 1 };
  }
  return { lines, position: last };
}

/** Merges podman's stdout and stderr lines of one container by time (stable: stdout first on ties). */
function stamped(stdout: string, stderr: string): { timeNs: bigint; line: string }[] {
  const parse = (text: string) =>
    text.split("\n").map(parseStampedLine).filter((x): x is { timeNs: bigint; line: string } =>
      x !== undefined
    );
  return [...parse(stdout), ...parse(stderr)]
    .map((l, i) => ({ l, i }))
    .sort((a, b) => (a.l.timeNs < b.l.timeNs ? -1 : a.l.timeNs > b.l.timeNs ? 1 : a.i - b.i))
    .map((x) => x.l);
}

/**
 * The containers of a lease's namespace (infra containers left out) with their new log lines after
 * `positions` (by container id).
 */
export async function podmanLogsSince(
  run: PodmanRun,
  namespace: string,
  positions: ReadonlyMap<string, LogPosition>,
): Promise<ContainerLog[]> {
  const r = await run(["ps", "-a", "--format", "json", "--filter", `label=${LABEL_NAMESPACE}=${namespace}`]);
  if (r.code !== 0) throw new Error(`podman ps failed: ${r.stderr.trim()}`);
  const ctrs: { Id: string; Names?: string[]; IsInfra?: boolean; Labels?: Record<string, string> }[] =
    JSON.parse(r.stdout || "[]") ?? [];
  const out: ContainerLog[] = [];
  for (const c of ctrs) {
    if (c.IsInfra) continue;
    const name = c.Names?.[0] ?? c.Id;
    const pos = positions.get(c.Id);
    const args = ["logs", "--timestamps"];
    if (pos) args.push("--since", formatTimeNs(pos.timeNs - 1n));
    const l = await run([...args, c.Id]);
    if (l.code !== 0) continue; // removed meanwhile
    const { lines, position } = linesAfter(stamped(l.stdout, l.stderr), pos);
    out.push({
      id: c.Id,
      name: name.startsWith(`${namespace}-`) ? name.slice(namespace.length + 1) : name,
      service: c.Labels?.[LABEL_SERVICE] ?? "",
      lines,
      position,
    });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
