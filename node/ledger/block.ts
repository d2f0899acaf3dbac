/**
 * Blocks: header, canonical encoding, hashes, and strict decoding of untrusted block bytes.
 *
 * Formats (deterministic CBOR):
 * - header    = cbor({time, height, proposer, txsHash, appHash, chainId, prevHash, lastCommitHash,
 *                    evidenceHash})
 * - block     = cbor({txs: [bytes...], header: <header map>, lastCommit: <commit map> | null,
 *                    evidence: [<evidence map>...]})  (evidence: `evidence_check.ts`)
 * - commit    = cbor({round, height, blockHash, signatures: [{signature: bytes64, validator}]})
 * - blockHash = hex sha256(cbor(["cirrus/header/1", header]))
 * - txsHash   = hex sha256(id_0 ‖ id_1 ‖ ...) with id_i = sha256(tx_i) raw (sha256("") when empty)
 * - commitHash= hex sha256(commit bytes); "" for no commit (height 1)
 * - evidenceHash = hex sha256(cbor([evidence map...])) (of the empty list when there is none)
 * @module
 */
import type { Commit, Hex } from "../../consensus/types.ts";
import { concatBytes, isAddress, isHex, sha256, toHex } from "../../lib/crypto.ts";
import {
  BLOCK_BYTES_MAX,
  BLOCK_EVIDENCE_BYTES_MAX,
  BLOCK_EVIDENCE_MAX,
  BLOCK_TXS_MAX,
  TX_BYTES_MAX,
} from "./limits.ts";
import type { Evidence } from "./evidence.ts";
import { evidenceMap, parseEvidence } from "./evidence_check.ts";
import {
  canonicalEncode,
  DecodeError,
  exactKeysProblem,
  isPlainObject,
  strictDecode,
} from "../../lib/cbor.ts";

export { DecodeError };

/** A block header. */
export interface BlockHeader {
  chainId: string;
  height: number;
  /** Unix ms. */
  time: number;
  /** Hash of block height-1; "" at height 1. */
  prevHash: Hex;
  /** App hash after executing block height-1 (appHash_0 at height 1). */
  appHash: Hex;
  txsHash: Hex;
  proposer: string;
  /** commitHash(lastCommit); "" at height 1. */
  lastCommitHash: Hex;
  /** evidenceHash(evidence). */
  evidenceHash: Hex;
}

/**
 * A block: header, signed tx bytes, the commit certificate of the previous block, and evidence of
 * misbehaviour (at most {@link BLOCK_EVIDENCE_MAX}, {@link BLOCK_EVIDENCE_BYTES_MAX} bytes).
 */
export interface Block {
  header: BlockHeader;
  txs: Uint8Array[];
  lastCommit: Commit | null;
  evidence: Evidence[];
}

function headerMap(h: BlockHeader): Record<string, unknown> {
  return {
    chainId: h.chainId,
    height: h.height,
    time: h.time,
    prevHash: h.prevHash,
    appHash: h.appHash,
    txsHash: h.txsHash,
    proposer: h.proposer,
    lastCommitHash: h.lastCommitHash,
    evidenceHash: h.evidenceHash,
  };
}

function commitMap(c: Commit): Record<string, unknown> {
  return {
    height: c.height,
    round: c.round,
    blockHash: c.blockHash,
    signatures: c.signatures.map((s) => ({ validator: s.validator, signature: s.signature })),
  };
}

/** Canonical header bytes. */
export function encodeHeader(h: BlockHeader): Uint8Array {
  return canonicalEncode(headerMap(h));
}

/** hex sha256 of cbor(["cirrus/header/1", header]). */
export function blockHash(block: Block | BlockHeader): Hex {
  const h = "header" in block ? block.header : block;
  return toHex(sha256(canonicalEncode(["cirrus/header/1", headerMap(h)])));
}

/** hex sha256 over the concatenated raw tx ids. */
export function txsHash(txs: readonly Uint8Array[]): Hex {
  return toHex(sha256(concatBytes(...txs.map((t) => sha256(t)))));
}

/** hex sha256 of the canonical encoding of the evidence list (also for an empty list). */
export function evidenceHash(evidence: readonly Evidence[]): Hex {
  return toHex(sha256(canonicalEncode(evidence.map(evidenceMap))));
}

