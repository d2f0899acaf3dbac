/**
 * The import rule of DESIGN.md, checked on the real import graph: every relative import of every
 * product file is resolved to its top-level folder and compared with the arrows allowed below.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { dirname, join, relative, resolve } from "node:path";

const root = resolve(new URL("../..", import.meta.url).pathname);

/** Which top-level folders each folder may import (itself always allowed). */
export const ALLOWED: Record<string, readonly string[]> = {
  lib: [],
  consensus: ["lib"],
  auction: ["lib"],
  node: ["lib", "consensus", "auction"],
  provider: ["lib", "auction"],
  cli: ["lib", "consensus", "auction", "node", "provider", "console"],
  scripts: ["lib", "consensus", "auction", "node", "provider", "cli", "console"],
  // The web console runs in a browser: the pure layers, plus the two pure files below.
  console: ["lib", "auction"],
};

/**
 * Single files (or folders, ending in "/") a folder may import beyond {@link ALLOWED}: the console
 * signs txs with the node's own tx encoding and provider requests with the providers' own wire format.
 */
export const ALLOWED_FILES: Record<string, readonly string[]> = {
  console: ["node/ledger/tx.ts", "provider/protocol/"],
};

/** One import edge: `from` (file, relative to the root) imports `to` (file, relative to the root). */
export interface Edge {
  from: string;
  to: string;
}

const IMPORT_RE =
  /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s*["'](\.{1,2}\/[^"']+)["']|import\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g;

/** The relative imports of every `.ts` file under the product folders. */
function importGraph(): Edge[] {
  const edges: Edge[] = [];
  const walk = (dir: string) => {
    for (const e of Deno.readDirSync(dir)) {
      const path = join(dir, e.name);
      if (e.isDirectory) walk(path);
      else if (/\.tsx?$/.test(e.name)) {
        const text = Deno.readTextFileSync(path);
        for (const m of text.matchAll(IMPORT_RE)) {
          const spec = m[1] ?? m[2]!;
          edges.push({ from: relative(root, path), to: relative(root, resolve(dirname(path), spec)) });
        }
      }
    }
  };
  for (const folder of Object.keys(ALLOWED)) walk(join(root, folder));
  return edges;
}

/** The edges that break the rule, each as a readable line. */
export function violations(edges: readonly Edge[]): string[] {
  const out: string[] = [];
  for (const { from, to } of edges) {
    const a = from.split("/")[0]!;
    const b = to.split("/")[0]!;
    if (a === b) continue;
    const allowed = ALLOWED[a];
    if (!allowed) continue;
    if ((ALLOWED_FILES[a] ?? []).some((f) => f.endsWith("/") ? to.startsWith(f) : to === f)) continue;
    if (!allowed.includes(b)) {
      out.push(`${from} imports ${to}: ${a}/ may import only ${allowed.join(", ") || "itself"}`);
    }
  }
  return out;
}

test("the checker flags an arrow DESIGN does not draw", () => {
  assert.equal(violations([{ from: "lib/crypto.ts", to: "node/config.ts" }]).length, 1);
  assert.equal(violations([{ from: "auction/market/keeper.ts", to: "node/ledger/tx.ts" }]).length, 1);
  assert.equal(violations([{ from: "provider/service.ts", to: "node/p2p.ts" }]).length, 1);
  assert.equal(violations([{ from: "consensus/wal.ts", to: "auction/mod.ts" }]).length, 1);
  assert.equal(violations([{ from: "node/node.ts", to: "provider/mod.ts" }]).length, 1);
  assert.equal(violations([{ from: "node/node.ts", to: "cli/main.ts" }]).length, 1);
  assert.equal(violations([{ from: "cli/main.ts", to: "node/node.ts" }]), []);
  assert.equal(violations([{ from: "provider/service.ts", to: "lib/crypto.ts" }]), []);
});

test("the console may import the pure tx encoding and wire format, never node internals or the CLI", () => {
  assert.equal(violations([{ from: "console/src/api.ts", to: "node/ledger/tx.ts" }]), []);
  assert.equal(violations([{ from: "console/src/api.ts", to: "provider/protocol/signing.ts" }]), []);
  assert.equal(violations([{ from: "console/src/api.ts", to: "auction/sdl/parse.ts" }]), []);
  assert.equal(violations([{ from: "console/src/api.ts", to: "node/ledger/ledger.ts" }]).length, 1);
  assert.equal(violations([{ from: "console/src/api.ts", to: "node/rpc.ts" }]).length, 1);
  assert.equal(violations([{ from: "console/src/api.ts", to: "provider/service.ts" }]).length, 1);
  assert.equal(violations([{ from: "console/src/api.ts", to: "cli/screen.ts" }]).length, 1);
});

/** Value (not type-only) relative imports of a file, resolved. */
function valueImports(path: string): string[] {
  const text = Deno.readTextFileSync(path);
  const out: string[] = [];
  for (const m of text.matchAll(IMPORT_RE)) {
    if (/^\s*(import|export)\s+type\s/.test(m[0].replace(/^\n/, ""))) continue;
    out.push(resolve(dirname(path), m[1] ?? m[2]!));
  }
  return out;
}

test("the console's bundle is browser-safe: no Deno API and no node: module in its import graph", () => {
  const seen = new Set<string>();
  const todo = [join(root, "console/src/main.tsx")];
  const bad: string[] = [];
  while (todo.length > 0) {
    const f = todo.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    const text = Deno.readTextFileSync(f);
    if (/\bDeno\./.test(text.replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, ""))) {
      bad.push(`${relative(root, f)} uses Deno APIs`);
    }
    if (/from\s*["']node:/.test(text)) bad.push(`${relative(root, f)} imports a node: module`);
    todo.push(...valueImports(f));
  }
  assert.ok(seen.size > 20, `expected the console's real graph, got ${seen.size} files`);
  assert.ok(seen.has(join(root, "node/ledger/tx.ts")), "the console signs with node/ledger/tx.ts");
  assert.equal(bad, []);
});

test("the checker sees static, re-export and dynamic imports", () => {
  const text =
    'import { a } from "../x/y.ts";\nexport * from "./z.ts";\nconst m = await import("../w/v.ts");\n';
  const specs = [...text.matchAll(IMPORT_RE)].map((m) => m[1] ?? m[2]);
  assert.equal(specs, ["../x/y.ts", "./z.ts", "../w/v.ts"]);
});

test("every product import follows DESIGN's import rule", () => {
  const edges = importGraph();
  assert.ok(edges.length > 100, `expected a real import graph, got ${edges.length} edges`);
  const bad = violations(edges);
  assert.equal(bad, [], `imports crossing the rule:\n${bad.join("\n")}`);
});

test.run();
