/**
 * Akash SDL v2.0 / v2.1 parser and validator. `parseSdl` never throws: every problem becomes an error
 * message prefixed with the path it is about (`services.web.expose[0].port: must be 1..65535`).
 *
 * Semantics follow Akash's Go SDL (akash-api go/sdl): unknown keys inside services/profiles are ignored
 * (reported as warnings), unknown top-level keys are errors, `count` defaults to 1, a persistent volume
 * without a class gets class "default", the unnamed volume is named "default", groups are one per
 * placement (sorted by name), units follow sorted service names; v2.1 merges the services of a
 * placement that share a compute profile into one unit (counts added).
 */
import * as L from "./limits.ts";
import { buildManifest, manifestHash } from "./manifest.ts";
import { endpointSequenceNumbers, serviceEndpoints } from "./endpoints.ts";
import { loadYaml } from "./yaml.ts";
import { formatGi, parseAmount, parseByteSize, parseCpuUnits, scalarText } from "./quantity.ts";
import type {
  Attribute,
  ComputeResources,
  Credentials,
  Endpoint,
  Expose,
  ExposeTo,
  Gpu,
  GpuAttribute,
  Group,
  HttpOptions,
  PlacementProfile,
  Price,
  ResourceUnit,
  Sdl,
  SdlResult,
  Service,
  ServiceDeployment,
  SignedBy,
  StorageClass,
  StorageParam,
  StorageVolume,
  UnitEndpoint,
} from "./types.ts";

/** Stop collecting after this many errors (the first one is what users see). */
const MAX_ERRORS = 50;

const STORAGE_CLASSES: readonly string[] = ["default", "beta1", "beta2", "beta3", "ram"];
const SERVICE_NAME_RE = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const ENDPOINT_NAME_RE = /^[a-z]+[a-z\-_\d]+$/;
const DENOM_RE = /^[a-zA-Z][a-zA-Z0-9/:._-]{2,127}$/;
const HOSTNAME_RE = /^[A-Za-z0-9*]([A-Za-z0-9\-_.*]*[A-Za-z0-9])?(:\d{1,5})?$/;
const TOP_LEVEL_KEYS = ["version", "services", "profiles", "deployment", "endpoints", "include"];

class Ctx {
  errors: string[] = [];
  warnings: string[] = [];
  err(path: string, msg: string): void {
    if (this.errors.length < MAX_ERRORS) this.errors.push(path ? `${path}: ${msg}` : msg);
  }
  warn(path: string, msg: string): void {
    if (this.warnings.length < MAX_ERRORS) this.warnings.push(path ? `${path}: ${msg}` : msg);
  }
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** `base.key`, or `base["odd key"]` when the key is not a plain name. */
export function joinPath(base: string, key: string | number): string {
  if (typeof key === "number") return `${base}[${key}]`;
  const k = /^[A-Za-z0-9_-]+$/.test(key) ? key : JSON.stringify(key);
  return base ? (k === key ? `${base}.${k}` : `${base}[${k}]`) : k;
}

function entries(v: Obj): [string, unknown][] {
  return Object.keys(v).map((k) => [k, v[k]]);
}

function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A mapping (null/absent -> empty unless required). */
function map(ctx: Ctx, v: unknown, path: string, required = false): Obj | undefined {
  if (v === null || v === undefined) {
    if (required) ctx.err(path, "required");
    return required ? undefined : {};
  }
  if (!isObj(v)) {
    ctx.err(path, `must be a mapping, got ${describe(v)}`);
    return undefined;
  }
  return v;
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return "nothing";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  return `${typeof v === "bigint" ? "number" : typeof v} ${JSON.stringify(scalarText(v))}`;
}

function unknownKeys(ctx: Ctx, o: Obj, path: string, allowed: readonly string[]): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) ctx.warn(joinPath(path, k), "unknown field, ignored");
  }
}

function str(ctx: Ctx, v: unknown, path: string, required = false): string | undefined {
  if (v === null || v === undefined) {
    if (required) ctx.err(path, "required");
    return undefined;
  }
  if (typeof v === "object") {
    ctx.err(path, `must be a string, got ${describe(v)}`);
    return undefined;
  }
  const s = scalarText(v);
  if (s === undefined) {
    ctx.err(path, "must be a string");
    return undefined;
  }
  if (required && s.trim() === "") ctx.err(path, "must not be empty");
  return s;
}

