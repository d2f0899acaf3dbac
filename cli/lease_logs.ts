/**
 * `lease logs --follow` that lasts: the provider numbers each container's lines (frames carry the
 * container's short `id` and the line's `seq`); the client keeps a cursor (id -> next seq) and, when
 * the stream drops (network, provider restart), opens a new one (newly signed: requests are never
 * replayable) from the cursor, so no line is lost or repeated. Reconnects are bounded: at most
 * {@link FOLLOW_RETRIES_MAX} in a row with a doubling delay (from {@link FOLLOW_BACKOFF_MS}, at most
 * {@link FOLLOW_BACKOFF_MAX_MS}); a frame received resets the count. A refusal from the provider
 * (forbidden, lease closed) ends the follow at once.
 * @module
 */
import { decodeResponse } from "../provider/protocol/mod.ts";
import { UserError } from "./util.ts";

/** Reconnects in a row before giving up. */
export const FOLLOW_RETRIES_MAX = 8;
/** First reconnect delay, ms (doubles each time). */
export const FOLLOW_BACKOFF_MS = 500;
/** Longest reconnect delay, ms. */
export const FOLLOW_BACKOFF_MAX_MS = 8000;

/** A refusal frame of the provider: final, never retried. */
export class ProviderRefusal extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = "ProviderRefusal";
  }
}

/** What {@link followWithResume} needs. */
export interface FollowIo {
  /**
   * opens a stream: the first asks by `tail` (undefined), the next ones for the lines after a
   * `cursor`, or (a provider that cannot resume) for new lines only (`tail: 0`)
   */
  open(from: { cursor: Record<string, number> } | { tail: 0 } | undefined): AsyncIterable<Uint8Array>;
  /** a log line */
  line(text: string): void;
  /** a note for the person (stderr) */
  note(text: string): void;
  /** waits `ms` (or less when aborted) */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
  signal: AbortSignal;
}

/** How a follow ended and what it saw (for callers and tests). */
export interface FollowResult {
  lines: number;
  reconnects: number;
}

/**
 * Follows a log across dropped streams (see the module doc). Resolves when `signal` aborts; throws
 * {@link ProviderRefusal} on a refusal and a `UserError` after {@link FOLLOW_RETRIES_MAX} failed
 * reconnects in a row.
 */
export async function followWithResume(io: FollowIo): Promise<FollowResult> {
  const cursor = new Map<string, number>();
  let resumable = true;
  let attempt = 0;
  let lines = 0;
  let reconnects = 0;
  let first = true;
  while (!io.signal.aborted) {
    let why = "the stream ended";
    try {
      const from = first
        ? undefined
        : resumable
        ? { cursor: Object.fromEntries(cursor) }
        : { tail: 0 as const };
      first = false;
      for await (const bytes of io.open(from)) {
        attempt = 0;
        const r = decodeResponse(bytes) as {
          ok: boolean;
          line?: unknown;
          id?: unknown;
          seq?: unknown;
          dropped?: unknown;
          container?: unknown;
          code?: string;
          error?: string;
        };
        if (!r.ok) throw new ProviderRefusal(r.code ?? "internal", r.error ?? "refused");
        if (typeof r.dropped === "number") {
          io.note(`(${r.dropped} older lines of ${String(r.container)} are no longer kept by the provider)`);
          continue;
        }
        if (typeof r.line !== "string") continue;
        if (typeof r.id === "string" && typeof r.seq === "number") {
          if (r.seq < (cursor.get(r.id) ?? 0)) continue; // never print a line twice
          cursor.set(r.id, r.seq + 1);
        } else resumable = false; // a provider without kept logs: resume with only new lines
        io.line(r.line);
        lines++;
      }
    } catch (e) {
      if (io.signal.aborted) break;
      if (e instanceof ProviderRefusal) throw e;
      why = (e as Error).message ?? String(e);
    }
    if (io.signal.aborted) break;
    attempt++;
    if (attempt > FOLLOW_RETRIES_MAX) {
      throw new UserError(`log stream lost (${why}); gave up after ${FOLLOW_RETRIES_MAX} reconnects`);
    }
    const delay = Math.min(FOLLOW_BACKOFF_MS * 2 ** (attempt - 1), FOLLOW_BACKOFF_MAX_MS);
    io.note(
      `(log stream dropped: ${why}; reconnecting in ${
        delay / 1000
      }s, attempt ${attempt}/${FOLLOW_RETRIES_MAX}${
        resumable ? "" : "; this provider cannot resume, lines meanwhile may be missed"
      })`,
    );
    await io.sleep(delay, io.signal);
    reconnects++;
  }
  return { lines, reconnects };
}
