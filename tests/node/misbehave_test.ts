/**
 * The misbehaviour switches (node/misbehave.ts), on a fake P2P facade: what each kind publishes,
 * signed so that honest nodes take it as the validator's; parsing; and the refusal outside test chains
 * (by `startNode` and by the clock skew).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { decode, encode } from "cborg";
import { join } from "node:path";
import { addressOf, generatePrivateKey, publicKeyOf, verify } from "../../lib/crypto.ts";
import { systemClock } from "../../lib/clock.ts";
import {
  decodeSignedProposal,
  decodeSignedVote,
  encodeSignedProposal,
  encodeSignedVote,
  proposalSignBytes,
  voteSignBytes,
} from "../../consensus/mod.ts";
import type { Proposal, Vote } from "../../consensus/types.ts";
import { blockHash, decodeBlock, encodeBlock, evidenceHash, txsHash } from "../../node/ledger/block.ts";
import {
  forgetConsensusState,
  isTestChain,
  LYING_SYNC_HEIGHT,
  misbehavingP2P,
  type Misbehaviour,
  parseClockSkew,
  parseMisbehaviours,
  parseNamedMisbehaviours,
  skewedClock,
  testChainProblem,
} from "../../node/misbehave.ts";
import type { P2P } from "../../node/p2p.ts";
import { SYNC_PROTOCOL } from "../../node/sync.ts";
import { sign } from "../../lib/crypto.ts";
import { initHome, loadHome } from "../../node/config.ts";
import { startNode } from "../../node/node.ts";
import { nodeClock } from "../../cli/node_cmd.ts";

const topics = { proposal: "/p", vote: "/v" };
const priv = generatePrivateKey();
const pub = publicKeyOf(priv);
const me = addressOf(pub);
const other = addressOf(publicKeyOf(generatePrivateKey()));

type Handler = (req: Uint8Array, from: string) => Uint8Array | Promise<Uint8Array>;

/** A P2P that records what is published and registered. */
function fakeP2P() {
  const published: { topic: string; data: Uint8Array }[] = [];
  const handlers = new Map<string, Handler>();
  const gossip = new Map<string, (d: Uint8Array, from: string) => void>();
  const p2p = {
    peerId: "fake",
    addrs: () => [],
    publish: (topic: string, data: Uint8Array) => {
      published.push({ topic, data });
      return Promise.resolve(1);
    },
    onMessage: (topic: string, _v: unknown, h: (d: Uint8Array, from: string) => void) => {
      gossip.set(topic, h);
    },
    handle: (protocol: string, h: Handler) => {
      handlers.set(protocol, h);
      return Promise.resolve();
    },
  } as unknown as P2P;
  return { p2p, published, handlers, gossip };
}

function wrap(kinds: Misbehaviour[], inner: P2P, lines: string[] = []) {
  return misbehavingP2P(inner, {
    kinds,
    topics,
    validatorKey: { address: me, privKey: priv },
    maxBlockBytes: 10_000,
    logger: (_l, msg) => lines.push(msg),
  });
}

async function signedVote(blockHash: string | null): Promise<Uint8Array> {
  const vote: Vote = {
    chainId: "cirrus-test",
    type: "prevote",
    height: 5,
    round: 1,
    blockHash,
    validator: me,
  };
  return encodeSignedVote({ vote, signature: await sign(priv, voteSignBytes(vote)) });
}

function block(time: number) {
  const txs = [new Uint8Array([1, 2, 3])];
  return {
    header: {
      chainId: "cirrus-test",
      height: 1,
      time,
      prevHash: "",
      appHash: "bb".repeat(32),
      txsHash: txsHash(txs),
      proposer: me,
      lastCommitHash: "",
      evidenceHash: evidenceHash([]),
    },
    txs,
    lastCommit: null,
    evidence: [],
  };
}

async function proposalMessage(proposer = me): Promise<Uint8Array> {
  const b = { ...block(1_000), header: { ...block(1_000).header, proposer } };
  const proposal: Proposal = {
    chainId: "cirrus-test",
    height: 1,
    round: 0,
    polRound: -1,
    blockHash: blockHash(b),
    proposer,
  };
  const sp = encodeSignedProposal({ proposal, signature: await sign(priv, proposalSignBytes(proposal)) });
  return encode([sp, encodeBlock(b), 0]);
}

