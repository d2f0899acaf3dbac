/**
 * An escrow's runway: blocks at the chain's current block rate become a time; no rate, no time;
 * no active lease, no bound.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { formatSeconds, runwayOf, runwayTimeText } from "../../cli/runway.ts";

test("blocks at the measured block rate become seconds", () => {
  const r = runwayOf(600, { height: 1, time: 1_000_000 }, { height: 101, time: 1_150_000 });
  assert.equal(r, { blocks: 600, msPerBlock: 1500, seconds: 900 });
  assert.is(runwayTimeText(r), " (~15m at 1.5 s/block)");
});

test("without a rate (one block, or no time passing) there is no time; without leases no bound", () => {
  const one = { height: 7, time: 5 };
  assert.equal(runwayOf(10, one, one), { blocks: 10, msPerBlock: null, seconds: null });
  assert.equal(runwayOf(10, { height: 1, time: 9 }, { height: 5, time: 9 }).seconds, null);
  assert.equal(runwayOf(null, { height: 1, time: 0 }, { height: 3, time: 2000 }), {
    blocks: null,
    msPerBlock: 1000,
    seconds: null,
  });
  assert.is(runwayTimeText(undefined), "");
  assert.is(runwayTimeText(runwayOf(null, { height: 1, time: 0 }, { height: 3, time: 2000 })), "");
});

test("durations read as people read them", () => {
  assert.is(formatSeconds(45), "45s");
  assert.is(formatSeconds(720), "12m");
  assert.is(formatSeconds(3 * 3600 + 20 * 60), "3h 20m");
  assert.is(formatSeconds(4 * 86400 + 6 * 3600), "4d 6h");
});

test.run();
