/**
 * Pulling an image with a service's SDL `credentials` on Podman: the registry auth (objects.ts
 * `registryAuthJson`) goes to a temporary file (mode 0600) given to `podman pull --authfile`, and the
 * file is removed when the pull ends, whatever its outcome. `kube play` then finds the image in local
 * storage. The password never reaches an argument list, a log line or a status: podman's error
 * messages are scrubbed of it before they are kept.
 * @module
 */
import { toBase64 } from "../../lib/crypto.ts";
import type { Credentials } from "../../auction/sdl/types.ts";
import { credentialsRegistry } from "../image_name.ts";
import { registryAuthJson } from "./objects.ts";
import type { PodmanRun } from "./podman_network.ts";

/** `text` with every occurrence of the credentials' password (and its basic-auth form) masked. */
export function scrubSecret(text: string, c: Credentials): string {
  let out = text;
  const basic = toBase64(new TextEncoder().encode(`${c.username}:${c.password}`));
  for (const s of [c.password, basic]) {
    if (s.length >= 3) out = out.split(s).join("***");
  }
  return out;
}

/**
 * Pulls `image` (fully qualified) with `credentials`; `insecure` registries are pulled without TLS
 * verification. Resolves with podman's exit code and its (scrubbed) error text.
 */
export async function pullWithCredentials(
  run: PodmanRun,
  image: string,
  credentials: Credentials,
  insecure: readonly string[] = [],
): Promise<{ code: number; stderr: string }> {
  const file = await Deno.makeTempFile({ prefix: "cirrus-auth-", suffix: ".json" });
  try {
    await Deno.chmod(file, 0o600);
    await Deno.writeTextFile(file, registryAuthJson(credentials));
    const args = ["pull", "--quiet", "--authfile", file];
    if (insecure.includes(credentialsRegistry(image.split("/")[0] ?? ""))) args.push("--tls-verify=false");
    const r = await run([...args, image]);
    return { code: r.code, stderr: scrubSecret(r.stderr, credentials) };
  } finally {
    await Deno.remove(file).catch(() => {});
  }
}
