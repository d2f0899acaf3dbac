/**
 * Stateless validation of marketplace tx bodies (run at decode time and again at execution), the
 * on-chain re-validation of the group spec that `parseSdl` produces, and id parsing.
 * Every function returns a reason naming the bad path (`body.groups[0].units[1].cpu: ...`) or null.
 * @module
 */
import * as L from "../sdl/limits.ts";
import type { Group } from "../sdl/types.ts";
import { parseScaled } from "./decimal.ts";
import { isHex } from "../../lib/crypto.ts";
import { isBech32Address, parseBidId, parseOrderId } from "../../lib/ids.ts";
import { isDenom, uintProblem } from "../../lib/units.ts";
import { int, isObj, keysProblem, oneOf } from "../../lib/schema.ts";
import { PROVIDER_CLOSE_REASONS } from "./types.ts";
import { isStorageClass, STORAGE_CLASSES } from "../../lib/storage.ts";

type Obj = Record<string, unknown>;

const ATTR_KEY_RE = /^[a-zA-Z][\w/.\-]{0,127}$/;
const ENDPOINT_KINDS = ["shared_http", "random_port", "leased_ip"];

/** Max host URIs of a provider. */
export const HOST_URI_COUNT_MAX = 8;
/** Max attributes of a provider or placement. */
export const ATTRIBUTE_COUNT_MAX = 64;

/** A string of `min`..`max` characters (one message for both faults, as tx rejections state it). */
function str(v: unknown, path: string, min: number, max: number): string | null {
  if (typeof v !== "string" || v.length < min || v.length > max) {
    return `${path}: must be a string of ${min}-${max} characters`;
  }
  return null;
}

/** Reason when `v` is not a valid denom. */
export function denomProblem(v: unknown, path: string): string | null {
  return typeof v === "string" && isDenom(v) ? null : `${path}: invalid denom`;
}

/** Reason when `v` is not `{denom, amount}` with a valid denom and an amount that passes `amount`. */
function coinShapeProblem(
  v: unknown,
  path: string,
  amount: (a: unknown, path: string) => string | null,
): string | null {
  if (!isObj(v)) return `${path}: must be {denom, amount}`;
  return keysProblem(v, ["denom", "amount"], [], path) ?? denomProblem(v.denom, `${path}.denom`) ??
    amount(v.amount, `${path}.amount`);
}

function scaledAmountProblem(v: unknown, path: string): string | null {
  const a = parseScaled(v);
  if (a === null) {
    return `${path}: must be a canonical decimal string with at most 18 decimals ("100", "0.5")`;
  }
  return a === 0n ? `${path}: must be positive` : null;
}

/** Reason when `v` is not `{denom, amount}` with a positive canonical decimal amount (a price). */
export function priceProblem(v: unknown, path: string): string | null {
  return coinShapeProblem(v, path, scaledAmountProblem);
}

/** Reason when `v` is not `{denom, amount}` with a positive integer amount (a deposit). */
export function coinProblem(v: unknown, path: string): string | null {
  return coinShapeProblem(v, path, (a, p) => uintProblem(a, p, true));
}

function attributesProblem(v: unknown, path: string): string | null {
  if (!Array.isArray(v) || v.length > ATTRIBUTE_COUNT_MAX) {
    return `${path}: must be an array of at most ${ATTRIBUTE_COUNT_MAX} {key, value}`;
  }
  const seen = new Set<string>();
  for (let i = 0; i < v.length; i++) {
    const p = `${path}[${i}]`;
    const a = v[i];
    if (!isObj(a)) return `${p}: must be {key, value}`;
    const k = keysProblem(a, ["key", "value"], [], p);
    if (k) return k;
    if (typeof a.key !== "string" || !ATTR_KEY_RE.test(a.key)) {
      return `${p}.key: must be 1-128 characters [A-Za-z0-9_/.-] starting with a letter`;
    }
    const s = str(a.value, `${p}.value`, 0, 256);
    if (s) return s;
    if (seen.has(a.key)) return `${p}.key: duplicate attribute ${a.key}`;
    seen.add(a.key);
  }
  return null;
}

