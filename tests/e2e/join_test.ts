/**
 * End to end with real processes, as a script would do it: `cirrus devnet` runs 2 validators; a new
 * home is made with `node init --join` against the RPC URL that `devnet.json` gives, `node start`
 * syncs and follows the chain, connected to both validators though bootstrapped to one; started with
 * `--validator`, `staking create-validator --node-home` puts it in the active set of exactly two heights
 * after the tx's commit (`query validators --output json`), `query validator` shows its bond, and it
 * signs commits (issue 9's "a fifth node joins, stakes, is in the set"); at stop it leaves its peer file.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { type Devnet, startDevnet } from "../../cli/devnet.ts";
import { cli, root } from "../helpers/cli.ts";
import { waitFor } from "../helpers/wait.ts";

let net: Devnet;
let dir = "";
let basePort = 0;

test.before(async () => {
  dir = await Deno.makeTempDir({ prefix: "cirrus-join-e2e-" });
  basePort = 30000 + Math.floor(Math.random() * 300) * 100;
  net = await startDevnet({
    validators: 2,
    dir: join(dir, "devnet"),
    accounts: 0,
    providers: 0,
    basePort,
    quiet: true,
    detach: true,
    consensusParams: { createEmptyBlocksIntervalMs: 500 }, // blocks keep coming: something to follow
  });
});

test.after(async () => {
  await net?.stop();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
});

test("node init --join + node start: syncs, follows, finds the other validator, keeps its peers", async () => {
  const info = JSON.parse(await Deno.readTextFile(join(dir, "devnet", "devnet.json")));
  const home = join(dir, "node5");
  const init = await cli(
    "node",
    "init",
    "--join",
    info.nodes[0].rpc,
    "--home",
    home,
    "--moniker",
    "node5",
    "--p2p-listen",
    "/ip4/127.0.0.1/tcp/0",
    "--rpc-listen",
    `127.0.0.1:${basePort + 90}`,
    "--output",
    "json",
  );
  assert.is(init.code, 0, init.stderr);
  const joined = JSON.parse(init.stdout);
  assert.match(joined.genesisHash, /^[0-9a-f]{64}$/);
  // bootstrapped to node0 only: node1 must be found through discovery
  const cfgPath = join(home, "config.json");
  const cfg = JSON.parse(await Deno.readTextFile(cfgPath));
  cfg.bootstrap = cfg.bootstrap.filter((a: string) => a.endsWith(info.nodes[0].p2p.split("/p2p/")[1]));
  assert.is(cfg.bootstrap.length, 1);
  await Deno.writeTextFile(cfgPath, JSON.stringify(cfg));

  const proc = new Deno.Command(join(root, "cirrus"), {
    args: ["node", "start", "--home", home, "--validator"],
    cwd: root,
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    const rpc = `http://127.0.0.1:${basePort + 90}`;
    const status = async () => {
      try {
        return await (await fetch(`${rpc}/status`)).json() as { height: number; peers: number };
      } catch {
        return { height: -1, peers: 0 };
      }
    };
    const chainHeight = async () =>
      (await (await fetch(`${info.nodes[1].rpc}/status`)).json()).height as number;
    const target = await chainHeight() + 3;
    await waitFor(async () => (await status()).height >= target, 60_000, `node5 at height ${target}`, 200);
    await waitFor(async () => (await status()).peers >= 2, 30_000, "node5 connected to both validators", 200);
    const h = (await status()).height;
    const a = await (await fetch(`${rpc}/query/block/${h}`)).json();
    const b = await (await fetch(`${info.nodes[1].rpc}/query/block/${h}`)).json();
    assert.is(a.hash, b.hash, "same block");

    // stake: in the set two heights later, then its signature is in the commits
    const stake = await cli(
      "staking",
      "create-validator",
      "--amount",
      "10000000",
      "--from",
      "alice",
      "--node-home",
      home,
      "--home",
      info.home,
      "--node",
      info.nodes[0].rpc,
      "--output",
      "json",
    );
    assert.is(stake.code, 0, stake.stderr + stake.stdout);
    const staked = JSON.parse(stake.stdout) as { height: number; operator: string; cons: string };
    assert.is(staked.cons, joined.validator, "the consensus key is the one of node5's home");
    const txHeight = staked.height;
    assert.ok(txHeight > 0, `committed at height ${txHeight}`);

    // In the active set two heights after the tx's commit, not later (and not before): a row's
    // `active` is membership in the set of the query's height + 1, so every answer at height q says
    // active exactly when q + 1 >= txHeight + 2. Polled through the RPC (the JSON that
    // `query validators --output json` prints as is) until the set of txHeight + 2 was seen.
    type Row = { operator: string; cons: string; active: boolean; tokens: string; selfBond: string };
    const seen: { q: number; active: boolean }[] = [];
    await waitFor(
      async () => {
        const r = await (await fetch(`${info.nodes[1].rpc}/query/validators`)).json() as {
          height: number;
          validators: Row[];
        };
        const row = r.validators.find((v) => v.cons === joined.validator);
        seen.push({ q: r.height, active: row?.active === true });
        return r.height + 1 >= txHeight + 2;
      },
      30_000,
      `the set of height ${txHeight + 2}`,
      50,
    );
    for (const { q, active } of seen) {
      assert.is(active, q + 1 >= txHeight + 2, `active in the set of height ${q + 1} (tx at ${txHeight})`);
    }
    const list = await cli("query", "validators", "--output", "json", "--node", info.nodes[0].rpc);
    assert.is(list.code, 0, list.stderr);
    const listed = JSON.parse(list.stdout) as { height: number; validators: Row[] };
    assert.ok(listed.height + 1 >= txHeight + 2);
    const mine = listed.validators.find((v) => v.cons === joined.validator);
    assert.ok(mine?.active, `query validators lists node5 as active: ${list.stdout}`);
    assert.is(mine!.operator, staked.operator);
    const one = await cli(
      "query",
      "validator",
      joined.validator,
      "--output",
      "json",
      "--node",
      info.nodes[0].rpc,
    );
    assert.is(one.code, 0, one.stderr);
    const v = JSON.parse(one.stdout) as Row;
    assert.is(v.selfBond, "10000000", "query validator shows its bond");
    assert.ok(BigInt(v.tokens) >= 10_000_000n, `tokens ${v.tokens}`);

    const signedBy = async (height: number): Promise<string[]> => {
      const r = await (await fetch(`${info.nodes[0].rpc}/query/block/${height}`)).json();
      return (r?.commit?.signatures ?? []) as string[];
    };
    await waitFor(
      async () => {
        const hh = await chainHeight();
        return hh > 1 && (await signedBy(hh)).includes(joined.validator);
      },
      60_000,
      "node5 signs commits",
      250,
    );
  } finally {
    proc.kill("SIGTERM");
    const done = await Promise.race([
      proc.status,
      new Promise<null>((r) => setTimeout(() => r(null), 15_000)),
    ]);
    if (done === null) {
      proc.kill("SIGKILL");
      await proc.status;
    }
  }
  const peers = JSON.parse(await Deno.readTextFile(join(home, "data", "peers.json")));
  assert.ok(peers.peers.length >= 2, `peer file: ${JSON.stringify(peers)}`);
});

test.run();
