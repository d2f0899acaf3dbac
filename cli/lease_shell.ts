/**
 * `lease shell LEASE` without a command: an interactive shell in the tenant's container. The CLI
 * opens a session (`shell` with `tty`: a pseudo-terminal when its own stdin is a terminal, which it
 * puts in raw mode; the terminal's size at the start), then exchanges `shell_io` requests, each signed
 * and fresh: the stdin read since the last one (at most 2 KiB a request), the output back, until the
 * answer with the exit code, which the CLI exits with. Piped stdin works the same, without a tty
 * (`echo 'echo hi; exit 3' | cirrus lease shell L` prints hi and exits 3).
 * @module
 */
import { fromBase64, toBase64 } from "../lib/crypto.ts";
import { SHELL_STDIN_CHUNK_MAX_BYTES } from "../provider/protocol/mod.ts";

/** What {@link runInteractiveShell} needs. */
export interface InteractiveIo {
  /** sends a lease request (op and fields), returns the provider's answer (throws on a refusal) */
  request(op: "shell" | "shell_io", fields: Record<string, unknown>): Promise<Record<string, unknown>>;
  /** the tenant's stdin */
  stdin: ReadableStream<Uint8Array>;
  /** writes output to the tenant's stdout */
  write(bytes: Uint8Array): Promise<void>;
  /** the open request's fields: command, service, replica, tty, cols, rows */
  open: Record<string, unknown>;
}

/** Runs an interactive session to its end; resolves with the remote exit code. */
export async function runInteractiveShell(io: InteractiveIo): Promise<number> {
  const opened = await io.request("shell", io.open);
  const session = String(opened.session ?? "");
  if (!/^[0-9a-f]{32}$/.test(session)) throw new Error("the provider answered no shell session");
  // stdin is read on its own; each request takes what has come (at most one chunk's worth)
  const queue: Uint8Array[] = [];
  let ended = false;
  const reader = io.stdin.getReader();
  const pump = (async () => {
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        for (let i = 0; i < value.length; i += SHELL_STDIN_CHUNK_MAX_BYTES) {
          queue.push(value.subarray(i, i + SHELL_STDIN_CHUNK_MAX_BYTES));
        }
      }
    } catch { /* stdin closed */ }
    ended = true;
  })();
  let eofSent = false;
  try {
    while (true) {
      let chunk: Uint8Array | undefined;
      if (queue.length > 0) chunk = queue.shift();
      const eof = !eofSent && ended && queue.length === 0;
      const fields: Record<string, unknown> = { session };
      if (chunk) fields.stdin = toBase64(chunk);
      if (eof) {
        fields.eof = true;
        eofSent = true;
      }
      const r = await io.request("shell_io", fields);
      const out = typeof r.output === "string" ? fromBase64(r.output) : new Uint8Array();
      if (out.length > 0) await io.write(out);
      if (typeof r.exitCode === "number") return r.exitCode;
    }
  } finally {
    await reader.cancel().catch(() => {});
    await Promise.race([pump, Promise.resolve()]);
  }
}
