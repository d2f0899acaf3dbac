/**
 * The market of `cirrus sim`: providers and tenants injected into `simulate` (node/ may not import
 * the provider, so they are composed here, as `node start --provider` composes the provider role).
 *
 * - Provider k runs on validator node `k mod validators` (`node start --validator --provider`): the
 *   real provider role composed by {@link composeProvider} (bid engine over an inventory, the `sim`
 *   cluster driver, the node's chain client, the manifest and lease protocols), with capacity and
 *   cpu price drawn from the seed. Its node's crash stops it and its restart starts it again; a
 *   provider crash (`p1@H1-H2`) stops only the service: its cluster (the sim driver's workloads) and
 *   stored manifests survive, and the restarted service reconciles with the chain.
 * - Tenants ({@link SimTenants}) deploy, top up and close at the tx rate and hand manifests over.
 * - A {@link MarketObserver} reads every committed block once for the metrics and the checks.
 *
 * Every tx goes through a node's `submitTx` (tracked by the clock: its real work is waited for), so
 * the run stays one outcome per seed.
 * @module
 */
import { join } from "node:path";
import { seededRng } from "../lib/rng.ts";
import { DENOM } from "../lib/units.ts";
import type { CirrusNode } from "../node/node.ts";
import {
  type SimActors,
  type SimActorsFactory,
  type SimContext,
  type SimMetrics,
  simulate,
  type SimulateOptions,
} from "../node/sim/simulate.ts";
import type { SimConfig } from "../node/sim/scenario.ts";
import { parseProviderConfig, type ProviderConfig } from "../provider/config.ts";
import { SimDriver } from "../provider/cluster/sim.ts";
import type { ChainClient } from "../provider/chain_client.ts";
import { type ComposedProvider, composeProvider, NodeProtocolRoutes } from "./provider_role.ts";
import { MarketObserver } from "./sim_market_observer.ts";
import { SimTenants } from "./sim_tenants.ts";

/** Simulated ms a provider may take to start (register on chain, reconcile). */
const PROVIDER_START_MAX_MS = 60_000;

/** Names of the accounts the market actors need funded at genesis. */
export function marketAccounts(c: SimConfig): string[] {
  return [
    ...[...Array(c.providers).keys()].map((k) => `provider${k}`),
    ...[...Array(c.tenants).keys()].map((k) => `tenant${k}`),
  ];
}

/** A provider's config: `cpu` millicores (memory 2 MiB, storage 8 MiB per millicore), `price` per millicore. */
export function simProviderYaml(cpu: number, price: string): string {
  return `
key: provider
cluster: {driver: sim, hostPorts: [31000, 31999]}
capacity: {cpu: "${cpu}m", memory: ${cpu * 2}Mi, storage: {default: ${cpu * 8}Mi}}
attributes: {region: sim}
pricing: {cpu: "${price}", memory: "0", storage: {default: "0"}}
reservationTimeoutBlocks: 30
manifestTimeoutBlocks: 30
`;
}

interface SimProvider {
  index: number;
  node: number;
  key: { address: string; privKey: Uint8Array };
  /** Capacity, cpu millicores. */
  cpu: number;
  config: ProviderConfig;
  driver: SimDriver;
  stateDir: string;
  running: ComposedProvider | null;
  /** Down by a provider crash of the schedule (its node may be up). */
  crashed: boolean;
}

