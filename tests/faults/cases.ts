/**
 * The fault cases of `npm run test:faults` (issue 8): crash loop, partitions (2|2, 3|1, bridge),
 * latency and loss, clock skew, WAL truncation, every misbehaviour kind on one validator of four, two
 * misbehaving validators of seven, and a late joiner. Each case builds its own cluster of real node
 * processes, says what it does, records checks; the runner (`scripts/test_faults.ts`) then stops the
 * cluster and runs the checkers of `checks.ts` on the stores and logs.
 * @module
 */
import { join } from "node:path";
import { type Misbehaviour, MISBEHAVIOURS } from "../../node/misbehave.ts";
import { WAL_HEADER_BYTES } from "../../consensus/wal.ts";
import { type Cluster, sleep } from "./cluster.ts";
import { evidenceAgainst } from "./checks.ts";
import { boot, type CaseContext, converge, countLog, type FaultCase, progress } from "./steps.ts";
import { STAKING_CASES } from "./staking_cases.ts";

export type { CaseContext, FaultCase } from "./steps.ts";

const rand = (n: number) => Math.floor(Math.random() * n);

const crashLoop: FaultCase = {
  name: "crash loop",
  what: "4 validators under tx load; kill -9 a random validator every 3-5 s for 60 s, restart it after " +
    "2-4 s: all converge, commits go on",
  timeoutMs: 240_000,
  async run(ctx) {
    const c = await ctx.cluster({ validators: 4 });
    await boot(ctx, c);
    ctx.load(c, { gapMs: 200 });
    const h0 = await c.maxHeight([0, 1, 2, 3]);
    const end = Date.now() + 60_000;
    let kills = 0;
    while (Date.now() < end) {
      await sleep(3_000 + rand(2_000));
      const i = rand(4);
      await c.kill(i, "SIGKILL");
      kills++;
      await sleep(2_000 + rand(2_000));
      await c.start(i);
    }
    const h1 = await c.maxHeight([0, 1, 2, 3]);
    ctx.say(`${kills} kill -9 + restarts in 60 s; height ${h0} -> ${h1}`);
    ctx.check("commits during the crash loop", h1 >= h0 + 10, `height ${h0} -> ${h1} (>= +10)`);
    await converge(ctx, c, [0, 1, 2, 3], 60_000, "all 4 converge after the loop");
    await progress(ctx, c, [0, 1, 2, 3], 3, 45_000, "commits go on after the loop");
  },
};

const split22: FaultCase = {
  name: "partition 2|2",
  what: "{0,1} | {2,3} for 8 s: no node commits while split; healed: all commit again and agree",
  netns: true,
  timeoutMs: 200_000,
  async run(ctx) {
    const c = await ctx.cluster({ validators: 4 });
    await boot(ctx, c);
    ctx.load(c, { gapMs: 400 });
    await c.partition([[0, 1], [2, 3]]);
    ctx.say("partitioned {0,1} | {2,3}");
    await sleep(2_000); // a block whose votes were in flight may still land
    const a = await c.heights([0, 1, 2, 3]);
    await sleep(8_000);
    const b = await c.heights([0, 1, 2, 3]);
    ctx.check(
      "no commit while split 2|2",
      a.every((h) => h !== null) && JSON.stringify(a) === JSON.stringify(b),
      `heights ${a} then ${b} 8 s later`,
    );
    await c.heal();
    ctx.say("healed");
    await progress(ctx, c, [0, 1, 2, 3], 3, 60_000, "commits resume after the heal");
  },
};

const split31: FaultCase = {
  name: "partition 3|1",
  what: "{0,1,2} | {3} for 10 s: the majority commits, node3 stands still; healed: node3 catches up",
  netns: true,
  timeoutMs: 200_000,
  async run(ctx) {
    const c = await ctx.cluster({ validators: 4 });
    await boot(ctx, c);
    ctx.load(c, { gapMs: 400, nodes: () => [0, 1, 2] });
    await c.partition([[0, 1, 2], [3]]);
    ctx.say("partitioned {0,1,2} | {3}");
    const cutAt = Date.now();
    await sleep(1_000);
    const h3a = (await c.status(3))?.height ?? null;
    await progress(ctx, c, [0, 1, 2], 3, 40_000, "majority commits while node3 is cut off");
    await sleep(Math.max(0, cutAt + 10_000 - Date.now()));
    const h3b = (await c.status(3))?.height ?? null;
    ctx.check("minority stands still", h3a !== null && h3a === h3b, `node3 at ${h3a}, then ${h3b}`);
    await c.heal();
    ctx.say("healed");
    await converge(ctx, c, [0, 1, 2, 3], 60_000, "node3 catches up after the heal");
  },
};