function stringList(v: unknown, path: string, max: number, maxLen: number): string | null {
  if (!Array.isArray(v) || v.length > max) return `${path}: must be an array of at most ${max} strings`;
  for (let i = 0; i < v.length; i++) {
    const s = str(v[i], `${path}[${i}]`, 1, maxLen);
    if (s) return s;
  }
  return null;
}

function unitProblem(u: unknown, path: string, index: number): string | null {
  if (!isObj(u)) return `${path}: must be a resource unit`;
  const k = keysProblem(
    u,
    [
      "id",
      "cpu",
      "memory",
      "storage",
      "storageBytes",
      "gpu",
      "count",
      "price",
      "services",
      "profile",
      "endpoints",
    ],
    [],
    path,
  );
  if (k) return k;
  if (u.id !== index + 1) return `${path}.id: must be ${index + 1} (units are numbered from 1 in order)`;
  const checks = [
    int(u.cpu, `${path}.cpu`, L.UNIT_CPU_MIN, L.UNIT_CPU_MAX),
    int(u.memory, `${path}.memory`, L.UNIT_MEMORY_MIN, L.UNIT_MEMORY_MAX),
    int(u.count, `${path}.count`, L.UNIT_COUNT_MIN, L.UNIT_COUNT_MAX),
    priceProblem(u.price, `${path}.price`),
    stringList(u.services, `${path}.services`, 64, 63),
    str(u.profile, `${path}.profile`, 1, 128),
  ];
  for (const c of checks) if (c) return c;
  if ((u.services as string[]).length === 0) return `${path}.services: must not be empty`;
  if (!Array.isArray(u.storage) || u.storage.length > 16) return `${path}.storage: at most 16 volumes`;
  let total = 0;
  const names = new Set<string>();
  for (let i = 0; i < u.storage.length; i++) {
    const vp = `${path}.storage[${i}]`;
    const v = u.storage[i];
    if (!isObj(v)) return `${vp}: must be a volume`;
    const vk = keysProblem(v, ["name", "size", "persistent"], ["class"], vp);
    if (vk) return vk;
    const n = str(v.name, `${vp}.name`, 1, 128) ??
      int(v.size, `${vp}.size`, L.UNIT_STORAGE_MIN, L.UNIT_STORAGE_MAX);
    if (n) return n;
    if (typeof v.persistent !== "boolean") return `${vp}.persistent: must be a boolean`;
    if (v.class !== undefined && !isStorageClass(v.class)) {
      return `${vp}.class: must be one of ${STORAGE_CLASSES.join(", ")}`;
    }
    if (names.has(v.name as string)) return `${vp}.name: duplicate volume`;
    names.add(v.name as string);
    total += v.size as number;
  }
  if (u.storageBytes !== total) {
    return `${path}.storageBytes: must equal the sum of the volume sizes (${total})`;
  }
  const gp = `${path}.gpu`;
  const g = u.gpu;
  if (!isObj(g)) return `${gp}: must be {units, attributes}`;
  const gk = keysProblem(g, ["units", "attributes"], [], gp) ??
    int(g.units, `${gp}.units`, 0, L.UNIT_GPU_MAX);
  if (gk) return gk;
  if (!Array.isArray(g.attributes) || g.attributes.length > 16) return `${gp}.attributes: at most 16`;
  if (g.units === 0 && g.attributes.length > 0) return `${gp}.attributes: must be empty when units is 0`;
  for (let i = 0; i < g.attributes.length; i++) {
    const ap = `${gp}.attributes[${i}]`;
    const a = g.attributes[i];
    if (!isObj(a)) return `${ap}: must be a gpu attribute`;
    const ak = keysProblem(a, ["vendor", "model"], ["ram", "interface"], ap);
    if (ak) return ak;
    if (a.vendor !== "nvidia" && a.vendor !== "amd") return `${ap}.vendor: must be nvidia or amd`;
    if (typeof a.model !== "string" || !/^(\*|[a-z0-9][a-z0-9._-]{0,63})$/.test(a.model)) {
      return `${ap}.model: invalid model`;
    }
    if (a.ram !== undefined && (typeof a.ram !== "string" || !/^[0-9]{1,6}[KMGTP]i$/.test(a.ram))) {
      return `${ap}.ram: invalid size`;
    }
    if (a.interface !== undefined && a.interface !== "pcie" && a.interface !== "sxm") {
      return `${ap}.interface: must be pcie or sxm`;
    }
  }
  if (!Array.isArray(u.endpoints) || u.endpoints.length > 256) return `${path}.endpoints: at most 256`;
  for (let i = 0; i < u.endpoints.length; i++) {
    const ep = `${path}.endpoints[${i}]`;
    const e = u.endpoints[i];
    if (!isObj(e)) return `${ep}: must be {kind, sequenceNumber}`;
    const ek = keysProblem(e, ["kind", "sequenceNumber"], [], ep) ??
      int(e.sequenceNumber, `${ep}.sequenceNumber`, 0, 1_000_000);
    if (ek) return ek;
    if (!ENDPOINT_KINDS.includes(e.kind as string)) {
      return `${ep}.kind: must be one of ${ENDPOINT_KINDS.join(", ")}`;
    }
  }
  return null;
}

