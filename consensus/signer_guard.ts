/**
 * Double-sign protection (CometBFT's `privval/file.go` CheckHRS): a validator never signs at a
 * height/round/step lower than or equal to the last one it signed, except the identical bytes again.
 * `checkSign` is pure; `SignerState` persists the last signed position atomically.
 * @module
 */
import { sha256, toHex } from "../lib/crypto.ts";

/** What is being signed: a proposal, a prevote or a precommit. */
export type SignStep = "propose" | "prevote" | "precommit";

/** Order of steps within a round: propose(1) < prevote(2) < precommit(3). */
export const SIGN_STEP_ORDER: Readonly<Record<SignStep, number>> = Object.freeze({
  propose: 1,
  prevote: 2,
  precommit: 3,
});

/** A signed (or to-be-signed) position plus the sha256 (hex) of the exact sign bytes. */
export interface SignRecord {
  height: number;
  round: number;
  step: SignStep;
  signBytesHash: string;
}

/** The verdict of {@link checkSign}. `resign` = identical bytes already signed (safe to sign again). */
export type SignCheck = { ok: true; resign: boolean } | { ok: false; reason: string };

/**
 * @param bytes sign bytes.
 * @returns lower-case hex sha256 of `bytes`.
 */
export function signBytesHash(bytes: Uint8Array): string {
  return toHex(sha256(bytes));
}

/**
 * Decides whether `next` may be signed after `last`.
 * @param last the last signed record, or null if nothing was ever signed.
 * @param next what is about to be signed.
 * @returns ok for a strictly higher (height, round, step) or the identical sign bytes at the same
 *   position; otherwise a refusal with a reason.
 * @example
 * ```ts
 * checkSign({ height: 5, round: 0, step: "precommit", signBytesHash: "aa" },
 *   { height: 5, round: 0, step: "prevote", signBytesHash: "bb" }); // { ok: false, ... }
 * ```
 */
export function checkSign(last: SignRecord | null, next: SignRecord): SignCheck {
  if (last === null) return { ok: true, resign: false };
  const where = `height ${next.height} round ${next.round} step ${next.step}`;
  const before = `height ${last.height} round ${last.round} step ${last.step}`;
  if (next.height !== last.height) {
    return next.height > last.height
      ? { ok: true, resign: false }
      : { ok: false, reason: `height regression: ${where} after ${before}` };
  }
  if (next.round !== last.round) {
    return next.round > last.round
      ? { ok: true, resign: false }
      : { ok: false, reason: `round regression: ${where} after ${before}` };
  }
  const a = SIGN_STEP_ORDER[next.step], b = SIGN_STEP_ORDER[last.step];
  if (a > b) return { ok: true, resign: false };
  if (a < b) return { ok: false, reason: `step regression: ${where} after ${before}` };
  if (next.signBytesHash === last.signBytesHash) return { ok: true, resign: true };
  return { ok: false, reason: `conflicting message at ${where}: refusing to double-sign` };
}

function parseRecord(text: string, path: string): SignRecord | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new SyntaxError(`Cannot parse signer state ${path}: not JSON`);
  }
  if (value === null) return null;
  const r = value as Partial<SignRecord>;
  if (
    typeof r !== "object" || !Number.isSafeInteger(r.height) || (r.height ?? 0) < 1 ||
    !Number.isSafeInteger(r.round) || (r.round ?? -1) < 0 || typeof r.step !== "string" ||
    !(r.step in SIGN_STEP_ORDER) || typeof r.signBytesHash !== "string" ||
    !/^[0-9a-f]{64}$/.test(r.signBytesHash)
  ) {
    throw new SyntaxError(`Cannot parse signer state ${path}: bad fields`);
  }
  return { height: r.height!, round: r.round!, step: r.step, signBytesHash: r.signBytesHash };
}

/**
 * The persisted last-signed record of a validator key. Use `authorize` before every signature; it
 * persists (write temp + fsync + rename + fsync dir) before returning ok, so a crash can never forget
 * a signature that was handed out.
 * @example
 * ```ts
 * const signer = await SignerState.load("/data/signer_state.json");
 * const verdict = await signer.authorize({ height: 1, round: 0, step: "prevote" }, signBytes);
 * if (verdict.ok) sign(signBytes);
 * ```
 */
export class SignerState {
  readonly path: string;
  #last: SignRecord | null;

  private constructor(path: string, last: SignRecord | null) {
    this.path = path;
    this.#last = last;
  }

  /**
   * Loads the state file; a missing file means nothing was signed yet.
   * @param path the JSON file.
   * @throws SyntaxError when the file exists but is malformed (refuse to run rather than double-sign).
   */
  static async load(path: string): Promise<SignerState> {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return new SignerState(path, null);
      throw error;
    }
    return new SignerState(path, parseRecord(text, path));
  }

  /** The last signed record, or null. */
  get last(): SignRecord | null {
    return this.#last === null ? null : { ...this.#last };
  }

  /**
   * Checks `position` + `signBytes` against the last record and, when allowed, persists it.
   * @returns the verdict; on ok the caller may sign `signBytes`.
   */
  async authorize(
    position: { height: number; round: number; step: SignStep },
    signBytes: Uint8Array,
  ): Promise<SignCheck> {
    const next: SignRecord = { ...position, signBytesHash: signBytesHash(signBytes) };
    const verdict = checkSign(this.#last, next);
    if (!verdict.ok || verdict.resign) return verdict;
    await writeAtomic(this.path, JSON.stringify(next));
    this.#last = next;
    return verdict;
  }
}

async function writeAtomic(path: string, text: string): Promise<void> {
  const temp = `${path}.tmp`;
  const file = await Deno.open(temp, { write: true, create: true, truncate: true });
  try {
    const bytes = new TextEncoder().encode(text);
    let written = 0;
    while (written < bytes.length) written += await file.write(bytes.subarray(written));
    await file.sync();
  } finally {
    file.close();
  }
  await Deno.rename(temp, path);
  const slash = path.lastIndexOf("/");
  const dir = slash > 0 ? path.slice(0, slash) : slash === 0 ? "/" : ".";
  try {
    const handle = await Deno.open(dir, { read: true });
    try {
      await handle.sync();
    } finally {
      handle.close();
    }
  } catch {
    // Some platforms cannot fsync a directory; the rename itself is still atomic.
  }
}
