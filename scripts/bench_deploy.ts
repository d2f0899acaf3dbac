/**
 * `npm run bench:deploy`: from `deployment create` to the first HTTP 200 from the container, on the
 * devnet (4 validators, 2 provider nodes with the podman driver). Median of N runs (default 5), broken
 * into chain time (create -> lease) and provider time (manifest -> ready), then one JSON line
 * `{"medianMs", "chainMs", "providerMs"}`.
 *
 * Usage: ./cirrus --run-script scripts/bench_deploy.ts [--runs 5] [--driver podman|sim] [--base-port 47656]
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startDevnet } from "../cli/devnet.ts";
import { createDeployment } from "../cli/market.ts";
import { sendTx } from "../cli/util.ts";
import { exitOnHelp } from "./help.ts";

exitOnHelp(import.meta.url);

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "5" },
    driver: { type: "string", default: "podman" },
    "base-port": { type: "string", default: "47656" },
  },
});
const runs = Number(values.runs);
const root = new URL("..", import.meta.url).pathname;
const dir = join(root, ".bench", "deploy");
console.log(`bench:deploy: starting a devnet with 4 validators and 2 provider nodes (${values.driver}) ...`);
const net = await startDevnet({
  validators: 4,
  dir,
  accounts: 0,
  providers: 2,
  driver: values.driver as "podman" | "sim",
  basePort: Number(values["base-port"]),
  quiet: true,
  detach: true,
});

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : Math.round((s[s.length / 2 - 1]! + s[s.length / 2]!) / 2);
}

const total: number[] = [], chain: number[] = [], provider: number[] = [];
try {
  const g = { node: net.info.nodes[0]!.rpc, home: net.info.home, output: "text" as const };
  for (let i = 0; i < runs; i++) {
    const marks: Record<string, number> = {};
    const t0 = performance.now();
    const r = await createDeployment(g, {
      file: join(root, "examples", "hello.yaml"),
      deposit: "5000000",
      from: "alice",
      wait: true,
      timeoutMs: 60_000,
      progress: (line) => {
        const now = performance.now();
        if (line.includes("lease ") && line.includes("won by")) marks.lease ??= now;
        if (line.includes("manifest accepted")) marks.manifest ??= now;
      },
    });
    const uri = r.services?.flatMap((s) => s.uris)[0];
    if (!uri) throw new Error(`run ${i + 1}: no URI (${JSON.stringify(r)})`);
    let ok = false;
    for (let k = 0; k < 400 && !ok; k++) {
      try {
        const res = await fetch(uri);
        await res.body?.cancel();
        ok = res.status === 200;
      } catch { /* not yet */ }
      if (!ok) await new Promise((r) => setTimeout(r, 25));
    }
    const t1 = performance.now();
    if (!ok) throw new Error(`run ${i + 1}: ${uri} never answered 200`);
    const leaseAt = marks.lease ?? t1;
    total.push(Math.round(t1 - t0));
    chain.push(Math.round(leaseAt - t0));
    provider.push(Math.round(t1 - leaseAt));
    console.log(
      `run ${i + 1}: ${total.at(-1)} ms to HTTP 200 from ${uri} (chain ${
        chain.at(-1)
      } ms: create -> lease; ` +
        `provider ${provider.at(-1)} ms: manifest -> ready -> 200)`,
    );
    await sendTx(g, "alice", "deployment.close", { dseq: r.dseq });
    // Let the provider finish the teardown before the next run, so runs do not overlap.
    for (let k = 0; k < 200; k++) {
      const up = await fetch(uri).then((x) => x.body?.cancel().then(() => true)).catch(() => false);
      if (!up) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 1500));
  }
  const out = { medianMs: median(total), chainMs: median(chain), providerMs: median(provider) };
  console.log(
    `median of ${runs}: ${out.medianMs} ms (chain ${out.chainMs} ms, provider ${out.providerMs} ms)`,
  );
  console.log(JSON.stringify(out));
} finally {
  await net.stop();
}
Deno.exit(0);
