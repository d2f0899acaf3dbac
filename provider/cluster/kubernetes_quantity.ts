/** Kubernetes quantities ("100m", "64Mi") as numbers, and resource lists summed into `Resources`. */
import type { Resources } from "./objects.ts";

const SUFFIX: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** A Kubernetes quantity ("100m", "64Mi", "1e3", "2") as a number of base units. */
export function parseQuantity(q: string | number | undefined): number {
  if (q === undefined) return 0;
  if (typeof q === "number") return q;
  const m = /^([+-]?[0-9.]+(?:[eE][+-]?\d+)?)([a-zA-Z]*)$/.exec(q.trim());
  if (!m) return 0;
  const mul = SUFFIX[m[2]!];
  return mul === undefined ? 0 : Number(m[1]) * mul;
}

export function gpuCount(q: Record<string, string> | undefined): number {
  if (!q) return 0;
  return Math.round(parseQuantity(q["nvidia.com/gpu"]) + parseQuantity(q["amd.com/gpu"]));
}

export function addQuantities(r: Resources, q: Record<string, string> | undefined): void {
  if (!q) return;
  r.cpu += Math.round(parseQuantity(q.cpu) * 1000);
  r.memory += Math.round(parseQuantity(q.memory));
  r.storage += Math.round(parseQuantity(q["ephemeral-storage"]));
  r.gpu += gpuCount(q);
}
