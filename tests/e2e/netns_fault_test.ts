/**
 * Real network faults: 4 validator processes, each in its own network namespace on a bridge (addresses
 * from 198.18.0.0/15), talking TCP through veth pairs. Links are slowed (delay 50ms +- 10ms, 1% loss),
 * cut (`ip link set DEV down`) and healed while the chain runs:
 * - with delay and loss on every link the 4 keep committing and agree on block hashes;
 * - with one validator cut off the other 3 go on, it stands still, and after the heal it catches up;
 * - with two cut off nobody commits (safety); with one of them back the chain goes on;
 * - transfers sent before, during and after the partitions leave identical balances on every node.
 * Needs root and iproute2; elsewhere the file is reported as skipped, with the reason. Every namespace,
 * link and process it made is removed at the end, also when a test fails.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { initHome, loadHome, writeGenesis } from "../../node/config.ts";
import { devnetGenesis, type DevnetValidator } from "../../node/ledger/devnet_genesis.ts";
import { addressOf, generatePrivateKey, publicKeyOf, toHex } from "../../lib/crypto.ts";
import { signTx } from "../../node/ledger/tx.ts";
import { createLab, type Lab, leftovers, netnsAvailable, run, stopProcess } from "../helpers/netns.ts";
import { root } from "../helpers/cli.ts";
import { spawnToLog } from "../../cli/devnet.ts";
import { peerIdFromSeed } from "../../node/p2p.ts";
import { sleep } from "../helpers/wait.ts";

const N = 4;
const CHAIN_ID = "cirrus-netns";
const BALANCE = 1_000_000_000_000n;
const P2P_PORT = 26656;
const RPC_PORT = 26657;
const NAMES = [
  "with delay 50ms+-10ms and 1% loss on every link, 4 validators commit >= 10 blocks and agree",
  "node3 cut off for 10 s: the other 3 commit >= 5 blocks, node3 stands still; healed, it catches up and agrees",
  "nodes 2 and 3 cut off: no block for 5 s (safety); node2 healed: the chain goes on",
  "transfers before, during and after the partitions: identical balances on all 4 nodes",
];

const avail = await netnsAvailable();
if (!avail.ok) {
  console.log(
    `SKIP netns fault tests: network namespaces are not usable here (${avail.reason}); run as root`,
  );
  for (const name of NAMES) test.skip(name, () => {});
} else {
  let lab: Lab | null = null;
  let dir = "";
  const procs: (Deno.ChildProcess | null)[] = [];
  const homes: string[] = [];
  let failed = false;
  let tornDown = false;
  const alice = generatePrivateKey();
  const aliceAddr = addressOf(publicKeyOf(alice));
  const bobAddr = addressOf(publicKeyOf(generatePrivateKey()));
  let nonce = 0n;
  let sent = 0n; // sum of amounts
  let fees = 0n;
  const t0 = performance.now();
  const elapsed = () => `${((performance.now() - t0) / 1000).toFixed(1)}s`;

  const rpc = (i: number) => `http://${lab!.hosts[i]!.ip}:${RPC_PORT}`;

  /** GET over the bridge (from the test process); null when the node does not answer in time. */
  const getJson = async <T>(i: number, path: string, ms = 3_000): Promise<T | null> => {
    try {
      const res = await fetch(`${rpc(i)}${path}`, { signal: AbortSignal.timeout(ms) });
      if (!res.ok) {
        await res.body?.cancel();
        return null;
      }
      return await res.json() as T;
    } catch {
      return null;
    }
  };
  /** GET from inside node i's namespace (works while its link is cut). */
  const getJsonInside = async <T>(i: number, path: string): Promise<T | null> => {
    const r = await lab!.exec(i, "curl", ["-s", "-f", "-m", "3", `${rpc(i)}${path}`]);
    if (r.code !== 0) return null;
    try {
      return JSON.parse(r.stdout) as T;
    } catch {
      return null;
    }
  };
  type Status = { height: number; hash: string; peers: number };
  const status = (i: number) => getJson<Status>(i, "/status");
  const heightInside = async (i: number) => (await getJsonInside<Status>(i, "/status"))?.height ?? null;

  /** Heights of the given nodes (null: no answer). */
  const heights = (nodes: number[]) => Promise.all(nodes.map(async (i) => (await status(i))?.height ?? null));

  /** Poll `fn` every 250 ms until it returns true or `ms` passes. */
  const until = async (ms: number, fn: () => Promise<boolean>): Promise<boolean> => {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (await fn().catch(() => false)) return true;
      await sleep(250);
    }
    return false;
  };

  /** Wait until every node in `nodes` is at height >= h; returns the heights seen last. */
  const waitHeights = async (nodes: number[], h: number, ms: number): Promise<(number | null)[]> => {
    let last: (number | null)[] = [];
    await until(ms, async () => {
      last = await heights(nodes);
      return last.every((x) => x !== null && x >= h);
    });
    return last;
  };

  /** Block hashes of height h on the given nodes. */
  const hashesAt = (nodes: number[], h: number) =>
    Promise.all(
      nodes.map(async (i) => (await getJson<{ hash: string }>(i, `/query/block/${h}`))?.hash ?? null),
    );

  const assertSameHashes = async (nodes: number[], what: string) => {
    const hs = await heights(nodes);
    assert.ok(hs.every((x) => x !== null), `${what}: every node answers /status (${hs})`);
    const common = Math.min(...(hs as number[]));
    const hashes = await hashesAt(nodes, common);
    assert.ok(
      hashes.every((x) => x !== null && x === hashes[0]),
      `${what}: identical block hash at common height ${common} on nodes ${nodes}: ${hashes.join(" ")}`,
    );
    return common;
  };

  /** Sign a bank.send alice -> bob and POST it to node i with wait. */
  const transfer = async (i: number, amount: bigint) => {
    const bytes = await signTx({
      chainId: CHAIN_ID,
      type: "bank.send",
      from: aliceAddr,
      nonce,
      fee: 1n,
      body: { to: bobAddr, amount: amount.toString() },
    }, alice);
    const res = await fetch(`${rpc(i)}/tx`, {
      method: "POST",
      body: JSON.stringify({ tx: toHex(bytes), wait: true, timeoutMs: 30_000 }),
      signal: AbortSignal.timeout(35_000),
    });
    const r = await res.json() as { ok?: boolean; height?: number; error?: string; reason?: string };
    assert.ok(res.ok && r.ok === true, `transfer ${nonce} via node${i} committed: ${JSON.stringify(r)}`);
    nonce += 1n;
    sent += amount;
    fees += 1n;
    return r.height!;
  };

  const spawnNode = async (i: number): Promise<Deno.ChildProcess> => {
    const lh = lab!.hosts;
    const bootstrap: string[] = [];
    for (let j = 0; j < N; j++) {
      if (j === i) continue;
      bootstrap.push("--bootstrap", `/ip4/${lh[j]!.ip}/tcp/${P2P_PORT}/p2p/${peerIds[j]}`);
    }
    return await spawnToLog(
      "ip",
      [
        ...lab!.execPrefix(i).slice(1),
        Deno.execPath(),
        "run",
        "-A",
        "--config",
        join(root, "deno.json"),
        join(root, "cli", "main.ts"),
        "node",
        "start",
        "--home",
        homes[i]!,
        "--validator",
        "--p2p-listen",
        `/ip4/${lh[i]!.ip}/tcp/${P2P_PORT}`,
        "--rpc-listen",
        `${lh[i]!.ip}:${RPC_PORT}`,
        ...bootstrap,
      ],
      join(homes[i]!, "node.log"),
      true,
    );
  };
  const peerIds: string[] = [];

  const teardown = async () => {
    if (tornDown) return;
    tornDown = true;
    await Promise.all(procs.map((p) => p ? stopProcess(p, 5_000) : Promise.resolve()));
    if (failed && dir) {
      for (const [i, home] of homes.entries()) {
        const text = await Deno.readTextFile(join(home, "node.log")).catch(() => "");
        const tail = text.trimEnd().split("\n").slice(-25).join("\n");
        console.log(`--- node${i} log (last 25 lines) ---\n${tail}`);
      }
    }
    const tag = lab?.tag;
    await lab?.cleanup();
    if (tag) {
      const left = await leftovers(tag);
      if (left.length > 0) console.log(`netns: left behind after cleanup: ${left.join(", ")}`);
    }
    if (dir) await Deno.remove(dir, { recursive: true }).catch(() => {});
    console.log(`netns fault tests: torn down after ${elapsed()}`);
  };
  // Ctrl-C / SIGTERM of the test process: still remove the namespaces.
  const onSignal = () => {
    void teardown().finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);

  test.before(async () => {
    try {
      dir = await Deno.makeTempDir({ prefix: "cirrus-netns-" });
      lab = await createLab(N);
      const validators: DevnetValidator[] = [];
      for (let i = 0; i < N; i++) {
        const home = join(dir, `node${i}`);
        await initHome({
          home,
          moniker: `node${i}`,
          chainId: CHAIN_ID,
          p2pListen: `/ip4/${lab.hosts[i]!.ip}/tcp/${P2P_PORT}`,
          rpcListen: `${lab.hosts[i]!.ip}:${RPC_PORT}`,
        });
        homes.push(home);
        const h = await loadHome(home);
        validators.push({ name: `node${i}`, address: h.validatorKey.address, pubKey: h.validatorKey.pubKey });
        peerIds.push(await peerIdFromSeed(h.nodeKey.privKey));
      }
      const genesis = devnetGenesis({
        chainId: CHAIN_ID,
        genesisTime: new Date().toISOString(),
        validators,
        accounts: [
          { name: "alice", address: aliceAddr, balance: BALANCE.toString() },
          { name: "bob", address: bobAddr, balance: BALANCE.toString() },
        ],
        // Short timeouts: quick round changes while a partition stalls consensus.
        consensus: {
          timeoutProposeMs: 600,
          timeoutPrevoteMs: 300,
          timeoutPrecommitMs: 300,
          timeoutDeltaMs: 150,
        },
      });
      for (const home of homes) await writeGenesis(home, genesis);
      for (let i = 0; i < N; i++) procs.push(await spawnNode(i));
      const hs = await waitHeights([0, 1, 2, 3], 2, 60_000);
      assert.ok(
        hs.every((h) => h !== null && h >= 2),
        `4 validators in namespaces answer and commit 2 blocks within 60 s (heights ${hs})`,
      );
      console.log(`netns: 4 validators on ${lab.prefix}.0/24 committing after ${elapsed()}`);
      await transfer(0, 1000n); // before any fault
    } catch (e) {
      failed = true;
      throw e;
    }
  });

  test.after(async () => {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
    await teardown();
  });

  /** A test that marks the run failed (for the log tails at teardown). */
  const t = (name: string, fn: () => Promise<void>) =>
    test(name, async () => {
      const start = performance.now();
      try {
        await fn();
      } catch (e) {
        failed = true;
        throw e;
      } finally {
        console.log(
          `netns: "${name.slice(0, 40)}..." took ${((performance.now() - start) / 1000).toFixed(1)}s`,
        );
      }
    });

  t(NAMES[0]!, async () => {
    const modes = new Set<string>();
    for (let i = 0; i < N; i++) modes.add(await lab!.netem(i, "delay 50ms 10ms loss 1%"));
    console.log(`netns: link shaping with ${[...modes].join(", ")}`);
    try {
      // The shaping is in effect: a TCP connect from the bridge to each node takes >= 40 ms (SYN delayed).
      for (let i = 0; i < N; i++) {
        const r = await run("curl", [
          "-s",
          "-o",
          "/dev/null",
          "-m",
          "5",
          "-w",
          "%{time_connect}",
          `${rpc(i)}/status`,
        ]);
        const connectMs = Number(r.stdout) * 1000;
        assert.ok(
          connectMs >= 35,
          `node${i}: TCP connect through the shaped link takes ${connectMs} ms (>= 35)`,
        );
      }
      const h0 = Math.max(...((await heights([0, 1, 2, 3])).map((h) => h ?? 0)));
      const start = performance.now();
      await transfer(1, 2000n);
      await transfer(2, 3000n);
      const hs = await waitHeights([0, 1, 2, 3], h0 + 10, 60_000);
      assert.ok(
        hs.every((h) => h !== null && h >= h0 + 10),
        `with delay and loss all 4 reach height ${h0 + 10} (from ${h0}) within 60 s; heights ${hs}`,
      );
      console.log(`netns: 10 blocks under delay+loss in ${((performance.now() - start) / 1000).toFixed(1)}s`);
      await assertSameHashes([0, 1, 2, 3], "under delay and loss");
    } finally {
      for (let i = 0; i < N; i++) await lab!.clearNetem(i);
    }
  });

  t(NAMES[1]!, async () => {
    await lab!.cut(3);
    await sleep(500); // what was in flight is gone with the link
    const h3a = await heightInside(3);
    assert.ok(h3a !== null, "node3 answers /status from inside its namespace while cut off");
    const maj0 = Math.max(...((await heights([0, 1, 2])).map((h) => h ?? 0)));
    await transfer(1, 4000n); // during the partition, through the majority
    const cutAt = Date.now();
    const hs = await waitHeights([0, 1, 2], maj0 + 5, 30_000);
    // Keep it cut for 10 s at least: long enough for TCP retransmits to back off and idle checks to fire.
    await sleep(Math.max(0, cutAt + 10_000 - Date.now()));
    assert.ok(
      hs.every((h) => h !== null && h >= maj0 + 5),
      `without node3 the other 3 reach height ${maj0 + 5} (from ${maj0}) within 30 s; heights ${hs}`,
    );
    const h3b = await heightInside(3);
    assert.is(h3b, h3a, `node3, cut off, stands still at height ${h3a} (now ${h3b})`);
    await lab!.heal(3);
    const healed = performance.now();
    let last: (number | null)[] = [];
    const caught = await until(60_000, async () => {
      last = await heights([0, 1, 2, 3]);
      if (last.some((h) => h === null)) return false;
      const others = Math.min(...(last.slice(0, 3) as number[]));
      return last[3]! > h3b! && last[3]! >= others - 1;
    });
    assert.ok(caught, `healed node3 catches up to within 1 block of the others within 60 s; heights ${last}`);
    console.log(`netns: node3 caught up ${((performance.now() - healed) / 1000).toFixed(1)}s after the heal`);
    await assertSameHashes([0, 1, 2, 3], "after node3's heal");
  });

  t(NAMES[2]!, async () => {
    await lab!.cut(2);
    await lab!.cut(3);
    await sleep(1_000); // a block whose votes were already in flight may still land
    const a = [...await heights([0, 1]), await heightInside(2), await heightInside(3)];
    assert.ok(a.every((h) => h !== null), `every node answers while 2 and 3 are cut off (${a})`);
    await sleep(5_000);
    const b = [...await heights([0, 1]), await heightInside(2), await heightInside(3)];
    assert.equal(b, a, `with 2 of 4 validators cut off no node commits for 5 s (before ${a}, after ${b})`);
    await lab!.heal(2);
    const healed = performance.now();
    const goal = Math.max(...(a as number[])) + 3;
    const hs = await waitHeights([0, 1, 2], goal, 60_000);
    assert.ok(
      hs.every((h) => h !== null && h >= goal),
      `with node2 back (3 of 4) nodes 0-2 reach height ${goal} within 60 s; heights ${hs}`,
    );
    console.log(
      `netns: 3 of 4 committing again ${((performance.now() - healed) / 1000).toFixed(1)}s after the heal`,
    );
    await transfer(2, 5000n); // with node3 still cut off
    const h3 = await heightInside(3);
    assert.is(h3, a[3], `node3, still cut off, stays at ${a[3]}`);
    await lab!.heal(3);
    await assertSameHashes([0, 1, 2], "after node2's heal");
  });

  t(NAMES[3]!, async () => {
    // node3 was cut off twice; once it is back within a block of the others, send through it.
    const healed = performance.now();
    let last: (number | null)[] = [];
    const caught = await until(60_000, async () => {
      last = await heights([0, 1, 2, 3]);
      if (last.some((h) => h === null)) return false;
      return last[3]! >= Math.min(...(last.slice(0, 3) as number[])) - 1;
    });
    assert.ok(caught, `node3, healed again, catches up to within 1 block within 60 s; heights ${last}`);
    console.log(
      `netns: node3 caught up ${((performance.now() - healed) / 1000).toFixed(1)}s after its 2nd heal`,
    );
    await transfer(3, 6000n); // after every heal, through the node that was cut off twice
    const expAlice = (BALANCE - sent - fees).toString();
    const expBob = (BALANCE + sent).toString();
    let seen: string[] = [];
    const same = await until(60_000, async () => {
      seen = await Promise.all([0, 1, 2, 3].map(async (i) => {
        const a = await getJson<{ balance: string; nonce: string }>(i, `/query/account/${aliceAddr}`);
        const b = await getJson<{ balance: string }>(i, `/query/account/${bobAddr}`);
        return `${a?.balance}/${a?.nonce}/${b?.balance}`;
      }));
      return seen.every((s) => s === `${expAlice}/${nonce}/${expBob}`);
    });
    assert.ok(
      same,
      `every node shows alice ${expAlice} (nonce ${nonce}) and bob ${expBob} within 60 s: ${
        seen.join(" | ")
      }`,
    );
    await assertSameHashes([0, 1, 2, 3], "at the end");
    for (const [i, home] of homes.entries()) {
      const log = await Deno.readTextFile(join(home, "node.log"));
      assert.not.match(log, /duplicate vote evidence/, `node${i} saw no double-sign`);
      assert.not.match(log, /consensus task failed/, `node${i} had no consensus errors`);
    }
  });
}

test.run();
