/**
 * End to end with real processes: `cirrus devnet` starts 4 validator processes on loopback; the CLI
 * (as a user runs it) sends a transfer, and every node shows the new balances.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { type Devnet, startDevnet } from "../../cli/devnet.ts";
import { cli } from "../helpers/cli.ts";
import { sdlCorpus } from "../helpers/corpus.ts";

let net: Devnet;
/** Long enough (~6 s at ~9 blocks/s) for two CLI processes, started together on a loaded machine, to bid
 * in the same window. */
const BID_WINDOW = 60;
let dir = "";

test.before(async () => {
  dir = await Deno.makeTempDir({ prefix: "cirrus-devnet-" });
  const basePort = 30000 + Math.floor(Math.random() * 300) * 100;
  // A long bid window (BID_WINDOW blocks) lets two CLI processes bid in the same window.
  net = await startDevnet({
    validators: 4,
    dir,
    accounts: 0,
    basePort,
    quiet: true,
    detach: true,
    marketParams: { bidWindowBlocks: BID_WINDOW },
    // At rest an empty block every second (devnet default 30 s): the SIGKILL test counts blocks made
    // with no tx in flight.
    consensusParams: { createEmptyBlocksIntervalMs: 1_000 },
    providerNodes: false, // the providers bid by hand here
  });
});

test.after(async () => {
  await net?.stop();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
});

