/**
 * `podman` driver: the lease's Kubernetes objects (objects.ts) written as YAML, one file per service,
 * run with `podman kube play` and removed with `podman kube down`; status from `podman pod inspect`
 * and `podman container inspect`; logs from `podman logs`.
 *
 * Every podman call gets `CONTAINERS_CONF` (podman_run.ts: `runPodman`, `spawnPodman`); the example
 * image is built by podman_image.ts. Both are re-exported here.
 *
 * State dir: `ports.json` (host-port allocator), `leases/<namespace>/lease.json` (lease id, the
 * manifest group, per-service errors) and `leases/<namespace>/<service>.yaml` (what was played).
 *
 * Podman adaptations of the same objects: podman has no namespaces, so a Deployment is played as
 * `<namespace>-<service>` (its pods: `<namespace>-<service>-pod-<i>`); Services are written but podman
 * ignores them (the container's `hostPort` is what it publishes). Podman runs every replica of a
 * Deployment as its own pod on one host, where two pods cannot hold one host port: a service with
 * a global expose and count > 1 becomes `<ns>-<service>` (1 replica, with the host ports) and
 * `<ns>-<service>-r` (count - 1 replicas, no host ports). A redeploy is `kube down` + `kube play`
 * per service (a short gap, not a rolling update). Every pod of a lease joins the lease's own isolated
 * network under its service's SDL name (podman_network.ts): services reach each other as
 * `<service>:<port>`, other leases cannot reach them. Image names are played fully qualified
 * (`normalizeImageName`: `drupal` -> `docker.io/library/drupal:latest`), as a Kubernetes node reads
 * them, never as podman's short names; a service with SDL `credentials` has its image pulled with them
 * first (podman_pull.ts: a temporary auth file, removed after the pull). A `persistent: true` volume (class other than `ram`) is a named
 * Podman volume of the lease (podman_volume.ts), labelled with it: it outlives container restarts,
 * redeploys and provider restarts, and teardown removes it.
 */
import { stringify } from "yaml";
import { dirname, join } from "node:path";
import type { ManifestGroup } from "../../auction/sdl/types.ts";
import {
  allocateGroupPorts,
  type Attached,
  type AttachOptions,
  type Capacity,
  type ClusterDriver,
  type ContainerLog,
  DEFAULT_HOST_PORT_RANGE,
  type ExecOptions,
  type ExecResult,
  HostPortAllocator,
  type LeaseStatus,
  type LogOptions,
  type LogPosition,
  NotFoundError,
  type ServiceStatus,
} from "./driver.ts";
import {
  dnsLabel,
  groupResources,
  hostPortKey,
  type KubeObject,
  LABEL_MANAGED,
  LABEL_NAMESPACE,
  LABEL_PREFIX,
  LABEL_SERVICE,
  labelValue,
  leaseNamespace,
  leaseObjects,
  type Resources,
  servicePorts,
} from "./objects.ts";
import { type LeaseId, leaseIdOf } from "../../lib/ids.ts";
import { normalizeImageName } from "../image_name.ts";
import { ensureLeaseNetwork, removeLeaseNetwork, serviceNetworkArg } from "./podman_network.ts";
import { attachInLease, execInLease } from "./podman_exec.ts";
import { podmanLogsSince } from "./podman_logs.ts";
import { pullWithCredentials } from "./podman_pull.ts";
import {
  ensureLeaseVolumes,
  leaseVolumeName,
  managedVolumeLabels,
  removeLeaseVolumes,
} from "./podman_volume.ts";
import {
  type PodmanOptions,
  processLines,
  runPodman,
  type RunResult,
  spawnPodman,
  spawnPodmanInteractive,
} from "./podman_run.ts";
import { BUSYBOX_IMAGE, ensureBusyboxImage, exists } from "./podman_image.ts";

export {
  podmanAvailable,
  type PodmanOptions,
  PROJECT_CONTAINERS_CONF,
  runPodman,
  type RunResult,
} from "./podman_run.ts";
export { BUSYBOX_IMAGE, ensureBusyboxImage } from "./podman_image.ts";

