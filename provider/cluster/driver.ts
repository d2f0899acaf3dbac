/**
 * The cluster driver interface (kubernetes, podman, sim), the host-port allocator the drivers own,
 * and the reconcile step the provider runs on start and on every block.
 */
import type { ManifestGroup } from "../../auction/sdl/types.ts";
import { type LeaseId, leaseIdOf } from "../../lib/ids.ts";
import type { GpuInventory } from "../inventory.ts";
import { globalPortKeys, type Resources } from "./objects.ts";

export interface Capacity {
  total: Resources;
  /** what this provider's leases (or, for kubernetes, every pod) have requested */
  used: Resources;
  free: Resources;
  /** free gpus by model, where the driver can tell models apart (kubernetes: node labels) */
  gpus?: GpuInventory[];
}

export interface ServiceStatus {
  name: string;
  image: string;
  /** replicas running and ready */
  ready: number;
  /** replicas wanted (the manifest's count) */
  total: number;
  /** `http://HOST:PORT` of each global tcp expose */
  uris: string[];
  /** `running`, `pending`, `missing`, `failed: image not found`, `crashloop: exited with code 1`, ... */
  state: string;
  message?: string;
}

export interface LeaseStatus {
  leaseId: string;
  namespace: string;
  services: ServiceStatus[];
}

export interface LogOptions {
  /** only this service's containers (default: all) */
  service?: string;
  /** last N lines of each container */
  tail?: number;
  /** keep streaming until `signal` aborts (or the containers end) */
  follow?: boolean;
  signal?: AbortSignal;
}

/**
 * Where a container's log was read up to (the driver's own resume point): the runtime's timestamp of
 * the last line read, in ns since the epoch, and how many lines read had exactly that timestamp
 * (a runtime stamps a whole chunk of lines with one time).
 */
export interface LogPosition {
  timeNs: bigint;
  atTime: number;
}

/** New lines of one container since a {@link LogPosition} ({@link ClusterDriver.logsSince}). */
export interface ContainerLog {
  /** the container's id (a new container, e.g. after a redeploy, has a new one; a restart keeps it) */
  id: string;
  /** its name, without the lease's namespace */
  name: string;
  /** the SDL service it runs */
  service: string;
  /** oldest first */
  lines: { timeNs: bigint; line: string }[];
  /** where the next read starts (pass it back) */
  position: LogPosition;
}

/** What {@link ClusterDriver.exec} runs: a command in one replica of one service. */
export interface ExecOptions {
  /** the service (default: the lease's only service) */
  service?: string;
  /** the replica, 0-based (default 0) */
  replica?: number;
  /** the program and its arguments */
  command: string[];
  /** killed after this long (exit code 124) */
  timeoutMs: number;
  /** most bytes kept of stdout and of stderr each */
  outputMaxBytes: number;
}

/** What {@link ClusterDriver.attach} starts: an interactive process in one replica of one service. */
export interface AttachOptions {
  service?: string;
  replica?: number;
  /** the program and its arguments (a shell, usually) */
  command: string[];
  /** a pseudo-terminal in the container (stdout and stderr are then one stream) */
  tty: boolean;
  /** environment added (TERM, COLUMNS, LINES: the tenant's terminal at the start) */
  env?: Record<string, string>;
}

/** A running interactive process ({@link ClusterDriver.attach}). */
export interface Attached {
  /** stdin of the process */
  stdin: WritableStream<Uint8Array>;
  /** its output (stdout and stderr) */
  output: ReadableStream<Uint8Array>[];
  /** resolves with its exit code */
  exit: Promise<number>;
  kill(): void;
}

/** The outcome of {@link ClusterDriver.exec}. */
export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** output beyond `outputMaxBytes` was dropped */
  truncated: boolean;
}

export type DriverKind = "kubernetes" | "podman" | "sim";

export interface ClusterDriver {
  readonly kind: DriverKind;
  /** total / used / free of what this driver can run */
  probeCapacity(): Promise<Capacity>;
  /** Create the lease's workload, or replace it (roll to the new manifest version). */
  deploy(lease: LeaseId, group: ManifestGroup): Promise<void>;
  /** Remove everything of the lease (no error when there is nothing). */
  teardown(leaseId: string): Promise<void>;
  /** Per service: replicas, uris, state. Throws `NotFoundError` for an unknown lease. */
  status(leaseId: string): Promise<LeaseStatus>;
  /** Log lines (without the newline), oldest first. */
  logs(leaseId: string, opts?: LogOptions): AsyncIterable<string>;
  /**
   * Every container of the lease (running or not) with its log lines after `positions` (by container
   * id; a container without a position: its whole log). The provider's log keeper reads through
   * this; absent when the driver cannot (then `logs` is used as is). Throws `NotFoundError` for an
   * unknown lease.
   */
  logsSince?(leaseId: string, positions: ReadonlyMap<string, LogPosition>): Promise<ContainerLog[]>;
  /**
   * Runs a command in a replica of a service of the lease (`lease shell`); absent when the driver
   * cannot. Throws `NotFoundError` for an unknown lease, service or replica.
   */
  exec?(leaseId: string, opts: ExecOptions): Promise<ExecResult>;
  /**
   * Starts an interactive process (stdin, output, optionally a tty) in a replica of a service of the
   * lease (`lease shell` without a command); absent when the driver cannot. Throws `NotFoundError`
   * like `exec`.
   */
  attach?(leaseId: string, opts: AttachOptions): Promise<Attached>;
  /** Lease ids (`leaseIdOf`) that have a workload here. */
  list(): Promise<string[]>;
  /**
   * Lease ids the driver keeps anything for (state files, host ports), workload or not; a superset
   * of `list()`. Reconcile tears down those without an active lease. Default: `list()`.
   */
  known?(): Promise<string[]>;
  /** Release resources held by the driver object itself (not the workloads). */
  close?(): Promise<void>;
}

