/**
 * Bad input: each rejection has a clear reason, and the block with the bad tx writes exactly what the
 * block without it writes (nothing changed, nothing lost; no fee, no nonce).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { listBids, listLeases } from "../../auction/market/mod.ts";
import { cirrusLedger, signTx } from "../../node/ledger/mod.ts";
import { buildTx, deploymentBody, groupsOf, HASH2, providerBody, sdl, TestChain } from "./helpers.ts";

const ucrs = (amount: string) => ({ denom: "ucrs", amount });

/** Providers p0, p1 (us-west), p2 (eu); alice's deployment dseq 2 (max price 1000); bob's dseq 2. */
async function market(market = {}) {
  const c = new TestChain({ market });
  const [alice, bob, p0, p1, p2, stranger] = c.keys;
  await c.add(p0!, "provider.create", providerBody());
  await c.add(p1!, "provider.create", providerBody());
  await c.add(p2!, "provider.create", providerBody({ region: "eu" }));
  c.block();
  await c.add(alice!, "deployment.create", deploymentBody(groupsOf(sdl())));
  await c.add(bob!, "deployment.create", deploymentBody(groupsOf(sdl())));
  const ex = c.block();
  assert.ok(ex.results.every((r) => r.ok));
  return {
    c,
    alice: alice!,
    bob: bob!,
    p0: p0!,
    p1: p1!,
    p2: p2!,
    stranger: stranger!,
    order: `${alice!.address}/2/1/1`,
  };
}

test("bid above the order's max price", async () => {
  const { c, p0, order } = await market();
  await c.rejects(
    p0,
    "bid.create",
    { order, price: ucrs("1000.5") },
    "body.price: 1000.5 ucrs exceeds the order's max price 1000 ucrs",
  );
});

test("bid in a denom the chain does not accept", async () => {
  const { c, p0, order } = await market();
  await c.rejects(
    p0,
    "bid.create",
    { order, price: { denom: "uakt", amount: "10" } },
    "body.price: denom uakt is not accepted by this chain (accepted: ucrs)",
  );
});

test("bid in an accepted denom that differs from the order's", async () => {
  const { c, p0, order } = await market({ denoms: ["ucrs", "uusd"] });
  await c.rejects(
    p0,
    "bid.create",
    { order, price: { denom: "uusd", amount: "10" } },
    "body.price: denom uusd differs from the order's denom ucrs",
  );
});

test("bid from an unregistered provider", async () => {
  const { c, stranger, order } = await market();
  await c.rejects(
    stranger,
    "bid.create",
    { order, price: ucrs("10") },
    `provider ${stranger.address} is not registered (send provider.create first)`,
  );
});

test("bid on an unknown order, on an active order and on a closed order", async () => {
  const { c, alice, p0, p1, order } = await market();
  const unknown = `${alice.address}/99/1/1`;
  await c.rejects(p0, "bid.create", { order: unknown, price: ucrs("10") }, `order ${unknown} not found`);
  await c.ok(p0, "bid.create", { order, price: ucrs("10") }); // 3
  c.block(); // 4: leased
  await c.rejects(
    p1,
    "bid.create",
    { order, price: ucrs("10") },
    `order ${order} is not open (state active)`,
  );
  await c.ok(alice, "deployment.close", { dseq: 2 });
  await c.rejects(
    p1,
    "bid.create",
    { order, price: ucrs("10") },
    `order ${order} is not open (state closed)`,
  );
});

test("a second bid from the same provider", async () => {
  const { c, p0, order } = await market();
  await c.ok(p0, "bid.create", { order, price: ucrs("10") });
  await c.rejects(
    p0,
    "bid.create",
    { order, price: ucrs("9") },
    `provider ${p0.address} already bid on order ${order}`,
  );
});

test("more than bidsPerOrderMax bids", async () => {
  const { c, p0, p1, order } = await market({ bidsPerOrderMax: 1 });
  await c.ok(p0, "bid.create", { order, price: ucrs("10") });
  await c.rejects(
    p1,
    "bid.create",
    { order, price: ucrs("9") },
    `order ${order} already has the maximum of 1 bids`,
  );
});

test("provider attributes that do not match the placement (attributes and gpu)", async () => {
  const { c, alice, p0, p1, p2, order } = await market();
  await c.rejects(
    p2,
    "bid.create",
    { order, price: ucrs("10") },
    `provider ${p2.address} does not satisfy the placement of group dc: requires region=us-west (provider has region=eu)`,
  );
  await c.ok(alice, "deployment.create", deploymentBody(groupsOf(sdl({ gpu: "h100" })), "5000000", 100));
  const gpuOrder = `${alice.address}/100/1/1`;
  await c.rejects(
    p0,
    "bid.create",
    { order: gpuOrder, price: ucrs("10") },
    `provider ${p0.address} does not satisfy the placement of group dc: unit 1 needs gpu capabilities/gpu/vendor/nvidia/model/h100=true`,
  );
  await c.ok(
    p0,
    "provider.update",
    providerBody({ region: "us-west", "capabilities/gpu/vendor/nvidia/model/a100": "true" }),
  );
  await c.rejects(p0, "bid.create", { order: gpuOrder, price: ucrs("10") }, /needs gpu .*h100=true/);
  await c.ok(
    p1,
    "provider.update",
    providerBody({ region: "us-west", "capabilities/gpu/vendor/nvidia/model/h100": "true" }),
  );
  await c.ok(p1, "bid.create", { order: gpuOrder, price: ucrs("10") });
});