/** The market actors: the factory `simulate` calls once the chain runs. */
export const marketActors: SimActorsFactory = async (ctx: SimContext): Promise<SimActors> => {
  const { cluster, config: c } = ctx;
  const rng = seededRng(c.seed ^ 0x3a7c_e7);
  const draw = (r: [number, number]) => r[0] + rng() * (r[1] - r[0]);
  const stateRoot = await Deno.makeTempDir({ prefix: "cirrus-sim-providers-" });
  const providers: SimProvider[] = [];
  for (let k = 0; k < c.providers; k++) {
    const key = ctx.keys.get(`provider${k}`)!;
    const cpu = Math.round(draw(c.market.providerCpu) / 100) * 100;
    const price = draw(c.market.providerPrice).toFixed(6);
    const stateDir = join(stateRoot, `p${k}`);
    const config = parseProviderConfig(simProviderYaml(cpu, price), stateDir);
    const driver = new SimDriver({
      capacity: { cpu, memory: cpu * 2 * 1024 ** 2, storage: cpu * 8 * 1024 ** 2, gpu: 0 },
      hostPortRange: { min: 31000, max: 31999 },
    });
    providers.push({
      index: k,
      node: k % c.validators,
      key,
      cpu,
      config,
      driver,
      stateDir,
      running: null,
      crashed: false,
    });
  }
  let submitted = 0;
  const tenantKeys = [...Array(c.tenants).keys()].map((k) => ctx.keys.get(`tenant${k}`)!);
  // The observer reads blocks; the tenants react to its events (set below, before any block).
  let tenants: SimTenants | null = null;
  const observer = new MarketObserver({
    providers: providers.map((p) => ({ address: p.key.address, cpu: p.cpu })),
    cpuOf: (d) => tenants?.cpuOf(d) ?? null,
    onEvent: (e) => tenants?.onEvent(e),
    onBlock: () => tenants?.onBlock(),
  });
  tenants = new SimTenants({
    cluster,
    chainId: ctx.genesis.chainId,
    denom: DENOM,
    market: c.market,
    txRate: c.txRate,
    keys: tenantKeys,
    rng: seededRng(c.seed ^ 0x7e_4a47),
    observer,
    providerNode: (address) => {
      const p = providers.find((x) => x.key.address === address);
      return p?.running ? cluster.nodes[p.node] ?? null : null;
    },
  });
  const unwatch = new Map<number, () => void>();
  cluster.nodes.forEach((n, i) => n && unwatch.set(i, observer.watch(n)));

  /** Starts provider p on its node (when the node runs and p is not crashed), driving the clock. */
  const startProvider = async (p: SimProvider): Promise<void> => {
    const node = cluster.nodes[p.node];
    if (!node || p.running || p.crashed) return;
    // Until its first tx or its first timer (or the end of a start that needs neither: a restart),
    // the service does real work only (its state directory, reconciling): time waits for it. Then
    // it waits for the chain.
    let working = true;
    const view = cluster.clock.view(`provider${String(p.index).padStart(6, "0")}`);
    const clock = {
      now: view.now,
      clearTimeout: view.clearTimeout,
      setTimeout: (fn: () => void, ms: number) => {
        working = false;
        return view.setTimeout(fn, ms);
      },
    };
    const count = (chain: ChainClient): ChainClient => ({
      ...chain,
      submit: (type, body) => {
        working = false;
        submitted++;
        return cluster.clock.track(chain.submit(type, body));
      },
    });
    const unbusy = cluster.clock.busyWhile(() => working);
    p.running = await cluster.clock.runFor(
      composeProvider({
        routes: routesOf(node),
        key: p.key,
        config: p.config,
        stateDir: p.stateDir,
        logger: () => {},
        driver: p.driver,
        wrapChain: count,
        clock,
      }),
      { maxMs: PROVIDER_START_MAX_MS, label: `provider ${p.index} to start` },
    ).finally(() => {
      working = false;
      unbusy();
    });
  };
  const stopProvider = async (p: SimProvider): Promise<void> => {
    const r = p.running;
    p.running = null;
    // Its workloads stay in the driver (the cluster outlives the provider process): close() is not called.
    await r?.service.stop();
  };
  const stopAll = async () => {
    await tenants.stop();
    for (const p of providers) await stopProvider(p).catch(() => {});
    for (const off of unwatch.values()) off();
    await Deno.remove(stateRoot, { recursive: true }).catch(() => {});
  };
  try {
    for (const p of providers) await startProvider(p);
    await tenants.start();
  } catch (e) {
    // simulate() has no actors to stop yet: leave nothing running and no directory behind.
    await stopAll();
    throw e;
  }
  return {
    onHeight: () => {},
    nodeDown: async (i) => {
      unwatch.get(i)?.();
      unwatch.delete(i);
      for (const p of providers) if (p.node === i) await stopProvider(p);
    },
    nodeUp: async (i, node: CirrusNode) => {
      unwatch.set(i, observer.watch(node));
      for (const p of providers) if (p.node === i) await startProvider(p);
    },
    providerFault: async (k, up) => {
      const p = providers[k];
      if (!p) return;
      p.crashed = !up;
      if (up) await startProvider(p);
      else await stopProvider(p);
    },
    stop: stopAll,
    metrics: () => ({
      ...observer.metrics(),
      txsSubmitted: submitted + tenants.submitted,
    }),
  };
};

/** One set of protocol routes per node object (a restarted node is a new object with new routes). */
const routesByNode = new WeakMap<CirrusNode, NodeProtocolRoutes>();
function routesOf(node: CirrusNode): NodeProtocolRoutes {
  let r = routesByNode.get(node);
  if (!r) routesByNode.set(node, r = new NodeProtocolRoutes(node));
  return r;
}

/**
 * `simulate(config) -> metrics` with the market: providers and tenants of the configuration run as
 * {@link marketActors} (the library's `simulate` from `mod.ts`).
 * @example
 * ```ts
 * const m = await simulateMarket({ ...SIM_DEFAULTS, providers: 2, tenants: 3, txRate: 2, heights: 30 });
 * m.orders.filter((o) => o.blocksToLease !== null).length; // orders leased
 * ```
 */
export function simulateMarket(config: SimConfig, opts: SimulateOptions = {}): Promise<SimMetrics> {
  if (config.providers === 0 && config.tenants === 0) return simulate(config, opts);
  return simulate(config, { ...opts, actors: marketActors, actorAccounts: marketAccounts(config) });
}
