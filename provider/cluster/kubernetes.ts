/**
 * `kubernetes` driver: the lease's objects (objects.ts) sent to the kubeconfig's cluster with
 * @kubernetes/client-node. Deploy = create, or replace what exists (Deployments roll to the new pod
 * template), then delete the lease's Deployments/Services that the new manifest no longer has.
 * Teardown deletes the namespace (the cluster removes the rest). Leases are found by the
 * `cirrus.network/managed=true` label and the `cirrus.network/lease-id` annotation of namespaces.
 * Host ports (NodePorts) come from an allocator rebuilt from the cluster's Services on first use.
 */
import * as k8s from "@kubernetes/client-node";
import { PassThrough } from "node:stream";
import type { ManifestGroup } from "../../auction/sdl/types.ts";
import {
  allocateGroupPorts,
  type Capacity,
  type ClusterDriver,
  DEFAULT_HOST_PORT_RANGE,
  HostPortAllocator,
  type LeaseStatus,
  type LogOptions,
  NotFoundError,
  type ServiceStatus,
} from "./driver.ts";
import {
  ANNOTATION_LEASE_ID,
  dnsLabel,
  hostPortKey,
  type KubeObject,
  LABEL_MANAGED,
  LABEL_SERVICE,
  type LeaseId,
  leaseNamespace,
  leaseObjects,
  type Resources,
} from "./objects.ts";

export interface KubernetesDriverOptions {
  /** a kubeconfig file (KubeConfig.loadFromFile) */
  kubeconfig?: string;
  /** or kubeconfig content as an object (KubeConfig.loadFromOptions) */
  kubeconfigOptions?: unknown;
  /** or a ready KubeConfig */
  kubeConfig?: k8s.KubeConfig;
  /** host in status uris (a node's address that tenants can reach); default 127.0.0.1 */
  publicHost?: string;
  /** NodePort range of the cluster (default 30000-32767) */
  hostPortRange?: { min: number; max: number };
}

// deno-lint-ignore no-explicit-any
type Json = any;

const MANAGED = `${LABEL_MANAGED}=true`;

/** HTTP status of a client-node error (ApiException.code), or undefined. */
function httpCode(e: unknown): number | undefined {
  const c = (e as { code?: unknown })?.code;
  return typeof c === "number" ? c : undefined;
}

const SUFFIX: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** A Kubernetes quantity ("100m", "64Mi", "1e3", "2") as a number of base units. */
export function parseQuantity(q: string | number | undefined): number {
  if (q === undefined) return 0;
  if (typeof q === "number") return q;
  const m = /^([+-]?[0-9.]+(?:[eE][+-]?\d+)?)([a-zA-Z]*)$/.exec(q.trim());
  if (!m) return 0;
  const mul = SUFFIX[m[2]!];
  return mul === undefined ? 0 : Number(m[1]) * mul;
}

function addQuantities(r: Resources, q: Record<string, string> | undefined): void {
  if (!q) return;
  r.cpu += Math.round(parseQuantity(q.cpu) * 1000);
  r.memory += Math.round(parseQuantity(q.memory));
  r.storage += Math.round(parseQuantity(q["ephemeral-storage"]));
  r.gpu += Math.round(parseQuantity(q["nvidia.com/gpu"]) + parseQuantity(q["amd.com/gpu"]));
}

export class KubernetesDriver implements ClusterDriver {
  readonly kind = "kubernetes" as const;
  readonly kc: k8s.KubeConfig;
  private core: k8s.CoreV1Api;
  private apps: k8s.AppsV1Api;
  private ports: HostPortAllocator | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  readonly publicHost: string;

  constructor(private opts: KubernetesDriverOptions = {}) {
    if (opts.kubeConfig) this.kc = opts.kubeConfig;
    else {
      this.kc = new k8s.KubeConfig();
      if (opts.kubeconfigOptions) this.kc.loadFromOptions(opts.kubeconfigOptions);
      else if (opts.kubeconfig) this.kc.loadFromFile(opts.kubeconfig);
      else this.kc.loadFromDefault();
    }
    this.core = this.kc.makeApiClient(k8s.CoreV1Api);
    this.apps = this.kc.makeApiClient(k8s.AppsV1Api);
    this.publicHost = opts.publicHost ?? "127.0.0.1";
  }

