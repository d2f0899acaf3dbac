/**
 * Running podman: every call gets `CONTAINERS_CONF` (default: $CONTAINERS_CONF, else the project's
 * scripts/podman/containers.conf; see scripts/install-podman.sh). `runPodman` waits for the output,
 * `processLines` streams it (logs --follow), `spawnPodman` is the one place a podman process starts.
 */
import { fileURLToPath } from "node:url";

/** The project's containers.conf (scripts/podman/containers.conf). */
export const PROJECT_CONTAINERS_CONF = fileURLToPath(
  new URL("../../scripts/podman/containers.conf", import.meta.url),
);
export const BUSYBOX_IMAGE = "localhost/busybox:latest";

export interface PodmanOptions {
  /** path of the containers.conf to use (default: $CONTAINERS_CONF, else PROJECT_CONTAINERS_CONF) */
  containersConf?: string;
  /** podman binary (default "podman") */
  podman?: string;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** CIRRUS_PODMAN_TRACE=1 prints every podman call and its duration on stderr. */
const TRACE = (() => {
  try {
    return Deno.env.get("CIRRUS_PODMAN_TRACE") === "1";
  } catch {
    return false;
  }
})();

function containersConf(o: PodmanOptions): string {
  return o.containersConf ?? Deno.env.get("CONTAINERS_CONF") ?? PROJECT_CONTAINERS_CONF;
}

/** Run podman with CONTAINERS_CONF set. Never throws for a non-zero exit (see `code`). */
export async function runPodman(o: PodmanOptions, args: string[], timeoutMs = 120_000): Promise<RunResult> {
  let child: Deno.ChildProcess;
  try {
    child = spawnPodman(o, args);
  } catch (e) {
    return { code: 127, stdout: "", stderr: `cannot run podman: ${(e as Error).message}` };
  }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, timeoutMs);
  const t0 = performance.now();
  try {
    const out = await child.output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } finally {
    clearTimeout(timer);
    if (TRACE) console.error(`podman ${args.join(" ")}: ${(performance.now() - t0).toFixed(0)} ms`);
  }
}

/** Whether podman runs here (`podman info` with CONTAINERS_CONF); the reason when it does not. */
export async function podmanAvailable(
  o: PodmanOptions = {},
): Promise<{ ok: true; version: string } | { ok: false; reason: string }> {
  const r = await runPodman(o, ["info", "--format", "{{.Version.Version}}"], 60_000);
  if (r.code === 127) return { ok: false, reason: "podman is not installed (run scripts/install-podman.sh)" };
  if (r.code !== 0) {
    const why = r.stderr.trim().split("\n").pop() ?? `exit ${r.code}`;
    return { ok: false, reason: `podman info failed: ${why}` };
  }
  return { ok: true, version: r.stdout.trim() };
}

/** A podman process with CONTAINERS_CONF set, no stdin, stdout and stderr piped. */
export function spawnPodman(o: PodmanOptions, args: string[]): Deno.ChildProcess {
  return new Deno.Command(o.podman ?? "podman", {
    args,
    env: { CONTAINERS_CONF: containersConf(o) },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** An interactive podman process (`exec -i`): CONTAINERS_CONF set, stdin, stdout and stderr piped. */
export function spawnPodmanInteractive(o: PodmanOptions, args: string[]): Deno.ChildProcess {
  return new Deno.Command(o.podman ?? "podman", {
    args,
    env: { CONTAINERS_CONF: containersConf(o) },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Lines of a podman process's stdout and stderr, merged as they come; killed when `signal` aborts. */
export async function* processLines(
  o: PodmanOptions,
  args: string[],
  signal?: AbortSignal,
): AsyncIterable<string> {
  if (signal?.aborted) return;
  const child = spawnPodman(o, args);
  const queue: (string | null)[] = [];
  let wake: (() => void) | undefined;
  const push = (v: string | null) => {
    queue.push(v);
    wake?.();
  };
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    let buf = "";
    try {
      for await (const chunk of stream) {
        buf += dec.decode(chunk, { stream: true });
        let i;
        while ((i = buf.indexOf("\n")) >= 0) {
          push(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
      }
    } catch { /* killed */ }
    if (buf) push(buf);
    push(null);
  };
  const kill = () => {
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
  };
  signal?.addEventListener("abort", kill, { once: true });
  const pumps = [pump(child.stdout), pump(child.stderr)];
  let open = 2;
  try {
    while (open > 0) {
      if (queue.length === 0) {
        await new Promise<void>((res) => {
          wake = res;
          if (signal?.aborted) res();
        });
        wake = undefined;
        if (signal?.aborted) break;
        continue;
      }
      const v = queue.shift()!;
      if (v === null) open--;
      else yield v;
    }
  } finally {
    signal?.removeEventListener("abort", kill);
    kill();
    await Promise.all(pumps);
    await child.status;
  }
}