export interface PodmanDriverOptions extends PodmanOptions {
  /** where YAML files and driver state live */
  stateDir: string;
  hostPortRange?: { min: number; max: number };
  /** host in status uris (default 127.0.0.1) */
  publicHost?: string;
  /** override the probed total capacity */
  capacity?: Resources;
  /** build localhost/busybox:latest on first deploy (default true) */
  buildExampleImage?: boolean;
  /** timeout of one `kube play` (default 180 s) */
  playTimeoutMs?: number;
  /** seconds a container gets between SIGTERM and SIGKILL on teardown/redeploy (default 1) */
  stopTimeoutSeconds?: number;
  /** registries (`host[:port]`) pulled from without TLS verification (a local test registry) */
  insecureRegistries?: string[];
  /**
   * The provider's address. Pods found without state in `stateDir` (the state was lost) are adopted
   * only when their lease names this provider; without it they are never adopted, so a driver never
   * lists, reconciles away or tears down the pods of another provider (or test) on the same machine.
   */
  provider?: string;
}

interface LeaseState {
  leaseId: string;
  lease: { owner: string; dseq: string; gseq: number; oseq: number; provider: string };
  group: ManifestGroup;
  /** service -> failure recorded at deploy (`failed: image not found`, ...) */
  errors: Record<string, { state: string; message: string }>;
  /** YAML files played, relative to the lease dir */
  files: string[];
}

// deno-lint-ignore no-explicit-any
type Json = any;

/** A `kube play` failure as a status state. */
export function classifyPlayError(stderr: string, image: string): { state: string; message: string } {
  const lines = stderr.trim().split("\n").filter((l) => l.trim() !== "");
  const last = lines.filter((l) => !/level=warning/.test(l)).pop() ?? lines.pop() ?? "kube play failed";
  const message = last.replace(/^Error:\s*/, "").slice(0, 500);
  if (
    /initializing source|pinging container registry|manifest unknown|image not known|unable to pull|pull access denied|repository .* not found|no such image|short-name/i
      .test(stderr)
  ) {
    return { state: "failed: image not found", message: `${image}: ${message}` };
  }
  if (/address already in use/i.test(stderr)) return { state: "failed: host port in use", message };
  return { state: "failed: could not start", message };
}

function canBind(port: number): boolean {
  try {
    Deno.listen({ hostname: "0.0.0.0", port, transport: "tcp" }).close();
    return true;
  } catch {
    return false;
  }
}

export class PodmanDriver implements ClusterDriver {
  readonly kind = "podman" as const;
  private ports: HostPortAllocator | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private imageChecked = false;
  readonly publicHost: string;

  constructor(readonly opts: PodmanDriverOptions) {
    this.publicHost = opts.publicHost ?? "127.0.0.1";
  }

  /** Serialize deploys/teardowns (they share the allocator and the state files). */
  private locked<T>(f: () => Promise<T>): Promise<T> {
    const run = this.chain.then(f, f);
    this.chain = run.catch(() => {});
    return run;
  }

  private leaseDir(ns: string): string {
    return join(this.opts.stateDir, "leases", ns);
  }

  private async allocator(): Promise<HostPortAllocator> {
    if (this.ports) return this.ports;
    let state: Record<string, Record<string, number>> | undefined;
    try {
      state = JSON.parse(await Deno.readTextFile(join(this.opts.stateDir, "ports.json")));
    } catch { /* none yet */ }
    this.ports = new HostPortAllocator(this.opts.hostPortRange ?? DEFAULT_HOST_PORT_RANGE, state);
    return this.ports;
  }

  private async savePorts(): Promise<void> {
    const p = join(this.opts.stateDir, "ports.json");
    await Deno.mkdir(dirname(p), { recursive: true });
    await Deno.writeTextFile(p + ".tmp", JSON.stringify(this.ports!.toJSON(), null, 1));
    await Deno.rename(p + ".tmp", p);
  }

  private async readState(ns: string): Promise<LeaseState | undefined> {
    try {
      return JSON.parse(await Deno.readTextFile(join(this.leaseDir(ns), "lease.json")));
    } catch {
      return undefined;
    }
  }

  private async writeState(ns: string, s: LeaseState): Promise<void> {
    const dir = this.leaseDir(ns);
    await Deno.mkdir(dir, { recursive: true });
    // the manifest group may hold registry credentials: readable by the provider only
    await Deno.writeTextFile(join(dir, "lease.json.tmp"), JSON.stringify(s, null, 1), { mode: 0o600 });
    await Deno.rename(join(dir, "lease.json.tmp"), join(dir, "lease.json"));
  }

