/** Marketplace state machine: every transition, driven through executeBlock with real signed txs. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  escrowStatus,
  getDeployment,
  getProvider,
  listBids,
  listDeployments,
  listLeases,
  listOrders,
} from "../../auction/market/mod.ts";
import { totalSupply } from "../../node/ledger/mod.ts";
import {
  BALANCE,
  deploymentBody,
  eventsOf,
  groupsOf,
  HASH2,
  providerBody,
  sdl,
  TestChain,
  twoGroups,
} from "./helpers.ts";

function setup() {
  const c = new TestChain();
  const [alice, bob, p0, p1, p2] = c.keys as [
    typeof c.keys[0],
    typeof c.keys[0],
    typeof c.keys[0],
    typeof c.keys[0],
    typeof c.keys[0],
  ];
  return { c, alice: alice!, bob: bob!, p0: p0!, p1: p1!, p2: p2! };
}

async function withProviders() {
  const s = setup();
  await s.c.add(s.p0, "provider.create", providerBody());
  await s.c.add(s.p1, "provider.create", providerBody());
  await s.c.add(s.p2, "provider.create", providerBody({ region: "eu" }));
  const ex = s.c.block();
  assert.ok(ex.results.every((r) => r.ok), JSON.stringify(ex.results.map((r) => r.reason)));
  return s;
}

test("provider.create and provider.update: stored, queried, events", async () => {
  const { c, p0 } = setup();
  const ex = await c.ok(p0, "provider.create", providerBody({ region: "us-west", tier: "community" }));
  assert.ok(eventsOf(ex).some((e) => e.type === "provider.created" && e.attrs.provider === p0.address));
  const p = getProvider(c.state, p0.address)!;
  assert.equal(p.hostUri, ["/ip4/10.0.0.1/tcp/4001"]);
  assert.equal(p.attributes, [{ key: "region", value: "us-west" }, { key: "tier", value: "community" }]);
  assert.equal(p.info, { email: "ops@example.com" });
  assert.is(p.createdAt, 1);
  await c.ok(p0, "provider.update", {
    hostUri: ["/dns4/p0.example.com/tcp/4001"],
    attributes: [{ key: "region", value: "eu" }, {
      key: "capabilities/gpu/vendor/nvidia/model/h100",
      value: "true",
    }],
  });
  const q = getProvider(c.state, p0.address)!;
  assert.equal(q.hostUri, ["/dns4/p0.example.com/tcp/4001"]);
  assert.is(q.attributes[1]!.key, "capabilities/gpu/vendor/nvidia/model/h100");
  assert.equal(q.info, {});
  assert.is(q.createdAt, 1);
  assert.is(q.updatedAt, 2);
  assert.is(getProvider(c.state, c.keys[7]!.address), null);
});

test("full lifecycle: deployment -> orders -> bids -> window close -> lease -> payments -> close", async () => {
  const { c, alice, p0, p1 } = await withProviders();
  const a0 = c.balance(alice);
  // height 2: deployment; order open until the end of height 4
  const ex2 = await c.ok(
    alice,
    "deployment.create",
    deploymentBody(groupsOf(sdl({ price: "1000", count: 2 }))),
  );
  assert.is(c.balance(alice), a0 - 5_000_000n - 1n);
  const opened = eventsOf(ex2).find((e) => e.type === "order.opened")!;
  assert.equal(
    { order: opened.attrs.order, maxPrice: opened.attrs.maxPrice, closesAt: opened.attrs.closesAt },
    { order: `${alice.address}/2/1/1`, maxPrice: "2000", closesAt: "4" },
  );
  const order = `${alice.address}/2/1/1`;
  assert.equal(listOrders(c.state, { owner: alice.address }).map((o) => [o.id, o.state, o.maxPrice]), [
    [order, "open", { denom: "ucrs", amount: "2000" }],
  ]);
  // height 3: two bids; each provider pays the bid deposit
  const b0 = c.balance(p0);
  await c.add(p0, "bid.create", { order, price: { denom: "ucrs", amount: "900" } });
  await c.add(p1, "bid.create", { order, price: { denom: "ucrs", amount: "800.5" } });
  const ex3 = c.block();
  assert.ok(ex3.results.every((r) => r.ok), JSON.stringify(ex3.results.map((r) => r.reason)));
  assert.is(eventsOf(ex3).filter((e) => e.type === "bid.placed").length, 2);
  assert.is(c.balance(p0), b0 - 500_000n - 1n);
  assert.equal(
    listBids(c.state, { owner: alice.address, state: "open" }).map((b) => b.provider).sort(),
    [
      p0.address,
      p1.address,
    ].sort(),
  );
  // height 4: the window ends; the lowest bid wins at endBlock
  const ex4 = c.block();
  assert.equal(ex4.endEvents.map((e) => e.type), ["bid.lost", "lease.created"]);
  const created = ex4.endEvents[1]!.attrs;
  assert.equal([created.provider, created.price, created.denom], [p1.address, "800.5", "ucrs"]);
  assert.is(c.balance(p0), b0 - 1n, "the lost bid's deposit is refunded");
  const lease = `${order}/${p1.address}`;
  assert.equal(listLeases(c.state, { provider: p1.address }), [{
    id: lease,
    owner: alice.address,
    dseq: 2,
    gseq: 1,
    oseq: 1,
    provider: p1.address,
    price: { denom: "ucrs", amount: "800.5" },
    state: "active",
    createdAt: 4,
    paid: "0",
  }]);
  assert.equal(listOrders(c.state, {}).map((o) => o.state), ["active"]);
  assert.equal(
    listBids(c.state, {}).map((b) => [b.provider, b.state]).sort(),
    [
      [p0.address, "lost"],
      [p1.address, "active"],
    ].sort(),
  );
  // idle blocks write nothing: escrow settles lazily
  const idle = c.block();
  assert.is(idle.writes.size, 0, "an idle block with an active lease writes nothing");
  c.advanceTo(9);
  // the query shows the settled view: 5 blocks x 800.5 = 4002.5 -> 4002 paid
  assert.is(listLeases(c.state)[0]!.paid, "4002");
  const st = escrowStatus(c.state, alice.address, 2)!;
  assert.equal([st.balance, st.transferred, st.ratePerBlock], ["4995998", "4002", "800.5"]);
  // height 10: update + deposit settle the escrow for real
  const p1Before = c.balance(p1);
  await c.add(alice, "deployment.update", { dseq: 2, manifestHash: HASH2 });
  await c.add(alice, "deployment.deposit", { dseq: 2, amount: "1000000" });
  const ex10 = c.block();
  assert.ok(ex10.results.every((r) => r.ok), JSON.stringify(ex10.results.map((r) => r.reason)));
  const pay = eventsOf(ex10).find((e) => e.type === "payment")!;
  assert.equal([pay.attrs.amount, pay.attrs.through], ["4803", "10"]); // floor(6 x 800.5)
  assert.is(c.balance(p1), p1Before + 4803n);
  const d = getDeployment(c.state, alice.address, 2)!;
  assert.is(d.manifestHash, HASH2);
  assert.is(d.escrow!.balance, String(6_000_000 - 4803));
  assert.equal([d.orders.length, d.bids.length, d.leases.length], [1, 2, 1]);
  // height 11: the provider closes the lease: group closed -> deployment closed, escrow refunded
  const aBefore = c.balance(alice);
  const ex11 = await c.ok(p1, "lease.close", { lease });
  const types = eventsOf(ex11).map((e) => e.type);
  for (const t of ["payment", "lease.closed", "bid.closed", "order.closed", "deployment.closed"]) {
    assert.ok(types.includes(t), `${t} in ${types}`);
  }
  assert.is(eventsOf(ex11).find((e) => e.type === "lease.closed")!.attrs.reason, "provider");
  const paidTotal = 5603n; // floor(7 x 800.5)
  assert.is(c.balance(alice), aBefore + 6_000_000n - paidTotal);
  assert.is(c.balance(p1), p1Before + paidTotal + 500_000n - 1n, "payments + bid deposit back - fee");
  const closed = getDeployment(c.state, alice.address, 2)!;
  assert.equal([closed.state, closed.reason, closed.groups[0]!.state], ["closed", "groups_closed", "closed"]);
  assert.equal([closed.leases[0]!.state, closed.leases[0]!.reason, closed.leases[0]!.paid], [
    "closed",
    "provider",
    "5603",
  ]);
  assert.equal(escrowStatus(c.state, alice.address, 2)!.balance, "0");
  assert.is(c.balance(alice), BALANCE - paidTotal - 3n, "tenant lost exactly the payments and 3 fees");
  assert.is(totalSupply(c.state), c.state.supply);
  assert.is(c.state.keys("mkt/idx/").length, 0, "no index entries left");
});

test("an order without bids waits at no cost per block; the next bid opens a new window, then it leases", async () => {
  const { c, alice, p0, p1 } = await withProviders();
  await c.ok(alice, "deployment.create", deploymentBody(groupsOf(sdl())));
  const order = `${alice.address}/2/1/1`;
  c.block(); // 3
  const ex4 = c.block(); // 4: window ends without bids
  assert.equal(ex4.endEvents.map((e) => [e.type, e.attrs.closesAt]), [["order.reopened", "0"]]);
  assert.equal(listOrders(c.state).map((o) => [o.state, o.closesAt]), [["open", 0]]);
  assert.is(c.state.keys("mkt/idx/orderclose/").length, 0, "a waiting order has no window to close");
  for (let i = 0; i < 5; i++) assert.is(c.block().writes.size, 0, "idle blocks write nothing"); // 5..9
  const ex10 = await c.ok(p0, "bid.create", { order, price: { denom: "ucrs", amount: "1000" } }); // 10
  const placed = eventsOf(ex10).find((e) => e.type === "bid.placed")!;
  assert.is(placed.attrs.closesAt, "12", "the first bid starts a window of bidWindowBlocks");
  assert.equal(listOrders(c.state).map((o) => [o.state, o.closesAt]), [["open", 12]]);
  await c.ok(p1, "bid.create", { order, price: { denom: "ucrs", amount: "900" } }); // 11: same window
  const ex12 = c.block(); // 12
  assert.equal(ex12.endEvents.map((e) => e.type), ["bid.lost", "lease.created"]);
  assert.equal(
    listLeases(c.state).map((l) => [l.provider, l.createdAt]),
    [[p1.address, 12]],
    "the cheaper bid wins",
  );
});

test("lease.create lets the tenant pick a bid before the window ends; the others lose", async () => {
  const { c, alice, p0, p1 } = await withProviders();
  await c.ok(alice, "deployment.create", deploymentBody(groupsOf(sdl())));
  const order = `${alice.address}/2/1/1`;
  await c.add(p0, "bid.create", { order, price: { denom: "ucrs", amount: "999" } });
  await c.add(p1, "bid.create", { order, price: { denom: "ucrs", amount: "500" } });
  c.block(); // 3
  const p1Before = c.balance(p1);
  const ex = await c.ok(alice, "lease.create", { bid: `${order}/${p0.address}` }); // 4 (window's last block)
  assert.equal(eventsOf(ex).map((e) => e.type).filter((t) => t !== "fee"), ["bid.lost", "lease.created"]);
  assert.equal(ex.endEvents, [], "the window no longer closes: the order left the index");
  assert.is(c.balance(p1), p1Before + 500_000n);
  assert.equal(listLeases(c.state).map((l) => [l.provider, l.price.amount, l.createdAt]), [[
    p0.address,
    "999",
    4,
  ]]);
  assert.equal(
    listBids(c.state).map((b) => [b.provider, b.state]).sort(),
    [[p0.address, "active"], [
      p1.address,
      "lost",
    ]].sort(),
  );
  c.advanceTo(8);
  assert.is(listLeases(c.state).length, 1);
});

test("tie-breaks: equal prices -> earliest bid height, then lowest provider address", async () => {
  const { c, alice, p0, p1 } = await withProviders();
  const p3 = c.keys[5]!;
  await c.ok(p3, "provider.create", providerBody());
  // dseq 3, window ends at 5; dseq 4 at 6
  await c.ok(alice, "deployment.create", deploymentBody(groupsOf(sdl())));
  const o1 = `${alice.address}/3/1/1`;
  const [late, early] = [p0, p1].sort((a, b) => (a.address < b.address ? -1 : 1)); // late has the lower address
  await c.ok(early!, "bid.create", { order: o1, price: { denom: "ucrs", amount: "700" } }); // 4
  await c.ok(late!, "bid.create", { order: o1, price: { denom: "ucrs", amount: "700" } }); // 5: window ends
  assert.equal(listLeases(c.state).map((l) => l.provider), [early!.address], "the earlier bid wins");

  await c.ok(alice, "deployment.create", deploymentBody(groupsOf(sdl()))); // 6: dseq 6, ends at 8
  const o2 = `${alice.address}/6/1/1`;
  const bidders = [p0, p1, p3].sort((a, b) => (a.address < b.address ? 1 : -1)); // highest address first
  for (const p of bidders) {
    await c.add(p, "bid.create", { order: o2, price: { denom: "ucrs", amount: "650" } });
  }
  c.block(); // 7
  c.block(); // 8
  const lowest = [p0, p1, p3].map((p) => p.address).sort()[0];
  assert.equal(listLeases(c.state, { state: "active" }).filter((l) => l.dseq === 6).map((l) => l.provider), [
    lowest,
  ]);
});

test("bid.close: an open bid is refunded; closing the active bid closes the lease (reason provider)", async () => {
  const { c, alice, p0, p1 } = await withProviders();
  await c.ok(alice, "deployment.create", deploymentBody(twoGroups()));
  const [oa, ob] = [`${alice.address}/2/1/1`, `${alice.address}/2/2/1`];
  await c.add(p0, "bid.create", { order: oa, price: { denom: "ucrs", amount: "900" } });
  await c.add(p1, "bid.create", { order: oa, price: { denom: "ucrs", amount: "950" } });
  c.block(); // 3
  const before = c.balance(p1);
  const ex = await c.ok(p1, "bid.close", { bid: `${oa}/${p1.address}` }); // 4: window ends -> p0 leases
  assert.ok(eventsOf(ex).some((e) => e.type === "bid.closed"));
  assert.is(c.balance(p1), before + 500_000n - 1n);
  assert.equal(
    listBids(c.state).map((b) => [b.provider, b.state]).sort(),
    [[p0.address, "active"], [
      p1.address,
      "closed",
    ]].sort(),
  );
  // group b has no eligible provider (eu); p0 closes its active bid -> lease closed, group a closed
  const ex2 = await c.ok(p0, "bid.close", { bid: `${oa}/${p0.address}` }); // 5
  const closed = eventsOf(ex2).find((e) => e.type === "lease.closed")!;
  assert.equal([closed.attrs.reason, closed.attrs.paid], ["provider", "900"]);
  const d = getDeployment(c.state, alice.address, 2)!;
  assert.equal(d.groups.map((g) => g.state), ["closed", "open"]);
  assert.is(d.state, "active", "the deployment stays active while a group is open");
  assert.equal(d.orders.map((o) => [o.id, o.state]), [[oa, "closed"], [ob, "open"]]);
});

test("lease.close by the tenant closes one group; the last group's close closes the deployment", async () => {
  const { c, alice, p0, p2 } = await withProviders();
  await c.ok(alice, "deployment.create", deploymentBody(twoGroups("1000", "2000")));
  const [oa, ob] = [`${alice.address}/2/1/1`, `${alice.address}/2/2/1`];
  await c.add(p0, "bid.create", { order: oa, price: { denom: "ucrs", amount: "1000" } });
  await c.add(p2, "bid.create", { order: ob, price: { denom: "ucrs", amount: "2000" } });
  c.block(); // 3
  c.block(); // 4: two leases
  assert.is(listLeases(c.state, { owner: alice.address, state: "active" }).length, 2);
  assert.is(escrowStatus(c.state, alice.address, 2)!.ratePerBlock, "3000");
  await c.ok(alice, "lease.close", { lease: `${oa}/${p0.address}` }); // 5
  let d = getDeployment(c.state, alice.address, 2)!;
  assert.equal([d.state, d.groups.map((g) => g.state)], ["active", ["closed", "open"]]);
  assert.equal(d.leases.map((l) => [l.state, l.reason ?? "-", l.paid]), [
    ["closed", "owner", "1000"],
    ["active", "-", "2000"],
  ]);
  const aBefore = c.balance(alice);
  await c.ok(alice, "lease.close", { lease: `${ob}/${p2.address}` }); // 6
  d = getDeployment(c.state, alice.address, 2)!;
  assert.equal([d.state, d.reason], ["closed", "groups_closed"]);
  // 1000 x 1 + 2000 x 2 paid in total
  assert.is(c.balance(alice), aBefore - 1n + 5_000_000n - 5000n);
});

test("deployment.close: closes leases, open orders and bids; refunds escrow and bid deposits", async () => {
  const { c, alice, p0, p2 } = await withProviders();
  await c.ok(alice, "deployment.create", deploymentBody(twoGroups("1000", "2000")));
  const [oa, ob] = [`${alice.address}/2/1/1`, `${alice.address}/2/2/1`];
  await c.add(p0, "bid.create", { order: oa, price: { denom: "ucrs", amount: "600" } });
  c.block(); // 3
  c.block(); // 4: lease a (p0 @600); order b reopens
  await c.add(p2, "bid.create", { order: ob, price: { denom: "ucrs", amount: "1500" } });
  c.block(); // 5: open bid on b (its window ends at 6)
  const [a, b0, b2] = [c.balance(alice), c.balance(p0), c.balance(p2)];
  const ex = await c.ok(alice, "deployment.close", { dseq: 2 }); // 6: before the window's endBlock
  assert.equal(ex.endEvents, []);
  const ev = eventsOf(ex);
  const dc = ev.find((e) => e.type === "deployment.closed")!;
  assert.equal([dc.attrs.reason, dc.attrs.refund], ["owner", String(5_000_000 - 2 * 600)]);
  assert.equal(ev.find((e) => e.type === "lease.closed")!.attrs.reason, "deployment_closed");
  assert.is(c.balance(alice), a - 1n + 5_000_000n - 1200n);
  assert.is(c.balance(p0), b0 + 1200n + 500_000n);
  assert.is(c.balance(p2), b2 + 500_000n);
  const d = getDeployment(c.state, alice.address, 2)!;
  assert.equal([d.state, d.reason, d.closedAt], ["closed", "owner", 6]);
  assert.equal(d.groups.map((g) => g.state), ["closed", "closed"]);
  assert.equal(d.orders.map((o) => o.state), ["closed", "closed"]);
  assert.equal(d.bids.map((b) => b.state), ["closed", "closed"]);
  assert.equal(d.leases.map((l) => [l.state, l.reason]), [["closed", "deployment_closed"]]);
  assert.equal(listDeployments(c.state, { state: "active" }), []);
  assert.equal(listDeployments(c.state, { owner: alice.address }).map((x) => x.id), [`${alice.address}/2`]);
  assert.is(c.state.keys("mkt/idx/").length, 0);
  assert.ok(!c.state.keys("mkt/").some((k) => k.startsWith("mkt/idx/")));
});

test("fractional prices: payments carry the remainder (cumulative floor), never rounding away value", async () => {
  const { c, alice, p0 } = await withProviders();
  await c.ok(alice, "deployment.create", deploymentBody(groupsOf(sdl({ price: "0.3" }))));
  await c.ok(p0, "bid.create", { order: `${alice.address}/2/1/1`, price: { denom: "ucrs", amount: "0.3" } }); // 3
  c.block(); // 4: lease @0.3 per block
  const paid: string[] = [];
  for (let h = 5; h <= 14; h++) {
    c.block();
    paid.push(listLeases(c.state)[0]!.paid);
  }
  assert.equal(paid, ["0", "0", "0", "1", "1", "1", "2", "2", "2", "3"]);
  await c.ok(alice, "deployment.deposit", { dseq: 2, amount: "1" }); // 15: settles floor(11 x 0.3) = 3
  assert.is(getDeployment(c.state, alice.address, 2)!.escrow!.transferred, "3");
  assert.is(c.balance(p0), BALANCE - 2n - 500_000n + 3n, "two fees, the bid deposit held, 3 paid");
});

test.run();
