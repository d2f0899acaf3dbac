/**
 * The provider's inventory: what it has (cpu millicores, memory bytes, storage bytes per pool, gpus by
 * concrete model) and what its open bids (reservations) and leases hold. Deterministic: gpu replicas are
 * placed first-fit in the configured order. Invariant, asserted after every change: reservations +
 * leases never exceed capacity, so a provider never holds more leases than it can run.
 *
 * Storage pools: ephemeral volumes and persistent `default` volumes draw from `storage.default` (the
 * node disk), persistent volumes of class X from `storage[X]`, `ram` volumes from memory.
 * @module
 */
import type { GpuAttribute, Group, ResourceUnit } from "../auction/sdl/types.ts";
import type { ProviderConfig } from "./config.ts";

/** A concrete gpu model and how many of it (`ram` as Akash writes it, `80Gi`). */
export interface GpuInventory {
  vendor: string;
  model: string;
  ram?: string;
  interface?: string;
  count: number;
}

/** Named `InventoryCapacity` (the cluster drivers' `Capacity` is total/used/free of a driver). */
export interface InventoryCapacity {
  /** millicores */
  cpu: number;
  /** bytes */
  memory: number;
  /** bytes per storage pool (`default`, `beta2`, ...) */
  storage: Record<string, number>;
  gpus: GpuInventory[];
}

/** Gpus of one resource unit placed on one configured gpu entry. */
export interface GpuAllocation {
  /** the resource unit's id */
  unit: number;
  /** index into `capacity.gpus` */
  index: number;
  vendor: string;
  model: string;
  /** gpus taken (units per replica x replicas placed there) */
  count: number;
}

export interface Reservation {
  id: string;
  /** height the reservation was made */
  height: number;
  state: "reserved" | "leased";
  cpu: number;
  memory: number;
  storage: Record<string, number>;
  gpus: GpuAllocation[];
}

/** What a group needs, before gpu placement. */
export interface GroupDemand {
  cpu: number;
  memory: number;
  storage: Record<string, number>;
  gpus: number;
}

/** The storage pool a volume draws from (`null` for ram: memory). */
export function storagePool(vol: { class?: string; persistent: boolean }): string | null {
  if (vol.class === "ram") return null;
  return vol.persistent ? vol.class ?? "default" : "default";
}

/** Totals of a group (all units x count); ram volumes count as memory. */
export function groupDemand(group: Group): GroupDemand {
  const d: GroupDemand = { cpu: 0, memory: 0, storage: {}, gpus: 0 };
  for (const u of group.units) {
    d.cpu += u.cpu * u.count;
    d.memory += u.memory * u.count;
    d.gpus += u.gpu.units * u.count;
    for (const v of u.storage) {
      const pool = storagePool(v);
      if (pool === null) d.memory += v.size * u.count;
      else d.storage[pool] = (d.storage[pool] ?? 0) + v.size * u.count;
    }
  }
  return d;
}

/** Whether a concrete gpu satisfies an SDL gpu attribute (vendor; model or `*`; ram and interface if given). */
export function gpuMatches(have: Omit<GpuInventory, "count">, want: GpuAttribute): boolean {
  return have.vendor === want.vendor && (want.model === "*" || have.model === want.model) &&
    (want.ram === undefined || have.ram === want.ram) &&
    (want.interface === undefined || have.interface === want.interface);
}

/** Indexes of the configured gpus a unit may use (any gpu when the unit names no attributes). */
export function gpuCandidates(gpus: GpuInventory[], unit: ResourceUnit): number[] {
  const out: number[] = [];
  gpus.forEach((g, i) => {
    if (unit.gpu.attributes.length === 0 || unit.gpu.attributes.some((a) => gpuMatches(g, a))) out.push(i);
  });
  return out;
}

/** `nvidia/h100/80Gi/sxm` */
export function gpuLabel(g: Omit<GpuInventory, "count">): string {
  return [g.vendor, g.model, g.ram, g.interface].filter((x) => x).join("/");
}

function formatCpu(m: number): string {
  return m % 1000 === 0 ? `${m / 1000}` : `${m}m`;
}

function formatBytes(b: number): string {
  for (const [s, n] of [["Ti", 2 ** 40], ["Gi", 2 ** 30], ["Mi", 2 ** 20], ["Ki", 2 ** 10]] as const) {
    if (b >= n && b % n === 0) return `${b / n}${s}`;
  }
  return `${b}`;
}

