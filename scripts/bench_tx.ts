/**
 * `npm run bench:tx`: a 4-validator devnet on loopback (real processes), signed `bank.send` txs from
 * many accounts at a rising offered rate. Per stage it reports committed tx/s, p50/p99
 * submit-to-commit latency, blocks/s, and the nodes' CPU; at the end peak RSS per node, what bounds
 * the throughput, and one JSON line `{"txPerSec","p50Ms","p99Ms","blocksPerSec","rssMbMax"}` (the best
 * stage whose p50 stayed within 1 s).
 *
 * Usage: ./cirrus --run-script scripts/bench_tx.ts [--rates 250,500,1000,1500,2000,3000] [--seconds 6]
 *        [--accounts 400] [--validators 4] [--base-port 46656] [--empty-blocks-interval-ms N]
 *
 * `--empty-blocks-interval-ms`: the genesis `createEmptyBlocksIntervalMs` (default: the devnet's, a chain
 * at rest between stages; 0: blocks keep coming, as before issue 9 part 5).
 * `CIRRUS_CPU_PROF_DIR=DIR` writes each node's V8 CPU profile to `DIR/node<i>/` when the devnet stops.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startDevnet } from "../cli/devnet.ts";
import { fromHex, toHex } from "../lib/crypto.ts";
import { signTx } from "../node/ledger/tx.ts";
import { exitOnHelp } from "./help.ts";

exitOnHelp(import.meta.url);

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rates: { type: "string", default: "250,500,1000,1500,2000,3000" },
    seconds: { type: "string", default: "6" },
    accounts: { type: "string", default: "400" },
    validators: { type: "string", default: "4" },
    "base-port": { type: "string", default: "46656" },
    "empty-blocks-interval-ms": { type: "string" },
  },
});
const rates = values.rates!.split(",").map(Number);
const seconds = Number(values.seconds);
const accountCount = Number(values.accounts);
const validators = Number(values.validators);

const root = new URL("..", import.meta.url).pathname;
const dir = join(root, ".bench", "devnet");
console.log(`bench:tx: starting a ${validators}-validator devnet with ${accountCount} funded accounts ...`);
const net = await startDevnet({
  validators,
  dir,
  accounts: accountCount,
  providers: 0,
  basePort: Number(values["base-port"]),
  quiet: true,
  detach: true,
  ...(values["empty-blocks-interval-ms"] !== undefined
    ? { consensusParams: { createEmptyBlocksIntervalMs: Number(values["empty-blocks-interval-ms"]) } }
    : {}),
});
const cleanup = async () => {
  await net.stop();
};
Deno.addSignalListener("SIGINT", async () => {
  await cleanup();
  Deno.exit(130);
});

interface Result {
  rate: number;
  txPerSec: number;
  p50Ms: number;
  p99Ms: number;
  blocksPerSec: number;
  committed: number;
  offered: number;
  rejected: number;
  cpuPct: number;
  /** The nodes' CPU (user + system, all nodes) per committed tx, ms: robust to a shared machine. */
  cpuMsPerTx: number;
}

function procStat(pid: number): { cpuTicks: number; hwmKb: number; rssKb: number } {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1]!.split(" ");
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return { cpuTicks: Number(stat[11]) + Number(stat[12]), hwmKb: hwm, rssKb: rss };
  } catch {
    return { cpuTicks: 0, hwmKb: 0, rssKb: 0 };
  }
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