const bridge: FaultCase = {
  name: "partition bridge",
  what: "{0,1} | {1,2,3}: node1 sees both halves, node0 only node1; all 4 keep committing",
  netns: true,
  timeoutMs: 200_000,
  async run(ctx) {
    const c = await ctx.cluster({ validators: 4 });
    await boot(ctx, c);
    ctx.load(c, { gapMs: 400 });
    await c.partition([[0, 1], [1, 2, 3]]);
    ctx.say("partitioned {0,1} | {1,2,3} (node1 is the bridge)");
    await progress(ctx, c, [0, 1, 2, 3], 4, 60_000, "all 4 commit across the bridge");
    await c.heal();
    await converge(ctx, c, [0, 1, 2, 3], 45_000, "all converge after the heal");
  },
};

const latency: FaultCase = {
  name: "latency and loss",
  what: "delay 100 ms +- 20 ms and 2% loss on every link (NFQUEUE delayer or netem): the chain commits " +
    "and txs go through",
  netns: true,
  timeoutMs: 240_000,
  async run(ctx) {
    const c = await ctx.cluster({ validators: 4 });
    await boot(ctx, c);
    const how = await c.shape("delay 100ms 20ms loss 2%");
    ctx.say(`every link shaped (${how})`);
    const load = ctx.load(c, { gapMs: 300 });
    const before = load.committed.size;
    await progress(ctx, c, [0, 1, 2, 3], 8, 90_000, "8 blocks under delay and loss");
    ctx.check("txs commit under delay and loss", load.committed.size > before, `${load.committed.size} txs`);
    await c.unshape();
    await converge(ctx, c, [0, 1, 2, 3], 30_000, "all converge after unshaping");
  },
};

const clockSkew: FaultCase = {
  name: "clock skew",
  what: "node1's clock 20 s ahead, node2's 20 s behind (CIRRUS_CLOCK_SKEW_MS): the chain commits, block " +
    "times stay within 30 s of the real time",
  timeoutMs: 200_000,
  async run(ctx) {
    const c = await ctx.cluster({ validators: 4, skewMs: { 1: 20_000, 2: -20_000 } });
    await boot(ctx, c);
    ctx.load(c, { gapMs: 300 });
    await progress(ctx, c, [0, 1, 2, 3], 10, 90_000, "10 blocks with skewed clocks");
    const skewLogged = await countLog(c, 1, "clock skewed") + await countLog(c, 2, "clock skewed");
    ctx.check("the skew took effect", skewLogged >= 2, `${skewLogged} "clock skewed" lines in node1/node2`);
    const b = await c.get<{ time: number; height: number }>(0, "/query/block/latest");
    const drift = b ? b.time - Date.now() : NaN;
    ctx.check(
      "block time near real time",
      Math.abs(drift) <= 30_000,
      `latest block time - now = ${drift} ms`,
    );
  },
};

/** Offsets of the record boundaries of a WAL file. */
function walBoundaries(bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = [0];
  let off = 0;
  while (off + WAL_HEADER_BYTES <= bytes.length) {
    const end = off + WAL_HEADER_BYTES + view.getUint32(off);
    if (end > bytes.length) break;
    out.push(end);
    off = end;
  }
  return out;
}

