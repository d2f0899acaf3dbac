/**
 * Re-gossip of the txs submitted to a node (node/node.ts) on a 4-validator network on simulated time:
 * a tx whose gossip reached peers is not gossiped again while the chain keeps committing blocks (at
 * saturation every pending tx was re-gossiped every 2 s, which doubled the load of a busy chain); a
 * tx whose first gossip reached no peer still is (tests/node/rest_test.ts, after a partition).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type TestAccount, TestNet } from "../helpers/network.ts";
import { signTx } from "../../node/ledger/tx.ts";
import { topics } from "../../node/consensus_gossip.ts";

test("txs pending while the chain commits other blocks are not gossiped again (no re-gossip of a backlog)", async () => {
  // One tx per block: 80 txs stay pending for several seconds while blocks keep coming.
  const net = await TestNet.create({
    validators: 4,
    accounts: 1,
    consensus: { maxBlockTxs: 1, createEmptyBlocksIntervalMs: 0 },
  });
  try {
    await net.startAll();
    await net.waitHeight(1, 30_000);
    const [alice] = net.accounts as [TestAccount];
    const node = net.nodes[0]!;
    const self = node.p2p.peerId;
    const txTopic = topics(net.genesis.chainId).txs;
    let txSends = 0;
    net.sim!.network.tap = (from, _to, what) => {
      if (from === self && what.startsWith(`${txTopic} `)) txSends++;
    };
    const n = 80;
    const heightBefore = node.chain.height;
    for (let k = 0; k < n; k++) {
      const bytes = await net.track(signTx({
        chainId: net.genesis.chainId,
        type: "bank.send",
        from: alice.address,
        nonce: node.mempool.nextNonce(node.chain.state, alice.address),
        fee: 1n,
        body: { to: alice.address, amount: "1" },
      }, alice.privKey));
      const r = await net.track(node.submitTx(bytes));
      assert.ok(r.ok, r.ok ? "" : r.error);
    }
    await net.pass(200); // the batches go out
    const firstGossip = txSends;
    assert.ok(firstGossip > 0, "the txs were gossiped once");
    const start = net.sim!.clock.now();
    await net.until(() => node.mempool.size === 0, "every tx committed", 120_000);
    const tookMs = net.sim!.clock.now() - start;
    // Otherwise the test could not fail: the backlog must outlive two re-gossip periods.
    assert.ok(tookMs > 4_000, `the backlog lasted ${tookMs} ms`);
    assert.ok(node.chain.height - heightBefore >= n, "one tx per block");
    assert.is(txSends, firstGossip, "no tx gossip after the first while blocks were committed");
  } finally {
    net.sim!.network.tap = null;
    await net.cleanup();
  }
});

test.run();
