/** The one genesis builder of local networks (devnet, test networks): valid, ordered, overridable. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { defaultParams, devnetGenesis, validateGenesis } from "../../node/ledger/mod.ts";
import { testKey } from "../helpers/ledger.ts";

const v0 = testKey("v0"), v1 = testKey("v1"), alice = testKey("alice");
const validators = [
  { name: "node0", address: v0.address, pubKey: v0.pubKey },
  { name: "node1", address: v1.address, pubKey: v1.pubKey },
];

test("validators with equal power, accounts in order, then the validators' own accounts when funded", () => {
  const g = devnetGenesis({
    chainId: "cirrus-devnet",
    genesisTime: "2026-01-01T00:00:00.000Z",
    validators,
    accounts: [{ name: "alice", address: alice.address, balance: "5" }],
    validatorBalance: "7",
  });
  assert.equal(g.validators.map((v) => [v.name, v.power]), [["node0", "10"], ["node1", "10"]]);
  assert.equal(g.accounts.map((a) => [a.name, a.balance]), [["alice", "5"], ["node0", "7"], ["node1", "7"]]);
  assert.equal(validateGenesis(JSON.parse(JSON.stringify(g))), g);
});

test("param overrides apply over the defaults; without them the params are the defaults", () => {
  const base = { chainId: "t", genesisTime: "2026-01-01T00:00:00.000Z", validators, accounts: [] };
  assert.equal(devnetGenesis(base).params, defaultParams());
  assert.equal(devnetGenesis(base).accounts, []);
  const g = devnetGenesis({ ...base, consensus: { timeoutCommitMs: 0 }, market: { bidWindowBlocks: 9 } });
  assert.is(g.params.consensus.timeoutCommitMs, 0);
  assert.is(g.params.market.bidWindowBlocks, 9);
  assert.is(g.params.consensus.timeoutProposeMs, defaultParams().consensus.timeoutProposeMs);
});

test.run();
