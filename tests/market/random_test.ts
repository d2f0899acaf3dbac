/**
 * A long random sequence of marketplace txs (valid and invalid) over hundreds of blocks: supply is
 * conserved after every block (escrow and deposits included), no escrow goes negative, every active
 * lease has exactly one active order and bid, and a second state fed the same blocks agrees on every
 * app hash.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  type BidRecord,
  type EscrowRecord,
  listBids,
  listDeployments,
  listLeases,
  listOrders,
  type OrderRecord,
  readRecord,
} from "../../auction/market/mod.ts";
import { LedgerState, type SignedTx, totalSupply } from "../../node/ledger/mod.ts";
import { groupsOf, HASH1, HASH2, providerBody, replay, sdl, TestChain } from "./helpers.ts";

function prng(seed: number) {
  let x = seed;
  return (n: number) => {
    x = (x + 0x6d2b79f5) | 0;
    let t = Math.imul(x ^ (x >>> 15), 1 | x);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
}

const REGIONS = ["us-west", "eu", "asia"];

function checkInvariants(s: LedgerState) {
  assert.is(totalSupply(s), s.supply, `supply at ${s.height}`);
  for (const k of s.keys("mkt/escrow/")) {
    const e = readRecord<EscrowRecord>(s, k)!;
    assert.ok(BigInt(e.balance) >= 0n, `escrow ${k} negative`);
    if (e.state === "open") {
      assert.ok(e.exhaustAt === null || e.exhaustAt > s.height, `overdue exhaustion ${k}`);
    }
  }
  for (const l of listLeases(s, { state: "active" })) {
    const o = readRecord<OrderRecord>(s, `mkt/order/${l.owner}/${l.dseq}/${l.gseq}/${l.oseq}`)!;
    assert.is(o.state, "active", `order of active lease ${l.id}`);
    const active = o.bids.filter((p) =>
      readRecord<BidRecord>(s, `mkt/bid/${l.owner}/${l.dseq}/${l.gseq}/${l.oseq}/${p}`)!.state === "active"
    );
    assert.equal(active, [l.provider], `one active bid for ${l.id}`);
  }
  for (const o of listOrders(s, { state: "open" })) {
    if (o.closesAt === 0) {
      // Waiting for a bid: no window, no index entry, and no open bid (a bid would have started one).
      const bids = listBids(s, { owner: o.owner }).filter((b) =>
        b.id.startsWith(`${o.id}/`) && b.state === "open"
      );
      assert.equal(bids, [], `waiting order ${o.id} has no open bid`);
      continue;
    }
    assert.ok(o.closesAt >= s.height + 1, `open order ${o.id} is in a future window`);
    const idx = readRecord<string[]>(s, `mkt/idx/orderclose/${o.closesAt}`) ?? [];
    assert.ok(idx.includes(o.id), `open order ${o.id} is indexed`);
  }
}

test("supply conserved and state consistent over 300 blocks of random marketplace txs; deterministic", async () => {
  const c = new TestChain({ accounts: 9 });
  const rnd = prng(7);
  const tenants = c.keys.slice(0, 3);
  const providers = c.keys.slice(3, 9);
  for (const [i, p] of providers.entries()) {
    await c.add(p, "provider.create", providerBody({ region: REGIONS[i % 3]! }));
  }
  c.block();
  let sent = 0, ok = 0;
  const outcomes = new Map<string, [number, number]>();
  for (let b = 0; b < 300; b++) {
    const txs: SignedTx[] = [];
    const h = c.height + 1;
    const openOrders = listOrders(c.state, { state: "open" });
    const deployments = listDeployments(c.state);
    const bids = listBids(c.state, { state: "open" });
    const leases = listLeases(c.state, { state: "active" });
    const pick = <T>(xs: T[]): T | undefined => (xs.length ? xs[rnd(xs.length)] : undefined);
    for (const t of tenants) {
      const mine = deployments.filter((d) => d.owner === t.address);
      const r = rnd(100);
      let type: string, body: Record<string, unknown>;
      if (r < 30 || mine.length === 0) {
        const price = rnd(4) === 0
          ? `${1 + rnd(50000)}.${1 + rnd(9)}`
          : String(1000 + rnd(rnd(2) ? 100_000 : 600_000));
        const groups = groupsOf(sdl({ price, region: REGIONS[rnd(3)]!, count: 1 + rnd(2) }));
        if (rnd(3) === 0) {
          groups.push({ ...groupsOf(sdl({ price, region: REGIONS[rnd(3)]! }))[0]!, name: "second" });
        }
        const deposit = rnd(10) === 0 ? "4000000" : String(5_000_000 + rnd(3_000_000));
        type = "deployment.create";
        body = {
          groups,
          manifestHash: HASH1,
          deposit: { denom: "ucrs", amount: deposit },
          dseq: h * 10 + rnd(3),
        };
      } else if (r < 45) {
        type = "deployment.deposit";
        body = { dseq: pick(mine)!.dseq, amount: String(1 + rnd(2_000_000)) };
      } else if (r < 55) {
        type = "deployment.close";
        body = { dseq: pick(mine)!.dseq };
      } else if (r < 75) {
        const bid = rnd(5) === 0 ? pick(bids) : pick(bids.filter((x) => x.owner === t.address));
        if (!bid) continue;
        type = "lease.create";
        body = { bid: bid.id };
      } else if (r < 85) {
        const l = rnd(5) === 0 ? pick(leases) : pick(leases.filter((x) => x.owner === t.address));
        if (!l) continue;
        type = "lease.close";
        body = { lease: l.id };
      } else {
        const d = pick(mine)!;
        type = "deployment.update";
        body = rnd(2)
          ? { dseq: d.dseq, manifestHash: HASH2 }
          : { dseq: d.dseq, manifestHash: HASH2, groups: groupsOf(sdl()) };
      }
      txs.push(await c.tx(t, type, body));
    }
    for (const p of providers) {
      const r = rnd(100);
      let type: string, body: Record<string, unknown>;
      if (r < 65) {
        const o = pick(openOrders);
        if (!o) continue;
        const max = Number(o.maxPrice.amount);
        const amount = rnd(8) === 0
          ? String(Math.floor(max * 1.5) + 1)
          : String(Math.max(1, Math.floor(max * (0.3 + rnd(70) / 100))));
        type = "bid.create";
        body = { order: o.id, price: { denom: rnd(20) === 0 ? "uakt" : "ucrs", amount } };
      } else if (r < 75) {
        const bid = pick(bids.filter((x) => x.provider === p.address)) ?? pick(bids);
        if (!bid) continue;
        type = "bid.close";
        body = { bid: bid.id };
      } else if (r < 90) {
        const l = pick(leases.filter((x) => x.provider === p.address)) ?? pick(leases);
        if (!l) continue;
        type = "lease.close";
        body = { lease: l.id };
      } else {
        type = "provider.update";
        body = providerBody({ region: REGIONS[rnd(3)]! });
      }
      txs.push(await c.tx(p, type, body));
    }
    const ex = c.block(txs);
    for (const [i, res] of ex.results.entries()) {
      const type = txs[i]!.tx.type;
      const o = outcomes.get(type) ?? [0, 0];
      o[res.ok ? 0 : 1]++;
      outcomes.set(type, o);
      sent++;
      if (res.ok) ok++;
    }
    checkInvariants(c.state);
  }
  assert.ok(sent >= 2000, `${sent} txs`);
  assert.ok(c.height >= 300);
  const summary = Object.fromEntries(outcomes);
  for (
    const t of [
      "deployment.create",
      "bid.create",
      "lease.create",
      "lease.close",
      "deployment.close",
      "bid.close",
    ]
  ) {
    const [good, bad] = summary[t] ?? [0, 0];
    assert.ok(good > 0 && bad > 0, `${t}: ${good} ok, ${bad} rejected`);
  }
  const closedBy = new Set<string>(listLeases(c.state).map((l) => l.reason ?? "active"));
  for (const r of ["insufficient_funds", "owner", "provider", "deployment_closed"]) {
    assert.ok(closedBy.has(r), `some lease ended by ${r}: ${[...closedBy]}`);
  }
  assert.ok(ok > sent / 4, `${ok}/${sent} succeeded`);
  console.log(`  ${sent} txs (${ok} ok) in ${c.height} blocks: ${JSON.stringify(summary)}`);

  // determinism: a second state fed the same blocks produces the same app hash after every block
  const hashes: string[] = [];
  const s1 = LedgerState.fromGenesis(c.genesis, c.state.ledger);
  for (const txs of c.history) hashes.push(replay(s1, [txs], c.validator.address)[0]!);
  const s2 = LedgerState.fromGenesis(c.genesis, c.state.ledger);
  assert.equal(replay(s2, c.history, c.validator.address), hashes);
  assert.is(s2.appHash, c.state.appHash);
  assert.equal(s2.entries("mkt/"), c.state.entries("mkt/"));
});

test.run();