function strList(ctx: Ctx, v: unknown, path: string): string[] {
  if (v === null || v === undefined) return [];
  if (!Array.isArray(v)) {
    ctx.err(path, `must be a list of strings, got ${describe(v)}`);
    return [];
  }
  const out: string[] = [];
  v.forEach((item, i) => {
    const s = str(ctx, item, joinPath(path, i));
    if (s !== undefined) out.push(s);
    else if (item === null || item === undefined) ctx.err(joinPath(path, i), "must be a string, got nothing");
  });
  return out;
}

function parseBool(v: unknown): boolean | undefined {
  if (typeof v === "boolean") return v;
  const s = scalarText(v);
  if (s === undefined) return undefined;
  if (["true", "True", "TRUE", "t", "T", "1"].includes(s)) return true;
  if (["false", "False", "FALSE", "f", "F", "0"].includes(s)) return false;
  return undefined;
}

function bool(ctx: Ctx, v: unknown, path: string, dflt = false): boolean {
  if (v === null || v === undefined) return dflt;
  const b = parseBool(v);
  if (b === undefined) {
    ctx.err(path, `must be true or false, got ${describe(v)}`);
    return dflt;
  }
  return b;
}

/** An integer in [min, max] (numbers, bigints, digit strings). */
function int(ctx: Ctx, v: unknown, path: string, min: number, max: number, what = ""): number | undefined {
  const s = scalarText(v);
  if (v === null || v === undefined || typeof v === "boolean" || typeof v === "object" || s === undefined) {
    ctx.err(path, `must be ${what || `an integer ${min}..${max}`}, got ${describe(v)}`);
    return undefined;
  }
  if (!/^\s*[+-]?\d+\s*$/.test(s)) {
    ctx.err(path, `must be ${what || `an integer ${min}..${max}`}, got ${JSON.stringify(s)}`);
    return undefined;
  }
  const n = Number(s);
  if (!(n >= min && n <= max)) {
    ctx.err(path, `must be ${min}..${max}, got ${s.trim()}`);
    return undefined;
  }
  return n;
}

// ---------------------------------------------------------------------------------------------------
// services

function parseHttpOptions(ctx: Ctx, v: unknown, path: string): HttpOptions {
  const o = map(ctx, v, path) ?? {};
  unknownKeys(ctx, o, path, [
    "max_body_size",
    "read_timeout",
    "send_timeout",
    "next_tries",
    "next_timeout",
    "next_cases",
  ]);
  const opt = (key: string, limit: number, dflt: number): number => {
    const raw = o[key];
    if (raw === null || raw === undefined) return dflt;
    const n = int(ctx, raw, joinPath(path, key), 0, limit);
    return n === undefined || n === 0 ? dflt : n;
  };
  const out: HttpOptions = {
    maxBodySize: opt("max_body_size", L.HTTP_MAX_BODY_SIZE_LIMIT, L.HTTP_DEFAULT_MAX_BODY_SIZE),
    readTimeout: opt("read_timeout", L.HTTP_READ_TIMEOUT_LIMIT, L.HTTP_DEFAULT_READ_TIMEOUT),
    sendTimeout: opt("send_timeout", L.HTTP_SEND_TIMEOUT_LIMIT, L.HTTP_DEFAULT_SEND_TIMEOUT),
    nextTries: opt("next_tries", 0xffffffff, L.HTTP_DEFAULT_NEXT_TRIES),
    nextTimeout: opt("next_timeout", 0xffffffff, 0),
    nextCases: [],
  };
  const cases = strList(ctx, o["next_cases"], joinPath(path, "next_cases"));
  cases.forEach((c, i) => {
    if (!L.HTTP_NEXT_CASES.includes(c)) {
      ctx.err(joinPath(joinPath(path, "next_cases"), i), `unknown next case ${JSON.stringify(c)}`);
    }
  });
  if (cases.includes("off") && cases.length > 1) {
    ctx.err(joinPath(path, "next_cases"), `"off" must be the only next case`);
  }
  out.nextCases = cases.length > 0 ? cases : [...L.HTTP_DEFAULT_NEXT_CASES];
  return out;
}