/** Max auditors in each of `signedBy.allOf` / `signedBy.anyOf`. */
export const AUDITOR_COUNT_MAX = 16;

/**
 * Reason when `v` is not a list of at most {@link AUDITOR_COUNT_MAX} distinct auditor addresses (bech32,
 * any prefix: Akash files name `akash1...` auditors; at most 128 characters).
 */
function auditorsProblem(v: unknown, path: string): string | null {
  if (!Array.isArray(v) || v.length > AUDITOR_COUNT_MAX) {
    return `${path}: must be an array of at most ${AUDITOR_COUNT_MAX} auditor addresses`;
  }
  const seen = new Set<string>();
  for (let i = 0; i < v.length; i++) {
    const a = v[i];
    if (typeof a !== "string" || a.length > 128 || !isBech32Address(a)) {
      return `${path}[${i}]: must be a bech32 address of at most 128 characters (e.g. akash1...)`;
    }
    if (seen.has(a)) return `${path}[${i}]: duplicate auditor ${a}`;
    seen.add(a);
  }
  return null;
}

/**
 * Re-validates a group spec as `parseSdl` produces it: exact shape, Akash's unit and group bounds,
 * prices, `signedBy` auditors (distinct bech32 addresses; see {@link groupsForTx}, which dedupes).
 */
export function groupProblem(g: unknown, path: string): string | null {
  if (!isObj(g)) return `${path}: must be a group`;
  const k = keysProblem(g, ["name", "requirements", "units"], [], path);
  if (k) return k;
  const n = str(g.name, `${path}.name`, 1, 128);
  if (n) return n;
  const rp = `${path}.requirements`;
  const r = g.requirements;
  if (!isObj(r)) return `${rp}: must be {attributes, signedBy}`;
  const rk = keysProblem(r, ["attributes", "signedBy"], [], rp) ??
    attributesProblem(r.attributes, `${rp}.attributes`);
  if (rk) return rk;
  const sp = `${rp}.signedBy`;
  const sb = r.signedBy;
  if (!isObj(sb)) return `${sp}: must be {allOf, anyOf}`;
  const sk = keysProblem(sb, ["allOf", "anyOf"], [], sp) ?? auditorsProblem(sb.allOf, `${sp}.allOf`) ??
    auditorsProblem(sb.anyOf, `${sp}.anyOf`);
  if (sk) return sk;
  const units = g.units;
  if (!Array.isArray(units) || units.length === 0 || units.length > L.GROUP_UNIT_COUNT_MAX) {
    return `${path}.units: must be an array of 1-${L.GROUP_UNIT_COUNT_MAX} resource units`;
  }
  let denom: string | undefined;
  let cpu = 0, mem = 0, gpu = 0, storage = 0;
  for (let i = 0; i < units.length; i++) {
    const up = `${path}.units[${i}]`;
    const bad = unitProblem(units[i], up, i);
    if (bad) return bad;
    const u = units[i] as Group["units"][number];
    if (denom !== undefined && u.price.denom !== denom) {
      return `${up}.price.denom: all prices of a deployment must use one denom (${denom})`;
    }
    denom = u.price.denom;
    cpu += u.cpu * u.count;
    mem += u.memory * u.count;
    gpu += u.gpu.units * u.count;
    storage += u.storageBytes * u.count;
  }
  const totals: [string, number, number][] = [
    ["cpu", cpu, L.GROUP_CPU_MAX],
    ["gpu", gpu, L.GROUP_GPU_MAX],
    ["memory", mem, L.GROUP_MEMORY_MAX],
    ["storage", storage, L.GROUP_STORAGE_MAX],
  ];
  for (const [what, total, max] of totals) {
    if (total > max) return `${path}: group total ${what} ${total} exceeds ${max}`;
  }
  return null;
}