export class NotFoundError extends Error {
  constructor(what: string) {
    super(`not found: ${what}`);
    this.name = "NotFoundError";
  }
}

export const DEFAULT_HOST_PORT_RANGE = { min: 30000, max: 32767 } as const;

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * Host ports for global exposes, from a range. Deterministic: a port's first choice is
 * `min + fnv1a(leaseId|key) mod size`, then the next free one (wrapping). Collision-free across
 * leases; a lease keeps its ports when it is redeployed. `isFree` may veto ports that something
 * else on the host holds. The state is a plain object, to be saved by the driver.
 */
export class HostPortAllocator {
  readonly min: number;
  readonly max: number;
  /** leaseId -> key -> port */
  private byLease = new Map<string, Map<string, number>>();
  private used = new Map<number, string>();

  constructor(
    range: { min: number; max: number } = DEFAULT_HOST_PORT_RANGE,
    state?: Record<string, Record<string, number>>,
  ) {
    if (!(range.min >= 1 && range.max <= 65535 && range.min <= range.max)) {
      throw new Error("bad host port range");
    }
    this.min = range.min;
    this.max = range.max;
    for (const [lease, ports] of Object.entries(state ?? {})) {
      for (const [key, port] of Object.entries(ports)) this.claim(lease, key, port);
    }
  }

  private claim(lease: string, key: string, port: number): void {
    let m = this.byLease.get(lease);
    if (!m) this.byLease.set(lease, m = new Map());
    m.set(key, port);
    this.used.set(port, lease);
  }

  /** The ports of a lease for `keys`: existing ones kept, new ones allocated; others released. */
  allocate(
    leaseId: string,
    keys: string[],
    isFree: (port: number) => boolean = () => true,
  ): Map<string, number> {
    const prev = this.byLease.get(leaseId) ?? new Map<string, number>();
    const out = new Map<string, number>();
    for (const k of keys) {
      const p = prev.get(k);
      if (p !== undefined && p >= this.min && p <= this.max) out.set(k, p);
    }
    const taken = new Set<number>(out.values());
    const size = this.max - this.min + 1;
    for (const k of keys) {
      if (out.has(k)) continue;
      const start = fnv1a(`${leaseId}|${k}`) % size;
      let found: number | undefined;
      for (let i = 0; i < size; i++) {
        const port = this.min + ((start + i) % size);
        const owner = this.used.get(port);
        if (!taken.has(port) && (owner === undefined || owner === leaseId) && isFree(port)) {
          found = port;
          break;
        }
      }
      if (found === undefined) throw new Error(`no free host port in ${this.min}-${this.max}`);
      out.set(k, found);
      taken.add(found);
    }
    this.release(leaseId);
    for (const [k, p] of out) this.claim(leaseId, k, p);
    return out;
  }

  /** The ports a lease holds now (empty map when none). */
  get(leaseId: string): Map<string, number> {
    return new Map(this.byLease.get(leaseId) ?? []);
  }

  release(leaseId: string): void {
    const m = this.byLease.get(leaseId);
    if (!m) return;
    for (const p of m.values()) if (this.used.get(p) === leaseId) this.used.delete(p);
    this.byLease.delete(leaseId);
  }

  toJSON(): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    for (const [lease, m] of [...this.byLease].sort(([a], [b]) => (a < b ? -1 : 1))) {
      out[lease] = Object.fromEntries(m);
    }
    return out;
  }
}

/** The host ports a lease's group needs, from an allocator. */
export function allocateGroupPorts(
  alloc: HostPortAllocator,
  lease: LeaseId,
  group: ManifestGroup,
  isFree?: (port: number) => boolean,
): Map<string, number> {
  return alloc.allocate(leaseIdOf(lease), globalPortKeys(group), isFree);
}

export interface ActiveLease {
  lease: LeaseId;
  /** the stored manifest group; undefined when the provider has not received the manifest yet */
  group?: ManifestGroup;
}

export interface ReconcileResult {
  removed: string[];
  redeployed: string[];
  errors: { leaseId: string; error: string }[];
}

/**
 * Make the cluster match the chain: workloads without an active lease are torn down; active leases
 * with a stored manifest but no workload are deployed again. Run it on start. On each block, tear
 * down the leases that closed in it (or run this again: cheap for sim, a few listing calls for the
 * others), so a closed lease loses its workload within one block. One lease's failure does not stop
 * the rest.
 */
export async function reconcile(
  driver: ClusterDriver,
  active: Iterable<ActiveLease>,
): Promise<ReconcileResult> {
  const want = new Map<string, ActiveLease>();
  for (const a of active) want.set(leaseIdOf(a.lease), a);
  const have = new Set(await driver.list());
  const known = new Set([...have, ...(driver.known ? await driver.known() : [])]);
  const res: ReconcileResult = { removed: [], redeployed: [], errors: [] };
  for (const id of [...known].sort()) {
    if (want.has(id)) continue;
    try {
      await driver.teardown(id);
      res.removed.push(id);
    } catch (e) {
      res.errors.push({ leaseId: id, error: (e as Error).message });
    }
  }
  for (const [id, a] of [...want].sort(([x], [y]) => (x < y ? -1 : 1))) {
    if (have.has(id) || !a.group) continue;
    try {
      await driver.deploy(a.lease, a.group);
      res.redeployed.push(id);
    } catch (e) {
      res.errors.push({ leaseId: id, error: (e as Error).message });
    }
  }
  return res;
}
