/**
 * The provider config file (`./cirrus node start --provider --provider-config FILE`): YAML, parsed and
 * validated into a {@link ProviderConfig} with defaults. Every error names the offending path
 * (`pricing.cpu: must be a decimal string ("0.05")`).
 *
 * ```yaml
 * key: provider1                 # keystore key name to bid with (required)
 * cluster:
 *   driver: podman               # kubernetes | podman | sim (required)
 *   kubeconfig: ~/.kube/config   # kubernetes only (default ~/.kube/config)
 *   context: my-context          # kubernetes only, optional
 *   hostPorts: [31000, 31999]    # range for global exposes
 *   publicHost: 127.0.0.1        # host in URIs given to tenants
 * capacity: probe                # or {cpu: 8 | "8000m", memory: 16Gi, storage: 100Gi | {default: 100Gi, beta2: 50Gi}}
 * capacityCap: {cpu: 4, memory: 8Gi, storage: 50Gi}   # optional caps (storage: scalar = every class, or a map)
 * gpus: [{vendor: nvidia, model: h100, ram: 80Gi, interface: sxm, count: 8}]
 * storageClasses: [default, beta2]   # persistent classes offered (ephemeral storage is always offered)
 * attributes: {region: us-west, tier: community}
 * denoms: [ucrs]                 # price denoms this provider bids in
 * pricing:                       # per block; decimals allowed
 *   cpu: "0.05"                  # per millicore
 *   memory: "0.0001"             # per MiB
 *   storage: {default: "0.00005", beta2: "0.0001"}   # per MiB by class (ephemeral volumes: default)
 *   gpu: {default: "100", h100: "400"}               # per gpu, by model
 *   script: ./price.sh           # optional pricing script (relative to the config file's dir)
 *   scriptTimeoutMs: 5000
 *   minimum: "1"                 # never bid below
 * bidDeposit: "500000"           # optional, integer base units (default: the chain's bid deposit)
 * reservationTimeoutBlocks: 30   # release a reservation whose bid never resolved
 * manifestTimeoutBlocks: 600     # close a won lease whose manifest never came (manifest_timeout); 0: never
 * workloadGraceSeconds: 300      # close a lease whose workload keeps failing that long (workload_failed); 0: never
 * workloadCheckSeconds: 10       # how often deployed workloads are checked
 * logLinesMax: 1000              # log lines kept per container (lease logs; older ones are dropped)
 * ```
 *
 * Storage pools: `storage.default` is the node disk; ephemeral volumes and persistent volumes of class
 * `default` draw from it; persistent volumes of another class draw from that class's pool; `ram`
 * volumes are memory-backed and draw from memory (always offered, never persistent).
 * @module
 */
import { DENOM, isDenom } from "../lib/units.ts";
import { isObj } from "../lib/schema.ts";
import { isStorageClass, STORAGE_CLASSES } from "../lib/storage.ts";
import { isAbsolute, join, resolve } from "node:path";
import { formatGi, parseByteSize, parseCpuUnits, scalarText } from "../auction/sdl/quantity.ts";
import { loadYaml } from "../auction/sdl/yaml.ts";
import { PRICE_SCALE } from "../auction/market/decimal.ts";

/** Thrown for an invalid provider config; the message starts with the offending path. */
export class ProviderConfigError extends Error {
  constructor(readonly path: string, readonly problem: string) {
    super(path ? `${path}: ${problem}` : problem);
    this.name = "ProviderConfigError";
  }
}

export type ClusterDriverKind = "kubernetes" | "podman" | "sim";

/** A GPU model this provider has (`ram` in Akash's attribute form, `80Gi`). */
export interface GpuSpec {
  vendor: "nvidia" | "amd";
  model: string;
  ram?: string;
  interface?: "pcie" | "sxm";
  count: number;
}

/** Explicit capacity: cpu millicores, memory bytes, storage bytes per pool. */
export interface CapacitySpec {
  cpu: number;
  memory: number;
  storage: Record<string, number>;
}

