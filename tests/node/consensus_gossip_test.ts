/**
 * Gossip validation of consensus messages at one driver, on a fake p2p facade that records the
 * validators and what the driver publishes: issue 8 findings 2, 7 (ids, WAL) and 9.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { decode, encode } from "cborg";
import { join } from "node:path";
import { TestNet } from "../helpers/network.ts";
import { waitFor } from "../helpers/wait.ts";
import { loadHome } from "../../node/config.ts";
import { Chain } from "../../node/chain.ts";
import { cirrusLedger } from "../../node/ledger/default_ledger.ts";
import { Mempool } from "../../node/mempool.ts";
import { ConsensusDriver, topics } from "../../node/consensus_driver.ts";
import { type GossipResult, GossipStats, type P2P } from "../../node/p2p.ts";
import { blockHash, decodeBlock, encodeBlock, evidenceHash, txsHash } from "../../node/ledger/block.ts";
import { addressOf, generatePrivateKey, publicKeyOf, sign, toHex } from "../../lib/crypto.ts";
import { signTx } from "../../node/ledger/tx.ts";
import { gossipMessageIdOf, resendProtocol, resendToPeers } from "../../node/consensus_gossip.ts";
import {
  decodeSignedVote,
  encodeSignedProposal,
  encodeSignedVote,
  proposalSignBytes,
  voteSignBytes,
  Wal,
} from "../../consensus/mod.ts";
import type { Proposal, Vote } from "../../consensus/types.ts";

type Validate = (data: Uint8Array, from: string) => GossipResult | Promise<GossipResult>;
type Handle = (data: Uint8Array, from: string) => void;

/** A P2P that records subscriptions and publications, and sends nothing anywhere. */
function fakeP2P() {
  const subs = new Map<string, { validate: Validate; handle: Handle }>();
  const published: { topic: string; data: Uint8Array }[] = [];
  const protocols = new Map<string, (req: Uint8Array, from: string) => Uint8Array | Promise<Uint8Array>>();
  const p2p: P2P = {
    peerId: "self",
    addrs: () => [],
    publish: (topic, data) => {
      published.push({ topic, data });
      return Promise.resolve(0);
    },
    onMessage: (topic, validate, handle) => void subs.set(topic, { validate, handle }),
    handle: (protocol, handler) => {
      protocols.set(protocol, handler);
      return Promise.resolve();
    },
    request: () => Promise.reject(new Error("no peers")),
    handleStream: () => Promise.resolve(),
    // deno-lint-ignore require-yield
    openStream: async function* () {
      throw new Error("no peers");
    },
    peers: () => [],
    dial: () => Promise.resolve(),
    onPeer: () => {},
    scoreOf: () => 0,
    topicPeers: () => [],
    meshPeers: () => [],
    stop: () => Promise.resolve(),
  };
  /** Run a message through the topic's validator and, when accepted, its handler (as gossipsub). */
  const deliver = async (topic: string, data: Uint8Array, from = "peer"): Promise<GossipResult> => {
    const sub = subs.get(topic)!;
    const r = await sub.validate(data, from);
    if (r === "accept") sub.handle(data, from);
    return r;
  };
  return { p2p, subs, published, protocols, deliver };
}

/** One validator's driver (not the round-0 proposer of height 1) on a fake p2p, and the keys of all. */
async function oneDriver(net: TestNet) {
  const homes = await Promise.all(net.homes.map((h) => loadHome(h)));
  const dir = join(net.dir, "driver");
  const chain = await Chain.open({ dir: join(dir, "ledger"), genesis: net.genesis, ledger: cirrusLedger() });
  const proposerAddr = chain.validators.proposerForRound(0).address;
  const proposer = homes.find((h) => h.validatorKey.address === proposerAddr)!;
  const me = homes.find((h) => h.validatorKey.address !== proposerAddr)!;
  const fake = fakeP2P();
  const stats = new GossipStats();
  const driver = new ConsensusDriver({
    gossipStats: stats,
    chain,
    p2p: fake.p2p,
    mempool: new Mempool({ txsMax: 100, bytesMax: 1 << 20 }),
    validatorKey: me.validatorKey,
    walPath: join(dir, "cs.wal"),
    signerStatePath: join(dir, "signer.json"),
  });
  const block = (time: number) =>
    encodeBlock({
      header: {
        chainId: chain.chainId,
        height: 1,
        time,
        prevHash: chain.lastBlockHash,
        appHash: chain.state.appHash,
        txsHash: txsHash([]),
        proposer: proposerAddr,
        lastCommitHash: "",
        evidenceHash: evidenceHash([]),
      },
      txs: [],
      lastCommit: null,
      evidence: [],
    });
  const signProposal = async (p: Proposal, key = proposer.validatorKey.privKey) =>
    encodeSignedProposal({ proposal: p, signature: await sign(key, proposalSignBytes(p)) });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await driver.stop();
    await chain.close();
  };
  return { chain, driver, fake, stats, block, signProposal, proposer, me, homes, close };
}

