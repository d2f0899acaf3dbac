import { test } from "uvu";
import * as assert from "uvu/assert";
import { encode } from "cborg";
import { toHex } from "../../lib/crypto.ts";
import {
  bank,
  canonicalEncode,
  cirrusLedger,
  createLedger,
  decodeSignedTx,
  encodeTx,
  type LedgerModule,
  signTx,
  type Tx,
  txId,
  txSignBytes,
  verifyTxSignature,
} from "../../node/ledger/mod.ts";
import { testKey } from "../helpers/ledger.ts";

const alice = testKey("alice");
const bob = testKey("bob");

function sendTx(
  over: Partial<Tx> = {},
  body: Record<string, unknown> = { to: bob.address, amount: "1000" },
): Tx {
  return {
    chainId: "cirrus-test",
    type: "bank.send",
    from: alice.address,
    nonce: 0n,
    fee: 1n,
    body,
    ...over,
  };
}

function reasonOf(bytes: Uint8Array, maxTxBytes?: number): string {
  const r = cirrusLedger().decodeTx(bytes, maxTxBytes === undefined ? {} : { maxTxBytes });
  assert.is(r.ok, false, "expected rejection");
  return r.ok ? "" : r.reason;
}

test("a signed bank.send round-trips: fields, id = sha256(envelope), valid signature", async () => {
  const bytes = await signTx(sendTx(), alice.seed);
  const r = decodeSignedTx(bytes);
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.equal(r.stx.tx, sendTx());
  assert.is(r.stx.id, txId(bytes));
  assert.is(r.stx.id.length, 64);
  assert.equal(r.stx.pubKey, alice.pubKey);
  assert.ok(await verifyTxSignature(r.stx));
});

test("canonical tx encoding is deterministic, uses decimal strings, and sign bytes carry the domain tag", () => {
  const a = encodeTx(sendTx());
  const b = encodeTx({ ...sendTx(), body: { amount: "1000", to: bob.address } });
  assert.equal(a, b);
  const m = canonicalEncode({
    chainId: "cirrus-test",
    type: "bank.send",
    from: alice.address,
    nonce: "0",
    fee: "1",
    body: { to: bob.address, amount: "1000" },
  });
  assert.equal(a, m);
  assert.equal(
    txSignBytes(a),
    canonicalEncode(["cirrus/tx/1", {
      chainId: "cirrus-test",
      type: "bank.send",
      from: alice.address,
      nonce: "0",
      fee: "1",
      body: { to: bob.address, amount: "1000" },
    }]),
  );
});

test("malformed CBOR is rejected with a reason", () => {
  assert.match(reasonOf(new Uint8Array([0xa3, 0x01])), /malformed CBOR/);
  assert.match(reasonOf(new Uint8Array([])), /malformed CBOR/);
  assert.match(reasonOf(new TextEncoder().encode("hello")), /tx envelope/);
});

test("non-canonical CBOR (unsorted keys, padded integers) is rejected", async () => {
  const bytes = await signTx(sendTx(), alice.seed);
  // Re-encode the envelope with keys in a non-canonical order by hand: {pubKey, sig, tx} vs canonical.
  const r = decodeSignedTx(bytes);
  assert.ok(r.ok);
  if (!r.ok) return;
  const enc = (o: Record<string, Uint8Array>) => encode(o, { mapSorter: () => 0 });
  const shuffled = enc({ tx: r.stx.txBytes, sig: r.stx.signature, pubKey: r.stx.pubKey });
  const canon = enc({ pubKey: r.stx.pubKey, sig: r.stx.signature, tx: r.stx.txBytes });
  const good = toHex(bytes);
  const bad = [shuffled, canon].find((x) => toHex(x) !== good)!;
  assert.match(reasonOf(bad), /not canonical/);
});

test("missing and extra envelope / tx fields are rejected, naming the field", async () => {
  const r = decodeSignedTx(await signTx(sendTx(), alice.seed));
  if (!r.ok) throw new Error(r.reason);
  const { txBytes, pubKey, signature } = r.stx;
  assert.is(reasonOf(encode({ tx: txBytes, pubKey })), "envelope.sig: missing");
  assert.is(
    reasonOf(encode({ tx: txBytes, pubKey, sig: signature, memo: "x" })),
    "envelope.memo: unknown field",
  );
  assert.is(
    reasonOf(encode({ tx: txBytes, pubKey: pubKey.subarray(0, 31), sig: signature })),
    "envelope.pubKey: must be 32 bytes",
  );
  assert.is(reasonOf(encode({ tx: "nope", pubKey, sig: signature })), "envelope.tx: must be bytes");
  const noFee = encode({
    chainId: "cirrus-test",
    type: "bank.send",
    from: alice.address,
    nonce: "0",
    body: {},
  });
  assert.is(reasonOf(encode({ tx: noFee, pubKey, sig: signature })), "tx.fee: missing");
});

