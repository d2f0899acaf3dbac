/**
 * Duplicate-vote evidence end to end on whole nodes (simulated time and network): a validator started
 * with the `double-sign` switch is caught by the honest nodes, the evidence travels on gossip, a
 * proposer includes it in a block, every node validates and commits it, and the ledger is handed it
 * (`ApplyContext.signing`, recorded by the test-only module); committed evidence leaves the pools.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { TestNet } from "../helpers/network.ts";
import { evidenceSeen, lastSigners, testValidatorsLedger } from "../helpers/test_validators.ts";
import { decodeBlock } from "../../node/ledger/block.ts";
import { evidenceId, evidenceShapeProblem } from "../../node/ledger/evidence_check.ts";

test("double-sign on node3 of 4: evidence is gossiped, included in blocks, committed and handed to the ledger", async () => {
  const net = await TestNet.create({
    validators: 4,
    ledger: testValidatorsLedger,
    misbehave: { 3: ["double-sign"] },
  });
  try {
    await net.startAll();
    const culprit = net.keys[3]!.address;
    await net.until(
      () => [0, 1, 2].every((i) => evidenceSeen(net.nodes[i]!.chain.state, culprit) > 0),
      "the ledger of every honest node was handed evidence against node3",
      60_000,
    );
    const top = Math.min(...[0, 1, 2].map((i) => net.nodes[i]!.chain.height));
    const ids = new Set<string>();
    let first = 0;
    for (let h = 1; h <= top; h++) {
      const block = decodeBlock((await net.nodes[0]!.chain.store.getBlock(h))!);
      for (const ev of block.evidence) {
        assert.is(ev.voteA.vote.validator, culprit, "evidence only against the double-signer");
        assert.is(evidenceShapeProblem(ev, net.genesis.chainId), null, "canonical and well formed");
        assert.ok(ev.voteA.vote.height < h, "about an earlier height");
        const id = evidenceId(ev);
        assert.not.ok(ids.has(id), "each piece committed once");
        ids.add(id);
        first ||= h;
      }
      for (const i of [1, 2]) {
        assert.is(
          await net.nodes[i]!.chain.store.getBlockHashAt(h),
          await net.nodes[0]!.chain.store.getBlockHashAt(h),
        );
      }
    }
    assert.ok(first > 0, "some block carries evidence");
    // the pools no longer hold what was committed (what is left is newer than the last block)
    for (const i of [0, 1, 2]) {
      const pool = net.nodes[i]!.driver.evidencePool;
      for (const ev of pool.pending(Number.MAX_SAFE_INTEGER, { countMax: 1_000, bytesMax: 1 << 30 })) {
        assert.not.ok(ids.has(evidenceId(ev)), `node${i}'s pool dropped committed evidence`);
      }
    }
    // the ledger is also handed the last commit's signers, sorted
    const signers = lastSigners(net.nodes[0]!.chain.state);
    assert.ok(signers.length >= 3, `signers: ${signers}`);
    assert.equal(signers, [...signers].sort());
  } finally {
    await net.cleanup();
  }
});

test.run();
