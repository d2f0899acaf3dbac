/**
 * The manifest: what each group runs (everything a provider needs: image, command, args, env,
 * resources, count, exposes, storage mounts, registry credentials), and its hash.
 *
 * Canonical encoding: a normalized plain structure (no undefined, integers only, maps with sorted keys,
 * arrays in SDL order; groups and services sorted by name, storage params sorted by volume name)
 * encoded canonically (lib/cbor: map keys sorted, shortest integer forms). manifestHash = hex sha256.
 */
import { canonicalEncode } from "../../lib/cbor.ts";
import { sha256, toHex } from "../../lib/crypto.ts";
import { endpointSequenceNumbers, serviceEndpoints } from "./endpoints.ts";
import { byName } from "./read.ts";
import type { Group, Hex, Manifest, ManifestExpose, ManifestService, Sdl } from "./types.ts";

/** Build the manifest from a validated SDL and its groups (unit ids link services to units). */
export function buildManifest(sdl: Sdl, groups: Group[]): Manifest {
  const seq = endpointSequenceNumbers(sdl);
  return groups.map((g) => {
    const services: ManifestService[] = [];
    for (const unit of g.units) {
      for (const name of unit.services) {
        const svc = sdl.services[name];
        const d = sdl.deployment[name]?.[g.name];
        if (!svc || !d) continue;
        const expose: ManifestExpose[] = [];
        for (const x of svc.expose) {
          const base = {
            port: x.port,
            externalPort: x.as,
            proto: x.proto,
            hosts: [...x.accept],
            httpOptions: { ...x.httpOptions, nextCases: [...x.httpOptions.nextCases] },
          };
          if (x.to.length === 0) {
            expose.push({ ...base, service: "", global: false, ip: "", endpointSequenceNumber: 0 });
          }
          for (const to of x.to) {
            expose.push({
              ...base,
              service: to.service ?? "",
              global: to.global,
              ip: to.ip ?? "",
              endpointSequenceNumber: to.global && to.ip ? seq.get(to.ip) ?? 0 : 0,
            });
          }
        }
        const ms: ManifestService = {
          name,
          image: svc.image,
          command: [...svc.command],
          args: [...svc.args],
          env: [...svc.env],
          resources: {
            id: unit.id,
            cpu: unit.cpu,
            memory: unit.memory,
            storage: unit.storage.map((v) => ({ ...v })),
            gpu: { units: unit.gpu.units, attributes: unit.gpu.attributes.map((a) => ({ ...a })) },
            endpoints: serviceEndpoints(svc, seq),
          },
          count: d.count,
          expose,
          params: {
            storage: Object.keys(svc.params.storage).sort(byName).map((volName) => {
              const p = svc.params.storage[volName]!;
              return { name: volName, mount: p.mount, readOnly: p.readOnly };
            }),
          },
        };
        if (svc.credentials) ms.credentials = { ...svc.credentials };
        services.push(ms);
      }
    }
    services.sort((a, b) => byName(a.name, b.name));
    return { name: g.name, services };
  });
}

/** Drop undefined fields, recursively; reject anything that has no canonical form. */
function normalize(v: unknown): unknown {
  if (v === null || typeof v === "string" || typeof v === "boolean" || typeof v === "bigint") return v;
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v)) throw new Error(`manifest: non-integer number ${v}`);
    return v;
  }
  if (Array.isArray(v)) return v.map(normalize);
  if (typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as object).sort(byName)) {
      const val = (v as Record<string, unknown>)[k];
      if (val !== undefined) out[k] = normalize(val);
    }
    return out;
  }
  throw new Error(`manifest: cannot encode ${typeof v}`);
}

/** Deterministic CBOR bytes of a manifest. */
export function encodeManifest(m: Manifest): Uint8Array {
  return canonicalEncode(normalize(m));
}

/** Hex sha256 of the canonical encoding: the hash a deployment commits to on chain. */
export function manifestHash(m: Manifest): Hex {
  return toHex(sha256(encodeManifest(m)));
}
