/** Marketplace params in genesis: defaults, validation, and their effect on the chain. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { defaultMarketParams, listOrders } from "../../auction/market/mod.ts";
import { defaultParams, GenesisError, validateGenesis } from "../../node/ledger/mod.ts";
import { testGenesis } from "../helpers/ledger.ts";
import { deploymentBody, groupsOf, providerBody, sdl, TestChain } from "./helpers.ts";

test("defaults: denoms [ucrs], window 2, 20 bids per order, min deposit 5 CRS, bid deposit 0.5 CRS, escrow.low at 600 blocks", () => {
  assert.equal(defaultParams().market, {
    denoms: ["ucrs"],
    bidWindowBlocks: 2,
    bidsPerOrderMax: 20,
    minDeposit: "5000000",
    bidDeposit: "500000",
    groupsPerDeploymentMax: 20,
    escrowLowBlocks: 600,
  });
  assert.equal(defaultMarketParams(), defaultParams().market);
});

test("validateGenesis fills and checks params.market", () => {
  const json = JSON.parse(JSON.stringify(testGenesis(1).genesis));
  delete json.params.market;
  assert.equal(validateGenesis(json).params.market, defaultMarketParams());
  json.params.market = { bidWindowBlocks: 5, denoms: ["ucrs", "uusd"] };
  const p = validateGenesis(json).params.market;
  assert.equal([p.bidWindowBlocks, p.denoms, p.minDeposit], [5, ["ucrs", "uusd"], "5000000"]);
  const bad: [unknown, RegExp][] = [
    [{ bidWindowBlocks: 0 }, /params\.market\.bidWindowBlocks: must be an integer in \[1, 100000\]/],
    [{ denoms: [] }, /params\.market\.denoms: must be a non-empty array/],
    [{ denoms: ["uusd"] }, /params\.market\.denoms: must include the base denom ucrs/],
    [{ minDeposit: "-1" }, /params\.market\.minDeposit: must be a non-negative integer string/],
    [{ groupsPerDeploymentMax: 21 }, /groupsPerDeploymentMax: must be an integer in \[1, 20\]/],
    [{ surprise: 1 }, /params\.market\.surprise: unknown field/],
  ];
  for (const [market, re] of bad) {
    json.params.market = market;
    assert.throws(
      () => validateGenesis(json),
      (e: unknown) => e instanceof GenesisError && re.test(e.message),
    );
  }
});

test("the chain uses its genesis params: a 4-block bid window", async () => {
  const c = new TestChain({ market: { bidWindowBlocks: 4 } });
  await c.ok(c.keys[0]!, "deployment.create", deploymentBody(groupsOf(sdl())));
  assert.equal(listOrders(c.state).map((o) => o.closesAt), [5]);
  c.advanceTo(5);
  assert.equal(listOrders(c.state).map((o) => o.closesAt), [0], "no bids: the order waits");
  const order = listOrders(c.state)[0]!.id;
  await c.ok(c.keys[1]!, "provider.create", providerBody());
  await c.ok(c.keys[1]!, "bid.create", { order, price: { denom: "ucrs", amount: "1" } });
  const h = c.state.height;
  assert.equal(listOrders(c.state).map((o) => o.closesAt), [h + 4], "a bid opens a 4-block window");
});

test.run();