function parseExpose(ctx: Ctx, v: unknown, path: string): Expose | undefined {
  const o = map(ctx, v, path, true);
  if (!o) return undefined;
  unknownKeys(ctx, o, path, ["port", "as", "proto", "to", "accept", "http_options"]);
  const port = o["port"] === null || o["port"] === undefined
    ? (ctx.err(joinPath(path, "port"), "required (1..65535)"), undefined)
    : int(ctx, o["port"], joinPath(path, "port"), 1, 65535, "a port 1..65535");
  const as = o["as"] === null || o["as"] === undefined
    ? 0
    : int(ctx, o["as"], joinPath(path, "as"), 1, 65535, "a port 1..65535");
  let proto: "tcp" | "udp" = "tcp";
  const p = str(ctx, o["proto"], joinPath(path, "proto"));
  if (p !== undefined && p !== "") {
    const lp = p.toLowerCase();
    if (lp === "tcp" || lp === "udp") proto = lp;
    else ctx.err(joinPath(path, "proto"), `must be tcp or udp, got ${JSON.stringify(p)}`);
  }
  const to: ExposeTo[] = [];
  const toPath = joinPath(path, "to");
  const rawTo = o["to"];
  if (rawTo !== null && rawTo !== undefined) {
    if (!Array.isArray(rawTo)) {
      ctx.err(toPath, `must be a list (write "- global: true"), got ${describe(rawTo)}`);
    } else {
      rawTo.forEach((t, j) => {
        const tp = joinPath(toPath, j);
        const to1 = map(ctx, t, tp, true);
        if (!to1) return;
        unknownKeys(ctx, to1, tp, ["service", "global", "ip", "http_options"]);
        const entry: ExposeTo = { global: bool(ctx, to1["global"], joinPath(tp, "global")) };
        const svc = str(ctx, to1["service"], joinPath(tp, "service"));
        if (svc) entry.service = svc;
        const ip = str(ctx, to1["ip"], joinPath(tp, "ip"));
        if (ip) entry.ip = ip;
        to.push(entry);
      });
    }
  }
  const acceptPath = joinPath(path, "accept");
  const accept = strList(ctx, o["accept"], acceptPath);
  accept.forEach((h, i) => {
    if (!HOSTNAME_RE.test(h)) ctx.err(joinPath(acceptPath, i), `invalid hostname ${JSON.stringify(h)}`);
  });
  const httpOptions = parseHttpOptions(ctx, o["http_options"], joinPath(path, "http_options"));
  if (port === undefined || as === undefined) return undefined;
  return { port, as, proto, to, accept, httpOptions };
}

