/**
 * Placement: whether a provider satisfies a group's requirements (attributes, gpu capabilities,
 * auditors' attestations), and which open bid of an order wins.
 * @module
 */
import type { Attribute, Group, SignedBy } from "../sdl/types.ts";
import { marketKeys as K, readRecord } from "./records.ts";
import type { AttestationRecord, BidRecord, MarketReader, ProviderRecord } from "./types.ts";

function gpuCapabilities(
  p: ProviderRecord,
): { vendor: string; model: string; ram?: string; iface?: string }[] {
  const out = [];
  for (const a of p.attributes) {
    if (a.value !== "true") continue;
    const m =
      /^capabilities\/gpu\/vendor\/([^/]+)\/model\/([^/]+)(?:\/ram\/([^/]+))?(?:\/interface\/([^/]+))?$/
        .exec(a.key);
    if (m) out.push({ vendor: m[1]!, model: m[2]!, ram: m[3], iface: m[4] });
  }
  return out;
}

/** Why provider `addr` does not satisfy `group`'s placement (attributes and gpu capabilities), or null. */
export function placementProblem(addr: string, p: ProviderRecord, group: Group): string | null {
  const have = new Map(p.attributes.map((a) => [a.key, a.value]));
  for (const req of group.requirements.attributes) {
    const v = have.get(req.key);
    if (v !== req.value) {
      return `provider ${addr} does not satisfy the placement of group ${group.name}: requires ${req.key}=${req.value}` +
        (v === undefined ? " (provider lacks it)" : ` (provider has ${req.key}=${v})`);
    }
  }
  const caps = gpuCapabilities(p);
  for (const u of group.units) {
    if (u.gpu.units === 0) continue;
    const ok = u.gpu.attributes.length === 0
      ? caps.length > 0
      : u.gpu.attributes.some((g) =>
        caps.some((c) =>
          c.vendor === g.vendor && (g.model === "*" || c.model === g.model) &&
          (g.ram === undefined || c.ram === g.ram) && (g.interface === undefined || c.iface === g.interface)
        )
      );
    if (!ok) {
      const want = u.gpu.attributes.map((g) => `capabilities/gpu/vendor/${g.vendor}/model/${g.model}`).join(
        " or ",
      );
      return `provider ${addr} does not satisfy the placement of group ${group.name}: unit ${u.id} needs gpu ${
        want || "capabilities/gpu/..."
      }=true`;
    }
  }
  return null;
}

/** The attributes `auditor` has attested for `provider`, or undefined (no attestation). */
export function attestationOf(
  view: MarketReader,
  provider: string,
  auditor: string,
): AttestationRecord["attributes"] | undefined {
  return readRecord<AttestationRecord>(view, K.audit(provider, auditor))?.attributes;
}

/**
 * Akash's signedBy rule. With R = `requirements.attributes` and S = `requirements.signedBy`, provider
 * `addr` satisfies S when every auditor of `allOf` and at least one auditor of `anyOf` (an empty list
 * imposes nothing) has attested `addr` for every attribute of R with the same key and value; when R is
 * empty, any attestation by the auditor counts. Returns why not, or null. Pure: reads only
 * `mkt/audit/<addr>/<auditor>` through `view`.
 */
export function signedByProblem(
  view: MarketReader,
  addr: string,
  requirements: { attributes: readonly Attribute[]; signedBy: SignedBy },
): string | null {
  const want = requirements.attributes;
  /** The required attributes `auditor` has not attested as "k=v" (["any attribute"] when R is empty). */
  const missing = (auditor: string): string[] => {
    const have = attestationOf(view, addr, auditor);
    if (want.length === 0) return have && have.length > 0 ? [] : ["any attribute"];
    const m = new Map((have ?? []).map((a) => [a.key, a.value]));
    return want.filter((a) => m.get(a.key) !== a.value).map((a) => `${a.key}=${a.value}`);
  };
  for (const auditor of new Set(requirements.signedBy.allOf)) {
    const m = missing(auditor);
    if (m.length > 0) {
      return `provider ${addr} lacks attestations from auditor ${auditor} for ${m.join(", ")}`;
    }
  }
  const anyOf = [...new Set(requirements.signedBy.anyOf)];
  if (anyOf.length > 0 && !anyOf.some((a) => missing(a).length === 0)) {
    const all = want.length === 0 ? "any attribute" : want.map((a) => `${a.key}=${a.value}`).join(", ");
    return anyOf.length === 1
      ? `provider ${addr} lacks attestations from auditor ${anyOf[0]} for ${all}`
      : `provider ${addr} lacks attestations from any of auditors ${anyOf.join(", ")} for ${all}`;
  }
  return null;
}

/**
 * The winning bid among an order's open bids: lowest price; ties go to the earliest bid height, then
 * the lower provider address. Undefined when there is none.
 */
export function winningBid<T extends { provider: string; bid: BidRecord }>(
  open: readonly T[],
): T | undefined {
  return [...open].sort((a, b) => {
    const pa = BigInt(a.bid.price), pb = BigInt(b.bid.price);
    if (pa !== pb) return pa < pb ? -1 : 1;
    if (a.bid.createdAt !== b.bid.createdAt) return a.bid.createdAt - b.bid.createdAt;
    return a.provider < b.provider ? -1 : a.provider > b.provider ? 1 : 0;
  })[0];
}
