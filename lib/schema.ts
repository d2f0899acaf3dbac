/**
 * A small schema combinator for untrusted plain data (decoded CBOR, JSON, YAML): each check returns
 * a reason naming the bad path (`body.groups[0].name: must be 1-256 characters`) or null. Compose
 * them with {@link first} and {@link obj}; the first problem found is the one reported.
 * @module
 */

/** A reason naming the bad path, or null when the value is fine. */
export type Problem = string | null;

/** A check of one value at a path. */
export type Check = (v: unknown, path: string) => Problem;

/** True for a non-null plain object (a decoded CBOR/JSON map), not an array or bytes. */
export function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) &&
    Object.getPrototypeOf(v) === Object.prototype;
}

/** The first non-null problem, or null. */
export const first = (...ps: Problem[]): Problem => ps.find((p) => p !== null) ?? null;

/** Problem when `o` lacks a `required` key or has a key that is neither required nor `optional`. */
export function keysProblem(
  o: Record<string, unknown>,
  required: readonly string[],
  optional: readonly string[],
  path: string,
): Problem {
  for (const k of required) if (!Object.hasOwn(o, k)) return `${path}.${k}: missing`;
  for (const k of Object.keys(o)) {
    if (!required.includes(k) && !optional.includes(k)) return `${path}.${k}: unknown field`;
  }
  return null;
}

/** A string of `min`..`max` characters. */
export function str(v: unknown, path: string, max: number, min = 0): Problem {
  if (typeof v !== "string") return `${path}: must be a string`;
  if (v.length < min || v.length > max) return `${path}: must be ${min}-${max} characters`;
  return null;
}

/** A safe integer in [min, max]. */
export function int(v: unknown, path: string, min: number, max: number): Problem {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max) {
    return `${path}: must be an integer in [${min}, ${max}]`;
  }
  return null;
}

/** A boolean. */
export function bool(v: unknown, path: string): Problem {
  return typeof v === "boolean" ? null : `${path}: must be a boolean`;
}

/** One of the `allowed` strings. */
export function oneOf(v: unknown, path: string, allowed: readonly string[]): Problem {
  return typeof v === "string" && allowed.includes(v)
    ? null
    : `${path}: must be one of ${allowed.join(", ")}`;
}

/** An array of `min`..`max` entries, each passing `each`. */
export function arr(v: unknown, path: string, max: number, each: Check, min = 0): Problem {
  if (!Array.isArray(v)) return `${path}: must be an array`;
  if (v.length < min || v.length > max) return `${path}: must have ${min}-${max} entries`;
  for (let i = 0; i < v.length; i++) {
    const p = each(v[i], `${path}[${i}]`);
    if (p) return p;
  }
  return null;
}

/** A map with exactly the `required` keys plus any of `optional`, whose fields pass `fields`. */
export function obj(
  v: unknown,
  path: string,
  required: readonly string[],
  optional: readonly string[],
  fields: (o: Record<string, unknown>) => Problem,
): Problem {
  if (!isObj(v)) return `${path}: must be a map`;
  return keysProblem(v, required, optional, path) ?? fields(v);
}

/** `check` unless the value is undefined (an optional field). */
export const optional = (check: Check): Check => (v, path) => v === undefined ? null : check(v, path);
