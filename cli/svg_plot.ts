/**
 * A small SVG chart writer for the simulator's plots: line, bar and histogram charts with axes,
 * ticks, labels, units and a legend. Pure: data in, SVG text out (deterministic, no fonts loaded).
 * @module
 */

/** One named series of (x, y) points. */
export interface Series {
  name: string;
  points: [number, number][];
}

/** A chart's text. */
export interface ChartText {
  title: string;
  /** X axis label with its unit, e.g. "height" or "simulated time (s)". */
  xLabel: string;
  yLabel: string;
}

const W = 720, H = 430, LEFT = 70, RIGHT = 160, TOP = 40, BOTTOM = 85;
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

/** Escapes text for SVG. */
function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** A number for SVG attributes (2 decimals, no "-0"). */
function n(v: number): string {
  const r = Math.round(v * 100) / 100;
  return Object.is(r, -0) ? "0" : String(r);
}

/** Round tick values from at most `lo` to at least `hi` (about `count` steps). */
export function ticks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  const first = Math.floor(lo / step + 1e-9);
  for (let i = first; out.length === 0 || out.at(-1)! < hi - step * 1e-9; i++) {
    out.push(Math.round(i * step * 1e9) / 1e9);
  }
  return out;
}

function label(v: number): string {
  if (Math.abs(v) >= 1e6) return `${n(v / 1e6)}M`;
  if (Math.abs(v) >= 1e4) return `${n(v / 1e3)}k`;
  return n(v);
}

function frame(
  t: ChartText,
  x: [number, number],
  y: [number, number],
  body: (sx: (v: number) => number, sy: (v: number) => number) => string,
  legend: string[],
  xTickLabels?: string[],
): string {
  const pw = W - LEFT - RIGHT, ph = H - TOP - BOTTOM;
  const xt = ticks(x[0], x[1]), yt = ticks(Math.min(0, y[0]), y[1]);
  const x0 = xTickLabels ? x[0] : Math.min(x[0], xt[0]!),
    x1 = xTickLabels ? x[1] : Math.max(x[1], xt.at(-1)!);
  const y0 = yt[0]!, y1 = Math.max(y[1], yt.at(-1)!);
  const sx = (v: number) => LEFT + ((v - x0) / (x1 - x0 || 1)) * pw;
  const sy = (v: number) => TOP + ph - ((v - y0) / (y1 - y0 || 1)) * ph;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2 - RIGHT / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${
      esc(t.title)
    }</text>`,
  ];
  for (const v of yt) {
    parts.push(
      `<line x1="${LEFT}" x2="${LEFT + pw}" y1="${n(sy(v))}" y2="${n(sy(v))}" stroke="#e5e5e5"/>`,
      `<text x="${LEFT - 6}" y="${n(sy(v) + 4)}" text-anchor="end">${label(v)}</text>`,
    );
  }
  if (xTickLabels) {
    xTickLabels.forEach((l, i) => {
      const x = n(sx(i + 0.5)), y = TOP + ph + 14;
      parts.push(
        `<text x="${x}" y="${y}" text-anchor="end" transform="rotate(-25 ${x} ${y})">${esc(l)}</text>`,
      );
    });
  } else {
    for (const v of xt) {
      parts.push(
        `<line x1="${n(sx(v))}" x2="${n(sx(v))}" y1="${TOP + ph}" y2="${TOP + ph + 5}" stroke="black"/>`,
        `<text x="${n(sx(v))}" y="${TOP + ph + 18}" text-anchor="middle">${label(v)}</text>`,
      );
    }
  }
  const drawn = body(sx, sy);
  parts.push(drawn);
  if (drawn.trim() === "") {
    parts.push(
      `<text x="${LEFT + pw / 2}" y="${TOP + ph / 2}" text-anchor="middle" fill="#777">no data</text>`,
    );
  }
  parts.push(
    `<line x1="${LEFT}" x2="${LEFT + pw}" y1="${TOP + ph}" y2="${TOP + ph}" stroke="black"/>`,
    `<line x1="${LEFT}" x2="${LEFT}" y1="${TOP}" y2="${TOP + ph}" stroke="black"/>`,
    `<text x="${LEFT + pw / 2}" y="${H - 12}" text-anchor="middle">${esc(t.xLabel)}</text>`,
    `<text transform="translate(18 ${TOP + ph / 2}) rotate(-90)" text-anchor="middle">${
      esc(t.yLabel)
    }</text>`,
  );
  legend.forEach((name, i) => {
    const ly = TOP + 10 + i * 18;
    parts.push(
      `<rect x="${W - RIGHT + 12}" y="${ly - 9}" width="12" height="12" fill="${
        COLORS[i % COLORS.length]
      }"/>`,
      `<text x="${W - RIGHT + 30}" y="${ly + 2}">${esc(name)}</text>`,
    );
  });
  parts.push("</svg>\n");
  return parts.join("\n");
}