/** Caps applied to the probed (or configured) capacity; storage caps by pool (`*` = every pool). */
export interface CapacityCap {
  cpu?: number;
  memory?: number;
  storage?: Record<string, number>;
}

/** Prices scaled by 10^18 (see auction/market/decimal.ts), per block. */
export interface PricingConfig {
  /** per millicore */
  cpu: bigint;
  /** per MiB */
  memory: bigint;
  /** per MiB, by storage class (`default` also prices ephemeral volumes; `ram` falls back to memory) */
  storage: Record<string, bigint>;
  /** per gpu, by model (`default` for the others) */
  gpu: Record<string, bigint>;
  /** absolute path of the pricing script, when set */
  script?: string;
  scriptTimeoutMs: number;
  /** never bid below this */
  minimum: bigint;
}

export interface ProviderConfig {
  key: string;
  cluster: {
    driver: ClusterDriverKind;
    /** absolute path (kubernetes only) */
    kubeconfig?: string;
    context?: string;
    hostPorts: [number, number];
    publicHost: string;
  };
  capacity: "probe" | CapacitySpec;
  capacityCap?: CapacityCap;
  gpus: GpuSpec[];
  storageClasses: string[];
  /** sorted by key */
  attributes: Record<string, string>;
  denoms: string[];
  pricing: PricingConfig;
  /** integer base units */
  bidDeposit?: string;
  reservationTimeoutBlocks: number;
  /** blocks a won lease waits for its manifest before the provider closes it; 0: never */
  manifestTimeoutBlocks: number;
  /** seconds a workload may keep failing before the provider closes its lease; 0: never */
  workloadGraceSeconds: number;
  /** seconds between two checks of the deployed workloads */
  workloadCheckSeconds: number;
  /** log lines kept per container for `lease logs` (older ones are dropped, and tenants told) */
  logLinesMax: number;
}

/** Defaults for the optional settings. */
export const PROVIDER_CONFIG_DEFAULTS = {
  hostPorts: [31000, 31999] as [number, number],
  publicHost: "127.0.0.1",
  kubeconfig: "~/.kube/config",
  storageClasses: ["default"],
  denoms: [DENOM],
  pricing: {
    cpu: "0.05",
    memory: "0.0001",
    storage: { default: "0.00005" } as Record<string, string>,
    gpu: { default: "100" } as Record<string, string>,
    minimum: "0",
    scriptTimeoutMs: 5000,
  },
  reservationTimeoutBlocks: 30,
  manifestTimeoutBlocks: 600,
  workloadGraceSeconds: 300,
  workloadCheckSeconds: 10,
  logLinesMax: 1000,
} as const;

const ATTR_KEY_RE = /^[a-zA-Z][\w/.\-]{0,127}$/;
const MODEL_RE = /^[a-zA-Z0-9][\w.\-]{0,63}$/;

type Obj = Record<string, unknown>;

/** Storage pools a provider may have: every storage class but `ram` (memory-backed). */
const STORAGE_POOLS = STORAGE_CLASSES.filter((c) => c !== "ram");

function fail(path: string, problem: string): never {
  throw new ProviderConfigError(path, problem);
}

function join2(base: string, key: string | number): string {
  return typeof key === "number" ? `${base}[${key}]` : base ? `${base}.${key}` : key;
}

function obj(v: unknown, path: string, known: string[]): Obj {
  if (!isObj(v)) fail(path, `must be a map with keys ${known.join(", ")}`);
  for (const k of Object.keys(v)) {
    if (!known.includes(k)) fail(join2(path, k), `unknown key (known: ${known.join(", ")})`);
  }
  return v;
}

function str(v: unknown, path: string): string {
  if (typeof v !== "string" || v.trim() === "") fail(path, "must be a non-empty string");
  return v.trim();
}

function int(v: unknown, path: string, min: number, max: number): number {
  const n = typeof v === "bigint" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) {
    fail(path, `must be an integer from ${min} to ${max}`);
  }
  return n;
}

