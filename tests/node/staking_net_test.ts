/**
 * The consensus side with the real staking module, on whole nodes (simulated time and network): a
 * validator created by `staking.create_validator` joins the set two heights after its block and signs,
 * and leaves it when its bond goes; a double-signing validator is caught, its evidence committed, and
 * it is slashed once, tombstoned and out of the set while the chain goes on.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { toHex } from "../../lib/crypto.ts";
import { sendAndWait, TestNet } from "../helpers/network.ts";
import type { CirrusNode } from "../../node/node.ts";
import { decodeBlock, decodeCommit } from "../../node/ledger/block.ts";

function query<T>(node: CirrusNode, name: string, ...args: string[]): T {
  return node.chain.ledger.query(name)!(node.chain.state, { args, params: new URLSearchParams() }) as T;
}

interface ValidatorView {
  tokens: string;
  jailed: boolean;
  tombstoned: boolean;
  active: boolean;
}

async function signers(node: CirrusNode, height: number): Promise<string[]> {
  return decodeCommit((await node.chain.store.getCommit(height))!).signatures.map((s) => s.validator);
}

test("create_validator: in the set two heights after its block, signs; undelegating its bond takes it out", async () => {
  const net = await TestNet.create({ validators: 4, extraNodes: 1 });
  try {
    await net.startAll();
    await net.waitHeight(2);
    const operator = net.accounts[0]!;
    const cons = net.keys[4]!.address;
    const created = await sendAndWait(net, 0, operator, "staking.create_validator", {
      pubKey: toHex(net.keys[4]!.pubKey),
      amount: "10000000",
      moniker: "node4",
      commission: "0.1",
    });
    assert.ok(created.ok, created.reason);
    const h = created.height;
    await net.waitHeight(h + 1);
    const chain = net.nodes[0]!.chain;
    assert.not.ok((await chain.validatorsAt(h + 1))!.has(cons), "not a member at H+1");
    assert.ok((await chain.validatorsAt(h + 2))!.has(cons), "a member at H+2");
    await net.waitHeight(h + 6);
    let signed = 0;
    for (let x = h + 2; x <= h + 5; x++) if ((await signers(net.nodes[0]!, x)).includes(cons)) signed++;
    assert.ok(signed > 0, "node4's precommits are in the commits from H+2 on");
    for (let x = 1; x <= h + 1; x++) assert.not.ok((await signers(net.nodes[0]!, x)).includes(cons));

    const left = await sendAndWait(net, 1, operator, "staking.undelegate", {
      validator: operator.address,
      amount: "10000000",
    });
    assert.ok(left.ok, left.reason);
    await net.waitHeight(left.height + 6);
    assert.not.ok((await chain.validatorsAt(left.height + 2))!.has(cons), "out of the set at H'+2");
    for (let x = left.height + 2; x <= left.height + 5; x++) {
      assert.not.ok((await signers(net.nodes[0]!, x)).includes(cons), `no signature of node4 at ${x}`);
    }
  } finally {
    await net.cleanup();
  }
});

test("double-sign: slashed once by the fraction (its delegators too), tombstoned, out of the set; the chain goes on", async () => {
  const net = await TestNet.create({ validators: 4, misbehave: { 3: ["double-sign"] } });
  try {
    for (const i of [0, 1, 2]) await net.start(i);
    await net.waitHeight(2, 60_000, [0, 1, 2]);
    const culprit = net.keys[3]!.address;
    const delegator = net.accounts[1]!;
    const d = await sendAndWait(net, 0, delegator, "staking.delegate", {
      validator: culprit,
      amount: "2000000",
    });
    assert.ok(d.ok, d.reason);
    const n0 = net.nodes[0]!;
    assert.is(query<ValidatorView>(n0, "validator", culprit).tokens, "12000000");
    const h0 = n0.chain.height;
    await net.start(3);
    await net.until(
      () => query<ValidatorView>(n0, "validator", culprit).tombstoned,
      "node3 tombstoned",
      60_000,
    );
    const h1 = n0.chain.height;
    assert.ok(h1 - h0 <= 10, `punished within a few heights: from ${h0} to ${h1}`);
    const v = query<ValidatorView>(n0, "validator", culprit);
    assert.ok(v.jailed, "jailed");
    assert.is(v.tokens, "11400000", "5% of 12,000,000 burned");
    const dels = query<{ delegations: { validator: string; tokens: string }[] }>(
      n0,
      "delegations",
      delegator.address,
    );
    assert.equal(
      dels.delegations.map((x) => [x.validator, x.tokens]),
      [[culprit, "1900000"]],
      "the delegator lost 5%",
    );
    await net.waitHeight(h1 + 8, 60_000, [0, 1, 2]);
    const records = query<{ evidence: { cons: string }[] }>(n0, "evidence").evidence;
    assert.equal(records.map((r) => r.cons), [culprit], "punished once, however many pieces were committed");
    assert.is(query<ValidatorView>(n0, "validator", culprit).tokens, "11400000", "never slashed twice");
    assert.not.ok(n0.chain.validators.has(culprit), "out of the set");
    let pieces = 0;
    for (let x = 1; x <= h1 + 8; x++) {
      pieces += decodeBlock((await n0.chain.store.getBlock(x))!).evidence.length;
    }
    assert.ok(pieces >= 1, `${pieces} pieces of evidence in blocks`);
    for (const i of [1, 2]) {
      assert.is(
        await net.nodes[i]!.chain.store.getBlockHashAt(h1 + 8),
        await n0.chain.store.getBlockHashAt(h1 + 8),
      );
    }
  } finally {
    await net.cleanup();
  }
});

test.run();
