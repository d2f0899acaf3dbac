/**
 * Interactive `lease shell` sessions (`shell` with `tty`, then `shell_io`), over the lease protocol's
 * request/response: the provider starts the process (`ClusterDriver.attach`: `podman exec -i [-t]`)
 * and keeps its output in a bounded buffer; each `shell_io` request (tenant-signed and fresh, like
 * every lease request) brings stdin bytes and takes the output since the last one, waiting up to
 * {@link SHELL_IO_WAIT_MS} for some; the answer after the process ended and its output was taken
 * carries the exit code, and the session ends. A session is the lease's own (its id is 16 random
 * bytes, checked against the lease), ends after {@link SHELL_SESSION_IDLE_MS} without a request, and
 * there are at most {@link SHELL_SESSIONS_PER_LEASE_MAX} per lease and {@link SHELL_SESSIONS_MAX} in all.
 * @module
 */
import type { LeaseInfo } from "../auction/market/types.ts";
import { fromBase64, toBase64, toHex } from "../lib/crypto.ts";
import type { Clock } from "../lib/clock.ts";
import { type Attached, type ClusterDriver, NotFoundError } from "./cluster/driver.ts";
import { errorResponse, type LeaseResponse } from "./protocol/mod.ts";

/** A session without a request for this long is killed. */
export const SHELL_SESSION_IDLE_MS = 60_000;
/** Open sessions per lease. */
export const SHELL_SESSIONS_PER_LEASE_MAX = 4;
/** Open sessions per provider. */
export const SHELL_SESSIONS_MAX = 64;
/** Output kept for the tenant between two requests, bytes (older bytes are dropped, and counted). */
export const SHELL_SESSION_BUFFER_MAX_BYTES = 1024 * 1024;
/** Most output one answer carries, bytes. */
export const SHELL_IO_OUTPUT_MAX_BYTES = 256 * 1024;
/** How long a `shell_io` request waits for output when there is none yet. */
export const SHELL_IO_WAIT_MS = 250;

/** What an interactive shell request asks (the authorized fields of the lease request). */
export interface ShellOpenAsk {
  service?: string;
  replica?: number;
  command: string[];
  tty: boolean;
  cols?: number;
  rows?: number;
}

interface Session {
  id: string;
  leaseId: string;
  proc: Attached;
  writer: WritableStreamDefaultWriter<Uint8Array>;
  chunks: Uint8Array[];
  bytes: number;
  dropped: number;
  /** set once the process ended and its output streams were read to the end */
  exitCode?: number;
  idle: unknown;
  wake: (() => void) | undefined;
}

/** The provider's open interactive shells. */
export class ShellSessions {
  #sessions = new Map<string, Session>();

  constructor(private readonly clock: Clock) {}

  /** Open sessions (all leases). */
  get size(): number {
    return this.#sessions.size;
  }