  private locked<T>(f: () => Promise<T>): Promise<T> {
    const run = this.chain.then(f, f);
    this.chain = run.catch(() => {});
    return run;
  }

  /** The allocator, rebuilt from the NodePorts of managed Services on first use. */
  private async allocator(): Promise<HostPortAllocator> {
    if (this.ports) return this.ports;
    const leases = new Map<string, string>();
    for (const ns of (await this.core.listNamespace({ labelSelector: MANAGED })).items ?? []) {
      const id = ns.metadata?.annotations?.[ANNOTATION_LEASE_ID];
      if (id && ns.metadata?.name) leases.set(ns.metadata.name, id);
    }
    const state: Record<string, Record<string, number>> = {};
    for (const s of (await this.core.listServiceForAllNamespaces({ labelSelector: MANAGED })).items ?? []) {
      const id = leases.get(s.metadata?.namespace ?? "");
      const svc = s.metadata?.labels?.[LABEL_SERVICE];
      if (!id || !svc) continue;
      for (const p of s.spec?.ports ?? []) {
        if (!p.nodePort) continue;
        const key = hostPortKey(svc, Number(p.targetPort ?? p.port), (p.protocol ?? "TCP").toLowerCase());
        (state[id] ??= {})[key] = p.nodePort;
      }
    }
    const range = this.opts.hostPortRange ?? DEFAULT_HOST_PORT_RANGE;
    // ports outside the range (set by someone else) are kept out of the state
    for (const m of Object.values(state)) {
      for (const [k, p] of Object.entries(m)) if (p < range.min || p > range.max) delete m[k];
    }
    this.ports = new HostPortAllocator(range, state);
    return this.ports;
  }

  async probeCapacity(): Promise<Capacity> {
    const total: Resources = { cpu: 0, memory: 0, storage: 0, gpu: 0 };
    for (const n of (await this.core.listNode()).items ?? []) {
      if (n.spec?.unschedulable) continue;
      addQuantities(total, n.status?.allocatable as Record<string, string> | undefined);
    }
    const used: Resources = { cpu: 0, memory: 0, storage: 0, gpu: 0 };
    const pods = await this.core.listPodForAllNamespaces({
      fieldSelector: "status.phase!=Succeeded,status.phase!=Failed",
    });
    for (const p of pods.items ?? []) {
      for (const c of p.spec?.containers ?? []) {
        addQuantities(used, c.resources?.requests as Record<string, string>);
      }
    }
    return {
      total,
      used,
      free: {
        cpu: total.cpu - used.cpu,
        memory: total.memory - used.memory,
        storage: total.storage - used.storage,
        gpu: total.gpu - used.gpu,
      },
    };
  }

  deploy(lease: LeaseId, group: ManifestGroup): Promise<void> {
    return this.locked(async () => {
      const alloc = await this.allocator();
      const ports = allocateGroupPorts(alloc, lease, group);
      const { namespace, objects } = leaseObjects(lease, group, {
        hostPorts: ports,
        containerHostPorts: false,
      });
      for (const o of objects) await this.apply(o);
      // drop what the previous version had and this one does not
      const want = new Set(objects.map((o) => `${o.kind}/${o.metadata.name}`));
      const deps = await this.apps.listNamespacedDeployment({ namespace, labelSelector: MANAGED });
      for (const d of deps.items ?? []) {
        const name = d.metadata?.name ?? "";
        if (!want.has(`Deployment/${name}`)) {
          await this.ignore404(this.apps.deleteNamespacedDeployment({ name, namespace }));
        }
      }
      const svcs = await this.core.listNamespacedService({ namespace, labelSelector: MANAGED });
      for (const s of svcs.items ?? []) {
        const name = s.metadata?.name ?? "";
        if (!want.has(`Service/${name}`)) {
          await this.ignore404(this.core.deleteNamespacedService({ name, namespace }));
        }
      }
    });
  }

