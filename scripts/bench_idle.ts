/**
 * `npm run bench:idle`: what a devnet at rest costs (issue 9, part 5). A devnet of 4 validators (one
 * provider account, bidding by hand) is left idle: CPU of each node process from /proc over the window
 * (default 60 s), blocks made, store growth extrapolated to a day; then the submit-to-commit latency
 * of `bank.send` txs sent one by one to the resting chain (p50, p99), then a deployment, a bid at once
 * and its lease (median of create -> lease), each closed before the next (the first one measures 10 s of
 * a paying lease: blocks/s and node CPU). Ends with one JSON line.
 *
 * Usage: ./cirrus --run-script scripts/bench_idle.ts [--idle-s 60] [--txs 20] [--leases 3] [--base-port P]
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startDevnet } from "../cli/devnet.ts";
import { groupsForTx } from "../auction/market/mod.ts";
import { parseSdl } from "../auction/sdl/mod.ts";
import { sendTx } from "../cli/util.ts";
import { exitOnHelp } from "./help.ts";

exitOnHelp(import.meta.url);

const { values } = parseArgs({
  args: Deno.args,
  options: {
    "idle-s": { type: "string", default: "60" },
    txs: { type: "string", default: "20" },
    leases: { type: "string", default: "3" },
    "base-port": { type: "string", default: String(40_000 + Math.floor(Math.random() * 10_000)) },
  },
});
const idleS = Number(values["idle-s"]);
const root = new URL("..", import.meta.url).pathname;
const dir = join(root, ".bench", "idle");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CLK_TCK = 100; // Linux USER_HZ

/** user + system CPU ticks of a process (fields 14 and 15 of /proc/PID/stat). */
function cpuTicks(pid: number): number {
  const f = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1]!.split(" ");
  return Number(f[11]) + Number(f[12]);
}

/** Bytes of the files under `path`. */
function duBytes(path: string): number {
  let sum = 0;
  for (const e of Deno.readDirSync(path)) {
    const p = join(path, e.name);
    if (e.isDirectory) sum += duBytes(p);
    else if (e.isFile) sum += Deno.statSync(p).size;
  }
  return sum;
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

console.log("bench:idle: starting a devnet with 4 validators ...");
const net = await startDevnet({
  validators: 4,
  dir,
  accounts: 0,
  providers: 1,
  providerNodes: false, // provider1 bids by hand: no provider process shares the 2 cores
  basePort: Number(values["base-port"]),
  quiet: true,
  detach: true,
});
const g = { node: net.info.nodes[0]!.rpc, home: net.info.home, output: "text" as const };
const height = async (): Promise<number> => {
  const r = await fetch(`${g.node}/status`);
  return Number((await r.json() as { height: number | string }).height);
};

try {
  // Let the start settle (providers register, first blocks), then measure the rest.
  await sleep(5_000);
  const procs = [
    ...net.info.nodes.map((n) => ({ name: n.name, pid: n.pid, home: n.home })),
  ];
  const h0 = await height();
  const cpu0 = procs.map((p) => cpuTicks(p.pid));
  const disk0 = procs.map((p) => duBytes(p.home));
  const t0 = performance.now();
  console.log(`idle for ${idleS} s from height ${h0} ...`);
  await sleep(idleS * 1000);
  const seconds = (performance.now() - t0) / 1000;
  const h1 = await height();
  const cpu = procs.map((p, i) => (cpuTicks(p.pid) - cpu0[i]!) / CLK_TCK / seconds * 100);
  const growth = procs.map((p, i) => (duBytes(p.home) - disk0[i]!) / seconds * 86_400 / 1e6);
  for (const [i, p] of procs.entries()) {
    console.log(
      `  ${p.name.padEnd(10)} cpu ${cpu[i]!.toFixed(2)}% of a core, store ${growth[i]!.toFixed(1)} MB/day`,
    );
  }
  console.log(`  ${h1 - h0} blocks in ${seconds.toFixed(1)} s`);

  // Txs to the resting chain, one at a time; each waits for the chain to rest again.
  const lat: number[] = [];
  for (let i = 0; i < Number(values.txs); i++) {
    await sleep(1_500);
    const to = net.info.accounts.bob!;
    const t = performance.now();
    await sendTx(g, "alice", "bank.send", { to, amount: "1" });
    lat.push(performance.now() - t);
  }
  const txP50 = Math.round(quantile(lat, 0.5)), txP99 = Math.round(quantile(lat, 0.99));
  console.log(`tx to the resting chain: p50 ${txP50} ms, p99 ${txP99} ms (${lat.length} txs)`);

  // Deployments to their lease: create, a provider bids at once (by hand), the window closes; each
  // closed before the next.
  const lease: number[] = [];
  let active = { blocksPerSec: 0, cpuPctMax: 0 };
  /** Blocks and node CPU over 10 s while a lease pays (blocks keep the normal cadence). */
  const activeLeaseCost = async () => {
    const c0 = procs.map((p) => cpuTicks(p.pid)), b0 = await height(), t1 = performance.now();
    await sleep(10_000);
    const s = (performance.now() - t1) / 1000;
    const pct = procs.map((p, i) => (cpuTicks(p.pid) - c0[i]!) / CLK_TCK / s * 100);
    const r = {
      blocksPerSec: Number(((await height() - b0) / s).toFixed(1)),
      cpuPctMax: Math.round(Math.max(...pct)),
    };
    console.log(
      `  with a paying lease: ${r.blocksPerSec} blocks/s, node cpu up to ${r.cpuPctMax}% of a core`,
    );
    return r;
  };
  const sdl = parseSdl(await Deno.readTextFile(join(root, "examples", "hello.yaml")));
  if (!sdl.ok) throw new Error(sdl.error);
  for (let i = 0; i < Number(values.leases); i++) {
    await sleep(2_000);
    const t = performance.now();
    const d = await sendTx(g, "alice", "deployment.create", {
      groups: groupsForTx(sdl.groups),
      manifestHash: sdl.manifestHash,
      deposit: { denom: "ucrs", amount: "50000000" },
    });
    const order = d.events!.find((e) => e.type === "order.opened")!.attrs.order!;
    await sendTx(g, "provider1", "bid.create", { order, price: { denom: "ucrs", amount: "100" } });
    let leased = false;
    for (let k = 0; k < 2_000 && !leased; k++) {
      const r = await fetch(`${g.node}/query/leases?owner=${net.info.accounts.alice}&state=active`);
      leased = ((await r.json()) as { leases: unknown[] }).leases.length > 0;
      if (!leased) await sleep(10);
    }
    if (!leased) throw new Error(`run ${i + 1}: no lease`);
    lease.push(performance.now() - t);
    console.log(
      `  deployment ${d.events!.find((e) => e.type === "order.opened")!.attrs.order}: lease after ${
        Math.round(lease.at(-1)!)
      } ms`,
    );
    if (i === 0) active = await activeLeaseCost();
    const dseq = Number(order.split("/")[1]);
    await sendTx(g, "alice", "deployment.close", { dseq });
  }
  const leaseMs = Math.round(quantile(lease, 0.5));
  const out = {
    idleSeconds: Math.round(seconds),
    blocks: h1 - h0,
    cpuPctMax: Number(Math.max(...cpu).toFixed(2)),
    storeMbPerDayMax: Number(Math.max(...growth).toFixed(1)),
    txP50Ms: txP50,
    txP99Ms: txP99,
    leaseMs,
    activeLease: active,
  };
  console.log(JSON.stringify(out));
} finally {
  await net.stop();
}
Deno.exit(0);
