/**
 * Issue 9, part 3: block sync does not re-verify the tx signatures of a block whose +2/3 commit it
 * verified (`node/sync_verify.ts`), and still refuses a block whose commit is bad, a commit for
 * another block, and a block whose tx bytes were altered under a genuine commit.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { decodeBlock, decodeCommit, encodeBlock, encodeCommit, txsHash } from "../../node/ledger/block.ts";
import { decodeSignedTx } from "../../node/ledger/tx.ts";
import { toHex } from "../../lib/crypto.ts";
import { validateSyncedBlock } from "../../node/sync_verify.ts";
import { makeSend, testKey } from "../helpers/ledger.ts";
import { type DriverHarness, openDriver, testGenesis, type TestKey, until } from "../helpers/driver.ts";
import type { Genesis } from "../../node/ledger/genesis.ts";

/** Signed tx bytes with one byte of the signature flipped. */
function withBadSignature(bytes: Uint8Array): Uint8Array {
  const d = decodeSignedTx(bytes);
  if (!d.ok) throw new Error(d.reason);
  const sig = toHex(d.stx.signature);
  const at = toHex(bytes).indexOf(sig) / 2;
  assert.ok(at > 0, "signature found in the tx bytes");
  const out = bytes.slice();
  out[at + 10]! ^= 1;
  return out;
}

/** A one-validator chain whose block 1 carries a signed bank.send, and a fresh full node of it. */
async function chains(): Promise<{ genesis: Genesis; src: DriverHarness; lag: DriverHarness }> {
  const alice = testKey("alice");
  const { keys, genesis } = testGenesis(1, { timeoutCommitMs: 1 }, [
    { address: alice.address, balance: "1000000" },
  ]);
  const src = await openDriver({
    genesis,
    self: keys[0] as TestKey,
    async beforeStart(mempool, chain) {
      const r = mempool.add(await makeSend(alice, keys[0]!.address, "5", 0n), chain.state);
      assert.ok(r.ok, r.ok ? "" : r.reason);
    },
  });
  await until(() => src.chain.height >= 3, 20_000, "height 3");
  const lag = await openDriver({ genesis, self: null });
  return { genesis, src, lag };
}

test("a synced block is refused with a bad commit, a commit of another block, or altered tx bytes; the genuine one is applied", async () => {
  const { src, lag } = await chains();
  try {
    const block1 = (await src.chain.store.getBlock(1))!;
    const commit1 = (await src.chain.store.getCommit(1))!;
    const commit2 = (await src.chain.store.getCommit(2))!;
    assert.is(decodeBlock(block1).txs.length, 1, "block 1 carries the tx");

    // Commit signature flipped.
    const forged = commit1.slice();
    forged[forged.length - 1]! ^= 1;
    const a = await validateSyncedBlock(lag.chain, block1, forged);
    assert.not.ok(a.ok);
    assert.match(a.ok ? "" : a.reason ?? "", /signature|malformed/, a.ok ? "" : a.reason ?? "");

    // A commit with no signatures (no +2/3 power).
    const thin = encodeCommit({ ...decodeCommit(commit1), signatures: [] });
    const b = await validateSyncedBlock(lag.chain, block1, thin);
    assert.match(b.ok ? "" : b.reason ?? "", /power/);

    // The genuine commit of block 1 moved to height 1's neighbour: it is ahead, refused.
    const c = await validateSyncedBlock(lag.chain, block1, commit2);
    assert.match(c.ok ? "" : c.reason ?? "", /ahead/);

    // The tx's signature altered (block re-encoded with its header untouched): the genuine commit
    // does not cover these bytes.
    const decoded = decodeBlock(block1);
    const tx = withBadSignature(decoded.txs[0]!);
    const altered = encodeBlock({ ...decoded, txs: [tx] });
    const d = await validateSyncedBlock(lag.chain, altered, commit1);
    assert.not.ok(d.ok);
    assert.match(d.ok ? "" : d.reason ?? "", /txsHash|hash mismatch/, d.ok ? "" : d.reason ?? "");

    assert.is(lag.chain.height, 0, "nothing was applied");
    // The genuine pair: applied, and the state agrees with the source's.
    assert.is(await lag.driver.applySyncedBlock(block1, commit1), null);
    assert.is(lag.chain.height, 1);
    const block2 = (await src.chain.store.getBlock(2))!;
    assert.is(await lag.driver.applySyncedBlock(block2, commit2), null, "block 2's app hash matches");
    assert.is(lag.chain.state.appHash, decodeBlock((await src.chain.store.getBlock(3))!).header.appHash);
  } finally {
    await lag.close();
    await src.close();
  }
});

test("outside block sync the tx signatures are still checked: altered tx bytes are refused by validateBlock", async () => {
  const { src, lag } = await chains();
  try {
    const decoded = decodeBlock((await src.chain.store.getBlock(1))!);
    const tx = withBadSignature(decoded.txs[0]!);
    // Header hashes recomputed as a forging proposer would: only the signature check catches it.
    const forgedBytes = encodeBlock({
      ...decoded,
      txs: [tx],
      header: { ...decoded.header, txsHash: txsHash([tx]) },
    });
    const v = await lag.chain.validateBlock(forgedBytes, {});
    assert.not.ok(v.ok);
    assert.match(v.ok ? "" : v.reason, /bad signature/);
  } finally {
    await lag.close();
    await src.close();
  }
});

test.run();
