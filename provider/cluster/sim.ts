/**
 * `sim` driver: capacity accounting only, no workload (for simulations). A deploy that does not fit
 * the configured capacity fails; status says every replica runs.
 */
import type { ManifestGroup } from "../../auction/sdl/types.ts";
import {
  allocateGroupPorts,
  type Capacity,
  type ClusterDriver,
  DEFAULT_HOST_PORT_RANGE,
  HostPortAllocator,
  type LeaseStatus,
  type LogOptions,
  NotFoundError,
} from "./driver.ts";
import { groupResources, hostPortKey, leaseNamespace, type Resources, servicePorts } from "./objects.ts";
import { type LeaseId, leaseIdOf } from "../../lib/ids.ts";

export interface SimDriverOptions {
  capacity: Resources;
  hostPortRange?: { min: number; max: number };
  publicHost?: string;
}

function sub(a: Resources, b: Resources): Resources {
  return {
    cpu: a.cpu - b.cpu,
    memory: a.memory - b.memory,
    storage: a.storage - b.storage,
    gpu: a.gpu - b.gpu,
  };
}

function add(a: Resources, b: Resources): Resources {
  return {
    cpu: a.cpu + b.cpu,
    memory: a.memory + b.memory,
    storage: a.storage + b.storage,
    gpu: a.gpu + b.gpu,
  };
}

export class SimDriver implements ClusterDriver {
  readonly kind = "sim" as const;
  private leases = new Map<string, { lease: LeaseId; group: ManifestGroup; use: Resources }>();
  private ports: HostPortAllocator;
  private publicHost: string;

  constructor(private opts: SimDriverOptions) {
    this.ports = new HostPortAllocator(opts.hostPortRange ?? DEFAULT_HOST_PORT_RANGE);
    this.publicHost = opts.publicHost ?? "127.0.0.1";
  }

  private used(except?: string): Resources {
    let u: Resources = { cpu: 0, memory: 0, storage: 0, gpu: 0 };
    for (const [id, l] of this.leases) if (id !== except) u = add(u, l.use);
    return u;
  }

  probeCapacity(): Promise<Capacity> {
    const used = this.used();
    return Promise.resolve({ total: { ...this.opts.capacity }, used, free: sub(this.opts.capacity, used) });
  }

  deploy(lease: LeaseId, group: ManifestGroup): Promise<void> {
    const id = leaseIdOf(lease);
    const use = groupResources(group);
    const free = sub(this.opts.capacity, this.used(id));
    for (const k of ["cpu", "memory", "storage", "gpu"] as const) {
      if (use[k] > free[k]) {
        return Promise.reject(new Error(`insufficient capacity: ${k} needs ${use[k]}, free ${free[k]}`));
      }
    }
    allocateGroupPorts(this.ports, lease, group);
    this.leases.set(id, { lease, group, use });
    return Promise.resolve();
  }

  teardown(leaseId: string): Promise<void> {
    this.leases.delete(leaseId);
    this.ports.release(leaseId);
    return Promise.resolve();
  }

  status(leaseId: string): Promise<LeaseStatus> {
    const l = this.leases.get(leaseId);
    if (!l) return Promise.reject(new NotFoundError(`lease ${leaseId}`));
    const ports = this.ports.get(leaseId);
    return Promise.resolve({
      leaseId,
      namespace: leaseNamespace(leaseId),
      services: l.group.services.map((s) => ({
        name: s.name,
        image: s.image,
        ready: s.count,
        total: s.count,
        uris: servicePorts(s).filter((p) => p.global && p.proto === "tcp").map((p) =>
          `http://${this.publicHost}:${ports.get(hostPortKey(s.name, p.port, p.proto))}`
        ),
        state: "running",
      })),
    });
  }

  logs(leaseId: string, _opts: LogOptions = {}): AsyncIterable<string> {
    const known = this.leases.has(leaseId);
    // no containers, no logs
    return (async function* () {
      if (!known) throw new NotFoundError(`lease ${leaseId}`);
      yield* [] as string[];
    })();
  }

  list(): Promise<string[]> {
    return Promise.resolve([...this.leases.keys()].sort());
  }
}
