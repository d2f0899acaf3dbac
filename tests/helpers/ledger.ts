/**
 * Test and simulation fixtures: deterministic keys, a genesis with funded accounts, and helpers to
 * build signed transfers and blocks. Not used by the node itself.
 * @module
 */
import { addressOf, publicKeyOf, sha256, toHex } from "../../lib/crypto.ts";
import { defaultParams, type Genesis } from "../../node/ledger/genesis.ts";
import { decodeSignedTx, type SignedTx, signTx, type Tx, verifyTxSignature } from "../../node/ledger/tx.ts";
import { checkTx, type LedgerState } from "../../node/ledger/state.ts";

/** A key pair with its address. */
export interface TestKey {
  seed: Uint8Array;
  pubKey: Uint8Array;
  address: string;
}

/** A deterministic key derived from `label` (seed = sha256(label)). */
export function testKey(label: string): TestKey {
  const seed = sha256(new TextEncoder().encode(`cirrus-test-key/${label}`));
  const pubKey = publicKeyOf(seed);
  return { seed, pubKey, address: addressOf(pubKey) };
}

/** A genesis with `n` funded accounts (keys "user0".."user{n-1}") and one validator ("val0"). */
export function testGenesis(
  n = 4,
  balance = "1000000",
  chainId = "cirrus-test",
): { genesis: Genesis; keys: TestKey[]; validator: TestKey } {
  const keys = Array.from({ length: n }, (_, i) => testKey(`user${i}`));
  const validator = testKey("val0");
  const genesis: Genesis = {
    chainId,
    genesisTime: "2026-01-01T00:00:00Z",
    validators: [{ name: "val0", address: validator.address, pubKey: toHex(validator.pubKey), power: "10" }],
    accounts: keys.map((k, i) => ({ name: `user${i}`, address: k.address, balance })),
    params: defaultParams(),
  };
  return { genesis, keys, validator };
}

/** A genesis of validators only ("val0".. of power 10 each, from `keys`) and no accounts. */
export function testValidatorsGenesis(keys: TestKey[], chainId = "cirrus-test"): Genesis {
  return {
    chainId,
    genesisTime: "2026-01-01T00:00:00Z",
    validators: keys.map((k, i) => ({
      name: `val${i}`,
      address: k.address,
      pubKey: toHex(k.pubKey),
      power: "10",
    })),
    accounts: [],
    params: defaultParams(),
  };
}

/** Signs and decodes a `bank.send`; throws if decoding fails. */
export async function makeSend(
  from: TestKey,
  to: string,
  amount: string,
  nonce: bigint,
  opts: { fee?: bigint; chainId?: string } = {},
): Promise<SignedTx> {
  const tx: Tx = {
    chainId: opts.chainId ?? "cirrus-test",
    type: "bank.send",
    from: from.address,
    nonce,
    fee: opts.fee ?? 1n,
    body: { to, amount },
  };
  const r = decodeSignedTx(await signTx(tx, from.seed));
  if (!r.ok) throw new Error(`makeSend: ${r.reason}`);
  return r.stx;
}

/**
 * A client tx's whole admission check (as the node's `submitTx` does it) for untrusted bytes: `Ledger.decodeTx` (with the state's
 * `maxTxBytes`), signature ("bad signature"), then {@link checkTx}.
 */
export async function admitTx(
  state: LedgerState,
  bytes: Uint8Array,
  pendingNonce?: bigint,
): Promise<{ ok: true; stx: SignedTx } | { ok: false; reason: string }> {
  const d = state.ledger.decodeTx(bytes, { maxTxBytes: state.params.ledger.maxTxBytes });
  if (!d.ok) return d;
  if (!(await verifyTxSignature(d.stx))) return { ok: false, reason: "bad signature" };
  const c = checkTx(state, d.stx, pendingNonce);
  return c.ok ? { ok: true, stx: d.stx } : c;
}
