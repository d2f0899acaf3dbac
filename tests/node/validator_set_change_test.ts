/**
 * Validator-set changes on whole nodes (simulated time and network), with a test-only ledger module
 * deciding the set (`tests/helpers/test_validators.ts`), so these tests hold without staking: a change
 * named by a tx in block H takes effect at H+2 with priorities carried over, the joining validator
 * signs, the leaving one stops counting, a node syncing from genesis verifies every commit with the set
 * of its height, and a restarted node derives the same set (priorities included).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { toHex } from "../../lib/crypto.ts";
import { sendAndWait, TestNet } from "../helpers/network.ts";
import { testValidatorsLedger } from "../helpers/test_validators.ts";
import { decodeCommit } from "../../node/ledger/block.ts";
import { genesisValidators } from "../../node/chain.ts";
import { ValidatorSet } from "../../consensus/validator_set.ts";

function setBody(net: TestNet, members: number[]): Record<string, unknown> {
  return { validators: members.map((i) => ({ pubKey: toHex(net.keys[i]!.pubKey), power: "10" })) };
}

async function signersAt(net: TestNet, node: number, height: number): Promise<string[]> {
  const bytes = await net.nodes[node]!.chain.store.getCommit(height);
  return decodeCommit(bytes!).signatures.map((s) => s.validator);
}

async function hashes(net: TestNet, i: number, from: number, to: number): Promise<string[]> {
  const out: string[] = [];
  for (let h = from; h <= to; h++) out.push((await net.nodes[i]!.chain.store.getBlockHashAt(h)) ?? "");
  return out;
}

test("a set named in block H takes effect at H+2: the newcomer signs, the leaver stops counting", async () => {
  const net = await TestNet.create({ validators: 4, extraNodes: 2, ledger: testValidatorsLedger });
  try {
    for (const i of [0, 1, 2, 3, 4]) await net.start(i);
    await net.waitHeight(3);
    const join = await sendAndWait(net, 0, net.accounts[0]!, "testvals.set", setBody(net, [0, 1, 2, 3, 4]));
    assert.ok(join.ok, join.reason);
    const h = join.height;
    await net.waitHeight(h + 1);
    const chain = net.nodes[1]!.chain;
    const newcomer = net.keys[4]!.address;
    assert.not.ok((await chain.validatorsAt(h + 1))!.has(newcomer), "not yet at H+1");
    assert.ok((await chain.validatorsAt(h + 2))!.has(newcomer), "a member at H+2");
    await net.waitHeight(h + 6, 60_000, [0, 1, 2, 3, 4]);
    // priorities carried over: the genesis set advanced once per height up to H+1, then updated
    // with the newcomer and advanced once, is exactly the set that ran height H+2 (kept in the store)
    const genesisSet = new ValidatorSet(genesisValidators(net.genesis));
    const expected = genesisSet.advance(h).withValidators([...genesisSet.validators, {
      address: newcomer,
      pubKey: net.keys[4]!.pubKey,
      power: 10n,
    }]).advance(1);
    assert.equal((await chain.validatorsAt(h + 2))!.toJSON(), expected.toJSON());
    const signedBy4: number[] = [];
    for (let x = h + 2; x <= h + 5; x++) {
      if ((await signersAt(net, 1, x)).includes(newcomer)) signedBy4.push(x);
    }
    assert.ok(signedBy4.length > 0, "the newcomer's precommits are in commits from H+2 on");
    for (let x = 1; x <= h + 1; x++) {
      assert.not.ok((await signersAt(net, 1, x)).includes(newcomer), `no signature of node4 at ${x}`);
    }

    // node0 leaves: from its H'+2 on, its signatures are no longer in commits
    const leave = await sendAndWait(net, 1, net.accounts[0]!, "testvals.set", setBody(net, [1, 2, 3, 4]));
    assert.ok(leave.ok, leave.reason);
    const h2 = leave.height;
    await net.waitHeight(h2 + 5, 60_000, [1, 2, 3, 4]);
    const leaver = net.keys[0]!.address;
    for (let x = h2 + 2; x <= h2 + 4; x++) {
      assert.not.ok((await signersAt(net, 2, x)).includes(leaver), `node0 does not sign at ${x}`);
    }
    await net.stop(0);
    await net.waitHeight(h2 + 8, 60_000, [1, 2, 3, 4]);
    const ref = await hashes(net, 1, 1, h2 + 8);
    for (const i of [2, 3, 4]) assert.equal(await hashes(net, i, 1, h2 + 8), ref, `node${i} agrees`);

    // a node starting now syncs from genesis across both changes, and derives the same set
    await net.start(5);
    const top = net.nodes[1]!.chain.height;
    await net.waitHeight(top, 60_000, [5]);
    assert.equal(await hashes(net, 5, 1, top), await hashes(net, 1, 1, top), "node5 synced the same chain");
    await net.until(() => net.nodes[5]!.chain.height === net.nodes[1]!.chain.height, "same height");
    assert.equal(
      net.nodes[5]!.chain.validators.toJSON(),
      net.nodes[1]!.chain.validators.toJSON(),
      "same next set with the same priorities",
    );
  } finally {
    await net.cleanup();
  }
});

test("a restarted validator derives the set of the next height (priorities included) from its store", async () => {
  const net = await TestNet.create({ validators: 4, extraNodes: 1, ledger: testValidatorsLedger });
  try {
    for (const i of [0, 1, 2, 3, 4]) await net.start(i);
    await net.waitHeight(2);
    const r = await sendAndWait(net, 0, net.accounts[0]!, "testvals.set", setBody(net, [0, 1, 2, 3, 4]));
    assert.ok(r.ok, r.reason);
    await net.waitHeight(r.height + 3);
    await net.stop(2);
    await net.waitHeight(r.height + 6, 60_000, [0, 1, 3, 4]);
    await net.start(2);
    await net.waitHeight(r.height + 10, 60_000, [0, 1, 2, 3, 4]);
    await net.until(() => net.nodes[2]!.chain.height === net.nodes[0]!.chain.height, "same height");
    assert.equal(net.nodes[2]!.chain.validators.toJSON(), net.nodes[0]!.chain.validators.toJSON());
    assert.ok(net.nodes[2]!.chain.validators.has(net.keys[4]!.address));
  } finally {
    await net.cleanup();
  }
});

test.run();
