/**
 * A hostile peer on the gossip topics of a running 4-validator network (simulated network and time),
 * through the same gossip validation path as libp2p's: garbage, bad signatures,
 * wrong chain ids, votes from non-validators, a proposal from the wrong proposer, oversized messages.
 * Every one is rejected (the peer's score drops), nothing changes, and the chain keeps committing.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { encode } from "cborg";
import { TestNet } from "../helpers/network.ts";
import type { P2P } from "../../node/p2p.ts";
import { topics } from "../../node/consensus_driver.ts";
import { addressOf, generatePrivateKey, publicKeyOf, sign } from "../../lib/crypto.ts";
import { signTx } from "../../node/ledger/tx.ts";
import { loadHome } from "../../node/config.ts";
import {
  encodeSignedProposal,
  encodeSignedVote,
  proposalSignBytes,
  voteSignBytes,
} from "../../consensus/mod.ts";

test("hostile gossip is rejected, lowers the sender's score, and the chain goes on", async () => {
  const net = await TestNet.create({ validators: 4 });
  let evil: P2P | null = null;
  try {
    await net.startAll();
    await net.waitHeight(2, 60_000);
    const t = topics("cirrus-test");
    evil = await net.sim!.network.join({
      transport: "memory",
      listen: ["/sim/evil"],
      bootstrap: net.addrs,
      topics: [t.txs, t.proposal, t.vote],
    });
    const hostile = evil;
    await net.until(() => hostile.topicPeers(t.vote).length >= 4, "the hostile peer in the topics", 10_000);

    const [a, b] = net.accounts;
    const balances = () => net.nodes.map((n) => n!.chain.state.account(b!.address)!.balance);
    const before = balances();
    const stranger = generatePrivateKey();
    const h = net.nodes[0]!.chain.height + 1;
    const v1 = await loadHome(net.homes[1]!);

    const goodTx = await signTx({
      chainId: "cirrus-test",
      type: "bank.send",
      from: a!.address,
      nonce: 0n,
      fee: 1n,
      body: { to: b!.address, amount: "5" },
    }, a!.privKey);
    const badSig = goodTx.slice();
    badSig[badSig.length - 5]! ^= 0xff;
    const wrongChain = await signTx({
      chainId: "other",
      type: "bank.send",
      from: a!.address,
      nonce: 0n,
      fee: 1n,
      body: { to: b!.address, amount: "5" },
    }, a!.privKey);

    const strangerVote = {
      chainId: "cirrus-test",
      type: "prevote" as const,
      height: h,
      round: 0,
      blockHash: null,
      validator: addressOf(publicKeyOf(stranger)),
    };
    const strangerSigned = encodeSignedVote({
      vote: strangerVote,
      signature: await sign(stranger, voteSignBytes(strangerVote)),
    });
    const forgedVote = { ...strangerVote, validator: v1.validatorKey.address };
    const forgedSigned = encodeSignedVote({
      vote: forgedVote,
      signature: await sign(stranger, voteSignBytes(forgedVote)),
    });
    // A proposal for the current height signed by a validator who is not the round's proposer.
    const set = net.nodes[0]!.chain.validators;
    const notProposer = set.validators.find((v) => v.address !== set.proposerForRound(0).address)!;
    const idx = (await Promise.all(net.homes.map((home) => loadHome(home))))
      .findIndex((x) => x.validatorKey.address === notProposer.address);
    const np = await loadHome(net.homes[idx]!);
    const proposal = {
      chainId: "cirrus-test",
      height: h,
      round: 0,
      polRound: -1,
      blockHash: "ab".repeat(32),
      proposer: np.validatorKey.address,
    };
    const wrongProposer = encodeSignedProposal({
      proposal,
      signature: await sign(np.validatorKey.privKey, proposalSignBytes(proposal)),
    });

    const messages: [string, Uint8Array][] = [
      [t.txs, new Uint8Array([0xde, 0xad, 0xbe, 0xef])],
      [t.txs, encode([badSig])],
      [t.txs, encode([wrongChain])],
      [t.vote, new Uint8Array(70_000).fill(7)],
      [t.vote, encode([[strangerSigned], 0])],
      [t.vote, encode([[forgedSigned], 0])],
      [t.vote, encode([["not bytes"], 0])],
      [t.proposal, encode([wrongProposer, new Uint8Array(10), 0])],
      [t.proposal, new Uint8Array([1, 2, 3])],
    ];
    for (const [topic, data] of messages) {
      await evil.publish(topic, data);
      await net.pass(50);
    }
    await net.pass(1500);
    const evilId = evil.peerId;
    const scores = net.nodes.map((n) => n!.p2p.scoreOf(evilId));
    assert.ok(scores.some((s) => s < 0), `some node lowered the hostile peer's score: ${scores}`);
    // typed reasons, counted for the hostile peer at the nodes it sent to
    const counted = new Set(net.nodes.flatMap((n) => Object.keys(n!.gossipStats.peer(evilId).reject)));
    for (const reason of ["malformed", "bad_signature", "wrong_chain", "not_validator", "too_large"]) {
      assert.ok(counted.has(reason), `reason ${reason} counted for the hostile peer: ${[...counted]}`);
    }
    const h0 = Math.max(...net.nodes.map((n) => n!.chain.height));
    await net.waitHeight(h0 + 3, 60_000);
    assert.equal(balances(), before, "nothing the hostile peer sent changed the state");
    for (const n of net.nodes) assert.is(n!.mempool.size, 0, "no hostile tx reached a mempool");
  } finally {
    await evil?.stop();
    await net.cleanup();
  }
});

test.run();
