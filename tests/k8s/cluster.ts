/**
 * The real control plane for the tests in tests/k8s/: reuse one that answers (`CIRRUS_KUBECONFIG`,
 * or `.k8s/kubeconfig` from `npm run k8s:up`), else start a private one in a temp dir with
 * scripts/k8s-up.sh (binaries built beforehand; tests never build) and stop it afterwards. When
 * neither is possible, `startCluster` returns the reason to skip with.
 */
import { join } from "node:path";

const ROOT = new URL("../..", import.meta.url).pathname;

export interface Cluster {
  kubeconfig: string;
  /** started by this process (stopped by `stop`), or reused */
  owned: boolean;
  kubectl(args: string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

async function run(
  cmd: string,
  args: string[],
  opts: { env?: Record<string, string>; stdin?: string; timeoutMs?: number } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(cmd, {
      args,
      cwd: ROOT,
      env: opts.env ?? {},
      stdin: opts.stdin !== undefined ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    return { code: 127, stdout: "", stderr: (e as Error).message };
  }
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, opts.timeoutMs ?? 60_000);
  const out = await child.output();
  clearTimeout(timer);
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

function kubectlFor(kubeconfig: string): Cluster["kubectl"] {
  return (args, stdin) =>
    run(
      "kubectl",
      args.some((a) => a.startsWith("--kubeconfig")) ? args : ["--kubeconfig", kubeconfig, ...args],
      {
        ...(stdin !== undefined ? { stdin } : {}),
        timeoutMs: 120_000,
      },
    );
}

async function answers(kubeconfig: string): Promise<boolean> {
  try {
    await Deno.stat(kubeconfig);
  } catch {
    return false;
  }
  return (await run("kubectl", ["--kubeconfig", kubeconfig, "get", "--raw", "/readyz"], {
    timeoutMs: 10_000,
  }))
    .code === 0;
}

/** A running control plane, or why there is none (a skip reason). */
export async function startCluster(
  opts: { nodes?: number; gpuNodes?: number } = {},
): Promise<Cluster | string> {
  if ((await run("kubectl", ["version", "--client"], { timeoutMs: 10_000 })).code !== 0) {
    return "kubectl not found (Debian: apt-get install kubernetes-client)";
  }
  for (const kc of [Deno.env.get("CIRRUS_KUBECONFIG"), join(ROOT, ".k8s/kubeconfig")]) {
    if (kc && await answers(kc)) {
      return { kubeconfig: kc, owned: false, kubectl: kubectlFor(kc), stop: async () => {} };
    }
  }
  const env = { ...Deno.env.toObject() };
  const check = await run(join(ROOT, "scripts/k8s-build.sh"), ["--check"], { env, timeoutMs: 10_000 });
  if (check.code !== 0) {
    const go = await run("sh", ["-c", "command -v go || test -x /usr/local/go/bin/go"], { timeoutMs: 5_000 });
    return go.code !== 0
      ? "Go is not installed: the control plane (k8s.io/kubernetes, KWOK, etcd) cannot be built here"
      : `control plane binaries not built (${check.stderr.trim()}); run \`npm run k8s:up\` once`;
  }
  const dir = await Deno.makeTempDir({ prefix: "cirrus-k8s-test-" });
  const up = await run(
    join(ROOT, "scripts/k8s-up.sh"),
    ["--nodes", String(opts.nodes ?? 3), "--gpu-nodes", String(opts.gpuNodes ?? 1)],
    { env: { ...env, CIRRUS_K8S_DIR: dir, CIRRUS_K8S_PARENT_PID: String(Deno.pid) }, timeoutMs: 180_000 },
  );
  const stop = async () => {
    await run(join(ROOT, "scripts/k8s-down.sh"), [], {
      env: { ...env, CIRRUS_K8S_DIR: dir },
      timeoutMs: 60_000,
    });
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  if (up.code !== 0) {
    await stop();
    throw new Error(
      `k8s-up failed (exit ${up.code}): ${(up.stderr || up.stdout).trim().split("\n").slice(-3).join(" | ")}`,
    );
  }
  const kubeconfig = join(dir, "kubeconfig");
  return { kubeconfig, owned: true, kubectl: kubectlFor(kubeconfig), stop };
}
