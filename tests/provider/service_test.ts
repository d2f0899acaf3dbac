/**
 * The provider role in process: the real ProviderService (composed by cli/provider_role.ts's
 * composeProvider: nodeChainClient, makeDriver -> SimDriver, BidEngine over an Inventory) on a real 4-validator network
 * (simulated network and time), and a tenant that is a separate host on that network speaking
 * /cirrus/manifest/1 and /cirrus/lease/1. Auction, manifest delivery and tenant access, capacity, teardown on close and on
 * escrow exhaustion, and reconcile after a restart.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { sendAndWait, sendTx, type TestAccount, TestNet } from "../helpers/network.ts";
import { writeGenesis } from "../../node/config.ts";
import type { P2P } from "../../node/p2p.ts";
import type { CirrusNode } from "../../node/node.ts";
import { parseSdl } from "../../auction/sdl/mod.ts";
import type { Manifest } from "../../auction/sdl/types.ts";
import { getLease, getProvider, groupsForTx, listBids, listLeases } from "../../auction/market/mod.ts";
import {
  type ChainClient,
  LEASE_PROTOCOL,
  MANIFEST_PROTOCOL,
  ProviderService,
} from "../../provider/service.ts";
import { composeProvider, NodeProtocolRoutes } from "../../cli/provider_role.ts";
import { parseProviderConfig, type ProviderConfig } from "../../provider/config.ts";
import { BidEngine } from "../../provider/bid_engine.ts";
import { SimDriver } from "../../provider/cluster/sim.ts";
import { parseLeaseId } from "../../lib/ids.ts";
import {
  decodeResponse,
  newNonce,
  signLeaseRequest,
  signManifestRequest,
} from "../../provider/protocol/mod.ts";

const Mi = 1024 ** 2;

/** A provider's answer, as the tenant reads it. */
interface Resp {
  ok: boolean;
  code?: string;
  error?: string;
  services?: { name: string; image?: string; ready: number; total: number; uris: string[] }[];
  events?: { type: string; message: string }[];
}

/** One unit: 0.5 cpu, 128Mi memory, 256Mi storage; `price` is the SDL's max per block. */
function sdlText(price: number, image = "localhost/busybox:latest"): string {
  return `
version: "2.0"
services:
  web:
    image: ${image}
    expose:
      - port: 8080
        as: 80
        to:
          - global: true
profiles:
  compute:
    web:
      resources:
        cpu: { units: 0.5 }
        memory: { size: 128Mi }
        storage: { size: 256Mi }
  placement:
    dc:
      attributes:
        region: us-west
      pricing:
        web: { denom: ucrs, amount: ${price} }
deployment:
  web:
    dc:
      profile: web
      count: 1
`;
}

/** A sim provider; `cpuPrice` per millicore (the unit has 500), memory and storage free. */
function providerYaml(o: { cpuPrice: string; units?: number }): string {
  const n = o.units ?? 4;
  return `
key: provider
cluster: {driver: sim, hostPorts: [31000, 31099]}
capacity: {cpu: "${n * 500}m", memory: ${n * 128}Mi, storage: {default: ${n * 256}Mi}}
attributes: {region: us-west}
pricing: {cpu: "${o.cpuPrice}", memory: "0", storage: {default: "0"}}
reservationTimeoutBlocks: 1000
`;
}

interface RunningProvider {
  service: ProviderService;
  driver: SimDriver;
  engine: BidEngine;
  config: ProviderConfig;
  account: TestAccount;
  stateDir: string;
  /** The node's provider protocol routes: a restart on the same node passes them on. */
  routes: NodeProtocolRoutes;
  logs: { level: string; msg: string; fields?: Record<string, unknown> }[];
}

