/**
 * Duplicate-vote evidence, piece by piece: the canonical form and its checks (`evidence_check.ts`),
 * the bounded pool, gossip validation, and block validity (`Chain.validateBlock`), each rejection
 * with its reason.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { encode } from "cborg";
import { sign } from "../../lib/crypto.ts";
import { voteSignBytes } from "../../consensus/codec.ts";
import type { SignedVote, Vote } from "../../consensus/types.ts";
import { Chain, type ValidatedBlock } from "../../node/chain.ts";
import { Mempool } from "../../node/mempool.ts";
import { buildBlock } from "../../node/block_builder.ts";
import { EvidencePool } from "../../node/evidence_pool.ts";
import { validateEvidenceMessage } from "../../node/evidence_gossip.ts";
import { cirrusLedger } from "../../node/ledger/default_ledger.ts";
import type { Genesis } from "../../node/ledger/genesis.ts";
import { blockHash, decodeBlock, encodeBlock, evidenceHash } from "../../node/ledger/block.ts";
import type { DuplicateVoteEvidence, Evidence } from "../../node/ledger/evidence.ts";
import {
  decodeEvidence,
  duplicateVoteEvidence,
  encodeEvidence,
  evidenceProblem,
  evidenceShapeProblem,
} from "../../node/ledger/evidence_check.ts";
import { type TestKey, testKey, testValidatorsGenesis } from "../helpers/ledger.ts";

const CHAIN = "cirrus-test";
const vals = [0, 1, 2, 3].map((i) => testKey(`val${i}`));
const stranger = testKey("stranger");
const H1 = "11".repeat(32), H2 = "22".repeat(32);

async function signedVote(key: TestKey, v: Partial<Vote> = {}): Promise<SignedVote> {
  const vote: Vote = {
    chainId: CHAIN,
    type: "prevote",
    height: 1,
    round: 0,
    blockHash: H1,
    validator: key.address,
    ...v,
  };
  return { vote, signature: await sign(key.seed, voteSignBytes(vote)) };
}

async function equivocation(key: TestKey, v: Partial<Vote> = {}): Promise<DuplicateVoteEvidence> {
  return duplicateVoteEvidence(await signedVote(key, { ...v, blockHash: H2 }), await signedVote(key, v));
}

const members = new Map(vals.map((k) => [k.address, { address: k.address, pubKey: k.pubKey, power: 10n }]));

test("canonical order: voteA's block hash sorts first, nil first, whatever the argument order", async () => {
  const a = await signedVote(vals[0]!, { blockHash: H1 });
  const b = await signedVote(vals[0]!, { blockHash: H2 });
  const nil = await signedVote(vals[0]!, { blockHash: null });
  assert.equal(duplicateVoteEvidence(b, a), duplicateVoteEvidence(a, b));
  assert.is(duplicateVoteEvidence(b, a).voteA.vote.blockHash, H1);
  assert.is(duplicateVoteEvidence(a, nil).voteA.vote.blockHash, null);
  assert.equal(decodeEvidence(encodeEvidence(duplicateVoteEvidence(a, b))), duplicateVoteEvidence(a, b));
});

test("evidence checks name what is wrong", async () => {
  const good = await equivocation(vals[1]!);
  assert.is(await evidenceProblem(good, CHAIN, members), null);
  const swapped: Evidence = { ...good, voteA: good.voteB, voteB: good.voteA };
  assert.match(evidenceShapeProblem(swapped, CHAIN)!, /canonical order/);
  const same = { ...good, voteB: good.voteA };
  assert.match(evidenceShapeProblem(same, CHAIN)!, /same block/);
  const rounds = duplicateVoteEvidence(
    await signedVote(vals[1]!, { round: 1 }),
    await signedVote(vals[1]!, { blockHash: H2 }),
  );
  assert.match(evidenceShapeProblem(rounds, CHAIN)!, /rounds/);
  const heights = duplicateVoteEvidence(
    await signedVote(vals[1]!, { height: 2 }),
    await signedVote(vals[1]!, { blockHash: H2 }),
  );
  assert.match(evidenceShapeProblem(heights, CHAIN)!, /heights/);
  const types = duplicateVoteEvidence(
    await signedVote(vals[1]!, { type: "precommit" }),
    await signedVote(vals[1]!, { blockHash: H2 }),
  );
  assert.match(evidenceShapeProblem(types, CHAIN)!, /prevote and a precommit|precommit and a prevote/);
  const two = duplicateVoteEvidence(
    await signedVote(vals[1]!),
    await signedVote(vals[2]!, { blockHash: H2 }),
  );
  assert.match(evidenceShapeProblem(two, CHAIN)!, /different validators/);
  assert.match(evidenceShapeProblem(good, "other-chain")!, /another chain/);
  assert.match(
    (await evidenceProblem(await equivocation(stranger), CHAIN, members))!,
    /not a validator at height 1/,
  );
  const forged: Evidence = { ...good, voteB: { ...good.voteB, signature: new Uint8Array(64).fill(7) } };
  assert.match((await evidenceProblem(forged, CHAIN, members))!, /voteB's signature is invalid/);
  assert.throws(
    () => decodeEvidence(encode({ type: "duplicate_vote", voteA: 1, voteB: 2 })),
    /voteA: must be bytes/,
  );
  assert.throws(() => decodeEvidence(encode({ type: "x", voteA: 1, voteB: 2 })), /type/);
  assert.throws(() => decodeEvidence(new Uint8Array(20_000)), /too large/);
});

test("the pool de-duplicates, stays within its bounds, expires old pieces and forgets committed ones", async () => {
  const e1 = await equivocation(vals[0]!, { height: 1 });
  const e2 = await equivocation(vals[1]!, { height: 2 });
  const e3 = await equivocation(vals[2]!, { height: 3 });
  const pool = new EvidencePool({ countMax: 2, ageBlocksMax: 100 });
  assert.is(pool.add(e2, 5), "added");
  assert.is(pool.add(e2, 5), "known");
  assert.is(pool.add(e1, 5), "added");
  assert.is(pool.add(e3, 5), "full");
  assert.is(pool.size, 2);
  // oldest first; only heights below the block's; within the given bounds
  assert.equal(pool.pending(10, { countMax: 16, bytesMax: 1 << 20 }), [e1, e2]);
  assert.equal(pool.pending(2, { countMax: 16, bytesMax: 1 << 20 }), [e1]);
  assert.equal(pool.pending(10, { countMax: 1, bytesMax: 1 << 20 }), [e1]);
  assert.equal(pool.pending(10, { countMax: 16, bytesMax: 10 }), []);
  pool.committed([e1]);
  assert.is(pool.size, 1);
  assert.is(pool.add(e1, 5), "committed", "gossip does not bring committed evidence back");
  assert.is(pool.add(e3, 200), "expired");
  pool.prune(103);
  assert.is(pool.size, 0, "e2 (height 2) is older than 100 heights below 103");
  const byBytes = new EvidencePool({ bytesMax: encodeEvidence(e1).length + 10 });
  assert.is(byBytes.add(e1, 1), "added");
  assert.is(byBytes.add(e2, 1), "full");
});

/** A chain of 4 validators (keys val0..val3) at height 1, block 1 committed with a real commit. */
async function chainAtHeight1(): Promise<{ chain: Chain; dir: string; mempool: Mempool }> {
  const dir = await Deno.makeTempDir({ prefix: "cirrus-evidence-" });
  const genesis: Genesis = testValidatorsGenesis(vals, CHAIN);
  const chain = await Chain.open({ dir, genesis, ledger: cirrusLedger() });
  const mempool = new Mempool({ txsMax: 10, bytesMax: 1 << 20 });
  const bytes = await buildBlock({
    chain,
    mempool,
    evidence: () => [],
    height: 1,
    nowMs: Date.parse(genesis.genesisTime) + 1000,
    proposer: chain.validators.proposer.address,
  });
  const v = await chain.validateBlock(bytes, {});
  if (!v.ok) throw new Error(v.reason);
  const signatures = await Promise.all(
    vals.slice(0, 3).map(async (k) => ({
      validator: k.address,
      signature: await sign(
        k.seed,
        voteSignBytes({
          chainId: CHAIN,
          type: "precommit",
          height: 1,
          round: 0,
          blockHash: v.value.hash,
          validator: k.address,
        }),
      ),
    })),
  );
  await chain.commit(v.value, { height: 1, round: 0, blockHash: v.value.hash, signatures });
  return { chain, dir, mempool };
}

