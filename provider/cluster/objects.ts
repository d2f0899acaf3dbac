/**
 * Workloads as Kubernetes objects (pure): one Namespace per lease, one Deployment per service, one
 * Service per exposed port. The kubernetes driver sends these to a cluster; the podman driver writes
 * the same objects as YAML for `podman kube play`.
 *
 * - Namespace: `l-` + 30 hex digits of sha256(lease id) (deterministic, DNS-1123, 32 chars), labels
 *   `cirrus.network/{owner,dseq,gseq,oseq,provider}` and the full lease id as an annotation.
 * - Deployment `<service>`: replicas = count; image, command, args, env; requests = limits for cpu
 *   (millicores), memory (bytes), ephemeral-storage (sum of all volumes but `ram` ones: every volume is
 *   an emptyDir or the root filesystem, which Kubernetes counts as ephemeral storage),
 *   `nvidia.com/gpu` / `amd.com/gpu` (vendor of the first gpu attribute, nvidia when none).
 *   Volumes with a mount become `emptyDir`s with a size limit (ram: `medium: Memory`). Persistent
 *   volumes are emptyDirs too for now (no PersistentVolumeClaims yet: they do not outlive the pod).
 * - Unprivileged: `allowPrivilegeEscalation: false`, `privileged: false`, the runtime's default
 *   capabilities less NET_RAW, MKNOD and AUDIT_WRITE (images whose entrypoints chown or change user,
 *   like postgres, need CHOWN, SETUID, SETGID...), no service account token, no service links.
 *   `runAsNonRoot` is NOT set: most tenant images (busybox included) run as uid 0. The sysctl `net.ipv4.ip_unprivileged_port_start=0`
 *   (a "safe" sysctl in Kubernetes, namespaced to the pod) lets such a process still bind port 80.
 * - Service `<service>-<port>[-udp]` per exposed port: global exposes are `NodePort` with nodePort =
 *   the allocated host port, and the container port gets `hostPort` = the same port (what Podman
 *   publishes; `containerHostPorts: false` leaves it out); others are `ClusterIP` with port = `as`
 *   (or port), targetPort = port.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import type { ManifestExpose, ManifestGroup, ManifestService } from "../../auction/sdl/types.ts";
import { type LeaseId, leaseIdOf } from "../../lib/ids.ts";

/** The on-chain id of a lease (`lib/ids.ts`: format with `leaseIdOf`, parse with `parseLeaseId`). */
export type { LeaseId };

/** A Kubernetes object as plain JSON (what `kubectl apply` / `podman kube play` read). */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [k: string]: unknown;
  };
  // deno-lint-ignore no-explicit-any
  spec?: any;
  [k: string]: unknown;
}

export const LABEL_PREFIX = "cirrus.network";
export const LABEL_MANAGED = `${LABEL_PREFIX}/managed`;
export const LABEL_NAMESPACE = `${LABEL_PREFIX}/namespace`;
export const LABEL_SERVICE = `${LABEL_PREFIX}/service`;
export const ANNOTATION_LEASE_ID = `${LABEL_PREFIX}/lease-id`;

/** Resource totals: cpu millicores, memory bytes, storage bytes, gpu units. */
export interface Resources {
  cpu: number;
  memory: number;
  storage: number;
  gpu: number;
}

/** The namespace of a lease: `l-` + 30 hex digits of sha256(lease id). */
export function leaseNamespace(lease: LeaseId | string): string {
  const key = typeof lease === "string" ? lease : leaseIdOf(lease);
  return "l-" + bytesToHex(sha256(new TextEncoder().encode(key))).slice(0, 30);
}

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** A valid label value: the value itself, or `h-` + a hash when it is too long or has odd characters. */
export function labelValue(v: string): string {
  if (v.length <= 63 && LABEL_VALUE.test(v)) return v;
  return "h-" + bytesToHex(sha256(new TextEncoder().encode(v))).slice(0, 40);
}

/** The labels of every object of a lease. */
export function leaseLabels(lease: LeaseId): Record<string, string> {
  return {
    [LABEL_MANAGED]: "true",
    [`${LABEL_PREFIX}/owner`]: labelValue(lease.owner),
    [`${LABEL_PREFIX}/dseq`]: labelValue(String(lease.dseq)),
    [`${LABEL_PREFIX}/gseq`]: String(lease.gseq),
    [`${LABEL_PREFIX}/oseq`]: String(lease.oseq),
    [`${LABEL_PREFIX}/provider`]: labelValue(lease.provider),
    [LABEL_NAMESPACE]: leaseNamespace(lease),
  };
}

