/** Fuzz: random mutations of corpus files (skipped without the corpus) never make the parser throw. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseSdl, validateReport } from "../../auction/sdl/mod.ts";
import { seededRng } from "../../lib/rng.ts";
import { sdlCorpus } from "../helpers/corpus.ts";

const corpus = sdlCorpus("fuzz of corpus files");
const texts = corpus.files(/\.yaml$/).map(corpus.read);

const SNIPPETS = [
  ":",
  "-",
  "- ",
  "[",
  "]",
  "{",
  "}",
  "&a ",
  "*a",
  "!!binary ",
  "|",
  ">",
  "'",
  '"',
  "#",
  "\n",
  "  ",
  "\t",
  "0",
  "-1",
  "99999999999999999999",
  "1e308",
  "NaN",
  "null",
  "~",
  "true",
  "0x1F",
  "1.5Gi",
  "500m",
  "<<: *a",
  "units: ",
  "size: ",
  "global: true",
  "ip: x",
  "persistent: true",
  "class: ram",
  "count: 100",
  "\u0000",
  "__proto__: 1",
  "constructor: {}",
  "version: '2.1'",
];

function mutate(text: string, r: () => number): string {
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
  const pos = Math.floor(r() * (text.length + 1));
  const lines = text.split("\n");
  const li = Math.floor(r() * lines.length);
  switch (Math.floor(r() * 8)) {
    case 0: // delete a range
      return text.slice(0, pos) + text.slice(pos + Math.floor(r() * 40));
    case 1: // insert a snippet
      return text.slice(0, pos) + pick(SNIPPETS) + text.slice(pos);
    case 2: // duplicate a line
      lines.splice(li, 0, lines[li] ?? "");
      return lines.join("\n");
    case 3: { // swap two lines
      const lj = Math.floor(r() * lines.length);
      const t = lines[li] ?? "";
      lines[li] = lines[lj] ?? "";
      lines[lj] = t;
      return lines.join("\n");
    }
    case 4: // truncate
      return text.slice(0, pos);
    case 5: // re-indent a line
      lines[li] = " ".repeat(Math.floor(r() * 8)) + (lines[li] ?? "").trimStart();
      return lines.join("\n");
    case 6: // replace a number
      return text.replace(/\d+/, pick(["0", "-5", "70000", "1e400", "0.0000001", "99999999999999999999999"]));
    default: // replace a value after a colon
      return text.slice(0, pos) + text.slice(pos).replace(/: .*/, `: ${pick(SNIPPETS)}`);
  }
}

corpus.test("fuzz: 500 random mutations of corpus files never throw, and results are well-formed", () => {
  const r = seededRng(0xc1a55);
  let valid = 0;
  for (let i = 0; i < 500; i++) {
    let text = texts[Math.floor(r() * texts.length)]!;
    const n = 1 + Math.floor(r() * 3);
    for (let k = 0; k < n; k++) text = mutate(text, r);
    let res;
    try {
      res = parseSdl(text);
    } catch (e) {
      throw new Error(`parseSdl threw on mutation #${i}: ${e}\n---\n${text.slice(0, 2000)}`);
    }
    if (res.ok) {
      valid++;
      assert.match(res.manifestHash, /^[0-9a-f]{64}$/);
    } else {
      assert.ok(res.error.length > 0 && res.errors[0] === res.error, `mutation #${i}`);
      assert.not.match(res.error, "internal error", `mutation #${i}: ${res.error}`);
    }
    const rep = validateReport(text);
    assert.is(rep.valid, res.ok);
    JSON.stringify(rep); // must be serializable (no bigint)
  }
  console.log(`fuzz: ${valid}/500 mutations still valid`);
});

test("fuzz: arbitrary non-YAML bytes and odd types never throw", () => {
  const r = seededRng(7);
  for (let i = 0; i < 200; i++) {
    const len = Math.floor(r() * 200);
    const text = Array.from({ length: len }, () => String.fromCharCode(Math.floor(r() * 0x3000))).join("");
    const res = parseSdl(text);
    assert.type(res.ok, "boolean");
  }
  for (const odd of [undefined, null, 42, {}, []]) {
    const res = parseSdl(odd as unknown as string);
    assert.is(res.ok, false);
  }
});

test.run();
