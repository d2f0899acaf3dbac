/**
 * Building the block a validator proposes: the header over the committed chain, the last commit,
 * pending evidence (within the block's evidence bounds) and as many mempool txs as fit in
 * `maxBlockBytes` (the whole encoding: header, txs, commit, evidence), so that the proposal can be sent.
 * @module
 */
import type { Chain } from "./chain.ts";
import type { Mempool } from "./mempool.ts";
import type { Evidence } from "./ledger/evidence.ts";
import {
  commitHash,
  decodeCommit,
  encodeBlock,
  evidenceBytes,
  evidenceHash,
  txsHash,
} from "./ledger/block.ts";
import type { SignedTx } from "./ledger/tx.ts";
import { BLOCK_EVIDENCE_BYTES_MAX, BLOCK_EVIDENCE_MAX, txsThatFit } from "./ledger/limits.ts";

/** Room kept for the CBOR framing of the evidence list when picking pieces by their own sizes. */
const EVIDENCE_FRAMING_BYTES = 16;

/** What {@link buildBlock} needs. */
export interface BuildBlockInput {
  chain: Chain;
  mempool: Mempool;
  /** Pending evidence for a block of `height` (the pool's), within the given bounds. */
  evidence: (height: number, bounds: { countMax: number; bytesMax: number }) => Evidence[];
  height: number;
  /** The proposer's clock (the block time is at least one ms after the last block's). */
  nowMs: number;
  proposer: string;
}

/**
 * The encoded block for `height` (= `chain.height + 1`).
 * @returns canonical block bytes within the chain's `maxBlockBytes` and `maxBlockTxs`.
 */
export async function buildBlock(input: BuildBlockInput): Promise<Uint8Array> {
  const { chain, height } = input;
  const p = chain.genesis.params.consensus;
  const lastCommit = height > 1 ? decodeCommit((await chain.store.getCommit(height - 1))!) : null;
  // No more than the ledger punishes per block (staking's evidencePerBlockMax; it skips the rest).
  let evidence = input.evidence(height, {
    countMax: Math.min(BLOCK_EVIDENCE_MAX, chain.genesis.params.staking.evidencePerBlockMax),
    bytesMax: BLOCK_EVIDENCE_BYTES_MAX - EVIDENCE_FRAMING_BYTES,
  });
  while (evidence.length > 0 && evidenceBytes(evidence) > BLOCK_EVIDENCE_BYTES_MAX) {
    evidence = evidence.slice(0, -1);
  }
  const header = {
    chainId: chain.chainId,
    height,
    time: Math.max(input.nowMs, chain.lastBlockTime + 1),
    prevHash: chain.lastBlockHash,
    appHash: chain.state.appHash,
    txsHash: txsHash([]),
    proposer: input.proposer,
    lastCommitHash: lastCommit ? commitHash(lastCommit) : "",
    evidenceHash: evidenceHash(evidence),
  };
  const empty = encodeBlock({ header, txs: [], lastCommit, evidence }).length;
  const reaped: SignedTx[] = input.mempool.reap(p.maxBlockTxs, p.maxBlockBytes - empty);
  const fit = txsThatFit(reaped.map((s) => s.bytes.length), p.maxBlockBytes, empty);
  const txs = reaped.slice(0, fit).map((s) => s.bytes);
  return encodeBlock({ header: { ...header, txsHash: txsHash(txs) }, txs, lastCommit, evidence });
}
