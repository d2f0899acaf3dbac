/**
 * Canonical CBOR for everything signed, stored or sent: deterministic encoding (cborg: map keys sorted length-first then
 * bytewise, minimal integers) and a strict decoder for untrusted bytes that accepts only input that
 * re-encodes to exactly the same bytes — so every value has exactly one valid encoding.
 * @module
 */
import { decode, encode } from "cborg";
import { bytesEqual } from "./crypto.ts";

/** Thrown by the strict decoders on untrusted input; `reason` is shown to the sender. */
export class DecodeError extends Error {
  /** Human-readable reason (the same as `message`). */
  readonly reason: string;
  constructor(reason: string) {
    super(reason);
    this.name = "DecodeError";
    this.reason = reason;
  }
}

/**
 * Deterministic CBOR encoding of plain data (strings, safe integers, booleans, null, bytes, arrays,
 * maps). Always returns a plain `Uint8Array` (cborg returns a Node `Buffer` when one exists).
 */
export function canonicalEncode(value: unknown): Uint8Array {
  return new Uint8Array(encode(value));
}

const DECODE_OPTIONS = {
  strict: true,
  rejectDuplicateMapKeys: true,
  allowIndefinite: false,
  allowUndefined: false,
  allowInfinity: false,
  allowNaN: false,
  allowBigInt: false,
  useMaps: false,
  tags: [],
} as const;

/** Options of {@link strictDecode}. */
export interface StrictDecodeOptions {
  /** Deepest nesting accepted (default 32). */
  depthMax?: number;
  /** Largest input in bytes (default: no limit beyond the caller's framing). */
  bytesMax?: number;
  /** Accept finite floats (default false: numbers must be safe integers). */
  floats?: boolean;
  /** Require the canonical encoding (default true). */
  canonical?: boolean;
}

/**
 * Strictly decodes untrusted CBOR: must be well formed, use only plain data types (no tags,
 * undefined, big integers; floats only when allowed), nest at most `depthMax` deep, fit `bytesMax`
 * and (by default) be in canonical form (re-encoding gives the same bytes). Throws
 * {@link DecodeError} with `what` in the reason; never anything else.
 * @param options the options, or (as before) the maximum depth.
 */
export function strictDecode(
  bytes: unknown,
  what: string,
  options: StrictDecodeOptions | number = {},
): unknown {
  const o: StrictDecodeOptions = typeof options === "number" ? { depthMax: options } : options;
  if (!(bytes instanceof Uint8Array)) throw new DecodeError(`${what}: not bytes`);
  if (o.bytesMax !== undefined) {
    if (bytes.length === 0) throw new DecodeError(`${what}: empty`);
    if (bytes.length > o.bytesMax) {
      throw new DecodeError(`${what}: ${bytes.length} bytes, the limit is ${o.bytesMax}`);
    }
  }
  let value: unknown;
  try {
    value = decode(bytes, DECODE_OPTIONS);
  } catch (e) {
    const msg = e instanceof RangeError ? "nested too deeply" : String((e as Error)?.message ?? e);
    throw new DecodeError(`${what}: malformed CBOR (${msg.replace(/^CBOR decode error: /, "")})`);
  }
  const bad = plainDataProblem(value, o.depthMax ?? 32, what, o.floats ?? false);
  if (bad) throw new DecodeError(bad);
  if (o.canonical ?? true) {
    let again: Uint8Array;
    try {
      again = encode(value);
    } catch {
      throw new DecodeError(`${what}: not canonical CBOR`);
    }
    if (!bytesEqual(again, bytes)) throw new DecodeError(`${what}: not canonical CBOR`);
  }
  return value;
}

/** A copy of `v` without undefined properties (cborg would encode them as CBOR `undefined`). */
export function stripUndefined(v: unknown, depth = 0): unknown {
  if (depth > 64) throw new DecodeError("value nested too deeply");
  if (Array.isArray(v)) return v.map((x) => stripUndefined(x, depth + 1));
  if (isPlainObject(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = stripUndefined(x, depth + 1);
    return out;
  }
  return v;
}

/**
 * Returns why `v` is not plain canonical data, or null. Unsafe integers are refused, and floats unless
 * `floats` is true (then only non-finite numbers are).
 */
export function plainDataProblem(
  v: unknown,
  maxDepth: number,
  path = "value",
  floats = false,
): string | null {
  if (maxDepth < 0) return `${path}: nested too deeply`;
  if (v === null || typeof v === "string" || typeof v === "boolean") return null;
  if (typeof v === "number") {
    if (floats ? Number.isFinite(v) : Number.isSafeInteger(v)) return null;
    return `${path}: numbers must be ${floats ? "finite" : "safe integers"}`;
  }
  if (v instanceof Uint8Array) return null;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const p = plainDataProblem(v[i], maxDepth - 1, `${path}[${i}]`, floats);
      if (p) return p;
    }
    return null;
  }
  if (typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype) {
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      const p = plainDataProblem(x, maxDepth - 1, `${path}.${k}`, floats);
      if (p) return p;
    }
    return null;
  }
  return `${path}: unsupported type ${typeof v}`;
}

/** True for a non-null plain object (a decoded CBOR map). */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) &&
    Object.getPrototypeOf(v) === Object.prototype;
}

/** Reason when `obj` does not have exactly the keys `keys`, else null. */
export function exactKeysProblem(
  obj: Record<string, unknown>,
  keys: readonly string[],
  path: string,
): string | null {
  for (const k of keys) if (!Object.hasOwn(obj, k)) return `${path}.${k}: missing`;
  for (const k of Object.keys(obj)) if (!keys.includes(k)) return `${path}.${k}: unknown field`;
  return null;
}
