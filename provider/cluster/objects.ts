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
 *   Ephemeral-storage is the root volume plus the mounted volumes that are neither persistent nor ram.
 *   Such volumes become `emptyDir`s with a size limit (ram: `medium: Memory`).
 * - PersistentVolumeClaim `<service>-<volume>` per mounted persistent volume: ReadWriteOnce, the size
 *   asked, `storageClassName` = the SDL class (`default` when none). The Deployment of a service with
 *   claims rolls with `Recreate` (a ReadWriteOnce claim cannot be held by the old and the new pod on
 *   two nodes); its replicas share the claim, so the scheduler puts them on the claim's node.
 * - Secret `<service>-pull` (type `kubernetes.io/dockerconfigjson`) per service with SDL
 *   `credentials`, named in the pod's `imagePullSecrets`: the node pulls the image with them. The
 *   manifest check has made sure their host is the image's registry.
 * - GPU attributes become a required node affinity, one term per attribute (any may match), on the
 *   node labels `cirrus.network/gpu.vendor`, `.model` (unless `*`), `.ram`, `.interface`: a model
 *   asked for lands on a node that has it. The kubernetes driver reads the same labels for inventory.
 * - Env names must be what the API server takes (printable ASCII but `=`; `envNameError`).
 * - Unprivileged: `allowPrivilegeEscalation: false`, `privileged: false`, the runtime's default
 *   capabilities less NET_RAW, MKNOD and AUDIT_WRITE (images whose entrypoints chown or change user,
 *   like postgres, need CHOWN, SETUID, SETGID...), no service account token, no service links.
 *   `runAsNonRoot` is NOT set: most tenant images (busybox included) run as uid 0. The sysctl `net.ipv4.ip_unprivileged_port_start=0`
 *   (a "safe" sysctl in Kubernetes, namespaced to the pod) lets such a process still bind port 80.
 * - Service `<service>-<port>[-udp]` per exposed port: global exposes are `NodePort` with nodePort =
 *   the allocated host port, and the container port gets `hostPort` = the same port (what Podman
 *   publishes; `containerHostPorts: false` leaves it out); others are `ClusterIP` with port = `as`
 *   (or port), targetPort = port. The name is cut (with a hash) to the 63 characters of DNS-1035.
 * - Ingress (same name as the Service) for a global tcp expose with `accept` hostnames: one rule per
 *   host, path `/`, to that Service's port.
 */
import { toBase64 } from "../../lib/crypto.ts";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import type { Credentials, ManifestExpose, ManifestGroup, ManifestService } from "../../auction/sdl/types.ts";
import { credentialsRegistry, DEFAULT_REGISTRY } from "../image_name.ts";
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
  /** `accept` hostnames of its global entries */
  hosts: string[];
}

