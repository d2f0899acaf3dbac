/**
 * The simulator's market checks on hand-made blocks: a lease that did not go to the lowest open bid,
 * a lease above the max price and a negative escrow are each reported; a right outcome is not; each
 * block is read once, whichever node commits it first; utilisation follows leases opened and closed.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { CirrusNode } from "../../node/node.ts";
import type { CommittedBlock } from "../../node/chain.ts";
import { canonicalEncode } from "../../lib/cbor.ts";
import { MarketObserver } from "../../cli/sim_market_observer.ts";
import { testKey } from "../helpers/ledger.ts";

type Event = { type: string; attrs: Record<string, string> };

/** A node that only commits the blocks it is given, over a state of the given records. */
function fakeNode(records: Record<string, object> = {}) {
  const subs: ((b: CommittedBlock) => void)[] = [];
  const state = {
    keys: (prefix: string) => Object.keys(records).filter((k) => k.startsWith(prefix)).sort(),
    get: (k: string) => (records[k] ? canonicalEncode(records[k]) : undefined),
    height: 0,
  };
  const node = {
    onCommit: (fn: (b: CommittedBlock) => void) => {
      subs.push(fn);
      return () => subs.splice(subs.indexOf(fn), 1);
    },
    chain: { state },
  };
  return {
    node: node as unknown as CirrusNode,
    commit(height: number, events: Event[]) {
      state.height = height;
      const b = { height, hash: "", time: 0, proposer: "", txs: [], appHash: "", events } as CommittedBlock;
      for (const fn of [...subs]) fn(b);
    },
  };
}

const TENANT = testKey("tenant").address, PA = testKey("pa").address, PB = testKey("pb").address;
const O = `${TENANT}/1/1/1`;
const opened: Event = { type: "order.opened", attrs: { order: O, maxPrice: "100" } };
const bid = (provider: string, price: string): Event => ({
  type: "bid.placed",
  attrs: { order: O, provider, price },
});
const lease = (provider: string, price: string): Event => ({
  type: "lease.created",
  attrs: { lease: `${O}/${provider}`, provider, price },
});

function observer() {
  return new MarketObserver({
    providers: [{ address: PA, cpu: 1000 }, { address: PB, cpu: 1000 }],
    cpuOf: (d) => (d === `${TENANT}/1` ? 500 : null),
  });
}

test("the lowest open bid wins: no violation; utilisation rises with the lease and falls with its close", () => {
  const o = observer();
  const n = fakeNode();
  o.watch(n.node);
  n.commit(1, [opened]);
  n.commit(2, [bid(PA, "50"), bid(PB, "40")]);
  n.commit(3, [lease(PB, "40"), { type: "bid.lost", attrs: { order: O, provider: PA } }]);
  n.commit(4, [{ type: "lease.closed", attrs: { lease: `${O}/${PB}`, provider: PB, reason: "owner" } }]);
  const m = o.metrics();
  assert.equal(m.violations, []);
  assert.equal(m.orders[0], {
    order: O,
    openedAt: 1,
    bids: 2,
    maxPrice: "100",
    price: "40",
    priceRatio: 0.4,
    blocksToLease: 2,
    provider: PB,
  });
  assert.equal(m.providers[1]!.utilisation, [[1, 0], [2, 0], [3, 0.5], [4, 0]]);
  assert.is(m.counts["leases.closed.owner"], 1);
});

test("a lease to a dearer bid, a price above the max, a bid that was withdrawn: each reported", () => {
  const o = observer();
  const n = fakeNode();
  o.watch(n.node);
  n.commit(1, [opened]);
  n.commit(2, [bid(PA, "50"), bid(PB, "40")]);
  n.commit(3, [lease(PA, "50")]);
  assert.match(o.metrics().violations.join(";"), new RegExp(`bid of ${PB} at .* was lower`));

  const o2 = observer();
  const n2 = fakeNode();
  o2.watch(n2.node);
  n2.commit(1, [opened]);
  n2.commit(2, [bid(PA, "150")]);
  n2.commit(3, [lease(PA, "150")]);
  assert.match(o2.metrics().violations.join(";"), /above the order's max/);

  const o3 = observer();
  const n3 = fakeNode();
  o3.watch(n3.node);
  n3.commit(1, [opened]);
  n3.commit(2, [bid(PA, "50"), { type: "bid.closed", attrs: { order: O, provider: PA } }]);
  n3.commit(3, [lease(PA, "50")]);
  assert.match(o3.metrics().violations.join(";"), /had no open bid/);
});

test("an equal price goes to the earlier bid: a lease to the later one is reported", () => {
  const o = observer();
  const n = fakeNode();
  o.watch(n.node);
  n.commit(1, [opened]);
  n.commit(2, [bid(PB, "40")]);
  n.commit(3, [bid(PA, "40")]);
  n.commit(4, [lease(PA, "40")]);
  assert.match(o.metrics().violations.join(";"), new RegExp(`bid of ${PB}`));
});

test("a negative escrow balance is reported", () => {
  const o = observer();
  const n = fakeNode({
    "mkt/escrow/tenant/1": {
      state: "closed",
      denom: "ucrs",
      balance: "-5",
      deposited: "10",
      transferred: "15",
      refunded: "0",
      settledAt: 1,
      exhaustAt: null,
      leases: [],
    },
  });
  o.watch(n.node);
  n.commit(1, []);
  assert.match(o.metrics().violations.join(";"), /escrow mkt\/escrow\/tenant\/1 stored balance -5 < 0/);
});

test("each height is read once, from the first node to commit it", () => {
  const o = observer();
  const a = fakeNode();
  const b = fakeNode();
  o.watch(a.node);
  o.watch(b.node);
  a.commit(1, [opened]);
  b.commit(1, [opened]);
  b.commit(2, [bid(PA, "50")]);
  a.commit(2, [bid(PA, "50")]);
  const m = o.metrics();
  assert.is(m.orders.length, 1);
  assert.is(m.orders[0]!.bids, 1);
  assert.is(o.height, 2);
});

test.run();