test("devnet.json lists chain id, CLI home, nodes and accounts", async () => {
  const info = JSON.parse(await Deno.readTextFile(join(dir, "devnet.json")));
  assert.is(info.chainId, "cirrus-devnet");
  assert.is(info.nodes.length, 4);
  for (const n of info.nodes) {
    assert.match(n.rpc, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(n.p2p, /^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\w+$/);
  }
  assert.match(info.accounts.alice, /^cirrus1/);
  assert.match(info.accounts.bob, /^cirrus1/);
});

test("status --output json has chainId, height, hash, peers", async () => {
  const r = await cli("status", "--node", net.info.nodes[0]!.rpc, "--output", "json");
  assert.is(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.is(s.chainId, "cirrus-devnet");
  assert.ok(s.height >= 1);
  assert.match(s.hash, /^[0-9a-f]{64}$/);
  assert.ok(s.peers >= 1);
});

test("tx send commits and every node shows the new balances", async () => {
  const { alice, bob } = net.info.accounts;
  const before = JSON.parse(
    (await cli("query", "account", bob!, "--node", net.info.nodes[0]!.rpc, "--output", "json")).stdout,
  );
  const r = await cli(
    "tx",
    "send",
    "alice",
    bob!,
    "1000",
    "--home",
    net.info.home,
    "--node",
    net.info.nodes[0]!.rpc,
    "--output",
    "json",
  );
  assert.is(r.code, 0, r.stderr);
  const sent = JSON.parse(r.stdout);
  assert.match(sent.txId, /^[0-9a-f]{64}$/);
  assert.type(sent.height, "number");
  const expected = (BigInt(before.balance) + 1000n).toString();
  for (const node of net.info.nodes) {
    let acct: { balance: string; nonce: string } = { balance: "", nonce: "" };
    for (let i = 0; i < 50; i++) {
      const q = await cli("query", "account", bob!, "--node", node.rpc, "--output", "json");
      acct = JSON.parse(q.stdout);
      if (acct.balance === expected) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.is(acct.balance, expected, `${node.name} shows bob's new balance`);
    const a = JSON.parse(
      (await cli("query", "account", alice!, "--node", node.rpc, "--output", "json")).stdout,
    );
    assert.is(a.nonce, "1");
  }
  const b = JSON.parse(
    (await cli("query", "block", String(sent.height), "--node", net.info.nodes[2]!.rpc, "--output", "json"))
      .stdout,
  );
  assert.is(b.height, sent.height);
  assert.ok(b.txs.includes(sent.txId));
  const t = JSON.parse(
    (await cli("query", "tx", sent.txId, "--node", net.info.nodes[3]!.rpc, "--output", "json")).stdout,
  );
  assert.is(t.height, sent.height);
});

test("errors are one line on stderr with a non-zero exit", async () => {
  const cases = [
    ["tx", "send", "alice", "notanaddress", "5", "--home", net.info.home, "--node", net.info.nodes[0]!.rpc],
    [
      "tx",
      "send",
      "nobody",
      net.info.accounts.bob!,
      "5",
      "--home",
      net.info.home,
      "--node",
      net.info.nodes[0]!.rpc,
    ],
    [
      "tx",
      "send",
      "alice",
      net.info.accounts.bob!,
      "-5",
      "--home",
      net.info.home,
      "--node",
      net.info.nodes[0]!.rpc,
    ],
    [
      "tx",
      "send",
      "alice",
      net.info.accounts.bob!,
      "99999999999999999999",
      "--home",
      net.info.home,
      "--node",
      net.info.nodes[0]!.rpc,
    ],
    ["query", "block", "999999", "--node", net.info.nodes[0]!.rpc],
    ["status", "--node", "http://127.0.0.1:9"],
  ];
  for (const args of cases) {
    const r = await cli(...args);
    assert.is.not(r.code, 0, args.join(" "));
    const lines = r.stderr.trim().split("\n");
    assert.is(lines.length, 1, `one line for ${args.join(" ")}: ${r.stderr}`);
    assert.match(lines[0]!, /^error: /);
    assert.not.match(r.stderr, /\bat .*\.ts:\d+/);
  }
});

test("keys add/list/show/export/import round trip with 0600 files", async () => {
  const home = await Deno.makeTempDir({ prefix: "cirrus-keys-" });
  try {
    const add = JSON.parse((await cli("keys", "add", "carol", "--home", home, "--output", "json")).stdout);
    assert.match(add.address, /^cirrus1[02-9ac-hj-np-z]{38}$/);
    const st = await Deno.stat(join(home, "keys", "carol.json"));
    assert.is(st.mode! & 0o777, 0o600);
    const show = await cli("keys", "show", "carol", "--address", "--home", home);
    assert.is(show.stdout.trim(), add.address);
    const exp = await cli("keys", "export", "carol", "--home", home);
    await Deno.writeTextFile(join(home, "carol.key"), exp.stdout);
    const imp = JSON.parse(
      (await cli("keys", "import", "carol2", join(home, "carol.key"), "--home", home, "--output", "json"))
        .stdout,
    );
    assert.is(imp.address, add.address);
    const list = JSON.parse((await cli("keys", "list", "--home", home, "--output", "json")).stdout);
    assert.equal(list.keys.map((k: { name: string }) => k.name), ["carol", "carol2"]);
    const dup = await cli("keys", "add", "carol", "--home", home);
    assert.is(dup.code, 1);
    assert.match(dup.stderr, /already exists/);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

const corpus = sdlCorpus("the corpus SDL marketplace test");

corpus.test("marketplace by CLI: a corpus SDL, two bids, the cheaper wins, escrow falls, close refunds", async () => {
  const node = net.info.nodes[0]!.rpc;
  const common = ["--home", net.info.home, "--node", node, "--output", "json"];
  const sdlText = (await Deno.readTextFile(corpus.url("CodiMD.yaml")))
    .replace(/\bua[ck]t\b/g, "ucrs");
  const sdlFile = join(dir, "codimd.yaml");
  await Deno.writeTextFile(sdlFile, sdlText);
  const v = await cli("deployment", "validate", sdlFile, "--output", "json");
  assert.is(v.code, 0, v.stdout + v.stderr);
  const created = await cli(
    "deployment",
    "create",
    sdlFile,
    "--deposit",
    "50000000",
    "--from",
    "alice",
    ...common,
  );
  assert.is(created.code, 0, created.stderr);
  const dep = JSON.parse(created.stdout);
  assert.type(dep.dseq, "number");
  assert.match(dep.txId, /^[0-9a-f]{64}$/);
  assert.is(dep.orders.length, 1);
  const order = dep.orders[0];
  const [b1, b2] = await Promise.all([
    cli("bid", "create", order, "--price", "150", "--from", "provider1", ...common),
    cli("bid", "create", order, "--price", "120", "--from", "provider2", ...common),
  ]);
  assert.is(b1.code, 0, b1.stderr);
  assert.is(b2.code, 0, b2.stderr);
  const bidHeight = Math.max(JSON.parse(b1.stdout).height, JSON.parse(b2.stdout).height);
  let leases: { id: string; provider: string; price: { denom: string; amount: string }; state: string }[] =
    [];
  for (let i = 0; i < 400 && leases.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    leases = JSON.parse((await cli("query", "leases", "--owner", net.info.accounts.alice!, ...common)).stdout)
      .leases;
  }
  assert.is(leases.length, 1, "one lease");
  assert.is(leases[0]!.provider, net.info.accounts.provider2, "the cheaper provider won");
  assert.equal(leases[0]!.price, { denom: "ucrs", amount: "120" });
  assert.is(leases[0]!.state, "active");
  const lease = JSON.parse(
    (await cli("query", "leases", "--provider", net.info.accounts.provider2!, ...common)).stdout,
  );
  assert.ok(lease.leases[0].createdAt <= bidHeight + BID_WINDOW + 1, "within bidWindowBlocks + 1 blocks");
  // Escrow falls by the price each block.
  const e1 = JSON.parse(
    (await cli("query", "escrow", String(dep.dseq), "--from", "alice", ...common)).stdout,
  );
  await new Promise((r) => setTimeout(r, 1500));
  const e2 = JSON.parse(
    (await cli("query", "escrow", String(dep.dseq), "--from", "alice", ...common)).stdout,
  );
  assert.ok(e2.height > e1.height);
  assert.is(BigInt(e1.balance) - BigInt(e2.balance), 120n * BigInt(e2.height - e1.height));
  assert.ok(typeof e2.blocksRemaining === "number" && e2.blocksRemaining > 0);
  // Close: the rest comes back.
  const before = JSON.parse((await cli("query", "account", net.info.accounts.alice!, ...common)).stdout);
  const closed = await cli("deployment", "close", String(dep.dseq), "--from", "alice", ...common);
  assert.is(closed.code, 0, closed.stderr);
  const refund = BigInt(JSON.parse(closed.stdout).refund);
  assert.ok(refund > 0n && refund < 50_000_000n);
  const after = JSON.parse((await cli("query", "account", net.info.accounts.alice!, ...common)).stdout);
  assert.is(BigInt(after.balance) - BigInt(before.balance), refund - 1n, "refund minus the close tx fee");
  const status = JSON.parse(
    (await cli("deployment", "status", String(dep.dseq), "--from", "alice", ...common)).stdout,
  );
  assert.is(status.state, "closed");
  // Someone else's deployment cannot be closed.
  const other = await cli("deployment", "close", String(dep.dseq), "--from", "bob", ...common);
  assert.is(other.code, 1);
  assert.match(other.stderr, /not found/);
});

test("a validator killed with SIGKILL restarts from its store and WAL, catches up and never double-signs", async () => {
  const status = async (i: number) => {
    const r = await cli("status", "--node", net.info.nodes[i]!.rpc, "--output", "json");
    return r.code === 0 ? JSON.parse(r.stdout) as { height: number } : null;
  };
  await net.kill(2, "SIGKILL");
  const h0 = (await status(0))!.height;
  // The other three go on.
  for (let i = 0; i < 100 && ((await status(0))?.height ?? 0) < h0 + 5; i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok((await status(0))!.height >= h0 + 5, "3 of 4 keep committing");
  await net.respawn(2);
  let caught = false;
  for (let i = 0; i < 200 && !caught; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const [a, b] = [await status(0), await status(2)];
    caught = !!a && !!b && b.height >= a.height - 1 && b.height > h0 + 5;
  }
  assert.ok(caught, "the restarted node caught up");
  for (const node of net.info.nodes) {
    const log = await Deno.readTextFile(join(node.home, "node.log"));
    assert.not.match(log, /duplicate vote evidence/, `${node.name} saw no double-sign`);
    assert.not.match(log, /consensus task failed/, `${node.name} had no consensus errors`);
  }
});

test.run();