/** The distinct (port, proto) pairs a service exposes; global when any of its entries is global. */
export function servicePorts(svc: ManifestService): PortSpec[] {
  const out = new Map<string, PortSpec>();
  for (const x of svc.expose as ManifestExpose[]) {
    const k = `${x.port}/${x.proto}`;
    const prev = out.get(k);
    const external = x.externalPort || x.port;
    const hosts = x.global ? x.hosts ?? [] : [];
    if (prev) {
      prev.global ||= x.global;
      for (const h of hosts) if (!prev.hosts.includes(h)) prev.hosts.push(h);
    } else out.set(k, { port: x.port, external, proto: x.proto, global: x.global, hosts: [...hosts] });
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

function shortHash(s: string): string {
  return bytesToHex(sha256(new TextEncoder().encode(s))).slice(0, 8);
}

/** DNS-1035 label: what the API server takes as a Service name. */
export const DNS1035_LABEL = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * The Service name of one exposed port: `<service>-<port>` (`-udp` appended for udp), a DNS-1035
 * label: `s-` in front when it would not start with a letter; the service part cut and a hash of the
 * full service name added when the whole would be over 63 characters.
 */
export function serviceObjectName(service: string, port: number, proto: string): string {
  const suffix = `-${port}${proto === "udp" ? "-udp" : ""}`;
  let base = dnsLabel(service);
  if (!/^[a-z]/.test(base)) base = `s-${base}`;
  if (base.length + suffix.length > 63) {
    base = `${base.slice(0, 63 - suffix.length - 9).replace(/-+$/, "")}-${shortHash(service)}`;
  }
  return base + suffix;
}

/**
 * Why the API server would refuse an env var name, or undefined when it takes it. Kubernetes
 * (RelaxedEnvironmentVariableValidation, on since 1.32) takes printable ASCII except `=`.
 */
export function envNameError(name: string): string | undefined {
  if (name === "") return "an env name must not be empty";
  for (const ch of name) {
    const c = ch.codePointAt(0)!;
    if (c < 0x20 || c > 0x7e || ch === "=") {
      return `env name ${JSON.stringify(name)} has ${
        JSON.stringify(ch)
      }: Kubernetes takes printable ASCII except "="`;
    }
  }
  return undefined;
}

/** DNS-1123 subdomain, optionally `*.` in front: what an Ingress rule's host may be. */
const INGRESS_HOST = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** An `accept` hostname as an Ingress host (lowercase), or an error saying why it cannot be one. */
export function ingressHost(host: string): string {
  const h = host.toLowerCase();
  if (h.length > 253 || !INGRESS_HOST.test(h) || h.split(".").some((l) => l.length > 63)) {
    throw new Error(`accept host ${JSON.stringify(host)} is not a DNS name an Ingress takes`);
  }
  return h;
}

/** Node labels the kubernetes driver reads gpus from, and GPU affinity matches on. */
export const LABEL_GPU_VENDOR = `${LABEL_PREFIX}/gpu.vendor`;
export const LABEL_GPU_MODEL = `${LABEL_PREFIX}/gpu.model`;
export const LABEL_GPU_RAM = `${LABEL_PREFIX}/gpu.ram`;
export const LABEL_GPU_INTERFACE = `${LABEL_PREFIX}/gpu.interface`;

/** Required node affinity for a service's gpu attributes (any attribute may match), or undefined. */
export function gpuAffinity(svc: ManifestService): Record<string, unknown> | undefined {
  const gpu = svc.resources.gpu;
  if (gpu.units <= 0 || gpu.attributes.length === 0) return undefined;
  const terms = gpu.attributes.map((a) => {
    const exprs = [{ key: LABEL_GPU_VENDOR, operator: "In", values: [labelValue(a.vendor)] }];
    if (a.model !== "*" && a.model !== "") {
      exprs.push({ key: LABEL_GPU_MODEL, operator: "In", values: [labelValue(a.model)] });
    }
    if (a.ram) exprs.push({ key: LABEL_GPU_RAM, operator: "In", values: [labelValue(a.ram)] });
    if (a.interface) exprs.push({ key: LABEL_GPU_INTERFACE, operator: "In", values: [a.interface] });
    return { matchExpressions: exprs };
  });
  return { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } } };
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
  /** `spec.ingressClassName` of Ingresses (default: none, the cluster's default class) */
  ingressClassName?: string;
}

export interface LeaseObjects {
  namespace: string;
  /**
   * Namespace first, then per service (sorted by name): its PersistentVolumeClaims, its pull Secret,
   * its Deployment, its Services (each followed by its Ingress, if any).
   */
  objects: KubeObject[];
}

function splitEnv(e: string, service: string): { name: string; value: string } {
  const i = e.indexOf("=");
  const env = i < 0 ? { name: e, value: "" } : { name: e.slice(0, i), value: e.slice(i + 1) };
  const why = envNameError(env.name);
  if (why) throw new Error(`service ${service}: ${why}`);
  return env;
}

/**
 * A registry auth file's content (`.dockerconfigjson` of a pull Secret, podman's `--authfile`) for
 * credentials: `{"auths": {registry: {username, password, auth[, email]}}}`, Docker Hub also under
 * its legacy key.
 */
export function registryAuthJson(c: Credentials): string {
  const registry = credentialsRegistry(c.host);
  const entry: Record<string, string> = {
    username: c.username,
    password: c.password,
    auth: toBase64(new TextEncoder().encode(`${c.username}:${c.password}`)),
  };
  if (c.email) entry.email = c.email;
  const auths: Record<string, Record<string, string>> = { [registry]: entry };
  if (registry === DEFAULT_REGISTRY) auths["https://index.docker.io/v1/"] = entry;
  return JSON.stringify({ auths });
}

