/**
 * Every lease closure has a typed reason: a provider may close its lease for `workload_failed` or
 * `manifest_timeout` (the tenant's escrow stops paying at once), nobody else may give those reasons,
 * and queries and `lease.closed` events carry `closeReason` (`tenant_closed`, `provider_closed`,
 * `workload_failed`, `manifest_timeout`, `deployment_closed`, `insufficient_funds`).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { escrowStatus, getDeployment, getLease, leaseCloseReason } from "../../auction/market/mod.ts";
import { deploymentBody, eventsOf, providerBody, TestChain, twoGroups } from "./helpers.ts";

async function leased() {
  const c = new TestChain();
  const [alice, p0, p2] = [c.keys[0]!, c.keys[2]!, c.keys[4]!];
  await c.add(p0, "provider.create", providerBody());
  await c.add(p2, "provider.create", providerBody({ region: "eu" }));
  c.block(); // 1
  await c.ok(alice, "deployment.create", deploymentBody(twoGroups("1000", "2000"))); // 2
  const [oa, ob] = [`${alice.address}/2/1/1`, `${alice.address}/2/2/1`];
  await c.add(p0, "bid.create", { order: oa, price: { denom: "ucrs", amount: "1000" } });
  await c.add(p2, "bid.create", { order: ob, price: { denom: "ucrs", amount: "2000" } });
  c.block(); // 3
  c.block(); // 4: two leases
  return { c, alice, p0, a: `${oa}/${p0.address}`, b: `${ob}/${p2.address}` };
}

test("the provider closes a lease for workload_failed: typed reason in query and event, escrow stops", async () => {
  const { c, alice, p0, a } = await leased();
  assert.is(escrowStatus(c.state, alice.address, 2)!.ratePerBlock, "3000");
  const ex = await c.ok(p0, "lease.close", { lease: a, reason: "workload_failed" });
  const ev = eventsOf(ex).find((e) => e.type === "lease.closed")!;
  assert.equal([ev.attrs.reason, ev.attrs.closeReason], ["workload_failed", "workload_failed"]);
  const l = getLease(c.state, a)!;
  assert.equal([l.state, l.reason, l.closeReason], ["closed", "workload_failed", "workload_failed"]);
  const esc = escrowStatus(c.state, alice.address, 2)!;
  assert.is(esc.ratePerBlock, "2000", "the closed lease is no longer paid");
  const paid = l.paid;
  c.advanceTo(c.height + 5);
  assert.is(getLease(c.state, a)!.paid, paid, "nothing paid after the close");
});

test("manifest_timeout, then the last lease's close: deployment_closed for none, the chain's words", async () => {
  const { c, p0, alice, a, b } = await leased();
  await c.ok(p0, "lease.close", { lease: a, reason: "manifest_timeout" });
  assert.is(getLease(c.state, a)!.closeReason, "manifest_timeout");
  await c.ok(alice, "lease.close", { lease: b });
  assert.is(getLease(c.state, b)!.closeReason, "tenant_closed");
  const d = getDeployment(c.state, alice.address, 2)!;
  assert.equal(d.leases.map((l) => l.closeReason), ["manifest_timeout", "tenant_closed"]);
});

test("only the provider gives a reason, and only a known one", async () => {
  const { c, alice, p0, a } = await leased();
  await c.rejects(
    alice,
    "lease.close",
    { lease: a, reason: "workload_failed" },
    `only the provider can close lease ${a} for workload_failed`,
  );
  // An unknown reason is a malformed body: refused when the tx is decoded, before any block.
  let malformed = "";
  try {
    await c.tx(p0, "lease.close", { lease: a, reason: "bored" });
  } catch (e) {
    malformed = (e as Error).message;
  }
  assert.is(malformed, "lease.close: body.reason: must be one of workload_failed, manifest_timeout");
  // Without a reason a provider's close is still provider_closed.
  const ex = await c.ok(p0, "lease.close", { lease: a });
  assert.is(eventsOf(ex).find((e) => e.type === "lease.closed")!.attrs.closeReason, "provider_closed");
});

test("every stored reason maps to the tenant's vocabulary", () => {
  assert.equal(
    ([
      "owner",
      "provider",
      "deployment_closed",
      "groups_closed",
      "insufficient_funds",
      "workload_failed",
      "manifest_timeout",
    ] as const)
      .map(leaseCloseReason),
    [
      "tenant_closed",
      "provider_closed",
      "deployment_closed",
      "deployment_closed",
      "insufficient_funds",
      "workload_failed",
      "manifest_timeout",
    ],
  );
});

test.run();