/** Key of one exposed port in host-port maps: `service:port/proto`. */
export function hostPortKey(service: string, port: number, proto: string): string {
  return `${service}:${port}/${proto}`;
}

/** One exposed port of a service, merged over its `to` entries. */
export interface PortSpec {
  port: number;
  /** external port (`as`, or port) */
  external: number;
  proto: "tcp" | "udp";
  global: boolean;
}

/** The distinct (port, proto) pairs a service exposes; global when any of its entries is global. */
export function servicePorts(svc: ManifestService): PortSpec[] {
  const out = new Map<string, PortSpec>();
  for (const x of svc.expose as ManifestExpose[]) {
    const k = `${x.port}/${x.proto}`;
    const prev = out.get(k);
    const external = x.externalPort || x.port;
    if (prev) prev.global ||= x.global;
    else out.set(k, { port: x.port, external, proto: x.proto, global: x.global });
  }
  return [...out.values()];
}

/** The host ports a group needs: keys (`hostPortKey`) of its global exposes, in manifest order. */
export function globalPortKeys(group: ManifestGroup): string[] {
  const keys: string[] = [];
  for (const svc of group.services) {
    for (const p of servicePorts(svc)) if (p.global) keys.push(hostPortKey(svc.name, p.port, p.proto));
  }
  return keys;
}

/** What a whole group uses (per-replica resources x count). Storage counts every volume. */
export function groupResources(group: ManifestGroup): Resources {
  const r: Resources = { cpu: 0, memory: 0, storage: 0, gpu: 0 };
  for (const s of group.services) {
    r.cpu += s.resources.cpu * s.count;
    r.memory += s.resources.memory * s.count;
    r.storage += s.resources.storage.reduce((a, v) => a + v.size, 0) * s.count;
    r.gpu += s.resources.gpu.units * s.count;
  }
  return r;
}

function gpuResourceName(svc: ManifestService): string {
  const vendor = svc.resources.gpu.attributes[0]?.vendor ?? "nvidia";
  return vendor === "amd" ? "amd.com/gpu" : "nvidia.com/gpu";
}

/** A DNS-1123 label from a free name (service names are already valid; this guards the rest). */
export function dnsLabel(name: string): string {
  const s = name.toLowerCase().replace(/[^a-z0-9-]/g, "-").replace(/^-+|-+$/g, "");
  if (s.length > 0 && s.length <= 63 && s === name) return s;
  const h = bytesToHex(sha256(new TextEncoder().encode(name))).slice(0, 8);
  return `${(s || "x").slice(0, 54).replace(/-+$/, "")}-${h}`;
}

/** The Service name of one exposed port: `<service>-<port>` (`-udp` appended for udp). */
export function serviceObjectName(service: string, port: number, proto: string): string {
  const base = `${dnsLabel(service)}-${port}${proto === "udp" ? "-udp" : ""}`;
  return /^[a-z]/.test(base) ? base : `s-${base}`;
}

export interface LeaseObjectsOptions {
  /** Host port per global expose (keys from `hostPortKey`), or a function that allocates them. */
  hostPorts: Map<string, number> | ((key: string) => number);
  /**
   * Put `hostPort` on the container ports of global exposes (default true: what `podman kube play`
   * publishes). The kubernetes driver turns it off: there the NodePort Service is the way in, and a
   * hostPort would also allow only one replica per node.
   */
  containerHostPorts?: boolean;
}

export interface LeaseObjects {
  namespace: string;
  /** Namespace first, then per service (sorted by name): its Deployment and its Services. */
  objects: KubeObject[];
}

function splitEnv(e: string): { name: string; value: string } {
  const i = e.indexOf("=");
  return i < 0 ? { name: e, value: "" } : { name: e.slice(0, i), value: e.slice(i + 1) };
}