/** Composes and starts a provider on `node` with cli/provider_role.ts's composeProvider (the sim driver). */
async function startProvider(
  net: TestNet,
  node: CirrusNode,
  account: TestAccount,
  yaml: string,
  stateDir: string,
  opts: { driver?: SimDriver; routes?: NodeProtocolRoutes; wrapChain?: (c: ChainClient) => ChainClient } = {},
): Promise<RunningProvider> {
  const config = parseProviderConfig(yaml, stateDir);
  const logs: RunningProvider["logs"] = [];
  const routes = opts.routes ?? new NodeProtocolRoutes(node);
  const p = await net.run(
    composeProvider({
      routes,
      key: account,
      config,
      stateDir,
      logger: (level, msg, fields) => logs.push({ level, msg, ...(fields ? { fields } : {}) }),
      ...(opts.driver ? { driver: opts.driver } : {}),
      ...(opts.wrapChain ? { wrapChain: opts.wrapChain } : {}),
      clock: node.clock,
    }),
    "the provider to start",
  );
  assert.instance(p.driver, SimDriver);
  return { ...p, driver: p.driver as SimDriver, config, account, stateDir, routes, logs };
}

/** A network with a longer bid window (the providers bid from their commit callbacks) and calmer blocks. */
async function network(accounts: number): Promise<TestNet> {
  const net = await TestNet.create({
    validators: 4,
    accounts,
    consensus: { timeoutCommitMs: 100 },
  });
  net.genesis.params.market.bidWindowBlocks = 4;
  for (const home of net.homes) await writeGenesis(home, net.genesis);
  await net.startAll();
  await net.waitHeight(1, 30_000);
  return net;
}

/** Runs the network's (simulated) time until `cond` holds. */
async function waitFor(
  net: TestNet,
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
) {
  await net.until(cond, what, timeoutMs);
}

interface Deployment {
  dseq: number;
  order: string;
  height: number;
  manifest: Manifest;
  manifestHash: string;
}

async function createDeployment(
  net: TestNet,
  i: number,
  tenant: TestAccount,
  sdl: string,
  deposit = "5000000",
): Promise<Deployment> {
  const parsed = parseSdl(sdl);
  if (!parsed.ok) throw new Error(parsed.errors.join("; "));
  const r = await sendAndWait(net, i, tenant, "deployment.create", {
    groups: groupsForTx(parsed.groups),
    manifestHash: parsed.manifestHash,
    deposit: { denom: "ucrs", amount: deposit },
  });
  assert.ok(r.ok, r.reason);
  const order = r.events.find((e) => e.type === "order.opened")!.attrs.order!;
  return {
    dseq: Number(order.split("/")[1]),
    order,
    height: r.height,
    manifest: parsed.manifest,
    manifestHash: parsed.manifestHash,
  };
}

/** Waits until the order has a lease (on node i's committed state); its id. */
async function waitLease(net: TestNet, i: number, order: string, timeoutMs = 20_000): Promise<string> {
  let id = "";
  await waitFor(
    net!,
    () => {
      const l = listLeases(net.nodes[i]!.chain.state, {}).find((x) => x.id.startsWith(`${order}/`));
      if (l) id = l.id;
      return l !== undefined;
    },
    `a lease on order ${order}`,
    timeoutMs,
  );
  return id;
}

/** A tenant's host on the simulated network that reaches providers through their on-chain hostUri. */
class Tenant {
  private constructor(readonly p2p: P2P, readonly net: TestNet) {}

  static async create(net: TestNet): Promise<Tenant> {
    const p2p = await net.sim!.network.join({ transport: "memory", listen: ["/sim/tenant"], topics: [] });
    return new Tenant(p2p, net);
  }

  async peerOf(provider: string): Promise<string> {
    const rec = getProvider(this.net.nodes.find((n) => n)!.chain.state, provider);
    assert.ok(rec, `provider ${provider} is registered`);
    const addr = rec!.hostUri.find((a) => a.includes("/p2p/"))!;
    await this.p2p.dial(addr);
    return /\/p2p\/([^/]+)$/.exec(addr)![1]!;
  }

  async send(provider: string, protocol: string, bytes: Uint8Array): Promise<Resp> {
    const peer = await this.peerOf(provider);
    const reply = this.p2p.request(peer, protocol, bytes, { timeoutMs: 15_000 });
    return decodeResponse(await this.net.run(reply, `${protocol} reply`, 20_000)) as Resp;
  }