test("wrong types: numeric nonce, float, bigint-like, non-address from are rejected", async () => {
  const r = decodeSignedTx(await signTx(sendTx(), alice.seed));
  if (!r.ok) throw new Error(r.reason);
  const { pubKey, signature: sig } = r.stx;
  const base = {
    chainId: "cirrus-test",
    type: "bank.send",
    from: alice.address,
    nonce: "0",
    fee: "1",
    body: {},
  };
  assert.is(
    reasonOf(encode({ tx: encode({ ...base, nonce: 0 }), pubKey, sig })),
    "tx.nonce: must be a non-negative integer string",
  );
  assert.is(
    reasonOf(encode({ tx: encode({ ...base, fee: "01" }), pubKey, sig })),
    "tx.fee: must be a non-negative integer string",
  );
  assert.match(reasonOf(encode({ tx: encode({ ...base, body: { x: 1.5 } }), pubKey, sig })), /safe integers/);
  assert.is(
    reasonOf(encode({ tx: encode({ ...base, from: "bob" }), pubKey, sig })),
    "tx.from: must be a cirrus address",
  );
});

test("oversized tx is rejected before decoding", async () => {
  const big = await signTx(
    sendTx({}, { to: bob.address, amount: "1", memo: "x".repeat(20_000) }),
    alice.seed,
  );
  assert.match(reasonOf(big), /^tx too large: \d+ bytes > 16384$/);
  const ok = await signTx(sendTx(), alice.seed);
  assert.match(reasonOf(ok, 100), /tx too large/);
});

test("negative, non-integer and non-numeric amounts are rejected with the body.amount reason", async () => {
  for (const amount of ["-5", "1.5", "abc", "", "1e3", " 1", "007", "0x10"]) {
    const bytes = await signTx(sendTx({}, { to: bob.address, amount }), alice.seed);
    assert.is(reasonOf(bytes), "body.amount: must be a non-negative integer string", amount);
  }
  const zero = await signTx(sendTx({}, { to: bob.address, amount: "0" }), alice.seed);
  assert.is(reasonOf(zero), "body.amount: must be positive");
  const num = await signTx(sendTx({}, { to: bob.address, amount: 5 }), alice.seed);
  assert.is(reasonOf(num), "body.amount: must be a non-negative integer string");
  const huge = await signTx(sendTx({}, { to: bob.address, amount: "1".repeat(39) }), alice.seed);
  assert.is(reasonOf(huge), "body.amount: must be a non-negative integer string");
});

test("bank.send body: bad recipient and extra fields are rejected", async () => {
  assert.is(
    reasonOf(await signTx(sendTx({}, { to: "nobody", amount: "1" }), alice.seed)),
    "body.to: must be a cirrus address",
  );
  assert.is(
    reasonOf(await signTx(sendTx({}, { to: bob.address, amount: "1", x: 1 }), alice.seed)),
    "body.x: unknown field",
  );
  assert.is(reasonOf(await signTx(sendTx({}, { amount: "1" }), alice.seed)), "body.to: missing");
});

test("from must equal addressOf(pubKey)", async () => {
  const bytes = await signTx(sendTx({ from: bob.address }), alice.seed);
  assert.is(reasonOf(bytes), "from does not match the signing key");
});

test("a flipped signature bit decodes but fails verifyTxSignature", async () => {
  const r = decodeSignedTx(await signTx(sendTx(), alice.seed));
  if (!r.ok) throw new Error(r.reason);
  const sig = r.stx.signature.slice();
  sig[5] = sig[5]! ^ 1;
  const bad = decodeSignedTx(encode({ tx: r.stx.txBytes, pubKey: r.stx.pubKey, sig }));
  assert.ok(bad.ok);
  if (bad.ok) assert.is(await verifyTxSignature(bad.stx), false);
});

test("a signature does not carry over to a modified tx (amount changed)", async () => {
  const r = decodeSignedTx(await signTx(sendTx(), alice.seed));
  if (!r.ok) throw new Error(r.reason);
  const other = encodeTx(sendTx({}, { to: bob.address, amount: "1001" }));
  const d = decodeSignedTx(encode({ tx: other, pubKey: r.stx.pubKey, sig: r.stx.signature }));
  assert.ok(d.ok);
  if (d.ok) assert.is(await verifyTxSignature(d.stx), false);
});

test("unknown tx types decode (structurally); a ledger refuses a tx type or module declared twice", async () => {
  const r = cirrusLedger().decodeTx(await signTx(sendTx({ type: "nosuch.thing" }, { a: "1" }), alice.seed));
  assert.ok(r.ok);
  assert.ok(cirrusLedger().handler("bank.send"));
  const copy: LedgerModule = { name: "bank2", txTypes: { "bank.send": bank.txTypes["bank.send"]! } };
  assert.throws(
    () => createLedger({ modules: [bank, copy] }),
    /tx type bank.send is declared by two modules/,
  );
  assert.throws(() => createLedger({ modules: [bank, bank] }), /module bank is listed twice/);
});

test.run();