const slowRounds = { consensus: { timeoutProposeMs: 60_000, timeoutPrevoteMs: 60_000 } };

/** Waits on the wall clock: the driver under test runs on the system clock, behind a fake p2p. */
async function waitUntil(cond: () => boolean, ms: number, what: string): Promise<void> {
  await waitFor(cond, ms, what, 10);
}

test("finding 2: proposal bytes not bound to the signature are rejected at gossip, penalised, never cached", async () => {
  const net = await TestNet.create({ validators: 4, ...slowRounds });
  const d = await oneDriver(net);
  try {
    await d.driver.start();
    const t = topics(d.chain.chainId);
    const good = d.block(Date.now());
    const hash = blockHash(decodeBlock(good));
    const sp = await d.signProposal({
      chainId: d.chain.chainId,
      height: 1,
      round: 0,
      polRound: -1,
      blockHash: hash,
      proposer: d.proposer.validatorKey.address,
    });
    // another well-formed block (a different time), and plain junk, under the same signed proposal
    for (const junk of [d.block(Date.now() + 1), new Uint8Array(64).fill(7)]) {
      const r = await d.fake.subs.get(t.proposal)!.validate(encode([sp, junk, 0]), "evil");
      assert.type(r, "object", `junk bytes must not be accepted: ${JSON.stringify(r)}`);
      if (r !== "accept") assert.equal([r.action, r.reason], ["reject", "hash_mismatch"]);
      // even if such a message reached the driver (an old peer, the WAL), it is not cached as invalid
      d.fake.subs.get(t.proposal)!.handle(encode([sp, junk, 0]), "evil");
    }
    assert.is(await d.fake.deliver(t.proposal, encode([sp, good, 0])), "accept");
    const prevote = () =>
      d.fake.published
        .filter((m) => m.topic === t.vote)
        .map((m) => decodeSignedVote((decode(m.data) as [Uint8Array[], number])[0][0]!).vote)
        .find((v) => v.type === "prevote");
    await waitUntil(() => prevote() !== undefined, 10_000, "our prevote");
    assert.is(prevote()!.blockHash, hash, "the node prevotes the real block, not nil");
  } finally {
    await d.close();
    await net.cleanup();
  }
});

test("finding 9: a far-height proposal triggers sync only once signed by a validator", async () => {
  const net = await TestNet.create({ validators: 4, ...slowRounds });
  const d = await oneDriver(net);
  try {
    const behind: number[] = [];
    d.driver.onBehind((h) => behind.push(h));
    await d.driver.start();
    const t = topics(d.chain.chainId);
    const far: Proposal = {
      chainId: d.chain.chainId,
      height: 1_000_000,
      round: 0,
      polRound: -1,
      blockHash: "ab".repeat(32),
      proposer: d.proposer.validatorKey.address,
    };
    const validate = d.fake.subs.get(t.proposal)!.validate;
    const forged = await d.signProposal(far, generatePrivateKey());
    const r1 = await validate(encode([forged, new Uint8Array(1), 0]), "evil");
    assert.equal(r1, { action: "reject", reason: "bad_signature" });
    const stranger = await d.signProposal({ ...far, proposer: "cirrus1stranger" }, generatePrivateKey());
    const r2 = await validate(encode([stranger, new Uint8Array(1), 0]), "evil");
    // a far height's set is unknown here (it may have changed): ignored, not relayed, no sync
    assert.equal(r2, { action: "ignore", reason: "future_height" });
    assert.equal(behind, [], "no sync for unsigned claims");
    const signed = await d.signProposal(far);
    const r3 = await validate(encode([signed, new Uint8Array(1), 0]), "peer");
    assert.equal(r3, { action: "ignore", reason: "future_height" });
    assert.equal(behind, [1_000_000], "a validator-signed far height is a sync hint");
  } finally {
    await d.close();
    await net.cleanup();
  }
});