  private async ignore404<T>(p: Promise<T>): Promise<void> {
    try {
      await p;
    } catch (e) {
      if (httpCode(e) !== 404) throw e;
    }
  }

  /** Create, or replace when it exists (409). */
  private async apply(o: KubeObject): Promise<void> {
    const name = o.metadata.name;
    const namespace = o.metadata.namespace ?? "";
    const body = o as Json;
    try {
      if (o.kind === "Namespace") await this.core.createNamespace({ body });
      else if (o.kind === "Deployment") await this.apps.createNamespacedDeployment({ namespace, body });
      else if (o.kind === "Service") await this.core.createNamespacedService({ namespace, body });
      else throw new Error(`cannot apply kind ${o.kind}`);
      return;
    } catch (e) {
      if (httpCode(e) !== 409) throw e;
    }
    if (o.kind === "Namespace") await this.core.replaceNamespace({ name, body });
    else if (o.kind === "Deployment") await this.apps.replaceNamespacedDeployment({ name, namespace, body });
    else {
      // a Service keeps its cluster IP(s) and needs its resourceVersion
      const cur = await this.core.readNamespacedService({ name, namespace });
      const next = structuredClone(body);
      next.metadata.resourceVersion = cur.metadata?.resourceVersion;
      if (cur.spec?.clusterIP) next.spec.clusterIP = cur.spec.clusterIP;
      if (cur.spec?.clusterIPs) next.spec.clusterIPs = cur.spec.clusterIPs;
      await this.core.replaceNamespacedService({ name, namespace, body: next });
    }
  }

  teardown(leaseId: string): Promise<void> {
    return this.locked(async () => {
      await this.ignore404(this.core.deleteNamespace({ name: leaseNamespace(leaseId) }));
      (await this.allocator()).release(leaseId);
    });
  }

  async list(): Promise<string[]> {
    const out: string[] = [];
    for (const ns of (await this.core.listNamespace({ labelSelector: MANAGED })).items ?? []) {
      if (ns.status?.phase === "Terminating") continue;
      const id = ns.metadata?.annotations?.[ANNOTATION_LEASE_ID];
      if (id && leaseNamespace(id) === ns.metadata?.name) out.push(id);
    }
    return out.sort();
  }

  async status(leaseId: string): Promise<LeaseStatus> {
    const namespace = leaseNamespace(leaseId);
    try {
      await this.core.readNamespace({ name: namespace });
    } catch (e) {
      if (httpCode(e) === 404) throw new NotFoundError(`lease ${leaseId}`);
      throw e;
    }
    const [deps, svcs, pods] = await Promise.all([
      this.apps.listNamespacedDeployment({ namespace, labelSelector: MANAGED }),
      this.core.listNamespacedService({ namespace, labelSelector: MANAGED }),
      this.core.listNamespacedPod({ namespace, labelSelector: MANAGED }),
    ]);
    const services: ServiceStatus[] = [];
    const sorted = [...(deps.items ?? [])].sort((a, b) =>
      (a.metadata?.name ?? "").localeCompare(b.metadata?.name ?? "")
    );
    for (const d of sorted) {
      const name = d.metadata?.labels?.[LABEL_SERVICE] ?? d.metadata?.name ?? "";
      const total = d.spec?.replicas ?? 0;
      const ready = d.status?.readyReplicas ?? 0;
      const image = d.spec?.template?.spec?.containers?.[0]?.image ?? "";
      const uris: string[] = [];
      for (const s of svcs.items ?? []) {
        if (s.metadata?.labels?.[LABEL_SERVICE] !== name || s.spec?.type !== "NodePort") continue;
        for (const p of s.spec.ports ?? []) {
          if (p.nodePort && (p.protocol ?? "TCP") === "TCP") {
            uris.push(`http://${this.publicHost}:${p.nodePort}`);
          }
        }
      }
      let state = ready >= total ? "running" : "pending";
      let message: string | undefined;
      for (const p of pods.items ?? []) {
        if (p.metadata?.labels?.[LABEL_SERVICE] !== name) continue;
        for (const cs of p.status?.containerStatuses ?? []) {
          const w = cs.state?.waiting;
          const last = cs.lastState?.terminated ?? cs.state?.terminated;
          if (w && /ErrImagePull|ImagePullBackOff|InvalidImageName|ErrImageNeverPull/.test(w.reason ?? "")) {
            state = "failed: image not found";
            message = `${cs.image}: ${w.reason}${w.message ? `: ${w.message}` : ""}`;
          } else if (
            (w?.reason === "CrashLoopBackOff" || (last && last.exitCode !== 0)) && !state.startsWith("failed")
          ) {
            state = `crashloop: exited with code ${last?.exitCode ?? "?"}`;
            message = `restarts: ${cs.restartCount}${last?.reason ? `; ${last.reason}` : ""}`;
          }
        }
      }
      if (ready >= total && total > 0 && state.startsWith("crashloop")) state = "running"; // recovered
      const st: ServiceStatus = { name, image, ready, total, uris, state };
      if (message !== undefined && state !== "running") st.message = message;
      services.push(st);
    }
    return { leaseId, namespace, services };
  }

