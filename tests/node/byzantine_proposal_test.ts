/**
 * Issue 8, findings 1 and 3: what one faulty proposer can do to the proposals an honest validator
 * judges. One real driver behind a fake P2P; the test signs as the other three validators.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { decode } from "cborg";
import { decodeSignedVote } from "../../consensus/mod.ts";
import type { Vote } from "../../consensus/types.ts";
import { BLOCK_TIME_AHEAD_MS_MAX, type Chain } from "../../node/chain.ts";
import { type Clock, systemClock } from "../../lib/clock.ts";
import { blockHash, encodeBlock, evidenceHash, txsHash } from "../../node/ledger/mod.ts";
import {
  type DriverHarness,
  openDriver,
  proposalMessage,
  testGenesis,
  type TestKey,
  until,
  voteMessage,
} from "../helpers/driver.ts";

/** Timeouts long enough that no round ends by itself during a test. */
const SLOW = { timeoutProposeMs: 600_000, timeoutPrevoteMs: 600_000, timeoutPrecommitMs: 600_000 };

/** A block for height 1 named as proposed by `proposer`, at `time`. */
function firstBlock(chain: Chain, proposer: string, time: number): { bytes: Uint8Array; hash: string } {
  const block = {
    header: {
      chainId: chain.chainId,
      height: 1,
      time,
      prevHash: "",
      appHash: chain.state.appHash,
      txsHash: txsHash([]),
      proposer,
      lastCommitHash: "",
      evidenceHash: evidenceHash([]),
    },
    txs: [],
    lastCommit: null,
    evidence: [],
  };
  return { bytes: encodeBlock(block), hash: blockHash(block) };
}

/** The votes the driver published, decoded. */
function publishedVotes(h: DriverHarness): Vote[] {
  return h.p2p.published.filter((m) => m.topic === h.topics.vote).flatMap((m) => {
    const [svs] = decode(m.data) as [Uint8Array[], number];
    return svs.map((b) => decodeSignedVote(b).vote);
  });
}

/** The four validators by role at height 1: round 0's and round 1's proposers, the node, the rest. */
function roles(keys: TestKey[], chain: Chain) {
  const byAddress = (a: string) => keys.find((k) => k.address === a)!;
  const p0 = byAddress(chain.validators.proposerForRound(0).address);
  const p1 = byAddress(chain.validators.proposerForRound(1).address);
  const others = keys.filter((k) => k !== p0 && k !== p1);
  return { p0, p1, self: others[0]!, other: others[1] };
}

test("finding 3: a value re-proposed in a later round (named for its first proposer) is valid at a node that never saw it", async () => {
  const { keys, genesis } = testGenesis(4, SLOW);
  // Find the roles first (the set is the same for every node), then start the driver as `self`.
  const probe = await openDriver({ genesis, self: null });
  const { p0, p1, self, other } = roles(keys, probe.chain);
  await probe.close();
  assert.ok(p0 !== p1, "rounds 0 and 1 have different proposers with 4 equal validators");
  const h = await openDriver({ genesis, self });
  try {
    const chainId = h.chain.chainId;
    // Round 0: p0 proposed X; p0, p1 and the other validator prevoted X (a proof of lock for round 0);
    // this node never received the proposal. The byzantine one precommits nil, nothing commits.
    const x = firstBlock(h.chain, p0.address, Date.now());
    for (const k of [p0, p1, other!]) {
      const vote: Vote = {
        chainId,
        type: "prevote",
        height: 1,
        round: 0,
        blockHash: x.hash,
        validator: k.address,
      };
      assert.is(await h.p2p.deliver(h.topics.vote, await voteMessage(k, vote)), "accept");
    }
    // Two validators are already in round 1 (f+1 messages of a later round move this node there).
    for (const k of [p0, p1]) {
      const vote: Vote = {
        chainId,
        type: "prevote",
        height: 1,
        round: 1,
        blockHash: x.hash,
        validator: k.address,
      };
      await h.p2p.deliver(h.topics.vote, await voteMessage(k, vote));
    }
    await until(() => h.driver.round === 1, 5_000, "round 1");
    // Round 1: p1 re-proposes X with its proof of lock (round 0); the header still names p0.
    const proposal = { chainId, height: 1, round: 1, polRound: 0, blockHash: x.hash, proposer: p1.address };
    assert.is(await h.p2p.deliver(h.topics.proposal, await proposalMessage(p1, proposal, x.bytes)), "accept");
    await until(
      () => publishedVotes(h).some((v) => v.type === "prevote" && v.round === 1),
      5_000,
      "a prevote of round 1",
    );
    const prevote = publishedVotes(h).find((v) => v.type === "prevote" && v.round === 1)!;
    assert.is(prevote.blockHash, x.hash, "the node prevotes the re-proposed value, not nil");
  } finally {
    await h.close();
  }
});

