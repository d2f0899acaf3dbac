/**
 * The simulator's tenants: accounts that deploy, top up and close through a node, as the CLI does
 * through its node's RPC (signed txs into `submitTx`), and hand each won lease's manifest to its
 * provider over `/cirrus/manifest/1` from a host of their own on the simulated network. One action
 * every `1000 / txRate` simulated ms, the tenant and the action drawn from the seed (create, deposit
 * or close, weighted by `market.actions`); each deployment is one service of drawn cpu, max price
 * and deposit. What they know of their deployments and leases comes from committed blocks.
 * @module
 */
import { toHex } from "../lib/crypto.ts";
import { parseDeploymentId, parseLeaseId } from "../lib/ids.ts";
import { randomInt, type Rng } from "../lib/rng.ts";
import type { Clock } from "../lib/clock.ts";
import type { CirrusNode } from "../node/node.ts";
import type { P2P } from "../node/p2p.ts";
import type { SimCluster } from "../node/sim/cluster.ts";
import type { SimMarketConfig } from "../node/sim/scenario.ts";
import { parseSdl } from "../auction/sdl/mod.ts";
import type { Manifest } from "../auction/sdl/types.ts";
import { getLease, getProvider, groupsForTx } from "../auction/market/mod.ts";
import { decodeResponse, MANIFEST_PROTOCOL_ID, signManifestRequest } from "../provider/protocol/mod.ts";
import type { ChainClient } from "../provider/chain_client.ts";
import { nodeChainClient, NodeProtocolRoutes } from "./provider_role.ts";
import type { MarketEvent, MarketObserver } from "./sim_market_observer.ts";

/** Blocks a tenant keeps trying to hand a lease's manifest over before giving up. */
export const MANIFEST_TRIES_MAX = 20;
/** How long a manifest request may take, simulated ms. */
const MANIFEST_TIMEOUT_MS = 10_000;
/** A deployment.create not committed this long after it was sent (simulated ms) is forgotten. */
export const CREATE_PENDING_MAX_MS = 30_000;

interface Deployment {
  dseq: number;
  cpu: number;
  manifest: Manifest;
  manifestHash: string;
  /** Height of its deployment.create once committed (the manifest version). */
  createdAt: number | null;
  /** Simulated ms its deployment.create was sent. */
  sentAtMs: number;
  open: boolean;
}

interface Tenant {
  index: number;
  address: string;
  privKey: Uint8Array;
  host: P2P | null;
  /** The chain client of the node it talks to, and that node. */
  client: { node: CirrusNode; chain: ChainClient } | null;
  nextDseq: number;
  deployments: Map<number, Deployment>;
}

interface PendingManifest {
  tenant: Tenant;
  deployment: Deployment;
  leaseId: string;
  tries: number;
  inFlight: boolean;
}

/** Options of {@link SimTenants}. */
export interface SimTenantsOptions {
  cluster: SimCluster;
  chainId: string;
  denom: string;
  market: SimMarketConfig;
  txRate: number;
  keys: { address: string; privKey: Uint8Array }[];
  rng: Rng;
  observer: MarketObserver;
  /** The node a provider runs on (by address), or null. */
  providerNode(address: string): CirrusNode | null;
}

/** The tenants of a run (see the module doc). */
export class SimTenants {
  readonly #o: SimTenantsOptions;
  readonly #tenants: Tenant[];
  readonly #byAddress = new Map<string, Tenant>();
  readonly #pending = new Map<string, PendingManifest>();
  readonly #clock: Clock;
  #timer: unknown = null;
  #stopped = false;
  /** Txs submitted (accepted by the node or not). */
  submitted = 0;

