/**
 * The network charts' series, computed from block summaries and leases (pure, tested).
 * @module
 */

/** A block summary as `/api/console/blocks` gives it. */
export interface BlockPoint {
  height: number;
  time: number;
  txs: number;
}

/** A lease's life and price, as `/query/leases` gives it. */
export interface LeasePoint {
  createdAt: number;
  closedAt?: number;
  price: { amount: string };
}

/**
 * Per block (oldest first): its height, seconds since the block before, and txs per second over
 * that gap; the oldest block has no gap and is left out.
 * @example
 * ```ts
 * blockSeries([{ height: 2, time: 3000, txs: 4 }, { height: 1, time: 1000, txs: 0 }]);
 * // { heights: [2], blockSeconds: [2], txPerSecond: [2] }
 * ```
 */
export function blockSeries(blocks: readonly BlockPoint[]): {
  heights: number[];
  blockSeconds: number[];
  txPerSecond: number[];
} {
  const asc = [...blocks].sort((a, b) => a.height - b.height);
  const out = { heights: [] as number[], blockSeconds: [] as number[], txPerSecond: [] as number[] };
  for (let i = 1; i < asc.length; i++) {
    const b = asc[i]!;
    const prev = asc[i - 1]!;
    if (b.height !== prev.height + 1) continue;
    const s = Math.max((b.time - prev.time) / 1000, 0.001);
    out.heights.push(b.height);
    out.blockSeconds.push(Math.round(s * 1000) / 1000);
    out.txPerSecond.push(Math.round((b.txs / s) * 100) / 100);
  }
  return out;
}

/**
 * Active leases at each height in `[from, to]`, and the price of each lease created at a height
 * (null where none was).
 * @example
 * ```ts
 * leaseSeries([{ createdAt: 2, closedAt: 4, price: { amount: "10" } }], 1, 4);
 * // { heights: [1,2,3,4], active: [0,1,1,0], prices: [null,10,null,null] }
 * ```
 */
export function leaseSeries(leases: readonly LeasePoint[], from: number, to: number): {
  heights: number[];
  active: number[];
  prices: (number | null)[];
} {
  const out = { heights: [] as number[], active: [] as number[], prices: [] as (number | null)[] };
  if (to < from) return out;
  for (let h = from; h <= to; h++) {
    out.heights.push(h);
    out.active.push(
      leases.filter((l) => l.createdAt <= h && (l.closedAt === undefined || l.closedAt > h)).length,
    );
    const created = leases.filter((l) => l.createdAt === h);
    out.prices.push(created.length > 0 ? Number(created[created.length - 1]!.price.amount) : null);
  }
  return out;
}