  manifestRequest(
    key: TestAccount,
    leaseId: string,
    d: Deployment,
    over: { manifest?: Manifest; manifestHash?: string; version?: number } = {},
  ): Promise<Uint8Array> {
    return signManifestRequest({
      chainId: this.net.genesis.chainId,
      leaseId,
      manifest: over.manifest ?? d.manifest,
      manifestHash: over.manifestHash ?? d.manifestHash,
      version: over.version ?? d.height,
      timestamp: this.net.now(),
      nonce: newNonce(),
    }, key.privKey);
  }

  leaseRequest(key: TestAccount, leaseId: string, op: "status" | "events" = "status"): Promise<Uint8Array> {
    return signLeaseRequest({
      chainId: this.net.genesis.chainId,
      leaseId,
      op,
      timestamp: this.net.now(),
      nonce: newNonce(),
    }, key.privKey);
  }

  async sendManifest(key: TestAccount, leaseId: string, d: Deployment): Promise<Resp> {
    return await this.send(
      leaseId.split("/")[4]!,
      MANIFEST_PROTOCOL,
      await this.manifestRequest(key, leaseId, d),
    );
  }

  stop(): Promise<void> {
    return this.p2p.stop();
  }
}

/** Records, at each commit of `node`, whether the driver has the lease's workload (at that moment). */
function watchWorkload(node: CirrusNode, driver: SimDriver, leaseId: string) {
  const seen = new Map<number, Promise<boolean>>();
  const off = node.onCommit((b) => {
    seen.set(b.height, driver.list().then((l) => l.includes(leaseId)));
  });
  return {
    off,
    async presentAt(h: number): Promise<boolean | undefined> {
      return await seen.get(h);
    },
  };
}

/**
 * A block event `type` about `leaseId` on node (its height and attributes), once committed; await
 * it through `net.run`, which drives time and bounds the wait.
 */
function waitEvent(
  node: CirrusNode,
  type: string,
  leaseId: string,
): { done: Promise<{ height: number; attrs: Record<string, string> }>; cancel(): void } {
  let off = () => {};
  const done = new Promise<{ height: number; attrs: Record<string, string> }>((resolve) => {
    off = node.onCommit((b) => {
      const all = [...b.txs.filter((t) => t.ok).flatMap((t) => t.events), ...b.events];
      const e = all.find((x) => x.type === type && x.attrs.lease === leaseId);
      if (e) {
        off();
        resolve({ height: b.height, attrs: e.attrs });
      }
    });
  });
  return { done, cancel: () => off() };
}

async function tempDir(dirs: string[]): Promise<string> {
  const d = await Deno.makeTempDir({ prefix: "cirrus-provider-" });
  dirs.push(d);
  return d;
}

async function cleanup(
  net: TestNet | undefined,
  providers: (RunningProvider | undefined)[],
  tenants: (Tenant | undefined)[],
  dirs: string[],
) {
  for (const p of providers) await p?.service.stop().catch(() => {});
  for (const t of tenants) await t?.stop().catch(() => {});
  await net?.cleanup();
  for (const d of dirs) await Deno.remove(d, { recursive: true }).catch(() => {});
}

// ---------------------------------------------------------------------------------------------------

