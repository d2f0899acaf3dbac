/**
 * Quantity parsing for SDL resources, with exact decimal arithmetic (no float rounding surprises):
 *  - cpu units: `1`, `0.5`, `"0.5"`, `"500m"` -> millicores (fractions of a millicore are truncated, as Go does);
 *  - byte sizes: plain bytes, decimal suffixes k/M/G/T/P/E (x1000) and binary Ki/Mi/Gi/Ti/Pi/Ei (x1024).
 *    Suffixes are case-insensitive and may end in a `b`/`B` (`8gb`, `512Mb`, `1GiB`), as Akash's TS SDK
 *    (Console) accepts; Akash's Go parser is stricter (case-sensitive, no `b`). Lowercase `m` means mega,
 *    like the TS SDK (never milli for sizes). Fractions of a byte are truncated (Go semantics);
 *  - price amounts: DecCoin-style decimal strings (at most 18 fractional digits), normalized.
 */

/** A parsed decimal: value = digits / 10^scale (always >= 0; the sign is kept apart). */
interface Decimal {
  negative: boolean;
  digits: bigint;
  scale: number;
}

const DECIMAL_RE = /^([+-])?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d{1,3}))?$/;
const EXPONENT_MAX = 40;

function parseDecimal(text: string): Decimal | undefined {
  const m = DECIMAL_RE.exec(text.trim());
  if (!m) return undefined;
  const intPart = m[2] ?? "";
  const fracPart = m[3] ?? "";
  if (intPart.length + fracPart.length === 0) return undefined;
  if (intPart.length + fracPart.length > 80) return undefined;
  const exp = m[4] === undefined ? 0 : Number(m[4]);
  if (Math.abs(exp) > EXPONENT_MAX) return undefined;
  let digits = BigInt((intPart + fracPart) || "0");
  let scale = fracPart.length - exp;
  if (scale < 0) {
    digits *= 10n ** BigInt(-scale);
    scale = 0;
  }
  return { negative: m[1] === "-" && digits !== 0n, digits, scale };
}

/** Text of a YAML scalar as the user would read it (numbers in plain decimal, never exponent form). */
export function scalarText(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "number") {
    if (!Number.isFinite(v)) return String(v);
    if (Number.isInteger(v) && Math.abs(v) < 1e21) return v.toFixed(0);
    const s = String(v);
    if (!/e/i.test(s)) return s;
    // exponent form: expand exactly through the decimal parser
    const d = parseDecimal(s);
    return d ? formatDecimal(d) : s;
  }
  return undefined;
}

function formatDecimal(d: Decimal): string {
  let s = d.digits.toString();
  if (d.scale > 0) {
    s = s.padStart(d.scale + 1, "0");
    const intPart = s.slice(0, s.length - d.scale);
    const frac = s.slice(s.length - d.scale).replace(/0+$/, "");
    s = frac ? `${intPart}.${frac}` : intPart;
  }
  return (d.negative ? "-" : "") + s;
}

/** A parsed quantity (bytes, millicores), or why it is not one. */
export type QuantityResult = { ok: true; value: number } | { ok: false; error: string };

function toSafeNumber(v: bigint, what: string): QuantityResult {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) return { ok: false, error: `${what} is too large` };
  return { ok: true, value: Number(v) };
}

/** CPU units -> millicores. Accepts numbers, decimal strings, and `<n>m` millicore strings. */
export function parseCpuUnits(v: unknown): QuantityResult {
  if (v === null || v === undefined) return { ok: false, error: "required" };
  const text = scalarText(v);
  if (text === undefined || typeof v === "boolean") {
    return { ok: false, error: 'must be a number of cpus (1, 0.5, "500m")' };
  }
  const t = text.trim();
  let milli = false;
  let num = t;
  if (/m$/i.test(t)) {
    milli = true;
    num = t.slice(0, -1);
  }
  const d = parseDecimal(num);
  if (!d) return { ok: false, error: `invalid cpu quantity ${JSON.stringify(text)} (use 1, 0.5 or "500m")` };
  if (d.negative) return { ok: false, error: `invalid cpu quantity ${JSON.stringify(text)}: negative` };
  const scaled = milli ? d.digits : d.digits * 1000n;
  return toSafeNumber(scaled / 10n ** BigInt(d.scale), "cpu quantity");
}

const PREFIX_POWER: Record<string, number> = { k: 1, m: 2, g: 3, t: 4, p: 5, e: 6 };
const SIZE_RE = /^(.*?)\s*(?:([kmgtpe])(i)?)?(b)?$/i;

/** A byte size -> bytes (number; every valid size is far below 2^53). */
export function parseByteSize(v: unknown): QuantityResult {
  if (v === null || v === undefined) return { ok: false, error: "required" };
  const text = scalarText(v);
  if (text === undefined || typeof v === "boolean") {
    return { ok: false, error: "must be a size (512Mi, 1Gi, 1G, or bytes)" };
  }
  const m = SIZE_RE.exec(text.trim());
  const d = m ? parseDecimal(m[1] ?? "") : undefined;
  if (!m || !d) {
    return { ok: false, error: `invalid size ${JSON.stringify(text)} (use e.g. 512Mi, 1Gi, 1G or bytes)` };
  }
  if (d.negative) return { ok: false, error: `invalid size ${JSON.stringify(text)}: negative` };
  const prefix = m[2]?.toLowerCase();
  const base = m[3] ? 1024n : 1000n;
  const mult = prefix ? base ** BigInt(PREFIX_POWER[prefix] ?? 0) : 1n;
  return toSafeNumber((d.digits * mult) / 10n ** BigInt(d.scale), "size");
}

/** Format bytes as `<n>Gi` truncated, like Akash's GPU ram attribute (`80Gi`). */
export function formatGi(bytes: number): string {
  return `${Math.floor(bytes / 1024 ** 3)}Gi`;
}

/** A parsed price amount (normalized decimal string), or why it is not one. */
export type AmountResult = { ok: true; value: string } | { ok: false; error: string };

/** Max fractional digits of a cosmos LegacyDec (DecCoin amount). */
export const AMOUNT_DECIMALS_MAX = 18;

/** A price amount (DecCoin): positive decimal, at most 18 fractional digits; returned normalized. */
export function parseAmount(v: unknown): AmountResult {
  if (v === null || v === undefined) return { ok: false, error: "required" };
  const text = scalarText(v);
  if (text === undefined || typeof v === "boolean") return { ok: false, error: "must be a decimal number" };
  const t = text.trim();
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(t) && typeof v !== "number") {
    return { ok: false, error: `invalid amount ${JSON.stringify(text)} (want a decimal like 100 or 0.5)` };
  }
  const d = parseDecimal(t);
  if (!d) return { ok: false, error: `invalid amount ${JSON.stringify(text)}` };
  if (d.negative) return { ok: false, error: `amount ${JSON.stringify(text)} is negative` };
  if (d.digits === 0n) return { ok: false, error: "amount is zero" };
  const normalized = formatDecimal(d);
  const frac = normalized.split(".")[1] ?? "";
  if (frac.length > AMOUNT_DECIMALS_MAX) {
    return {
      ok: false,
      error: `amount ${JSON.stringify(text)} has more than ${AMOUNT_DECIMALS_MAX} decimals`,
    };
  }
  return { ok: true, value: normalized.replace(/^0+(?=\d)/, "") };
}
