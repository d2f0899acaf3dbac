/**
 * Test entry point: runs every `tests/**\/*_test.ts` file in its own Deno process (a crash or a leaked
 * handle in one file cannot hide the others), reads uvu's totals, and prints one honest summary line
 * last: `N passed, N failed, N skipped`. Exits non-zero on any failure.
 *
 * Usage: deno run -A scripts/test.ts [FILTER...]   (FILTER: substrings of test file paths)
 * Env:   CIRRUS_TEST_TIMEOUT_MS per file (default 300000).
 */
import { join, relative } from "node:path";
import { exitOnHelp } from "./help.ts";

exitOnHelp(import.meta.url);

const root = new URL("..", import.meta.url).pathname;
const filters = Deno.args;
const timeoutMs = Number(Deno.env.get("CIRRUS_TEST_TIMEOUT_MS") ?? 300_000);

function findTests(dir: string, out: string[]): string[] {
  const entries = [...Deno.readDirSync(dir)].sort((a, b) => a.name.localeCompare(b.name));
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) findTests(path, out);
    else if (entry.name.endsWith("_test.ts")) out.push(path);
  }
  return out;
}

const files = findTests(join(root, "tests"), []).filter((f) =>
  filters.length === 0 || filters.some((p) => relative(root, f).includes(p))
);

let passed = 0, failed = 0, skipped = 0;
const failures: string[] = [];
const started = performance.now();
for (const file of files) {
  const name = relative(root, file);
  console.log(`\n=== ${name}`);
  const t0 = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", join(root, "deno.json"), file],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, timeoutMs);
  const out = await child.output();
  clearTimeout(timer);
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  const total = Number(/Total:\s+(\d+)/.exec(text)?.[1] ?? NaN);
  const ok = Number(/Passed:\s+(\d+)/.exec(text)?.[1] ?? NaN);
  const skip = Number(/Skipped:\s+(\d+)/.exec(text)?.[1] ?? 0);
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  if (Number.isNaN(total) || Number.isNaN(ok)) {
    failed += 1;
    failures.push(`${name}: no uvu summary (exit ${out.code}${out.signal ? `, ${out.signal}` : ""})`);
    console.log(text.trimEnd());
    console.log(`--- ${name}: CRASHED or TIMED OUT after ${secs}s`);
    continue;
  }
  const fileFailed = Math.max(0, total - ok - skip);
  passed += ok;
  skipped += skip;
  if (fileFailed > 0 || out.code !== 0) {
    const count = Math.max(fileFailed, 1);
    failed += count;
    failures.push(`${name}: ${count} failed (exit ${out.code})`);
    console.log(text.trimEnd());
  } else {
    // Keep passing files quiet but show skip reasons.
    for (const line of text.split("\n")) if (/^\s*SKIP\b/.test(line)) console.log(line);
  }
  console.log(`--- ${name}: ${ok} passed, ${fileFailed} failed, ${skip} skipped (${secs}s)`);
}

const secs = ((performance.now() - started) / 1000).toFixed(1);
console.log(`\n${files.length} test files in ${secs}s`);
for (const f of failures) console.log(`FAILED ${f}`);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
Deno.exit(failed > 0 || files.length === 0 ? 1 : 0);
