/**
 * Bid prices, scaled by 10^18 per block (auction/market/decimal.ts): scale pricing (per unit of cpu,
 * memory, storage by class, gpu by model, summed over units x count) or an external pricing script
 * (reads the order as JSON on stdin, prints a decimal price on stdout; bounded time and output).
 * @module
 */
import type { Group, ResourceUnit } from "../auction/sdl/types.ts";
import type { PricingConfig } from "./config.ts";
import { parseDecimalPrice } from "./config.ts";
import type { GpuAllocation } from "./inventory.ts";
import { readCapped } from "./read_capped.ts";

const MIB = 1024n * 1024n;

function ceilDiv(a: bigint, b: bigint): bigint {
  return (a + b - 1n) / b;
}

/** The gpu model a unit is priced by without a placement: its one concrete model, else `default`. */
function unitGpuModel(u: ResourceUnit): string {
  const models = new Set(u.gpu.attributes.map((a) => a.model));
  return models.size === 1 && !models.has("*") ? [...models][0]! : "default";
}

function gpuRate(pricing: PricingConfig, model: string): bigint {
  return pricing.gpu[model] ?? pricing.gpu.default ?? 0n;
}

/**
 * Scale price of a group per block, scaled by 10^18: for every unit x count, cpu millicores x
 * `pricing.cpu` + memory MiB x `pricing.memory` + each volume's MiB x `pricing.storage[class]`
 * (ephemeral and unpriced classes: `default`; `ram`: `storage.ram`, else the memory rate) + gpus x
 * `pricing.gpu[model]` (else `default`). Byte-based parts are rounded up to the next 10^-18.
 * `gpus` (the inventory's placement) prices each gpu by the model it was placed on; without it a unit
 * naming one model is priced by that model, others by `default`. `minimum` is not applied here.
 */
export function scalePrice(group: Group, pricing: PricingConfig, gpus?: GpuAllocation[]): bigint {
  let fixed = 0n; // exact parts
  let perMib = 0n; // sum of bytes x rate, divided by 2^20 once
  for (const u of group.units) {
    const n = BigInt(u.count);
    fixed += BigInt(u.cpu) * n * pricing.cpu;
    perMib += BigInt(u.memory) * n * pricing.memory;
    for (const v of u.storage) {
      const rate = v.class === "ram"
        ? pricing.storage.ram ?? pricing.memory
        : pricing.storage[v.persistent ? v.class ?? "default" : "default"] ?? pricing.storage.default ?? 0n;
      perMib += BigInt(v.size) * n * rate;
    }
    if (u.gpu.units > 0) {
      const placed = gpus?.filter((a) => a.unit === u.id) ?? [];
      if (placed.length > 0) { for (const a of placed) fixed += BigInt(a.count) * gpuRate(pricing, a.model); }
      else fixed += BigInt(u.gpu.units) * n * gpuRate(pricing, unitGpuModel(u));
    }
  }
  return fixed + ceilDiv(perMib, MIB);
}

/** Most output of a pricing script kept by default, bytes. */
export const SCRIPT_OUTPUT_MAX_BYTES = 4096;

/** Options of {@link scriptPrice}. */
export interface ScriptPriceOptions {
  /** default 5000 */
  timeoutMs?: number;
  /** Most stdout (and kept stderr) bytes, default {@link SCRIPT_OUTPUT_MAX_BYTES}. */
  outputMaxBytes?: number;
}

/** A pricing script failed (non-zero exit, timeout, garbage output, ...). */
export class PricingScriptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PricingScriptError";
  }
}

/**
 * Runs a pricing script: `script` is executed directly (it must be executable), with the JSON of
 * `order` on stdin; it must print one decimal price per block ("12.5") on stdout and exit 0 within
 * `timeoutMs`. Returns the price scaled by 10^18. Throws {@link PricingScriptError}:
 * `pricing script exited 1: <first stderr line>`, `pricing script timed out after 5000ms`, ...
 */
export async function scriptPrice(
  script: string,
  order: unknown,
  opts: ScriptPriceOptions = {},
): Promise<bigint> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const max = opts.outputMaxBytes ?? SCRIPT_OUTPUT_MAX_BYTES;
  const input = new TextEncoder().encode(JSON.stringify(order));
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(script, { stdin: "piped", stdout: "piped", stderr: "piped" }).spawn();
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound
      ? "not found"
      : e instanceof Deno.errors.PermissionDenied
      ? "permission denied (is it executable?)"
      : (e as Error).message;
    throw new PricingScriptError(`pricing script ${script}: ${why}`);
  }
  let killedFor: string | undefined;
  const kill = (why: string) => {
    if (killedFor) return;
    killedFor = why;
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  };
  const timer = setTimeout(() => kill(`timed out after ${timeoutMs}ms`), timeoutMs);
  // Readers stop at the deadline even if a grandchild keeps the pipes open.
  const stop = new AbortController();
  let deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<null>((r) => deadlineTimer = setTimeout(() => r(null), timeoutMs + 200));
  const writeStdin = (async () => {
    const w = child.stdin.getWriter();
    try {
      await w.write(input);
      await w.close();
    } catch { /* the script need not read stdin */ }
  })();
  const out = readCapped(child.stdout, max, () => kill(`printed more than ${max} bytes`), stop.signal);
  const err = readCapped(child.stderr, max, () => {}, stop.signal);
  try {
    const status = await child.status;
    const race = await Promise.race([Promise.all([out, err, writeStdin]), deadline]);
    if (killedFor) throw new PricingScriptError(`pricing script ${killedFor}`);
    if (race === null) {
      throw new PricingScriptError(`pricing script output did not end within ${timeoutMs}ms`);
    }
    const [o, e] = race;
    const dec = new TextDecoder();
    if (!status.success) {
      const first = dec.decode(e.bytes).split("\n").map((l) => l.trim()).find((l) => l) ?? "(no stderr)";
      const how = status.signal ? `was killed by ${status.signal}` : `exited ${status.code}`;
      throw new PricingScriptError(`pricing script ${how}: ${first}`);
    }
    const text = dec.decode(o.bytes).trim();
    const price = parseDecimalPrice(text);
    if (price === null) {
      const shown = text.length > 60 ? `${text.slice(0, 60)}...` : text;
      throw new PricingScriptError(
        `pricing script printed ${JSON.stringify(shown)}, not a decimal price (want e.g. "12.5")`,
      );
    }
    return price;
  } finally {
    clearTimeout(timer);
    clearTimeout(deadlineTimer);
    stop.abort();
  }
}