function parseService(ctx: Ctx, v: unknown, path: string): Service | undefined {
  const o = map(ctx, v, path, true);
  if (!o) return undefined;
  unknownKeys(ctx, o, path, [
    "image",
    "command",
    "args",
    "env",
    "expose",
    "params",
    "depends_on",
    "dependencies",
    "credentials",
  ]);
  const image = str(ctx, o["image"], joinPath(path, "image"), true) ?? "";
  const command = strList(ctx, o["command"], joinPath(path, "command"));
  const args = strList(ctx, o["args"], joinPath(path, "args"));
  const envPath = joinPath(path, "env");
  const env = strList(ctx, o["env"], envPath);
  env.forEach((e, i) => {
    // "NAME" alone is accepted (an empty value), as Akash's provider does
    if (e.startsWith("=") || e.trim() === "") {
      ctx.err(joinPath(envPath, i), `must be NAME=VALUE, got ${JSON.stringify(e)}`);
    } else if (!/^[\x20-\x7e]+$/.test(e.split("=", 1)[0]!)) {
      // what Kubernetes takes as an env name (the provider's API server would refuse the rest)
      ctx.err(
        joinPath(envPath, i),
        `env name must be printable ASCII, got ${JSON.stringify(e.split("=", 1)[0])}`,
      );
    }
  });
  const expose: Expose[] = [];
  const exposePath = joinPath(path, "expose");
  const rawExpose = o["expose"];
  if (rawExpose !== null && rawExpose !== undefined) {
    if (!Array.isArray(rawExpose)) ctx.err(exposePath, `must be a list, got ${describe(rawExpose)}`);
    else {
      rawExpose.forEach((e, i) => {
        const x = parseExpose(ctx, e, joinPath(exposePath, i));
        if (x) expose.push(x);
      });
    }
  }
  const params: Service["params"] = { storage: {} };
  const paramsPath = joinPath(path, "params");
  const po = map(ctx, o["params"], paramsPath);
  if (po) {
    unknownKeys(ctx, po, paramsPath, ["storage"]);
    const sp = joinPath(paramsPath, "storage");
    const so = map(ctx, po["storage"], sp) ?? {};
    for (const [name, raw] of entries(so)) {
      const vp = joinPath(sp, name);
      const vo = map(ctx, raw, vp, true);
      if (!vo) continue;
      unknownKeys(ctx, vo, vp, ["mount", "readOnly"]);
      const mount = str(ctx, vo["mount"], joinPath(vp, "mount")) ?? "";
      if (!mount.startsWith("/")) {
        ctx.err(joinPath(vp, "mount"), `must be an absolute path, got ${JSON.stringify(mount)}`);
      }
      const param: StorageParam = { mount, readOnly: bool(ctx, vo["readOnly"], joinPath(vp, "readOnly")) };
      params.storage[name] = param;
    }
    // no two volumes on one mount point
    const seen = new Map<string, string>();
    for (const [name, param] of entries(params.storage) as [string, StorageParam][]) {
      const other = seen.get(param.mount);
      if (other !== undefined && param.mount !== "") {
        ctx.err(
          joinPath(joinPath(sp, name), "mount"),
          `mount point ${JSON.stringify(param.mount)} already used by volume ${JSON.stringify(other)}`,
        );
      }
      seen.set(param.mount, name);
    }
  }
  const dependsOn: string[] = [];
  for (const key of ["depends_on", "dependencies"]) {
    const raw = o[key];
    const dp = joinPath(path, key);
    if (raw === null || raw === undefined) continue;
    if (!Array.isArray(raw)) {
      ctx.err(dp, `must be a list of service names, got ${describe(raw)}`);
      continue;
    }
    raw.forEach((d, i) => {
      const name = isObj(d) ? str(ctx, d["service"], joinPath(joinPath(dp, i), "service"), true) : str(
        ctx,
        d,
        joinPath(dp, i),
        true,
      );
      if (name) dependsOn.push(name);
    });
  }
  const svc: Service = { image, command, args, env, expose, params, dependsOn };
  const cp = joinPath(path, "credentials");
  if (o["credentials"] !== null && o["credentials"] !== undefined) {
    const co = map(ctx, o["credentials"], cp);
    if (co) {
      unknownKeys(ctx, co, cp, ["host", "email", "username", "password"]);
      const creds: Credentials = {
        host: (str(ctx, co["host"], joinPath(cp, "host"), true) ?? "").trim(),
        username: (str(ctx, co["username"], joinPath(cp, "username"), true) ?? "").trim(),
        password: (str(ctx, co["password"], joinPath(cp, "password"), true) ?? "").trim(),
      };
      const email = str(ctx, co["email"], joinPath(cp, "email"));
      if (email && email.trim()) creds.email = email.trim();
      svc.credentials = creds;
    }
  }
  return svc;
}

// ---------------------------------------------------------------------------------------------------
// profiles

function parseStorageVolume(ctx: Ctx, v: unknown, path: string): StorageVolume | undefined {
  const o = map(ctx, v, path, true);
  if (!o) return undefined;
  unknownKeys(ctx, o, path, ["name", "size", "attributes"]);
  // Go names a single-mapping volume "default" whatever its `name`; like Akash's TS SDK we keep it.
  let name = "default";
  const n = str(ctx, o["name"], joinPath(path, "name"));
  if (n !== undefined && n !== "") name = n;
  const sizeR = parseByteSize(o["size"]);
  let size = 0;
  if (!sizeR.ok) ctx.err(joinPath(path, "size"), sizeR.error);
  else {
    size = sizeR.value;
    if (size < L.MIN_UNIT_STORAGE || size > L.MAX_UNIT_STORAGE) {
      ctx.err(
        joinPath(path, "size"),
        `must be ${L.MIN_UNIT_STORAGE / 1024 ** 2}Mi..${L.MAX_UNIT_STORAGE / 1024 ** 4}Ti, got ${
          scalarText(o["size"])
        } (${size} bytes)`,
      );
    }
  }
  const ap = joinPath(path, "attributes");
  const ao = map(ctx, o["attributes"], ap) ?? {};
  let persistent = false;
  let cls: StorageClass | undefined;
  for (const [k, raw] of entries(ao)) {
    if (k === "persistent") {
      const b = parseBool(raw);
      if (b === undefined) ctx.err(joinPath(ap, k), `must be true or false, got ${describe(raw)}`);
      else persistent = b;
    } else if (k === "class") {
      const c = scalarText(raw);
      if (c === undefined || !STORAGE_CLASSES.includes(c)) {
        ctx.err(joinPath(ap, k), `must be one of ${STORAGE_CLASSES.join(", ")}, got ${describe(raw)}`);
      } else cls = c as StorageClass;
    } else {
      ctx.err(joinPath(ap, k), "unsupported storage attribute (want persistent, class)");
    }
  }
  if (cls === "ram" && persistent) {
    ctx.err(joinPath(ap, "persistent"), `storage class "ram" cannot be persistent`);
  } else if (cls !== undefined && cls !== "ram" && !persistent) {
    ctx.err(
      joinPath(ap, "class"),
      `ephemeral storage cannot set class ${JSON.stringify(cls)} (set persistent: true)`,
    );
  }
  if (persistent && cls === undefined) cls = "default";
  const vol: StorageVolume = { name, size, persistent };
  if (cls !== undefined) vol.class = cls;
  return vol;
}

