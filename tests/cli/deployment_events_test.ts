/** `deployment events`: which marketplace events belong to one deployment, and how escrow.low reads. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { escrowLowLine, eventOfDeployment } from "../../cli/market_events.ts";

test("a deployment's events: its escrow, orders, bids and leases; not its neighbour's (dseq 2 vs 20)", () => {
  const ev = (attrs: Record<string, string>) => ({ height: 1, type: "x", attrs });
  assert.ok(eventOfDeployment(ev({ deployment: "o/2" }), "o", 2));
  assert.ok(eventOfDeployment(ev({ order: "o/2/1/1" }), "o", 2));
  assert.ok(eventOfDeployment(ev({ lease: "o/2/1/1/p" }), "o", 2));
  assert.not.ok(eventOfDeployment(ev({ order: "o/20/1/1" }), "o", 2));
  assert.not.ok(eventOfDeployment(ev({ deployment: "other/2" }), "o", 2));
  assert.is(
    escrowLowLine({ dseq: "2", blocksLeft: "50", threshold: "600" }),
    "  escrow low: 50 blocks of runway left (under 600); top up with: cirrus deployment deposit 2 AMOUNT",
  );
});

test.run();
