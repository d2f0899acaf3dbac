/**
 * The provider role: turns idle capacity into leases. It watches committed blocks through a chain
 * client, bids on orders it can serve (bid engine), accepts tenants' manifests over
 * `/cirrus/manifest/1`, runs them through a cluster driver, answers tenants' status / logs / events
 * (and runs their `lease shell` commands) over `/cirrus/lease/1` (lease_protocol.ts), answers
 * screening questions over `/cirrus/screen/1`, tears workloads down when leases end, and reconciles on start.
 *
 * The service knows no node internals: the CLI hands it a {@link ChainClient}.
 * @module
 */
import type { Logger } from "../lib/log.ts";
import { type Clock, systemClock } from "../lib/clock.ts";
import { join } from "node:path";
import type { ClusterDriver } from "./cluster/driver.ts";
import { type LeaseStatus, reconcile } from "./cluster/driver.ts";
import { deploymentIdOf, deploymentIdOfAny, leaseIdOf, orderIdOf, parseLeaseId } from "../lib/ids.ts";
import type { ManifestGroup } from "../auction/sdl/types.ts";
import {
  type DeploymentDetail,
  getDeployment,
  getLease,
  getOrder,
  getProvider,
  type LeaseInfo,
  listLeases,
  listOrders,
  type OrderInfo,
} from "../auction/market/mod.ts";
import type { Group } from "../auction/sdl/types.ts";
import { BidEngine } from "./bid_engine.ts";
import { advertisedAttributes, type ProviderConfig } from "./config.ts";
import { scriptPrice } from "./pricing.ts";
import {
  decodeManifestRequest,
  encodeResponse,
  errorResponse,
  FreshnessGuard,
  LEASE_PROTOCOL_ID,
  type LeaseEvent,
  MANIFEST_PROTOCOL_ID,
  type ManifestResponse,
  ManifestVersions,
  type ProtocolErrorCode,
  SCREEN_PROTOCOL_ID,
  verifyManifestRequest,
} from "./protocol/mod.ts";
import { checkManifestAgainstLease } from "./manifest_check.ts";
import { type RateLimitOptions, Screener } from "./screen.ts";
import { answerLeaseRequest, type LeaseAccess, streamLeaseLogs } from "./lease_protocol.ts";
import type { ChainBlock, ChainClient, ChainEvent } from "./chain_client.ts";
import { LeaseMonitor } from "./lease_watch.ts";
import { LeaseLogs } from "./log_keeper.ts";
import { ShellSessions } from "./shell_sessions.ts";
import type { ProviderCloseReason } from "../auction/market/types.ts";

/** The manifest protocol id (`MANIFEST_PROTOCOL_ID`). */
export const MANIFEST_PROTOCOL = MANIFEST_PROTOCOL_ID;
/** The lease protocol id (`LEASE_PROTOCOL_ID`); its followed logs are on `${LEASE_PROTOCOL}/logs`. */
export const LEASE_PROTOCOL = LEASE_PROTOCOL_ID;

/** The screening protocol id (`SCREEN_PROTOCOL_ID`): "would you bid on these groups?", unsigned. */
export const SCREEN_PROTOCOL = SCREEN_PROTOCOL_ID;

export type { ChainBlock, ChainClient, ChainEvent } from "./chain_client.ts";

/** Options of the provider service. */
export interface ProviderServiceOptions {
  chain: ChainClient;
  driver: ClusterDriver;
  config: ProviderConfig;
  /** The provider's account address (the bidding key). */
  address: string;
  /** Where manifests are kept (to redeploy after a restart). */
  stateDir: string;
  logger?: Logger;
  /** Wall time for request freshness (default: the clock's). */
  now?: () => number;
  /** Timers and wall time (default the system clock). */
  clock?: Clock;
  /** the per-peer limit of `/cirrus/screen/1` (defaults: see `RateLimiter`) */
  screenLimits?: RateLimitOptions;
}

interface StoredManifest {
  leaseId: string;
  group: ManifestGroup;
  manifestHash: string;
  version: number;
}

const LEASE_EVENTS_MAX = 200;

/** The provider role of a node. */
export class ProviderService {
  readonly #o: ProviderServiceOptions;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #engine: BidEngine;
  readonly #screener: Screener;
  readonly #monitor: LeaseMonitor;
  readonly #fresh = new FreshnessGuard({});
  readonly #versions = new ManifestVersions();
  readonly #events = new Map<string, LeaseEvent[]>();
  #queue: Promise<void> = Promise.resolve();
  #unsubscribe: (() => void) | null = null;
  #stopped = false;
  readonly #logs: LeaseLogs;
  readonly #shells: ShellSessions;
  #logTimer: unknown = undefined;
  /** Bids placed, by order id (so a reopened order is not bid twice). */
  #bidOn = new Set<string>();
  /** Counters for status/tests. */
  readonly stats = { bids: 0, skipped: 0, deployed: 0, tornDown: 0, manifestsRejected: 0 };

