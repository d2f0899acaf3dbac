/**
 * YAML loading for SDL: size cap, alias-bomb protection, merge keys, big integers kept exact, and one
 * leniency of libyaml (which Akash's Go parser uses) that the `yaml` package lacks: continuation lines of
 * a multi-line quoted scalar indented less than its parent (e.g. under `- 'text`). Such lines are
 * re-indented (which never changes the value: flow scalars fold leading spaces away) and a warning says so.
 */
import { parseDocument } from "yaml";
import { SDL_BYTES_MAX, YAML_ALIAS_COUNT_MAX } from "./limits.ts";

/** A loaded YAML document (plain JS, integers as bigint) with warnings, or the first error. */
export type YamlLoad = { ok: true; value: unknown; warnings: string[] } | { ok: false; error: string };

const REPAIR_COUNT_MAX = 20;

function firstLine(msg: string): string {
  return (msg.split("\n")[0] ?? msg).replace(/:$/, "");
}

/** Re-indent the under-indented continuation lines of the quoted scalar cut at `cutAt`, or undefined. */
function repairQuoted(text: string, cutAt: number, quote: "'" | '"'): string | undefined {
  const lineStart = text.lastIndexOf("\n", cutAt - 1) + 1;
  const line = text.slice(lineStart, cutAt);
  // find where the unterminated scalar opens on this line
  let open = -1;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (open < 0) {
      if (c === quote) open = i;
    } else if (quote === '"' && c === "\\") i++;
    else if (c === quote) {
      if (quote === "'" && line[i + 1] === "'") i++;
      else open = -1;
    }
  }
  if (open < 0) return undefined;
  const indent = line.length - line.trimStart().length;
  const required = indent + 1;
  const lines = text.slice(cutAt + 1).split("\n");
  let changed = false;
  for (let n = 0; n < lines.length; n++) {
    let l = lines[n] ?? "";
    const lead = l.length - l.trimStart().length;
    if (l.trim() !== "" && lead < required) {
      l = " ".repeat(required - lead) + l;
      lines[n] = l;
      changed = true;
    }
    // closed on this line?
    let closed = false;
    for (let i = 0; i < l.length; i++) {
      const c = l[i];
      if (quote === '"' && c === "\\") i++;
      else if (c === quote) {
        if (quote === "'" && l[i + 1] === "'") i++;
        else {
          closed = true;
          break;
        }
      }
    }
    if (closed) break;
  }
  return changed ? text.slice(0, cutAt + 1) + lines.join("\n") : undefined;
}

/** Parse one YAML document into plain JS (integers as bigint). Never throws. */
export function loadYaml(text: string): YamlLoad {
  if (typeof text !== "string") return { ok: false, error: "sdl: input must be a string" };
  const bytes = text.length > SDL_BYTES_MAX ? text.length : new TextEncoder().encode(text).length;
  if (bytes > SDL_BYTES_MAX) {
    return { ok: false, error: `sdl: input too large (${bytes} bytes > ${SDL_BYTES_MAX})` };
  }
  const warnings: string[] = [];
  try {
    let src = text;
    for (let attempt = 0;; attempt++) {
      const doc = parseDocument(src, { merge: true, intAsBigInt: true, uniqueKeys: true });
      const first = doc.errors[0];
      if (!first) return { ok: true, value: doc.toJS({ maxAliasCount: YAML_ALIAS_COUNT_MAX }), warnings };
      const m = /^Missing closing (['"])quote/.exec(first.message);
      const repaired = m && attempt < REPAIR_COUNT_MAX
        ? repairQuoted(src, first.pos[0], m[1] as "'" | '"')
        : undefined;
      if (repaired === undefined) return { ok: false, error: `yaml: ${firstLine(first.message)}` };
      warnings.push(
        `yaml: line ${
          first.linePos?.[0]?.line ?? "?"
        }: quoted string continues on lines indented less than ` +
          `its parent (accepted, as Akash's Go parser does; indent them)`,
      );
      src = repaired;
    }
  } catch (e) {
    return { ok: false, error: `yaml: ${e instanceof Error ? firstLine(e.message) : String(e)}` };
  }
}
