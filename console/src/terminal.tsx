/** @jsxImportSource preact */
/// <reference lib="dom" />
/**
 * A terminal in the page (xterm.js) running one command per line in a lease's container: each line
 * typed is sent as `sh -c LINE` in a tenant-signed `shell` request, relayed by the node; the output
 * and exit code are printed back.
 * @module
 */
import { useEffect, useRef } from "preact/hooks";
import { Terminal } from "@xterm/xterm";
import { leaseCall } from "./api.ts";
import type { UnlockedKey } from "./vault.ts";

/** What a `shell` request answers. */
interface ShellResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  truncated?: boolean;
}

/** The shell terminal of a lease (one service). */
export function ShellTerminal(p: { keyRef: UnlockedKey; leaseId: string; service?: string }) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const term = new Terminal({
      rows: 16,
      cols: 100,
      convertEol: true,
      cursorBlink: true,
      screenReaderMode: true,
    });
    term.open(el.current!);
    const prompt = () => term.write("\x1b[32m$\x1b[0m ");
    term.writeln(
      `shell in lease ${p.leaseId}${p.service ? ` (service ${p.service})` : ""}: one command per line`,
    );
    prompt();
    let line = "";
    let busy = false;
    const sub = term.onData(async (data) => {
      if (busy) return;
      for (const ch of data) {
        if (ch === "\r") {
          term.write("\r\n");
          const cmd = line.trim();
          line = "";
          if (cmd === "") {
            prompt();
            continue;
          }
          busy = true;
          try {
            const r = await leaseCall<ShellResult>(p.keyRef, p.leaseId, "shell", {
              command: ["sh", "-c", cmd],
              ...(p.service ? { service: p.service } : {}),
            });
            if (r.stdout) term.write(r.stdout);
            if (r.stderr) term.write(`\x1b[31m${r.stderr}\x1b[0m`);
            if (r.truncated) term.writeln("(output truncated by the provider)");
            if (r.exitCode !== 0) term.writeln(`\x1b[33m[exit ${r.exitCode}]\x1b[0m`);
          } catch (e) {
            term.writeln(`\x1b[31m${(e as Error).message}\x1b[0m`);
          }
          busy = false;
          prompt();
        } else if (ch === "\x7f") {
          if (line.length > 0) {
            line = line.slice(0, -1);
            term.write("\b \b");
          }
        } else if (ch >= " ") {
          line += ch;
          term.write(ch);
        }
      }
    });
    term.focus();
    return () => {
      sub.dispose();
      term.dispose();
    };
  }, [p.leaseId, p.service]);
  return <div class="terminal" ref={el} role="region" aria-label="Shell terminal" />;
}
