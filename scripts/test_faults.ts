/**
 * `npm run test:faults [-- FILTER...] [--keep]`: the fault suite of issue 8 on real node processes.
 * Runs `tests/faults/run.ts` in its own Deno process (scripts import no test code); see there for what it
 * does. FILTERs are substrings of case names; `--keep` keeps the clusters' directories (logs, stores).
 *
 * Usage: npm run test:faults [-- FILTER...] [--keep]
 * @module
 */
import { exitOnHelp } from "./help.ts";

exitOnHelp(import.meta.url);
const root = new URL("..", import.meta.url).pathname;
const child = new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", "--config", `${root}deno.json`, `${root}tests/faults/run.ts`, ...Deno.args],
  stdin: "null",
  stdout: "inherit",
  stderr: "inherit",
}).spawn();
// Ctrl-C reaches the child too (same process group); SIGTERM is passed on. Either way: wait for its cleanup.
Deno.addSignalListener("SIGINT", () => {});
Deno.addSignalListener("SIGTERM", () => {
  try {
    child.kill("SIGTERM");
  } catch { /* gone */ }
});
Deno.exit((await child.status).code);