  private podman(args: string[], timeoutMs?: number): Promise<RunResult> {
    return runPodman(this.opts, args, timeoutMs);
  }

  async probeCapacity(): Promise<Capacity> {
    let total: Resources;
    if (this.opts.capacity) total = { ...this.opts.capacity };
    else {
      const r = await this.podman(["info", "--format", "json"]);
      if (r.code !== 0) throw new Error(`podman info failed: ${r.stderr.trim()}`);
      const info: Json = JSON.parse(r.stdout);
      total = {
        cpu: Number(info.host?.cpus ?? 0) * 1000,
        memory: Number(info.host?.memTotal ?? 0),
        storage: Math.max(
          0,
          Number(info.store?.graphRootAllocated ?? 0) - Number(info.store?.graphRootUsed ?? 0),
        ),
        gpu: 0,
      };
    }
    const used: Resources = { cpu: 0, memory: 0, storage: 0, gpu: 0 };
    for (const id of await this.stateLeases()) {
      const s = await this.readState(leaseNamespace(id));
      if (!s) continue;
      const g = groupResources(s.group);
      used.cpu += g.cpu;
      used.memory += g.memory;
      used.storage += g.storage;
      used.gpu += g.gpu;
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

  /** The podman form of a service's objects (see the module doc). */
  private podmanDocs(ns: string, svcName: string, objects: KubeObject[]): KubeObject[] {
    const name = dnsLabel(svcName);
    const nsObj = objects.find((o) => o.kind === "Namespace")!;
    const mine = objects.filter((o) => o.kind !== "Namespace" && o.metadata.labels?.[LABEL_SERVICE] === name);
    const out: KubeObject[] = [nsObj];
    for (const o of mine) {
      // no Ingress controller here; a claim is a named podman volume of the lease (podman_volume.ts)
      // pull credentials: the driver pulls with them before the play (podman_pull.ts)
      if (o.kind === "Ingress" || o.kind === "PersistentVolumeClaim" || o.kind === "Secret") continue;
      if (o.kind !== "Deployment") {
        out.push(o);
        continue;
      }
      const d: KubeObject = structuredClone(o);
      d.metadata.name = `${ns}-${name}`;
      delete d.spec.template.spec.imagePullSecrets;
      for (const v of d.spec.template.spec.volumes ?? []) {
        if (v.persistentVolumeClaim) {
          v.persistentVolumeClaim.claimName = leaseVolumeName(ns, v.persistentVolumeClaim.claimName);
        }
      }
      const containers: Json[] = d.spec.template.spec.containers;
      const hasHostPort = containers.some((c) => (c.ports ?? []).some((p: Json) => p.hostPort !== undefined));
      const replicas: number = d.spec.replicas;
      if (hasHostPort && replicas > 1) {
        d.spec.replicas = 1;
        const rest: KubeObject = structuredClone(d);
        rest.metadata.name = `${ns}-${name}-r`;
        rest.spec.replicas = replicas - 1;
        for (const c of rest.spec.template.spec.containers) {
          for (const p of c.ports ?? []) delete p.hostPort;
        }
        out.push(d, rest);
      } else out.push(d);
    }
    return out;
  }

  deploy(lease: LeaseId, group: ManifestGroup): Promise<void> {
    return this.locked(async () => {
      if (this.opts.buildExampleImage !== false && !this.imageChecked) {
        if (group.services.some((s) => normalizeImageName(s.image) === BUSYBOX_IMAGE)) {
          await ensureBusyboxImage(this.opts);
          this.imageChecked = true;
        }
      }
      const id = leaseIdOf(lease);
      const ns = leaseNamespace(lease);
      const dir = this.leaseDir(ns);
      await Deno.mkdir(dir, { recursive: true });
      const alloc = await this.allocator();
      const old = await this.readState(ns);
      const oldPorts = alloc.get(id);
      const ports = allocateGroupPorts(
        alloc,
        lease,
        group,
        (p) => [...oldPorts.values()].includes(p) || canBind(p),
      );
      await this.savePorts();
      // Images by their full names (`drupal` -> docker.io/library/drupal:latest), as a cluster reads them.
      const played: ManifestGroup = {
        ...group,
        services: group.services.map((svc) => ({ ...svc, image: normalizeImageName(svc.image) })),
      };
      const { objects } = leaseObjects(lease, played, { hostPorts: ports });
      const state: LeaseState = {
        leaseId: id,
        lease: {
          owner: lease.owner,
          dseq: String(lease.dseq),
          gseq: lease.gseq,
          oseq: lease.oseq,
          provider: lease.provider,
        },
        group,
        errors: {},
        files: [],
      };
      // Roll: take the old version down (all of it: services may have been renamed or removed).
      await this.removePods(ns);
      if (old) { for (const f of old.files) await this.kubeDown(join(dir, f)); }
      await this.writeState(ns, state);
      await ensureLeaseNetwork((a) => this.podman(a), ns);
      await ensureLeaseVolumes(
        (a) => this.podman(a),
        ns,
        objects.filter((o) => o.kind === "PersistentVolumeClaim"),
      );
      for (const svc of group.services) {
        const file = `${dnsLabel(svc.name)}.yaml`;
        const path = join(dir, file);
        const docs = this.podmanDocs(ns, svc.name, objects);
        await Deno.writeTextFile(path, docs.map((d) => stringify(d, { lineWidth: 0 })).join("---\n"));
        state.files.push(file);
        await this.writeState(ns, state);
        if (svc.credentials) {
          const image = normalizeImageName(svc.image);
          const pulled = await pullWithCredentials(
            (a) => this.podman(a),
            image,
            svc.credentials,
            this.opts.insecureRegistries,
          );
          if (pulled.code !== 0) {
            state.errors[svc.name] = classifyPlayError(pulled.stderr, svc.image);
            continue;
          }
        }
        const r = await this.podman(
          ["kube", "play", "--replace", "--network", serviceNetworkArg(ns, svc.name), path],
          this.opts.playTimeoutMs ?? 180_000,
        );
        if (r.code !== 0) {
          state.errors[svc.name] = classifyPlayError(r.stderr, svc.image);
          // a failed play can leave half a pod (infra without the app container): remove it
          await this.kubeDown(path);
        }
      }
      await this.writeState(ns, state);
    });
  }

  private async kubeDown(path: string): Promise<void> {
    if (!(await exists(path))) return;
    await this.podman(["kube", "down", path]);
  }

  /**
   * Remove every pod labelled with the namespace: SIGTERM, SIGKILL after `stopTimeoutSeconds`
   * (`kube down` has no timeout and takes ~3.5 s for a PID 1 that ignores SIGTERM, like busybox httpd).
   */
  private async removePods(ns: string): Promise<void> {
    const r = await this.podman(["pod", "ps", "-q", "--filter", `label=${LABEL_NAMESPACE}=${ns}`]);
    const ids = r.stdout.split("\n").map((s) => s.trim()).filter(Boolean);
    if (ids.length === 0) return;
    // stop first: `pod rm -f` alone takes ~3 s more after the containers are dead
    await this.podman(["pod", "stop", "-t", String(this.opts.stopTimeoutSeconds ?? 1), ...ids]);
    await this.podman(["pod", "rm", "-f", ...ids]);
  }

  teardown(leaseId: string): Promise<void> {
    return this.locked(async () => {
      const ns = leaseNamespace(leaseId);
      const dir = this.leaseDir(ns);
      const s = await this.readState(ns);
      await this.removePods(ns);
      for (const f of s?.files ?? []) await this.kubeDown(join(dir, f));
      await removeLeaseNetwork((a) => this.podman(a), ns);
      await removeLeaseVolumes((a) => this.podman(a), ns);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      const alloc = await this.allocator();
      alloc.release(leaseId);
      await this.savePorts();
    });
  }

  private async stateLeases(): Promise<string[]> {
    const out: string[] = [];
    try {
      for await (const e of Deno.readDir(join(this.opts.stateDir, "leases"))) {
        if (!e.isDirectory) continue;
        const s = await this.readState(e.name);
        if (s) out.push(s.leaseId);
      }
    } catch { /* no state dir yet */ }
    return out;
  }

  /** Pods of cirrus leases: id, name, labels. */
  private async pods(
    filter: string[] = [],
  ): Promise<{ Id: string; Name: string; Labels: Record<string, string> }[]> {
    const args = ["pod", "ps", "--format", "json", "--filter", `label=${LABEL_MANAGED}=true`];
    for (const f of filter) args.push("--filter", `label=${f}`);
    const r = await this.podman(args);
    if (r.code !== 0) throw new Error(`podman pod ps failed: ${r.stderr.trim()}`);
    return JSON.parse(r.stdout || "[]") ?? [];
  }

  /**
   * Leases with pods (any state), and leases whose every service failed at deploy (their workload is
   * that failure). A lease with state but no pod (pods removed, host rebooted) is not listed: for
   * reconcile its workload is missing.
   */
  async list(): Promise<string[]> {
    const ids = new Set<string>();
    const byNs = new Map<string, string>();
    for (const id of await this.stateLeases()) {
      byNs.set(leaseNamespace(id), id);
      const s = await this.readState(leaseNamespace(id));
      if (s && s.group.services.length > 0 && s.group.services.every((svc) => s.errors[svc.name])) {
        ids.add(id);
      }
    }
    for (const p of await this.pods()) {
      const l = p.Labels ?? {};
      const known = byNs.get(l[LABEL_NAMESPACE] ?? "");
      if (known) {
        ids.add(known);
        continue;
      }
      // pods without state (state dir lost): the lease id from their labels when they hold it whole,
      // and only for leases of this provider
      const id = this.ownLeaseOf(l);
      if (id) ids.add(id);
    }
    return [...ids].sort();
  }

  /**
   * The lease id named by a pod's or volume's labels when they hold it whole and the lease is this
   * provider's (undefined otherwise: a driver never adopts what another provider on the host runs).
   */
  private ownLeaseOf(l: Record<string, string>): string | undefined {
    if (!this.opts.provider || l[`${LABEL_PREFIX}/provider`] !== labelValue(this.opts.provider)) {
      return undefined;
    }
    const id = ["owner", "dseq", "gseq", "oseq", "provider"].map((k) => l[`${LABEL_PREFIX}/${k}`]).join("/");
    try {
      return leaseNamespace(id) === l[LABEL_NAMESPACE] ? id : undefined;
    } catch {
      return undefined; // hashed labels: cannot name it
    }
  }

  /** Leases with pods, state files or volumes (volumes: of this provider's leases, by their labels). */
  async known(): Promise<string[]> {
    const ids = new Set([...(await this.list()), ...(await this.stateLeases())]);
    for (const l of await managedVolumeLabels((a) => this.podman(a))) {
      const id = this.ownLeaseOf(l);
      if (id) ids.add(id);
    }
    return [...ids].sort();
  }

  async status(leaseId: string): Promise<LeaseStatus> {
    const ns = leaseNamespace(leaseId);
    const s = await this.readState(ns);
    if (!s) throw new NotFoundError(`lease ${leaseId}`);
    const ports = (await this.allocator()).get(leaseId);
    // pods -> pod inspect (containers) -> container inspect (exit codes, restarts)
    const pods = await this.pods([`${LABEL_NAMESPACE}=${ns}`]);
    const podInfo: Json[] = [];
    for (const p of pods) {
      const r = await this.podman(["pod", "inspect", p.Id]);
      if (r.code !== 0) continue; // went away meanwhile
      const j = JSON.parse(r.stdout);
      podInfo.push(Array.isArray(j) ? j[0] : j);
    }
    const ctrIds: string[] = [];
    for (const p of podInfo) {
      for (const c of p.Containers ?? []) if (c.Id !== p.InfraContainerID) ctrIds.push(c.Id);
    }
    const ctrs = new Map<string, Json>();
    if (ctrIds.length > 0) {
      const r = await this.podman(["container", "inspect", ...ctrIds]);
      if (r.code === 0) { for (const c of JSON.parse(r.stdout) as Json[]) ctrs.set(c.Id, c); }
    }
    const now = Date.now();
    const services: ServiceStatus[] = s.group.services.map((svc) => {
      const name = dnsLabel(svc.name);
      const uris = servicePorts(svc).filter((p) => p.global && p.proto === "tcp").flatMap((p) => {
        const port = ports.get(hostPortKey(svc.name, p.port, p.proto));
        return port === undefined ? [] : [`http://${this.publicHost}:${port}`];
      });
      const base = { name: svc.name, image: svc.image, total: svc.count, uris };
      const err = s.errors[svc.name];
      if (err) return { ...base, ready: 0, state: err.state, message: err.message };
      const mine = podInfo.filter((p) => p.Labels?.[LABEL_SERVICE] === name);
      if (mine.length === 0) return { ...base, ready: 0, state: "missing", message: "no pod" };
      let ready = 0;
      let crash: { code: number; restarts: number; error: string } | undefined;
      for (const p of mine) {
        const cs = (p.Containers ?? []).filter((c: Json) => c.Id !== p.InfraContainerID).map((c: Json) =>
          ctrs.get(c.Id)
        )
          .filter(Boolean);
        let podReady = cs.length > 0;
        for (const c of cs) {
          const st = c.State ?? {};
          const code = Number(st.ExitCode ?? 0);
          const restarts = Number(c.RestartCount ?? 0);
          const startedAgo = now - Date.parse(st.StartedAt ?? "");
          const crashing = code !== 0 && (!st.Running || (restarts > 0 && !(startedAgo > 10_000)));
          if (crashing) crash ??= { code, restarts, error: String(st.Error ?? "") };
          if (!st.Running || crashing) podReady = false;
        }
        if (podReady) ready++;
      }
      if (crash) {
        return {
          ...base,
          ready,
          state: `crashloop: exited with code ${crash.code}`,
          message: `restarts: ${crash.restarts}${crash.error ? `; ${crash.error}` : ""}`,
        };
      }
      return { ...base, ready, state: ready >= svc.count ? "running" : "pending" };
    });
    return { leaseId, namespace: ns, services };
  }

  /** `lease shell`: `podman exec` in a running replica (podman_exec.ts). */
  async exec(leaseId: string, opts: ExecOptions): Promise<ExecResult> {
    const ns = leaseNamespace(leaseId);
    const s = await this.readState(ns);
    if (!s) throw new NotFoundError(`lease ${leaseId}`);
    const runner = {
      run: (a: string[]) => this.podman(a),
      spawn: (a: string[]) => spawnPodman(this.opts, a),
    };
    return await execInLease(runner, ns, s.group, opts);
  }

  /** New log lines of every container of the lease since `positions` (podman_logs.ts). */
  async logsSince(leaseId: string, positions: ReadonlyMap<string, LogPosition>): Promise<ContainerLog[]> {
    const ns = leaseNamespace(leaseId);
    if (!(await this.readState(ns))) throw new NotFoundError(`lease ${leaseId}`);
    return await podmanLogsSince((a) => this.podman(a), ns, positions);
  }

  /** `lease shell` without a command: `podman exec -i [-t]` in a running replica (podman_exec.ts). */
  async attach(leaseId: string, opts: AttachOptions): Promise<Attached> {
    const ns = leaseNamespace(leaseId);
    const s = await this.readState(ns);
    if (!s) throw new NotFoundError(`lease ${leaseId}`);
    const runner = {
      run: (a: string[]) => this.podman(a),
      spawn: (a: string[]) => spawnPodman(this.opts, a),
      spawnInteractive: (a: string[]) => spawnPodmanInteractive(this.opts, a),
    };
    return await attachInLease(runner, ns, s.group, opts);
  }

  async *logs(leaseId: string, opts: LogOptions = {}): AsyncIterable<string> {
    const ns = leaseNamespace(leaseId);
    const s = await this.readState(ns);
    if (!s) throw new NotFoundError(`lease ${leaseId}`);
    const filter = ["ps", "-a", "--format", "{{.Names}}", "--filter", `label=${LABEL_NAMESPACE}=${ns}`];
    if (opts.service) filter.push("--filter", `label=${LABEL_SERVICE}=${dnsLabel(opts.service)}`);
    const r = await this.podman(filter);
    const names = r.stdout.split("\n").map((x) => x.trim()).filter(Boolean).sort();
    if (names.length === 0) return;
    const args = ["logs"];
    if (names.length > 1) args.push("--names");
    if (opts.tail !== undefined) args.push("--tail", String(opts.tail));
    if (opts.follow) args.push("--follow");
    args.push(...names);
    yield* processLines(this.opts, args, opts.signal);
  }
}
