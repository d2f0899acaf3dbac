/**
 * The `profiles:` section: compute profiles (see compute.ts) and placement profiles (attributes,
 * signedBy auditors, a price per compute profile). It also returns which profiles and prices the
 * file declares, so that a later check never reports as missing what was declared but failed to
 * parse (its own errors already say why).
 * @module
 */
import { isDenom } from "../../lib/units.ts";
import { parseCompute } from "./compute.ts";
import { parseAmount } from "./quantity.ts";
import { byName, type Ctx, entries, joinPath, readMap, readStr, readStrList, unknownKeys } from "./read.ts";
import type { Attribute, ComputeResources, PlacementProfile, Price, SignedBy } from "./types.ts";

function parsePlacement(
  ctx: Ctx,
  v: unknown,
  path: string,
  declaredPrices: Set<string>,
): PlacementProfile | undefined {
  const o = readMap(ctx, v, path, true);
  if (!o) return undefined;
  unknownKeys(ctx, o, path, ["attributes", "signedBy", "pricing"]);
  const attributes: Attribute[] = [];
  const ap = joinPath(path, "attributes");
  for (const [k, raw] of entries(readMap(ctx, o["attributes"], ap) ?? {})) {
    const val = readStr(ctx, raw, joinPath(ap, k));
    if (val !== undefined) attributes.push({ key: k, value: val });
    else if (raw === null || raw === undefined) attributes.push({ key: k, value: "" });
  }
  attributes.sort((a, b) => byName(a.key, b.key));
  const sp = joinPath(path, "signedBy");
  const so = readMap(ctx, o["signedBy"], sp) ?? {};
  unknownKeys(ctx, so, sp, ["allOf", "anyOf"]);
  const signedBy: SignedBy = {
    allOf: readStrList(ctx, so["allOf"], joinPath(sp, "allOf")),
    anyOf: readStrList(ctx, so["anyOf"], joinPath(sp, "anyOf")),
  };
  const pricing: Record<string, Price> = {};
  const pp = joinPath(path, "pricing");
  const po = readMap(ctx, o["pricing"], pp, true);
  for (const [profile, raw] of entries(po ?? {})) {
    declaredPrices.add(profile);
    const p = joinPath(pp, profile);
    const co = readMap(ctx, raw, p, true);
    if (!co) continue;
    unknownKeys(ctx, co, p, ["denom", "amount"]);
    const denom = readStr(ctx, co["denom"], joinPath(p, "denom"), true);
    if (denom && !isDenom(denom)) {
      ctx.err(joinPath(p, "denom"), `invalid denom ${JSON.stringify(denom)}`);
    }
    const amount = parseAmount(co["amount"]);
    if (!amount.ok) ctx.err(joinPath(p, "amount"), amount.error);
    if (denom && amount.ok) pricing[profile] = { denom, amount: amount.value };
  }
  return { attributes, signedBy, pricing };
}

/** The parsed profiles, and the names the file declares (parsed or not). */
export interface ProfilesSection {
  /** Compute profiles that parsed, by name. */
  compute: Record<string, ComputeResources>;
  /** Placement profiles that parsed, by name. */
  placement: Record<string, PlacementProfile>;
  /** False when `profiles` itself is absent or not a mapping (already reported). */
  present: boolean;
  /** Declared names: compute profiles, placement profiles, and the priced profiles of each placement. */
  declared: { compute: Set<string>; placement: Set<string>; prices: Map<string, Set<string>> };
}

/** Parses the `profiles:` section (required, with `compute` and `placement`). */
export function parseProfiles(ctx: Ctx, raw: unknown): ProfilesSection {
  const compute: Record<string, ComputeResources> = {};
  const placement: Record<string, PlacementProfile> = {};
  const declared: ProfilesSection["declared"] = {
    compute: new Set(),
    placement: new Set(),
    prices: new Map(),
  };
  const po = readMap(ctx, raw, "profiles", true);
  if (po) {
    unknownKeys(ctx, po, "profiles", ["compute", "placement"]);
    for (const [name, raw] of entries(readMap(ctx, po["compute"], "profiles.compute", true) ?? {})) {
      declared.compute.add(name);
      const c = parseCompute(ctx, raw, joinPath("profiles.compute", name));
      if (c) compute[name] = c;
    }
    for (const [name, raw] of entries(readMap(ctx, po["placement"], "profiles.placement", true) ?? {})) {
      declared.placement.add(name);
      const prices = new Set<string>();
      declared.prices.set(name, prices);
      const p = parsePlacement(ctx, raw, joinPath("profiles.placement", name), prices);
      if (p) placement[name] = p;
    }
  }
  return { compute, placement, present: po !== undefined, declared };
}
