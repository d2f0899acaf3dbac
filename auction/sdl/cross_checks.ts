/**
 * Checks across sections, once every section is parsed: dependencies and expose targets name real
 * services; ip endpoints are declared, global, used, and not shared on one port; storage params name
 * volumes of each compute profile the service is deployed with, and persistent volumes are mounted.
 * @module
 */
import type { DeploymentSection } from "./deployment.ts";
import { type Ctx, entries, joinPath, type Obj } from "./read.ts";
import type { ComputeResources, Endpoint, Service, StorageParam } from "./types.ts";

/** The sections the cross checks read. */
export interface CrossCheckInput {
  /** Services that parsed. */
  services: Record<string, Service>;
  /** The raw services mapping (declared names). */
  so: Obj | undefined;
  /** Compute profiles that parsed. */
  compute: Record<string, ComputeResources>;
  /** Declared endpoints. */
  endpoints: Record<string, Endpoint>;
  /** The deployment section. */
  deployment: DeploymentSection;
}

/** Runs the cross-section checks (errors go to `ctx`). */
export function crossCheck(ctx: Ctx, input: CrossCheckInput): void {
  const { services, so, compute, endpoints, deployment } = input;
  const endpointsUsed = new Set<string>();
  const ipPorts = new Map<string, string>();
  for (const [svcName, svc] of entries(services) as [string, Service][]) {
    const sp = joinPath("services", svcName);
    svc.dependsOn.forEach((dep) => {
      if (!Object.hasOwn(services, dep) && !(so && Object.hasOwn(so, dep))) {
        ctx.err(joinPath(sp, "depends_on"), `no service named ${JSON.stringify(dep)}`);
      }
    });
    svc.expose.forEach((x, i) => {
      x.to.forEach((to, j) => {
        const tp = joinPath(joinPath(joinPath(sp, "expose"), i), "to");
        const tj = joinPath(tp, j);
        if (to.service !== undefined && so && !Object.hasOwn(so, to.service)) {
          ctx.err(joinPath(tj, "service"), `no service named ${JSON.stringify(to.service)}`);
        }
        if (to.ip === undefined) return;
        if (!to.global) ctx.err(joinPath(tj, "ip"), "an ip endpoint requires global: true");
        if (!Object.hasOwn(endpoints, to.ip)) {
          ctx.err(joinPath(tj, "ip"), `no endpoint named ${JSON.stringify(to.ip)} declared in endpoints`);
          return;
        }
        endpointsUsed.add(to.ip);
        const key = `${to.ip}|${x.as || x.port}|${x.proto}`;
        const other = ipPorts.get(key);
        if (other !== undefined) {
          ctx.err(
            tj,
            `ip endpoint ${JSON.stringify(to.ip)} port ${x.as || x.port}/${x.proto} already used by service ${
              JSON.stringify(other)
            }`,
          );
        }
        ipPorts.set(key, svcName);
      });
    });
    // storage params against each compute profile the service is deployed with
    const seenProfiles = new Set<string>();
    for (const d of Object.values(deployment[svcName] ?? {})) {
      if (seenProfiles.has(d.profile)) continue;
      seenProfiles.add(d.profile);
      const res = compute[d.profile];
      if (!res) continue;
      const cprof = joinPath("profiles.compute", d.profile);
      const pp = joinPath(joinPath(sp, "params"), "storage");
      for (const [volName, param] of entries(svc.params.storage) as [string, StorageParam][]) {
        const vol = res.storage.find((v) => v.name === volName);
        if (!vol) {
          ctx.err(
            joinPath(pp, volName),
            `no volume named ${JSON.stringify(volName)} in ${cprof}.resources.storage`,
          );
          continue;
        }
        if (vol.class === "ram" && param.readOnly) {
          ctx.err(joinPath(joinPath(pp, volName), "readOnly"), `not allowed for storage class "ram"`);
        }
      }
      for (const vol of res.storage) {
        if (vol.persistent && !(svc.params.storage[vol.name]?.mount)) {
          ctx.err(
            joinPath(joinPath(pp, vol.name), "mount"),
            `required: volume ${JSON.stringify(vol.name)} of ${cprof} is persistent and must be mounted`,
          );
        }
      }
    }
  }
  for (const name of Object.keys(endpoints)) {
    if (!endpointsUsed.has(name)) ctx.err(joinPath("endpoints", name), "declared but never used");
  }
}