  constructor(o: SimTenantsOptions) {
    this.#o = o;
    this.#clock = o.cluster.clock.view("tenants");
    this.#tenants = o.keys.map((k, index) => ({
      index,
      address: k.address,
      privKey: k.privKey,
      host: null,
      client: null,
      nextDseq: 1,
      deployments: new Map(),
    }));
    for (const t of this.#tenants) this.#byAddress.set(t.address, t);
  }

  /** The cpu (millicores) of a deployment `owner/dseq` of a tenant, or null. */
  cpuOf(deployment: string): number | null {
    const d = parseDeploymentId(deployment);
    return d ? this.#byAddress.get(d.owner)?.deployments.get(d.dseq)?.cpu ?? null : null;
  }

  /** Joins the tenants' hosts to the network and starts acting. */
  async start(): Promise<void> {
    for (const t of this.#tenants) {
      t.host = await this.#o.cluster.network.join({
        transport: "memory",
        listen: [`/sim/tenant${t.index}`],
        topics: [],
      });
    }
    if (this.#tenants.length === 0 || this.#o.txRate <= 0) return;
    const every = Math.max(1, Math.round(1000 / this.#o.txRate));
    const tick = () => {
      if (this.#stopped) return;
      this.#act();
      this.#timer = this.#clock.setTimeout(tick, every);
    };
    this.#timer = this.#clock.setTimeout(tick, every);
  }

  /** Stops acting and leaves the network. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    for (const t of this.#tenants) await t.host?.stop().catch(() => {});
  }

  /** A committed market event: the tenants' view of their deployments and leases. */
  onEvent(e: MarketEvent): void {
    const a = e.attrs;
    const t = this.#byAddress.get(a.owner ?? "");
    if (!t) return;
    const d = t.deployments.get(Number(a.dseq));
    if (!d) return;
    switch (e.type) {
      case "deployment.created":
        d.createdAt = e.height;
        break;
      case "deployment.closed":
        d.open = false;
        break;
      case "lease.created":
        if (a.lease) {
          this.#pending.set(a.lease, {
            tenant: t,
            deployment: d,
            leaseId: a.lease,
            tries: 0,
            inFlight: false,
          });
        }
        break;
      case "lease.closed":
        if (a.lease) this.#pending.delete(a.lease);
        break;
    }
  }

  /**
   * After each committed block: a millisecond later (in a timer, so that what the nodes have
   * committed by then does not depend on which node's commit came first in real time), hands over
   * the manifests of leases the provider's node has committed (a provider refuses a lease it does
   * not know yet), each tried at most {@link MANIFEST_TRIES_MAX} blocks.
   */
  onBlock(): void {
    if (this.#stopped || this.#pending.size === 0) return;
    this.#clock.setTimeout(() => this.#deliver(), 1);
  }

  #deliver(): void {
    if (this.#stopped) return;
    for (const p of [...this.#pending.values()]) {
      if (p.inFlight) continue;
      if (++p.tries > MANIFEST_TRIES_MAX) {
        this.#pending.delete(p.leaseId);
        this.#o.observer.count("manifests.given_up");
        continue;
      }
      const provider = parseLeaseId(p.leaseId)?.provider ?? "";
      const node = this.#o.providerNode(provider);
      if (!node || !getLease(node.chain.state, p.leaseId)) continue;
      p.inFlight = true;
      void this.#sendManifest(p, node).finally(() => (p.inFlight = false));
    }
  }

  async #sendManifest(p: PendingManifest, node: CirrusNode): Promise<void> {
    const host = p.tenant.host;
    const rec = getProvider(node.chain.state, parseLeaseId(p.leaseId)?.provider ?? "");
    const addr = rec?.hostUri.find((x) => x.includes("/p2p/"));
    if (!host || !addr || p.deployment.createdAt === null) return;
    const o = this.#o;
    try {
      const bytes = await signManifestRequest({
        chainId: o.chainId,
        leaseId: p.leaseId,
        manifest: p.deployment.manifest,
        manifestHash: p.deployment.manifestHash,
        version: p.deployment.createdAt,
        timestamp: this.#clock.now(),
        nonce: toHex(Uint8Array.from({ length: 16 }, () => randomInt(o.rng, 256))),
      }, p.tenant.privKey);
      await host.dial(addr);
      const peer = addr.slice(addr.lastIndexOf("/p2p/") + 5);
      const r = decodeResponse(
        await host.request(peer, MANIFEST_PROTOCOL_ID, bytes, { timeoutMs: MANIFEST_TIMEOUT_MS }),
      );
      if (r.ok) {
        this.#pending.delete(p.leaseId);
        o.observer.count("manifests.accepted");
      } else {
        o.observer.count(`manifests.refused.${r.code}`);
        if (r.code === "conflict") this.#pending.delete(p.leaseId);
      }
    } catch {
      o.observer.count("manifests.unreachable");
    }
  }

  #draw(r: [number, number]): number {
    return r[0] + this.#o.rng() * (r[1] - r[0]);
  }

  /** One action of one tenant, drawn from the seed. */
  #act(): void {
    const o = this.#o;
    const t = this.#tenants[randomInt(o.rng, this.#tenants.length)]!;
    for (const d of [...t.deployments.values()]) {
      // Accepted by a node but never committed (its node crashed, or a nonce went stale): forgotten.
      if (d.createdAt === null && this.#clock.now() - d.sentAtMs > CREATE_PENDING_MAX_MS) {
        t.deployments.delete(d.dseq);
        o.observer.count("deployments.never_committed");
      }
    }
    const ds = [...t.deployments.values()];
    const open = ds.filter((d) => d.open && d.createdAt !== null);
    const live = ds.filter((d) => d.open).length;
    const w = o.market.actions;
    const weights = [
      live < o.market.openMax ? w.create : 0,
      open.length > 0 ? w.deposit : 0,
      open.length > 0 ? w.close : 0,
    ];
    const total = weights[0]! + weights[1]! + weights[2]!;
    if (total <= 0) {
      // At its limit of open deployments, none committed yet: nothing to do this time.
      o.observer.count("tenants.idle");
      return;
    }
    let x = o.rng() * total;
    const pick = weights.findIndex((v) => (x -= v) < 0);
    if (pick === 0) return this.#create(t);
    const d = open[randomInt(o.rng, open.length)]!;
    if (pick === 1) {
      const amount = String(Math.round(this.#draw(o.market.deposit)));
      this.#submit(t, "deployment.deposit", { dseq: d.dseq, amount });
    } else {
      this.#submit(t, "deployment.close", { dseq: d.dseq });
    }
  }

  #create(t: Tenant): void {
    const o = this.#o;
    const cpu = Math.max(100, Math.round(this.#draw(o.market.tenantCpu) / 100) * 100);
    const price = (cpu * this.#draw(o.market.tenantMaxPrice)).toFixed(6);
    const deposit = Math.max(o.market.minDeposit, Math.round(this.#draw(o.market.deposit)));
    const parsed = parseSdl(sdlOf(cpu, price, o.denom));
    if (!parsed.ok) {
      o.observer.violation(`generated SDL refused: ${parsed.errors.join("; ")}`);
      return;
    }
    const dseq = t.nextDseq++;
    t.deployments.set(dseq, {
      dseq,
      cpu,
      manifest: parsed.manifest,
      manifestHash: parsed.manifestHash,
      createdAt: null,
      sentAtMs: this.#clock.now(),
      open: true,
    });
    this.#submit(t, "deployment.create", {
      dseq,
      groups: groupsForTx(parsed.groups),
      manifestHash: parsed.manifestHash,
      deposit: { denom: o.denom, amount: String(deposit) },
    }, () => t.deployments.delete(dseq));
  }

  /** Signs and submits through the tenant's node (its index modulo the validators, or the next one up). */
  #submit(t: Tenant, type: string, body: Record<string, unknown>, refused?: () => void): void {
    const nodes = this.#o.cluster.nodes;
    let node: CirrusNode | null = null;
    for (let k = 0; k < nodes.length && !node; k++) node = nodes[(t.index + k) % nodes.length] ?? null;
    if (!node) return;
    if (t.client?.node !== node) t.client = { node, chain: nodeChainClient(new NodeProtocolRoutes(node), t) };
    this.submitted++;
    this.#o.observer.count(`txs.${type}`);
    // Tracked: signing and admission are real work the clock waits for before time moves on.
    void this.#o.cluster.clock.track(t.client.chain.submit(type, body)).then((r) => {
      if (r.ok) return;
      this.#o.observer.count("txs.refused");
      refused?.();
    });
  }
}

/** One service (busybox, port 80 exposed) of `cpu` millicores, memory and storage in proportion. */
export function sdlOf(cpu: number, price: string, denom: string): string {
  return `
version: "2.0"
services:
  app:
    image: localhost/busybox:latest
    expose:
      - port: 80
        to:
          - global: true
profiles:
  compute:
    app:
      resources:
        cpu: { units: ${cpu}m }
        memory: { size: ${cpu}Mi }
        storage: { size: ${cpu * 4}Mi }
  placement:
    sim:
      attributes:
        region: sim
      pricing:
        app: { denom: ${denom}, amount: ${price} }
deployment:
  app:
    sim:
      profile: app
      count: 1
`;
}