  constructor(opts: ProviderServiceOptions, engine: BidEngine) {
    this.#o = opts;
    this.#log = opts.logger ?? (() => {});
    this.#clock = opts.clock ?? systemClock;
    this.#engine = engine;
    this.#screener = new Screener({
      engine,
      address: opts.address,
      chainId: opts.chain.chainId,
      view: () => opts.chain.view(),
      height: () => opts.chain.height(),
      pricing: opts.config.pricing,
      ...(opts.screenLimits ? { limits: opts.screenLimits } : {}),
      now: opts.now ?? (() => this.#clock.now()),
    });
    this.#logs = new LeaseLogs(opts.driver, { linesMax: opts.config.logLinesMax });
    this.#shells = new ShellSessions(this.#clock);
    this.#monitor = new LeaseMonitor({
      driver: opts.driver,
      clock: this.#clock,
      manifestTimeoutBlocks: opts.config.manifestTimeoutBlocks,
      workloadGraceMs: opts.config.workloadGraceSeconds * 1000,
      checkIntervalMs: opts.config.workloadCheckSeconds * 1000,
      close: (id, reason, why) => this.#closeFor(id, reason, why),
      log: this.#log,
    });
  }

  get address(): string {
    return this.#o.address;
  }

  /** Request nonces remembered against replays (only those of leases' owners). */
  get replayNonces(): number {
    return this.#fresh.size;
  }

  /** Register (or update) on chain, reconcile workloads with leases, start serving and bidding. */
  async start(): Promise<void> {
    await Deno.mkdir(join(this.#o.stateDir, "manifests"), { recursive: true });
    // Listen from the start: blocks committed while registering, reconciling and registering the
    // handlers wait in the queue (a lease closed meanwhile must still lose its workload); those the
    // reconcile already saw are skipped.
    let resume!: () => void;
    this.#queue = new Promise<void>((r) => (resume = r));
    let seen = Infinity;
    this.#unsubscribe = this.#o.chain.onCommit((b) =>
      this.#serial(() => (b.height > seen ? this.#onBlock(b) : Promise.resolve()))
    );
    try {
      await this.#ensureRegistered();
      seen = await this.#reconcile();
      await this.#o.chain.handle(MANIFEST_PROTOCOL, (req, from) => this.#onManifest(req, from));
      await this.#o.chain.handle(LEASE_PROTOCOL, (req) => answerLeaseRequest(this.#leaseAccess(), req));
      await this.#o.chain.handle(SCREEN_PROTOCOL, (req, from) => this.#screener.answer(req, from));
      await this.#o.chain.handleStream(
        `${LEASE_PROTOCOL}/logs`,
        (req, _from, send, signal) => streamLeaseLogs(this.#leaseAccess(), req, send, signal),
      );
    } catch (e) {
      this.#stopped = true;
      this.#unsubscribe();
      throw e;
    } finally {
      resume();
    }
    // Orders that opened before we started.
    this.#serial(() => this.#bidOnOpenOrders());
    this.#monitor.start();
    if (this.#logs.supported) this.#scheduleLogRead();
  }

  /**
   * Reads the logs of every workload into the log keeper every `workloadCheckSeconds`, so that lines
   * are kept (across container restarts) whether or not a tenant is following them.
   */
  #scheduleLogRead(): void {
    if (this.#stopped) return;
    this.#logTimer = this.#clock.setTimeout(() => {
      this.#background(
        (async () => {
          for (const id of await this.#o.driver.list()) {
            if (this.#stopped) break;
            await this.#logs.refresh(id).catch(() => {/* gone meanwhile, or not deployed yet */});
          }
        })().finally(() => this.#scheduleLogRead()),
      );
    }, this.#o.config.workloadCheckSeconds * 1000);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unsubscribe?.();
    if (this.#logTimer !== undefined) this.#clock.clearTimeout(this.#logTimer);
    this.#shells.closeAll();
    await this.#monitor.stop();
    for (const p of [MANIFEST_PROTOCOL, LEASE_PROTOCOL, `${LEASE_PROTOCOL}/logs`, SCREEN_PROTOCOL]) {
      this.#o.chain.unhandle?.(p);
    }
    await this.#queue.catch(() => {});
    await Promise.allSettled([...this.#pending]);
  }

  /** Work that runs beside the block queue (teardowns); awaited by stop(). */
  #pending = new Set<Promise<void>>();
  #background(p: Promise<void>): void {
    this.#pending.add(p);
    p.catch((e) => this.#log("error", "background task failed", { error: String(e) }))
      .finally(() => this.#pending.delete(p));
  }

  #serial(task: () => Promise<void>): void {
    this.#queue = this.#queue.then(task).catch((e) =>
      this.#log("error", "provider task failed", { error: String((e as Error)?.stack ?? e) })
    );
  }

  // ---- registration ----

  async #ensureRegistered(): Promise<void> {
    const cfg = this.#o.config;
    const hostUri = this.#o.chain.addrs();
    const attributes = advertisedAttributes(cfg).sort((a, b) => a.key.localeCompare(b.key));
    const current = getProvider(this.#o.chain.view(), this.#o.address);
    const same = current && JSON.stringify(current.hostUri) === JSON.stringify(hostUri) &&
      JSON.stringify([...current.attributes].sort((a, b) => a.key.localeCompare(b.key))) ===
        JSON.stringify(attributes);
    if (same) return;
    const type = current ? "provider.update" : "provider.create";
    const r = await this.#o.chain.submit(type, { hostUri, attributes });
    if (!r.ok) throw new Error(`${type} failed: ${r.error}`);
    this.#log("info", `${type} sent`, { hostUri: hostUri.join(","), txId: r.txId });
    // Wait (bounded) until it is committed, so bids are valid.
    for (let i = 0; i < 200 && !this.#stopped; i++) {
      if (getProvider(this.#o.chain.view(), this.#o.address)) return;
      await new Promise((r) => this.#clock.setTimeout(() => r(undefined), 50));
    }
  }

  // ---- reconcile ----

  /** Returns the height of the state it reconciled with. */
  async #reconcile(): Promise<number> {
    const view = this.#o.chain.view();
    const height = this.#o.chain.height();
    const active = listLeases(view, { provider: this.#o.address, state: "active" });
    const wanted = [];
    for (const l of active) {
      const lease = parseLeaseId(l.id);
      if (!lease) continue;
      const stored = await this.#loadManifest(l.id);
      wanted.push({ lease, ...(stored ? { group: stored.group } : {}) });
      if (stored) this.#monitor.watch.manifestDeployed(l.id);
      else this.#monitor.watch.leaseWon(l.id, l.createdAt);
      // The accepted manifest version survives a restart: an older one sent again is still a replay.
      if (stored) this.#versions.accept(deploymentIdOf(l.owner, l.dseq), stored.version, stored.manifestHash);
      // The leased resources count against capacity again.
      const orderId = orderIdOf(lease);
      const order = getOrder(view, orderId);
      if (order) this.#engine.restoreLease(orderId, order.group as Group, height);
    }
    const r = await reconcile(this.#o.driver, wanted);
    for (const id of r.removed) await this.#dropManifest(id);
    this.#log("info", "reconciled workloads with leases", {
      active: active.length,
      removed: r.removed.length,
      redeployed: r.redeployed.length,
      errors: r.errors.length,
    });
    return height;
  }

  // ---- bidding ----

  async #bidOnOpenOrders(): Promise<void> {
    const view = this.#o.chain.view();
    for (const o of listOrders(view, { state: "open" })) {
      await this.#consider(o.id, this.#o.chain.height());
    }
  }

  async #consider(orderId: string, height: number): Promise<void> {
    if (this.#bidOn.has(orderId)) return;
    const view = this.#o.chain.view();
    const order = getOrder(view, orderId);
    if (!order || order.state !== "open") {
      this.#log("debug", "order no longer open", { order: orderId, state: order?.state ?? "unknown" });
      return;
    }
    const provider = getProvider(view, this.#o.address);
    if (!provider) {
      this.#log("warn", "not registered as a provider yet; not bidding", { order: orderId });
      return;
    }
    const who = { address: this.#o.address, attributes: provider.attributes, attestations: view };
    // Cheap filters first: the pricing script only runs for orders we could serve.
    const problem = this.#engine.check(order as OrderInfo, order.group as Group, who);
    if (problem) {
      this.stats.skipped++;
      this.#log("info", "not bidding", { order: orderId, reason: problem });
      return;
    }
    let script: bigint | undefined;
    if (this.#o.config.pricing.script) {
      try {
        script = await scriptPrice(this.#o.config.pricing.script, order, {
          timeoutMs: this.#o.config.pricing.scriptTimeoutMs,
        });
      } catch (e) {
        this.#log("warn", "pricing script failed; not bidding", {
          order: orderId,
          error: (e as Error).message,
        });
        this.stats.skipped++;
        return;
      }
    }
    const d = this.#engine.evaluate(order as OrderInfo, order.group as Group, who, height, script);
    if (d.action === "skip") {
      this.stats.skipped++;
      this.#log("info", "not bidding", { order: orderId, reason: d.reason });
      return;
    }
    this.#bidOn.add(orderId);
    const body: Record<string, unknown> = { order: orderId, price: d.price };
    if (d.deposit) body.deposit = d.deposit;
    const r = await this.#o.chain.submit("bid.create", body);
    if (!r.ok) {
      this.#bidOn.delete(orderId);
      this.#engine.onBidState(orderId, "closed");
      this.#log("warn", "bid refused", { order: orderId, error: r.error });
      return;
    }
    this.stats.bids++;
    this.#log("info", "bid", { order: orderId, price: `${d.price.amount} ${d.price.denom}`, txId: r.txId });
  }

  async #onBlock(b: ChainBlock): Promise<void> {
    if (this.#stopped) return;
    const me = this.#o.address;
    let freed = false;
    const all: ChainEvent[] = [...b.txs.filter((t) => t.ok).flatMap((t) => t.events), ...b.events];
    for (const e of all) {
      const a = e.attrs;
      switch (e.type) {
        case "order.opened":
        case "order.reopened":
          if (a.order) await this.#consider(a.order, b.height);
          break;
        case "bid.lost":
        case "bid.closed":
          if (a.provider === me && a.order) {
            this.#engine.onBidState(a.order, e.type === "bid.lost" ? "lost" : "closed");
            this.#bidOn.delete(a.order);
            freed = true;
          }
          break;
        case "lease.created":
          if (a.provider === me && a.lease) {
            const lease = parseLeaseId(a.lease);
            if (!lease) break;
            const orderId = orderIdOf(lease);
            if (this.#engine.onBidState(orderId, "active") === "unknown") {
              // The reservation expired before the lease came: count the lease again, or give it up.
              const order = getOrder(this.#o.chain.view(), orderId);
              const adopted = order
                ? this.#engine.adoptLease(orderId, order.group as Group, b.height)
                : { error: "no order" };
              if ("error" in adopted) {
                this.#log("warn", "lease won without capacity; closing it", {
                  lease: a.lease,
                  reason: adopted.error,
                });
                await this.#o.chain.submit("lease.close", { lease: a.lease });
                break;
              }
            }
            this.#monitor.watch.leaseWon(a.lease, b.height);
            this.#note(
              a.lease,
              b.height,
              "lease.created",
              `lease won at ${a.price} ${a.denom}/block; waiting for the manifest`,
            );
          }
          break;
        case "lease.closed":
          if (a.provider === me && a.lease) {
            const lease = parseLeaseId(a.lease);
            if (!lease) break;
            const order = orderIdOf(lease);
            this.#engine.onLeaseClosed(order);
            this.#bidOn.delete(order);
            this.#monitor.watch.leaseClosed(a.lease);
            this.#note(
              a.lease,
              b.height,
              "lease.closed",
              `lease closed (${a.reason}); removing the workload`,
            );
            // Teardown starts now but does not hold up bidding on the next orders (a pod stop takes ~1 s).
            this.#background(this.#teardown(a.lease));
            freed = true;
          }
          break;
      }
    }
    await this.#monitor.onBlock(b.height);
    const expired = this.#engine.tick(b.height);
    // Capacity came back: orders that wait for bids (their window ended without any) get another look.
    if (freed || (Array.isArray(expired) && expired.length > 0)) await this.#bidOnOpenOrders();
  }

  /** Closes a lease on chain with the provider's reason, telling the tenant why in the lease's events. */
  async #closeFor(leaseId: string, reason: ProviderCloseReason, why: string): Promise<void> {
    this.#note(leaseId, this.#o.chain.height(), `lease.${reason}`, `closing the lease (${reason}): ${why}`);
    this.#log("warn", "closing lease", { lease: leaseId, reason, why });
    const r = await this.#o.chain.submit("lease.close", { lease: leaseId, reason });
    if (!r.ok) this.#log("warn", "lease.close refused", { lease: leaseId, reason, error: r.error });
  }

  async #teardown(leaseId: string): Promise<void> {
    try {
      await this.#o.driver.teardown(leaseId);
      this.stats.tornDown++;
    } catch (e) {
      this.#log("error", "teardown failed", { lease: leaseId, error: (e as Error).message });
    }
    this.#logs.forget(leaseId);
    await this.#dropManifest(leaseId);
    const deploymentId = deploymentIdOfAny(leaseId);
    if (deploymentId) this.#versions.forget(deploymentId);
  }

  // ---- manifests ----

  #manifestPath(leaseId: string): string {
    return join(this.#o.stateDir, "manifests", `${encodeURIComponent(leaseId)}.json`);
  }

  async #loadManifest(leaseId: string): Promise<StoredManifest | null> {
    try {
      return JSON.parse(await Deno.readTextFile(this.#manifestPath(leaseId)));
    } catch {
      return null;
    }
  }

  async #dropManifest(leaseId: string): Promise<void> {
    await Deno.remove(this.#manifestPath(leaseId)).catch(() => {});
  }

  async #onManifest(req: Uint8Array, _from: string): Promise<Uint8Array> {
    const respond = (r: ManifestResponse) => encodeResponse(r);
    const fail = (code: ProtocolErrorCode, error: string) => {
      this.stats.manifestsRejected++;
      return respond(errorResponse(code, error));
    };
    let signed;
    try {
      signed = decodeManifestRequest(req);
    } catch (e) {
      return fail("bad_request", `malformed manifest request: ${(e as Error).message}`);
    }
    const v = await verifyManifestRequest(signed);
    if (!v.ok) return fail("forbidden", v.reason);
    const r = signed.request;
    if (r.chainId !== this.#o.chain.chainId) return fail("bad_request", `wrong chain id ${r.chainId}`);
    const view = this.#o.chain.view();
    const lease = getLease(view, r.leaseId);
    if (!lease) return fail("not_found", `lease ${r.leaseId} not found on chain`);
    const deployment = getDeployment(view, lease.owner, lease.dseq);
    if (!deployment) return fail("not_found", `deployment ${lease.owner}/${lease.dseq} not found on chain`);
    const check = checkManifestAgainstLease({
      manifest: r.manifest,
      manifestHash: r.manifestHash,
      signer: v.signer,
      lease: lease as LeaseInfo,
      deployment: deployment as DeploymentDetail,
      provider: this.#o.address,
    });
    if (!check.ok) return fail(check.code, check.error);
    // Nonces are remembered only for the lease's owner: a stranger's keys cannot fill the table.
    const stale = this.#fresh.check(r.timestamp, r.nonce, this.#o.now?.() ?? this.#clock.now());
    if (stale) return fail("forbidden", stale);
    const depKey = deploymentIdOf(lease.owner, lease.dseq);
    const ver = this.#versions.check(depKey, r.version, r.manifestHash);
    if (ver) return fail("conflict", ver);
    const lid = parseLeaseId(r.leaseId);
    if (!lid) return fail("bad_request", `malformed lease id ${r.leaseId}`);
    try {
      await this.#o.driver.deploy(lid, check.group);
    } catch (e) {
      return fail("internal", `deploy failed: ${(e as Error).message}`);
    }
    this.#versions.accept(depKey, r.version, r.manifestHash);
    const stored: StoredManifest = {
      leaseId: r.leaseId,
      group: check.group,
      manifestHash: r.manifestHash,
      version: r.version,
    };
    await Deno.writeTextFile(this.#manifestPath(r.leaseId), JSON.stringify(stored));
    this.stats.deployed++;
    this.#monitor.watch.manifestDeployed(r.leaseId);
    this.#note(
      r.leaseId,
      this.#o.chain.height(),
      "manifest.accepted",
      `manifest ${r.manifestHash.slice(0, 12)} deployed`,
    );
    this.#log("info", "manifest deployed", { lease: r.leaseId, version: r.version });
    let status: LeaseStatus | null = null;
    try {
      status = await this.#o.driver.status(leaseIdOf(lid));
    } catch { /* not yet */ }
    return respond({ ok: true, status });
  }

  /** What the lease protocol handlers (lease_protocol.ts) read. */
  #leaseAccess(): LeaseAccess {
    return {
      chain: this.#o.chain,
      address: this.#o.address,
      driver: this.#o.driver,
      clock: this.#clock,
      ...(this.#o.now ? { now: this.#o.now } : {}),
      fresh: this.#fresh,
      events: this.#events,
      logs: this.#logs,
      shells: this.#shells,
    };
  }

  #note(leaseId: string, height: number, type: string, message: string): void {
    const list = this.#events.get(leaseId) ?? [];
    list.push({ height, time: new Date(this.#o.now?.() ?? this.#clock.now()).toISOString(), type, message });
    if (list.length > LEASE_EVENTS_MAX) list.shift();
    this.#events.set(leaseId, list);
  }
}
