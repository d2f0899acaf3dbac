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

/**
 * Strictly decodes untrusted CBOR: must be well formed, use only plain data types (no floats, tags,
 * undefined, big integers), nest at most `maxDepth` deep and be in canonical form (re-encoding gives
 * the same bytes). Throws {@link DecodeError} with `what` in the reason.
 */
export function strictDecode(bytes: Uint8Array, what: string, maxDepth = 32): unknown {
  if (!(bytes instanceof Uint8Array)) throw new DecodeError(`${what}: not bytes`);
  let value: unknown;
  try {
    value = decode(bytes, DECODE_OPTIONS);
  } catch (e) {
    throw new DecodeError(
      `${what}: malformed CBOR (${(e as Error).message.replace(/^CBOR decode error: /, "")})`,
    );
  }
  const bad = plainDataProblem(value, maxDepth);
  if (bad) throw new DecodeError(`${what}: ${bad}`);
  let again: Uint8Array;
  try {
    again = encode(value);
  } catch {
    throw new DecodeError(`${what}: not canonical CBOR`);
  }
  if (!bytesEqual(again, bytes)) throw new DecodeError(`${what}: not canonical CBOR`);
  return value;
}

/** Returns why `v` is not plain canonical data, or null. Floats and unsafe integers are refused. */
export function plainDataProblem(v: unknown, maxDepth: number, path = "value"): string | null {
  if (maxDepth < 0) return `${path}: nested too deeply`;
  if (v === null || typeof v === "string" || typeof v === "boolean") return null;
  if (typeof v === "number") return Number.isSafeInteger(v) ? null : `${path}: numbers must be safe integers`;
  if (v instanceof Uint8Array) return null;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const p = plainDataProblem(v[i], maxDepth - 1, `${path}[${i}]`);
      if (p) return p;
    }
    return null;
  }
  if (typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype) {
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      const p = plainDataProblem(x, maxDepth - 1, `${path}.${k}`);
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
