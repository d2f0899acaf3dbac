/**
 * A tenant never pays for a workload that cannot run: the provider closes a lease with a typed reason
 * when no manifest came within `manifestTimeoutBlocks` of the lease (`manifest_timeout`), or when its
 * workload has been failing (`failed: ...`, `crashloop: ...`) for longer than the grace window
 * (`workload_failed`). {@link LeaseWatch} decides (pure: heights, times and statuses in, lease ids
 * out); {@link LeaseMonitor} feeds it the driver's statuses on a timer and closes leases.
 * @module
 */
import type { Clock } from "../lib/clock.ts";
import type { Logger } from "../lib/log.ts";
import type { ProviderCloseReason } from "../auction/market/types.ts";
import { type ClusterDriver, type LeaseStatus, NotFoundError } from "./cluster/driver.ts";

/** The windows of a {@link LeaseWatch}; 0 turns a check off. */
export interface LeaseWatchOptions {
  /** blocks a won lease may wait for its manifest */
  manifestTimeoutBlocks: number;
  /** ms a deployed workload may keep failing before its lease is closed */
  workloadGraceMs: number;
}

/** The failing services of a status (`failed: ...`, `crashloop: ...`), as "name: state (message)". */
export function failingServices(status: LeaseStatus): string[] {
  return status.services.filter((s) => /^(failed|crashloop)\b/.test(s.state)).map((s) =>
    `${s.name}: ${s.state}${s.message ? ` (${s.message})` : ""}`
  );
}

/** Which leases wait for a manifest since when, and which workloads fail since when. */
export class LeaseWatch {
  readonly #o: LeaseWatchOptions;
  /** lease id -> height it was won at (no manifest yet) */
  readonly #awaiting = new Map<string, number>();
  /** lease id -> ms since when it fails (null: healthy) */
  readonly #deployed = new Map<string, number | null>();

  constructor(opts: LeaseWatchOptions) {
    this.#o = opts;
  }

  /** A lease was won at `height`: its manifest is due within the timeout. */
  leaseWon(id: string, height: number): void {
    if (!this.#deployed.has(id)) this.#awaiting.set(id, height);
  }

  /** The lease's manifest was deployed: its workload is watched from now on. */
  manifestDeployed(id: string): void {
    this.#awaiting.delete(id);
    if (!this.#deployed.has(id)) this.#deployed.set(id, null);
  }

  /** The lease closed (or is being closed): forget it. */
  leaseClosed(id: string): void {
    this.#awaiting.delete(id);
    this.#deployed.delete(id);
  }

  /** Leases whose manifest is overdue at `height`, sorted; they are forgotten. */
  manifestTimeouts(height: number): string[] {
    const n = this.#o.manifestTimeoutBlocks;
    if (n <= 0) return [];
    const out = [...this.#awaiting].filter(([, at]) => height - at >= n).map(([id]) => id).sort();
    for (const id of out) this.#awaiting.delete(id);
    return out;
  }

  /** Leases with a deployed workload, sorted. */
  deployed(): string[] {
    return [...this.#deployed.keys()].sort();
  }

  /**
   * A status of a deployed lease at `nowMs`: the reason to close it when it has been failing for the
   * whole grace window (it is then forgotten), else null.
   */
  observe(id: string, status: LeaseStatus, nowMs: number): string | null {
    if (!this.#deployed.has(id)) return null;
    const failing = failingServices(status);
    if (failing.length === 0) {
      this.#deployed.set(id, null);
      return null;
    }
    const since = this.#deployed.get(id) ?? nowMs;
    this.#deployed.set(id, since);
    const grace = this.#o.workloadGraceMs;
    if (grace <= 0 || nowMs - since < grace) return null;
    this.leaseClosed(id);
    return `workload failing for ${Math.round((nowMs - since) / 1000)}s: ${failing.join("; ")}`;
  }
}

/** What a {@link LeaseMonitor} uses. */
export interface LeaseMonitorOptions extends LeaseWatchOptions {
  driver: ClusterDriver;
  clock: Clock;
  /** ms between two status checks of the deployed workloads */
  checkIntervalMs: number;
  /** Closes a lease on chain for `reason`; `why` is for the tenant's lease events. */
  close(leaseId: string, reason: ProviderCloseReason, why: string): Promise<void>;
  log?: Logger;
}

/** Runs a {@link LeaseWatch}: manifest timeouts per block, workload checks on a timer. */
export class LeaseMonitor {
  readonly watch: LeaseWatch;
  readonly #o: LeaseMonitorOptions;
  #timer: unknown = undefined;
  #running: Promise<void> | null = null;
  #stopped = false;

  constructor(opts: LeaseMonitorOptions) {
    this.#o = opts;
    this.watch = new LeaseWatch(opts);
  }

  /** Starts the periodic workload checks (none when the grace window is 0). */
  start(): void {
    if (this.#o.workloadGraceMs <= 0) return;
    const tick = () => {
      if (this.#stopped) return;
      this.#running = this.checkWorkloads().finally(() => {
        this.#running = null;
        if (!this.#stopped) this.#timer = this.#o.clock.setTimeout(tick, this.#o.checkIntervalMs);
      });
    };
    this.#timer = this.#o.clock.setTimeout(tick, this.#o.checkIntervalMs);
  }

  /** Stops the checks; resolves when a running check has ended. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#o.clock.clearTimeout(this.#timer);
    await this.#running;
  }

  /** A new height: closes the leases whose manifest is overdue. */
  async onBlock(height: number): Promise<void> {
    for (const id of this.watch.manifestTimeouts(height)) {
      await this.#close(id, "manifest_timeout", `no manifest within ${this.#o.manifestTimeoutBlocks} blocks`);
    }
  }

  /** One pass over the deployed workloads: closes those failing beyond the grace window. */
  async checkWorkloads(): Promise<void> {
    for (const id of this.watch.deployed()) {
      if (this.#stopped) return;
      let status: LeaseStatus;
      try {
        status = await this.#o.driver.status(id);
      } catch (e) {
        if (!(e instanceof NotFoundError)) {
          this.#o.log?.("warn", "workload status failed", { lease: id, error: (e as Error).message });
        }
        continue;
      }
      const why = this.watch.observe(id, status, this.#o.clock.now());
      if (why) await this.#close(id, "workload_failed", why);
    }
  }

  async #close(id: string, reason: ProviderCloseReason, why: string): Promise<void> {
    this.watch.leaseClosed(id);
    try {
      await this.#o.close(id, reason, why);
    } catch (e) {
      this.#o.log?.("warn", "closing the lease failed", { lease: id, reason, error: (e as Error).message });
    }
  }
}
