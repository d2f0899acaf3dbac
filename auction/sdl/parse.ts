/**
 * Akash SDL v2.0 / v2.1 parser and validator. `parseSdl` never throws: every problem becomes an error
 * message prefixed with the path it is about (`services.web.expose[0].port: must be 1..65535`).
 *
 * Semantics follow Akash's Go SDL (akash-api go/sdl): unknown keys inside services/profiles are ignored
 * (reported as warnings), unknown top-level keys are errors, `count` defaults to 1, a persistent volume
 * without a class gets class "default", the unnamed volume is named "default", groups are one per
 * placement (sorted by name), units follow sorted service names; v2.1 merges the services of a
 * placement that share a compute profile into one unit (counts added).
 *
 * One file per section: services.ts, profiles.ts (with compute.ts), endpoints.ts, deployment.ts, then
 * cross_checks.ts across them and groups.ts for what the market is asked; read.ts holds the readers.
 * @module
 */
import { crossCheck } from "./cross_checks.ts";
import { parseDeployment } from "./deployment.ts";
import { parseEndpoints } from "./endpoints.ts";
import { buildGroups, checkGroupLimits } from "./groups.ts";
import { buildManifest, manifestHash } from "./manifest.ts";
import { parseProfiles } from "./profiles.ts";
import { scalarText } from "./quantity.ts";
import { Ctx, describe, isYamlMapping, joinPath } from "./read.ts";
import { parseServices } from "./services.ts";
import type { Sdl, SdlResult } from "./types.ts";
import { loadYaml } from "./yaml.ts";

const TOP_LEVEL_KEYS = ["version", "services", "profiles", "deployment", "endpoints", "include"];

function parseVersion(ctx: Ctx, v: unknown): "2.0" | "2.1" | undefined {
  if (v === null || v === undefined) {
    ctx.err("version", `required ("2.0" or "2.1")`);
    return undefined;
  }
  const s = scalarText(v)?.trim();
  const m = s === undefined ? null : /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(s);
  if (m && m[1] === "2" && (m[2] ?? "0") === "0" && (m[3] ?? "0") === "0") return "2.0";
  if (m && m[1] === "2" && m[2] === "1" && (m[3] ?? "0") === "0") return "2.1";
  ctx.err("version", `unsupported version ${JSON.stringify(s ?? describe(v))} (want "2.0" or "2.1")`);
  return undefined;
}

function fail(ctx: Ctx): SdlResult {
  const errors = ctx.errors.length > 0 ? ctx.errors : ["sdl: invalid"];
  return { ok: false, error: errors[0] ?? "sdl: invalid", errors, warnings: ctx.warnings };
}

/** Parse and validate an SDL document. Never throws. */
export function parseSdl(text: string): SdlResult {
  const ctx = new Ctx();
  try {
    return parseInner(ctx, text);
  } catch (e) {
    ctx.err("sdl", `internal error: ${e instanceof Error ? e.message : String(e)}`);
    return fail(ctx);
  }
}

function parseInner(ctx: Ctx, text: string): SdlResult {
  const loaded = loadYaml(text);
  if (!loaded.ok) {
    ctx.errors.push(loaded.error);
    return fail(ctx);
  }
  ctx.warnings.push(...loaded.warnings);
  const root = loaded.value;
  if (!isYamlMapping(root)) {
    ctx.err(
      "(root)",
      `must be a mapping with version, services, profiles, deployment; got ${describe(root)}`,
    );
    return fail(ctx);
  }
  const version = parseVersion(ctx, root["version"]);
  if (!version) return fail(ctx);
  for (const k of Object.keys(root)) {
    if (!TOP_LEVEL_KEYS.includes(k)) ctx.err(joinPath("", k), "unexpected top-level field");
  }
  if (root["include"] !== undefined && root["include"] !== null) {
    ctx.warn("include", "not supported, ignored");
  }

  const { services, declared: so } = parseServices(ctx, root["services"]);
  const profiles = parseProfiles(ctx, root["profiles"]);
  const { compute, placement } = profiles;
  const endpoints = parseEndpoints(ctx, root["endpoints"]);
  const deployment = parseDeployment(ctx, root["deployment"], so, profiles);
  crossCheck(ctx, { services, so, compute, endpoints, deployment });
  if (ctx.errors.length > 0) return fail(ctx);

  const sdl: Sdl = { version, services, profiles: { compute, placement }, deployment, endpoints };
  const groups = buildGroups(sdl);
  checkGroupLimits(ctx, groups);
  if (ctx.errors.length > 0) return fail(ctx);
  const manifest = buildManifest(sdl, groups);
  return { ok: true, sdl, groups, manifest, manifestHash: manifestHash(manifest), warnings: ctx.warnings };
}
