/**
 * The fault suite's runner (started by `scripts/test_faults.ts`, i.e. `npm run test:faults [-- FILTER...]`):
 * the fault suite of issue 8 on real node processes (see
 * `tests/faults/cases.ts`). Each case prints what it did and checked; after each case the cluster is
 * stopped and the checkers run on its stores and logs (no fork, Jepsen's set check, app hashes, supply,
 * no honest double-sign). At the end: a table (case | result | seconds | notes); exit code 1 when a case
 * failed. FILTERs are substrings of case names (e.g. `partition`, `misbehave silent`). Cases that need
 * network namespaces are skipped (with the reason) where they cannot be made (not root, no iproute2).
 * The files under `tests/faults/` are not named `*_test.ts`, so `npm test` does not run them.
 * @module
 */
import { type CaseContext, CASES, type FaultCase } from "./cases.ts";
import { type Cluster, createCluster, iptablesAvailable, liveClusters } from "./cluster.ts";
import { type Check, runCheckers } from "./checks.ts";
import { type Load, startLoad } from "./load.ts";
import { netnsAvailable } from "../helpers/netns.ts";

interface Row {
  name: string;
  result: "pass" | "FAIL" | "skip";
  seconds: number;
  notes: string;
}

const filters = Deno.args.filter((a) => !a.startsWith("-"));
const keep = Deno.args.includes("--keep");
const selected = CASES.filter((c) => filters.length === 0 || filters.some((f) => c.name.includes(f)));
if (selected.length === 0) {
  console.error(`no case matches ${filters.join(" ")}; cases: ${CASES.map((c) => c.name).join(" | ")}`);
  Deno.exit(2);
}

const avail = await netnsAvailable();
const netnsReason = avail.ok ? (await iptablesAvailable() ? null : "iptables is not usable") : avail.reason;
const netns = netnsReason === null;
console.log(
  `fault suite: ${selected.length} cases; network namespaces ${
    netns ? "available" : `NOT available (${netnsReason})`
  }`,
);

const cleanupAll = async () => {
  for (const c of [...liveClusters]) await c.cleanup(keep);
};
const onSignal = () => {
  console.log("\nfault suite: interrupted; cleaning up");
  void cleanupAll().finally(() => Deno.exit(130));
};
Deno.addSignalListener("SIGINT", onSignal);
Deno.addSignalListener("SIGTERM", onSignal);

async function runCase(fc: FaultCase, n: number): Promise<Row> {
  const t0 = performance.now();
  const secs = () => Math.round((performance.now() - t0) / 1000);
  const tag = `[${n}/${selected.length} ${fc.name}]`;
  console.log(`\n=== ${tag} ${fc.what}`);
  if (fc.netns && !netns) {
    console.log(`${tag} SKIP: needs network namespaces (${netnsReason})`);
    return { name: fc.name, result: "skip", seconds: 0, notes: `needs netns: ${netnsReason}` };
  }
  const clusters: Cluster[] = [];
  const loads = new Map<Cluster, Load>();
  const checks: Check[] = [];
  const ctx: CaseContext = {
    netns,
    async cluster(o) {
      const c = await createCluster({
        ...o,
        netns: o.netns ?? netns,
        name: fc.name.replace(/[^a-z0-9]+/gi, "-"),
      });
      clusters.push(c);
      return c;
    },
    load(c, opts) {
      const l = startLoad(c, opts);
      loads.set(c, l);
      return l;
    },
    say(s) {
      console.log(`${tag} ${s}`);
    },
    check(what, ok, detail) {
      checks.push({ what, ok, detail });
      console.log(`${tag} ${ok ? "ok  " : "FAIL"} ${what}: ${detail}`);
    },
  };
  let error: string | null = null;
  const diagnosis: string[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      fc.run(ctx),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`case timed out after ${fc.timeoutMs / 1000} s`)),
          fc.timeoutMs,
        );
      }),
    ]);
  } catch (e) {
    error = (e as Error).message;
    console.log(`${tag} ERROR ${error}`);
  } finally {
    clearTimeout(timer);
  }
  for (const c of clusters) {
    try {
      const load = loads.get(c);
      const seen = load ? await load.stop() : null;
      if (seen) {
        console.log(
          `${tag} load: ${seen.sent} txs signed, ${seen.committed.size} seen committed, ${seen.unresolved} unresolved`,
        );
      }
      await c.stopAll();
      for (const k of await runCheckers(c, seen?.committed ?? new Map())) ctx.check(k.what, k.ok, k.detail);
      if (error !== null || checks.some((k) => !k.ok)) {
        console.log(await c.tails(12));
        const why = await fc.diagnose?.(c);
        if (why) {
          diagnosis.push(why);
          console.log(`${tag} cause: ${why}`);
        }
      }
    } catch (e) {
      error ??= `checkers: ${(e as Error).message}`;
    } finally {
      await c.cleanup(keep);
    }
  }
  const failed = checks.filter((k) => !k.ok).map((k) => k.what);
  const ok = error === null && failed.length === 0;
  const notes = ok ? `${checks.length} checks` : [
    ...(diagnosis.length > 0 ? diagnosis : fc.finding ? [`needs finding ${fc.finding}?`] : []),
    ...(error ? [error] : []),
    ...(failed.length ? [`failed: ${failed.join(", ")}`] : []),
  ].join("; ");
  console.log(`${tag} ${ok ? "PASS" : "FAIL"} in ${secs()} s`);
  return { name: fc.name, result: ok ? "pass" : "FAIL", seconds: secs(), notes };
}

const start = performance.now();
const rows: Row[] = [];
for (const [i, fc] of selected.entries()) rows.push(await runCase(fc, i + 1));
await cleanupAll();
Deno.removeSignalListener("SIGINT", onSignal);
Deno.removeSignalListener("SIGTERM", onSignal);

const w = Math.max(4, ...rows.map((r) => r.name.length));
console.log(`\n${"case".padEnd(w)} | result | seconds | notes`);
console.log(`${"-".repeat(w)}-|--------|---------|------`);
for (const r of rows) {
  console.log(`${r.name.padEnd(w)} | ${r.result.padEnd(6)} | ${String(r.seconds).padStart(7)} | ${r.notes}`);
}
const total = Math.round((performance.now() - start) / 1000);
const failedN = rows.filter((r) => r.result === "FAIL").length;
console.log(
  `\nfault suite: ${rows.filter((r) => r.result === "pass").length} passed, ${failedN} failed, ` +
    `${rows.filter((r) => r.result === "skip").length} skipped in ${total} s`,
);
Deno.exit(failedN > 0 ? 1 : 0);
