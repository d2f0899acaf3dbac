/** The corpus helper: tests that need ../shared/sdl-corpus skip, with the reason, when it is absent. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { SDL_CORPUS_ENV, sdlCorpus } from "../helpers/corpus.ts";

function withCorpusEnv<T>(value: string, f: () => T): T {
  const before = Deno.env.get(SDL_CORPUS_ENV);
  Deno.env.set(SDL_CORPUS_ENV, value);
  try {
    return f();
  } finally {
    if (before === undefined) Deno.env.delete(SDL_CORPUS_ENV);
    else Deno.env.set(SDL_CORPUS_ENV, before);
  }
}

test("an absent corpus folder gives skipped tests, no files, and a reason naming the folder and the override", () => {
  const missing = `${Deno.makeTempDirSync()}/no-corpus-here`;
  const c = withCorpusEnv(missing, () => sdlCorpus("helper test", false));
  assert.is(c.available, false);
  assert.is(c.test, test.skip);
  assert.equal(c.files(), []);
  assert.ok(c.reason.includes(`${missing}/`), c.reason);
  assert.ok(c.reason.includes(SDL_CORPUS_ENV), c.reason);
});

test("a present corpus folder runs its tests over its sorted yaml files", () => {
  const dir = Deno.makeTempDirSync();
  for (const name of ["b.yaml", "a.yml", "notes.txt"]) {
    Deno.writeTextFileSync(`${dir}/${name}`, "version: '2.0'\n");
  }
  try {
    const c = withCorpusEnv(dir, () => sdlCorpus("helper test", false));
    assert.is(c.available, true);
    assert.is(c.reason, "");
    assert.is(c.test, test);
    assert.equal(c.files(), ["a.yml", "b.yaml"]);
    assert.equal(c.files(/\.yaml$/), ["b.yaml"]);
    assert.is(c.read("b.yaml"), "version: '2.0'\n");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

test.run();
