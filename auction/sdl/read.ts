/**
 * The parse context (errors and warnings, each prefixed with its path) and the readers of YAML
 * values, lenient where Akash's Go parser is (numbers as strings, `True`/`t`/`1` as booleans). A
 * reader records its own error and returns undefined (or a default) on a bad value.
 * @module
 */
import { scalarText } from "./quantity.ts";

/** Stop collecting after this many errors (the first one is what users see). */
export const ERROR_COUNT_MAX = 50;

/** Errors and warnings collected while parsing (at most {@link ERROR_COUNT_MAX} of each). */
export class Ctx {
  /** Error messages, `path: message`. */
  errors: string[] = [];
  /** Warning messages, `path: message`. */
  warnings: string[] = [];
  /** Records an error at `path`. */
  err(path: string, msg: string): void {
    if (this.errors.length < ERROR_COUNT_MAX) this.errors.push(path ? `${path}: ${msg}` : msg);
  }
  /** Records a warning at `path`. */
  warn(path: string, msg: string): void {
    if (this.warnings.length < ERROR_COUNT_MAX) this.warnings.push(path ? `${path}: ${msg}` : msg);
  }
}

/** A YAML mapping. */
export type Obj = Record<string, unknown>;

/**
 * True for what the SDL readers treat as a mapping: any non-null object that is not a list. Wider than
 * lib/schema's `isObj` (plain objects only) on purpose: YAML 1.1 tags can yield bytes, sets or maps
 * (`!!binary`, `!!set`, `!!omap`), which are then read as mappings without the expected keys, so the
 * error names the missing field rather than the container type.
 */
export function isYamlMapping(v: unknown): v is Obj {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** `base.key`, or `base["odd key"]` when the key is not a plain name. */
export function joinPath(base: string, key: string | number): string {
  if (typeof key === "number") return `${base}[${key}]`;
  const k = /^[A-Za-z0-9_-]+$/.test(key) ? key : JSON.stringify(key);
  return base ? (k === key ? `${base}.${k}` : `${base}[${k}]`) : k;
}

/** The entries of a mapping, in document order. */
export function entries(v: Obj): [string, unknown][] {
  return Object.keys(v).map((k) => [k, v[k]]);
}

/** Compares names bytewise (Go's sort order). */
export function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A mapping (null/absent -> empty unless required). */
export function readMap(ctx: Ctx, v: unknown, path: string, required = false): Obj | undefined {
  if (v === null || v === undefined) {
    if (required) ctx.err(path, "required");
    return required ? undefined : {};
  }
  if (!isYamlMapping(v)) {
    ctx.err(path, `must be a mapping, got ${describe(v)}`);
    return undefined;
  }
  return v;
}

/** What a value is, for messages: `nothing`, `a list`, `a mapping`, `string "x"`. */
export function describe(v: unknown): string {
  if (v === null || v === undefined) return "nothing";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  return `${typeof v === "bigint" ? "number" : typeof v} ${JSON.stringify(scalarText(v))}`;
}

/** Warns about each key of `o` not in `allowed` (ignored, as Akash's Go parser does). */
export function unknownKeys(ctx: Ctx, o: Obj, path: string, allowed: readonly string[]): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) ctx.warn(joinPath(path, k), "unknown field, ignored");
  }
}

/** A scalar as a string (null/absent: undefined, or an error when required). */
export function readStr(ctx: Ctx, v: unknown, path: string, required = false): string | undefined {
  if (v === null || v === undefined) {
    if (required) ctx.err(path, "required");
    return undefined;
  }
  if (typeof v === "object") {
    ctx.err(path, `must be a string, got ${describe(v)}`);
    return undefined;
  }
  const s = scalarText(v);
  if (s === undefined) {
    ctx.err(path, "must be a string");
    return undefined;
  }
  if (required && s.trim() === "") ctx.err(path, "must not be empty");
  return s;
}

/** A list of scalars as strings (null/absent: empty). */
export function readStrList(ctx: Ctx, v: unknown, path: string): string[] {
  if (v === null || v === undefined) return [];
  if (!Array.isArray(v)) {
    ctx.err(path, `must be a list of strings, got ${describe(v)}`);
    return [];
  }
  const out: string[] = [];
  v.forEach((item, i) => {
    const s = readStr(ctx, item, joinPath(path, i));
    if (s !== undefined) out.push(s);
    else if (item === null || item === undefined) ctx.err(joinPath(path, i), "must be a string, got nothing");
  });
  return out;
}

/** A boolean as Go's strconv.ParseBool reads it; undefined when it is not one. */
export function parseBool(v: unknown): boolean | undefined {
  if (typeof v === "boolean") return v;
  const s = scalarText(v);
  if (s === undefined) return undefined;
  if (["true", "True", "TRUE", "t", "T", "1"].includes(s)) return true;
  if (["false", "False", "FALSE", "f", "F", "0"].includes(s)) return false;
  return undefined;
}

/** A boolean (null/absent: `dflt`). */
export function readBool(ctx: Ctx, v: unknown, path: string, dflt = false): boolean {
  if (v === null || v === undefined) return dflt;
  const b = parseBool(v);
  if (b === undefined) {
    ctx.err(path, `must be true or false, got ${describe(v)}`);
    return dflt;
  }
  return b;
}

/** An integer in [min, max] (numbers, bigints, digit strings). */
export function readInt(
  ctx: Ctx,
  v: unknown,
  path: string,
  min: number,
  max: number,
  what = "",
): number | undefined {
  const s = scalarText(v);
  if (v === null || v === undefined || typeof v === "boolean" || typeof v === "object" || s === undefined) {
    ctx.err(path, `must be ${what || `an integer ${min}..${max}`}, got ${describe(v)}`);
    return undefined;
  }
  if (!/^\s*[+-]?\d+\s*$/.test(s)) {
    ctx.err(path, `must be ${what || `an integer ${min}..${max}`}, got ${JSON.stringify(s)}`);
    return undefined;
  }
  const n = Number(s);
  if (!(n >= min && n <= max)) {
    ctx.err(path, `must be ${min}..${max}, got ${s.trim()}`);
    return undefined;
  }
  return n;
}
