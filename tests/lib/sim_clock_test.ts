/** The simulated clock: order of timers, bounds, settling of real async work between firings. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { SimClock, SimTimeoutError } from "../../lib/sim_clock.ts";

test("timers fire in (time, insertion) order and now() moves to each one", async () => {
  const clock = new SimClock({ startMs: 1_000 });
  const log: string[] = [];
  clock.setTimeout(() => log.push(`c@${clock.now()}`), 30);
  clock.setTimeout(() => log.push(`a@${clock.now()}`), 10);
  clock.setTimeout(() => log.push(`b@${clock.now()}`), 10);
  clock.setTimeout(() => log.push(`zero@${clock.now()}`), -5);
  await clock.advance(20);
  assert.equal(log, ["zero@1000", "a@1010", "b@1010"]);
  assert.is(clock.now(), 1_020, "advance ends at its target");
  await clock.advance(10);
  assert.equal(log, ["zero@1000", "a@1010", "b@1010", "c@1030"]);
});

test("timers due together fire by key, then in creation order, whatever order they were made in", async () => {
  const clock = new SimClock();
  const log: string[] = [];
  const b = clock.view("node-b"), a = clock.view("node-a");
  b.setTimeout(() => log.push("b1"), 10);
  a.setTimeout(() => log.push("a1"), 10);
  b.setTimeout(() => log.push("b2"), 10);
  clock.setTimeout(() => log.push("plain"), 10);
  a.setTimeout(() => log.push("a-earlier"), 5);
  await clock.advance(10);
  assert.equal(log, ["a-earlier", "plain", "a1", "b1", "b2"]);
  assert.is(a.now(), 10, "a view reads the same time");
});

test("a cleared timer never fires; clearing twice or an unknown handle is a no-op", async () => {
  const clock = new SimClock();
  let fired = 0;
  const h = clock.setTimeout(() => fired++, 5);
  clock.setTimeout(() => fired += 10, 6);
  clock.clearTimeout(h);
  clock.clearTimeout(h);
  clock.clearTimeout("nonsense");
  assert.is(clock.pendingTimers, 1);
  await clock.advance(100);
  assert.is(fired, 10);
  assert.is(clock.pendingTimers, 0);
});

test("fractional delays round up to whole milliseconds, as Date.now() stays whole", async () => {
  const clock = new SimClock();
  let at = -1;
  clock.setTimeout(() => at = clock.now(), 2.2);
  await clock.advance(3);
  assert.is(at, 3);
  assert.throws(() => new SimClock({ startMs: 0.5 }), /whole/);
  try {
    await clock.advance(1.5);
    assert.unreachable("should throw");
  } catch (e) {
    assert.instance(e, RangeError);
  }
});

test("promise chains started by a timer run before the next timer fires", async () => {
  const clock = new SimClock();
  const log: string[] = [];
  clock.setTimeout(() => {
    void (async () => {
      await Promise.resolve();
      await new Promise((r) => queueMicrotask(() => r(null)));
      log.push("chain done");
    })();
  }, 10);
  clock.setTimeout(() => log.push("second timer"), 11);
  await clock.advance(20);
  assert.equal(log, ["chain done", "second timer"]);
});

test("real async work counted by track() or busyWhile() settles before time moves on", async () => {
  const clock = new SimClock();
  const log: string[] = [];
  const dir = await Deno.makeTempDir();
  try {
    clock.setTimeout(() => {
      void clock.track(Deno.writeTextFile(`${dir}/a`, "x".repeat(100_000)).then(() => log.push("written")));
    }, 10);
    let busy = false;
    clock.busyWhile(() => busy);
    clock.setTimeout(() => {
      busy = true;
      void crypto.subtle.digest("SHA-256", new Uint8Array(1 << 20)).then(() => {
        log.push("digested");
        busy = false;
      });
    }, 12);
    clock.setTimeout(() => log.push(`later@${clock.now()}`), 13);
    await clock.advance(20);
    assert.equal(log, ["written", "digested", "later@13"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("runUntil fires timers until the predicate holds and reports the simulated time spent", async () => {
  const clock = new SimClock();
  let n = 0;
  const tick = () => {
    n++;
    clock.setTimeout(tick, 100);
  };
  clock.setTimeout(tick, 100);
  const spent = await clock.runUntil(() => n >= 5);
  assert.is(spent, 500);
  assert.is(n, 5);
});

test("runUntil throws a clear error when the predicate never holds (budget, or no timer left)", async () => {
  const clock = new SimClock();
  const tick = () => clock.setTimeout(tick, 1_000);
  tick();
  try {
    await clock.runUntil(() => false, { maxMs: 10_000, label: "the impossible" });
    assert.unreachable("should throw");
  } catch (e) {
    assert.instance(e, SimTimeoutError);
    assert.match((e as Error).message, /the impossible did not hold within 10000 ms/);
  }
  assert.is(clock.now(), 10_000, "time stops at the budget");
  const idle = new SimClock();
  try {
    await idle.runUntil(() => false, { label: "nothing" });
    assert.unreachable("should throw");
  } catch (e) {
    assert.match((e as Error).message, /nothing never holds: no timer left/);
  }
});

test("a timer storm is bounded by firingsMax", async () => {
  const clock = new SimClock({ firingsMax: 1_000 });
  const storm = () => clock.setTimeout(storm, 0);
  storm();
  try {
    await clock.advance(1);
    assert.unreachable("should throw");
  } catch (e) {
    assert.match((e as Error).message, /more than 1000 timer firings/);
  }
});

test("runFor resolves with the value of a promise that needs simulated time", async () => {
  const clock = new SimClock();
  const later = new Promise<string>((r) => clock.setTimeout(() => r("done"), 5_000));
  assert.is(await clock.runFor(later), "done");
  assert.is(clock.now(), 5_000);
  const failing = new Promise<string>((_, reject) => clock.setTimeout(() => reject(new Error("boom")), 10));
  try {
    await clock.runFor(failing);
    assert.unreachable("should throw");
  } catch (e) {
    assert.match((e as Error).message, /boom/);
  }
});

test("two concurrent drivers are refused", async () => {
  const clock = new SimClock();
  clock.setTimeout(() => {}, 10);
  const first = clock.advance(10);
  try {
    await clock.advance(10);
    assert.unreachable("should throw");
  } catch (e) {
    assert.match((e as Error).message, /already being driven/);
  }
  await first;
});

test("with a lookahead, timers of one window fire together and still in order", async () => {
  const clock = new SimClock({ lookaheadMs: 5 });
  const log: number[] = [];
  for (const at of [3, 1, 7, 2, 20]) clock.setTimeout(() => log.push(clock.now()), at);
  await clock.advance(6);
  assert.equal(log, [1, 2, 3], "the window [1, 6] fired in time order, capped at the target");
  await clock.advance(20);
  assert.equal(log, [1, 2, 3, 7, 20]);
});

test.run();