  /** Starts an interactive process for the lease's owner; never throws (a failure is an error response). */
  async open(driver: ClusterDriver, lease: LeaseInfo, ask: ShellOpenAsk): Promise<LeaseResponse> {
    if (lease.state !== "active") {
      return errorResponse("conflict", `lease ${lease.id} is ${lease.state}: there is no workload to enter`);
    }
    if (!driver.attach) {
      return errorResponse(
        "unsupported",
        `an interactive lease shell is not supported by the ${driver.kind} driver`,
      );
    }
    const mine = [...this.#sessions.values()].filter((s) => s.leaseId === lease.id).length;
    if (mine >= SHELL_SESSIONS_PER_LEASE_MAX) {
      return errorResponse(
        "busy",
        `lease ${lease.id} already has ${mine} open shells (at most ${SHELL_SESSIONS_PER_LEASE_MAX})`,
      );
    }
    if (this.#sessions.size >= SHELL_SESSIONS_MAX) {
      return errorResponse("busy", `this provider has ${this.#sessions.size} open shells; try again later`);
    }
    const env: Record<string, string> = {};
    if (ask.tty) env.TERM = "xterm";
    if (ask.cols !== undefined) env.COLUMNS = String(ask.cols);
    if (ask.rows !== undefined) env.LINES = String(ask.rows);
    let proc: Attached;
    try {
      proc = await driver.attach(lease.id, {
        ...(ask.service !== undefined ? { service: ask.service } : {}),
        ...(ask.replica !== undefined ? { replica: ask.replica } : {}),
        command: ask.command,
        tty: ask.tty,
        env,
      });
    } catch (e) {
      if (e instanceof NotFoundError) return errorResponse("not_found", e.message);
      return errorResponse("internal", `lease shell failed: ${(e as Error).message}`);
    }
    const id = toHex(crypto.getRandomValues(new Uint8Array(16)));
    const s: Session = {
      id,
      leaseId: lease.id,
      proc,
      writer: proc.stdin.getWriter(),
      chunks: [],
      bytes: 0,
      dropped: 0,
      idle: undefined,
      wake: undefined,
    };
    this.#sessions.set(id, s);
    this.#touch(s);
    const pumps = proc.output.map(async (stream) => {
      try {
        for await (const chunk of stream) this.#push(s, chunk);
      } catch { /* killed */ }
    });
    Promise.all([proc.exit, ...pumps]).then(([code]) => {
      s.exitCode = code;
      s.wake?.();
    }, () => {
      s.exitCode = 255;
      s.wake?.();
    });
    return { ok: true, session: id };
  }

  /**
   * Feeds stdin to a session and takes its output since the last call (waiting up to
   * {@link SHELL_IO_WAIT_MS} for some); the answer after the end carries the exit code.
   */
  async io(
    lease: LeaseInfo,
    sessionId: string,
    stdin: string | undefined,
    eof: boolean,
  ): Promise<LeaseResponse> {
    const s = this.#sessions.get(sessionId);
    if (!s || s.leaseId !== lease.id) {
      return errorResponse(
        "not_found",
        `no open shell ${sessionId} on lease ${lease.id} (it ended or timed out)`,
      );
    }
    this.#touch(s);
    try {
      if (stdin) await s.writer.write(fromBase64(stdin));
      if (eof) await s.writer.close();
    } catch { /* the process ended: its stdin is gone */ }
    if (s.bytes === 0 && s.exitCode === undefined) {
      await new Promise<void>((res) => {
        const t = this.clock.setTimeout(done, SHELL_IO_WAIT_MS);
        function done() {
          res();
        }
        s.wake = () => {
          this.clock.clearTimeout(t);
          res();
        };
      });
      s.wake = undefined;
    }
    const out = this.#take(s);
    const dropped = s.dropped;
    s.dropped = 0;
    const ended = s.exitCode !== undefined && s.bytes === 0;
    if (ended) this.#end(s);
    return {
      ok: true,
      output: toBase64(out),
      ...(ended ? { exitCode: s.exitCode } : {}),
      ...(dropped > 0 ? { dropped } : {}),
    };
  }

  /** Kills every session (the provider stops). */
  closeAll(): void {
    for (const s of [...this.#sessions.values()]) {
      s.proc.kill();
      this.#end(s);
    }
  }

  #push(s: Session, chunk: Uint8Array): void {
    s.chunks.push(chunk);
    s.bytes += chunk.length;
    while (s.bytes > SHELL_SESSION_BUFFER_MAX_BYTES && s.chunks.length > 1) {
      const old = s.chunks.shift()!;
      s.bytes -= old.length;
      s.dropped += old.length;
    }
    s.wake?.();
  }

  #take(s: Session): Uint8Array {
    const n = Math.min(s.bytes, SHELL_IO_OUTPUT_MAX_BYTES);
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const c = s.chunks[0]!;
      const k = Math.min(c.length, n - at);
      out.set(c.subarray(0, k), at);
      at += k;
      if (k === c.length) s.chunks.shift();
      else s.chunks[0] = c.subarray(k);
    }
    s.bytes -= n;
    return out;
  }

  #touch(s: Session): void {
    if (s.idle !== undefined) this.clock.clearTimeout(s.idle);
    s.idle = this.clock.setTimeout(() => {
      s.proc.kill();
      this.#end(s);
    }, SHELL_SESSION_IDLE_MS);
  }

  #end(s: Session): void {
    if (s.idle !== undefined) this.clock.clearTimeout(s.idle);
    s.writer.close().catch(() => {});
    this.#sessions.delete(s.id);
  }
}
