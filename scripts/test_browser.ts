/**
 * `npm run test:browser`: the web console in a real browser. Runs each `tests/browser/*_browser.ts`
 * in its own Deno process (arguments are passed on, e.g. `-- --screenshots docs`), then prints
 * `N passed, N failed, N skipped`. Exits non-zero on any failure.
 *
 * Usage: npm run test:browser [-- --screenshots DIR]   (DIR: save the main pages as PNG files)
 * @module
 */
import { join } from "node:path";
import { exitOnHelp } from "./help.ts";

exitOnHelp(import.meta.url);

const root = new URL("..", import.meta.url).pathname;
const files: string[] = [];
for await (const e of Deno.readDir(join(root, "tests/browser"))) {
  if (e.isFile && e.name.endsWith("_browser.ts")) files.push(join(root, "tests/browser", e.name));
}
let passed = 0, failed = 0, skipped = 0;
for (const file of files.sort()) {
  const t0 = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", join(root, "deno.json"), file, ...Deno.args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  const total = Number(/Total:\s+(\d+)/.exec(text)?.[1] ?? 0);
  const ok = Number(/Passed:\s+(\d+)/.exec(text)?.[1] ?? 0);
  const skip = Number(/Skipped:\s+(\d+)/.exec(text)?.[1] ?? 0);
  const fileFailed = out.code !== 0 ? Math.max(1, total - ok - skip) : Math.max(0, total - ok - skip);
  passed += ok;
  failed += fileFailed;
  skipped += skip;
  for (const l of text.split("\n")) if (l.startsWith("SKIP")) console.log(l);
  if (fileFailed > 0) console.log(text);
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  console.log(
    `--- ${file.slice(root.length)}: ${ok} passed, ${fileFailed} failed, ${skip} skipped (${secs}s)`,
  );
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
Deno.exit(failed > 0 ? 1 : 0);
