/**
 * One Podman network per lease, so that a lease's services find each other by their SDL names and
 * nobody else finds them: the network `cirrus-<namespace>` is created with `isolate=true` (netavark
 * drops traffic between it and every other network, so another tenant's lease cannot reach it even
 * by address), every pod of a service joins it with the service's SDL name as a DNS alias
 * (`--network cirrus-<ns>:alias=<service>`; aardvark-dns answers it with the service's pods), and the
 * network is removed with the lease. The Kubernetes equivalent is a Service named `<service>` in the
 * lease's namespace (the kubernetes driver's job).
 * @module
 */
import { dnsLabel, LABEL_MANAGED, LABEL_NAMESPACE } from "./objects.ts";

/** Runs podman with these arguments (the driver's `runPodman`). */
export type PodmanRun = (args: string[]) => Promise<{ code: number; stdout: string; stderr: string }>;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** The network of a lease's namespace. */
export function leaseNetworkName(namespace: string): string {
  return `cirrus-${namespace}`;
}

/**
 * The DNS names of a service inside its lease: its SDL name (when it is a DNS label, as SDL service
 * names are) and its object name (`dnsLabel`), deduplicated.
 */
export function serviceAliases(service: string): string[] {
  const out = new Set<string>();
  const lower = service.toLowerCase();
  if (DNS_LABEL.test(lower)) out.add(lower);
  out.add(dnsLabel(service));
  return [...out];
}

/** The `--network` value that joins a service's pods to the lease network under its aliases. */
export function serviceNetworkArg(namespace: string, service: string): string {
  return `${leaseNetworkName(namespace)}:${serviceAliases(service).map((a) => `alias=${a}`).join(",")}`;
}

/** Creates the lease's isolated network unless it exists; throws with podman's reason when it cannot. */
export async function ensureLeaseNetwork(run: PodmanRun, namespace: string): Promise<void> {
  const name = leaseNetworkName(namespace);
  if ((await run(["network", "exists", name])).code === 0) return;
  const r = await run([
    "network",
    "create",
    "--opt",
    "isolate=true",
    "--label",
    `${LABEL_MANAGED}=true`,
    "--label",
    `${LABEL_NAMESPACE}=${namespace}`,
    name,
  ]);
  if (r.code !== 0 && (await run(["network", "exists", name])).code !== 0) {
    throw new Error(`cannot create the lease network ${name}: ${r.stderr.trim().split("\n").pop() ?? ""}`);
  }
}

/** Removes the lease's network (and anything still attached to it); no error when there is none. */
export async function removeLeaseNetwork(run: PodmanRun, namespace: string): Promise<void> {
  const name = leaseNetworkName(namespace);
  if ((await run(["network", "exists", name])).code !== 0) return;
  await run(["network", "rm", "-f", name]);
}
