/**
 * `--help` of the npm scripts: each one prints its own module doc (usage and defaults), gutters and
 * tags stripped, and every `./cirrus --run-script` script of package.json answers `--help`.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { moduleDoc } from "../../scripts/help.ts";

const root = new URL("../..", import.meta.url).pathname;

test("moduleDoc: the first doc comment without its gutters, its @module tag or escaped comment ends", () => {
  const src =
    "/**\n * Runs `tests/**\\/*_test.ts`.\n *\n * Usage: x [--n 3]\n * @module\n */\nconst a = 1;\n/** not this */";
  assert.is(moduleDoc(src), "Runs `tests/**/*_test.ts`.\n\nUsage: x [--n 3]");
  assert.is(moduleDoc("const a = 1;"), "");
});

test("every npm script run by ./cirrus --run-script handles --help and documents a usage", () => {
  const pkg = JSON.parse(Deno.readTextFileSync(join(root, "package.json"))) as {
    scripts: Record<string, string>;
  };
  const files = new Set<string>();
  for (const cmd of Object.values(pkg.scripts)) {
    const m = /--run-script (\S+\.ts)/.exec(cmd);
    if (m) files.add(m[1]!);
  }
  assert.ok(files.size >= 8, `expected the npm scripts, got ${[...files]}`);
  for (const f of files) {
    const src = Deno.readTextFileSync(join(root, f));
    assert.ok(
      /exitOnHelp\(import\.meta\.url\)|includes\("--help"\)/.test(src),
      `${f} does not answer --help`,
    );
    assert.ok(/^Usage: /m.test(moduleDoc(src)), `${f}: its module doc has no "Usage:" line`);
  }
});

test.run();
