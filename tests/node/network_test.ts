/**
 * Real nodes in one process (LevelDB, WAL) over the simulated network on simulated time: agreement,
 * liveness with one validator down, safety with two down, and restart from the store and WAL.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { blockHash, cirrusLedger, decodeBlock } from "../../node/ledger/mod.ts";
import { decodeCommit, encodeCommit } from "../../node/ledger/block.ts";
import { TestNet } from "../helpers/network.ts";
import { Chain } from "../../node/chain.ts";
import { signTx } from "../../node/ledger/tx.ts";

async function blockHashes(net: TestNet, i: number, upTo: number): Promise<string[]> {
  const out: string[] = [];
  for (let h = 1; h <= upTo; h++) {
    const bytes = await net.nodes[i]!.chain.store.getBlock(h);
    assert.ok(bytes, `node${i} has block ${h}`);
    const b = decodeBlock(bytes!);
    out.push(`${blockHash(b)}:${b.header.appHash}`);
  }
  return out;
}

test("4 validators commit 50 heights with identical block hashes and app hashes", async () => {
  const net = await TestNet.create({ validators: 4 });
  try {
    await net.startAll();
    // Transfers while blocks are made, so blocks carry txs and app hashes move.
    const [a, b] = net.accounts;
    for (let nonce = 0; nonce < 20; nonce++) {
      const bytes = await signTx({
        chainId: "cirrus-test",
        type: "bank.send",
        from: a!.address,
        nonce: BigInt(nonce),
        fee: 1n,
        body: { to: b!.address, amount: "10" },
      }, a!.privKey);
      const r = await net.nodes[0]!.submitTx(bytes);
      assert.ok(r.ok, `tx ${nonce} accepted: ${JSON.stringify(r)}`);
    }
    await net.waitHeight(50, 120_000);
    const ref = await blockHashes(net, 0, 50);
    for (let i = 1; i < 4; i++) {
      assert.equal(await blockHashes(net, i, 50), ref, `node${i} agrees with node0`);
    }
    for (let i = 0; i < 4; i++) {
      const acct = net.nodes[i]!.chain.state.account(b!.address);
      assert.is(acct?.balance, 1_000_000_000n + 200n, `node${i} sees all 20 transfers`);
    }
  } finally {
    await net.cleanup();
  }
});

test("with 1 of 4 validators stopped the other 3 keep committing", async () => {
  const net = await TestNet.create({ validators: 4 });
  try {
    await net.startAll();
    await net.waitHeight(3, 60_000);
    await net.stop(3);
    const h = net.nodes[0]!.chain.height;
    await net.waitHeight(h + 10, 60_000, [0, 1, 2]);
  } finally {
    await net.cleanup();
  }
});

test("with 2 of 4 stopped nothing commits; when one returns the chain goes on", async () => {
  const net = await TestNet.create({ validators: 4 });
  try {
    await net.startAll();
    await net.waitHeight(3, 60_000);
    await net.stop(2);
    await net.stop(3);
    await net.pass(300); // a block in flight may still commit
    const frozen = net.nodes.map((n) => n?.chain.height ?? -1);
    await net.pass(3000);
    assert.equal(net.nodes.map((n) => n?.chain.height ?? -1), frozen, "no commit without 2/3 of the power");
    await net.start(2);
    const top = Math.max(...frozen);
    await net.waitHeight(top + 5, 90_000, [0, 1, 2]);
  } finally {
    await net.cleanup();
  }
});

test("a validator restarted from its store and WAL continues without signing twice", async () => {
  const net = await TestNet.create({ validators: 4 });
  try {
    await net.startAll();
    await net.waitHeight(5, 60_000);
    await net.stop(1);
    await net.pass(500);
    const node = await net.start(1);
    const resumedAt = node.chain.height;
    assert.ok(resumedAt >= 5, `resumed from its store at ${resumedAt}`);
    const target = Math.max(...net.nodes.map((n) => n!.chain.height)) + 5;
    await net.waitHeight(target, 90_000);
    const ref = await blockHashes(net, 0, target);
    assert.equal(await blockHashes(net, 1, target), ref, "the restarted node agrees");
    // No duplicate-vote evidence was observed by anyone (no double-sign).
    for (const n of net.nodes) assert.is(n!.driver.evidenceCount, 0);
  } finally {
    await net.cleanup();
  }
});

test("a validator that joins late catches up through block sync; forged commits are refused", async () => {
  const net = await TestNet.create({ validators: 4 });
  try {
    for (const i of [0, 1, 2]) await net.start(i);
    await net.waitHeight(25, 90_000, [0, 1, 2]);
    // Forged: block 1 with its commit's signatures moved to another round -> signatures invalid.
    const blockBytes = (await net.nodes[0]!.chain.store.getBlock(1))!;
    const commit = decodeCommit((await net.nodes[0]!.chain.store.getCommit(1))!);
    const forged = encodeCommit({ ...commit, round: commit.round + 1 });
    const scratch = await Chain.open({
      dir: `${net.dir}/scratch`,
      genesis: net.genesis,
      ledger: cirrusLedger(),
    });
    try {
      const v = await scratch.validateBlock(blockBytes, { hash: commit.blockHash });
      assert.ok(v.ok, "block 1 itself is valid");
      const why = await scratch.verifyCommit(decodeCommit(forged), 1, commit.blockHash);
      assert.match(why ?? "", /signature/, "a commit whose signatures do not match is refused");
      assert.is(await scratch.verifyCommit(commit, 1, commit.blockHash), null, "the real commit verifies");
      const thin = { ...commit, signatures: commit.signatures.slice(0, 2) };
      assert.match(
        await scratch.verifyCommit(thin, 1, commit.blockHash) ?? "",
        /power/,
        "2 of 4 is not a commit",
      );
    } finally {
      await scratch.close();
    }
    const late = await net.start(3);
    const target = net.nodes[0]!.chain.height;
    await net.waitHeight(target, 60_000, [3]);
    assert.ok(late.sync.applied > 0, "blocks arrived through block sync");
    assert.equal(await blockHashes(net, 3, target), await blockHashes(net, 0, target));
    // And it votes again: the network goes on with all four.
    await net.waitHeight(target + 3, 60_000);
  } finally {
    await net.cleanup();
  }
});

test.run();
