/** Provider endpoints a deployment needs (global exposes, leased ips). */
import type { Sdl, Service, UnitEndpoint } from "./types.ts";

function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
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
