/** The JSON report of `./cirrus deployment validate FILE --output json`. */
import { parseSdl } from "./parse.ts";
import type { Hex } from "./types.ts";

/** One resource unit of a validation report. */
export interface ValidateReportUnit {
  /** millicores per replica */
  cpu: number;
  /** bytes per replica */
  memory: number;
  /** total storage bytes per replica */
  storage: number;
  /** gpus per replica */
  gpu: number;
  count: number;
  price: { denom: string; amount: string };
}

/** What `deployment validate` shows: valid or the first error, the groups with their units, the manifest hash. */
export interface ValidateReport {
  valid: boolean;
  error?: string;
  groups: { name: string; units: ValidateReportUnit[] }[];
  manifestHash?: Hex;
}

/** Validate an SDL text and summarize it; `valid: false` carries the first (path-prefixed) error. */
export function validateReport(text: string): ValidateReport {
  const r = parseSdl(text);
  if (!r.ok) return { valid: false, error: r.error, groups: [] };
  return {
    valid: true,
    groups: r.groups.map((g) => ({
      name: g.name,
      units: g.units.map((u) => ({
        cpu: u.cpu,
        memory: u.memory,
        storage: u.storageBytes,
        gpu: u.gpu.units,
        count: u.count,
        price: { denom: u.price.denom, amount: u.price.amount },
      })),
    })),
    manifestHash: r.manifestHash,
  };
}
