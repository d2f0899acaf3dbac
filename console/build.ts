/**
 * Builds the web console: bundles `console/src/main.tsx` (Preact, uPlot, xterm.js and the project's
 * own `lib/`, `auction/` and tx encoding) with esbuild into `console/dist/` (not committed). Runs as
 * the npm `postinstall` step, and on demand when a node starts with `--console` and the bundle is
 * missing or older than its sources.
 *
 * Usage: ./cirrus --run-script console/build.ts [OUT_DIR]   (builds once, into `console/dist/` by default)
 * @module
 */
import * as esbuild from "esbuild";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

/** The console's folder (`console/`). */
export const CONSOLE_DIR: string = dirname(fileURLToPath(import.meta.url));
/** Where the bundle goes. */
export const CONSOLE_DIST_DIR: string = join(CONSOLE_DIR, "dist");
const ROOT = dirname(CONSOLE_DIR);
/** Folders whose files go into the bundle (a change in any makes the bundle stale). */
const SOURCE_DIRS = ["console/src", "lib", "auction", "node/ledger", "provider/protocol"];

/** What a build produced. */
export interface BuildResult {
  dir: string;
  /** Output files and their sizes in bytes. */
  files: { path: string; bytes: number }[];
  ms: number;
}

/**
 * Bundles the console into `outDir`.
 * @param outDir the output folder (default `console/dist`)
 * @returns the files written
 * @example
 * ```ts
 * const r = await buildConsole();
 * console.log(r.files.map((f) => f.path));
 * ```
 */
export async function buildConsole(outDir: string = CONSOLE_DIST_DIR): Promise<BuildResult> {
  const t0 = performance.now();
  await Deno.mkdir(outDir, { recursive: true });
  try {
    const r = await esbuild.build({
      entryPoints: { app: join(CONSOLE_DIR, "src/main.tsx") },
      absWorkingDir: ROOT,
      outdir: outDir,
      bundle: true,
      format: "esm",
      platform: "browser",
      target: ["chrome110", "firefox110", "safari16"],
      jsx: "automatic",
      jsxImportSource: "preact",
      minify: true,
      sourcemap: "linked",
      metafile: true,
      logLevel: "silent",
      legalComments: "linked",
    });
    if (r.errors.length > 0) throw new Error(r.errors.map((e) => e.text).join("\n"));
    await Deno.copyFile(join(CONSOLE_DIR, "src/index.html"), join(outDir, "index.html"));
    const files = [...Object.entries(r.metafile.outputs)].map(([path, o]) => ({ path, bytes: o.bytes }));
    files.push({
      path: relative(ROOT, join(outDir, "index.html")),
      bytes: (await Deno.stat(join(outDir, "index.html"))).size,
    });
    return { dir: outDir, files, ms: Math.round(performance.now() - t0) };
  } finally {
    await esbuild.stop();
  }
}

async function newestMtime(dir: string): Promise<number> {
  let newest = 0;
  for await (const e of Deno.readDir(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) newest = Math.max(newest, await newestMtime(p));
    else if (/\.(ts|tsx|css|html)$/.test(e.name)) {
      newest = Math.max(newest, (await Deno.stat(p)).mtime?.getTime() ?? 0);
    }
  }
  return newest;
}

/**
 * The bundle's folder, built first when it is missing or older than a source file.
 * @param log called with a line when a build runs
 * @returns `console/dist`
 */
export async function ensureConsoleBuilt(log: (line: string) => void = () => {}): Promise<string> {
  let builtAt = 0;
  try {
    builtAt = (await Deno.stat(join(CONSOLE_DIST_DIR, "app.js"))).mtime?.getTime() ?? 0;
    await Deno.stat(join(CONSOLE_DIST_DIR, "index.html"));
  } catch {
    builtAt = 0;
  }
  let newest = 0;
  for (const d of SOURCE_DIRS) newest = Math.max(newest, await newestMtime(join(ROOT, d)));
  if (builtAt === 0 || newest > builtAt) {
    log(builtAt === 0 ? "console: building the bundle" : "console: sources changed, rebuilding the bundle");
    await buildConsole();
  }
  return CONSOLE_DIST_DIR;
}

if (import.meta.main) {
  if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
    console.log("Usage: ./cirrus --run-script console/build.ts [OUT_DIR]   (default console/dist/)");
    Deno.exit(0);
  }
  const r = await buildConsole(Deno.args[0] ?? CONSOLE_DIST_DIR);
  const total = r.files.reduce((s, f) => s + f.bytes, 0);
  console.log(
    `console: built ${r.files.length} files (${Math.round(total / 1024)} KiB) into ${
      relative(Deno.cwd(), r.dir) || "."
    } in ${r.ms} ms`,
  );
}