test("two providers bid on their own; the cheaper wins the lease; the loser's reservation is released", async () => {
  let net: TestNet | undefined;
  const ps: RunningProvider[] = [];
  const dirs: string[] = [];
  try {
    net = await network(3);
    const [tenant, a1, a2] = net.accounts;
    const cheap = await startProvider(
      net!,
      net.nodes[0]!,
      a1!,
      providerYaml({ cpuPrice: "2" }),
      await tempDir(dirs),
    );
    ps.push(cheap);
    const dear = await startProvider(
      net!,
      net.nodes[1]!,
      a2!,
      providerYaml({ cpuPrice: "3" }),
      await tempDir(dirs),
    );
    ps.push(dear);
    const full = cheap.engine.inventory.capacity;

    const d = await createDeployment(net, 2, tenant!, sdlText(2_000_000));
    const leaseId = await waitLease(net, 2, d.order);
    const bids = listBids(net.nodes[2]!.chain.state, { owner: tenant!.address });
    assert.equal(
      bids.map((b) => [b.provider, b.price.amount]).sort(),
      [[a1!.address, "1000"], [a2!.address, "1500"]].sort(),
      "both providers bid, at 500 millicores x their cpu price",
    );
    assert.is(leaseId, `${d.order}/${a1!.address}`, "the cheaper provider won");
    assert.equal(getLease(net.nodes[2]!.chain.state, leaseId)!.price, { denom: "ucrs", amount: "1000" });
    assert.is(cheap.service.stats.bids, 1);
    assert.is(dear.service.stats.bids, 1);

    // The loser hears bid.lost and gives its reservation back; the winner keeps it as a lease.
    await waitFor(
      net,
      () => dear.engine.tracked().length === 0,
      "the losing provider to release its reservation",
    );
    assert.equal(
      dear.engine.inventory.free(),
      dear.engine.inventory.capacity,
      "loser: capacity back to full",
    );
    await waitFor(
      net!,
      () => cheap.engine.tracked().some((t) => t.orderId === d.order && t.state === "active"),
      "the winner to commit its reservation to the lease",
    );
    assert.is(cheap.engine.inventory.free().cpu, full.cpu - 500, "winner: one unit held by the lease");
  } finally {
    await cleanup(net, ps, [], dirs);
  }
});

