/**
 * Whether a provider may run a tenant's manifest for a lease (DESIGN.md data flow step 6), and whether
 * a tenant may ask about a lease (step 8). Pure functions over chain records: no I/O, no clock.
 *
 * A manifest is accepted only when: the signer owns the deployment; the lease is this provider's and
 * active; the manifest's recomputed hash equals the request's and the chain's; and the lease's group
 * in the manifest asks for no more than was leased (per service: cpu, memory, storage, gpu units and
 * models per replica; per resource unit: replicas); and a service's pull credentials name its image's
 * registry.
 * @module
 */
import { manifestHash as hashOfManifest } from "../auction/sdl/manifest.ts";
import type { Group, Manifest, ManifestGroup, ManifestService, ResourceUnit } from "../auction/sdl/types.ts";
import type { DeploymentInfo, LeaseInfo } from "../auction/market/types.ts";
import type { ProtocolErrorCode } from "./protocol/mod.ts";
import { parseLeaseId } from "../lib/ids.ts";
import { credentialsProblem } from "./image_name.ts";

/** The outcome of a check: the group to run, or a refusal for the tenant. */
export type ManifestCheckResult =
  | { ok: true; group: ManifestGroup }
  | { ok: false; code: ProtocolErrorCode; error: string };

/** What {@link checkManifestAgainstLease} looks at. */
export interface ManifestCheckInput {
  manifest: Manifest;
  /** The hash the request claims. */
  manifestHash: string;
  /** Address of the request's signer (from `verifyManifestRequest`). */
  signer: string;
  /** The lease as the chain reports it. */
  lease: LeaseInfo;
  /** The deployment as the chain reports it (a `DeploymentDetail` will do). */
  deployment: Pick<DeploymentInfo, "owner" | "dseq" | "manifestHash" | "groups"> & { state?: string };
  /** This provider's address. */
  provider: string;
}

const short = (h: string) => (h.length > 12 ? `${h.slice(0, 12)}…` : h);

function fail(code: ProtocolErrorCode, error: string): ManifestCheckResult {
  return { ok: false, code, error };
}

/** "250m" / "2" cpus from millicores. */
export function formatCpu(milli: number): string {
  return milli % 1000 === 0 ? `${milli / 1000}` : `${milli}m`;
}

/** "64Mi", "1.5Gi", "512" (bytes) — binary units, at most 2 decimals. */
export function formatBytes(n: number): string {
  const units = ["Ki", "Mi", "Gi", "Ti", "Pi"];
  let v = n, u = "";
  for (const next of units) {
    if (v < 1024) break;
    v /= 1024;
    u = next;
  }
  return u ? `${Number(v.toFixed(2))}${u}` : `${n}`;
}

const gpuKey = (a: { vendor: string; model: string }) => `${a.vendor}/${a.model}`;

function storageBytes(s: ManifestService): number {
  return s.resources.storage.reduce((t, v) => t + v.size, 0);
}

/** Why the services of `mg` ask for more than `spec` leased, or null. */
export function overAskProblem(mg: ManifestGroup, spec: Group): string | null {
  const units = new Map<number, ResourceUnit>(spec.units.map((u) => [u.id, u]));
  const replicas = new Map<number, { count: number; services: string[] }>();
  for (const s of mg.services) {
    const u = units.get(s.resources.id);
    if (!u) {
      return `service ${s.name} uses resource unit ${s.resources.id}, the lease has units ${
        [...units.keys()].join(", ") || "none"
      }`;
    }
    const r = s.resources;
    if (r.cpu > u.cpu) {
      return `service ${s.name} asks ${formatCpu(r.cpu)} cpu per replica, the lease has ${formatCpu(u.cpu)}`;
    }
    if (r.memory > u.memory) {
      return `service ${s.name} asks ${formatBytes(r.memory)} memory per replica, the lease has ${
        formatBytes(u.memory)
      }`;
    }
    const st = storageBytes(s);
    if (st > u.storageBytes) {
      return `service ${s.name} asks ${formatBytes(st)} storage per replica, the lease has ${
        formatBytes(u.storageBytes)
      }`;
    }
    if (r.gpu.units > u.gpu.units) {
      return `service ${s.name} asks ${r.gpu.units} gpu${
        r.gpu.units === 1 ? "" : "s"
      } per replica, the lease has ${u.gpu.units}`;
    }
    if (r.gpu.units > 0) {
      const leased = new Set(u.gpu.attributes.map(gpuKey));
      const anyOf = new Set(u.gpu.attributes.filter((a) => a.model === "*").map((a) => a.vendor));
      for (const a of r.gpu.attributes) {
        if (!leased.has(gpuKey(a)) && !anyOf.has(a.vendor)) {
          return `service ${s.name} asks gpu ${gpuKey(a)}, the lease has ${
            u.gpu.attributes.map(gpuKey).join(", ") || "no gpu model"
          }`;
        }
      }
    }
    if (s.count > u.count) {
      return `service ${s.name} asks ${s.count} replica${s.count === 1 ? "" : "s"}, the lease has ${u.count}`;
    }
    const acc = replicas.get(u.id) ?? { count: 0, services: [] };
    acc.count += s.count;
    acc.services.push(s.name);
    replicas.set(u.id, acc);
  }
  for (const [id, acc] of replicas) {
    const u = units.get(id)!;
    if (acc.count > u.count) {
      return `services ${
        acc.services.join(", ")
      } ask ${acc.count} replicas in total, the lease's unit ${id} has ${u.count}`;
    }
  }
  return null;
}