/** The Kubernetes objects of one lease's group. Pure: same inputs, same objects. */
export function leaseObjects(lease: LeaseId, group: ManifestGroup, opts: LeaseObjectsOptions): LeaseObjects {
  const namespace = leaseNamespace(lease);
  const labels = leaseLabels(lease);
  const hostPort = (key: string): number => {
    const p = typeof opts.hostPorts === "function" ? opts.hostPorts(key) : opts.hostPorts.get(key);
    if (p === undefined || !Number.isInteger(p) || p < 1 || p > 65535) {
      throw new Error(`no host port for ${key}`);
    }
    return p;
  };
  const objects: KubeObject[] = [{
    apiVersion: "v1",
    kind: "Namespace",
    metadata: {
      name: namespace,
      labels: { ...labels },
      annotations: { [ANNOTATION_LEASE_ID]: leaseIdOf(lease) },
    },
  }];
  const services = [...group.services].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const svc of services) {
    const name = dnsLabel(svc.name);
    const podLabels = { ...labels, [LABEL_SERVICE]: name };
    const ports = servicePorts(svc);
    const res = svc.resources;
    // emptyDir volumes on disk count against ephemeral-storage in Kubernetes: so they are in it
    const ephemeral = res.storage.filter((v) => v.class !== "ram").reduce((a, v) => a + v.size, 0);
    const quantities: Record<string, string> = {
      cpu: `${res.cpu}m`,
      memory: String(res.memory),
    };
    if (ephemeral > 0) quantities["ephemeral-storage"] = String(ephemeral);
    if (res.gpu.units > 0) quantities[gpuResourceName(svc)] = String(res.gpu.units);

    const volumes: unknown[] = [];
    const mounts: unknown[] = [];
    for (const p of svc.params.storage) {
      const vol = res.storage.find((v) => v.name === p.name);
      if (!vol) continue;
      const volName = dnsLabel(`vol-${p.name}`);
      volumes.push({
        name: volName,
        emptyDir: vol.class === "ram"
          ? { medium: "Memory", sizeLimit: String(vol.size) }
          : { sizeLimit: String(vol.size) },
      });
      mounts.push({ name: volName, mountPath: p.mount, readOnly: p.readOnly });
    }

    const container: Record<string, unknown> = {
      name,
      image: svc.image,
      imagePullPolicy: "IfNotPresent",
    };
    if (svc.command.length > 0) container.command = [...svc.command];
    if (svc.args.length > 0) container.args = [...svc.args];
    if (svc.env.length > 0) container.env = svc.env.map(splitEnv);
    if (ports.length > 0) {
      container.ports = ports.map((p) => {
        const cp: Record<string, unknown> = { containerPort: p.port, protocol: p.proto.toUpperCase() };
        if (p.global && opts.containerHostPorts !== false) {
          cp.hostPort = hostPort(hostPortKey(svc.name, p.port, p.proto));
        }
        return cp;
      });
    }
    container.resources = { requests: { ...quantities }, limits: { ...quantities } };
    if (mounts.length > 0) container.volumeMounts = mounts;
    container.securityContext = {
      allowPrivilegeEscalation: false,
      privileged: false,
      // The runtime's default set (what postgres, nginx... need to chown and change user), less the
      // ones containerd keeps and podman does not: both runtimes then grant the same.
      capabilities: { drop: ["NET_RAW", "MKNOD", "AUDIT_WRITE"] },
    };

    const podSpec: Record<string, unknown> = {
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      securityContext: { sysctls: [{ name: "net.ipv4.ip_unprivileged_port_start", value: "0" }] },
      containers: [container],
    };
    if (volumes.length > 0) podSpec.volumes = volumes;

    objects.push({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name, namespace, labels: { ...podLabels } },
      spec: {
        replicas: svc.count,
        selector: { matchLabels: { [LABEL_SERVICE]: name } },
        strategy: { type: "RollingUpdate" },
        template: { metadata: { labels: { ...podLabels } }, spec: podSpec },
      },
    });

    for (const p of ports) {
      const sp: Record<string, unknown> = {
        name: `${p.proto}-${p.port}`,
        port: p.external,
        targetPort: p.port,
        protocol: p.proto.toUpperCase(),
      };
      if (p.global) sp.nodePort = hostPort(hostPortKey(svc.name, p.port, p.proto));
      objects.push({
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: serviceObjectName(svc.name, p.port, p.proto), namespace, labels: { ...podLabels } },
        spec: {
          type: p.global ? "NodePort" : "ClusterIP",
          selector: { [LABEL_SERVICE]: name },
          ports: [sp],
        },
      });
    }
  }
  return { namespace, objects };
}