test("manifest over /cirrus/manifest/1 deploys; lease/1 status is the owner's only; replays and wrong hashes are refused", async () => {
  let net: TestNet | undefined;
  let p: RunningProvider | undefined;
  let tenant: Tenant | undefined;
  const dirs: string[] = [];
  try {
    net = await network(3);
    const [owner, pa, stranger] = net.accounts;
    p = await startProvider(net, net.nodes[0]!, pa!, providerYaml({ cpuPrice: "2" }), await tempDir(dirs));
    tenant = await Tenant.create(net);
    const d = await createDeployment(net, 1, owner!, sdlText(2_000_000));
    const leaseId = await waitLease(net, 0, d.order);

    // Before the manifest: status says so.
    const early = await tenant.send(pa!.address, LEASE_PROTOCOL, await tenant.leaseRequest(owner!, leaseId));
    assert.ok(early.ok, JSON.stringify(early));
    assert.equal(early.services, []);

    // A manifest whose hash is not the chain's: refused, nothing deployed.
    const other = parseSdl(sdlText(2_000_000, "localhost/other:latest"));
    if (!other.ok) throw new Error(other.errors.join("; "));
    const wrong = await tenant.send(
      pa!.address,
      MANIFEST_PROTOCOL,
      await tenant.manifestRequest(owner!, leaseId, d, {
        manifest: other.manifest,
        manifestHash: other.manifestHash,
      }),
    );
    assert.not.ok(wrong.ok);
    assert.ok(["conflict", "bad_request"].includes(wrong.code!), wrong.code);
    assert.match(wrong.error!, /manifest hash [0-9a-f]+… differs from the chain.s/);
    assert.equal(await p.driver.list(), [], "no workload for a refused manifest");

    // The right manifest: deployed.
    const bytes = await tenant.manifestRequest(owner!, leaseId, d);
    const res = await tenant.send(pa!.address, MANIFEST_PROTOCOL, bytes);
    assert.ok(res.ok, JSON.stringify(res));
    assert.equal(await p.driver.list(), [leaseId]);
    const st = await p.driver.status(leaseId);
    assert.is(st.services[0]!.name, "web");
    assert.is(st.services[0]!.ready, 1);
    assert.is(p.service.stats.deployed, 1);

    // The same bytes again: a replay.
    const replay = await tenant.send(pa!.address, MANIFEST_PROTOCOL, bytes);
    assert.not.ok(replay.ok);
    assert.is(replay.code, "forbidden");
    assert.match(replay.error!, /replayed/);

    // Status: the owner gets the services; anybody else is forbidden.
    const status = await tenant.send(pa!.address, LEASE_PROTOCOL, await tenant.leaseRequest(owner!, leaseId));
    assert.ok(status.ok, JSON.stringify(status));
    const services = status.services!;
    assert.is(services.length, 1);
    assert.is(services[0]!.name, "web");
    assert.is(services[0]!.ready, 1);
    assert.is(services[0]!.total, 1);
    assert.match(
      services[0]!.uris[0]!,
      /^http:\/\/127\.0\.0\.1:310\d\d$/,
      "a host port from the config's range",
    );
    const nonces = p.service.replayNonces;
    const statusBytes = await tenant.leaseRequest(stranger!, leaseId);
    const denied = await tenant.send(pa!.address, LEASE_PROTOCOL, statusBytes);
    assert.not.ok(denied.ok);
    assert.is(denied.code, "forbidden");
    assert.match(denied.error!, /forbidden/);
    // Finding 9: a stranger's requests (status, manifest) leave nothing in the replay table.
    const strangerManifest = await tenant.send(
      pa!.address,
      MANIFEST_PROTOCOL,
      await tenant.manifestRequest(stranger!, leaseId, d),
    );
    assert.not.ok(strangerManifest.ok);
    assert.is(p.service.replayNonces, nonces, "finding 9: no nonce remembered for a stranger");
    // A replayed status request is refused too.
    const ownerStatus = await tenant.leaseRequest(owner!, leaseId);
    assert.ok((await tenant.send(pa!.address, LEASE_PROTOCOL, ownerStatus)).ok);
    const again = await tenant.send(pa!.address, LEASE_PROTOCOL, ownerStatus);
    assert.not.ok(again.ok);
    assert.match(again.error!, /replayed/);
    // Garbage bytes on both streams: a clear bad_request, and the provider keeps serving.
    for (const proto of [MANIFEST_PROTOCOL, LEASE_PROTOCOL]) {
      for (
        const junk of [new Uint8Array([0xde, 0xad, 0xbe, 0xef]), crypto.getRandomValues(new Uint8Array(700))]
      ) {
        const bad = await tenant.send(pa!.address, proto, junk);
        assert.not.ok(bad.ok, `${proto} refuses garbage`);
        assert.is(bad.code, "bad_request", `${proto}: ${bad.error}`);
        assert.match(bad.error!, /malformed/);
      }
    }
    assert.ok(
      (await tenant.send(pa!.address, LEASE_PROTOCOL, await tenant.leaseRequest(owner!, leaseId))).ok,
    );
    // The lease's event log says what happened.
    const ev = await tenant.send(
      pa!.address,
      LEASE_PROTOCOL,
      await tenant.leaseRequest(owner!, leaseId, "events"),
    );
    assert.ok(ev.ok);
    assert.equal(
      ev.events!.map((e) => e.type),
      ["lease.created", "manifest.accepted"],
    );
  } finally {
    await cleanup(net, [p], [tenant], dirs);
  }
});