function parseGpu(ctx: Ctx, v: unknown, path: string): Gpu {
  const gpu: Gpu = { units: 0, attributes: [] };
  if (v === null || v === undefined) return gpu;
  const o = map(ctx, v, path);
  if (!o) return gpu;
  for (const k of Object.keys(o)) {
    if (k !== "units" && k !== "attributes") {
      ctx.err(joinPath(path, k), "unsupported gpu field (want units, attributes)");
    }
  }
  const units = int(
    ctx,
    o["units"],
    joinPath(path, "units"),
    0,
    L.MAX_UNIT_GPU,
    `a whole number of gpus 0..${L.MAX_UNIT_GPU}`,
  );
  if (units !== undefined) gpu.units = units;
  const ap = joinPath(path, "attributes");
  const rawAttrs = o["attributes"];
  const hasAttrs = rawAttrs !== null && rawAttrs !== undefined;
  if (gpu.units > 0 && !hasAttrs) {
    ctx.err(ap, "required when gpu units > 0 (attributes.vendor.nvidia / amd)");
  }
  if (gpu.units === 0 && hasAttrs) {
    ctx.err(ap, "not allowed when gpu units is 0");
  }
  if (!hasAttrs) return gpu;
  const ao = map(ctx, rawAttrs, ap);
  if (!ao) return gpu;
  for (const k of Object.keys(ao)) {
    if (k !== "vendor") ctx.err(joinPath(ap, k), "unsupported gpu attribute (want vendor)");
  }
  const vp = joinPath(ap, "vendor");
  const vo = map(ctx, ao["vendor"], vp, true);
  if (!vo) return gpu;
  if (Object.keys(vo).length === 0) ctx.err(vp, "at least one vendor (nvidia, amd) is required");
  for (const [vendor, models] of entries(vo)) {
    const mp = joinPath(vp, vendor);
    if (vendor !== "nvidia" && vendor !== "amd") {
      ctx.err(mp, "unsupported gpu vendor (want nvidia or amd)");
      continue;
    }
    if (models === null || models === undefined || (Array.isArray(models) && models.length === 0)) {
      gpu.attributes.push({ vendor, model: "*" });
      continue;
    }
    if (!Array.isArray(models)) {
      ctx.err(mp, `must be a list of {model, ram, interface}, got ${describe(models)}`);
      continue;
    }
    models.forEach((m, i) => {
      const ip = joinPath(mp, i);
      const mo = map(ctx, m, ip, true);
      if (!mo) return;
      unknownKeys(ctx, mo, ip, ["model", "ram", "interface"]);
      const model = str(ctx, mo["model"], joinPath(ip, "model"));
      const attr: GpuAttribute = { vendor, model: model && model !== "" ? model : "*" };
      if (mo["ram"] !== null && mo["ram"] !== undefined) {
        const r = parseByteSize(mo["ram"]);
        if (!r.ok) ctx.err(joinPath(ip, "ram"), r.error);
        else attr.ram = formatGi(r.value);
      }
      if (mo["interface"] !== null && mo["interface"] !== undefined) {
        const itf = scalarText(mo["interface"]);
        if (itf === "pcie" || itf === "sxm") attr.interface = itf;
        else ctx.err(joinPath(ip, "interface"), `must be pcie or sxm, got ${describe(mo["interface"])}`);
      }
      gpu.attributes.push(attr);
    });
  }
  return gpu;
}

