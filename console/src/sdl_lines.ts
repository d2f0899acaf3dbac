/**
 * Puts the SDL parser's errors (`auction/sdl`, "services.web.image: required") at their line of the
 * YAML text, for the editor: the path before the colon is looked up in the YAML document.
 * @module
 */
import { isMap, isSeq, type Node, parseDocument } from "yaml";

/** One message at a line (1-based; 0 when the path is not in the text). */
export interface LineMessage {
  line: number;
  message: string;
}

/** 1-based line of a character offset. */
function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/**
 * The line of each message whose path (the part before ": ") names a node of the document; the
 * deepest node of the path that exists, so a missing key points at its parent.
 * @param text the SDL's YAML
 * @param messages the parser's messages, "a.b[0].c: what is wrong"
 * @returns each message with its line
 * @example
 * ```ts
 * messageLines("version: '2.0'\nservices:\n  web: {}\n", ["services.web.image: required"]);
 * // [{ line: 3, message: "services.web.image: required" }]
 * ```
 */
export function messageLines(text: string, messages: readonly string[]): LineMessage[] {
  const doc = parseDocument(text, { keepSourceTokens: false });
  return messages.map((message) => {
    const yamlLine = /at line (\d+)/.exec(message);
    if (yamlLine) return { line: Number(yamlLine[1]), message };
    const path = message.split(": ")[0] ?? "";
    const keys = path.split(/\.|\[(\d+)\]/).filter((k) => k !== undefined && k !== "");
    let node: unknown = doc.contents;
    let found: Node | null = null;
    for (const k of keys) {
      if (isMap(node)) {
        const pair = node.items.find((p) => String((p.key as { value?: unknown })?.value ?? p.key) === k);
        if (!pair) break;
        found = (pair.key as Node) ?? found;
        node = pair.value;
      } else if (isSeq(node) && /^\d+$/.test(k)) {
        const item = node.items[Number(k)];
        if (!item) break;
        found = item as Node;
        node = item;
      } else break;
    }
    const offset = found?.range?.[0];
    return { line: offset === undefined ? 0 : lineOf(text, offset), message };
  });
}
