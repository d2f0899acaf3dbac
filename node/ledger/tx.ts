/**
 * Transactions: canonical encoding, signing, strict decoding of untrusted bytes, and the handler
 * interface through which ledger modules (bank, marketplace, staking) plug their tx types in (see
 * module.ts; the list of modules is given to `createLedger`, in ledger.ts).
 *
 * Formats (all deterministic CBOR, see codec.ts):
 * - tx bytes      = cbor({body, fee: "dec", from, type, nonce: "dec", chainId})    (map keys sorted)
 * - sign bytes    = cbor(["cirrus/tx/1", tx])  == 0x82 ‖ cbor("cirrus/tx/1") ‖ tx bytes
 * - signed tx     = cbor({tx: bytes(tx bytes), sig: bytes64, pubKey: bytes32})
 * - tx id         = hex sha256(signed tx bytes)
 * Amounts, nonce and fee are decimal strings ("1000"), so the encoding is unambiguous.
 * @module
 */
import type { Hex } from "../../consensus/types.ts";
import type { BlockSigningInfo } from "./evidence.ts";
import {
  addressOf,
  concatBytes,
  isAddress,
  isValidPublicKey,
  publicKeyOf,
  sha256,
  sign,
  toHex,
  verify,
} from "../../lib/crypto.ts";
import {
  canonicalEncode,
  DecodeError,
  exactKeysProblem,
  isPlainObject,
  plainDataProblem,
  strictDecode,
} from "../../lib/cbor.ts";
import { parseUint } from "../../lib/units.ts";

/** An unsigned transaction. `nonce` is the sender's count of executed txs; `fee` is in the base denom. */
export interface Tx {
  chainId: string;
  type: string;
  from: string;
  nonce: bigint;
  fee: bigint;
  body: Record<string, unknown>;
}

/** A decoded, structurally valid signed transaction (signature NOT yet checked: see {@link verifyTxSignature}). */
export interface SignedTx {
  tx: Tx;
  pubKey: Uint8Array;
  signature: Uint8Array;
  /** The canonical tx bytes (what is signed, after the domain tag). */
  txBytes: Uint8Array;
  /** The whole signed envelope, as received. */
  bytes: Uint8Array;
  /** hex sha256 of `bytes`. */
  id: Hex;
}

/** Domain tag of tx signatures. */
export const TX_SIGN_DOMAIN = "cirrus/tx/1";
/** Upper bound of `maxTxBytes` when the caller gives none. */
export const DEFAULT_MAX_TX_BYTES = 16384;

const SIGN_PREFIX = concatBytes(new Uint8Array([0x82]), canonicalEncode(TX_SIGN_DOMAIN));

/** Canonical bytes of an unsigned tx. Throws on a body that is not plain data. */
export function encodeTx(tx: Tx): Uint8Array {
  const bad = plainDataProblem(tx.body, 16, "body");
  if (bad) throw new Error(bad);
  if (tx.nonce < 0n || tx.fee < 0n) throw new Error("nonce and fee must be non-negative");
  return canonicalEncode({
    chainId: tx.chainId,
    type: tx.type,
    from: tx.from,
    nonce: tx.nonce.toString(),
    fee: tx.fee.toString(),
    body: tx.body,
  });
}

/** The bytes an ed25519 signature covers: cbor(["cirrus/tx/1", tx]) built from the canonical tx bytes. */
export function txSignBytes(txBytes: Uint8Array): Uint8Array {
  return concatBytes(SIGN_PREFIX, txBytes);
}

/**
 * Signs `tx` with `seed`; returns the signed envelope bytes. `tx.from` should be the seed's address
 * (not checked here, so tests can build mismatched txs; decoding rejects them).
 */
export async function signTx(tx: Tx, seed: Uint8Array): Promise<Uint8Array> {
  const pubKey = publicKeyOf(seed);
  const txBytes = encodeTx(tx);
  const sig = await sign(seed, txSignBytes(txBytes));
  return canonicalEncode({ tx: txBytes, pubKey, sig });
}

/** hex sha256 of signed tx bytes. */
export function txId(bytes: Uint8Array): Hex {
  return toHex(sha256(bytes));
}

/** Result of {@link decodeSignedTx}. */
export type DecodeTxResult = { ok: true; stx: SignedTx } | { ok: false; reason: string };

/**
 * Strictly decodes untrusted signed tx bytes: size limit, canonical CBOR, exact fields and types,
 * canonical decimal nonce/fee, `from` == addressOf(pubKey). Does not check the body of the tx's type
 * (the ledger's modules do: `Ledger.decodeTx`), the signature (async: {@link verifyTxSignature}),
 * the chain id, or anything that depends on state. Never throws.
 */
export function decodeSignedTx(bytes: Uint8Array, opts: { maxTxBytes?: number } = {}): DecodeTxResult {
  try {
    return { ok: true, stx: decodeSignedTxOrThrow(bytes, opts.maxTxBytes ?? DEFAULT_MAX_TX_BYTES) };
  } catch (e) {
    if (e instanceof DecodeError) return { ok: false, reason: e.reason };
    return { ok: false, reason: `malformed tx: ${(e as Error).message}` };
  }
}

function fail(reason: string): never {
  throw new DecodeError(reason);
}

