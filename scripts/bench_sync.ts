/**
 * `npm run bench:sync`: how fast a new node catches up (issue 9, part 3: "block sync catches up at
 * least 20x faster than the chain makes blocks"). A devnet of 4 validators (real processes on
 * loopback) is driven to `--blocks` blocks under a steady load of signed `bank.send` txs (the mempool
 * never empty: about one tx per account per block), which gives the chain's own block rate; then a fresh home is made with
 * `node init --join` (the same code, `cli/node_join.ts`) against node0's RPC and a node started from
 * it (in this process, TCP) syncs to the height the chain had when it joined. Prints
 * `{blocks, txs, seconds, blocksPerSec, chainBlocksPerSec, speedup, firstBlockSeconds}` as the last line.
 *
 * Usage: ./cirrus --run-script scripts/bench_sync.ts [--blocks 300] [--accounts 40] [--base-port P]
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startDevnet } from "../cli/devnet.ts";
import { joinNetwork } from "../cli/node_join.ts";
import { fromHex, toHex } from "../lib/crypto.ts";
import { signTx } from "../node/ledger/tx.ts";
import { CirrusNode } from "../node/node.ts";
import { catchUpOnConnect } from "../cli/node_cmd.ts";
import { exitOnHelp } from "./help.ts";

exitOnHelp(import.meta.url);

const { values } = parseArgs({
  args: Deno.args,
  options: {
    blocks: { type: "string", default: "300" },
    accounts: { type: "string", default: "40" },
    "base-port": { type: "string", default: String(40_000 + Math.floor(Math.random() * 10_000)) },
  },
});
const blocks = Number(values.blocks);
const accountCount = Number(values.accounts);
const root = new URL("..", import.meta.url).pathname;
const dir = join(root, ".bench", "sync");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

console.log(`bench:sync: starting a 4-validator devnet with ${accountCount} funded accounts ...`);
const net = await startDevnet({
  validators: 4,
  dir,
  accounts: accountCount,
  providers: 0,
  basePort: Number(values["base-port"]),
  quiet: true,
  detach: true,
});
let joiner: CirrusNode | null = null;

try {
  const keys = JSON.parse(await Deno.readTextFile(join(dir, "bench_keys.json"))) as {
    address: string;
    privKey: string;
  }[];
  const accounts = keys.map((k) => ({ address: k.address, privKey: fromHex(k.privKey), nonce: 0n }));
  const rpcs = net.info.nodes.map((n) => n.rpc);
  const to = net.info.accounts.bob!;

  // Load: a round is one tx per account (account i to node i % N); a new round goes in whenever
  // node0's mempool holds less than one round, so that the chain never waits for txs.
  const status = async (rpc: string) =>
    await (await fetch(`${rpc}/status`)).json() as { height: number; mempool: { txs: number } };
  const h0 = (await status(rpcs[0]!)).height;
  const t0 = performance.now();
  let txs = 0;
  let h = h0;
  console.log(`driving the chain from height ${h0} to ${blocks} under load ...`);
  while (h < blocks) {
    const st = await status(rpcs[0]!);
    h = st.height;
    if (st.mempool.txs >= accounts.length) {
      await sleep(10);
      continue;
    }
    const signed = await Promise.all(accounts.map(async (a) => {
      const bytes = await signTx({
        chainId: net.info.chainId,
        type: "bank.send",
        from: a.address,
        nonce: a.nonce,
        fee: 1n,
        body: { to, amount: "1" },
      }, a.privKey);
      a.nonce++;
      return bytes;
    }));
    await Promise.all(rpcs.map(async (rpc, n) => {
      const mine = signed.filter((_, i) => i % rpcs.length === n).map((b) => toHex(b));
      if (mine.length === 0) return;
      const r = await fetch(`${rpc}/txs`, { method: "POST", body: JSON.stringify({ txs: mine }) });
      const body = await r.json() as { results: { error?: string }[] };
      txs += body.results.filter((x) => x.error === undefined).length;
    }));
  }
  const chainSeconds = (performance.now() - t0) / 1000;
  const chainBlocksPerSec = (h - h0) / chainSeconds;
  console.log(
    `  chain: ${h - h0} blocks in ${chainSeconds.toFixed(1)} s (${
      chainBlocksPerSec.toFixed(1)
    } blocks/s), ${txs} txs`,
  );

  // Join and sync.
  const home = join(dir, "joiner");
  await Deno.remove(home, { recursive: true }).catch(() => {});
  const joined = await joinNetwork({
    url: rpcs[0]!,
    home,
    moniker: "joiner",
    p2pListen: "/ip4/127.0.0.1/tcp/0",
    rpcListen: "127.0.0.1:0",
  });
  const target = (await status(rpcs[0]!)).height;
  console.log(`joined (genesis ${joined.genesisHash.slice(0, 16)}...), syncing to height ${target} ...`);
  const t1 = performance.now();
  joiner = await CirrusNode.fromHome(home, { validator: false, transport: "tcp" });
  catchUpOnConnect(joiner); // as `node start` does
  const started = (performance.now() - t1) / 1000;
  let firstBlockS = -1;
  while (joiner.chain.height < target) {
    if (performance.now() - t1 > 600_000) throw new Error(`not synced in 10 min: at ${joiner.chain.height}`);
    if (firstBlockS < 0 && joiner.chain.height > 0) firstBlockS = (performance.now() - t1) / 1000;
    await sleep(5);
  }
  const seconds = (performance.now() - t1) / 1000;
  console.log(
    `  node started in ${started.toFixed(2)} s, first block applied at ${firstBlockS.toFixed(2)} s`,
  );
  const blocksPerSec = target / seconds;
  console.log(`  synced ${target} blocks in ${seconds.toFixed(2)} s (${blocksPerSec.toFixed(0)} blocks/s)`);
  const out = {
    blocks: target,
    txs,
    seconds: Number(seconds.toFixed(2)),
    blocksPerSec: Math.round(blocksPerSec),
    chainBlocksPerSec: Number(chainBlocksPerSec.toFixed(1)),
    speedup: Number((blocksPerSec / chainBlocksPerSec).toFixed(1)),
    firstBlockSeconds: Number(firstBlockS.toFixed(2)),
  };
  console.log(JSON.stringify(out));
} finally {
  await joiner?.stop();
  await net.stop();
}
Deno.exit(0);