/** Reason when `v` is not a valid groups array (1-20 groups, unique names, one denom). */
export function groupsProblem(v: unknown, path: string): string | null {
  if (!Array.isArray(v) || v.length === 0 || v.length > L.GROUP_COUNT_MAX) {
    return `${path}: must be an array of 1-${L.GROUP_COUNT_MAX} groups`;
  }
  const names = new Set<string>();
  let denom: string | undefined;
  for (let i = 0; i < v.length; i++) {
    const bad = groupProblem(v[i], `${path}[${i}]`);
    if (bad) return bad;
    const g = v[i] as Group;
    if (names.has(g.name)) return `${path}[${i}].name: duplicate group ${g.name}`;
    names.add(g.name);
    const d = g.units[0]!.price.denom;
    if (denom !== undefined && d !== denom) {
      return `${path}[${i}]: all prices of a deployment must use one denom (${denom})`;
    }
    denom = d;
  }
  return null;
}

/** Max price per block of a whole group: sum over units of price x count (scaled by 10^18). */
export function groupMaxPrice(g: Group): bigint {
  let sum = 0n;
  for (const u of g.units) sum += parseScaled(u.price.amount)! * BigInt(u.count);
  return sum;
}

// ---------------------------------------------------------------------------------------------------
// tx bodies

function providerBodyProblem(body: Obj): string | null {
  const k = keysProblem(body, ["hostUri", "attributes"], ["info"], "body");
  if (k) return k;
  const h = body.hostUri;
  if (!Array.isArray(h) || h.length === 0 || h.length > HOST_URI_COUNT_MAX) {
    return `body.hostUri: must be an array of 1-${HOST_URI_COUNT_MAX} multiaddrs`;
  }
  for (let i = 0; i < h.length; i++) {
    const u = h[i];
    if (typeof u !== "string" || u.length > 512 || !/^(\/[\x21-\x2e\x30-\x7e]+)+$/.test(u)) {
      return `body.hostUri[${i}]: must be a multiaddr like /ip4/1.2.3.4/tcp/4001/p2p/<peer id> (at most 512 characters)`;
    }
  }
  const a = attributesProblem(body.attributes, "body.attributes");
  if (a) return a;
  if (body.info !== undefined) {
    const info = body.info;
    if (!isObj(info)) return "body.info: must be {email?, website?}";
    const ik = keysProblem(info, [], ["email", "website"], "body.info");
    if (ik) return ik;
    for (const f of ["email", "website"] as const) {
      if (info[f] !== undefined) {
        const s = str(info[f], `body.info.${f}`, 1, 256);
        if (s) return s;
      }
    }
  }
  return null;
}

const dseqProblem = (v: unknown) => int(v, "body.dseq", 1, Number.MAX_SAFE_INTEGER);
const hashProblem = (v: unknown, path: string) =>
  isHex(v, 32) ? null : `${path}: must be 64 lower-case hex characters (sha256)`;

