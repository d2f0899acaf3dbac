/**
 * `node start --provider --provider-config FILE`: composes the provider role (provider/) on a running
 * node, handing it a chain client (committed state and events, tx submission, stream protocols).
 * node/ never imports provider/; this file is the only place where the two meet.
 * @module
 */
import { dirname, join, resolve } from "node:path";
import type { CirrusNode } from "../node/node.ts";
import { Keystore } from "../node/keystore.ts";
import { signTx } from "../node/ledger/tx.ts";
import type { Logger } from "../lib/log.ts";
import type { Clock } from "../lib/clock.ts";
import { type ChainClient, ProviderService } from "../provider/service.ts";
import { parseProviderConfig, type ProviderConfig } from "../provider/config.ts";
import { BidEngine } from "../provider/bid_engine.ts";
import { capacityFromConfig, Inventory, type InventoryCapacity } from "../provider/inventory.ts";
import type { ClusterDriver } from "../provider/cluster/driver.ts";
import { ensureBusyboxImage, podmanAvailable, PodmanDriver } from "../provider/cluster/podman.ts";
import { KubernetesDriver } from "../provider/cluster/kubernetes.ts";
import { SimDriver } from "../provider/cluster/sim.ts";
import { UserError } from "./util.ts";

type UnaryHandler = Parameters<ChainClient["handle"]>[1];
type StreamHandler = Parameters<ChainClient["handleStream"]>[1];

/**
 * The provider protocol handlers of ONE node. libp2p keeps one handler per protocol for the life of
 * the host, so the node's p2p host gets a dispatcher once, and a provider service that is stopped
 * (and maybe started again) on the same node swaps its handlers here. Create one per node and hand it
 * to every provider service composed on that node.
 */
export class NodeProtocolRoutes {
  /** Unary handlers by protocol. */
  readonly unary = new Map<string, UnaryHandler>();
  /** Stream handlers by protocol. */
  readonly stream = new Map<string, StreamHandler>();
  /** Protocols whose dispatcher the node's p2p host already has. */
  readonly registered = new Set<string>();
  constructor(readonly node: CirrusNode) {}
}

/**
 * A chain client over an in-process node, signing with the provider's key; its protocol handlers go
 * through `routes` (the node's, see {@link NodeProtocolRoutes}).
 */
export function nodeChainClient(
  routes: NodeProtocolRoutes,
  key: { address: string; privKey: Uint8Array },
): ChainClient {
  const node = routes.node;
  // Txs of one sender are signed one at a time so that nonces follow each other.
  let signing: Promise<unknown> = Promise.resolve();
  const mine = new Map<string, UnaryHandler | StreamHandler>();
  const unavailable = (protocol: string) => new Error(`${protocol}: the provider service is not running`);
  const register = async (protocol: string, install: () => Promise<void>) => {
    if (routes.registered.has(protocol)) return;
    routes.registered.add(protocol);
    try {
      await install();
    } catch (e) {
      routes.registered.delete(protocol);
      throw e;
    }
  };
  return {
    chainId: node.chainId,
    view: () => node.chain.state,
    height: () => node.chain.height,
    onCommit: (fn) => node.onCommit((b) => fn({ height: b.height, txs: b.txs, events: b.events })),
    submit: (type, body) => {
      const run = async () => {
        const bytes = await signTx({
          chainId: node.chainId,
          type,
          from: key.address,
          nonce: node.mempool.nextNonce(node.chain.state, key.address),
          fee: BigInt(node.chain.genesis.params.ledger.minFee),
          body,
        }, key.privKey);
        const r = await node.submitTx(bytes);
        return r.ok ? { ok: true as const, txId: r.txId } : { ok: false as const, error: r.error };
      };
      const p = signing.then(run, run);
      signing = p;
      return p;
    },
    addrs: () => node.p2p.addrs(),
    handle: async (protocol, handler) => {
      routes.unary.set(protocol, handler);
      mine.set(protocol, handler);
      await register(protocol, () =>
        node.p2p.handle(protocol, (req, from) => {
          const h = routes.unary.get(protocol);
          if (!h) throw unavailable(protocol);
          return h(req, from);
        }));
    },
    handleStream: async (protocol, handler) => {
      routes.stream.set(protocol, handler);
      mine.set(protocol, handler);
      await register(protocol, () =>
        node.p2p.handleStream(protocol, (req, from, send, signal) => {
          const h = routes.stream.get(protocol);
          if (!h) throw unavailable(protocol);
          return h(req, from, send, signal);
        }));
    },
    unhandle: (protocol) => {
      const h = mine.get(protocol);
      mine.delete(protocol);
      if (h === undefined) return;
      if (routes.unary.get(protocol) === h) routes.unary.delete(protocol);
      if (routes.stream.get(protocol) === h) routes.stream.delete(protocol);
    },
  };
}