function parseCompute(ctx: Ctx, v: unknown, path: string): ComputeResources | undefined {
  const o = map(ctx, v, path, true);
  if (!o) return undefined;
  unknownKeys(ctx, o, path, ["resources"]);
  const rp = joinPath(path, "resources");
  const r = map(ctx, o["resources"], rp, true);
  if (!r) return undefined;
  unknownKeys(ctx, r, rp, ["cpu", "memory", "storage", "gpu"]);
  let ok = true;

  // cpu
  const cp = joinPath(rp, "cpu");
  let cpu = 0;
  const cpuAttributes: Attribute[] = [];
  const co = map(ctx, r["cpu"], cp, true);
  if (!co) ok = false;
  else {
    unknownKeys(ctx, co, cp, ["units", "attributes"]);
    const c = parseCpuUnits(co["units"]);
    if (!c.ok) {
      ctx.err(joinPath(cp, "units"), c.error);
      ok = false;
    } else {
      cpu = c.value;
      if (cpu < L.MIN_UNIT_CPU || cpu > L.MAX_UNIT_CPU) {
        ctx.err(
          joinPath(cp, "units"),
          `must be ${L.MIN_UNIT_CPU}m..${L.MAX_UNIT_CPU / 1000} cpus, got ${
            scalarText(co["units"])
          } (${cpu}m)`,
        );
      }
    }
    const ap = joinPath(cp, "attributes");
    for (const [k, val] of entries(map(ctx, co["attributes"], ap) ?? {})) {
      if (k !== "arch") ctx.err(joinPath(ap, k), "unsupported cpu attribute (want arch)");
      else cpuAttributes.push({ key: k, value: str(ctx, val, joinPath(ap, k)) ?? "" });
    }
  }

  // memory
  const mp = joinPath(rp, "memory");
  let memory = 0;
  const mo = map(ctx, r["memory"], mp, true);
  if (!mo) ok = false;
  else {
    unknownKeys(ctx, mo, mp, ["size", "attributes"]);
    const m = parseByteSize(mo["size"]);
    if (!m.ok) {
      ctx.err(joinPath(mp, "size"), m.error);
      ok = false;
    } else {
      memory = m.value;
      if (memory < L.MIN_UNIT_MEMORY || memory > L.MAX_UNIT_MEMORY) {
        ctx.err(
          joinPath(mp, "size"),
          `must be 1Mi..${L.MAX_UNIT_MEMORY / 1024 ** 4}Ti, got ${scalarText(mo["size"])} (${memory} bytes)`,
        );
      }
    }
  }

  // storage: one volume (mapping) or a list of volumes
  const sp = joinPath(rp, "storage");
  const storage: StorageVolume[] = [];
  const rawStorage = r["storage"];
  if (rawStorage === null || rawStorage === undefined) {
    ctx.err(sp, "required (e.g. size: 1Gi)");
    ok = false;
  } else if (Array.isArray(rawStorage)) {
    if (rawStorage.length === 0) ctx.err(sp, "at least one volume is required");
    rawStorage.forEach((item, i) => {
      const vol = parseStorageVolume(ctx, item, joinPath(sp, i));
      if (vol) storage.push(vol);
    });
  } else if (isObj(rawStorage)) {
    const vol = parseStorageVolume(ctx, rawStorage, sp);
    if (vol) storage.push(vol);
  } else {
    ctx.err(sp, `must be a volume or a list of volumes, got ${describe(rawStorage)}`);
    ok = false;
  }
  // duplicate names, one root ephemeral volume
  const names = new Set<string>();
  let root: string | undefined;
  storage.forEach((vol, i) => {
    const vp = storage.length === 1 && !Array.isArray(rawStorage) ? sp : joinPath(sp, i);
    if (names.has(vol.name)) {
      ctx.err(
        joinPath(vp, "name"),
        vol.name === "default"
          ? `duplicate volume name "default": only one unnamed (root ephemeral) volume is allowed; name the others`
          : `duplicate volume name ${JSON.stringify(vol.name)}`,
      );
    }
    names.add(vol.name);
    if (!vol.persistent && vol.class !== "ram") {
      if (root !== undefined && root !== vol.name) {
        ctx.err(vp, `only one root ephemeral volume is allowed (already ${JSON.stringify(root)})`);
      }
      root ??= vol.name;
    }
  });

  const gpu = parseGpu(ctx, r["gpu"], joinPath(rp, "gpu"));
  if (!ok) return undefined;
  return { cpu, cpuAttributes, memory, storage, gpu };
}