test("finding 7: identical proposals and votes are written to the WAL once", async () => {
  const net = await TestNet.create({ validators: 4, ...slowRounds });
  const d = await oneDriver(net);
  try {
    await d.driver.start();
    const t = topics(d.chain.chainId);
    const good = d.block(Date.now());
    const sp = await d.signProposal({
      chainId: d.chain.chainId,
      height: 1,
      round: 0,
      polRound: -1,
      blockHash: blockHash(decodeBlock(good)),
      proposer: d.proposer.validatorKey.address,
    });
    const other = d.homes.find((h) =>
      h.validatorKey.address !== d.me.validatorKey.address &&
      h.validatorKey.address !== d.proposer.validatorKey.address
    )!;
    const vote: Vote = {
      chainId: d.chain.chainId,
      type: "prevote",
      height: 1,
      round: 0,
      blockHash: null,
      validator: other.validatorKey.address,
    };
    const sv = encodeSignedVote({
      vote,
      signature: await sign(other.validatorKey.privKey, voteSignBytes(vote)),
    });
    // the same signed content, with other resend counters, delivered again and again
    for (let resend = 0; resend < 5; resend++) {
      d.fake.subs.get(t.proposal)!.handle(encode([sp, good, resend]), "peer");
      d.fake.subs.get(t.vote)!.handle(encode([[sv], resend]), "peer");
    }
    await waitUntil(
      () => d.fake.published.some((m) => m.topic === t.vote),
      10_000,
      "our prevote (every delivery handled)",
    );
    await d.close();
    const wal = await Wal.open(join(net.dir, "driver", "cs.wal"));
    const { records } = await wal.readAll();
    await wal.close();
    const kinds = records.map((r) => (decode(r) as [string])[0]);
    assert.is(kinds.filter((k) => k === "proposal").length, 1, `one proposal record: ${kinds}`);
    // our own prevote is a "vote" record too: the peer's vote once, ours once
    assert.is(kinds.filter((k) => k === "vote").length, 2, `one record per signed vote: ${kinds}`);
  } finally {
    await d.close().catch(() => {});
    await net.cleanup();
  }
});

test("finding 7: gossip ids come from the signed content only (not resend counters, padding, bundling)", async () => {
  const net = await TestNet.create({ validators: 4, ...slowRounds });
  const d = await oneDriver(net);
  try {
    const t = topics(d.chain.chainId);
    const idOf = gossipMessageIdOf(d.chain.chainId);
    const hex = async (topic: string, data: Uint8Array) => toHex(await idOf(topic, data));
    const good = d.block(Date.now());
    const sp = await d.signProposal({
      chainId: d.chain.chainId,
      height: 1,
      round: 0,
      polRound: -1,
      blockHash: blockHash(decodeBlock(good)),
      proposer: d.proposer.validatorKey.address,
    });
    const p0 = await hex(t.proposal, encode([sp, good, 0]));
    assert.is(await hex(t.proposal, encode([sp, good, 1])), p0, "resend counter");
    assert.is(await hex(t.proposal, encode([sp, good, 123456789])), p0, "padding in the counter");
    assert.is.not(await hex(t.proposal, encode([sp, d.block(Date.now() + 1), 0])), p0, "other block bytes");
    const votes = await Promise.all(d.homes.map(async (h) => {
      const vote: Vote = {
        chainId: d.chain.chainId,
        type: "prevote",
        height: 1,
        round: 0,
        blockHash: null,
        validator: h.validatorKey.address,
      };
      return encodeSignedVote({ vote, signature: await sign(h.validatorKey.privKey, voteSignBytes(vote)) });
    }));
    const v0 = await hex(t.vote, encode([[votes[0]!], 0]));
    assert.is(await hex(t.vote, encode([[votes[0]!], 9])), v0, "resend counter");
    assert.is.not(await hex(t.vote, encode([[votes[1]!], 0])), v0, "another vote");
    // a bundle is not a gossip message: votes travel one per message, so bundles cannot mint ids
    await d.driver.start();
    const r = await d.fake.subs.get(t.vote)!.validate(encode([[votes[0]!, votes[1]!], 0]), "evil");
    assert.equal(r, { action: "reject", reason: "malformed" });
  } finally {
    await d.close();
    await net.cleanup();
  }
});

test("finding 7: tx batches from unfunded senders are not relayed (ignored before any signature check)", async () => {
  const net = await TestNet.create({ validators: 1 });
  try {
    const node = await net.start(0);
    const stranger = generatePrivateKey();
    const tx = await signTx({
      chainId: net.genesis.chainId,
      type: "bank.send",
      from: addressOf(publicKeyOf(stranger)),
      nonce: 0n,
      fee: 1n,
      body: { to: net.accounts[0]!.address, amount: "5" },
    }, stranger);
    assert.equal(await node.validateTxBatch(encode([tx])), { action: "ignore", reason: "unfunded_sender" });
    const funded = await signTx({
      chainId: net.genesis.chainId,
      type: "bank.send",
      from: net.accounts[0]!.address,
      nonce: 0n,
      fee: 1n,
      body: { to: net.accounts[1]!.address, amount: "5" },
    }, net.accounts[0]!.privKey);
    assert.is(await node.validateTxBatch(encode([funded])), "accept");
    assert.equal(await node.validateTxBatch(encode([funded, tx])), {
      action: "ignore",
      reason: "unfunded_sender",
    });
  } finally {
    await net.cleanup();
  }
});