/** Stateless validators of each marketplace tx type's body. */
export const bodyValidators: Record<string, (body: Obj) => string | null> = {
  "provider.create": providerBodyProblem,
  "provider.update": providerBodyProblem,
  "deployment.create"(body) {
    const k = keysProblem(body, ["groups", "manifestHash", "deposit"], ["dseq"], "body");
    if (k) return k;
    if (body.dseq !== undefined) {
      const d = dseqProblem(body.dseq);
      if (d) return d;
    }
    return hashProblem(body.manifestHash, "body.manifestHash") ?? coinProblem(body.deposit, "body.deposit") ??
      groupsProblem(body.groups, "body.groups");
  },
  "deployment.update"(body) {
    const k = keysProblem(body, ["dseq", "manifestHash"], ["groups"], "body");
    if (k) return k;
    return dseqProblem(body.dseq) ?? hashProblem(body.manifestHash, "body.manifestHash") ??
      (body.groups === undefined ? null : groupsProblem(body.groups, "body.groups"));
  },
  "deployment.deposit"(body) {
    const k = keysProblem(body, ["dseq", "amount"], [], "body");
    if (k) return k;
    return dseqProblem(body.dseq) ?? uintProblem(body.amount, "body.amount", true);
  },
  "deployment.close"(body) {
    return keysProblem(body, ["dseq"], [], "body") ?? dseqProblem(body.dseq);
  },
  "bid.create"(body) {
    const k = keysProblem(body, ["order", "price"], ["deposit"], "body");
    if (k) return k;
    if (!parseOrderId(body.order)) return "body.order: must be an order id owner/dseq/gseq/oseq";
    return priceProblem(body.price, "body.price") ??
      (body.deposit === undefined ? null : coinProblem(body.deposit, "body.deposit"));
  },
  "bid.close"(body) {
    const k = keysProblem(body, ["bid"], [], "body");
    if (k) return k;
    return parseBidId(body.bid) ? null : "body.bid: must be a bid id owner/dseq/gseq/oseq/provider";
  },
  "lease.create"(body) {
    const k = keysProblem(body, ["bid"], [], "body");
    if (k) return k;
    return parseBidId(body.bid) ? null : "body.bid: must be a bid id owner/dseq/gseq/oseq/provider";
  },
  "lease.close"(body) {
    const k = keysProblem(body, ["lease"], ["reason"], "body");
    if (k) return k;
    if (!parseBidId(body.lease)) return "body.lease: must be a lease id owner/dseq/gseq/oseq/provider";
    return body.reason === undefined ? null : oneOf(body.reason, "body.reason", PROVIDER_CLOSE_REASONS);
  },
  "audit.attest"(body) {
    const k = keysProblem(body, ["provider", "attributes"], [], "body");
    if (k) return k;
    if (!isBech32Address(body.provider)) return "body.provider: must be a bech32 address";
    if (Array.isArray(body.attributes) && body.attributes.length === 0) {
      return "body.attributes: must not be empty (use audit.revoke to withdraw an attestation)";
    }
    return attributesProblem(body.attributes, "body.attributes");
  },
  "audit.revoke"(body) {
    const k = keysProblem(body, ["provider"], ["keys"], "body");
    if (k) return k;
    if (!isBech32Address(body.provider)) return "body.provider: must be a bech32 address";
    if (body.keys === undefined) return null;
    const keys = body.keys;
    if (!Array.isArray(keys) || keys.length === 0 || keys.length > ATTRIBUTE_COUNT_MAX) {
      return `body.keys: must be an array of 1-${ATTRIBUTE_COUNT_MAX} attribute keys (omit it to revoke all)`;
    }
    const seen = new Set<string>();
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      if (typeof key !== "string" || !ATTR_KEY_RE.test(key)) {
        return `body.keys[${i}]: must be 1-128 characters [A-Za-z0-9_/.-] starting with a letter`;
      }
      if (seen.has(key)) return `body.keys[${i}]: duplicate key ${key}`;
      seen.add(key);
    }
    return null;
  },
};

/** Names of the marketplace tx types. */
export const MARKET_TX_TYPES: readonly string[] = Object.keys(bodyValidators);

/**
 * The groups of a `parseSdl` result as plain data for a `deployment.create` body (drops undefined
 * optional fields, which canonical CBOR cannot carry; removes repeated `signedBy` auditors, which the
 * chain refuses).
 */
export function groupsForTx(groups: readonly Group[]): Group[] {
  const out = JSON.parse(JSON.stringify(groups)) as Group[];
  for (const g of out) {
    const sb = g.requirements?.signedBy;
    if (!sb) continue;
    if (Array.isArray(sb.allOf)) sb.allOf = [...new Set(sb.allOf)];
    if (Array.isArray(sb.anyOf)) sb.anyOf = [...new Set(sb.anyOf)];
  }
  return out;
}
