/** Run the `./cirrus` launcher as a user would, for end-to-end tests. */
import { join } from "node:path";

/** The repository root. */
export const root = new URL("../../", import.meta.url).pathname;

/** Run `./cirrus ARGS...` from the repository root; returns the exit code and both outputs. */
export async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(join(root, "cirrus"), {
    args,
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}
