/**
 * Block sync's poll cadence (node/sync.ts): with no peer ahead it backs off (1 s doubling to 10 s)
 * only while consensus rests; a node deciding heights keeps polling every `intervalMs`, so a node
 * left behind on a busy chain is noticed within a second (it waited up to 10 s: a bench:tx stall).
 * On simulated time, with a fake peer that is never ahead.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { encode } from "cborg";
import { SimClock } from "../../lib/sim_clock.ts";
import { silentLogger } from "../../lib/log.ts";
import { seededRng } from "../../lib/rng.ts";
import { BlockSync } from "../../node/sync.ts";
import type { Chain } from "../../node/chain.ts";
import type { ConsensusDriver } from "../../node/consensus_driver.ts";
import type { P2P } from "../../node/p2p.ts";

/** Status polls a sync makes in `ms` of simulated time while the driver's `resting` is as given. */
async function pollsIn(ms: number, resting: boolean): Promise<number> {
  const clock = new SimClock();
  let polls = 0;
  const p2p = {
    peers: () => ["peer"],
    handle: () => Promise.resolve(),
    request: () => {
      polls++;
      return Promise.resolve(encode({ height: 5 })); // never ahead of our height 5
    },
  } as unknown as P2P;
  const driver = { resting, onBehind: () => {} } as unknown as ConsensusDriver;
  const chain = { height: 5 } as unknown as Chain;
  const sync = new BlockSync(chain, p2p, driver, clock, silentLogger, 1000, { rng: seededRng(1) });
  await sync.start();
  try {
    await clock.advance(ms);
  } finally {
    sync.stop();
  }
  return polls;
}

test("no peer ahead: a deciding node polls every second; a resting one backs off to 10 s", async () => {
  const busy = await pollsIn(30_000, false);
  const resting = await pollsIn(30_000, true);
  assert.ok(busy >= 28, `busy: ${busy} polls in 30 s`);
  // 1 + 2 + 4 + 8 + 10 + ... s: at most 6 polls in 30 s
  assert.ok(resting <= 6, `resting: ${resting} polls in 30 s`);
});

test.run();