function extent(vs: number[]): [number, number] {
  if (vs.length === 0) return [0, 1];
  let lo = vs[0]!, hi = vs[0]!;
  for (const v of vs) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
  return [lo, hi];
}

/** A line chart of one or more series. */
export function lineChart(t: ChartText, series: Series[]): string {
  const pts = series.flatMap((s) => s.points);
  const x = extent(pts.map((p) => p[0])), y = extent(pts.map((p) => p[1]));
  return frame(t, x, y, (sx, sy) =>
    series.map((s, i) => {
      if (s.points.length === 0) return "";
      const d = s.points.map((p, j) => `${j === 0 ? "M" : "L"}${n(sx(p[0]))},${n(sy(p[1]))}`).join(" ");
      return `<path d="${d}" fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="1.5"/>`;
    }).join("\n"), series.map((s) => s.name));
}

/** A bar chart: one bar per category (grouped by series when several). */
export function barChart(
  t: ChartText,
  categories: string[],
  series: { name: string; values: number[] }[],
): string {
  const y = extent([0, ...series.flatMap((s) => s.values)]);
  const k = Math.max(1, series.length);
  return frame(
    t,
    [0, Math.max(1, categories.length)],
    y,
    (sx, sy) => {
      const out: string[] = [];
      const bw = (sx(1) - sx(0)) * 0.8 / k;
      series.forEach((s, si) => {
        s.values.forEach((v, ci) => {
          const x = sx(ci) + (sx(1) - sx(0)) * 0.1 + si * bw;
          out.push(
            `<rect x="${n(x)}" y="${n(sy(v))}" width="${n(bw)}" height="${n(sy(0) - sy(v))}" fill="${
              COLORS[si % COLORS.length]
            }"/>`,
          );
        });
      });
      return out.join("\n");
    },
    series.map((s) => s.name),
    categories,
  );
}

/** A histogram of `values` in `bins` equal bins (labelled by their lower bound). */
export function histogram(t: ChartText, name: string, values: number[], bins = 10): string {
  if (values.length > 0 && values.every(Number.isInteger)) return integerHistogram(t, name, values);
  const [lo, hi0] = extent(values);
  const hi = hi0 > lo ? hi0 : lo + 1;
  const width = (hi - lo) / bins;
  const counts = Array<number>(bins).fill(0);
  for (const v of values) counts[Math.min(bins - 1, Math.floor((v - lo) / width))]!++;
  const cats = counts.map((_, i) => label(Math.round((lo + i * width) * 100) / 100));
  return barChart(t, cats, [{ name, values: values.length === 0 ? [] : counts }]);
}

/** Most bars of a histogram of whole numbers (wider ranges put several numbers in one bar). */
export const INTEGER_BARS_MAX = 24;

/** Whole numbers: one bar per number from the least to the greatest (or per range of numbers). */
function integerHistogram(t: ChartText, name: string, values: number[]): string {
  const [lo, hi] = extent(values);
  const width = Math.max(1, Math.ceil((hi - lo + 1) / INTEGER_BARS_MAX));
  const n = Math.floor((hi - lo) / width) + 1;
  const counts = Array<number>(n).fill(0);
  for (const v of values) counts[Math.floor((v - lo) / width)]!++;
  const cats = counts.map((_, i) => {
    const a = lo + i * width;
    return width === 1 ? label(a) : `${label(a)}-${label(a + width - 1)}`;
  });
  return barChart(t, cats, [{ name, values: counts }]);
}
