/**
 * Logs that last: the provider keeps the last `linesMax` lines of each container of each lease, read
 * from the driver incrementally (`ClusterDriver.logsSince`), and numbers them: line `seq` of a
 * container (by its id) is the same line on every read, so a tenant whose log stream broke resumes
 * from a cursor (container id -> next seq) without losing or repeating a line. A container's lines
 * are kept across its restarts (same id) and, after a redeploy, beside the new container's; when the
 * lines a cursor asks for are no longer kept, the answer says how many were dropped.
 *
 * {@link LogKeeper} is the pure store; {@link LeaseLogs} adds the driver reads (one at a time per
 * lease). The keeper lives in memory: after a provider restart it is refilled from the runtime's
 * logs of the current containers, which number their lines the same way (from the container's first
 * line) as long as the runtime kept them all.
 * @module
 */
import type { ClusterDriver, ContainerLog, LogPosition } from "./cluster/driver.ts";

/** Longest line kept, characters (longer ones are cut, with a mark). */
export const LOG_LINE_MAX_CHARS = 16_384;
/** Most containers kept per lease (those that are gone are forgotten first). */
export const LOG_CONTAINERS_MAX = 64;
/** Default of the provider config's `logLinesMax`: lines kept per container. */
export const LOG_LINES_MAX_DEFAULT = 1000;

/** A kept line. */
export interface KeptLine {
  /** short container id (the cursor's key) */
  id: string;
  /** container name (without the lease namespace) */
  name: string;
  /** the service's object name (`dnsLabel` of the SDL name) */
  service: string;
  seq: number;
  timeNs: bigint;
  line: string;
}

/** Lines a read asked for that are no longer kept. */
export interface DroppedLines {
  id: string;
  name: string;
  lines: number;
}

/** What {@link LogKeeper.read} returns. */
export interface KeptRead {
  /** oldest first (by time, then container name, then seq) */
  lines: KeptLine[];
  dropped: DroppedLines[];
  /** the cursor after these lines: every matched container's next seq */
  next: Record<string, number>;
  /** how many containers matched */
  containers: number;
}

/** What a read asks for: a `cursor` (resume), else the last `tail` lines of each container. */
export interface KeptQuery {
  /** only this service (object name) */
  service?: string;
  tail?: number;
  cursor?: Readonly<Record<string, number>>;
}

interface Ring {
  id: string;
  name: string;
  service: string;
  firstSeq: number;
  lines: { seq: number; timeNs: bigint; line: string }[];
  position: LogPosition;
  /** still listed by the driver at the last read */
  present: boolean;
  /** order of first sight, to forget the oldest gone ones first */
  born: number;
}

/** The short id of a container: its first 12 characters. */
export function shortId(id: string): string {
  return id.slice(0, 12);
}

/** The pure store of kept lines, per lease and container. */
export class LogKeeper {
  readonly linesMax: number;
  #leases = new Map<string, Map<string, Ring>>();
  #born = 0;

  constructor(opts: { linesMax?: number } = {}) {
    const max = opts.linesMax ?? LOG_LINES_MAX_DEFAULT;
    if (!Number.isInteger(max) || max < 1) {
      throw new RangeError(`linesMax must be a positive integer, got ${max}`);
    }
    this.linesMax = max;
  }

