/**
 * The `deployment:` section: for each service, the placements it is deployed in with a compute profile
 * and a count; every service must be deployed. A service, placement, compute profile or price the
 * file declares but that failed to parse is not reported again as missing: its own errors say why.
 * @module
 */
import * as L from "./limits.ts";
import type { ProfilesSection } from "./profiles.ts";
import { type Ctx, entries, joinPath, type Obj, readInt, readMap, readStr, unknownKeys } from "./read.ts";
import type { ServiceDeployment } from "./types.ts";

/** Where each service is deployed: service -> placement -> {profile, count}. */
export type DeploymentSection = Record<string, Record<string, ServiceDeployment>>;

/**
 * Parses the `deployment:` section against the declared services (`so`, the raw services mapping)
 * and the profiles.
 */
export function parseDeployment(
  ctx: Ctx,
  raw: unknown,
  so: Obj | undefined,
  profiles: ProfilesSection,
): DeploymentSection {
  const { compute, placement, declared } = profiles;
  const deployment: Record<string, Record<string, ServiceDeployment>> = {};
  const dobj = readMap(ctx, raw, "deployment", true);
  if (dobj && Object.keys(dobj).length === 0) ctx.err("deployment", "at least one service must be deployed");
  for (const [svcName, value] of entries(dobj ?? {})) {
    const path = joinPath("deployment", svcName);
    if (so && !Object.hasOwn(so, svcName)) {
      ctx.err(path, `no service named ${JSON.stringify(svcName)} in services`);
    }
    const placements = readMap(ctx, value, path, true);
    if (!placements) continue;
    if (Object.keys(placements).length === 0) ctx.err(path, "must name at least one placement");
    const byPlacement: Record<string, ServiceDeployment> = {};
    for (const [placementName, rawD] of entries(placements)) {
      const dp = joinPath(path, placementName);
      if (
        profiles.present && !Object.hasOwn(placement, placementName) && !declared.placement.has(placementName)
      ) {
        ctx.err(dp, `no placement profile named ${JSON.stringify(placementName)} in profiles.placement`);
      }
      const d = readMap(ctx, rawD, dp, true);
      if (!d) continue;
      unknownKeys(ctx, d, dp, ["profile", "count"]);
      const profile = readStr(ctx, d["profile"], joinPath(dp, "profile"), true);
      if (profile === undefined || profile === "") continue;
      if (!Object.hasOwn(compute, profile)) {
        if (!declared.compute.has(profile)) {
          ctx.err(
            joinPath(dp, "profile"),
            `no compute profile named ${JSON.stringify(profile)} in profiles.compute`,
          );
        }
        continue;
      }
      const count = d["count"] === null || d["count"] === undefined
        ? 1
        : readInt(ctx, d["count"], joinPath(dp, "count"), L.UNIT_COUNT_MIN, L.UNIT_COUNT_MAX);
      if (count === undefined) continue;
      const pl = placement[placementName];
      if (pl && !Object.hasOwn(pl.pricing, profile) && !declared.prices.get(placementName)?.has(profile)) {
        const pp = joinPath(joinPath(joinPath("profiles.placement", placementName), "pricing"), profile);
        ctx.err(pp, `required: ${dp} uses compute profile ${JSON.stringify(profile)} (no price for it)`);
      }
      byPlacement[placementName] = { profile, count };
    }
    deployment[svcName] = byPlacement;
  }
  // every service deployed
  if (dobj) {
    for (const name of Object.keys(so ?? {})) {
      if (!Object.hasOwn(dobj, name)) {
        ctx.err(joinPath("services", name), `not deployed (add it under deployment.${name})`);
      }
    }
  }
  return deployment;
}