test("the rule: only cirrus-devnet and cirrus-test chains (alone or -suffixed) take test-only switches", () => {
  for (const id of ["cirrus-devnet", "cirrus-test", "cirrus-test-faults", "cirrus-devnet-2"]) {
    assert.ok(isTestChain(id), id);
  }
  for (const id of ["cirrus-1", "cirrus-mainnet", "cirrus-testnet", "xcirrus-test", "cirrus-devnetz", ""]) {
    assert.not.ok(isTestChain(id), id);
  }
  assert.match(testChainProblem("cirrus-1", "--misbehave")!, /for tests only.*"cirrus-1"/);
  assert.is(testChainProblem("cirrus-test", "--misbehave"), null);
});

test("parsing kinds and NAME=KIND lists; unknown kinds are named", () => {
  assert.equal(parseMisbehaviours("silent,double-sign,silent"), ["silent", "double-sign"]);
  assert.throws(() => parseMisbehaviours("silent,nap"), /unknown misbehaviour "nap"/);
  const m = parseNamedMisbehaviours("node1=double-sign,node2=silent,node1=amnesia");
  assert.equal([...m], [["node1", ["double-sign", "amnesia"]], ["node2", ["silent"]]]);
  assert.throws(() => parseNamedMisbehaviours("node1"), /NAME=KIND/);
  assert.throws(() => parseNamedMisbehaviours("node1=fly"), /unknown misbehaviour/);
});

test("clock skew: parsed within a day, applied to now() only, refused outside test chains", () => {
  assert.is(parseClockSkew("-20000"), -20_000);
  assert.throws(() => parseClockSkew("20s"), /not an integer/);
  assert.throws(() => parseClockSkew("999999999"), /more than/);
  const c = skewedClock({ ...systemClock, now: () => 1_000 }, 20_000);
  assert.is(c.now(), 21_000);
  assert.is(nodeClock("cirrus-test", "5000").clock.now() - Date.now() >= 4_900, true);
  assert.is(nodeClock("cirrus-1", undefined).skewMs, 0);
  assert.throws(() => nodeClock("cirrus-1", "5000"), /for tests only/);
});

test("double-sign: every own vote goes out with a second, validly signed vote for another block", async () => {
  const f = fakeP2P();
  const lines: string[] = [];
  const w = wrap(["double-sign"], f.p2p, lines);
  await w.publish(topics.vote, encode([[await signedVote("cc".repeat(32))], 0]));
  assert.is(f.published.length, 2);
  const votes = f.published.flatMap((p) => (decode(p.data) as [Uint8Array[]])[0].map(decodeSignedVote));
  assert.is(votes.length, 2);
  assert.is.not(votes[0]!.vote.blockHash, votes[1]!.vote.blockHash);
  for (const sv of votes) {
    assert.is(sv.vote.height, 5);
    assert.ok(await verify(pub, voteSignBytes(sv.vote), sv.signature), "signed by the validator");
  }
  assert.ok(lines.some((l) => l === "misbehaving: double-sign"));
  // Other topics pass untouched.
  await w.publish("/txs", new Uint8Array([9]));
  assert.equal(f.published[2]!.data, new Uint8Array([9]));
});

test("equivocate-proposal: two different signed blocks for one round", async () => {
  const f = fakeP2P();
  const w = wrap(["equivocate-proposal"], f.p2p);
  await w.publish(topics.proposal, await proposalMessage());
  assert.is(f.published.length, 2);
  const ps = f.published.map((p) => decode(p.data) as [Uint8Array, Uint8Array, number]);
  const hashes = new Set<string>();
  for (const [sp, bytes] of ps) {
    const { proposal, signature } = decodeSignedProposal(sp);
    assert.is(proposal.blockHash, blockHash(decodeBlock(bytes)), "each proposal names its own block");
    assert.ok(await verify(pub, proposalSignBytes(proposal), signature));
    assert.is(proposal.round, 0);
    hashes.add(proposal.blockHash);
  }
  assert.is(hashes.size, 2);
});

