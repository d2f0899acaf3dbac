/** @jsxImportSource preact */
/// <reference lib="dom" />
// deno-lint-ignore-file jsx-key -- elements inside <Fields rows=...> tuples are not a rendered list
/**
 * The network at a glance: the node's status and charts of block time, tx/s, active leases and
 * lease prices over the last blocks (uPlot).
 * @module
 */
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import type { LeaseInfo } from "../../../auction/market/types.ts";
import { get, type NodeStatus } from "../api.ts";
import { blockSeries, leaseSeries } from "../chart_data.ts";
import { usePoll } from "../store.ts";
import { ErrorText, Fields, Link } from "../ui.tsx";

/** A line chart of one series over block heights. */
function Chart(p: { title: string; unit: string; x: number[]; y: (number | null)[]; points?: boolean }) {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  useEffect(() => {
    const opts: uPlot.Options = {
      title: p.title,
      width: 460,
      height: 200,
      scales: { x: { time: false } },
      axes: [{ label: "height" }, { label: p.unit }],
      series: [{ label: "height" }, {
        label: p.unit,
        stroke: "#2563eb",
        width: 2,
        ...(p.points ? { paths: () => null, points: { show: true, size: 6 } } : {}),
      }],
    };
    plot.current = new uPlot(opts, [p.x, p.y], el.current!);
    return () => plot.current?.destroy();
  }, []);
  useEffect(() => {
    plot.current?.setData([p.x, p.y]);
  }, [p.x, p.y]);
  const last = p.y.filter((v) => v !== null).at(-1);
  return (
    <figure class="chart">
      <div ref={el} role="img" aria-label={`${p.title}: latest ${last ?? "none"} ${p.unit}`} />
      <figcaption class="sr-only">{p.title}</figcaption>
    </figure>
  );
}

/** The overview page. */
export function OverviewPage() {
  const status = usePoll(() => get<NodeStatus>("/status"), [], 2000);
  const blocks = usePoll(
    () => get<{ blocks: { height: number; time: number; txs: number }[] }>("/console/blocks?limit=200"),
    [],
    5000,
  );
  const leases = usePoll(() => get<{ leases: LeaseInfo[] }>("/query/leases"), [], 5000);
  const s = status.data;
  const bs = blockSeries(blocks.data?.blocks ?? []);
  const from = bs.heights[0] ?? 1;
  const to = bs.heights.at(-1) ?? 0;
  const ls = leaseSeries(leases.data?.leases ?? [], from, to);
  return (
    <section aria-labelledby="ov-h">
      <h1 id="ov-h">Network</h1>
      <ErrorText error={status.error} />
      {s && (
        <Fields
          rows={[
            ["Chain", s.chainId],
            ["Node", s.moniker],
            ["Height", <Link to={`/explorer/block/${s.height}`}>{s.height}</Link>],
            ["Peers", String(s.peers)],
            ["Mempool", `${s.mempool.txs} txs`],
            ["Minimum fee", `${s.minFee} ${s.denom}`],
          ]}
        />
      )}
      {bs.heights.length > 1 && (
        <div class="charts">
          <Chart title="Block time" unit="s" x={bs.heights} y={bs.blockSeconds} />
          <Chart title="Transactions per second" unit="tx/s" x={bs.heights} y={bs.txPerSecond} />
          <Chart title="Active leases" unit="leases" x={ls.heights} y={ls.active} />
          <Chart title="Lease prices (at creation)" unit="ucrs/block" x={ls.heights} y={ls.prices} points />
        </div>
      )}
    </section>
  );
}