/**
 * Decides whether `manifest` may run for `lease` on `provider`. On success returns the lease's group
 * of the manifest (picked by the name of the deployment group with the lease's gseq).
 */
export function checkManifestAgainstLease(input: ManifestCheckInput): ManifestCheckResult {
  const { manifest, signer, lease, deployment, provider } = input;
  if (signer !== deployment.owner) {
    return fail(
      "forbidden",
      `the manifest is signed by ${signer}, the deployment belongs to ${deployment.owner}`,
    );
  }
  if (lease.owner !== deployment.owner || lease.dseq !== deployment.dseq) {
    return fail(
      "bad_request",
      `lease ${lease.id} is not a lease of deployment ${deployment.owner}/${deployment.dseq}`,
    );
  }
  if (lease.provider !== provider) {
    return fail(
      "not_found",
      `lease ${lease.id} belongs to provider ${lease.provider}, not to this provider (${provider})`,
    );
  }
  if (lease.state !== "active") {
    return fail("conflict", `lease ${lease.id} is closed (${lease.reason ?? lease.state})`);
  }
  if (deployment.state !== undefined && deployment.state !== "active") {
    return fail("conflict", `deployment ${deployment.owner}/${deployment.dseq} is ${deployment.state}`);
  }
  let actual: string;
  try {
    actual = hashOfManifest(manifest);
  } catch (e) {
    return fail("bad_request", `the manifest cannot be hashed: ${(e as Error).message}`);
  }
  if (actual !== input.manifestHash) {
    return fail(
      "bad_request",
      `manifest hash ${short(actual)} differs from the hash the request names (${short(input.manifestHash)})`,
    );
  }
  if (actual !== deployment.manifestHash) {
    return fail(
      "conflict",
      `manifest hash ${short(actual)} differs from the chain's ${short(deployment.manifestHash)}` +
        ` (run deployment update first, or send the manifest the chain has)`,
    );
  }
  const g = deployment.groups.find((x) => x.gseq === lease.gseq);
  if (!g) {
    return fail("not_found", `deployment ${deployment.owner}/${deployment.dseq} has no group ${lease.gseq}`);
  }
  const mg = manifest.find((x) => x.name === g.spec.name);
  if (!mg) {
    return fail("bad_request", `the manifest has no group ${g.spec.name} (group ${lease.gseq} of the lease)`);
  }
  const over = overAskProblem(mg, g.spec);
  if (over) return fail("bad_request", over);
  for (const svc of mg.services) {
    const bad = svc.credentials ? credentialsProblem(svc.image, svc.credentials.host) : undefined;
    if (bad) return fail("bad_request", `service ${svc.name}: ${bad}`);
  }
  return { ok: true, group: mg };
}

/**
 * Whether `signer` may ask this provider about `lease` (`/cirrus/lease/1`): only the deployment's
 * owner, and only about a lease of this provider. Nothing about the lease is revealed to others.
 */
export function checkLeaseAccess(
  input: { signer: string; lease: LeaseInfo | null; leaseId: string; provider: string },
): { ok: true; lease: LeaseInfo } | { ok: false; code: ProtocolErrorCode; error: string } {
  const owner = parseLeaseId(input.leaseId)?.owner;
  if (input.signer !== owner || (input.lease && input.lease.owner !== input.signer)) {
    return {
      ok: false,
      code: "forbidden",
      error: `forbidden: only the deployment's owner may ask about lease ${input.leaseId}`,
    };
  }
  if (!input.lease) {
    return { ok: false, code: "not_found", error: `lease ${input.leaseId} not found on chain` };
  }
  if (input.lease.provider !== input.provider) {
    return {
      ok: false,
      code: "not_found",
      error: `lease ${input.leaseId} belongs to provider ${input.lease.provider}, not to this provider`,
    };
  }
  return { ok: true, lease: input.lease };
}