test("finding 7: a stuck validator's re-sent bundle arrives directly, validated like gossip and counted", async () => {
  const net = await TestNet.create({ validators: 4, ...slowRounds });
  const d = await oneDriver(net);
  try {
    await d.driver.start();
    const resend = d.fake.protocols.get(resendProtocol(d.chain.chainId))!;
    assert.ok(resend, "the driver serves the re-send protocol");
    const good = d.block(Date.now());
    const hash = blockHash(decodeBlock(good));
    const sp = await d.signProposal({
      chainId: d.chain.chainId,
      height: 1,
      round: 0,
      polRound: -1,
      blockHash: hash,
      proposer: d.proposer.validatorKey.address,
    });
    assert.is(await d.fake.deliver(topics(d.chain.chainId).proposal, encode([sp, good, 0])), "accept");
    const others = d.homes.filter((h) => h.validatorKey.address !== d.me.validatorKey.address);
    const votes = await Promise.all(others.map(async (h) => {
      const vote: Vote = {
        chainId: d.chain.chainId,
        type: "prevote",
        height: 1,
        round: 0,
        blockHash: hash,
        validator: h.validatorKey.address,
      };
      return encodeSignedVote({ vote, signature: await sign(h.validatorKey.privKey, voteSignBytes(vote)) });
    }));
    // a bundle of the 3 other prevotes for the block (> 2/3): the node locks and precommits it
    await resend(encode(["vote", encode([votes, 1])]), "peer");
    const precommit = () =>
      d.fake.published
        .filter((m) => m.topic === topics(d.chain.chainId).vote)
        .map((m) => decodeSignedVote((decode(m.data) as [Uint8Array[], number])[0][0]!).vote)
        .find((v) => v.type === "precommit");
    await waitUntil(() => precommit() !== undefined, 10_000, "our precommit after the re-sent prevotes");
    assert.is(precommit()!.blockHash, hash);
    // a forged re-send is refused like gossip (and not handled)
    const forged = encode(["vote", encode([[votes[0]!.slice(0, -1)], 1])]);
    await resend(forged, "evil");
    await resend(encode(["nonsense", new Uint8Array(1)]), "evil");
    assert.equal(d.stats.peer("evil").reject, { malformed: 2 }, "refusals counted for the sender");
    assert.equal(d.stats.peer("peer"), { reject: {}, ignore: {} });
  } finally {
    await d.close();
    await net.cleanup();
  }
});

test("re-send: at most one exchange in flight per peer, its messages one after the other", async () => {
  // A slow link: requests hang until released. Re-sending at every tick must not pile streams up.
  const peers = ["p1", "p2", "p3"];
  const open = new Map<string, number>();
  let maxOpen = 0, total = 0;
  const pending: (() => void)[] = [];
  const p2p = {
    peers: () => peers,
    request: (peer: string, protocol: string, _req: Uint8Array) => {
      assert.is(protocol, resendProtocol("c"));
      total++;
      open.set(peer, (open.get(peer) ?? 0) + 1);
      maxOpen = Math.max(maxOpen, open.get(peer)!);
      return new Promise<Uint8Array>((resolve) =>
        pending.push(() => {
          open.set(peer, open.get(peer)! - 1);
          resolve(new Uint8Array(0));
        })
      );
    },
  };
  const inflight = new Set<string>();
  const msgs: ["proposal" | "vote", Uint8Array][] = [["proposal", new Uint8Array([1])], [
    "vote",
    new Uint8Array([2]),
  ]];
  const log = () => {};
  assert.equal(resendToPeers(p2p, "c", msgs, log, inflight), peers);
  for (let tick = 0; tick < 10; tick++) assert.equal(resendToPeers(p2p, "c", msgs, log, inflight), []);
  assert.is(total, 3, "one request per peer so far (the vote waits for the proposal)");
  while (pending.length > 0) {
    pending.shift()!();
    await new Promise((r) => setTimeout(r, 0));
  }
  assert.is(total, 6, "then the vote message, on the same exchange");
  assert.is(maxOpen, 1);
  assert.is(inflight.size, 0);
  assert.equal(resendToPeers(p2p, "c", msgs, log, inflight), peers, "free again once done");
  while (pending.length > 0) {
    pending.shift()!();
    await new Promise((r) => setTimeout(r, 0));
  }
});

test.run();
