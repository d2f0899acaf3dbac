/**
 * `kubernetes` driver: the lease's objects (objects.ts) sent to the kubeconfig's cluster with
 * @kubernetes/client-node, by server-side apply under the field manager `cirrus-provider` (forced:
 * the provider owns its objects). Deploy = apply every object (Deployments roll to the new pod
 * template), then delete the lease's Deployments/Services/Ingresses/claims the new manifest no
 * longer has. Teardown deletes the namespace and waits (a watch, bounded) until it is gone.
 * Leases are found by the `cirrus.network/managed=true` label and the `cirrus.network/lease-id`
 * annotation of namespaces, so a restarted provider reconciles from the cluster alone.
 *
 * Host ports (NodePorts) come from an allocator rebuilt from the cluster's Services on first use;
 * ports that other Services of the cluster hold are never chosen, and a 422 "port already allocated"
 * (someone took it since) refreshes that view and retries once. A namespace still terminating (the
 * same lease deployed again right after its teardown) is waited for. Other refusals (422, 403, ...)
 * are one line: `kubernetes refused KIND NAME: <the API server's reason>`.
 *
 * Readiness is watched (`waitReady`: one watch on the managed Deployments of the cluster, however
 * many leases are waited for). Inventory (`probeCapacity`) is the schedulable nodes' allocatable
 * minus the requests of their non-terminal pods; gpus per model from the node labels
 * `cirrus.network/gpu.{vendor,model,ram,interface}`.
 *
 * Beside it: kubernetes_api.ts (API server errors), kubernetes_quantity.ts (quantities),
 * kubernetes_logs.ts (`logs`).
 */
import * as k8s from "@kubernetes/client-node";
import type { ManifestGroup } from "../../auction/sdl/types.ts";
import { leaseIdOf } from "../../lib/ids.ts";
import type { GpuInventory } from "../inventory.ts";
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
  hostPortKey,
  type KubeObject,
  LABEL_GPU_INTERFACE,
  LABEL_GPU_MODEL,
  LABEL_GPU_RAM,
  LABEL_GPU_VENDOR,
  LABEL_MANAGED,
  LABEL_SERVICE,
  type LeaseId,
  leaseNamespace,
  leaseObjects,
  type Resources,
} from "./objects.ts";
import { apiMessage, httpCode, KubernetesApiError, NamespaceTerminating } from "./kubernetes_api.ts";
import { addQuantities, gpuCount } from "./kubernetes_quantity.ts";
import { leaseLogs } from "./kubernetes_logs.ts";

export { apiMessage, KubernetesApiError } from "./kubernetes_api.ts";
export { parseQuantity } from "./kubernetes_quantity.ts";

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
  /** field manager of server-side apply (default `cirrus-provider`) */
  fieldManager?: string;
  /** `spec.ingressClassName` of the Ingresses of `accept` hosts (default: the cluster's default) */
  ingressClassName?: string;
  /** how long teardown waits for the namespace to be gone (default 120 s) */
  teardownTimeoutMs?: number;
}

// deno-lint-ignore no-explicit-any
type Json = any;

const MANAGED = `${LABEL_MANAGED}=true`;

