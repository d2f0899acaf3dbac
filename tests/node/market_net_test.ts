/**
 * The marketplace on a real 4-validator network (in-process nodes, simulated network and time): two
 * providers bid at different prices; every node ends with the same lease to the cheaper one, the same escrow
 * and balances; the escrow runs out at exactly the predicted block.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { sendAndWait, sendTx, TestNet } from "../helpers/network.ts";
import { parseSdl } from "../../auction/sdl/mod.ts";
import { escrowStatus, getLease, groupsForTx, listLeases } from "../../auction/market/mod.ts";

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
      attributes:
        region: us-west
      pricing:
        web: { denom: ucrs, amount: 2000000 }
deployment:
  web:
    dc:
      profile: web
      count: 1
`;

test("two providers bid; every node leases to the cheaper one and closes it when escrow runs out", async () => {
  // A 6-block window: the two bids, sent together to two nodes, surely land in the same window.
  const net = await TestNet.create({ validators: 4, accounts: 4, market: { bidWindowBlocks: 6 } });
  try {
    await net.startAll();
    await net.waitHeight(1, 30_000);
    const [tenant, p1, p2] = net.accounts;
    for (const [i, p] of [p1!, p2!].entries()) {
      const r = await sendAndWait(net, i, p, "provider.create", {
        hostUri: [`/memory/provider-${i}`],
        attributes: [{ key: "region", value: "us-west" }],
      });
      assert.ok(r.ok, r.reason);
    }
    const sdl = parseSdl(SDL);
    if (!sdl.ok) throw new Error(sdl.error);
    // Deposit 5,000,000 and a winning price of 1,000,000/block: the escrow pays exactly 5 blocks.
    const created = await sendAndWait(net, 0, tenant!, "deployment.create", {
      groups: groupsForTx(sdl.groups),
      manifestHash: sdl.manifestHash,
      deposit: { denom: "ucrs", amount: "5000000" },
    });
    assert.ok(created.ok, created.reason);
    const order = created.events.find((e) => e.type === "order.opened")!.attrs.order!;
    // Bids go to nodes 1 and 2: let them commit the deployment's block first.
    await net.waitHeight(created.height, 30_000);
    const before = net.nodes.map((n) => [p1, p2].map((p) => n!.chain.state.account(p!.address)!.balance));
    // Both bids go in together (same window), to different nodes.
    const [b1, b2] = await net.run(
      Promise.all([
        sendTx(net, 1, p1!, "bid.create", { order, price: { denom: "ucrs", amount: "1500000" } }),
        sendTx(net, 2, p2!, "bid.create", { order, price: { denom: "ucrs", amount: "1000000" } }),
      ]),
      "both bids committed",
      30_000,
    );
    assert.ok(b1!.ok && b2!.ok, `${b1!.reason} ${b2!.reason}`);
    const leaseId = `${order}/${p2!.address}`;
    // The lease exists within bidWindowBlocks + 1 blocks of the later bid.
    const window = net.genesis.params.market!.bidWindowBlocks;
    await net.waitHeight(Math.max(b1!.height, b2!.height) + window + 1, 30_000);
    const leases = net.nodes.map((n) => getLease(n!.chain.state, leaseId));
    for (const l of leases) {
      assert.ok(l, "every node has the lease");
      assert.is(l!.provider, p2!.address, "the cheaper provider won");
      assert.equal(l!.price, { denom: "ucrs", amount: "1000000" });
    }
    const created0 = leases[0]!.createdAt;
    assert.ok(created0 <= Math.max(b1!.height, b2!.height) + window + 1);
    for (const n of net.nodes) {
      assert.equal(
        listLeases(n!.chain.state, {}).map((l) => l.id),
        [leaseId],
        "one lease, the same everywhere",
      );
    }
    // Exhaustion: deposit / price = 5 blocks paid, closed at created + 5 + 1.
    const exhaustAt = created0 + 5 + 1;
    await net.waitHeight(exhaustAt + 1, 60_000);
    const h = Math.min(...net.nodes.map((n) => n!.chain.height));
    for (const [i, n] of net.nodes.entries()) {
      const l = getLease(n!.chain.state, leaseId, h)!;
      assert.is(l.state, "insufficient_funds", `node${i}: lease closed for lack of funds`);
      assert.is(l.closedAt, exhaustAt, `node${i}: closed at exactly the predicted block`);
      const p2Now = n!.chain.state.account(p2!.address)!.balance;
      const p1Now = n!.chain.state.account(p1!.address)!.balance;
      // p2 paid 5 x 1,000,000 and got its bid deposit back (bid fees: 1 ucrs each tx).
      assert.is(p2Now - before[i]![1]!, 5_000_000n - 1n, `node${i}: provider2 was paid exactly 5 blocks`);
      assert.is(p1Now - before[i]![0]!, -1n, `node${i}: provider1's losing bid deposit came back`);
      const esc = escrowStatus(n!.chain.state, tenant!.address, Number(order.split("/")[1]), h)!;
      assert.is(esc.balance, "0", `node${i}: escrow empty, never negative`);
    }
    const appHashes = new Set(net.nodes.map((n) => n!.chain.height === h ? n!.chain.state.appHash : "skip"));
    appHashes.delete("skip");
    assert.is(appHashes.size, 1, "same app hash on every node at the same height");
  } finally {
    await net.cleanup();
  }
});

test.run();
