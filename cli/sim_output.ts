/**
 * What `cirrus sim` writes in its output directory: `metrics.json` (deterministic: no wall time),
 * `summary.txt` (a table) and the SVG plots.
 * @module
 */
import { join } from "node:path";
import type { SimMetrics } from "../node/sim/simulate.ts";
import { barChart, histogram, lineChart } from "./svg_plot.ts";

/** The metrics as the bytes of `metrics.json` (stable key order: the order the simulator built them). */
export function metricsJson(m: SimMetrics): string {
  return JSON.stringify(m, null, 1) + "\n";
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** Headline figures of a run (deterministic). */
export function headline(m: SimMetrics) {
  const lat = m.heights.map((h) => h.latencyMs).sort((a, b) => a - b);
  const sent = m.nodes.reduce((a, x) => a + Object.values(x.messages).reduce((s, v) => s + v, 0), 0);
  return {
    heights: m.heights.length,
    simulatedSeconds: m.simulatedMs / 1000,
    commitLatencyMs: { p50: quantile(lat, 0.5), p90: quantile(lat, 0.9), max: lat.at(-1) ?? 0 },
    extraRounds: m.heights.filter((h) => h.round > 0).length,
    txsCommitted: m.txs.committed,
    messagesSent: sent,
    forks: m.safety.forks.length,
    supplyConserved: m.safety.supplyConserved,
    orders: m.orders.length,
    leases: m.orders.filter((o) => o.blocksToLease !== null).length,
    violations: m.violations.length,
  };
}

/** `summary.txt`: the configuration, headline figures and messages by type, as aligned tables. */
export function summaryText(m: SimMetrics): string {
  const c = m.config;
  const h = headline(m);
  const rows: [string, string][] = [
    ["validators", String(c.validators)],
    ["providers / tenants", `${c.providers} / ${c.tenants}`],
    ["links", `${c.latencyMs} ms + jitter ${c.jitterMs} ms, loss ${c.loss}`],
    ["seed", String(c.seed)],
    ["heights committed", `${h.heights} of ${c.heights}`],
    ["simulated time", `${h.simulatedSeconds.toFixed(3)} s`],
    [
      "commit latency p50 / p90 / max",
      `${h.commitLatencyMs.p50} / ${h.commitLatencyMs.p90} / ${h.commitLatencyMs.max} ms`,
    ],
    ["heights needing > 1 round", String(h.extraRounds)],
    ["txs committed (submitted, not committed)", `${h.txsCommitted} (${m.txs.submitted}, ${m.txs.refused})`],
    ["orders / leases", `${h.orders} / ${h.leases}`],
    ["messages sent", String(h.messagesSent)],
    [
      "gossip lost / dropped / suppressed",
      `${m.network.lost} / ${m.network.dropped} / ${m.network.suppressed}`,
    ],
    ["forks", h.forks === 0 ? "none" : m.safety.forks.join(", ")],
    ["supply conserved", h.supplyConserved ? "yes" : "NO"],
    ["violations", m.violations.length === 0 ? "none" : m.violations.join("; ")],
  ];
  const w = Math.max(...rows.map((r) => r[0].length));
  const out = ["cirrus sim", "", ...rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`), ""];
  if (m.faults.length > 0) {
    out.push(
      "faults",
      ...m.faults.map((f) => `  ${String(f.atMs).padStart(9)} ms  height ${f.height}  ${f.event}`),
      "",
    );
  }
  out.push(...marketTables(m));
  const types = messageTypes(m);
  out.push(
    "messages by type (all nodes)",
    `  ${"type".padEnd(24)} ${"messages".padStart(10)} ${"bytes".padStart(12)}`,
  );
  for (const t of types) {
    const msgs = m.nodes.reduce((a, x) => a + (x.messages[t] ?? 0), 0);
    const bytes = m.nodes.reduce((a, x) => a + (x.bytes[t] ?? 0), 0);
    out.push(`  ${t.padEnd(24)} ${String(msgs).padStart(10)} ${String(bytes).padStart(12)}`);
  }
  out.push("");
  return out.join("\n");
}

/** The market's tables: orders (time to lease, price / max), providers, counts; none without a market. */
function marketTables(m: SimMetrics): string[] {
  if (m.orders.length === 0 && m.providers.length === 0) return [];
  const leased = m.orders.filter((o) => o.blocksToLease !== null);
  const blocks = leased.map((o) => o.blocksToLease!).sort((a, b) => a - b);
  const ratios = leased.map((o) => o.priceRatio ?? 0).sort((a, b) => a - b);
  const out = [
    "orders",
    `  leased ${leased.length} of ${m.orders.length}; blocks to lease p50 / p90 / max ` +
    `${quantile(blocks, 0.5)} / ${quantile(blocks, 0.9)} / ${blocks.at(-1) ?? 0}; ` +
    `price / max p50 / p90 ${quantile(ratios, 0.5)} / ${quantile(ratios, 0.9)}`,
    "",
    "providers",
    `  ${"provider".padEnd(46)} ${"cpu (m)".padStart(8)} ${"bids".padStart(6)} ${"leases".padStart(7)} ${
      "utilisation max / end".padStart(22)
    }`,
  ];
  for (const p of m.providers) {
    const max = Math.max(0, ...p.utilisation.map(([, u]) => u));
    const end = p.utilisation.at(-1)?.[1] ?? 0;
    out.push(
      `  ${p.provider.padEnd(46)} ${String(p.cpu).padStart(8)} ${String(p.bids).padStart(6)} ${
        String(p.leases).padStart(7)
      } ${`${max} / ${end}`.padStart(22)}`,
    );
  }
  out.push("", "market counts", ...Object.entries(m.market).map(([k, v]) => `  ${k.padEnd(40)} ${v}`), "");
  return out;
}

function messageTypes(m: SimMetrics): string[] {
  return [...new Set(m.nodes.flatMap((x) => Object.keys(x.messages)))].sort();
}

/** The SVG plots, by file name. */
export function plots(m: SimMetrics): Map<string, string> {
  const out = new Map<string, string>();
  out.set(
    "commit_latency.svg",
    lineChart({ title: "Commit latency per height", xLabel: "height", yLabel: "latency (simulated ms)" }, [
      { name: "latency", points: m.heights.map((h) => [h.height, h.latencyMs]) },
    ]),
  );
  out.set(
    "rounds.svg",
    lineChart({ title: "Round of the commit per height", xLabel: "height", yLabel: "round (0 = first)" }, [
      { name: "round", points: m.heights.map((h) => [h.height, h.round]) },
    ]),
  );
  const types = messageTypes(m);
  out.set(
    "messages_by_type.svg",
    barChart(
      { title: "Messages sent by type (all nodes)", xLabel: "message type", yLabel: "messages" },
      types,
      [{ name: "messages", values: types.map((t) => m.nodes.reduce((a, x) => a + (x.messages[t] ?? 0), 0)) }],
    ),
  );
  out.set(
    "time_to_lease.svg",
    histogram(
      { title: "Time to lease", xLabel: "blocks from order to lease", yLabel: "orders" },
      "orders",
      m.orders.flatMap((o) => (o.blocksToLease === null ? [] : [o.blocksToLease])),
    ),
  );
  out.set(
    "clearing_price.svg",
    histogram(
      { title: "Clearing price over the order's max price", xLabel: "price / max (ratio)", yLabel: "leases" },
      "leases",
      m.orders.flatMap((o) => (o.priceRatio === null ? [] : [o.priceRatio])),
    ),
  );
  out.set(
    "provider_utilisation.svg",
    lineChart(
      { title: "Provider utilisation over time", xLabel: "height", yLabel: "capacity leased (fraction)" },
      // Named by index (p0 is the first provider, as in --crash "p0@H1-H2"); addresses are in metrics.json.
      m.providers.map((p, i) => ({ name: `p${i} (${p.cpu / 1000} cpu)`, points: p.utilisation })),
    ),
  );
  return out;
}

/** Writes metrics.json, summary.txt and the plots into `dir` (created). */
export async function writeOutputs(dir: string, m: SimMetrics): Promise<string[]> {
  await Deno.mkdir(dir, { recursive: true });
  const files = new Map<string, string>([
    ["metrics.json", metricsJson(m)],
    ["summary.txt", summaryText(m)],
    ...plots(m),
  ]);
  for (const [name, text] of files) await Deno.writeTextFile(join(dir, name), text);
  return [...files.keys()];
}
