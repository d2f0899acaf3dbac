/**
 * `lease shell` on Podman: `podman exec` of a command in one running replica of one service of a
 * lease, non-interactive (no stdin, no tty), with a time limit and a cap on the output kept.
 * @module
 */
import type { ManifestGroup } from "../../auction/sdl/types.ts";
import { readCapped } from "../read_capped.ts";
import {
  type Attached,
  type AttachOptions,
  type ExecOptions,
  type ExecResult,
  NotFoundError,
} from "./driver.ts";
import { dnsLabel, LABEL_NAMESPACE, LABEL_SERVICE } from "./objects.ts";

/** How {@link execInLease} runs podman: a short call, and a spawned process it reads itself. */
export interface PodmanRunner {
  run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  spawn(args: string[]): Deno.ChildProcess;
}

/** Exit code of a command killed for running too long (as `timeout(1)` reports it). */
export const EXEC_TIMEOUT_EXIT_CODE = 124;

/** The service a shell request means: the named one, or the lease's only one. */
export function execService(group: ManifestGroup, service: string | undefined): string {
  const names = group.services.map((s) => s.name);
  if (service !== undefined) {
    if (!names.includes(service)) {
      throw new NotFoundError(`service ${service} in this lease (services: ${names.join(", ")})`);
    }
    return service;
  }
  if (names.length === 1) return names[0]!;
  throw new NotFoundError(`a default service: the lease has ${names.join(", ")}; name one with --service`);
}

/**
 * The running container of replica `replica` (0-based, in name order) of a service of a lease.
 * Throws {@link NotFoundError} when the service or replica is not there or not running.
 */
export async function replicaContainer(
  podman: PodmanRunner,
  namespace: string,
  group: ManifestGroup,
  service: string | undefined,
  replica = 0,
): Promise<string> {
  const name = execService(group, service);
  const r = await podman.run([
    "ps",
    "--format",
    "{{.Names}}",
    "--filter",
    `label=${LABEL_NAMESPACE}=${namespace}`,
    "--filter",
    `label=${LABEL_SERVICE}=${dnsLabel(name)}`,
  ]);
  if (r.code !== 0) throw new Error(`podman ps failed: ${r.stderr.trim()}`);
  const running = r.stdout.split("\n").map((x) => x.trim()).filter(Boolean).sort();
  const container = running[replica];
  if (container === undefined) {
    throw new NotFoundError(`replica ${replica} of service ${name} (running replicas: ${running.length})`);
  }
  return container;
}

/**
 * `podman exec -i [-t]` of an interactive command in a replica (see {@link replicaContainer}): its
 * stdin and output are the caller's to stream.
 */
export async function attachInLease(
  podman: PodmanRunner & { spawnInteractive(args: string[]): Deno.ChildProcess },
  namespace: string,
  group: ManifestGroup,
  opts: AttachOptions,
): Promise<Attached> {
  const container = await replicaContainer(podman, namespace, group, opts.service, opts.replica ?? 0);
  const args = ["exec", "-i"];
  if (opts.tty) args.push("-t");
  for (const [k, v] of Object.entries(opts.env ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))) {
    args.push("-e", `${k}=${v}`);
  }
  const child = podman.spawnInteractive([...args, container, ...opts.command]);
  return {
    stdin: child.stdin,
    output: [child.stdout, child.stderr],
    exit: child.status.then((s) => s.code),
    kill: () => {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    },
  };
}

/**
 * Runs `opts.command` in replica `opts.replica` (0-based, in container name order) of the service.
 * Throws {@link NotFoundError} when the service or replica is not there or not running.
 */
export async function execInLease(
  podman: PodmanRunner,
  namespace: string,
  group: ManifestGroup,
  opts: ExecOptions,
): Promise<ExecResult> {
  const container = await replicaContainer(podman, namespace, group, opts.service, opts.replica ?? 0);
  const child = podman.spawn(["exec", container, ...opts.command]);
  const stop = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    stop.abort();
  }, opts.timeoutMs);
  try {
    const [out, err, status] = await Promise.all([
      readCapped(child.stdout, opts.outputMaxBytes, () => {}, stop.signal),
      readCapped(child.stderr, opts.outputMaxBytes, () => {}, stop.signal),
      child.status,
    ]);
    const dec = new TextDecoder();
    let stderr = dec.decode(err.bytes);
    if (timedOut) stderr += `\nlease shell: killed after ${Math.round(opts.timeoutMs / 1000)}s\n`;
    return {
      exitCode: timedOut ? EXEC_TIMEOUT_EXIT_CODE : status.code,
      stdout: dec.decode(out.bytes),
      stderr,
      truncated: out.overflow || err.overflow,
    };
  } finally {
    clearTimeout(timer);
  }
}