const walTruncation: FaultCase = {
  name: "WAL truncation",
  what: "stall a height (2 of 4 down), kill -9 node3, cut its WAL's tail: first a torn record (it repairs " +
    "with a log line), then whole records; it rejoins each time and never double-signs",
  timeoutMs: 240_000,
  async run(ctx) {
    const c = await ctx.cluster({ validators: 4 });
    await boot(ctx, c);
    ctx.load(c, { gapMs: 400, nodes: () => c.running });
    const wal = join(c.nodes[3]!.home, "data", "cs.wal");
    for (const mode of ["torn", "whole"] as const) {
      await c.kill(1, "SIGKILL");
      await c.kill(2, "SIGKILL");
      await sleep(4_000); // nodes 0 and 3 go through rounds of a height they cannot decide
      await c.kill(3, "SIGKILL");
      const bytes = await Deno.readFile(wal);
      const bounds = walBoundaries(bytes);
      const records = bounds.length - 1;
      let cut: number;
      if (mode === "torn") {
        const last = bounds[bounds.length - 2]!;
        cut = records > 0 ? last + Math.max(1, Math.floor((bytes.length - last) / 2)) : 0;
      } else {
        cut = bounds[Math.max(0, bounds.length - 3)]!;
      }
      await Deno.truncate(wal, cut);
      ctx.say(`node3's WAL: ${records} records, ${bytes.length} bytes; cut to ${cut} (${mode})`);
      ctx.check(`WAL had records to cut (${mode})`, records >= 2, `${records} records`);
      const tornBefore = await countLog(c, 3, "WAL had a torn tail");
      for (const i of [1, 2, 3]) await c.start(i);
      await progress(ctx, c, [0, 1, 2, 3], 3, 60_000, `all 4 commit after the ${mode} cut`);
      if (mode === "torn") {
        const torn = await countLog(c, 3, "WAL had a torn tail");
        ctx.check("torn tail repaired with a log line", torn > tornBefore, `${torn - tornBefore} new lines`);
      }
    }
    const refused = await countLog(c, 3, "signer refused");
    ctx.say(`node3's signer guard refused ${refused} signatures after the cuts`);
  },
};

/** Every misbehaviour of one validator of four: what it does to the case, and the finding it needs. */
const KIND_NOTES: Record<Misbehaviour, { finding?: number; what: string; cause?: RegExp }> = {
  "double-sign": { what: "prevotes and precommits two different blocks" },
  "equivocate-proposal": { what: "two different proposals per round" },
  "future-time": {
    finding: 1,
    what: "proposes blocks timed at Number.MAX_SAFE_INTEGER",
    cause: /time: numbers must be safe integers|time not after last block/,
  },
  "junk-proposal": { finding: 2, what: "re-publishes others' proposals with junk bytes" },
  "oversize-proposal": { finding: 4, what: "proposes blocks over maxBlockBytes" },
  "lying-sync": {
    finding: 6,
    what: "claims height 1e15 and serves no block; node0 restarts and must sync",
    cause: /catching up .*to=1000000000000000/,
  },
  "silent": { what: "receives, never sends" },
  "amnesia": { what: "forgets WAL and signer state; kill -9 and restarted twice" },
  "duplicate-key": { what: "a second process signs with node3's key" },
};

/** Check that node i's misbehaviour `kind` did something (else the case proves nothing). */
async function tookEffect(ctx: CaseContext, c: Cluster, i: number, kind: Misbehaviour): Promise<void> {
  const n = c.nodes[i]!;
  if (kind === "amnesia") {
    ctx.check(
      "the switch took effect",
      n.starts >= 3,
      `${n.name} started ${n.starts} times, forgetting each time`,
    );
  } else if (kind === "duplicate-key") {
    const h = (await c.status(i))?.height ?? 0;
    ctx.check("the twin runs and follows", h >= 2, `${n.name} at height ${h}`);
  } else {
    const acts = await countLog(c, i, `misbehaving: ${kind}`);
    ctx.check(`${kind} took effect`, acts > 0, `${acts} "misbehaving: ${kind}" lines in ${n.name}'s log`);
  }
  if (kind === "double-sign") {
    let seen = 0;
    for (const h of c.honest) seen += evidenceAgainst(await c.log(h)).filter((v) => v === n.validator).length;
    ctx.check("honest nodes saw the double-sign", seen > 0, `${seen} evidence lines against ${n.name}`);
  }
}