test("a provider never holds more leases than its capacity: it skips for capacity until its lease closes", async () => {
  let net: TestNet | undefined;
  let p: RunningProvider | undefined;
  const dirs: string[] = [];
  try {
    net = await network(2);
    const [owner, pa] = net.accounts;
    p = await startProvider(
      net!,
      net.nodes[0]!,
      pa!,
      providerYaml({ cpuPrice: "2", units: 1 }),
      await tempDir(dirs),
    );
    // The sim driver made from the config has the config's capacity (one unit).
    const cap = await p.driver.probeCapacity();
    assert.equal(cap.total, { cpu: 500, memory: 128 * Mi, storage: 256 * Mi, gpu: 0 });
    assert.equal(cap.free, cap.total);

    const first = await createDeployment(net, 1, owner!, sdlText(2_000_000));
    const lease1 = await waitLease(net, 0, first.order);
    assert.is(p.service.stats.bids, 1);
    const second = await createDeployment(net, 1, owner!, sdlText(2_000_000));
    await waitFor(
      net!,
      () => p!.logs.some((l) => l.msg === "not bidding" && l.fields?.order === second.order),
      "the provider to skip the second order",
    );
    const skip = p.logs.find((l) => l.msg === "not bidding" && l.fields?.order === second.order)!;
    assert.match(String(skip.fields!.reason), /capacity/);
    // It stays skipped while the first lease holds the unit (the order reopens every window).
    const h0 = net.nodes[0]!.chain.height;
    await net.waitHeight(h0 + 2 * net.genesis.params.market.bidWindowBlocks + 1, 20_000, [0]);
    assert.ok(p.logs.filter((l) => l.msg === "not bidding" && l.fields?.order === second.order).length >= 2);
    assert.is(p.service.stats.bids, 1, "no bid on the second order while the first lease holds the unit");
    assert.equal(listBids(net.nodes[0]!.chain.state, { provider: pa!.address }).length, 1);
    assert.equal(listLeases(net.nodes[0]!.chain.state, { provider: pa!.address, state: "active" }).length, 1);

    // The tenant closes the first lease: the unit is free, the reopened second order gets a bid and a lease.
    const closed = await sendAndWait(net, 1, owner!, "lease.close", { lease: lease1 });
    assert.ok(closed.ok, closed.reason);
    const lease2 = await waitLease(net, 0, second.order);
    assert.is(lease2, `${second.order}/${pa!.address}`);
    assert.is(p.service.stats.bids, 2);
    assert.equal(
      listLeases(net.nodes[0]!.chain.state, { provider: pa!.address, state: "active" }).map((l) => l.id),
      [
        lease2,
      ],
    );
    assert.ok(p.engine.inventory.free().cpu >= 0);
  } finally {
    await cleanup(net, [p], [], dirs);
  }
});

test("a lease closed by the tenant loses its workload within one block", async () => {
  let net: TestNet | undefined;
  let p: RunningProvider | undefined;
  let tenant: Tenant | undefined;
  const dirs: string[] = [];
  try {
    net = await network(2);
    const [owner, pa] = net.accounts;
    p = await startProvider(net, net.nodes[0]!, pa!, providerYaml({ cpuPrice: "2" }), await tempDir(dirs));
    tenant = await Tenant.create(net);
    const d = await createDeployment(net, 1, owner!, sdlText(2_000_000));
    const leaseId = await waitLease(net, 0, d.order);
    const res = await tenant.sendManifest(owner!, leaseId, d);
    assert.ok(res.ok, JSON.stringify(res));
    assert.equal(await p.driver.list(), [leaseId]);

    const watch = watchWorkload(net.nodes[0]!, p.driver, leaseId);
    const ev = waitEvent(net.nodes[0]!, "lease.closed", leaseId);
    try {
      const closed = await sendAndWait(net, 1, owner!, "lease.close", { lease: leaseId });
      assert.ok(closed.ok, closed.reason);
      const e = await net.run(ev.done, "lease.closed", 30_000);
      assert.is(e.height, closed.height);
      await net.waitHeight(e.height + 1, 20_000, [0]);
      assert.is(await watch.presentAt(e.height + 1), false, "gone when the next block commits");
    } finally {
      ev.cancel();
      watch.off();
    }
    assert.equal(await p.driver.list(), []);
    assert.is(p.service.stats.tornDown, 1);
    assert.equal(p.engine.inventory.free(), p.engine.inventory.capacity, "capacity back to full");
    const files = [...Deno.readDirSync(join(p.stateDir, "manifests"))];
    assert.equal(files, [], "the stored manifest is dropped");
  } finally {
    await cleanup(net, [p], [tenant], dirs);
  }
});

