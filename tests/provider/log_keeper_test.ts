/**
 * Logs that last, the pure parts: podman's timestamped lines and the position after them (ties of
 * one timestamp neither lost nor read twice); the keeper numbers lines per container, keeps the last
 * `linesMax`, resumes from a cursor and says how many lines asked for are no longer kept.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { formatTimeNs, linesAfter, parseStampedLine } from "../../provider/cluster/podman_logs.ts";
import { LogKeeper } from "../../provider/log_keeper.ts";
import type { ContainerLog } from "../../provider/mod.ts";

test("a podman timestamp is ns since the epoch; --since is written back exactly; unstamped lines are not lines", () => {
  const l = parseStampedLine("2026-11-30T06:30:50.941057666Z line 1")!;
  assert.is(l.line, "line 1");
  assert.is(l.timeNs, BigInt(Date.parse("2026-11-30T06:30:50Z")) * 1_000_000n + 941057666n);
  assert.is(formatTimeNs(l.timeNs), "2026-11-30T06:30:50.941057666Z");
  assert.is(formatTimeNs(l.timeNs - 1n), "2026-11-30T06:30:50.941057665Z");
  assert.is(
    parseStampedLine("2026-11-30T07:30:50.5+01:00 x")!.timeNs,
    BigInt(Date.parse("2026-11-30T06:30:50Z")) * 1_000_000n + 500_000_000n,
  );
  assert.is(parseStampedLine("2026-11-30T06:30:50.000000001Z ")!.line, "");
  assert.is(parseStampedLine('time="2026-11-30" level=warning msg="x"'), undefined);
});

test("reads from one ns before the position skip exactly the lines already read at that time", () => {
  const at = (t: number, line: string) => ({ timeNs: BigInt(t), line });
  // first read: 3 lines share time 10, then one at 11... and 2 at 12
  const r1 = linesAfter(
    [at(10, "a"), at(10, "b"), at(10, "c"), at(11, "d"), at(12, "e"), at(12, "f")],
    undefined,
  );
  assert.equal(r1.lines.map((l) => l.line), ["a", "b", "c", "d", "e", "f"]);
  assert.equal(r1.position, { timeNs: 12n, atTime: 2 });
  // the next read (since 11 ns, exclusive) returns the time-12 lines again plus a third at 12 and more
  const r2 = linesAfter([at(12, "e"), at(12, "f"), at(12, "g"), at(13, "h")], r1.position);
  assert.equal(r2.lines.map((l) => l.line), ["g", "h"]);
  assert.equal(r2.position, { timeNs: 13n, atTime: 1 });
  // nothing new: same position
  const r3 = linesAfter([at(13, "h")], r2.position);
  assert.equal(r3.lines, []);
  assert.equal(r3.position, r2.position);
});

function chunk(id: string, lines: string[], t0: number, name = `web-pod-0-${id}`): ContainerLog {
  return {
    id: id.padEnd(64, "0"),
    name,
    service: "web",
    lines: lines.map((line, i) => ({ timeNs: BigInt(t0 + i), line })),
    position: { timeNs: BigInt(t0 + lines.length - 1), atTime: 1 },
  };
}

test("the keeper numbers lines per container, resumes from a cursor and keeps the last linesMax", () => {
  const k = new LogKeeper({ linesMax: 5 });
  k.append("L", [chunk("aaa", ["1", "2", "3"], 100)]);
  const first = k.read("L", { tail: 2 });
  assert.equal(first.lines.map((l) => [l.line, l.seq]), [["2", 1], ["3", 2]]);
  assert.equal(first.dropped, []);
  const id = first.lines[0]!.id;
  assert.is(id, "aaa000000000");
  assert.equal(first.next, { [id]: 3 });
  k.append("L", [chunk("aaa", ["4", "5", "6", "7"], 200)]);
  // resume after seq 2: 4..7, nothing repeated
  assert.equal(k.read("L", { cursor: { [id]: 3 } }).lines.map((l) => l.line), ["4", "5", "6", "7"]);
  // only 5 kept (3..7): a cursor at seq 0 is told 2 lines were dropped
  const old = k.read("L", { cursor: { [id]: 0 } });
  assert.equal(old.dropped, [{ id, name: "web-pod-0-aaa", lines: 2 }]);
  assert.equal(old.lines.map((l) => l.line), ["3", "4", "5", "6", "7"]);
  // a tail beyond what is kept says so too
  assert.equal(k.read("L", { tail: 100 }).dropped, [{ id, name: "web-pod-0-aaa", lines: 2 }]);
  assert.equal(k.positions("L").get("aaa".padEnd(64, "0")), { timeNs: 203n, atTime: 1 });
});

test("a redeployed container's lines sit beside the old one's; a service filter; forget", () => {
  const k = new LogKeeper({ linesMax: 10 });
  k.append("L", [chunk("old", ["o1", "o2"], 100), chunk("db1", ["d1"], 101, "db-pod-0-db")]);
  k.append("L", [chunk("new", ["n1"], 300)]); // the old web container is gone, a new one runs
  const all = k.read("L", { tail: 10 });
  assert.equal(all.lines.map((l) => l.line), ["o1", "d1", "o2", "n1"], "merged by time");
  assert.is(all.containers, 3);
  const db = { ...chunk("db1", [], 0), service: "db" };
  k.append("M", [db]);
  assert.equal(k.read("M", { service: "web" }).containers, 0);
  assert.equal(k.read("M", { service: "db" }).containers, 1);
  k.forget("L");
  assert.equal(k.leases(), ["M"]);
  assert.throws(() => new LogKeeper({ linesMax: 0 }), /positive integer/);
});

test.run();