/** The pull Secret of a service with credentials (see the module doc). */
function pullSecretObject(
  svc: ManifestService,
  namespace: string,
  labels: Record<string, string>,
): KubeObject {
  const json = new TextEncoder().encode(registryAuthJson(svc.credentials!));
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: dnsLabel(`${dnsLabel(svc.name)}-pull`), namespace, labels: { ...labels } },
    type: "kubernetes.io/dockerconfigjson",
    data: { ".dockerconfigjson": toBase64(json) },
  };
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
    // the root volume and mounted emptyDirs on disk count against ephemeral-storage in Kubernetes
    const mounted = new Set(svc.params.storage.map((p) => p.name));
    const ephemeral = res.storage
      .filter((v) => v.class !== "ram" && !v.persistent && (v.name === "default" || mounted.has(v.name)))
      .reduce((a, v) => a + v.size, 0);
    const quantities: Record<string, string> = {
      cpu: `${res.cpu}m`,
      memory: String(res.memory),
    };
    if (ephemeral > 0) quantities["ephemeral-storage"] = String(ephemeral);
    if (res.gpu.units > 0) quantities[gpuResourceName(svc)] = String(res.gpu.units);

    const volumes: unknown[] = [];
    const mounts: unknown[] = [];
    const claims: KubeObject[] = [];
    for (const p of svc.params.storage) {
      const vol = res.storage.find((v) => v.name === p.name);
      if (!vol) continue;
      const volName = dnsLabel(`vol-${p.name}`);
      if (vol.persistent && vol.class !== "ram") {
        const claim = dnsLabel(`${name}-${p.name}`);
        claims.push({
          apiVersion: "v1",
          kind: "PersistentVolumeClaim",
          metadata: { name: claim, namespace, labels: { ...podLabels } },
          spec: {
            accessModes: ["ReadWriteOnce"],
            storageClassName: vol.class ?? "default",
            resources: { requests: { storage: String(vol.size) } },
          },
        });
        volumes.push({ name: volName, persistentVolumeClaim: { claimName: claim } });
      } else {
        volumes.push({
          name: volName,
          emptyDir: vol.class === "ram"
            ? { medium: "Memory", sizeLimit: String(vol.size) }
            : { sizeLimit: String(vol.size) },
        });
      }
      mounts.push({ name: volName, mountPath: p.mount, readOnly: p.readOnly });
    }

    const container: Record<string, unknown> = {
      name,
      image: svc.image,
      imagePullPolicy: "IfNotPresent",
    };
    if (svc.command.length > 0) container.command = [...svc.command];
    if (svc.args.length > 0) container.args = [...svc.args];
    if (svc.env.length > 0) container.env = svc.env.map((e) => splitEnv(e, svc.name));
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
    const pullSecret = svc.credentials ? pullSecretObject(svc, namespace, podLabels) : undefined;
    if (pullSecret) podSpec.imagePullSecrets = [{ name: pullSecret.metadata.name }];
    const affinity = gpuAffinity(svc);
    if (affinity) podSpec.affinity = affinity;

    objects.push(...claims);
    if (pullSecret) objects.push(pullSecret);
    objects.push({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name, namespace, labels: { ...podLabels } },
      spec: {
        replicas: svc.count,
        selector: { matchLabels: { [LABEL_SERVICE]: name } },
        strategy: { type: claims.length > 0 ? "Recreate" : "RollingUpdate" },
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
      const svcName = serviceObjectName(svc.name, p.port, p.proto);
      objects.push({
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: svcName, namespace, labels: { ...podLabels } },
        spec: {
          type: p.global ? "NodePort" : "ClusterIP",
          selector: { [LABEL_SERVICE]: name },
          ports: [sp],
        },
      });
      if (p.global && p.proto === "tcp" && p.hosts.length > 0) {
        const hosts = [...new Set(p.hosts.map(ingressHost))];
        objects.push({
          apiVersion: "networking.k8s.io/v1",
          kind: "Ingress",
          metadata: { name: svcName, namespace, labels: { ...podLabels } },
          spec: {
            ...(opts.ingressClassName ? { ingressClassName: opts.ingressClassName } : {}),
            rules: hosts.map((host) => ({
              host,
              http: {
                paths: [{
                  path: "/",
                  pathType: "Prefix",
                  backend: { service: { name: svcName, port: { number: p.external } } },
                }],
              },
            })),
          },
        });
      }
    }
  }
  return { namespace, objects };
}