function parsePlacement(ctx: Ctx, v: unknown, path: string): PlacementProfile | undefined {
  const o = map(ctx, v, path, true);
  if (!o) return undefined;
  unknownKeys(ctx, o, path, ["attributes", "signedBy", "pricing"]);
  const attributes: Attribute[] = [];
  const ap = joinPath(path, "attributes");
  for (const [k, raw] of entries(map(ctx, o["attributes"], ap) ?? {})) {
    const val = str(ctx, raw, joinPath(ap, k));
    if (val !== undefined) attributes.push({ key: k, value: val });
    else if (raw === null || raw === undefined) attributes.push({ key: k, value: "" });
  }
  attributes.sort((a, b) => byName(a.key, b.key));
  const sp = joinPath(path, "signedBy");
  const so = map(ctx, o["signedBy"], sp) ?? {};
  unknownKeys(ctx, so, sp, ["allOf", "anyOf"]);
  const signedBy: SignedBy = {
    allOf: strList(ctx, so["allOf"], joinPath(sp, "allOf")),
    anyOf: strList(ctx, so["anyOf"], joinPath(sp, "anyOf")),
  };
  const pricing: Record<string, Price> = {};
  const pp = joinPath(path, "pricing");
  const po = map(ctx, o["pricing"], pp, true);
  for (const [profile, raw] of entries(po ?? {})) {
    const p = joinPath(pp, profile);
    const co = map(ctx, raw, p, true);
    if (!co) continue;
    unknownKeys(ctx, co, p, ["denom", "amount"]);
    const denom = str(ctx, co["denom"], joinPath(p, "denom"), true);
    if (denom && !DENOM_RE.test(denom)) {
      ctx.err(joinPath(p, "denom"), `invalid denom ${JSON.stringify(denom)}`);
    }
    const amount = parseAmount(co["amount"]);
    if (!amount.ok) ctx.err(joinPath(p, "amount"), amount.error);
    if (denom && amount.ok) pricing[profile] = { denom, amount: amount.value };
  }
  return { attributes, signedBy, pricing };
}