/** Build the cluster driver a config asks for. */
export async function makeDriver(
  cfg: ProviderConfig,
  stateDir: string,
  log: Logger,
  provider?: string,
): Promise<ClusterDriver> {
  const c = cfg.cluster;
  const hostPortRange = { min: c.hostPorts[0], max: c.hostPorts[1] };
  switch (c.driver) {
    case "podman": {
      const p = await podmanAvailable();
      if (!p.ok) {
        throw new UserError(
          `podman driver: podman does not work here (${p.reason}); run scripts/install-podman.sh`,
        );
      }
      if (await ensureBusyboxImage()) log("info", "built the local example image localhost/busybox:latest");
      return new PodmanDriver({
        stateDir: join(stateDir, "podman"),
        hostPortRange,
        publicHost: c.publicHost,
        ...(provider ? { provider } : {}),
      });
    }
    case "kubernetes":
      return new KubernetesDriver(
        {
          ...(c.kubeconfig ? { kubeconfig: c.kubeconfig } : {}),
          ...(c.context ? { context: c.context } : {}),
          hostPortRange,
          publicHost: c.publicHost,
        } as ConstructorParameters<typeof KubernetesDriver>[0],
      );
    case "sim": {
      if (cfg.capacity === "probe") {
        throw new UserError(`sim driver: give capacity in the config (it cannot be probed)`);
      }
      // The sim driver counts one storage pool and gpus as a number: sum the config's (capped) capacity.
      const cap = capacityFromConfig(cfg);
      return new SimDriver({
        capacity: {
          cpu: cap.cpu,
          memory: cap.memory,
          storage: Object.values(cap.storage).reduce((a, b) => a + b, 0),
          gpu: cap.gpus.reduce((a, g) => a + g.count, 0),
        },
        hostPortRange,
        publicHost: c.publicHost,
      });
    }
  }
}

/** Options of {@link composeProvider}. */
export interface ComposeProviderOptions {
  /** The node's protocol routes (one per node, kept across provider restarts on it). */
  routes: NodeProtocolRoutes;
  /** The provider's account key (signs its txs). */
  key: { address: string; privKey: Uint8Array };
  config: ProviderConfig;
  /** Directory of the provider's state (manifests, the podman driver's state). */
  stateDir: string;
  /** The service's logger (and the driver's, when this function builds it). */
  logger: Logger;
  /** The cluster driver; default: the one the config asks for ({@link makeDriver}). */
  driver?: ClusterDriver;
  /** Wraps the chain client (tests: observe or delay it). */
  wrapChain?: (client: ChainClient) => ChainClient;
  /** The service's timers and wall time (default the system clock; the node's clock in `node start`). */
  clock?: Clock;
}

/** A started provider service and its parts. */
export interface ComposedProvider {
  service: ProviderService;
  driver: ClusterDriver;
  engine: BidEngine;
  /** Stops the service, then closes the driver. */
  stop(): Promise<void>;
}

/**
 * The provider role on a node, composed and started: the cluster driver, the capacity (configured or
 * probed), the bid engine over an inventory, and the provider service over the node's chain client.
 * `node start --provider` (and so the devnet's provider nodes) and the in-process tests compose it here.
 */
export async function composeProvider(o: ComposeProviderOptions): Promise<ComposedProvider> {
  const driver = o.driver ?? await makeDriver(o.config, o.stateDir, o.logger, o.key.address);
  const capacity = await resolveCapacity(o.config, driver);
  const engine = new BidEngine(o.config, new Inventory(capacity));
  const chain = nodeChainClient(o.routes, o.key);
  const service = new ProviderService({
    chain: o.wrapChain ? o.wrapChain(chain) : chain,
    driver,
    config: o.config,
    address: o.key.address,
    stateDir: o.stateDir,
    logger: o.logger,
    ...(o.clock ? { clock: o.clock } : {}),
  }, engine);
  await service.start();
  return {
    service,
    driver,
    engine,
    stop: async () => {
      await service.stop();
      await driver.close?.();
    },
  };
}

/** Start the provider role on a node (`node start --provider --provider-config FILE`). */
export async function startProviderRole(
  node: CirrusNode,
  home: string,
  configPath: string,
  log: Logger,
): Promise<ComposedProvider> {
  let text: string;
  try {
    text = await Deno.readTextFile(configPath);
  } catch (e) {
    throw new UserError(`Cannot read provider config ${configPath}: ${(e as Error).message}`);
  }
  const config = parseProviderConfig(text, dirname(resolve(configPath)));
  const key = await new Keystore(home).get(config.key);
  const stateDir = join(home, "provider");
  const driver = await makeDriver(config, stateDir, log, key.address);
  const provider = await composeProvider({
    routes: new NodeProtocolRoutes(node),
    key,
    config,
    stateDir,
    logger: (level, msg, fields) => log(level, `provider: ${msg}`, fields),
    driver,
    clock: node.clock,
  });
  const capacity = provider.engine.inventory.capacity;
  log("info", "provider role started", {
    address: key.address,
    driver: driver.kind,
    cpu: capacity.cpu,
    memory: capacity.memory,
  });
  return provider;
}

/** The capacity to offer: configured, or probed from the driver (free resources); capped by `capacityCap`. */
async function resolveCapacity(cfg: ProviderConfig, driver: ClusterDriver): Promise<InventoryCapacity> {
  if (cfg.capacity !== "probe") return capacityFromConfig(cfg);
  const probed = await driver.probeCapacity();
  return capacityFromConfig(cfg, { ...probed.free, ...(probed.gpus ? { gpus: probed.gpus } : {}) });
}
