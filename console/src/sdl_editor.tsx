/** @jsxImportSource preact */
/// <reference lib="dom" />
/**
 * The SDL editor: a text area validated as you type by the chain's own parser (`auction/sdl`), each
 * error listed at its line (a button moves the cursor there).
 * @module
 */
import { useMemo, useRef } from "preact/hooks";
import { parseSdl } from "../../auction/sdl/parse.ts";
import type { SdlResult } from "../../auction/sdl/types.ts";
import { messageLines } from "./sdl_lines.ts";

/** The SDL of `text`, parsed (null when empty); memoised. */
export function useSdl(text: string): SdlResult | null {
  return useMemo(() => (text.trim() ? parseSdl(text) : null), [text]);
}

/** The editor and its live status. */
export function SdlEditor(
  p: { id: string; text: string; parsed: SdlResult | null; onInput: (text: string) => void },
) {
  const editor = useRef<HTMLTextAreaElement>(null);
  const problems = useMemo(
    () => (p.parsed && !p.parsed.ok ? messageLines(p.text, p.parsed.errors) : []),
    [p.parsed, p.text],
  );
  const goToLine = (line: number) => {
    const ta = editor.current;
    if (!ta || line < 1) return;
    const lines = p.text.split("\n");
    const start = lines.slice(0, line - 1).reduce((s, l) => s + l.length + 1, 0);
    ta.focus();
    ta.setSelectionRange(start, start + (lines[line - 1]?.length ?? 0));
  };
  const parsed = p.parsed;
  return (
    <>
      <label for={p.id}>SDL (YAML, Akash SDL 2.0/2.1)</label>
      <textarea
        id={p.id}
        ref={editor}
        rows={22}
        spellcheck={false}
        value={p.text}
        aria-describedby={`${p.id}-status`}
        aria-invalid={parsed !== null && !parsed.ok}
        onInput={(e) => p.onInput(e.currentTarget.value)}
      />
      <div id={`${p.id}-status`} role="status" aria-live="polite">
        {parsed === null ? <p>Pick a template or write an SDL.</p> : parsed.ok
          ? (
            <p class="ok">
              Valid: {parsed.groups.length} group(s), services{" "}
              {Object.keys(parsed.sdl.services).join(", ")}; manifest{" "}
              <code>{parsed.manifestHash.slice(0, 16)}</code>
              {parsed.warnings.length > 0 && ` (warnings: ${parsed.warnings.join("; ")})`}
            </p>
          )
          : (
            <ul class="problems" aria-label="SDL errors">
              {problems.map((x) => (
                <li key={x.message}>
                  {x.line > 0
                    ? (
                      <button type="button" class="linklike" onClick={() => goToLine(x.line)}>
                        line {x.line}
                      </button>
                    )
                    : "-"}: {x.message}
                </li>
              ))}
            </ul>
          )}
      </div>
    </>
  );
}

const SAVED = "cirrus.sdl.v1";

/** Keeps the SDL a deployment was created or updated with, in this browser (to update it later). */
export function saveSdl(owner: string, dseq: number, text: string): void {
  try {
    localStorage.setItem(`${SAVED}.${owner}.${dseq}`, text);
  } catch { /* storage full or off: the editor starts empty */ }
}

/** The SDL saved for a deployment, or "". */
export function savedSdl(owner: string, dseq: number): string {
  try {
    return localStorage.getItem(`${SAVED}.${owner}.${dseq}`) ?? "";
  } catch {
    return "";
  }
}