/** A clock stopped at `nowMs` (timers are real; the tests' timeouts never fire). */
function stoppedClock(nowMs: number): Clock {
  return { ...systemClock, now: () => nowMs };
}

async function roundOneByTwoPrevotes(h: DriverHarness, keys: TestKey[]): Promise<void> {
  for (const k of keys) {
    const vote: Vote = {
      chainId: h.chain.chainId,
      type: "prevote",
      height: 1,
      round: 1,
      blockHash: null,
      validator: k.address,
    };
    await h.p2p.deliver(h.topics.vote, await voteMessage(k, vote));
  }
  await until(() => h.driver.round === 1, 5_000, "round 1");
}

async function prevoteOf(h: DriverHarness, round: number): Promise<string | null> {
  await until(
    () => publishedVotes(h).some((v) => v.type === "prevote" && v.round === round),
    5_000,
    `a prevote of round ${round}`,
  );
  return publishedVotes(h).find((v) => v.type === "prevote" && v.round === round)!.blockHash;
}

test("finding 1: a proposal timed Number.MAX_SAFE_INTEGER gets a nil prevote; the next round's timely one is prevoted", async () => {
  const { keys, genesis } = testGenesis(4, SLOW);
  const probe = await openDriver({ genesis, self: null });
  const { p0, p1, self } = roles(keys, probe.chain);
  await probe.close();
  const now = Date.now();
  const h = await openDriver({ genesis, self, clock: stoppedClock(now) });
  try {
    const chainId = h.chain.chainId;
    const far = firstBlock(h.chain, p0.address, Number.MAX_SAFE_INTEGER);
    const proposal0 = {
      chainId,
      height: 1,
      round: 0,
      polRound: -1,
      blockHash: far.hash,
      proposer: p0.address,
    };
    await h.p2p.deliver(h.topics.proposal, await proposalMessage(p0, proposal0, far.bytes));
    assert.is(await prevoteOf(h, 0), null, "a block from the far future is not prevoted");
    await roundOneByTwoPrevotes(h, [p0, p1]);
    const fine = firstBlock(h.chain, p1.address, now + 1_000);
    const proposal1 = {
      chainId,
      height: 1,
      round: 1,
      polRound: -1,
      blockHash: fine.hash,
      proposer: p1.address,
    };
    await h.p2p.deliver(h.topics.proposal, await proposalMessage(p1, proposal1, fine.bytes));
    assert.is(await prevoteOf(h, 1), fine.hash, "a block 1 s ahead (within the drift) is prevoted");
  } finally {
    await h.close();
  }
});

test("finding 1: a block ahead of this node's clock gets its nil prevote but is still decided when 2f+1 precommit it", async () => {
  const { keys, genesis } = testGenesis(4, SLOW);
  const probe = await openDriver({ genesis, self: null });
  const { p0, p1, self, other } = roles(keys, probe.chain);
  await probe.close();
  const now = Date.now();
  const h = await openDriver({ genesis, self, clock: stoppedClock(now) });
  try {
    const chainId = h.chain.chainId;
    // This node's clock is behind: the others found the block timely and commit it.
    const ahead = firstBlock(h.chain, p0.address, now + BLOCK_TIME_AHEAD_MS_MAX + 60_000);
    const proposal = {
      chainId,
      height: 1,
      round: 0,
      polRound: -1,
      blockHash: ahead.hash,
      proposer: p0.address,
    };
    await h.p2p.deliver(h.topics.proposal, await proposalMessage(p0, proposal, ahead.bytes));
    assert.is(await prevoteOf(h, 0), null);
    for (const k of [p0, p1, other!]) {
      const vote: Vote = {
        chainId,
        type: "precommit",
        height: 1,
        round: 0,
        blockHash: ahead.hash,
        validator: k.address,
      };
      await h.p2p.deliver(h.topics.vote, await voteMessage(k, vote));
    }
    await until(() => h.chain.height === 1, 5_000, "the commit of height 1");
    assert.is(h.chain.lastBlockHash, ahead.hash);
  } finally {
    await h.close();
  }
});

test("finding 3: a block whose header names a non-validator as proposer is invalid everywhere", async () => {
  const { genesis } = testGenesis(4, SLOW);
  const stranger = testGenesis(1).keys[0]!;
  const h = await openDriver({ genesis, self: null });
  try {
    const b = firstBlock(h.chain, stranger.address, Date.now());
    const v = await h.chain.validateBlock(b.bytes, { hash: b.hash });
    assert.not.ok(v.ok);
    if (!v.ok) assert.match(v.reason, /not a validator/);
  } finally {
    await h.close();
  }
});

test.run();