// ---------------------------------------------------------------------------------------------------
// top level

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
  if (!isObj(root)) {
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

  // services
  const services: Record<string, Service> = {};
  const so = map(ctx, root["services"], "services", true);
  if (so && Object.keys(so).length === 0) ctx.err("services", "at least one service is required");
  for (const [name, raw] of entries(so ?? {})) {
    const path = joinPath("services", name);
    if (!SERVICE_NAME_RE.test(name) || name.length > 63) {
      ctx.err(
        path,
        "invalid service name (lowercase letters, digits and '-', starting with a letter, at most 63)",
      );
    }
    const svc = parseService(ctx, raw, path);
    if (svc) services[name] = svc;
  }

  // profiles
  const compute: Record<string, ComputeResources> = {};
  const placement: Record<string, PlacementProfile> = {};
  const po = map(ctx, root["profiles"], "profiles", true);
  if (po) {
    unknownKeys(ctx, po, "profiles", ["compute", "placement"]);
    for (const [name, raw] of entries(map(ctx, po["compute"], "profiles.compute", true) ?? {})) {
      const c = parseCompute(ctx, raw, joinPath("profiles.compute", name));
      if (c) compute[name] = c;
    }
    for (const [name, raw] of entries(map(ctx, po["placement"], "profiles.placement", true) ?? {})) {
      const p = parsePlacement(ctx, raw, joinPath("profiles.placement", name));
      if (p) placement[name] = p;
    }
  }

  // endpoints
  const endpoints: Record<string, Endpoint> = {};
  for (const [name, raw] of entries(map(ctx, root["endpoints"], "endpoints") ?? {})) {
    const path = joinPath("endpoints", name);
    if (!ENDPOINT_NAME_RE.test(name)) {
      ctx.err(path, "invalid endpoint name (lowercase letters, digits, '-', '_')");
    }
    const eo = map(ctx, raw, path, true);
    if (!eo) continue;
    unknownKeys(ctx, eo, path, ["kind"]);
    const kind = str(ctx, eo["kind"], joinPath(path, "kind"), true);
    if (kind !== undefined && kind !== "" && kind !== "ip") {
      ctx.err(joinPath(path, "kind"), `unknown endpoint kind ${JSON.stringify(kind)} (want "ip")`);
    }
    if (kind === "ip") endpoints[name] = { kind: "ip" };
  }

  // deployment
  const deployment: Record<string, Record<string, ServiceDeployment>> = {};
  const dobj = map(ctx, root["deployment"], "deployment", true);
  if (dobj && Object.keys(dobj).length === 0) ctx.err("deployment", "at least one service must be deployed");
  for (const [svcName, raw] of entries(dobj ?? {})) {
    const path = joinPath("deployment", svcName);
    if (so && !Object.hasOwn(so, svcName)) {
      ctx.err(path, `no service named ${JSON.stringify(svcName)} in services`);
    }
    const placements = map(ctx, raw, path, true);
    if (!placements) continue;
    if (Object.keys(placements).length === 0) ctx.err(path, "must name at least one placement");
    const byPlacement: Record<string, ServiceDeployment> = {};
    for (const [placementName, rawD] of entries(placements)) {
      const dp = joinPath(path, placementName);
      if (
        po && !Object.hasOwn(placement, placementName) &&
        !ctx.errors.some((e) => e.startsWith(`profiles.placement.${placementName}`))
      ) {
        ctx.err(dp, `no placement profile named ${JSON.stringify(placementName)} in profiles.placement`);
      }
      const d = map(ctx, rawD, dp, true);
      if (!d) continue;
      unknownKeys(ctx, d, dp, ["profile", "count"]);
      const profile = str(ctx, d["profile"], joinPath(dp, "profile"), true);
      if (profile === undefined || profile === "") continue;
      if (!Object.hasOwn(compute, profile)) {
        if (!ctx.errors.some((e) => e.startsWith(joinPath("profiles.compute", profile)))) {
          ctx.err(
            joinPath(dp, "profile"),
            `no compute profile named ${JSON.stringify(profile)} in profiles.compute`,
          );
        }
        continue;
      }
      const count = d["count"] === null || d["count"] === undefined
        ? 1
        : int(ctx, d["count"], joinPath(dp, "count"), L.MIN_UNIT_COUNT, L.MAX_UNIT_COUNT);
      if (count === undefined) continue;
      const pl = placement[placementName];
      if (pl && !Object.hasOwn(pl.pricing, profile)) {
        const pp = joinPath(joinPath(joinPath("profiles.placement", placementName), "pricing"), profile);
        if (!ctx.errors.some((e) => e.startsWith(pp))) {
          ctx.err(pp, `required: ${dp} uses compute profile ${JSON.stringify(profile)} (no price for it)`);
        }
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

  // cross checks per service
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

  if (ctx.errors.length > 0) return fail(ctx);

  const sdl: Sdl = { version, services, profiles: { compute, placement }, deployment, endpoints };
  const groups = buildGroups(sdl);
  checkGroupLimits(ctx, groups);
  if (ctx.errors.length > 0) return fail(ctx);
  const manifest = buildManifest(sdl, groups);
  return { ok: true, sdl, groups, manifest, manifestHash: manifestHash(manifest), warnings: ctx.warnings };
}

// ---------------------------------------------------------------------------------------------------
// groups

function sortEndpoints(e: UnitEndpoint[]): UnitEndpoint[] {
  return e.sort((a, b) => byName(a.kind, b.kind) || a.sequenceNumber - b.sequenceNumber);
}

function buildGroups(sdl: Sdl): Group[] {
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

function checkGroupLimits(ctx: Ctx, groups: Group[]): void {
  if (groups.length > L.MAX_GROUP_COUNT) {
    ctx.err(
      "profiles.placement",
      `at most ${L.MAX_GROUP_COUNT} placement groups per deployment, got ${groups.length}`,
    );
  }
  for (const g of groups) {
    const gp = joinPath("profiles.placement", g.name);
    if (g.units.length > L.MAX_GROUP_UNITS) {
      ctx.err(gp, `at most ${L.MAX_GROUP_UNITS} resource units per group, got ${g.units.length}`);
    }
    for (const u of g.units) {
      if (u.count > L.MAX_UNIT_COUNT) {
        ctx.err(
          joinPath(joinPath("deployment", u.services[0] ?? ""), g.name),
          `count: services ${u.services.join(", ")} share compute profile ${
            JSON.stringify(u.profile)
          }: total count ${u.count} exceeds ${L.MAX_UNIT_COUNT}`,
        );
      }
    }
    const sum = (f: (u: ResourceUnit) => number) => g.units.reduce((s, u) => s + f(u) * u.count, 0);
    const totals: [string, number, number][] = [
      ["cpu", sum((u) => u.cpu), L.MAX_GROUP_CPU],
      ["gpu", sum((u) => u.gpu.units), L.MAX_GROUP_GPU],
      ["memory", sum((u) => u.memory), L.MAX_GROUP_MEMORY],
      ["storage", sum((u) => u.storageBytes), L.MAX_GROUP_STORAGE],
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