/** A non-negative decimal (string or YAML number, at most 18 decimals) scaled by 10^18. */
export function parseDecimalPrice(v: unknown): bigint | null {
  if (typeof v === "boolean") return null;
  const t = scalarText(v)?.trim();
  if (t === undefined) return null;
  const m = /^(\d{1,38})(?:\.(\d{1,18}))?$/.exec(t) ?? /^()\.(\d{1,18})$/.exec(t);
  if (!m) return null;
  return BigInt(m[1] || "0") * PRICE_SCALE + BigInt((m[2] ?? "").padEnd(18, "0"));
}

function price(v: unknown, path: string): bigint {
  const p = parseDecimalPrice(v);
  if (p === null) fail(path, `must be a decimal string ("0.05"), got ${JSON.stringify(scalarText(v) ?? v)}`);
  return p;
}

function priceMap(v: unknown, path: string, what: string): Record<string, bigint> {
  if (!isObj(v)) fail(path, `must be a map of ${what} to a decimal price`);
  const out: Record<string, bigint> = {};
  for (const k of Object.keys(v).sort()) out[k] = price(v[k], join2(path, k));
  return out;
}

function cpu(v: unknown, path: string): number {
  const r = parseCpuUnits(v);
  if (!r.ok) fail(path, r.error);
  return r.value;
}

function bytes(v: unknown, path: string): number {
  const r = parseByteSize(v);
  if (!r.ok) fail(path, r.error);
  return r.value;
}

function storagePools(v: unknown, path: string, allowAll: boolean): Record<string, number> {
  if (!isObj(v)) return allowAll ? { "*": bytes(v, path) } : { default: bytes(v, path) };
  const out: Record<string, number> = {};
  for (const k of Object.keys(v).sort()) {
    if (!isStorageClass(k) || k === "ram") {
      fail(join2(path, k), `unknown storage pool (want ${STORAGE_POOLS.join(", ")}; ram volumes use memory)`);
    }
    out[k] = bytes(v[k], join2(path, k));
  }
  return out;
}

function expandPath(p: string, baseDir: string): string {
  if (p === "~" || p.startsWith("~/")) {
    const home = Deno.env.get("HOME") ?? "";
    return join(home, p.slice(1));
  }
  return isAbsolute(p) ? p : resolve(baseDir, p);
}

const TOP_KEYS = [
  "key",
  "cluster",
  "capacity",
  "capacityCap",
  "gpus",
  "storageClasses",
  "attributes",
  "denoms",
  "pricing",
  "bidDeposit",
  "reservationTimeoutBlocks",
  "manifestTimeoutBlocks",
  "workloadGraceSeconds",
  "workloadCheckSeconds",
  "logLinesMax",
];

/**
 * Parses and validates a provider config (YAML text). `baseDir` resolves relative paths (the config
 * file's directory). Throws {@link ProviderConfigError}.
 */
