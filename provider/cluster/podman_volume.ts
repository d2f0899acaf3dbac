/**
 * Persistent storage on Podman: each PersistentVolumeClaim of a lease (objects.ts: one per mounted
 * `persistent: true` volume of a non-`ram` class) becomes a named Podman volume
 * `<namespace>-<claim>`, created before the pods are played and labelled with the lease (the claim's
 * labels: `cirrus.network/{managed,namespace,owner,dseq,gseq,oseq,provider,service}` and the class),
 * so that a driver that lost its state still finds and removes it. The pod mounts it by name
 * (`persistentVolumeClaim.claimName`, which `podman kube play` reads as a named volume): the data
 * lives outside the containers and pods, so it survives a container restart, a redeploy and a
 * provider restart, and is removed with the lease (`removeLeaseVolumes`). The local volume driver
 * does not enforce the size asked; the inventory reserves it.
 * @module
 */
import { type KubeObject, LABEL_MANAGED, LABEL_NAMESPACE, LABEL_PREFIX } from "./objects.ts";
import type { PodmanRun } from "./podman_network.ts";

/** The label holding a volume's SDL storage class. */
export const LABEL_STORAGE_CLASS = `${LABEL_PREFIX}/storage-class`;

/** The Podman volume of a lease's claim. */
export function leaseVolumeName(namespace: string, claim: string): string {
  return `${namespace}-${claim}`;
}

/**
 * Creates the Podman volume of each claim unless it exists (an existing one keeps its data).
 * Throws with podman's reason when one cannot be created.
 */
export async function ensureLeaseVolumes(
  run: PodmanRun,
  namespace: string,
  claims: KubeObject[],
): Promise<void> {
  for (const c of claims) {
    const name = leaseVolumeName(namespace, c.metadata.name);
    if ((await run(["volume", "exists", name])).code === 0) continue;
    const labels: Record<string, string> = {
      ...c.metadata.labels,
      [LABEL_NAMESPACE]: namespace,
      [LABEL_MANAGED]: "true",
    };
    const cls = c.spec?.storageClassName;
    if (typeof cls === "string") labels[LABEL_STORAGE_CLASS] = cls;
    const args = ["volume", "create"];
    for (const [k, v] of Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1))) {
      args.push("--label", `${k}=${v}`);
    }
    const r = await run([...args, name]);
    if (r.code !== 0 && (await run(["volume", "exists", name])).code !== 0) {
      throw new Error(`cannot create the volume ${name}: ${r.stderr.trim().split("\n").pop() ?? ""}`);
    }
  }
}

/** The names of the Podman volumes of a lease's namespace (found by label). */
export async function leaseVolumes(run: PodmanRun, namespace: string): Promise<string[]> {
  const r = await run(["volume", "ls", "-q", "--filter", `label=${LABEL_NAMESPACE}=${namespace}`]);
  if (r.code !== 0) throw new Error(`podman volume ls failed: ${r.stderr.trim()}`);
  return r.stdout.split("\n").map((s) => s.trim()).filter(Boolean).sort();
}

/** Removes every volume of a lease's namespace (its data is gone); no error when there is none. */
export async function removeLeaseVolumes(run: PodmanRun, namespace: string): Promise<void> {
  const names = await leaseVolumes(run, namespace);
  if (names.length === 0) return;
  const r = await run(["volume", "rm", "-f", ...names]);
  if (r.code !== 0) throw new Error(`podman volume rm failed: ${r.stderr.trim().split("\n").pop() ?? ""}`);
}

/** The labels of every cirrus volume on this host (to find the volumes of leases without state). */
export async function managedVolumeLabels(run: PodmanRun): Promise<Record<string, string>[]> {
  const r = await run(["volume", "ls", "--format", "json", "--filter", `label=${LABEL_MANAGED}=true`]);
  if (r.code !== 0) throw new Error(`podman volume ls failed: ${r.stderr.trim()}`);
  const list: { Labels?: Record<string, string> }[] = JSON.parse(r.stdout || "[]") ?? [];
  return list.map((v) => v.Labels ?? {});
}