test("a lease closed for insufficient funds at the exhaustion block loses its workload within one block", async () => {
  let net: TestNet | undefined;
  let p: RunningProvider | undefined;
  let tenant: Tenant | undefined;
  const dirs: string[] = [];
  try {
    net = await network(2);
    const [owner, pa] = net.accounts;
    // 500 millicores x 2000 = 1,000,000 per block: the 5,000,000 minimum deposit pays 5 blocks.
    p = await startProvider(net, net.nodes[0]!, pa!, providerYaml({ cpuPrice: "2000" }), await tempDir(dirs));
    tenant = await Tenant.create(net);
    const d = await createDeployment(net, 1, owner!, sdlText(2_000_000), "5000000");
    let ev: ReturnType<typeof waitEvent> | undefined;
    let watch: ReturnType<typeof watchWorkload> | undefined;
    try {
      // Subscribe before the lease exists so that a fast exhaustion cannot be missed.
      const off = net.nodes[0]!.onCommit((b) => {
        const created = b.events.find((e) =>
          e.type === "lease.created" && e.attrs.lease?.startsWith(`${d.order}/`)
        );
        if (created && !ev) {
          ev = waitEvent(net!.nodes[0]!, "lease.closed", created.attrs.lease!);
          watch = watchWorkload(net!.nodes[0]!, p!.driver, created.attrs.lease!);
        }
      });
      const leaseId = await waitLease(net, 0, d.order);
      off();
      assert.ok(ev && watch, "watching from the lease's block");
      const lease = getLease(net.nodes[0]!.chain.state, leaseId)!;
      assert.equal(lease.price, { denom: "ucrs", amount: "1000000" });
      const res = await tenant.sendManifest(owner!, leaseId, d);
      assert.ok(res.ok, JSON.stringify(res));
      assert.ok((await p.driver.list()).includes(leaseId), "deployed while the escrow lasts");

      const e = await net.run(ev!.done, "lease.closed", 30_000);
      assert.is(e.attrs.reason, "insufficient_funds");
      assert.is(e.height, lease.createdAt + 5 + 1, "closed at the exhaustion block");
      await net.waitHeight(e.height + 1, 20_000, [0]);
      assert.is(await watch!.presentAt(e.height + 1), false, "gone when the next block commits");
      assert.is(await watch!.presentAt(e.height - 1), true, "it ran until the escrow was exhausted");
      assert.is(getLease(net.nodes[0]!.chain.state, leaseId)!.state, "insufficient_funds");
    } finally {
      ev?.cancel();
      watch?.off();
    }
    assert.equal(await p.driver.list(), []);
    assert.equal(p.engine.inventory.free(), p.engine.inventory.capacity);
  } finally {
    await cleanup(net, [p], [tenant], dirs);
  }
});

