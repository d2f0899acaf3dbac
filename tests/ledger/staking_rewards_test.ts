/**
 * Rewards: tx fees go to the fee collector and, at the end of the block, to the set that committed
 * it by power; commission to the operator, the rest to delegators by shares; withdrawn by tx; minted
 * inflation is counted in the supply; rounding leaves dust in the pool, never more paid than held.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { FEE_COLLECTOR } from "../../node/ledger/mod.ts";
import { eventsOf, StakingChain, users, val0, val1 } from "./staking_helpers.ts";

const [alice, bob, carol] = [users[0]!, users[1]!, users[2]!];

interface RewardsAnswer {
  rewards: { validator: string; amount: string }[];
  total: string;
  commission: string;
}

const pending = (c: StakingChain, who: string) => BigInt(c.query<RewardsAnswer>("rewards", who).total);
const commission = (c: StakingChain, who: string) =>
  BigInt(c.query<RewardsAnswer>("rewards", who).commission);

test("fees are paid to the committing set by power: commission to the operator, the rest by shares", async () => {
  const c = new StakingChain();
  await c.ok(val0, "staking.edit_validator", { commission: "0.1" });
  await c.ok(bob, "staking.delegate", { validator: val0.address, amount: "10000000" }); // val0: 20, val1: 10
  c.advanceTo(c.height + 2); // the new powers are in effect
  const before = [pending(c, val0.address), pending(c, bob.address), pending(c, val1.address)];
  const comm0 = commission(c, val0.address);
  const ex = await c.ok(carol, "bank.send", { to: alice.address, amount: "1" }, 3000n);
  assert.equal(ex.results[0]!.events[0]!.attrs.to, FEE_COLLECTOR, "the fee goes to the collector");
  assert.is(c.state.account(FEE_COLLECTOR)!.balance, 0n, "emptied into the pool at the end of the block");
  assert.ok(eventsOf(ex).some((e) => e.type === "rewards" && e.attrs.fees === "3000"));
  // val0 gets 3000 x 20/30 = 2000: commission 200, 1800 to 20M shares (half bob's); val1 gets 1000.
  assert.is(commission(c, val0.address) - comm0, 200n);
  assert.is(pending(c, val0.address) - before[0]!, 900n);
  assert.is(pending(c, bob.address) - before[1]!, 900n);
  assert.is(pending(c, val1.address) - before[2]!, 1000n);
  // Withdrawal pays exactly what the query showed (the operator also takes its commission).
  const owed = pending(c, bob.address);
  const balance = c.state.account(bob.address)!.balance;
  await c.ok(bob, "staking.withdraw_rewards", { validators: [val0.address] }, 0n + 1n);
  assert.is(c.state.account(bob.address)!.balance, balance + owed - 1n + 0n);
  const opOwed = pending(c, val0.address) + commission(c, val0.address);
  const opBalance = c.state.account(val0.address)!.balance;
  const ex2 = await c.ok(val0, "staking.withdraw_rewards", { validators: [val0.address] });
  const paid = BigInt(
    ex2.results[0]!.events.find((e) => e.type === "staking.withdraw_rewards")!.attrs.amount!,
  );
  assert.is(paid, opOwed, "delegation rewards and commission");
  assert.is(c.state.account(val0.address)!.balance, opBalance + paid - 1n);
  await c.rejects(
    carol,
    "staking.withdraw_rewards",
    { validators: [val1.address] },
    `${carol.address} has no delegation with ${val1.address}`,
  );
});

test("a delegation's rewards are paid when its shares change, so new shares never earn past rewards", async () => {
  const c = new StakingChain();
  await c.ok(bob, "staking.delegate", { validator: val1.address, amount: "10000000" });
  c.advanceTo(c.height + 2);
  await c.ok(carol, "bank.send", { to: alice.address, amount: "1" }, 4000n);
  const owed = pending(c, bob.address);
  assert.ok(owed > 0n);
  const balance = c.state.account(bob.address)!.balance;
  await c.ok(bob, "staking.delegate", { validator: val1.address, amount: "1000000" }, 1n);
  // The delegate tx paid the pending rewards out (and its own fee's share is new, accrued after).
  assert.is(c.state.account(bob.address)!.balance, balance - 1_000_000n - 1n + owed);
  assert.ok(pending(c, bob.address) < 2n, "only the new block's share of a 1 ucrs fee");
});

test("inflation is minted into the supply each block and paid to the set; payouts never exceed the pool", async () => {
  const c = new StakingChain({ inflationPerBlock: "333" });
  const supply = c.state.supply;
  c.advanceTo(10); // supply checked against balances + held every block by the chain helper
  assert.is(c.state.supply, supply + 333n * 10n);
  const owed = pending(c, val0.address) + pending(c, val1.address);
  // 333 per block to two equal validators: 166 each, 1 carried to the next block; 10 blocks.
  assert.ok(owed <= 3330n && owed >= 3320n, `owed ${owed}`);
  await c.ok(val0, "staking.withdraw_rewards", { validators: [val0.address] });
  await c.ok(val1, "staking.withdraw_rewards", { validators: [val1.address] });
  const pool = c.state.ledger.heldFunds(c.state);
  assert.ok(pool >= 20_000_000n, "bonds and the dust left stay held");
});

test("a slash does not disturb rewards: per-share accrual continues on the smaller stake", async () => {
  const c = new StakingChain();
  await c.ok(bob, "staking.delegate", { validator: val1.address, amount: "10000000" });
  c.signers = [val0.address];
  c.advanceTo(10); // val1 jailed for downtime at height 7
  c.signers = null;
  await c.ok(carol, "bank.send", { to: alice.address, amount: "1" }, 3000n);
  assert.is(c.query<{ jailed: boolean }>("validator", val1.address).jailed, true);
  const owedBob = pending(c, bob.address);
  const balance = c.state.account(bob.address)!.balance;
  await c.ok(bob, "staking.withdraw_rewards", { validators: [val1.address] });
  assert.is(c.state.account(bob.address)!.balance, balance + owedBob - 1n);
});

test.run();
