/**
 * Compute profiles (`profiles.compute.<name>.resources`): cpu, memory, storage volumes (with their
 * class and persistence) and gpus (vendors, models, ram, interface), within Akash's unit limits.
 * @module
 */
import { isStorageClass, STORAGE_CLASSES, type StorageClass } from "../../lib/storage.ts";
import * as L from "./limits.ts";
import { formatGi, parseByteSize, parseCpuUnits, type QuantityResult, scalarText } from "./quantity.ts";
import {
  type Ctx,
  describe,
  entries,
  isYamlMapping,
  joinPath,
  parseBool,
  readInt,
  readMap,
  readStr,
  unknownKeys,
} from "./read.ts";
import type { Attribute, ComputeResources, Gpu, GpuAttribute, StorageVolume } from "./types.ts";

/**
 * A quantity parsed by `parse` and checked against `min..max`: its value (also when out of range,
 * which is reported as `must be <range>, got <text> (<value><unit>)`), or undefined when it does not
 * parse (reported).
 */
function readQuantity(
  ctx: Ctx,
  raw: unknown,
  path: string,
  parse: (v: unknown) => QuantityResult,
  limits: { min: number; max: number; range: string; unit: string },
): number | undefined {
  const q = parse(raw);
  if (!q.ok) {
    ctx.err(path, q.error);
    return undefined;
  }
  if (q.value < limits.min || q.value > limits.max) {
    ctx.err(path, `must be ${limits.range}, got ${scalarText(raw)} (${q.value}${limits.unit})`);
  }
  return q.value;
}

function parseStorageVolume(ctx: Ctx, v: unknown, path: string): StorageVolume | undefined {
  const o = readMap(ctx, v, path, true);
  if (!o) return undefined;
  unknownKeys(ctx, o, path, ["name", "size", "attributes"]);
  // Go names a single-mapping volume "default" whatever its `name`; like Akash's TS SDK we keep it.
  let name = "default";
  const n = readStr(ctx, o["name"], joinPath(path, "name"));
  if (n !== undefined && n !== "") name = n;
  const size = readQuantity(ctx, o["size"], joinPath(path, "size"), parseByteSize, {
    min: L.UNIT_STORAGE_MIN,
    max: L.UNIT_STORAGE_MAX,
    range: `${L.UNIT_STORAGE_MIN / 1024 ** 2}Mi..${L.UNIT_STORAGE_MAX / 1024 ** 4}Ti`,
    unit: " bytes",
  }) ?? 0;
  const ap = joinPath(path, "attributes");
  const ao = readMap(ctx, o["attributes"], ap) ?? {};
  let persistent = false;
  let cls: StorageClass | undefined;
  for (const [k, raw] of entries(ao)) {
    if (k === "persistent") {
      const b = parseBool(raw);
      if (b === undefined) ctx.err(joinPath(ap, k), `must be true or false, got ${describe(raw)}`);
      else persistent = b;
    } else if (k === "class") {
      const c = scalarText(raw);
      if (!isStorageClass(c)) {
        ctx.err(joinPath(ap, k), `must be one of ${STORAGE_CLASSES.join(", ")}, got ${describe(raw)}`);
      } else cls = c;
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
  const o = readMap(ctx, v, path);
  if (!o) return gpu;
  for (const k of Object.keys(o)) {
    if (k !== "units" && k !== "attributes") {
      ctx.err(joinPath(path, k), "unsupported gpu field (want units, attributes)");
    }
  }
  const units = readInt(
    ctx,
    o["units"],
    joinPath(path, "units"),
    0,
    L.UNIT_GPU_MAX,
    `a whole number of gpus 0..${L.UNIT_GPU_MAX}`,
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
  const ao = readMap(ctx, rawAttrs, ap);
  if (!ao) return gpu;
  for (const k of Object.keys(ao)) {
    if (k !== "vendor") ctx.err(joinPath(ap, k), "unsupported gpu attribute (want vendor)");
  }
  const vp = joinPath(ap, "vendor");
  const vo = readMap(ctx, ao["vendor"], vp, true);
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
      const mo = readMap(ctx, m, ip, true);
      if (!mo) return;
      unknownKeys(ctx, mo, ip, ["model", "ram", "interface"]);
      const model = readStr(ctx, mo["model"], joinPath(ip, "model"));
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

/** Parses one compute profile; undefined when its cpu, memory or storage is unusable. */
export function parseCompute(ctx: Ctx, v: unknown, path: string): ComputeResources | undefined {
  const o = readMap(ctx, v, path, true);
  if (!o) return undefined;
  unknownKeys(ctx, o, path, ["resources"]);
  const rp = joinPath(path, "resources");
  const r = readMap(ctx, o["resources"], rp, true);
  if (!r) return undefined;
  unknownKeys(ctx, r, rp, ["cpu", "memory", "storage", "gpu"]);
  let ok = true;

  // cpu
  const cp = joinPath(rp, "cpu");
  let cpu = 0;
  const cpuAttributes: Attribute[] = [];
  const co = readMap(ctx, r["cpu"], cp, true);
  if (!co) ok = false;
  else {
    unknownKeys(ctx, co, cp, ["units", "attributes"]);
    const c = readQuantity(ctx, co["units"], joinPath(cp, "units"), parseCpuUnits, {
      min: L.UNIT_CPU_MIN,
      max: L.UNIT_CPU_MAX,
      range: `${L.UNIT_CPU_MIN}m..${L.UNIT_CPU_MAX / 1000} cpus`,
      unit: "m",
    });
    if (c === undefined) ok = false;
    else cpu = c;
    const ap = joinPath(cp, "attributes");
    for (const [k, val] of entries(readMap(ctx, co["attributes"], ap) ?? {})) {
      if (k !== "arch") ctx.err(joinPath(ap, k), "unsupported cpu attribute (want arch)");
      else cpuAttributes.push({ key: k, value: readStr(ctx, val, joinPath(ap, k)) ?? "" });
    }
  }

  // memory
  const mp = joinPath(rp, "memory");
  let memory = 0;
  const mo = readMap(ctx, r["memory"], mp, true);
  if (!mo) ok = false;
  else {
    unknownKeys(ctx, mo, mp, ["size", "attributes"]);
    const m = readQuantity(ctx, mo["size"], joinPath(mp, "size"), parseByteSize, {
      min: L.UNIT_MEMORY_MIN,
      max: L.UNIT_MEMORY_MAX,
      range: `1Mi..${L.UNIT_MEMORY_MAX / 1024 ** 4}Ti`,
      unit: " bytes",
    });
    if (m === undefined) ok = false;
    else memory = m;
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
  } else if (isYamlMapping(rawStorage)) {
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
