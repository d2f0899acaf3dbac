/**
 * A node at rest costs nothing (issue 9, part 5), on a real 4-validator network on simulated time:
 * with `createEmptyBlocksIntervalMs`, an idle chain makes no block for the interval (then one empty
 * block), a tx sent to it commits within a second, a deployment with bids gets its lease within two
 * seconds, and blocks keep the normal cadence while a bid window is open or a lease pays, then rest
 * again when it closes.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { sendAndWait, sendTx, type TestAccount, TestNet } from "../helpers/network.ts";
import { parseSdl } from "../../auction/sdl/mod.ts";
import { getLease, groupsForTx } from "../../auction/market/mod.ts";

const INTERVAL_MS = 30_000;

const SDL = `
version: "2.0"
services:
  web:
    image: localhost/busybox:latest
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
      pricing:
        web: { denom: ucrs, amount: 2000000 }
deployment:
  web:
    dc:
      profile: web
      count: 1
`;

async function restingNet(accounts = 2): Promise<TestNet> {
  const net = await TestNet.create({
    validators: 4,
    accounts,
    consensus: { createEmptyBlocksIntervalMs: INTERVAL_MS },
  });
  await net.startAll();
  await net.waitHeight(1, 30_000);
  await net.until(() => allResting(net), "every node resting", 5_000);
  return net;
}

function allResting(net: TestNet): boolean {
  return net.nodes.every((n) => n!.driver.resting);
}

function heights(net: TestNet): number[] {
  return net.nodes.map((n) => n!.chain.height);
}

function laterRounds(net: TestNet): number {
  return net.nodes.reduce((s, n) => s + n!.driver.laterRounds, 0);
}

/** Waits until every node rests again (bounded), then returns the common height. */
async function settle(net: TestNet, label: string): Promise<number> {
  await net.until(
    () => allResting(net) && new Set(heights(net)).size === 1,
    `${label}: every node resting at one height`,
    10_000,
  );
  return net.nodes[0]!.chain.height;
}

test("an idle chain makes no block for the interval, then one empty block, and rests again", async () => {
  const net = await restingNet();
  try {
    const h = await settle(net, "start");
    const rounds = laterRounds(net);
    await net.pass(INTERVAL_MS - 2_000);
    assert.equal(heights(net), [h, h, h, h], "no block while resting");
    assert.ok(allResting(net), "still resting");
    await net.waitHeight(h + 1, 5_000);
    const h2 = await settle(net, "after the empty block");
    assert.is(h2, h + 1, "exactly one empty block per interval");
    const block = await net.nodes[0]!.chain.store.getBlock(h + 1);
    assert.ok(block, "the empty block is stored");
    assert.is(laterRounds(net), rounds, "no timeout cost a round while resting");
  } finally {
    await net.cleanup();
  }
});

test("a tx sent to a resting chain commits within a second, whichever node gets it", async () => {
  const net = await restingNet();
  try {
    const [alice, bob] = net.accounts as [TestAccount, TestAccount];
    const rounds = laterRounds(net);
    for (let i = 0; i < 4; i++) {
      await settle(net, `before tx ${i}`);
      const t0 = net.now();
      const r = await sendAndWait(net, i, alice, "bank.send", {
        to: bob.address,
        amount: "5",
      }, 5_000);
      const ms = net.now() - t0;
      assert.ok(r.ok, r.reason);
      assert.ok(ms <= 1_000, `tx to node${i} committed in ${ms} ms of simulated time`);
    }
    assert.is(laterRounds(net), rounds, "every height decided in round 0");
  } finally {
    await net.cleanup();
  }
});

test("a deployment with bids gets its lease within two seconds; a paying lease keeps blocks coming", async () => {
  const net = await restingNet(3);
  try {
    const [tenant, provider] = net.accounts as [TestAccount, TestAccount, TestAccount];
    const reg = await sendAndWait(net, 1, provider, "provider.create", {
      hostUri: ["/memory/provider-0"],
      attributes: [],
    }, 5_000);
    assert.ok(reg.ok, reg.reason);
    await settle(net, "provider registered");
    const sdl = parseSdl(SDL);
    if (!sdl.ok) throw new Error(sdl.error);
    const t0 = net.now();
    // 10 blocks of escrow at 1,000,000 per block.
    const created = await sendAndWait(net, 0, tenant, "deployment.create", {
      groups: groupsForTx(sdl.groups),
      manifestHash: sdl.manifestHash,
      deposit: { denom: "ucrs", amount: "10000000" },
    }, 5_000);
    assert.ok(created.ok, created.reason);
    const order = created.events.find((e) => e.type === "order.opened")!.attrs.order!;
    // An order without bids schedules nothing: the chain may rest while it waits for one.
    const bid = await net.run(
      sendTx(net, 1, provider, "bid.create", { order, price: { denom: "ucrs", amount: "1000000" } }),
      "bid committed",
      5_000,
    );
    assert.ok(bid.ok, bid.reason);
    const leaseId = `${order}/${provider.address}`;
    await net.until(
      () => net.nodes.every((n) => getLease(n!.chain.state, leaseId)),
      "lease on every node",
      5_000,
    );
    const ms = net.now() - t0;
    assert.ok(ms <= 2_000, `deployment to lease in ${ms} ms of simulated time`);
    // While the lease pays (per block), no node rests: blocks keep the normal cadence until the
    // escrow runs out (10 blocks), then the chain rests again.
    const lease = getLease(net.nodes[0]!.chain.state, leaseId)!;
    const exhaustAt = lease.createdAt + 10 + 1;
    const tLease = net.now();
    await net.waitHeight(exhaustAt, 10_000);
    assert.ok(net.now() - tLease < 5_000, `10 paid blocks came in ${net.now() - tLease} ms, not at rest`);
    const closed = getLease(net.nodes[0]!.chain.state, leaseId)!;
    assert.is(closed.state, "insufficient_funds");
    const h = await settle(net, "after the lease closed");
    await net.pass(INTERVAL_MS / 2);
    assert.equal(heights(net), [h, h, h, h], "at rest again once nothing is scheduled");
  } finally {
    await net.cleanup();
  }
});

test("a tx submitted to a node cut off from the others (its gossip reaches no one) commits once healed", async () => {
  const net = await restingNet();
  try {
    const [alice, bob] = net.accounts as [TestAccount, TestAccount];
    const ids = net.nodes.map((n) => n!.p2p.peerId);
    // node3 alone: its tx goes nowhere (its own height starts, but a quarter of the power decides nothing).
    net.sim!.network.partition([[ids[3]!]]);
    const sent = sendTx(net, 3, alice, "bank.send", { to: bob.address, amount: "7" });
    await net.pass(500);
    assert.is(net.nodes[0]!.mempool.size, 0, "the others never got it");
    net.sim!.network.heal();
    const r = await net.run(sent, "tx committed after the heal", 10_000);
    assert.ok(r.ok, r.reason);
  } finally {
    await net.cleanup();
  }
});

test("interval 0 keeps the old cadence: blocks keep coming with no tx", async () => {
  const net = await TestNet.create({ validators: 4, consensus: { createEmptyBlocksIntervalMs: 0 } });
  try {
    await net.startAll();
    await net.waitHeight(1, 30_000);
    const h = net.nodes[0]!.chain.height;
    // Ten empty blocks in a few seconds (at rest, the interval would allow none).
    await net.waitHeight(h + 10, 5_000);
    assert.not.ok(net.nodes.some((n) => n!.driver.resting), "no node rests");
  } finally {
    await net.cleanup();
  }
});

test.run();