function cloneCapacity(c: InventoryCapacity): InventoryCapacity {
  return { cpu: c.cpu, memory: c.memory, storage: { ...c.storage }, gpus: c.gpus.map((g) => ({ ...g })) };
}

/** Reservations and leases over a fixed capacity, keyed by id (the bid engine uses order ids). */
export class Inventory {
  readonly #cap: InventoryCapacity;
  readonly #held = new Map<string, Reservation>();

  constructor(capacity: InventoryCapacity) {
    for (const [k, v] of [["cpu", capacity.cpu], ["memory", capacity.memory]] as const) {
      if (!Number.isSafeInteger(v) || v < 0) throw new Error(`inventory: invalid ${k} capacity ${v}`);
    }
    this.#cap = cloneCapacity(capacity);
  }

  get capacity(): InventoryCapacity {
    return cloneCapacity(this.#cap);
  }

  /** Reserves what `group` needs (all units x count) under `id`, or says what does not fit. */
  tryReserve(id: string, group: Group, height: number): Reservation | { error: string } {
    if (this.#held.has(id)) return { error: `${id} already holds a reservation` };
    const d = groupDemand(group);
    const free = this.free();
    if (d.cpu > free.cpu) {
      return {
        error: `insufficient cpu: needs ${formatCpu(d.cpu)}, free ${formatCpu(free.cpu)} of ${
          formatCpu(this.#cap.cpu)
        }`,
      };
    }
    if (d.memory > free.memory) {
      return {
        error: `insufficient memory: needs ${formatBytes(d.memory)}, free ${formatBytes(free.memory)} of ${
          formatBytes(this.#cap.memory)
        }`,
      };
    }
    for (const pool of Object.keys(d.storage).sort()) {
      const need = d.storage[pool]!;
      const have = free.storage[pool] ?? 0;
      if (need > have) {
        return {
          error: `insufficient storage (${pool}): needs ${formatBytes(need)}, free ${formatBytes(have)} of ${
            formatBytes(this.#cap.storage[pool] ?? 0)
          }`,
        };
      }
    }
    // gpus: each replica takes `units` gpus of one configured model, first fit in config order
    const gfree = free.gpus.map((g) => g.count);
    const alloc = new Map<string, GpuAllocation>();
    for (const u of group.units) {
      if (u.gpu.units === 0) continue;
      const cands = gpuCandidates(this.#cap.gpus, u);
      for (let r = 0; r < u.count; r++) {
        const i = cands.find((c) => gfree[c]! >= u.gpu.units);
        if (i === undefined) {
          const have = cands.map((c) => `${gpuLabel(this.#cap.gpus[c]!)} x${gfree[c]}`).join(", ") || "none";
          return {
            error: `insufficient gpu: unit ${u.id} needs ${u.gpu.units} gpu(s) per replica x${u.count}` +
              `, ${r} placed; free matching: ${have}`,
          };
        }
        gfree[i]! -= u.gpu.units;
        const key = `${u.id}/${i}`;
        const g = this.#cap.gpus[i]!;
        const a = alloc.get(key) ?? { unit: u.id, index: i, vendor: g.vendor, model: g.model, count: 0 };
        a.count += u.gpu.units;
        alloc.set(key, a);
      }
    }
    const res: Reservation = {
      id,
      height,
      state: "reserved",
      cpu: d.cpu,
      memory: d.memory,
      storage: d.storage,
      gpus: [...alloc.values()],
    };
    this.#held.set(id, res);
    this.#assert();
    return structuredClone(res);
  }

  /** Frees what `id` holds (reservation or lease); false when it holds nothing. */
  release(id: string): boolean {
    return this.#held.delete(id);
  }

  /** The reservation becomes a lease allocation (it no longer expires); false when unknown. */
  commit(id: string): boolean {
    const r = this.#held.get(id);
    if (!r) return false;
    r.state = "leased";
    return true;
  }

  /** Releases reservations (not leases) made at least `timeoutBlocks` before `height`; their ids, sorted. */
  expire(height: number, timeoutBlocks: number): string[] {
    const out: string[] = [];
    for (const r of this.#held.values()) {
      if (r.state === "reserved" && height - r.height >= timeoutBlocks) out.push(r.id);
    }
    out.sort();
    for (const id of out) this.#held.delete(id);
    return out;
  }

  get(id: string): Reservation | undefined {
    const r = this.#held.get(id);
    return r && structuredClone(r);
  }

  /** Every reservation and lease, sorted by id. */
  list(): Reservation[] {
    return [...this.#held.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map((r) =>
      structuredClone(r)
    );
  }

  /** Held by reservations and leases. */
  used(): InventoryCapacity {
    const u: InventoryCapacity = {
      cpu: 0,
      memory: 0,
      storage: Object.fromEntries(Object.keys(this.#cap.storage).map((k) => [k, 0])),
      gpus: this.#cap.gpus.map((g) => ({ ...g, count: 0 })),
    };
    for (const r of this.#held.values()) {
      u.cpu += r.cpu;
      u.memory += r.memory;
      for (const [k, v] of Object.entries(r.storage)) u.storage[k] = (u.storage[k] ?? 0) + v;
      for (const a of r.gpus) u.gpus[a.index]!.count += a.count;
    }
    return u;
  }

  /** Capacity minus {@link used}. */
  free(): InventoryCapacity {
    const u = this.used();
    return {
      cpu: this.#cap.cpu - u.cpu,
      memory: this.#cap.memory - u.memory,
      storage: Object.fromEntries(
        Object.entries(this.#cap.storage).map(([k, v]) => [k, v - (u.storage[k] ?? 0)]),
      ),
      gpus: this.#cap.gpus.map((g, i) => ({ ...g, count: g.count - u.gpus[i]!.count })),
    };
  }

  #assert(): void {
    const f = this.free();
    const u = this.used();
    const bad = f.cpu < 0 || f.memory < 0 || Object.values(f.storage).some((v) => v < 0) ||
      f.gpus.some((g) => g.count < 0) ||
      Object.entries(u.storage).some(([k, v]) => v > 0 && this.#cap.storage[k] === undefined);
    if (bad) {
      throw new Error(`inventory invariant violated: held exceeds capacity (free ${JSON.stringify(f)})`);
    }
  }
}

/** The probed totals of a cluster driver (`ClusterDriver.probeCapacity().total`). */
export interface ProbedResources {
  cpu: number;
  memory: number;
  storage: number;
  gpu: number;
  /** free gpus by model, when the driver knows them (kubernetes: node labels) */
  gpus?: GpuInventory[];
}

/**
 * The inventory capacity of a config: the explicit `capacity`, or the driver's probe (its storage
 * becomes every offered pool: `default` and each persistent class), then `capacityCap` applied. Pools
 * are the node disk (`default`) and the offered persistent classes. Gpus are the configured ones, or
 * when none are configured those the probe found by model.
 */
export function capacityFromConfig(cfg: ProviderConfig, probe?: ProbedResources): InventoryCapacity {
  const pools = ["default", ...cfg.storageClasses.filter((c) => c !== "ram" && c !== "default")];
  let cap: InventoryCapacity;
  if (cfg.capacity === "probe") {
    if (!probe) throw new Error('capacity is "probe" but no probe result was given');
    cap = {
      cpu: Math.max(0, Math.floor(probe.cpu)),
      memory: Math.max(0, Math.floor(probe.memory)),
      storage: Object.fromEntries(pools.map((p) => [p, Math.max(0, Math.floor(probe.storage))])),
      gpus: [],
    };
  } else {
    const c = cfg.capacity;
    cap = {
      cpu: c.cpu,
      memory: c.memory,
      storage: Object.fromEntries(pools.map((p) => [p, c.storage[p] ?? 0])),
      gpus: [],
    };
  }
  cap.gpus = (cfg.gpus.length > 0 ? cfg.gpus : probe?.gpus ?? []).map((g) => ({ ...g }));
  const cc = cfg.capacityCap;
  if (cc) {
    if (cc.cpu !== undefined) cap.cpu = Math.min(cap.cpu, cc.cpu);
    if (cc.memory !== undefined) cap.memory = Math.min(cap.memory, cc.memory);
    if (cc.storage) {
      for (const p of pools) {
        const lim = cc.storage[p] ?? cc.storage["*"];
        if (lim !== undefined) cap.storage[p] = Math.min(cap.storage[p]!, lim);
      }
    }
  }
  return cap;
}
