/** Escrow: lazy settlement, exhaustion at the exact predicted height, deposits, fractional prices. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { escrowStatus, getDeployment, listLeases, PRICE_SCALE } from "../../auction/market/mod.ts";
import { checkTx } from "../../node/ledger/mod.ts";
import { deploymentBody, groupsOf, providerBody, sdl, TestChain, twoGroups } from "./helpers.ts";

/** alice deploys (height 2, dseq 2) groups; p0 (us-west) / p1 (eu) bid `prices` at 3; leases at 4. */
async function leased(groups = groupsOf(sdl({ price: "30000" })), prices = ["30000"], deposit = "5000000") {
  const c = new TestChain();
  const [alice, p0, p1] = [c.keys[0]!, c.keys[2]!, c.keys[3]!];
  await c.add(p0, "provider.create", providerBody({ region: "us-west" }));
  await c.add(p1, "provider.create", providerBody({ region: "eu" }));
  c.block();
  await c.ok(alice, "deployment.create", deploymentBody(groups, deposit));
  for (let i = 0; i < prices.length; i++) {
    await c.add([p0, p1][i]!, "bid.create", {
      order: `${alice.address}/2/${i + 1}/1`,
      price: { denom: "ucrs", amount: prices[i]! },
    });
  }
  c.block(); // 3
  const ex = c.block(); // 4
  assert.is(ex.endEvents.filter((e) => e.type === "lease.created").length, prices.length);
  return { c, alice, p0, p1 };
}

test("exhaustion closes the lease at exactly created + floor(deposit / price) + 1; provider paid exactly", async () => {
  const { c, alice, p0 } = await leased();
  const [D, P, created] = [5_000_000n, 30_000n, 4];
  const E = created + Number(D / P) + 1; // 171
  const st = escrowStatus(c.state, alice.address, 2)!;
  assert.equal([st.exhaustAt, st.blocksRemaining, st.ratePerBlock], [E, Number(D / P), "30000"]);
  const [a0, p0Before] = [c.balance(alice), c.balance(p0)];
  while (c.height < E - 1) {
    const ex = c.block();
    assert.is(ex.writes.size, 0, `idle block ${c.height} writes nothing (lazy settlement)`);
  }
  assert.is(listLeases(c.state)[0]!.state, "active");
  assert.is(listLeases(c.state)[0]!.paid, String((D / P) * P));
  assert.equal(escrowStatus(c.state, alice.address, 2)!.blocksRemaining, 0);
  // a dry run at height E sees the exhaustion too (the mempool skips the block steps)
  const dry = checkTx(c.state, await c.tx(alice, "deployment.deposit", { dseq: 2, amount: "1000" }));
  assert.equal(dry, { ok: false, reason: `deployment ${alice.address}/2 is closed` });
  const exE = c.block(); // height E
  assert.is(c.height, E);
  assert.equal(exE.beginEvents.map((e) => e.type), [
    "payment",
    "bid.closed",
    "order.closed",
    "lease.closed",
    "deployment.closed",
  ]);
  const closed = exE.beginEvents.find((e) => e.type === "lease.closed")!.attrs;
  assert.equal([closed.reason, closed.state, closed.paid], [
    "insufficient_funds",
    "insufficient_funds",
    "4980000",
  ]);
  assert.is(exE.beginEvents[0]!.attrs.amount, "4980000");
  assert.is(
    c.balance(p0),
    p0Before + (D / P) * P + 500_000n,
    "paid exactly floor(D/P) blocks + bid deposit back",
  );
  assert.is(c.balance(alice), a0 + D % P, "the remainder (less than a block) goes back to the tenant");
  const d = getDeployment(c.state, alice.address, 2)!;
  assert.equal([d.state, d.reason, d.closedAt, d.groups[0]!.state], [
    "closed",
    "insufficient_funds",
    E,
    "insufficient_funds",
  ]);
  assert.equal([d.leases[0]!.state, d.leases[0]!.closedAt], ["insufficient_funds", E]);
  assert.equal(d.escrow!.balance, "0");
  assert.is(c.state.keys("mkt/idx/").length, 0);
});

test("a deposit moves the exhaustion height; the query predicts it", async () => {
  const { c, alice, p0 } = await leased(groupsOf(sdl({ price: "1000000" })), ["1000000"]);
  assert.is(escrowStatus(c.state, alice.address, 2)!.exhaustAt, 4 + 5 + 1);
  c.advanceTo(6);
  await c.ok(alice, "deployment.deposit", { dseq: 2, amount: "2500000" }); // 7: 3 blocks paid, 4.5M left
  const st = escrowStatus(c.state, alice.address, 2)!;
  assert.equal([st.balance, st.transferred, st.exhaustAt, st.blocksRemaining], ["4500000", "3000000", 12, 4]);
  const p0Before = c.balance(p0);
  c.advanceTo(11);
  assert.is(listLeases(c.state)[0]!.state, "active");
  c.block(); // 12
  assert.is(listLeases(c.state)[0]!.state, "insufficient_funds");
  assert.is(c.balance(p0), p0Before + 4_000_000n + 500_000n);
  assert.is(getDeployment(c.state, alice.address, 2)!.escrow!.refunded, "500000");
});

test("two leases with fractional prices share an escrow: closes at the brute-force predicted height", async () => {
  const prices = ["12345.6", "7890.123456789"];
  const { c, alice, p0, p1 } = await leased(twoGroups("20000", "20000"), prices);
  const scaled = prices.map((p) => {
    const [i, f = ""] = p.split(".");
    return BigInt(i!) * PRICE_SCALE + BigInt(f.padEnd(18, "0"));
  });
  const owed = (h: number) => scaled.reduce((s, p) => s + (p * BigInt(h - 4)) / PRICE_SCALE, 0n);
  let E = 5;
  while (owed(E) <= 5_000_000n) E++;
  assert.is(escrowStatus(c.state, alice.address, 2)!.exhaustAt, E);
  const [b0, b1] = [c.balance(p0), c.balance(p1)];
  c.advanceTo(E - 1);
  assert.equal(listLeases(c.state).map((l) => l.state), ["active", "active"]);
  c.block();
  assert.equal(listLeases(c.state).map((l) => l.state), ["insufficient_funds", "insufficient_funds"]);
  const paid = scaled.map((p) => (p * BigInt(E - 1 - 4)) / PRICE_SCALE);
  assert.is(c.balance(p0), b0 + paid[0]! + 500_000n);
  assert.is(c.balance(p1), b1 + paid[1]! + 500_000n);
  const esc = getDeployment(c.state, alice.address, 2)!.escrow!;
  assert.is(BigInt(esc.transferred) + BigInt(esc.refunded), 5_000_000n);
});

test("a lease whose escrow cannot pay one block closes in the very next block", async () => {
  const { c, alice } = await leased(groupsOf(sdl({ price: "6000000" })), ["6000000"]);
  assert.is(escrowStatus(c.state, alice.address, 2)!.exhaustAt, 5);
  const ex = c.block(); // 5
  assert.ok(ex.beginEvents.some((e) => e.type === "lease.closed" && e.attrs.reason === "insufficient_funds"));
  assert.is(getDeployment(c.state, alice.address, 2)!.escrow!.refunded, "5000000");
});

test.run();