try {
  const keys = JSON.parse(await Deno.readTextFile(join(dir, "bench_keys.json"))) as {
    address: string;
    privKey: string;
  }[];
  const accounts = keys.map((k) => ({ address: k.address, privKey: fromHex(k.privKey), nonce: 0n }));
  const to = net.info.accounts.bob!;
  const rpcs = net.info.nodes.map((n) => n.rpc);

  // Commit times from node0's event stream.
  const committedAt = new Map<string, number>();
  const blockTimes: number[] = [];
  const es = await fetch(`${rpcs[0]}/events`);
  const reader = es.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  let streaming = true;
  const pump = (async () => {
    while (streaming) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const chunk = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const ev = /^event: (\w+)$/m.exec(chunk)?.[1];
        const data = /^data: (.*)$/m.exec(chunk)?.[1];
        if (!ev || !data) continue;
        const now = performance.now();
        if (ev === "block") blockTimes.push(now);
        else if (ev === "tx") committedAt.set((JSON.parse(data) as { id: string }).id, now);
      }
    }
  })();

  const results: Result[] = [];
  for (const rate of rates) {
    const total = Math.round(rate * seconds);
    // Pre-sign (client CPU is not part of the measured window). Account i always goes to node i % N
    // so that its consecutive nonces meet one mempool.
    const perNode: { hex: string; id?: string }[][] = rpcs.map(() => []);
    const order: { node: number; idx: number }[] = [];
    const signStart = performance.now();
    for (let k = 0; k < total; k++) {
      const ai = k % accounts.length;
      const a = accounts[ai]!;
      const bytes = await signTx({
        chainId: net.info.chainId,
        type: "bank.send",
        from: a.address,
        nonce: a.nonce++,
        fee: 1n,
        body: { to, amount: "1" },
      }, a.privKey);
      const node = ai % rpcs.length;
      perNode[node]!.push({ hex: toHex(bytes) });
      order.push({ node, idx: perNode[node]!.length - 1 });
    }
    console.log(
      `stage ${rate} tx/s: signed ${total} txs in ${((performance.now() - signStart) / 1000).toFixed(1)}s`,
    );
    // Submit in 50 ms ticks.
    const tickMs = 50;
    const perTick = Math.max(1, Math.round(rate * tickMs / 1000));
    const submittedAt = new Map<string, number>();
    let rejected = 0;
    const reasons = new Map<string, number>();
    const reject = (why: string, n = 1) => {
      rejected += n;
      const key = why.replace(/[0-9a-f]{64}|cirrus1\w+|\d+/g, "#");
      reasons.set(key, (reasons.get(key) ?? 0) + n);
    };
    const cpu0 = net.procs.map((p) => procStat(p.pid).cpuTicks);
    const blocks0 = blockTimes.length;
    const t0 = performance.now();
    const chains: Promise<void>[] = [];
    for (let sent = 0, tick = 0; sent < total; tick++) {
      const slice = order.slice(sent, sent + perTick);
      sent += slice.length;
      const byNode = new Map<number, string[]>();
      for (const s of slice) {
        const list = byNode.get(s.node) ?? [];
        list.push(perNode[s.node]![s.idx]!.hex);
        byNode.set(s.node, list);
      }
      for (const [node, txs] of byNode) {
        const at = performance.now();
        // One request at a time per node, as a client sending its accounts' nonces in order would.
        const prev = chains[node] ?? Promise.resolve();
        chains[node] = prev.then(() =>
          fetch(`${rpcs[node]}/txs`, { method: "POST", body: JSON.stringify({ txs }) })
            .then((r) => r.json())
            .then((r: { results: { txId?: string; error?: string }[] }) => {
              for (const x of r.results) {
                if (x.error) reject(x.error);
                else if (x.txId) submittedAt.set(x.txId, at);
              }
            })
            .catch((e) => reject(`http: ${(e as Error).message}`, txs.length))
        );
      }
      const next = t0 + (tick + 1) * tickMs;
      const wait = next - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    await Promise.all(chains);
    const offeredEnd = performance.now();
    // Drain: wait until everything accepted is committed, or 15 s.
    const drainDeadline = performance.now() + 15_000;
    while (performance.now() < drainDeadline) {
      let pending = 0;
      for (const id of submittedAt.keys()) if (!committedAt.has(id)) pending++;
      if (pending === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const t1 = performance.now();
    const cpu1 = net.procs.map((p) => procStat(p.pid).cpuTicks);
    const lat: number[] = [];
    let lastCommit = t0;
    for (const [id, at] of submittedAt) {
      const c = committedAt.get(id);
      if (c !== undefined) {
        lat.push(c - at);
        if (c > lastCommit) lastCommit = c;
      }
    }
    lat.sort((a, b) => a - b);
    const window = (Math.max(lastCommit, offeredEnd) - t0) / 1000;
    const blocks = blockTimes.length - blocks0;
    const ticksPerSec = 100;
    const cpuPct = cpu1.reduce((s, c, i) => s + (c - cpu0[i]!), 0) / ticksPerSec / ((t1 - t0) / 1000) * 100;
    const r: Result = {
      rate,
      txPerSec: Math.round(lat.length / window),
      p50Ms: Math.round(pct(lat, 0.5)),
      p99Ms: Math.round(pct(lat, 0.99)),
      blocksPerSec: Number((blocks / ((t1 - t0) / 1000)).toFixed(2)),
      committed: lat.length,
      offered: total,
      rejected,
      cpuPct: Math.round(cpuPct),
      cpuMsPerTx: Number(
        (cpu1.reduce((s, c, i) => s + (c - cpu0[i]!), 0) / ticksPerSec * 1000 / Math.max(1, lat.length))
          .toFixed(2),
      ),
    };
    results.push(r);
    console.log(
      `stage ${rate} tx/s: committed ${r.committed}/${r.offered} (${r.rejected} rejected) -> ${r.txPerSec} tx/s, ` +
        `p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, ${r.blocksPerSec} blocks/s, nodes' CPU ${r.cpuPct}% of 1 core, ` +
        `${r.cpuMsPerTx} CPU ms per tx (all nodes), load ${Deno.loadavg()[0]!.toFixed(1)}`,
    );
    if (reasons.size > 0) {
      const top = [...reasons].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([k, v]) => `${v} x "${k}"`);
      console.log(`stage ${rate}: rejections: ${top.join("; ")}`);
    }
    if (r.committed < r.offered * 0.5 || r.p50Ms > 5000) {
      console.log(`stage ${rate}: the chain no longer keeps up; stopping the ramp`);
      break;
    }
  }
  streaming = false;
  await reader.cancel().catch(() => {});
  await pump.catch(() => {});
  const rss = net.procs.map((p) => procStat(p.pid).hwmKb / 1024);
  console.log(`peak RSS per node (MB): ${rss.map((x) => x.toFixed(0)).join(", ")}`);
  const ok = results.filter((r) => r.p50Ms <= 1000 && r.committed >= r.offered * 0.95);
  const best = (ok.length > 0 ? ok : results).reduce((a, b) => (b.txPerSec > a.txPerSec ? b : a));
  const cores = navigator.hardwareConcurrency;
  console.log(
    `bound: at the best stage the ${validators} nodes used ${best.cpuPct}% CPU of ${
      cores * 100
    }% available ` +
      `(the bench client shares the same ${cores} cores); ` +
      (best.cpuPct > cores * 100 * 0.8
        ? "CPU-bound."
        : "not CPU-saturated: latency is dominated by block timing."),
  );
  console.log(JSON.stringify({
    txPerSec: best.txPerSec,
    p50Ms: best.p50Ms,
    p99Ms: best.p99Ms,
    blocksPerSec: best.blocksPerSec,
    rssMbMax: Math.round(Math.max(...rss)),
  }));
} finally {
  await cleanup();
}
Deno.exit(0);