test("lease.create by someone other than the deployment owner", async () => {
  const { c, alice, bob, p0, order } = await market();
  await c.ok(p0, "bid.create", { order, price: ucrs("10") });
  const bid = `${order}/${p0.address}`;
  await c.rejects(
    bob,
    "lease.create",
    { bid },
    `only the deployment owner ${alice.address} can create a lease for bid ${bid}`,
  );
  await c.rejects(
    p0,
    "lease.create",
    { bid },
    `only the deployment owner ${alice.address} can create a lease for bid ${bid}`,
  );
  await c.rejects(
    alice,
    "lease.create",
    { bid: `${order}/${bob.address}` },
    `bid ${order}/${bob.address} not found`,
  );
});

test("deployment deposit below the minimum, above the balance, or in another denom", async () => {
  const { c, alice } = await market();
  const groups = groupsOf(sdl());
  await c.rejects(
    alice,
    "deployment.create",
    deploymentBody(groups, "4999999"),
    "body.deposit: 4999999 ucrs is below the minimum deposit 5000000 ucrs",
  );
  await c.rejects(
    alice,
    "deployment.create",
    deploymentBody(groups, "10000000000000"),
    /^insufficient funds: /,
  );
  await c.rejects(
    alice,
    "deployment.create",
    { ...deploymentBody(groups), deposit: { denom: "uakt", amount: "5000000" } },
    "body.deposit: denom uakt is not accepted by this chain (accepted: ucrs)",
  );
  await c.rejects(
    alice,
    "deployment.create",
    deploymentBody(groupsOf(sdl({ denom: "uakt" }))),
    "body.groups price: denom uakt is not accepted by this chain (accepted: ucrs)",
  );
  await c.rejects(
    alice,
    "deployment.create",
    deploymentBody(groups, "5000000", 2),
    `deployment ${alice.address}/2 already exists`,
  );
});

test("more groups than groupsPerDeploymentMax", async () => {
  const { c, alice } = await market({ groupsPerDeploymentMax: 1 });
  const g = groupsOf(sdl())[0]!;
  await c.rejects(
    alice,
    "deployment.create",
    deploymentBody([g, { ...g, name: "zz" }]),
    "body.groups: at most 1 groups per deployment, got 2",
  );
});

test("deployment.update with resource changes; update of a closed deployment", async () => {
  const { c, alice } = await market();
  const changed = groupsOf(sdl({ count: 2 }));
  await c.rejects(
    alice,
    "deployment.update",
    { dseq: 2, manifestHash: HASH2, groups: changed },
    /^body\.groups: differ from the deployment's groups; resources, counts, placement and prices cannot change/,
  );
  const cheaper = groupsOf(sdl({ price: "999" }));
  await c.rejects(
    alice,
    "deployment.update",
    { dseq: 2, manifestHash: HASH2, groups: cheaper },
    /^body\.groups: differ/,
  );
  await c.ok(alice, "deployment.update", { dseq: 2, manifestHash: HASH2, groups: groupsOf(sdl()) });
  await c.ok(alice, "deployment.close", { dseq: 2 });
  await c.rejects(
    alice,
    "deployment.update",
    { dseq: 2, manifestHash: HASH2 },
    `deployment ${alice.address}/2 is closed`,
  );
  await c.rejects(
    alice,
    "deployment.deposit",
    { dseq: 2, amount: "5" },
    `deployment ${alice.address}/2 is closed`,
  );
  await c.rejects(alice, "deployment.close", { dseq: 2 }, `deployment ${alice.address}/2 is closed`);
});

test("close of someone else's deployment (and of its lease)", async () => {
  const { c, alice, bob, stranger, p0, order } = await market();
  await c.rejects(
    stranger,
    "deployment.close",
    { dseq: 2 },
    `deployment ${stranger.address}/2 not found (deployments are addressed by the sender's own address)`,
  );
  await c.ok(bob, "deployment.close", { dseq: 2 }); // bob's own dseq 2; alice's is untouched
  assert.is(listBids(c.state).length, 0);
  await c.ok(p0, "bid.create", { order, price: ucrs("10") });
  c.block(); // leased
  const lease = `${order}/${p0.address}`;
  assert.is(listLeases(c.state, { owner: alice.address, state: "active" }).length, 1);
  await c.rejects(
    bob,
    "lease.close",
    { lease },
    `only the deployment owner or the provider can close lease ${lease}`,
  );
  await c.rejects(
    bob,
    "bid.close",
    { bid: lease },
    `only the bid's provider ${p0.address} can close bid ${lease}`,
  );
  await c.ok(alice, "lease.close", { lease });
  await c.rejects(alice, "lease.close", { lease }, `lease ${lease} is not active (state closed)`);
  await c.rejects(p0, "bid.close", { bid: lease }, `bid ${lease} is not open (state closed)`);
});

