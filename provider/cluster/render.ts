/**
 * `provider render`: the Kubernetes objects a provider would create for an SDL file (as `helm
 * template` prints a chart's), without a cluster or a chain. Pure but for the optional driver,
 * which allocates NodePorts against a cluster's.
 */
import { parseSdl } from "../../auction/sdl/mod.ts";
import type { ManifestGroup } from "../../auction/sdl/types.ts";
import { allocateGroupPorts, HostPortAllocator } from "./driver.ts";
import { type KubeObject, type LeaseId, leaseObjects } from "./objects.ts";

/** The lease id `render` uses when none is given. */
export const RENDER_LEASE_ID = "cirrus1tenant/1/1/1/cirrus1provider";

export interface RenderOptions {
  /** `owner/dseq/gseq/oseq/provider`; with several groups, group i (from 0) gets gseq i+1 */
  leaseId?: string;
  /** only this group */
  group?: string;
  /** allocate NodePorts here (e.g. `KubernetesDriver.render`); default: a fresh allocator */
  renderGroup?: (lease: LeaseId, group: ManifestGroup) => Promise<{ objects: KubeObject[] }>;
}

/**
 * A lease id `owner/dseq/gseq/oseq/provider` with decimal sequence numbers. Looser than
 * `parseLeaseId` (lib/ids.ts) on purpose: rendering needs no valid addresses.
 */
export function renderLeaseId(key: string): LeaseId {
  const p = key.split("/");
  const seq = (s: string) => (/^\d{1,15}$/.test(s) ? Number(s) : NaN);
  const [owner, dseq, gseq, oseq, provider] = [
    p[0] ?? "",
    seq(p[1] ?? ""),
    seq(p[2] ?? ""),
    seq(p[3] ?? ""),
    p[4] ?? "",
  ];
  if (p.length !== 5 || !owner || !provider || [dseq, gseq, oseq].some(Number.isNaN)) {
    throw new Error(`bad lease id ${JSON.stringify(key)} (want owner/dseq/gseq/oseq/provider)`);
  }
  return { owner, dseq, gseq, oseq, provider };
}

/** The objects of every group of an SDL text, in group order. Throws one line on bad input. */
export async function renderSdl(text: string, opts: RenderOptions = {}): Promise<KubeObject[]> {
  const r = parseSdl(text);
  if (!r.ok) throw new Error(`invalid SDL: ${r.errors.slice(0, 3).join("; ")}`);
  const base = renderLeaseId(opts.leaseId ?? RENDER_LEASE_ID);
  const groups = r.manifest.map((g, i) => ({ g, i })).filter(({ g }) => !opts.group || g.name === opts.group);
  if (opts.group && groups.length === 0) {
    throw new Error(
      `no group ${JSON.stringify(opts.group)} (groups: ${r.manifest.map((g) => g.name).join(", ")})`,
    );
  }
  const alloc = new HostPortAllocator();
  const out: KubeObject[] = [];
  for (const { g, i } of groups) {
    const lease: LeaseId = r.manifest.length > 1 ? { ...base, gseq: i + 1 } : base;
    const { objects } = opts.renderGroup
      ? await opts.renderGroup(lease, g)
      : leaseObjects(lease, g, { hostPorts: allocateGroupPorts(alloc, lease, g), containerHostPorts: false });
    out.push(...objects);
  }
  return out;
}
