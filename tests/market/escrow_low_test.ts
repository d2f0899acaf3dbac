/**
 * `escrow.low`: a deployment's escrow emits it once when its runway falls to the market's
 * `escrowLowBlocks`, scheduled by height (beginBlock reads one index bucket, never a scan); a deposit
 * that lifts the runway above the mark re-arms it; a change that leaves the escrow already low
 * emits it at once; a closed deployment never emits it; 0 turns it off.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { escrowStatus } from "../../auction/market/mod.ts";
import { lowPlan } from "../../auction/market/escrow.ts";
import { marketKeys } from "../../auction/market/records.ts";
import { deploymentBody, eventsOf, groupsOf, providerBody, sdl, TestChain } from "./helpers.ts";

/** alice deploys at 2 (price 30000/block, deposit 5,000,000: exhausts at 171); leased at 4. */
async function leased(escrowLowBlocks?: number) {
  const c = new TestChain(escrowLowBlocks === undefined ? {} : { market: { escrowLowBlocks } });
  const [alice, p0] = [c.keys[0]!, c.keys[2]!];
  await c.add(p0, "provider.create", providerBody({ region: "us-west" }));
  c.block(); // 1
  await c.ok(alice, "deployment.create", deploymentBody(groupsOf(sdl({ price: "30000" })), "5000000")); // 2
  await c.add(p0, "bid.create", {
    order: `${alice.address}/2/1/1`,
    price: { denom: "ucrs", amount: "30000" },
  });
  c.block(); // 3
  const leaseBlock = c.block(); // 4: the lease
  return { c, alice, leaseBlock };
}

const lowEvents = (c: TestChain, from: number, to: number) =>
  c.advanceTo(to).flatMap((ex, i) =>
    ex.beginEvents.filter((e) => e.type === "escrow.low").map((e) => ({ height: from + i, attrs: e.attrs }))
  );

test("emitted once, at exhaustAt - escrowLowBlocks, from the height index", async () => {
  const { c, alice } = await leased(50);
  const E = escrowStatus(c.state, alice.address, 2)!.exhaustAt!; // 171
  assert.is(E, 171);
  assert.ok(c.state.get(marketKeys.escrowLow(E - 50)) !== undefined, "indexed at its height");
  const seen = lowEvents(c, c.height + 1, E - 1);
  assert.equal(seen, [{
    height: E - 50,
    attrs: {
      deployment: `${alice.address}/2`,
      owner: alice.address,
      dseq: "2",
      blocksLeft: "50",
      exhaustAt: String(E),
      threshold: "50",
    },
  }]);
  assert.is(c.state.get(marketKeys.escrowLow(E - 50)), undefined, "the bucket is gone");
});

test("a deposit that lifts the runway re-arms it: a second crossing, a second event", async () => {
  const { c, alice } = await leased(50);
  assert.is(lowEvents(c, c.height + 1, 125).length, 1); // crossed at 121
  // 3,000,000 more: 100 more blocks of runway, above the mark again
  await c.ok(alice, "deployment.deposit", { dseq: 2, amount: "3000000" });
  const E2 = escrowStatus(c.state, alice.address, 2)!.exhaustAt!;
  assert.is(E2, 271);
  const again = lowEvents(c, c.height + 1, E2 - 1);
  assert.equal(again.map((e) => [e.height, e.attrs.blocksLeft]), [[E2 - 50, "50"]]);
});

test("a small top-up that stays under the mark emits nothing new; a closed deployment never emits", async () => {
  const { c, alice } = await leased(50);
  assert.is(lowEvents(c, c.height + 1, 130).length, 1);
  const ex = await c.ok(alice, "deployment.deposit", { dseq: 2, amount: "60000" }); // +2 blocks: still low
  assert.equal(eventsOf(ex).filter((e) => e.type === "escrow.low"), []);
  assert.equal(lowEvents(c, c.height + 1, 150), []);

  const other = await leased(50);
  await other.c.ok(other.alice, "deployment.close", { dseq: 2 });
  assert.is(other.c.state.get(marketKeys.escrowLow(121)), undefined, "unindexed at the close");
  assert.equal(lowEvents(other.c, other.c.height + 1, 130), []);
});

test("already under the mark when leased: emitted at once; 0 turns the event off", async () => {
  const { c, leaseBlock } = await leased(500); // runway 167 < 500 at the lease
  // the lease (endBlock of 4) left the escrow low: the event came with it, and never again
  assert.equal(
    eventsOf(leaseBlock).filter((e) => e.type === "escrow.low").map((e) => e.attrs.blocksLeft),
    ["167"],
  );
  assert.equal(lowEvents(c, c.height + 1, 170), []);
  const off = await leased(0);
  assert.equal(lowEvents(off.c, off.c.height + 1, 170), []);
  assert.equal(lowPlan(500, 171, 4, false), { lowAt: null, low: true, emitNow: true });
  assert.equal(lowPlan(500, 171, 5, true), { lowAt: null, low: true, emitNow: false });
  assert.equal(lowPlan(50, 171, 4, false), { lowAt: 121, low: false, emitNow: false });
  assert.equal(lowPlan(50, null, 4, true), { lowAt: null, low: false, emitNow: false });
  assert.equal(lowPlan(undefined, 171, 4, false), { lowAt: null, low: false, emitNow: false });
});

test.run();