export function parseProviderConfig(text: string, baseDir: string): ProviderConfig {
  const y = loadYaml(text);
  if (!y.ok) fail("", y.error.replace(/^yaml:/, "provider config: invalid YAML:"));
  const top = obj(y.value ?? {}, "", TOP_KEYS);
  const D = PROVIDER_CONFIG_DEFAULTS;

  const key = top.key === undefined
    ? fail("key", "required (the keystore key name to bid with)")
    : str(top.key, "key");

  // cluster
  if (top.cluster === undefined) fail("cluster", "required (at least {driver: kubernetes | podman | sim})");
  const c = obj(top.cluster, "cluster", ["driver", "kubeconfig", "context", "hostPorts", "publicHost"]);
  const driver = c.driver;
  if (driver !== "kubernetes" && driver !== "podman" && driver !== "sim") {
    fail("cluster.driver", `must be kubernetes, podman or sim, got ${JSON.stringify(driver ?? null)}`);
  }
  const cluster: ProviderConfig["cluster"] = {
    driver,
    hostPorts: [...D.hostPorts],
    publicHost: c.publicHost === undefined ? D.publicHost : str(c.publicHost, "cluster.publicHost"),
  };
  if (driver === "kubernetes") {
    cluster.kubeconfig = expandPath(
      c.kubeconfig === undefined ? D.kubeconfig : str(c.kubeconfig, "cluster.kubeconfig"),
      baseDir,
    );
    if (c.context !== undefined) cluster.context = str(c.context, "cluster.context");
  } else {
    for (const k of ["kubeconfig", "context"]) {
      if (c[k] !== undefined) fail(`cluster.${k}`, `only for driver kubernetes (driver is ${driver})`);
    }
  }
  if (c.hostPorts !== undefined) {
    const hp = c.hostPorts;
    if (!Array.isArray(hp) || hp.length !== 2) fail("cluster.hostPorts", "must be [first, last]");
    const lo = int(hp[0], "cluster.hostPorts[0]", 1, 65535);
    const hi = int(hp[1], "cluster.hostPorts[1]", 1, 65535);
    if (lo > hi) fail("cluster.hostPorts", `first port ${lo} is above last port ${hi}`);
    cluster.hostPorts = [lo, hi];
  }

  // storage classes
  let storageClasses: string[] = [...D.storageClasses];
  if (top.storageClasses !== undefined) {
    const sc = top.storageClasses;
    if (!Array.isArray(sc)) fail("storageClasses", "must be a list of storage classes");
    storageClasses = [];
    sc.forEach((v, i) => {
      const p = `storageClasses[${i}]`;
      if (!isStorageClass(v)) {
        fail(p, `must be one of ${STORAGE_CLASSES.join(", ")}`);
      }
      if (storageClasses.includes(v)) fail(p, `duplicate class ${v}`);
      storageClasses.push(v);
    });
    if (storageClasses.length > 0 && !storageClasses.some((s) => s !== "ram")) {
      fail("storageClasses", "persistent storage requires a non-ram class (ram volumes are always offered)");
    }
  }
  const persistentClasses = storageClasses.filter((s) => s !== "ram");

  // capacity
  let capacity: ProviderConfig["capacity"];
  if (top.capacity === undefined) fail("capacity", 'required ("probe" or {cpu, memory, storage})');
  if (top.capacity === "probe") capacity = "probe";
  else {
    if (!isObj(top.capacity)) fail("capacity", 'must be "probe" or {cpu, memory, storage}');
    const cap = obj(top.capacity, "capacity", ["cpu", "memory", "storage"]);
    for (const k of ["cpu", "memory", "storage"]) {
      if (cap[k] === undefined) fail(`capacity.${k}`, "required");
    }
    const storage = storagePools(cap.storage, "capacity.storage", false);
    if (storage.default === undefined) {
      fail("capacity.storage.default", "required (the node disk: ephemeral volumes use it)");
    }
    for (const cls of persistentClasses) {
      if (storage[cls] === undefined) {
        fail(`capacity.storage.${cls}`, `required (${cls} is in storageClasses)`);
      }
    }
    capacity = { cpu: cpu(cap.cpu, "capacity.cpu"), memory: bytes(cap.memory, "capacity.memory"), storage };
  }
  let capacityCap: CapacityCap | undefined;
  if (top.capacityCap !== undefined) {
    const cc = obj(top.capacityCap, "capacityCap", ["cpu", "memory", "storage"]);
    capacityCap = {};
    if (cc.cpu !== undefined) capacityCap.cpu = cpu(cc.cpu, "capacityCap.cpu");
    if (cc.memory !== undefined) capacityCap.memory = bytes(cc.memory, "capacityCap.memory");
    if (cc.storage !== undefined) capacityCap.storage = storagePools(cc.storage, "capacityCap.storage", true);
  }

  // gpus
  const gpus: GpuSpec[] = [];
  if (top.gpus !== undefined) {
    if (!Array.isArray(top.gpus)) fail("gpus", "must be a list of {vendor, model, ram, interface, count}");
    const seen = new Set<string>();
    top.gpus.forEach((g, i) => {
      const p = `gpus[${i}]`;
      const o = obj(g, p, ["vendor", "model", "ram", "interface", "count"]);
      if (o.vendor !== "nvidia" && o.vendor !== "amd") fail(`${p}.vendor`, "must be nvidia or amd");
      const model = o.model === undefined
        ? fail(`${p}.model`, "required")
        : str(scalarText(o.model), `${p}.model`);
      if (!MODEL_RE.test(model) || model === "*") {
        fail(`${p}.model`, `invalid model name ${JSON.stringify(model)}`);
      }
      const spec: GpuSpec = {
        vendor: o.vendor,
        model: model.toLowerCase(),
        count: int(o.count, `${p}.count`, 1, 4096),
      };
      if (o.ram !== undefined) spec.ram = formatGi(bytes(o.ram, `${p}.ram`));
      if (o.interface !== undefined) {
        if (o.interface !== "pcie" && o.interface !== "sxm") fail(`${p}.interface`, "must be pcie or sxm");
        spec.interface = o.interface;
      }
      const id = `${spec.vendor}/${spec.model}/${spec.ram ?? ""}/${spec.interface ?? ""}`;
      if (seen.has(id)) fail(p, `duplicate gpu ${id} (add up the counts)`);
      seen.add(id);
      gpus.push(spec);
    });
  }

  // attributes
  const attributes: Record<string, string> = {};
  if (top.attributes !== undefined) {
    if (!isObj(top.attributes)) fail("attributes", "must be a map of key to value");
    for (const k of Object.keys(top.attributes).sort()) {
      const p = `attributes.${k}`;
      if (!ATTR_KEY_RE.test(k)) {
        fail(p, "key must be 1-128 characters [A-Za-z0-9_/.-] starting with a letter");
      }
      if (k.startsWith("capabilities/gpu/")) {
        fail(p, "gpu capabilities are derived from gpus; list the gpus there");
      }
      const v = scalarText(top.attributes[k]);
      if (v === undefined || v.length > 256) fail(p, "must be a string of at most 256 characters");
      attributes[k] = v;
    }
  }

  // denoms
  let denoms: string[] = [...D.denoms];
  if (top.denoms !== undefined) {
    if (!Array.isArray(top.denoms) || top.denoms.length === 0) fail("denoms", "must be a non-empty list");
    denoms = top.denoms.map((d, i) => {
      if (!isDenom(d)) fail(`denoms[${i}]`, "invalid denom");
      return d;
    });
  }

  // pricing
  const pr = top.pricing === undefined ? {} : obj(top.pricing, "pricing", [
    "cpu",
    "memory",
    "storage",
    "gpu",
    "script",
    "scriptTimeoutMs",
    "minimum",
  ]);
  const pricing: PricingConfig = {
    cpu: price(pr.cpu ?? D.pricing.cpu, "pricing.cpu"),
    memory: price(pr.memory ?? D.pricing.memory, "pricing.memory"),
    storage: pr.storage === undefined
      ? priceMap(D.pricing.storage, "pricing.storage", "class")
      : isObj(pr.storage)
      ? priceMap(pr.storage, "pricing.storage", "class")
      : { default: price(pr.storage, "pricing.storage") },
    gpu: pr.gpu === undefined
      ? priceMap(D.pricing.gpu, "pricing.gpu", "model")
      : isObj(pr.gpu)
      ? priceMap(pr.gpu, "pricing.gpu", "model")
      : { default: price(pr.gpu, "pricing.gpu") },
    scriptTimeoutMs: pr.scriptTimeoutMs === undefined
      ? D.pricing.scriptTimeoutMs
      : int(pr.scriptTimeoutMs, "pricing.scriptTimeoutMs", 100, 60_000),
    minimum: price(pr.minimum ?? D.pricing.minimum, "pricing.minimum"),
  };
  for (const k of Object.keys(pricing.storage)) {
    if (!isStorageClass(k)) fail(`pricing.storage.${k}`, `unknown storage class`);
  }
  if (pricing.storage.default === undefined) {
    fail("pricing.storage.default", "required (prices ephemeral volumes and classes without a price)");
  }
  for (const g of gpus) {
    if (pricing.gpu[g.model] === undefined && pricing.gpu.default === undefined) {
      fail("pricing.gpu", `no price for gpu model ${g.model} (add ${g.model} or default)`);
    }
  }
  if (pr.script !== undefined) pricing.script = expandPath(str(pr.script, "pricing.script"), baseDir);

  const out: ProviderConfig = {
    key,
    cluster,
    capacity,
    gpus,
    storageClasses,
    attributes,
    denoms,
    pricing,
    reservationTimeoutBlocks: top.reservationTimeoutBlocks === undefined
      ? D.reservationTimeoutBlocks
      : int(top.reservationTimeoutBlocks, "reservationTimeoutBlocks", 1, 1_000_000),
    manifestTimeoutBlocks: top.manifestTimeoutBlocks === undefined
      ? D.manifestTimeoutBlocks
      : int(top.manifestTimeoutBlocks, "manifestTimeoutBlocks", 0, 10_000_000),
    workloadGraceSeconds: top.workloadGraceSeconds === undefined
      ? D.workloadGraceSeconds
      : int(top.workloadGraceSeconds, "workloadGraceSeconds", 0, 30 * 86_400),
    workloadCheckSeconds: top.workloadCheckSeconds === undefined
      ? D.workloadCheckSeconds
      : int(top.workloadCheckSeconds, "workloadCheckSeconds", 1, 3600),
    logLinesMax: top.logLinesMax === undefined
      ? D.logLinesMax
      : int(top.logLinesMax, "logLinesMax", 10, 100_000),
  };
  if (capacityCap) out.capacityCap = capacityCap;
  if (top.bidDeposit !== undefined) {
    const t = typeof top.bidDeposit === "boolean" ? undefined : scalarText(top.bidDeposit);
    if (t === undefined || !/^(0|[1-9]\d{0,37})$/.test(t) || t === "0") {
      fail("bidDeposit", 'must be a positive integer amount of base units ("500000")');
    }
    out.bidDeposit = t;
  }
  return out;
}

