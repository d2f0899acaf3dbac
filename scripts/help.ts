/**
 * `--help` (or `-h`) for the project's scripts: prints the script's own module doc, where its usage
 * and defaults are written, and exits 0, so the text a person reads is the one in the file.
 * @module
 */

/** The text of the first doc comment of `source`, without its `*` gutters and `@module` tag. */
export function moduleDoc(source: string): string {
  const m = /^\s*(?:#![^\n]*\n\s*)?\/\*\*([\s\S]*?)\*\//.exec(source);
  return (m?.[1] ?? "")
    .split("\n")
    .map((l) => l.replace(/^\s*\* ?/, "").replaceAll("*\\/", "*/"))
    .filter((l) => !l.startsWith("@module"))
    .join("\n")
    .trim();
}

/** When `args` ask for help, print the module doc of the script at `scriptUrl` and exit 0. */
export function exitOnHelp(scriptUrl: string, args: readonly string[] = Deno.args): void {
  if (!args.includes("--help") && !args.includes("-h")) return;
  console.log(moduleDoc(Deno.readTextFileSync(new URL(scriptUrl))));
  Deno.exit(0);
}