/** Bytes the evidence list takes in a block (its CBOR array). */
export function evidenceBytes(evidence: readonly Evidence[]): number {
  return canonicalEncode(evidence.map(evidenceMap)).length;
}

/** Canonical commit bytes. */
export function encodeCommit(c: Commit): Uint8Array {
  return canonicalEncode(commitMap(c));
}

/** hex sha256 of the commit's canonical bytes; "" for null. */
export function commitHash(c: Commit | null): Hex {
  return c === null ? "" : toHex(sha256(encodeCommit(c)));
}

/** Canonical block bytes. */
export function encodeBlock(b: Block): Uint8Array {
  return canonicalEncode({
    header: headerMap(b.header),
    txs: b.txs,
    lastCommit: b.lastCommit === null ? null : commitMap(b.lastCommit),
    evidence: b.evidence.map(evidenceMap),
  });
}

function fail(reason: string): never {
  throw new DecodeError(reason);
}

function nat(v: unknown, path: string, min = 0): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) {
    fail(`${path}: must be an integer >= ${min}`);
  }
  return v;
}

function hash(v: unknown, path: string, emptyOk: boolean): Hex {
  if (emptyOk && v === "") return "";
  if (!isHex(v, 32)) fail(`${path}: must be 64 lower-case hex characters`);
  return v;
}

function parseCommit(v: unknown, path: string): Commit {
  if (!isPlainObject(v)) fail(`${path}: must be a map`);
  const k = exactKeysProblem(v, ["height", "round", "blockHash", "signatures"], path);
  if (k) fail(k);
  const height = nat(v.height, `${path}.height`, 1);
  const round = nat(v.round, `${path}.round`);
  const bh = hash(v.blockHash, `${path}.blockHash`, false);
  if (!Array.isArray(v.signatures)) fail(`${path}.signatures: must be an array`);
  if (v.signatures.length > 10_000) fail(`${path}.signatures: too many`);
  const signatures = v.signatures.map((s, i) => {
    const p = `${path}.signatures[${i}]`;
    if (!isPlainObject(s)) fail(`${p}: must be a map`);
    const k2 = exactKeysProblem(s, ["validator", "signature"], p);
    if (k2) fail(k2);
    if (!isAddress(s.validator)) fail(`${p}.validator: must be a cirrus address`);
    if (!(s.signature instanceof Uint8Array) || s.signature.length !== 64) {
      fail(`${p}.signature: must be 64 bytes`);
    }
    return { validator: s.validator, signature: s.signature };
  });
  return { height, round, blockHash: bh, signatures };
}

/** Strictly decodes untrusted commit bytes. Throws {@link DecodeError}. */
export function decodeCommit(bytes: Uint8Array, maxBytes = 1024 * 1024): Commit {
  if (bytes.length > maxBytes) fail(`commit too large: ${bytes.length} bytes > ${maxBytes}`);
  return parseCommit(strictDecode(bytes, "commit"), "commit");
}

function parseHeader(v: unknown): BlockHeader {
  const p = "header";
  if (!isPlainObject(v)) fail(`${p}: must be a map`);
  const k = exactKeysProblem(
    v,
    [
      "chainId",
      "height",
      "time",
      "prevHash",
      "appHash",
      "txsHash",
      "proposer",
      "lastCommitHash",
      "evidenceHash",
    ],
    p,
  );
  if (k) fail(k);
  if (typeof v.chainId !== "string" || v.chainId.length === 0 || v.chainId.length > 64) {
    fail(`${p}.chainId: must be a string of 1-64 characters`);
  }
  const height = nat(v.height, `${p}.height`, 1);
  const time = nat(v.time, `${p}.time`);
  const first = height === 1;
  const prevHash = hash(v.prevHash, `${p}.prevHash`, first);
  if (first && prevHash !== "") fail(`${p}.prevHash: must be "" at height 1`);
  if (!first && prevHash === "") fail(`${p}.prevHash: missing`);
  const lastCommitHash = hash(v.lastCommitHash, `${p}.lastCommitHash`, first);
  if (first && lastCommitHash !== "") fail(`${p}.lastCommitHash: must be "" at height 1`);
  const appHash = hash(v.appHash, `${p}.appHash`, false);
  const txsH = hash(v.txsHash, `${p}.txsHash`, false);
  const evH = hash(v.evidenceHash, `${p}.evidenceHash`, false);
  if (!isAddress(v.proposer)) fail(`${p}.proposer: must be a cirrus address`);
  return {
    chainId: v.chainId,
    height,
    time,
    prevHash,
    appHash,
    txsHash: txsH,
    proposer: v.proposer,
    lastCommitHash,
    evidenceHash: evH,
  };
}