function decodeSignedTxOrThrow(bytes: Uint8Array, maxTxBytes: number): SignedTx {
  if (!(bytes instanceof Uint8Array)) fail("tx: not bytes");
  if (bytes.length > maxTxBytes) fail(`tx too large: ${bytes.length} bytes > ${maxTxBytes}`);
  const env = strictDecode(bytes, "tx envelope");
  if (!isPlainObject(env)) fail("tx envelope: must be a map");
  const keys = exactKeysProblem(env, ["tx", "pubKey", "sig"], "envelope");
  if (keys) fail(keys);
  const { tx: txBytes, pubKey, sig } = env;
  if (!(txBytes instanceof Uint8Array)) fail("envelope.tx: must be bytes");
  if (!(pubKey instanceof Uint8Array) || pubKey.length !== 32) fail("envelope.pubKey: must be 32 bytes");
  if (!(sig instanceof Uint8Array) || sig.length !== 64) fail("envelope.sig: must be 64 bytes");
  const raw = strictDecode(txBytes, "tx");
  if (!isPlainObject(raw)) fail("tx: must be a map");
  const k2 = exactKeysProblem(raw, ["chainId", "type", "from", "nonce", "fee", "body"], "tx");
  if (k2) fail(k2);
  if (typeof raw.chainId !== "string" || raw.chainId.length === 0 || raw.chainId.length > 64) {
    fail("tx.chainId: must be a string of 1-64 characters");
  }
  if (
    typeof raw.type !== "string" || !/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$/.test(raw.type) ||
    raw.type.length > 64
  ) {
    fail("tx.type: must be a dotted lower-case name");
  }
  if (!isAddress(raw.from)) fail("tx.from: must be a cirrus address");
  const nonce = parseUint(raw.nonce);
  if (nonce === null) fail("tx.nonce: must be a non-negative integer string");
  const fee = parseUint(raw.fee);
  if (fee === null) fail("tx.fee: must be a non-negative integer string");
  if (!isPlainObject(raw.body)) fail("tx.body: must be a map");
  if (raw.from !== addressOf(pubKey)) fail("from does not match the signing key");
  if (!isValidPublicKey(pubKey)) {
    fail("envelope.pubKey: not a valid ed25519 public key (small order or non-canonical)");
  }
  const tx: Tx = { chainId: raw.chainId, type: raw.type, from: raw.from, nonce, fee, body: raw.body };
  return { tx, pubKey, signature: sig, txBytes, bytes, id: txId(bytes) };
}

/** True when the signature is valid (the one rule of crypto.ts `verify`) for the tx's sign bytes. */
export function verifyTxSignature(stx: SignedTx): Promise<boolean> {
  return verify(stx.pubKey, txSignBytes(stx.txBytes), stx.signature);
}

/**
 * Verifies many signatures with up to `inFlight` verifications in flight; returns the index of the
 * first invalid one, or -1 when all are valid.
 */
export async function verifyTxSignatures(stxs: readonly SignedTx[], inFlight = 64): Promise<number> {
  let next = 0;
  let firstBad = -1;
  const worker = async () => {
    while (next < stxs.length) {
      const i = next++;
      if (!(await verifyTxSignature(stxs[i]!))) {
        if (firstBad === -1 || i < firstBad) firstBad = i;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, stxs.length) }, worker));
  return firstBad;
}

// ---------------------------------------------------------------------------------------------------
// Tx handlers

/** A tx rejected during execution: nothing it wrote is kept, and `reason` goes into its result. */
export class TxError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = "TxError";
  }
}

/** An account as stored under `acct/<address>`. */
export interface Account {
  address: string;
  balance: bigint;
  nonce: bigint;
}

/** An event emitted by a tx; attrs are strings (amounts in decimal). */
export interface TxEvent {
  type: string;
  attrs: Record<string, string>;
}

/**
 * What a handler sees while its tx executes: a read/write view of the state (an overlay; writes are
 * kept only if the tx succeeds), the block context and an event sink. Synchronous and pure.
 */
export interface ApplyContext {
  readonly chainId: string;
  readonly height: number;
  /** Block time, unix ms (from the header, never the local clock). */
  readonly time: number;
  readonly proposer: string;
  /**
   * The block's signing info (previous commit's signers, evidence): filled in the begin/end-block
   * contexts; empty in tx contexts.
   */
  readonly signing: BlockSigningInfo;
  get(key: string): Uint8Array | undefined;
  set(key: string, value: Uint8Array): void;
  delete(key: string): void;
  account(address: string): Account | null;
  /** Writes an account (creating it if new). */
  setAccount(account: Account): void;
  /** Moves `amount` from `from` to `to` (creating `to`); throws TxError on insufficient funds. */
  transfer(from: string, to: string, amount: bigint): void;
  emit(type: string, attrs: Record<string, string>): void;
}

/** The plug-in interface of a tx type. */
export interface TxHandler {
  /** Stateless body check; returns a reason ("body.amount: ...") or null. Runs at decode time. */
  validateBody(body: Record<string, unknown>): string | null;
  /** Executes the tx (fee already taken, nonce already advanced). Throw {@link TxError} to reject. */
  apply(ctx: ApplyContext, stx: SignedTx): void;
  /** Addresses besides `from` that the tx concerns (for the by-address tx index). */
  addresses?(stx: SignedTx): string[];
}