test("restart: the active lease's lost workload is redeployed from the stored manifest, a stray one removed", async () => {
  let net: TestNet | undefined;
  let p: RunningProvider | undefined;
  let p2: RunningProvider | undefined;
  let tenant: Tenant | undefined;
  const dirs: string[] = [];
  try {
    net = await network(2);
    const [owner, pa] = net.accounts;
    const stateDir = await tempDir(dirs);
    const yaml = providerYaml({ cpuPrice: "2", units: 2 });
    p = await startProvider(net, net.nodes[0]!, pa!, yaml, stateDir);
    tenant = await Tenant.create(net);
    const keep = await createDeployment(net, 1, owner!, sdlText(2_000_000));
    const keepLease = await waitLease(net, 0, keep.order);
    const gone = await createDeployment(net, 1, owner!, sdlText(2_000_000));
    const goneLease = await waitLease(net, 0, gone.order);
    for (const [l, d] of [[keepLease, keep], [goneLease, gone]] as const) {
      const r = await tenant.sendManifest(owner!, l, d);
      assert.ok(r.ok, JSON.stringify(r));
    }
    assert.equal(await p.driver.list(), [keepLease, goneLease].sort());

    // The provider stops; meanwhile the tenant closes one lease and the other's workload disappears.
    await p.service.stop();
    const driver = p.driver;
    const closed = await sendAndWait(net, 1, owner!, "lease.close", { lease: goneLease });
    assert.ok(closed.ok, closed.reason);
    await net.waitHeight(closed.height, 20_000, [0]);
    await driver.teardown(keepLease);
    assert.equal(await driver.list(), [goneLease], "only the stray workload is left");
    const stored = (await driver.status(goneLease)).services.length;
    assert.is(stored, 1);

    // Stopped means stopped: the node no longer serves the provider protocols.
    const req = await tenant.manifestRequest(owner!, keepLease, keep);
    const refused = await tenant.send(pa!.address, MANIFEST_PROTOCOL, req).then(
      () => "answered",
      (e) => String(e),
    );
    assert.match(refused, /not running/);

    // A new service on the same node, state dir and cluster reconciles on start.
    p2 = await startProvider(net, net.nodes[0]!, pa!, yaml, stateDir, { driver, routes: p.routes });
    assert.equal(await driver.list(), [keepLease], "active lease redeployed, stray removed");
    const st = await driver.status(keepLease);
    assert.is(st.services[0]!.image, "localhost/busybox:latest", "from the stored manifest");
    assert.equal(
      [...Deno.readDirSync(join(stateDir, "manifests"))].map((f) => decodeURIComponent(f.name)),
      [`${keepLease}.json`],
      "the stray lease's manifest is dropped",
    );
    assert.equal(p2.engine.tracked().map((t) => [t.orderId, t.state]), [[keep.order, "active"]]);
    assert.is(p2.engine.inventory.free().cpu, 500, "the restored lease counts against capacity");
    assert.equal(parseLeaseId(keepLease)?.provider, pa!.address);

    // The restarted provider serves the tenant.
    const status = await tenant.send(
      pa!.address,
      LEASE_PROTOCOL,
      await tenant.leaseRequest(owner!, keepLease),
    );
    assert.ok(status.ok, JSON.stringify(status));
    assert.is(status.services![0]!.ready, 1);
    // The accepted manifest version survived the restart: an older version is refused as a replay.
    const older = await tenant.send(
      pa!.address,
      MANIFEST_PROTOCOL,
      await tenant.manifestRequest(owner!, keepLease, keep, { version: keep.height - 1 }),
    );
    assert.not.ok(older.ok, "an older manifest version after a restart");
    assert.match(older.error!, /replayed manifest/);
  } finally {
    await cleanup(net, [p, p2], [tenant], dirs);
  }
});

test("a lease that closes while the provider is starting (after its reconcile) still loses its workload", async () => {
  let net: TestNet | undefined;
  let p: RunningProvider | undefined;
  let p2: RunningProvider | undefined;
  let tenant: Tenant | undefined;
  const dirs: string[] = [];
  try {
    net = await network(2);
    const [owner, pa] = net.accounts;
    const stateDir = await tempDir(dirs);
    const yaml = providerYaml({ cpuPrice: "2" });
    p = await startProvider(net, net.nodes[0]!, pa!, yaml, stateDir);
    tenant = await Tenant.create(net);
    const d = await createDeployment(net, 1, owner!, sdlText(2_000_000));
    const leaseId = await waitLease(net, 0, d.order);
    assert.ok((await tenant.sendManifest(owner!, leaseId, d)).ok);
    await p.service.stop();

    // Restart; the lease closes (committed on the provider's node) after the reconcile, while the
    // service is still registering its protocol handlers.
    let closedAt = 0;
    const slowStart = (c: ChainClient): ChainClient => ({
      ...c,
      handle: async (protocol, handler) => {
        if (closedAt === 0) {
          const r = await sendTx(net!, 0, owner!, "lease.close", { lease: leaseId });
          assert.ok(r.ok, r.reason);
          closedAt = r.height;
        }
        return await c.handle(protocol, handler);
      },
    });
    p2 = await startProvider(net, net.nodes[0]!, pa!, yaml, stateDir, {
      driver: p.driver,
      routes: p.routes,
      wrapChain: slowStart,
    });
    assert.ok(closedAt > 0);
    await waitFor(
      net!,
      async () => (await p2!.driver.list()).length === 0,
      "the workload of the closed lease to go",
    );
    assert.is(p2.service.stats.tornDown, 1);
    assert.equal(p2.engine.inventory.free(), p2.engine.inventory.capacity);
  } finally {
    await cleanup(net, [p, p2], [tenant], dirs);
  }
});

test.run();