function oneOfFour(kind: Misbehaviour): FaultCase {
  const note = KIND_NOTES[kind];
  const cause = note.cause;
  return {
    ...(cause && note.finding
      ? {
        async diagnose(c: Cluster) {
          for (const n of c.nodes) {
            const line = (await c.log(n.index)).split("\n").find((l) => cause.test(l));
            if (line) {
              return `needs finding ${note.finding} (${n.name}: ${
                line.replace(/^\S+ \S+ \[\S+\] /, "").slice(0, 100)
              })`;
            }
          }
          return null;
        },
      }
      : {}),
    name: `misbehave ${kind} (1 of 4)`,
    what: `node3 ${note.what}: the 3 honest validators keep committing and agree` +
      (kind === "future-time" ? "; block times stay near real time" : ""),
    ...(note.finding ? { finding: note.finding } : {}),
    timeoutMs: 240_000,
    async run(ctx) {
      const c = await ctx.cluster({ validators: 4, misbehave: { 3: [kind] } });
      await boot(ctx, c);
      ctx.load(c, { gapMs: 300, nodes: () => c.honest.filter((i) => c.nodes[i]!.proc !== null) });
      // lying-sync: node0 is the one that must sync; the liveness check is on the others.
      const honest = kind === "lying-sync" ? [1, 2] : c.honest;
      if (kind === "lying-sync") {
        await c.kill(0, "SIGKILL");
        ctx.say("node0 down for 8 s (it must sync past the liar)");
        await sleep(8_000);
        await c.start(0);
      }
      if (kind === "amnesia") {
        for (let k = 0; k < 2; k++) {
          await sleep(3_000);
          await c.kill(3, "SIGKILL");
          await sleep(1_500);
          await c.start(3);
        }
        ctx.say("node3 killed and restarted twice (its WAL and signer state wiped each start)");
      }
      await progress(ctx, c, honest, 8, 60_000, "honest validators commit 8 blocks");
      if (kind === "lying-sync") await converge(ctx, c, [0, 1, 2], 30_000, "restarted node0 catches up");
      await tookEffect(ctx, c, kind === "duplicate-key" ? c.nodes.findIndex((n) => n.twinOf === 3) : 3, kind);
      if (kind === "future-time") {
        const b = await c.get<{ time: number }>(honest[0]!, "/query/block/latest");
        const drift = b ? b.time - Date.now() : NaN;
        ctx.check(
          "block time near real time",
          Math.abs(drift) <= 30_000,
          `latest block time - now = ${drift} ms`,
        );
      }
    },
  };
}

function twoOfSeven(kinds: [Misbehaviour, Misbehaviour]): FaultCase {
  return {
    name: `misbehave ${kinds.join(" + ")} (2 of 7)`,
    what: `node5 ${KIND_NOTES[kinds[0]].what}, node6 ${KIND_NOTES[kinds[1]].what}: the 5 honest ` +
      `validators keep committing and agree`,
    timeoutMs: 240_000,
    async run(ctx) {
      const c = await ctx.cluster({ validators: 7, misbehave: { 5: [kinds[0]], 6: [kinds[1]] } });
      await boot(ctx, c);
      ctx.load(c, { gapMs: 400, nodes: () => c.honest });
      await progress(ctx, c, c.honest, 8, 120_000, "honest validators commit 8 blocks");
      await tookEffect(ctx, c, 5, kinds[0]);
      await tookEffect(ctx, c, 6, kinds[1]);
    },
  };
}

const lateJoiner: FaultCase = {
  name: "late joiner",
  what: "a full node joins a chain of 1,000 blocks (one validator, so that the blocks come fast): it " +
    "catches up by block sync, verifying every commit, and follows new blocks",
  timeoutMs: 420_000,
  async run(ctx) {
    const c = await ctx.cluster({
      validators: 1,
      fullNodes: 1,
      senders: 2,
      consensus: { timeoutCommitMs: 0 },
    });
    await boot(ctx, c);
    ctx.load(c, { gapMs: 500, nodes: () => [0] });
    const t0 = Date.now();
    const r = await c.waitHeights([0], 1_000, 240_000);
    ctx.say(`1,000 blocks in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    if (!r.ok) throw new Error(`the validator did not reach 1,000 blocks in 240 s: ${r.heights}`);
    await c.start(1);
    const joinAt = await c.maxHeight([0]);
    const t1 = Date.now();
    const caught = await c.waitHeights([1], joinAt, 120_000);
    ctx.check(
      "the late joiner catches up",
      caught.ok,
      `full node at ${caught.heights[0]} (the validator at ${joinAt} when it started) after ${
        ((Date.now() - t1) / 1000).toFixed(1)
      }s`,
    );
    // Following: it reaches, within 5 s, the height the validator has now (blocks come ~20/s here).
    const v = await c.maxHeight([0]);
    const follows = await c.waitHeights([1], v, 5_000);
    ctx.check(
      "it follows",
      follows.ok,
      `the validator at ${v}; the full node at ${follows.heights[0]} within 5 s`,
    );
  },
};

/** Every case, in running order. */
export const CASES: FaultCase[] = [
  crashLoop,
  split22,
  split31,
  bridge,
  latency,
  clockSkew,
  walTruncation,
  ...MISBEHAVIOURS.map(oneOfFour),
  twoOfSeven(["double-sign", "equivocate-proposal"]),
  lateJoiner,
  ...STAKING_CASES,
];