/**
 * Strictly decodes untrusted block bytes: size limit, canonical CBOR, exact fields and types, and
 * internal consistency (txsHash matches the txs, lastCommit present iff height > 1, for height-1,
 * and matching lastCommitHash; evidence within {@link BLOCK_EVIDENCE_MAX} and
 * {@link BLOCK_EVIDENCE_BYTES_MAX}, each well encoded, matching evidenceHash). Does not check
 * signatures, the chain, or state. Throws
 * {@link DecodeError}. The limits default to the most any genesis may set ({@link BLOCK_BYTES_MAX},
 * {@link BLOCK_TXS_MAX}, {@link TX_BYTES_MAX}); a chain passes its own.
 */
export function decodeBlock(
  bytes: Uint8Array,
  opts: { maxBlockBytes?: number; maxBlockTxs?: number; maxTxBytes?: number } = {},
): Block {
  const max = opts.maxBlockBytes ?? BLOCK_BYTES_MAX;
  if (!(bytes instanceof Uint8Array)) fail("block: not bytes");
  if (bytes.length > max) fail(`block too large: ${bytes.length} bytes > ${max}`);
  const v = strictDecode(bytes, "block");
  if (!isPlainObject(v)) fail("block: must be a map");
  const k = exactKeysProblem(v, ["header", "txs", "lastCommit", "evidence"], "block");
  if (k) fail(k);
  const header = parseHeader(v.header);
  if (!Array.isArray(v.txs)) fail("block.txs: must be an array");
  const maxTxs = opts.maxBlockTxs ?? BLOCK_TXS_MAX;
  if (v.txs.length > maxTxs) fail(`block.txs: ${v.txs.length} txs > ${maxTxs}`);
  const maxTx = opts.maxTxBytes ?? TX_BYTES_MAX;
  const txs = v.txs.map((t, i) => {
    if (!(t instanceof Uint8Array)) fail(`block.txs[${i}]: must be bytes`);
    if (t.length > maxTx) fail(`block.txs[${i}]: ${t.length} bytes > ${maxTx}`);
    return t;
  });
  if (txsHash(txs) !== header.txsHash) fail("header.txsHash: does not match the txs");
  let lastCommit: Commit | null = null;
  if (header.height === 1) {
    if (v.lastCommit !== null) fail("block.lastCommit: must be null at height 1");
  } else {
    lastCommit = parseCommit(v.lastCommit, "block.lastCommit");
    if (lastCommit.height !== header.height - 1) {
      fail(`block.lastCommit.height: ${lastCommit.height}, expected ${header.height - 1}`);
    }
    if (lastCommit.blockHash !== header.prevHash) {
      fail("block.lastCommit.blockHash: does not match header.prevHash");
    }
    if (commitHash(lastCommit) !== header.lastCommitHash) {
      fail("header.lastCommitHash: does not match lastCommit");
    }
  }
  if (!Array.isArray(v.evidence)) fail("block.evidence: must be an array");
  if (v.evidence.length > BLOCK_EVIDENCE_MAX) {
    fail(`block.evidence: ${v.evidence.length} items > ${BLOCK_EVIDENCE_MAX}`);
  }
  const evidence = v.evidence.map((e, i) => parseEvidence(e, `block.evidence[${i}]`));
  const evBytes = evidenceBytes(evidence);
  if (evBytes > BLOCK_EVIDENCE_BYTES_MAX) {
    fail(`block.evidence: ${evBytes} bytes > ${BLOCK_EVIDENCE_BYTES_MAX}`);
  }
  if (evidenceHash(evidence) !== header.evidenceHash) {
    fail("header.evidenceHash: does not match the evidence");
  }
  return { header, txs, lastCommit, evidence };
}