test("future-time and oversize-proposal replace the own block; others' proposals pass untouched", async () => {
  const f = fakeP2P();
  await wrap(["future-time"], f.p2p).publish(topics.proposal, await proposalMessage());
  assert.is(f.published.length, 1);
  const [sp, bytes] = decode(f.published[0]!.data) as [Uint8Array, Uint8Array];
  const b = decodeBlock(bytes);
  assert.is(b.header.time, Number.MAX_SAFE_INTEGER);
  assert.is(decodeSignedProposal(sp).proposal.blockHash, blockHash(b));

  const g = fakeP2P();
  await wrap(["oversize-proposal"], g.p2p).publish(topics.proposal, await proposalMessage());
  const [, big] = decode(g.published[0]!.data) as [Uint8Array, Uint8Array];
  assert.ok(big.length > 10_000, `oversize block is ${big.length} bytes > maxBlockBytes 10000`);
  const ob = decodeBlock(big, { maxBlockBytes: 1e9, maxTxBytes: 1e9 });
  assert.is(ob.header.txsHash, txsHash(ob.txs), "txsHash matches: only the size is wrong");

  const h = fakeP2P();
  const msg = await proposalMessage(other);
  await wrap(["future-time"], h.p2p).publish(topics.proposal, msg);
  assert.equal(h.published[0]!.data, msg);
});

test("junk-proposal re-publishes others' proposals with junk bytes; silent sends and serves nothing", async () => {
  const f = fakeP2P();
  const w = wrap(["junk-proposal"], f.p2p);
  const got: Uint8Array[] = [];
  w.onMessage(topics.proposal, () => "accept", (d) => got.push(d));
  const msg = await proposalMessage(other);
  f.gossip.get(topics.proposal)!(msg, "peer");
  await new Promise((r) => setTimeout(r, 20));
  assert.is(got.length, 1, "the honest handler still gets the message");
  assert.is(f.published.length, 1);
  const [sp, junk] = decode(f.published[0]!.data) as [Uint8Array, Uint8Array];
  assert.equal(sp, (decode(msg) as Uint8Array[])[0], "the same signed proposal");
  assert.throws(() => decodeBlock(junk));

  const s = fakeP2P();
  const sw = wrap(["silent"], s.p2p);
  assert.is(await sw.publish(topics.vote, encode([[await signedVote(null)], 0])), 0);
  await sw.handle(SYNC_PROTOCOL, () => new Uint8Array());
  assert.is(s.published.length, 0);
  assert.is(s.handlers.size, 0);
});

test("lying-sync claims a huge height and answers every block request with none", async () => {
  const f = fakeP2P();
  await wrap(["lying-sync"], f.p2p).handle(SYNC_PROTOCOL, () => encode({ height: 3 }));
  const h = f.handlers.get(SYNC_PROTOCOL)!;
  assert.equal(decode(await h(encode({ t: "status" }), "p")), { height: LYING_SYNC_HEIGHT });
  assert.equal(decode(await h(encode({ t: "blocks", from: 1, count: 5 }), "p")), { blocks: [] });
  assert.equal(decode(await h(new Uint8Array([0xff]), "p")), { blocks: [] });
});

test("amnesia deletes the WAL and signer state (missing files are fine)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const walPath = join(dir, "cs.wal"), signerStatePath = join(dir, "state.json");
    await Deno.writeTextFile(walPath, "x");
    await Deno.writeTextFile(signerStatePath, "{}");
    await forgetConsensusState({ walPath, signerStatePath });
    await forgetConsensusState({ walPath, signerStatePath });
    for (const p of [walPath, signerStatePath]) {
      assert.ok(await Deno.stat(p).then(() => false, () => true), `${p} is gone`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("startNode refuses --misbehave outside test chains, before touching the data dir", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await initHome({ home: dir, moniker: "m", chainId: "cirrus-1" });
    const home = await loadHome(dir);
    let err: Error | null = null;
    try {
      await startNode({ home, validator: true, transport: "memory", misbehave: ["silent"] });
    } catch (e) {
      err = e as Error;
    }
    assert.ok(err, "refused");
    assert.match(err!.message, /--misbehave is for tests only.*"cirrus-1"/);
    assert.ok(await Deno.stat(join(dir, "data", "ledger")).then(() => false, () => true), "no store made");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test.run();