  async *logs(leaseId: string, opts: LogOptions = {}): AsyncIterable<string> {
    const namespace = leaseNamespace(leaseId);
    const selector = opts.service ? `${MANAGED},${LABEL_SERVICE}=${dnsLabel(opts.service)}` : MANAGED;
    let pods: Json;
    try {
      pods = await this.core.listNamespacedPod({ namespace, labelSelector: selector });
    } catch (e) {
      if (httpCode(e) === 404) throw new NotFoundError(`lease ${leaseId}`);
      throw e;
    }
    const targets: { pod: string; container: string }[] = [];
    for (const p of pods.items ?? []) {
      for (const c of p.spec?.containers ?? []) targets.push({ pod: p.metadata.name, container: c.name });
    }
    targets.sort((a, b) => a.pod.localeCompare(b.pod));
    const prefix = (t: { pod: string }) => (targets.length > 1 ? `${t.pod} ` : "");
    if (!opts.follow) {
      for (const t of targets) {
        if (opts.signal?.aborted) return;
        const text = await this.core.readNamespacedPodLog({
          name: t.pod,
          namespace,
          container: t.container,
          tailLines: opts.tail,
        });
        const lines = String(text ?? "").split("\n");
        if (lines[lines.length - 1] === "") lines.pop();
        for (const l of lines) yield prefix(t) + l;
      }
      return;
    }
    // follow: one stream per container, lines merged as they come
    const queue: (string | null)[] = [];
    let wake: (() => void) | undefined;
    const push = (v: string | null) => {
      queue.push(v);
      wake?.();
    };
    const log = new k8s.Log(this.kc);
    const controllers: AbortController[] = [];
    let open = 0;
    for (const t of targets) {
      const stream = new PassThrough();
      let buf = "";
      stream.on("data", (chunk: Uint8Array | string) => {
        buf += typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk);
        let i;
        while ((i = buf.indexOf("\n")) >= 0) {
          push(prefix(t) + buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
      });
      stream.on("end", () => {
        if (buf) push(prefix(t) + buf);
        push(null);
      });
      open++;
      try {
        controllers.push(
          await log.log(namespace, t.pod, t.container, stream, { follow: true, tailLines: opts.tail }),
        );
      } catch (e) {
        open--;
        stream.destroy();
        push(`${prefix(t)}[log error: ${(e as Error).message}]`);
      }
    }
    const abort = () => {
      for (const c of controllers) c.abort();
      wake?.();
    };
    opts.signal?.addEventListener("abort", abort, { once: true });
    try {
      while (open > 0 && !opts.signal?.aborted) {
        if (queue.length === 0) {
          await new Promise<void>((res) => (wake = res));
          wake = undefined;
          continue;
        }
        const v = queue.shift()!;
        if (v === null) open--;
        else yield v;
      }
      while (queue.length > 0 && !opts.signal?.aborted) {
        const v = queue.shift()!;
        if (v !== null) yield v;
      }
    } finally {
      opts.signal?.removeEventListener("abort", abort);
      for (const c of controllers) c.abort();
    }
  }
}
