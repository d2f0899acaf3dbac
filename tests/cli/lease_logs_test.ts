/**
 * `lease logs --follow` resumes: after a dropped stream the client asks from its cursor (so no line
 * is lost or repeated), notes each reconnect, gives up after the bounded retries, and stops at once
 * on a provider's refusal. The stream here is a script of frames; the real drop (a provider node
 * restarted mid-stream) is in tests/e2e/provider_podman_test.ts.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { FOLLOW_RETRIES_MAX, followWithResume, ProviderRefusal } from "../../cli/lease_logs.ts";
import { encodeResponse } from "../../provider/protocol/mod.ts";

const frame = (o: Record<string, unknown>) => encodeResponse({ ok: true, ...o });

function io(streams: ((from: unknown) => AsyncIterable<Uint8Array>)[], stopAfterLines = Infinity) {
  const ac = new AbortController();
  const lines: string[] = [];
  const notes: string[] = [];
  const asked: unknown[] = [];
  const sleeps: number[] = [];
  let i = 0;
  return {
    lines,
    notes,
    asked,
    sleeps,
    io: {
      open(from: unknown) {
        asked.push(from);
        const s = streams[i++];
        if (!s) {
          return {
            [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new Error("connection refused")) }),
          };
        }
        return s(from);
      },
      line(t: string) {
        lines.push(t);
        if (lines.length >= stopAfterLines) ac.abort();
      },
      note: (t: string) => notes.push(t),
      sleep: (ms: number) => {
        sleeps.push(ms);
        return Promise.resolve();
      },
      signal: ac.signal,
    },
  };
}

test("a dropped stream resumes from the cursor: every line once, in order", async () => {
  const t = io([
    async function* () {
      yield frame({ line: "a1", id: "A", seq: 0 });
      yield frame({ line: "b1", id: "B", seq: 0 });
      yield frame({ line: "a2", id: "A", seq: 1 });
      throw new Error("stream reset");
    },
    async function* () {
      // the provider resends from the cursor; a line it sends twice anyway is printed once
      yield frame({ line: "a2", id: "A", seq: 1 });
      yield frame({ dropped: 3, container: "web-pod-0-web" });
      yield frame({ line: "a3", id: "A", seq: 2 });
      yield frame({ line: "b2", id: "B", seq: 1 });
    },
    async function* () {
      yield frame({ line: "a4", id: "A", seq: 3 });
    },
  ], 5);
  const r = await followWithResume(t.io);
  assert.equal(t.lines, ["a1", "b1", "a2", "a3", "b2"]);
  assert.equal(t.asked, [undefined, { cursor: { A: 2, B: 1 } }]);
  assert.is(r.reconnects, 1);
  assert.match(t.notes[0]!, /log stream dropped: stream reset; reconnecting in 0.5s, attempt 1\/8/);
  assert.match(t.notes[1]!, /3 older lines of web-pod-0-web are no longer kept/);
});

test("reconnects back off and are bounded; a frame resets the count", async () => {
  const t = io([async function* () {
    yield frame({ line: "x", id: "A", seq: 0 });
  }]);
  try {
    await followWithResume(t.io);
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, new RegExp(`gave up after ${FOLLOW_RETRIES_MAX} reconnects`));
  }
  assert.equal(t.sleeps, [500, 1000, 2000, 4000, 8000, 8000, 8000, 8000]);
  assert.equal(t.lines, ["x"]);
  assert.equal(t.asked.slice(1).every((a) => JSON.stringify(a) === '{"cursor":{"A":1}}'), true);
});

test("a refusal ends the follow at once; a provider without cursors resumes with new lines only", async () => {
  const refused = io([async function* () {
    yield encodeResponse({ ok: false, code: "not_found", error: "lease L is closed: no more logs" });
  }]);
  try {
    await followWithResume(refused.io);
    assert.unreachable();
  } catch (e) {
    assert.instance(e, ProviderRefusal);
    assert.is((e as ProviderRefusal).code, "not_found");
  }
  assert.equal(refused.sleeps, []);
  const old = io([
    async function* () {
      yield frame({ line: "plain" });
    },
    async function* () {
      yield frame({ line: "new" });
    },
  ], 2);
  await followWithResume(old.io);
  assert.equal(old.asked, [undefined, { tail: 0 }]);
  assert.match(old.notes[0]!, /cannot resume/);
});

test.run();