async function block2(c: { chain: Chain; mempool: Mempool }, evidence: Evidence[]): Promise<Uint8Array> {
  return await buildBlock({
    chain: c.chain,
    mempool: c.mempool,
    evidence: () => evidence,
    height: 2,
    nowMs: c.chain.lastBlockTime + 1000,
    proposer: c.chain.validators.proposer.address,
  });
}

test("block validity: evidence is checked against the set of its height, each rejection with a reason", async () => {
  const c = await chainAtHeight1();
  try {
    const good = await equivocation(vals[2]!, { height: 1 });
    const ok = await c.chain.validateBlock(await block2(c, [good]), {});
    assert.ok(ok.ok, ok.ok ? "" : ok.reason);
    assert.equal((ok as { value: ValidatedBlock }).value.block.evidence, [good]);
    const reason = async (evidence: Evidence[]) => {
      const r = await c.chain.validateBlock(await block2(c, evidence), {});
      return r.ok ? "valid" : r.reason;
    };
    assert.match(await reason([good, good]), /evidence 1: included twice/);
    assert.match(await reason([await equivocation(vals[2]!, { height: 2 })]), /not below the block's 2/);
    assert.match(await reason([await equivocation(stranger)]), /evidence 0: .* not a validator at height 1/);
    const forged: Evidence = { ...good, voteA: { ...good.voteA, signature: new Uint8Array(64).fill(1) } };
    assert.match(await reason([forged]), /voteA's signature is invalid/);
    assert.match(await reason([{ ...good, voteA: good.voteB, voteB: good.voteA }]), /canonical order/);
    // beyond the block's bounds, or a header that does not commit to the evidence: malformed
    const many = await Promise.all(
      Array.from({ length: 17 }, (_, r) => equivocation(vals[2]!, { round: r })),
    );
    const b = decodeBlock(await block2(c, []));
    const tooMany = encodeBlock({
      ...b,
      evidence: many,
      header: { ...b.header, evidenceHash: evidenceHash(many) },
    });
    const r1 = await c.chain.validateBlock(tooMany, {});
    assert.match(r1.ok ? "valid" : r1.reason, /malformed block: block.evidence: 17 items > 16/);
    const unbound = encodeBlock({ ...b, evidence: [good] });
    const r2 = await c.chain.validateBlock(unbound, {});
    assert.match(r2.ok ? "valid" : r2.reason, /evidenceHash: does not match/);
    assert.is.not(
      blockHash(decodeBlock(await block2(c, [good]))),
      blockHash(b),
      "the header commits to the evidence",
    );
  } finally {
    await c.chain.close();
    await Deno.remove(c.dir, { recursive: true });
  }
});

test("gossip validation of evidence: forged and foreign rejected, known and far ignored, good accepted", async () => {
  const c = await chainAtHeight1();
  try {
    const pool = new EvidencePool();
    const ctx = { chain: c.chain, pool, height: () => 2 };
    const good = await equivocation(vals[2]!, { height: 1 });
    assert.is(await validateEvidenceMessage(encodeEvidence(good), ctx), "accept");
    const forged: Evidence = { ...good, voteB: { ...good.voteB, signature: new Uint8Array(64).fill(3) } };
    assert.equal(
      await validateEvidenceMessage(encodeEvidence(forged), ctx),
      { action: "reject", reason: "invalid_evidence", detail: "voteB's signature is invalid" },
    );
    const foreign = await validateEvidenceMessage(encodeEvidence(await equivocation(stranger)), ctx);
    assert.equal(foreign !== "accept" && [foreign.action, foreign.reason], ["reject", "not_validator"]);
    const swapped = await validateEvidenceMessage(
      encodeEvidence({ ...good, voteA: good.voteB, voteB: good.voteA }),
      ctx,
    );
    assert.equal(swapped !== "accept" && [swapped.action, swapped.reason], ["reject", "invalid_evidence"]);
    const junk = await validateEvidenceMessage(new Uint8Array([1, 2, 3]), ctx);
    assert.equal(junk !== "accept" && [junk.action, junk.reason], ["reject", "malformed"]);
    const far = await validateEvidenceMessage(
      encodeEvidence(await equivocation(vals[2]!, { height: 50 })),
      ctx,
    );
    assert.equal(far, { action: "ignore", reason: "future_height" });
    pool.add(good, 2);
    assert.equal(await validateEvidenceMessage(encodeEvidence(good), ctx), {
      action: "ignore",
      reason: "known_evidence",
    });
  } finally {
    await c.chain.close();
    await Deno.remove(c.dir, { recursive: true });
  }
});

test.run();
