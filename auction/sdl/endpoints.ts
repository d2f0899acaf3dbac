/**
 * Endpoints: the `endpoints:` section (leased ips a deployment declares) and the provider endpoints a
 * deployment needs (global exposes, leased ips).
 * @module
 */
import { byName, type Ctx, entries, joinPath, readMap, readStr, unknownKeys } from "./read.ts";
import type { Endpoint, Sdl, Service, UnitEndpoint } from "./types.ts";

const ENDPOINT_NAME_RE = /^[a-z]+[a-z\-_\d]+$/;

/** Parses the `endpoints:` section (optional): each a name with `kind: ip`. */
export function parseEndpoints(ctx: Ctx, raw: unknown): Record<string, Endpoint> {
  const endpoints: Record<string, Endpoint> = {};
  for (const [name, value] of entries(readMap(ctx, raw, "endpoints") ?? {})) {
    const path = joinPath("endpoints", name);
    if (!ENDPOINT_NAME_RE.test(name)) {
      ctx.err(path, "invalid endpoint name (lowercase letters, digits, '-', '_')");
    }
    const eo = readMap(ctx, value, path, true);
    if (!eo) continue;
    unknownKeys(ctx, eo, path, ["kind"]);
    const kind = readStr(ctx, eo["kind"], joinPath(path, "kind"), true);
    if (kind !== undefined && kind !== "" && kind !== "ip") {
      ctx.err(joinPath(path, "kind"), `unknown endpoint kind ${JSON.stringify(kind)} (want "ip")`);
    }
    if (kind === "ip") endpoints[name] = { kind: "ip" };
  }
  return endpoints;
}

/** Leased-ip endpoint sequence numbers: used endpoint names, sorted, numbered from 1. */
export function endpointSequenceNumbers(sdl: Sdl): Map<string, number> {
  const names = new Set<string>();
  for (const svcName of Object.keys(sdl.deployment)) {
    for (const x of sdl.services[svcName]?.expose ?? []) {
      for (const to of x.to) if (to.ip) names.add(to.ip);
    }
  }
  return new Map([...names].sort(byName).map((n, i) => [n, i + 1]));
}

/** Endpoints a service needs from its provider (global exposes). */
export function serviceEndpoints(svc: Service, seq: Map<string, number>): UnitEndpoint[] {
  const out: UnitEndpoint[] = [];
  for (const x of svc.expose) {
    for (const to of x.to) {
      if (!to.global) continue;
      const external = x.as || x.port;
      out.push({
        kind: x.proto === "tcp" && external === 80 ? "shared_http" : "random_port",
        sequenceNumber: 0,
      });
      if (to.ip) out.push({ kind: "leased_ip", sequenceNumber: seq.get(to.ip) ?? 0 });
    }
  }
  return out;
}
