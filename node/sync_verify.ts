/**
 * Verification of a block fetched by block sync: its commit decodes, is for the next height, the block
 * is valid on the chain as executed so far (`Chain.validateBlock`: the proposer and the last commit
 * checked against the validator sets of their heights) and the commit carries more than 2/3 of the
 * power of the set of THAT height (`Chain.validators`, derived from the state this node executed), so
 * a node syncs across validator-set changes trusting no peer.
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
  const v = await chain.validateBlock(blockBytes, { hash: commit.blockHash });
  if (!v.ok) return { ok: false, reason: `synced block ${commit.height}: ${v.reason}` };
  const why = await chain.verifyCommit(commit, commit.height, v.value.hash);
  if (why) return { ok: false, reason: `synced block ${commit.height}: ${why}` };
  return { ok: true, block: v.value, commit };
}