/** A Deployment whose current generation has every replica updated and ready. */
function deploymentReady(d: k8s.V1Deployment): boolean {
  const want = d.spec?.replicas ?? 1;
  const st = d.status ?? {};
  return (st.observedGeneration ?? 0) >= (d.metadata?.generation ?? 1) &&
    (st.readyReplicas ?? 0) >= want && (st.updatedReplicas ?? 0) >= want;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class KubernetesDriver implements ClusterDriver {
  readonly kind = "kubernetes" as const;
  readonly kc: k8s.KubeConfig;
  private core: k8s.CoreV1Api;
  private apps: k8s.AppsV1Api;
  private net: k8s.NetworkingV1Api;
  private objs: k8s.KubernetesObjectApi;
  private ports: HostPortAllocator | undefined;
  /** NodePorts of Services this driver does not manage (other tenants of the cluster) */
  private foreignPorts = new Set<number>();
  /**
   * Leases whose namespace existed when the cluster was first read, or that this driver deployed
   * since: only these can hold objects a new manifest drops (a first deploy has nothing to prune).
   */
  private knownLeases = new Set<string>();
  private chain: Promise<unknown> = Promise.resolve();
  /** per lease: its deploy/teardown run one at a time */
  private leaseChains = new Map<string, Promise<unknown>>();
  readonly publicHost: string;
  readonly fieldManager: string;

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
    this.net = this.kc.makeApiClient(k8s.NetworkingV1Api);
    this.objs = k8s.KubernetesObjectApi.makeApiClient(this.kc);
    this.publicHost = opts.publicHost ?? "127.0.0.1";
    this.fieldManager = opts.fieldManager ?? "cirrus-provider";
  }

  /** Port allocation, one at a time. */
  private locked<T>(f: () => Promise<T>): Promise<T> {
    const run = this.chain.then(f, f);
    this.chain = run.catch(() => {});
    return run;
  }

  /** One operation at a time per lease (deploys of different leases run side by side). */
  private perLease<T>(leaseId: string, f: () => Promise<T>): Promise<T> {
    const prev = this.leaseChains.get(leaseId) ?? Promise.resolve();
    const run = prev.then(f, f);
    const tail = run.catch(() => {});
    this.leaseChains.set(leaseId, tail);
    tail.then(() => {
      if (this.leaseChains.get(leaseId) === tail) this.leaseChains.delete(leaseId);
    });
    return run;
  }

  /** NodePorts of every Service of the cluster: managed ones per lease, the rest as foreign. */
  private async clusterPorts(): Promise<
    { state: Record<string, Record<string, number>>; foreign: Set<number>; leases: Set<string> }
  > {
    const leases = new Map<string, string>();
    for (const ns of (await this.core.listNamespace({ labelSelector: MANAGED })).items ?? []) {
      const id = ns.metadata?.annotations?.[ANNOTATION_LEASE_ID];
      if (id && ns.metadata?.name) leases.set(ns.metadata.name, id);
    }
    const state: Record<string, Record<string, number>> = {};
    const foreign = new Set<number>();
    for (const s of (await this.core.listServiceForAllNamespaces({})).items ?? []) {
      const id = leases.get(s.metadata?.namespace ?? "");
      const svc = s.metadata?.labels?.[LABEL_SERVICE];
      for (const p of s.spec?.ports ?? []) {
        if (!p.nodePort) continue;
        if (!id || !svc || s.metadata?.labels?.[LABEL_MANAGED] !== "true") {
          foreign.add(p.nodePort);
          continue;
        }
        const key = hostPortKey(svc, Number(p.targetPort ?? p.port), (p.protocol ?? "TCP").toLowerCase());
        (state[id] ??= {})[key] = p.nodePort;
      }
    }
    return { state, foreign, leases: new Set(leases.values()) };
  }

  /** The allocator, rebuilt from the NodePorts of managed Services on first use. */
  private async allocator(): Promise<HostPortAllocator> {
    if (this.ports) return this.ports;
    const { state, foreign, leases } = await this.clusterPorts();
    for (const id of leases) this.knownLeases.add(id);
    const range = this.opts.hostPortRange ?? DEFAULT_HOST_PORT_RANGE;
    // ports outside the range (set by someone else) are kept out of the state
    for (const m of Object.values(state)) {
      for (const [k, p] of Object.entries(m)) if (p < range.min || p > range.max) delete m[k];
    }
    this.foreignPorts = foreign;
    this.ports = new HostPortAllocator(range, state);
    return this.ports;
  }

  async probeCapacity(): Promise<Capacity & { gpus: GpuInventory[] }> {
    const total: Resources = { cpu: 0, memory: 0, storage: 0, gpu: 0 };
    const nodes = new Map<string, k8s.V1Node>();
    for (const n of (await this.core.listNode()).items ?? []) {
      if (n.spec?.unschedulable) continue;
      const ready = n.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";
      if (!ready) continue;
      nodes.set(n.metadata?.name ?? "", n);
      addQuantities(total, n.status?.allocatable as Record<string, string> | undefined);
    }
    const used: Resources = { cpu: 0, memory: 0, storage: 0, gpu: 0 };
    const gpuUsed = new Map<string, number>();
    const pods = await this.core.listPodForAllNamespaces({
      fieldSelector: "status.phase!=Succeeded,status.phase!=Failed",
    });
    for (const p of pods.items ?? []) {
      for (const c of p.spec?.containers ?? []) {
        const req = c.resources?.requests as Record<string, string> | undefined;
        addQuantities(used, req);
        const node = p.spec?.nodeName;
        if (node) gpuUsed.set(node, (gpuUsed.get(node) ?? 0) + gpuCount(req));
      }
    }
    // gpus by model (node labels), free = allocatable - requested on that node
    const byModel = new Map<string, GpuInventory>();
    for (const [name, n] of nodes) {
      const l = n.metadata?.labels ?? {};
      const count = gpuCount(n.status?.allocatable as Record<string, string> | undefined);
      const vendor = l[LABEL_GPU_VENDOR];
      const model = l[LABEL_GPU_MODEL];
      if (count <= 0 || !vendor || !model) continue;
      const free = Math.max(0, count - (gpuUsed.get(name) ?? 0));
      const k = [vendor, model, l[LABEL_GPU_RAM] ?? "", l[LABEL_GPU_INTERFACE] ?? ""].join("|");
      const g = byModel.get(k);
      if (g) g.count += free;
      else {
        byModel.set(k, {
          vendor,
          model,
          ...(l[LABEL_GPU_RAM] ? { ram: l[LABEL_GPU_RAM] } : {}),
          ...(l[LABEL_GPU_INTERFACE] ? { interface: l[LABEL_GPU_INTERFACE] } : {}),
          count: free,
        });
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
      gpus: [...byModel.values()].sort((a, b) => (a.model < b.model ? -1 : a.model > b.model ? 1 : 0)),
    };
  }

  /** The objects `deploy` applies for a lease (ports allocated against the cluster's). */
  async render(lease: LeaseId, group: ManifestGroup): Promise<{ namespace: string; objects: KubeObject[] }> {
    const ports = await this.locked(async () => {
      const alloc = await this.allocator();
      return allocateGroupPorts(alloc, lease, group, (p) => !this.foreignPorts.has(p));
    });
    return leaseObjects(lease, group, {
      hostPorts: ports,
      containerHostPorts: false,
      ...(this.opts.ingressClassName ? { ingressClassName: this.opts.ingressClassName } : {}),
    });
  }

  deploy(lease: LeaseId, group: ManifestGroup): Promise<void> {
    const id = leaseIdOf(lease);
    return this.perLease(id, async () => {
      let { namespace, objects } = await this.render(lease, group);
      let portRetry = false;
      let nsRetry = false;
      while (true) {
        try {
          for (const o of objects) await this.apply(o);
          break;
        } catch (e) {
          if (e instanceof NamespaceTerminating && !nsRetry) {
            // the lease's namespace is still going away (a teardown just before): wait, start over
            nsRetry = true;
            await this.waitNamespaceGone(namespace, this.teardownTimeout());
            continue;
          }
          // a NodePort taken since we looked: learn the cluster's ports again, allocate, retry once
          if (!portRetry && httpCode(e) === 422 && /port.*already allocated/i.test(apiMessage(e))) {
            portRetry = true;
            await this.locked(async () => {
              const { foreign } = await this.clusterPorts();
              for (const p of foreign) this.foreignPorts.add(p);
              (await this.allocator()).release(id);
            });
            ({ namespace, objects } = await this.render(lease, group));
            continue;
          }
          throw e;
        }
      }
      if (this.knownLeases.has(id)) await this.prune(namespace, objects);
      this.knownLeases.add(id);
    });
  }

  /** Delete the lease's objects (by label) that `objects` no longer has. */
  private async prune(namespace: string, objects: KubeObject[]): Promise<void> {
    const want = new Set(objects.map((o) => `${o.kind}/${o.metadata.name}`));
    const q = { namespace, labelSelector: MANAGED };
    const [deps, svcs, ings, pvcs] = await Promise.all([
      this.apps.listNamespacedDeployment(q),
      this.core.listNamespacedService(q),
      this.net.listNamespacedIngress(q),
      this.core.listNamespacedPersistentVolumeClaim(q),
    ]);
    const gone = (kind: string, items: { metadata?: { name?: string } }[] | undefined) =>
      (items ?? []).map((i) => i.metadata?.name ?? "").filter((n) => n && !want.has(`${kind}/${n}`));
    for (const name of gone("Deployment", deps.items)) {
      await this.ignore404(this.apps.deleteNamespacedDeployment({ name, namespace }));
    }
    for (const name of gone("Service", svcs.items)) {
      await this.ignore404(this.core.deleteNamespacedService({ name, namespace }));
    }
    for (const name of gone("Ingress", ings.items)) {
      await this.ignore404(this.net.deleteNamespacedIngress({ name, namespace }));
    }
    for (const name of gone("PersistentVolumeClaim", pvcs.items)) {
      await this.ignore404(this.core.deleteNamespacedPersistentVolumeClaim({ name, namespace }));
    }
  }

  private async ignore404<T>(p: Promise<T>): Promise<void> {
    try {
      await p;
    } catch (e) {
      if (httpCode(e) !== 404) throw e;
    }
  }

  /**
   * Server-side apply (forced, our field manager). A namespace still terminating is a
   * `NamespaceTerminating` (deploy waits and starts over); a NodePort taken is passed on as it is
   * (deploy retries); other refusals become a `KubernetesApiError`.
   */
  private async apply(o: KubeObject): Promise<void> {
    const what = `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ""}${o.metadata.name}`;
    try {
      await this.objs.patch(
        o as k8s.KubernetesObject,
        undefined,
        undefined,
        this.fieldManager,
        true,
        k8s.PatchStrategy.ServerSideApply,
      );
    } catch (e) {
      const code = httpCode(e);
      const msg = apiMessage(e);
      if ((code === 403 || code === 409) && /is being terminated|is terminating/.test(msg)) {
        throw new NamespaceTerminating(msg);
      }
      if (code === 422 && /port.*already allocated/i.test(msg)) throw e;
      if (code !== undefined) throw new KubernetesApiError(code, what, msg);
      throw e;
    }
  }

  private teardownTimeout(): number {
    return this.opts.teardownTimeoutMs ?? 120_000;
  }

  teardown(leaseId: string): Promise<void> {
    return this.perLease(leaseId, async () => {
      const name = leaseNamespace(leaseId);
      await this.ignore404(this.core.deleteNamespace({ name }));
      await this.locked(async () => (await this.allocator()).release(leaseId));
      this.knownLeases.delete(leaseId);
      await this.waitNamespaceGone(name, this.teardownTimeout());
    });
  }

  /** Resolve when the namespace no longer exists (a watch on it), or throw after `timeoutMs`. */
  async waitNamespaceGone(name: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const fieldSelector = `metadata.name=${name}`;
    while (true) {
      const list = await this.core.listNamespace({ fieldSelector });
      if ((list.items ?? []).length === 0) return;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`namespace ${name} still exists after ${Math.round(timeoutMs / 1000)} s`);
      }
      const ok = await this.watchUntil(
        "/api/v1/namespaces",
        { fieldSelector, resourceVersion: list.metadata?.resourceVersion },
        (phase) => phase === "DELETED" || phase === "ERROR",
        left,
      );
      if (!ok) await sleep(50); // the watch ended early: list and watch again
    }
  }

  /**
   * Watch `path` until `done(phase, obj)` says so, the watch ends (true/false: ended by `done`), or
   * `timeoutMs` passes. The caller re-lists when it ends early (watches are closed by servers).
   */
  private async watchUntil(
    path: string,
    query: Record<string, string | number | boolean | undefined>,
    done: (phase: string, obj: Json) => boolean,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<boolean> {
    let finish!: (v: boolean) => void;
    const result = new Promise<boolean>((r) => (finish = r));
    const timer = setTimeout(() => finish(false), Math.max(0, timeoutMs));
    const onAbort = () => finish(false);
    signal?.addEventListener("abort", onAbort, { once: true });
    let ctl: AbortController | undefined;
    let over = false;
    // not awaited on its own: the timer bounds the wait even if the watch request never answers
    new k8s.Watch(this.kc).watch(
      path,
      { ...query, allowWatchBookmarks: true, timeoutSeconds: Math.max(1, Math.ceil(timeoutMs / 1000)) },
      (phase, obj) => {
        if (phase !== "BOOKMARK" && done(phase, obj)) finish(true);
      },
      () => finish(false),
    ).then((c) => {
      ctl = c;
      if (over) c.abort();
    }, () => finish(false));
    try {
      return await result;
    } finally {
      over = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      ctl?.abort();
    }
  }

  /**
   * Resolve when every Deployment of these leases has its replicas ready (one watch on the managed
   * Deployments of the cluster); throw after `timeoutMs` naming what is not ready.
   */
  async waitReady(
    leaseIds: string[],
    opts: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<void> {
    const timeoutMs = opts.timeoutMs ?? 120_000;
    const deadline = Date.now() + timeoutMs;
    const nsOf = new Map(leaseIds.map((id) => [leaseNamespace(id), id]));
    // namespace -> deployment -> ready
    const state = new Map<string, Map<string, boolean>>();
    const note = (d: k8s.V1Deployment, deleted = false) => {
      const ns = d.metadata?.namespace ?? "";
      if (!nsOf.has(ns)) return;
      let m = state.get(ns);
      if (!m) state.set(ns, m = new Map());
      if (deleted) m.delete(d.metadata?.name ?? "");
      else m.set(d.metadata?.name ?? "", deploymentReady(d));
    };
    const notReady = () => {
      const out: string[] = [];
      for (const ns of nsOf.keys()) {
        const m = state.get(ns);
        if (!m || m.size === 0) out.push(`${nsOf.get(ns)} (no deployments)`);
        else for (const [name, ok] of m) if (!ok) out.push(`${nsOf.get(ns)} ${name}`);
      }
      return out;
    };
    while (true) {
      state.clear();
      const list = await this.apps.listDeploymentForAllNamespaces({ labelSelector: MANAGED });
      for (const d of list.items ?? []) note(d);
      if (notReady().length === 0) return;
      const left = deadline - Date.now();
      if (left <= 0 || opts.signal?.aborted) {
        const nr = notReady();
        throw new Error(
          `not ready after ${Math.round(timeoutMs / 1000)} s: ${nr.slice(0, 5).join(", ")}${
            nr.length > 5 ? ` and ${nr.length - 5} more` : ""
          }`,
        );
      }
      const ok = await this.watchUntil(
        "/apis/apps/v1/deployments",
        { labelSelector: MANAGED, resourceVersion: list.metadata?.resourceVersion },
        (phase, obj) => {
          if (phase === "ERROR") return true; // e.g. 410 Gone: list again
          note(obj as k8s.V1Deployment, phase === "DELETED");
          return notReady().length === 0;
        },
        left,
        opts.signal,
      );
      if (ok && notReady().length === 0) return;
      if (!ok) await sleep(50); // the watch ended early: list and watch again
    }
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

  /** Logs of the lease's containers (kubernetes_logs.ts). */
  logs(leaseId: string, opts: LogOptions = {}): AsyncIterable<string> {
    return leaseLogs(this.core, this.kc, leaseId, opts);
  }
}
