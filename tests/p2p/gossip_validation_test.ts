/** The gossip validation adapter: verdicts, log levels, counts per peer and reason, bounded peers. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { asGossipResult, GossipStats, IGNORE, REJECT, toVerdict } from "../../node/gossip_validation.ts";
import type { LogLevel } from "../../lib/log.ts";

test("toVerdict: accept is free; reject logs warn, ignore logs debug; both counted per peer and reason", () => {
  const stats = new GossipStats();
  const logs: [LogLevel, string][] = [];
  const ctx = (from: string) => ({
    topic: "t",
    from,
    stats,
    logger: (l: LogLevel, m: string) => void logs.push([l, m]),
  });
  assert.is(toVerdict("accept", ctx("a")), "accept");
  assert.equal(logs, []);
  assert.is(toVerdict(REJECT.bad_signature, ctx("a")), "reject");
  assert.is(toVerdict(REJECT.bad_signature, ctx("a")), "reject");
  assert.is(toVerdict(IGNORE.stale_height, ctx("a")), "ignore");
  assert.is(toVerdict({ action: "reject", reason: "hash_mismatch", detail: "x" }, ctx("b")), "reject");
  assert.equal(logs.map((l) => l[0]), ["warn", "warn", "debug", "warn"]);
  assert.equal(stats.peer("a"), { reject: { bad_signature: 2 }, ignore: { stale_height: 1 } });
  assert.equal(stats.peer("b"), { reject: { hash_mismatch: 1 }, ignore: {} });
  assert.equal(stats.totals().reject, { bad_signature: 2, hash_mismatch: 1 });
});

test("GossipStats keeps at most peersMax peers, forgetting the least recently counted", () => {
  const stats = new GossipStats(2);
  stats.count("a", "reject", "malformed");
  stats.count("b", "reject", "malformed");
  stats.count("a", "reject", "malformed"); // a is now the most recent
  stats.count("c", "ignore", "future_height"); // b is forgotten
  assert.equal(stats.peers(), ["a", "c"]);
  assert.equal(stats.peer("b"), { reject: {}, ignore: {} });
  assert.equal(stats.peer("a").reject, { malformed: 2 });
  assert.equal(stats.totals().reject, { malformed: 3 }, "totals keep every peer's counts");
  assert.throws(() => new GossipStats(0));
});

test("asGossipResult: anything but a typed result is a counted reject", () => {
  assert.is(asGossipResult("accept"), "accept");
  assert.is(asGossipResult(REJECT.malformed), REJECT.malformed);
  for (
    const bad of ["reject", "ignore", null, 3, { action: "reject", reason: "nope" }, {
      action: "x",
      reason: "malformed",
    }]
  ) {
    const r = asGossipResult(bad);
    assert.ok(r !== "accept" && r.action === "reject" && r.reason === "validator_error", String(bad));
  }
});

test.run();
