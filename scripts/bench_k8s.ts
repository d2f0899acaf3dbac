/**
 * `npm run bench:k8s`: 1,000 leases placed on 100 KWOK nodes through the chain-free path of a
 * provider (inventory from the cluster, reserve, then the kubernetes driver as the least-privilege
 * ServiceAccount), against a real control plane started for the run (scripts/k8s-up.sh in a temp
 * dir, stopped at the end). Prints one JSON document: time until every lease's pods are Running
 * (one watch), API requests per lease (the provider account's requests, from the API server's audit
 * log), provider memory (peak RSS and heap of this process).
 *
 * Usage: ./cirrus --run-script scripts/bench_k8s.ts [--leases 1000] [--nodes 100] [--concurrency 16]
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { parseSdl } from "../auction/sdl/mod.ts";
import { Inventory } from "../provider/inventory.ts";
import { KubernetesDriver } from "../provider/cluster/kubernetes.ts";
import { type LeaseId, leaseIdOf } from "../lib/ids.ts";
import { exitOnHelp } from "./help.ts";

exitOnHelp(import.meta.url);

const { values } = parseArgs({
  args: Deno.args,
  options: {
    leases: { type: "string", default: "1000" },
    nodes: { type: "string", default: "100" },
    concurrency: { type: "string", default: "16" },
  },
});
const LEASES = Number(values.leases);
const NODES = Number(values.nodes);
const CONC = Number(values.concurrency);
const root = new URL("..", import.meta.url).pathname;

async function sh(cmd: string, args: string[], env: Record<string, string> = {}, stdin?: string) {
  const child = new Deno.Command(cmd, {
    args,
    cwd: root,
    env,
    stdin: stdin !== undefined ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

const HELLO = await Deno.readTextFile(join(root, "examples/hello.yaml"));
const parsed = parseSdl(HELLO);
if (!parsed.ok) throw new Error(parsed.errors.join("; "));
const group = parsed.manifest[0]!;
const demand = parsed.groups[0]!;

const dir = await Deno.makeTempDir({ prefix: "cirrus-bench-k8s-" });
const env = { CIRRUS_K8S_DIR: dir, CIRRUS_K8S_PARENT_PID: String(Deno.pid) };
let peakRss = 0;
let peakHeap = 0;
const sampler = setInterval(() => {
  const m = Deno.memoryUsage();
  peakRss = Math.max(peakRss, m.rss);
  peakHeap = Math.max(peakHeap, m.heapUsed);
}, 100);
try {
  console.error(`bench:k8s: control plane with ${NODES} KWOK nodes ...`);
  const t0 = performance.now();
  const up = await sh(join(root, "scripts/k8s-up.sh"), ["--nodes", String(NODES), "--gpu-nodes", "0"], env);
  if (up.code !== 0) throw new Error(`k8s-up failed: ${up.stderr.trim().split("\n").slice(-3).join(" | ")}`);
  const upMs = Math.round(performance.now() - t0);
  const kubeconfig = join(dir, "kubeconfig");
  const kubectl = (args: string[], stdin?: string) =>
    sh("kubectl", ["--kubeconfig", kubeconfig, ...args], {}, stdin);
  const rbac = await kubectl(["apply", "-f", join(root, "examples/k8s-provider-rbac.yaml")]);
  if (rbac.code !== 0) throw new Error(rbac.stderr);
  const tok = await kubectl(["-n", "cirrus-system", "create", "token", "cirrus-provider", "--duration=2h"]);
  if (tok.code !== 0) throw new Error(tok.stderr);
  const admin = new k8s.KubeConfig();
  admin.loadFromFile(kubeconfig);
  const cl = admin.getCurrentCluster()!;
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "c", server: cl.server, caFile: cl.caFile }],
    users: [{ name: "provider", token: tok.stdout.trim() }],
    contexts: [{ name: "c", cluster: "c", user: "provider" }],
    currentContext: "c",
  });
  const auditFile = join(dir, "logs/audit.log");
  const auditLines = async () => {
    await new Promise((r) => setTimeout(r, 1500)); // the audit batch flushes every second
    try {
      return (await Deno.readTextFile(auditFile)).split("\n").filter(Boolean);
    } catch {
      return [];
    }
  };
  const before = (await auditLines()).length;

  const driver = new KubernetesDriver({ kubeConfig: kc, teardownTimeoutMs: 300_000 });
  const tStart = performance.now();
  const probe = await driver.probeCapacity();
  const inv = new Inventory({
    cpu: probe.free.cpu,
    memory: probe.free.memory,
    storage: { default: probe.free.storage },
    gpus: probe.gpus ?? [],
  });
  const leases: LeaseId[] = [];
  for (let i = 0; i < LEASES; i++) {
    const l = { owner: "cirrus1bench", dseq: i + 1, gseq: 1, oseq: 1, provider: "cirrus1provider" };
    const r = inv.tryReserve(leaseIdOf(l), demand, 1);
    if ("error" in r) throw new Error(`inventory refused lease ${i}: ${r.error}`);
    inv.commit(leaseIdOf(l));
    leases.push(l);
  }
  let next = 0;
  const deployMs: number[] = [];
  await Promise.all(Array.from({ length: CONC }, async () => {
    while (next < leases.length) {
      const l = leases[next++]!;
      const s = performance.now();
      await driver.deploy(l, group);
      deployMs.push(performance.now() - s);
    }
  }));
  const tDeployed = performance.now();
  await driver.waitReady(leases.map(leaseIdOf), { timeoutMs: 900_000 });
  const tReady = performance.now();
  const lines = await auditLines();
  const mine = lines.slice(before).map((l) =>
    JSON.parse(l) as { verb: string; objectRef?: { resource?: string } }
  );
  const byVerb: Record<string, number> = {};
  for (const a of mine) {
    const k = `${a.verb} ${a.objectRef?.resource ?? "-"}`;
    byVerb[k] = (byVerb[k] ?? 0) + 1;
  }
  const pods = await kubectl([
    "get",
    "pods",
    "-A",
    "-l",
    "cirrus.network/managed=true",
    "--field-selector=status.phase=Running",
    "-o",
    "name",
  ]);
  const running = pods.stdout.split("\n").filter(Boolean).length;
  deployMs.sort((a, b) => a - b);
  clearInterval(sampler);
  console.log(JSON.stringify(
    {
      leases: LEASES,
      nodes: NODES,
      concurrency: CONC,
      controlPlaneUpMs: upMs,
      deployAllMs: Math.round(tDeployed - tStart),
      allRunningMs: Math.round(tReady - tStart),
      podsRunning: running,
      deployMsP50: Math.round(deployMs[Math.floor(deployMs.length / 2)]!),
      deployMsP99: Math.round(deployMs[Math.floor(deployMs.length * 0.99)]!),
      apiRequests: mine.length,
      apiRequestsPerLease: Number((mine.length / LEASES).toFixed(2)),
      apiRequestsByVerb: Object.fromEntries(Object.entries(byVerb).sort(([, a], [, b]) => b - a)),
      providerPeakRssMiB: Math.round(peakRss / 2 ** 20),
      providerPeakHeapMiB: Math.round(peakHeap / 2 ** 20),
      inventoryFreeCpuAfter: inv.free().cpu,
    },
    null,
    2,
  ));
} finally {
  clearInterval(sampler);
  await sh(join(root, "scripts/k8s-down.sh"), [], env);
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