test("bid deposit below the param, provider create twice, update when unregistered", async () => {
  const { c, p0, stranger, order } = await market();
  await c.rejects(
    p0,
    "bid.create",
    { order, price: ucrs("10"), deposit: ucrs("1") },
    "body.deposit: 1 ucrs is below the bid deposit 500000 ucrs",
  );
  await c.rejects(
    p0,
    "provider.create",
    providerBody(),
    `provider ${p0.address} already exists (use provider.update)`,
  );
  await c.rejects(
    stranger,
    "provider.update",
    providerBody(),
    `provider ${stranger.address} is not registered (use provider.create)`,
  );
});

test("malformed bodies are refused at decode time with the path of the problem", async () => {
  const { alice, p0, order } = await market();
  const reason = async (type: string, body: Record<string, unknown>) => {
    const bytes = await signTx(
      { chainId: "cirrus-test", type, from: p0.address, nonce: 0n, fee: 1n, body },
      p0.seed,
    );
    const r = cirrusLedger().decodeTx(bytes, { maxTxBytes: 1 << 20 });
    return r.ok ? "ok" : r.reason;
  };
  assert.match(
    await reason("bid.create", { order, price: ucrs("1.50") }),
    /^body\.price\.amount: must be a canonical decimal/,
  );
  assert.match(
    await reason("bid.create", { order, price: ucrs("0") }),
    /^body\.price\.amount: must be positive/,
  );
  assert.is(
    await reason("bid.create", { order: "x/1", price: ucrs("1") }),
    "body.order: must be an order id owner/dseq/gseq/oseq",
  );
  assert.is(await reason("bid.create", { order, price: ucrs("1"), extra: 1 }), "body.extra: unknown field");
  assert.is(
    await reason("lease.close", { lease: order }),
    "body.lease: must be a lease id owner/dseq/gseq/oseq/provider",
  );
  const g = groupsOf(sdl())[0]!;
  const big = { ...g, units: [{ ...g.units[0]!, cpu: 10_000_000 }] };
  assert.is(
    await reason("deployment.create", deploymentBody([big])),
    "body.groups[0].units[0].cpu: must be an integer in [10, 384000]",
  );
  const signed = (allOf: string[], anyOf: string[]) => ({
    ...g,
    requirements: { ...g.requirements, signedBy: { allOf, anyOf } },
  });
  assert.is(
    await reason("deployment.create", deploymentBody([signed([], [alice.address, alice.address])])),
    `body.groups[0].requirements.signedBy.anyOf[1]: duplicate auditor ${alice.address}`,
  );
  assert.is(
    await reason("deployment.create", deploymentBody([signed(["not an address"], [])])),
    "body.groups[0].requirements.signedBy.allOf[0]: must be a bech32 address of at most 128 characters (e.g. akash1...)",
  );
  assert.is(
    await reason("deployment.create", deploymentBody([signed(Array(17).fill(alice.address), [])])),
    "body.groups[0].requirements.signedBy.allOf: must be an array of at most 16 auditor addresses",
  );
  const badSum = { ...g, units: [{ ...g.units[0]!, storageBytes: 1 }] };
  assert.match(
    await reason("deployment.create", deploymentBody([badSum])),
    /storageBytes: must equal the sum/,
  );
  assert.is(
    await reason("deployment.create", deploymentBody([g, g])),
    "body.groups[1].name: duplicate group dc",
  );
  assert.match(
    await reason("deployment.create", { ...deploymentBody([g]), manifestHash: "zz" }),
    /manifestHash/,
  );
  assert.is(
    await reason("deployment.deposit", { dseq: 0, amount: "5" }),
    "body.dseq: must be an integer in [1, 9007199254740991]",
  );
  assert.match(
    await reason("provider.create", { hostUri: ["http://x"], attributes: [] }),
    /^body\.hostUri\[0\]: must be a multiaddr/,
  );
  assert.match(
    await reason("provider.create", {
      hostUri: ["/ip4/1.2.3.4/tcp/1"],
      attributes: [{ key: "a", value: "1" }, { key: "a", value: "2" }],
    }),
    /duplicate attribute a/,
  );
  const smallest = await buildTx(p0, "bid.create", { order, price: ucrs("0.000000000000000001") }, 0n);
  assert.is(smallest.tx.type, "bid.create", "the smallest price (10^-18) is valid");
});

test.run();