  /** Where the driver's next read of each container of a lease starts. */
  positions(leaseId: string): Map<string, LogPosition> {
    const out = new Map<string, LogPosition>();
    for (const [fullId, r] of this.#leases.get(leaseId) ?? []) out.set(fullId, r.position);
    return out;
  }

  /** Adds what a driver read returned (every container of the lease, with its new lines). */
  append(leaseId: string, logs: readonly ContainerLog[]): void {
    let rings = this.#leases.get(leaseId);
    if (!rings) this.#leases.set(leaseId, rings = new Map());
    for (const r of rings.values()) r.present = false;
    for (const c of logs) {
      let r = rings.get(c.id);
      if (!r) {
        r = {
          id: shortId(c.id),
          name: c.name,
          service: c.service,
          firstSeq: 0,
          lines: [],
          position: c.position,
          present: true,
          born: this.#born++,
        };
        rings.set(c.id, r);
      }
      r.present = true;
      let seq = r.firstSeq + r.lines.length;
      for (const l of c.lines) {
        const line = l.line.length > LOG_LINE_MAX_CHARS
          ? `${l.line.slice(0, LOG_LINE_MAX_CHARS)}[...cut]`
          : l.line;
        r.lines.push({ seq: seq++, timeNs: l.timeNs, line });
      }
      const over = r.lines.length - this.linesMax;
      if (over > 0) {
        r.lines.splice(0, over);
        r.firstSeq += over;
      }
      r.position = c.position;
    }
    if (rings.size > LOG_CONTAINERS_MAX) {
      const order = [...rings].sort((
        [, a],
        [, b],
      ) => (a.present === b.present ? a.born - b.born : a.present ? 1 : -1));
      for (const [k] of order.slice(0, rings.size - LOG_CONTAINERS_MAX)) rings.delete(k);
    }
  }

  /** The kept lines a query asks for, and what it asked for that is no longer kept. */
  read(leaseId: string, q: KeptQuery = {}): KeptRead {
    const lines: KeptLine[] = [];
    const dropped: DroppedLines[] = [];
    const next: Record<string, number> = {};
    let containers = 0;
    const rings = [...(this.#leases.get(leaseId)?.values() ?? [])]
      .filter((r) => q.service === undefined || r.service === q.service)
      .sort((a, b) => a.born - b.born);
    for (const r of rings) {
      containers++;
      const end = r.firstSeq + r.lines.length;
      let from: number;
      if (q.cursor) from = q.cursor[r.id] ?? 0;
      else from = q.tail === undefined ? 0 : end - q.tail;
      from = Math.max(0, Math.min(from, end));
      if (from < r.firstSeq) {
        dropped.push({ id: r.id, name: r.name, lines: r.firstSeq - from });
        from = r.firstSeq;
      }
      for (const l of r.lines.slice(from - r.firstSeq)) {
        lines.push({
          id: r.id,
          name: r.name,
          service: r.service,
          seq: l.seq,
          timeNs: l.timeNs,
          line: l.line,
        });
      }
      next[r.id] = end;
    }
    lines.sort((a, b) =>
      a.timeNs < b.timeNs
        ? -1
        : a.timeNs > b.timeNs
        ? 1
        : a.name < b.name
        ? -1
        : a.name > b.name
        ? 1
        : a.seq - b.seq
    );
    return { lines, dropped, next, containers };
  }

  /** Forgets a lease's lines (its lease closed). */
  forget(leaseId: string): void {
    this.#leases.delete(leaseId);
  }

  /** Leases with kept lines. */
  leases(): string[] {
    return [...this.#leases.keys()].sort();
  }
}

/** A {@link LogKeeper} fed by a driver: reads are serialized per lease. */
export class LeaseLogs {
  readonly keeper: LogKeeper;
  #busy = new Map<string, Promise<void>>();

  constructor(readonly driver: ClusterDriver, opts: { linesMax?: number } = {}) {
    this.keeper = new LogKeeper(opts);
  }

  /** Whether the driver reads logs incrementally (else tenants get the driver's `logs` as is). */
  get supported(): boolean {
    return typeof this.driver.logsSince === "function";
  }

  /**
   * Reads the new lines of the lease's containers into the keeper (a read under way is joined, not
   * doubled). Throws the driver's `NotFoundError` for a lease without a workload.
   */
  refresh(leaseId: string): Promise<void> {
    const under = this.#busy.get(leaseId);
    if (under) return under;
    const p = (async () => {
      const logs = await this.driver.logsSince!(leaseId, this.keeper.positions(leaseId));
      this.keeper.append(leaseId, logs);
    })().finally(() => this.#busy.delete(leaseId));
    this.#busy.set(leaseId, p);
    return p;
  }

  /** Forgets a lease's lines. */
  forget(leaseId: string): void {
    this.keeper.forget(leaseId);
  }
}
