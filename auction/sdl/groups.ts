/**
 * Groups: what a valid SDL asks the market for (one group per placement, its resource units and
 * prices), within Akash's group limits.
 * @module
 */
import { endpointSequenceNumbers, serviceEndpoints } from "./endpoints.ts";
import * as L from "./limits.ts";
import { byName, type Ctx, joinPath } from "./read.ts";
import type { GpuAttribute, Group, ResourceUnit, Sdl, UnitEndpoint } from "./types.ts";

function sortEndpoints(e: UnitEndpoint[]): UnitEndpoint[] {
  return e.sort((a, b) => byName(a.kind, b.kind) || a.sequenceNumber - b.sequenceNumber);
}

/**
 * The groups (orders) of a valid SDL: one per placement used, sorted by name; units follow sorted
 * service names; v2.1 merges the services of a placement that share a compute profile (counts added).
 */
export function buildGroups(sdl: Sdl): Group[] {
  const seq = endpointSequenceNumbers(sdl);
  const groups = new Map<string, Group>();
  for (const svcName of Object.keys(sdl.deployment).sort(byName)) {
    const svc = sdl.services[svcName];
    const byPlacement = sdl.deployment[svcName] ?? {};
    if (!svc) continue;
    for (const placementName of Object.keys(byPlacement).sort(byName)) {
      const d = byPlacement[placementName];
      const infra = sdl.profiles.placement[placementName];
      const res = d ? sdl.profiles.compute[d.profile] : undefined;
      const price = d ? infra?.pricing[d.profile] : undefined;
      if (!d || !infra || !res || !price) continue;
      let group = groups.get(placementName);
      if (!group) {
        group = {
          name: placementName,
          requirements: {
            attributes: infra.attributes.map((a) => ({ ...a })),
            signedBy: { allOf: [...infra.signedBy.allOf], anyOf: [...infra.signedBy.anyOf] },
          },
          units: [],
        };
        groups.set(placementName, group);
      }
      const endpoints = serviceEndpoints(svc, seq);
      const existing = sdl.version === "2.1" ? group.units.find((u) => u.profile === d.profile) : undefined;
      if (existing) {
        existing.count += d.count;
        existing.services.push(svcName);
        existing.endpoints = sortEndpoints([...existing.endpoints, ...endpoints]);
        continue;
      }
      group.units.push({
        id: group.units.length + 1,
        cpu: res.cpu,
        memory: res.memory,
        storage: res.storage.map((v) => ({ ...v })),
        storageBytes: res.storage.reduce((s, v) => s + v.size, 0),
        gpu: { units: res.gpu.units, attributes: res.gpu.attributes.map((a) => ({ ...a })) },
        count: d.count,
        price: { ...price },
        services: [svcName],
        profile: d.profile,
        endpoints: sdl.version === "2.1" ? sortEndpoints(endpoints) : endpoints,
      });
    }
  }
  return [...groups.values()].sort((a, b) => byName(a.name, b.name));
}

/** Akash's group limits: groups per deployment, units per group, replicas per unit, group totals. */
export function checkGroupLimits(ctx: Ctx, groups: Group[]): void {
  if (groups.length > L.GROUP_COUNT_MAX) {
    ctx.err(
      "profiles.placement",
      `at most ${L.GROUP_COUNT_MAX} placement groups per deployment, got ${groups.length}`,
    );
  }
  for (const g of groups) {
    const gp = joinPath("profiles.placement", g.name);
    if (g.units.length > L.GROUP_UNIT_COUNT_MAX) {
      ctx.err(gp, `at most ${L.GROUP_UNIT_COUNT_MAX} resource units per group, got ${g.units.length}`);
    }
    for (const u of g.units) {
      if (u.count > L.UNIT_COUNT_MAX) {
        ctx.err(
          joinPath(joinPath("deployment", u.services[0] ?? ""), g.name),
          `count: services ${u.services.join(", ")} share compute profile ${
            JSON.stringify(u.profile)
          }: total count ${u.count} exceeds ${L.UNIT_COUNT_MAX}`,
        );
      }
    }
    const sum = (f: (u: ResourceUnit) => number) => g.units.reduce((s, u) => s + f(u) * u.count, 0);
    const totals: [string, number, number][] = [
      ["cpu", sum((u) => u.cpu), L.GROUP_CPU_MAX],
      ["gpu", sum((u) => u.gpu.units), L.GROUP_GPU_MAX],
      ["memory", sum((u) => u.memory), L.GROUP_MEMORY_MAX],
      ["storage", sum((u) => u.storageBytes), L.GROUP_STORAGE_MAX],
    ];
    for (const [what, total, max] of totals) {
      if (total > max) ctx.err(gp, `group total ${what} ${total} exceeds ${max}`);
    }
  }
}

/** Akash's attribute key for a gpu requirement: `vendor/nvidia/model/a100/ram/80Gi/interface/pcie`. */
export function gpuAttributeKey(a: GpuAttribute): string {
  let key = `vendor/${a.vendor}/model/${a.model}`;
  if (a.ram) key += `/ram/${a.ram}`;
  if (a.interface) key += `/interface/${a.interface}`;
  return key;
}
