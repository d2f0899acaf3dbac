/**
 * The real-world SDL corpus (`../shared/sdl-corpus`, outside this repository): where it is, whether it
 * is there, and how a test that needs it skips with a stated reason when it is not (a fresh clone has
 * no `../shared`). `CIRRUS_SDL_CORPUS` overrides the location (a path to the folder).
 *
 * A test file that needs the corpus declares its tests with `corpus.test` instead of uvu's `test`:
 * when the folder is absent they are registered as `test.skip` (uvu counts them in `Skipped:`, which
 * `scripts/test.ts` adds up) and one `SKIP <what>: <reason>` line is printed, which `scripts/test.ts`
 * shows in its output.
 * @module
 */
import { test as uvuTest } from "uvu";

/** The environment variable that overrides the corpus folder. */
export const SDL_CORPUS_ENV = "CIRRUS_SDL_CORPUS";

/** The corpus, present or not, and the test function to declare tests that need it. */
export interface SdlCorpus {
  /** The folder (a `file:` URL ending in `/`). */
  dir: URL;
  /** True when the folder exists. */
  available: boolean;
  /** Why tests are skipped ("" when the corpus is available). */
  reason: string;
  /** uvu's `test` when the corpus is available, else `test.skip`. */
  test: typeof uvuTest | typeof uvuTest.skip;
  /** File names of the corpus (sorted; empty when absent). */
  files(filter?: RegExp): string[];
  /** URL of one corpus file. */
  url(name: string): URL;
  /** Text of one corpus file. */
  read(name: string): string;
}

function corpusDir(): URL {
  const override = Deno.env.get(SDL_CORPUS_ENV);
  if (override) {
    const path = override.endsWith("/") ? override : `${override}/`;
    return new URL(path, `file://${Deno.cwd()}/`);
  }
  return new URL("../../../shared/sdl-corpus/", import.meta.url);
}

function isDirectory(dir: URL): boolean {
  try {
    return Deno.statSync(dir).isDirectory;
  } catch {
    return false;
  }
}

/**
 * The SDL corpus for the tests of one file. When it is absent, prints `SKIP <what>: <reason>` once
 * (unless `print` is false).
 * @param what what the skipped tests are (e.g. "sdl corpus tests")
 */
export function sdlCorpus(what: string, print = true): SdlCorpus {
  const dir = corpusDir();
  const available = isDirectory(dir);
  const reason = available
    ? ""
    : `SDL corpus not found at ${decodeURIComponent(dir.pathname)} (it lives in ../shared/sdl-corpus ` +
      `outside this repository; set ${SDL_CORPUS_ENV} to its folder)`;
  if (!available && print) console.log(`SKIP ${what}: ${reason}`);
  return {
    dir,
    available,
    reason,
    test: available ? uvuTest : uvuTest.skip,
    files(filter = /\.ya?ml$/) {
      if (!available) return [];
      return [...Deno.readDirSync(dir)].filter((e) => e.isFile && filter.test(e.name)).map((e) => e.name)
        .sort();
    },
    url: (name) => new URL(name, dir),
    read: (name) => Deno.readTextFileSync(new URL(name, dir)),
  };
}