/** Reads and parses a provider config file (relative paths resolve against its directory). */
export async function loadProviderConfig(file: string): Promise<ProviderConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw new ProviderConfigError("", `cannot read provider config ${file}: ${(e as Error).message}`);
  }
  return parseProviderConfig(text, resolve(file, ".."));
}

/** Akash's capability attribute key of a gpu: `capabilities/gpu/vendor/nvidia/model/h100/ram/80Gi/interface/sxm`. */
export function gpuCapabilityKey(
  g: { vendor: string; model: string; ram?: string; interface?: string },
): string {
  let k = `capabilities/gpu/vendor/${g.vendor}/model/${g.model}`;
  if (g.ram) k += `/ram/${g.ram}`;
  if (g.interface) k += `/interface/${g.interface}`;
  return k;
}

/**
 * The attributes to register on chain (`provider.create`): the configured ones, one gpu capability
 * per gpu model (value "true", the form the chain's placement check reads) and the persistent
 * storage classes (`capabilities/storage/N/class`, `.../persistent`), sorted by key.
 */
export function advertisedAttributes(cfg: ProviderConfig): { key: string; value: string }[] {
  const m = new Map(Object.entries(cfg.attributes));
  for (const g of cfg.gpus) m.set(gpuCapabilityKey(g), "true");
  cfg.storageClasses.filter((c) => c !== "ram").forEach((cls, i) => {
    m.set(`capabilities/storage/${i + 1}/class`, cls);
    m.set(`capabilities/storage/${i + 1}/persistent`, "true");
  });
  return [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, value]) => ({ key, value }));
}
