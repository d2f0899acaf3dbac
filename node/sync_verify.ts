/**
 * Verification of a block fetched by block sync: its commit decodes, is for the next height, the block
 * is valid on the chain as executed so far (`Chain.validateBlock`: the proposer and the last commit
 * checked against the validator sets of their heights) and the commit carries more than 2/3 of the
 * power of the set of THAT height (`Chain.validators`, derived from the state this node executed), so
 * a node syncs across validator-set changes trusting no peer.
 *
 * The commit is checked FIRST, and then the tx signatures of the block are not verified again: the
 * block hash covers the header, whose `txsHash` covers every tx's bytes with its signature, and more
 * than 2/3 of the power of the height's set precommitted that hash. With less than 1/3 of the power
 * faulty (the assumption the whole chain rests on), at least one honest validator precommitted it,
 * and an honest validator precommits only a block that passed `validateBlock`, tx signatures
 * included. Re-checking them bought nothing but was ~35% of a joining node's time (issue 9, part 3).
 * Every other check stays: the commit's signatures and power, the header chain (height, prevHash,
 * proposer, time, hashes), the last commit, evidence, tx decoding and limits, execution; and the
 * app hash after executing block H is checked against the header of block H+1.
 * @module
 */
import type { Commit } from "../consensus/types.ts";
import type { Chain, ValidatedBlock } from "./chain.ts";
import { decodeCommit } from "./ledger/block.ts";

/**
 * Verifies a synced block and its commit against `chain`.
 * @returns the validated block and commit; or a reason (null when the block is already committed).
 */
export async function validateSyncedBlock(
  chain: Chain,
  blockBytes: Uint8Array,
  commitBytes: Uint8Array,
): Promise<{ ok: true; block: ValidatedBlock; commit: Commit } | { ok: false; reason: string | null }> {
  let commit: Commit;
  try {
    commit = decodeCommit(commitBytes);
  } catch (e) {
    return { ok: false, reason: `malformed commit: ${(e as Error).message}` };
  }
  if (commit.height !== chain.height + 1) {
    const reason = commit.height <= chain.height
      ? null
      : `block ${commit.height} is ahead of ${chain.height + 1}`;
    return { ok: false, reason };
  }
  const why = await chain.verifyCommit(commit, commit.height, commit.blockHash);
  if (why) return { ok: false, reason: `synced block ${commit.height}: ${why}` };
  const v = await chain.validateBlock(blockBytes, { hash: commit.blockHash, committed: true });
  if (!v.ok) return { ok: false, reason: `synced block ${commit.height}: ${v.reason}` };
  return { ok: true, block: v.value, commit };
}
