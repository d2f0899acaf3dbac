import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  addressOf,
  decodeAddress,
  fromHex,
  generatePrivateKey,
  isAddress,
  isValidPublicKey,
  publicKeyOf,
  sha256,
  sign,
  toHex,
  verify,
  verifyWithNoble,
  verifyWithWebCrypto,
  webCryptoAvailable,
} from "../../lib/crypto.ts";

test("sha256 matches the known vector for 'abc'", () => {
  assert.is(
    toHex(sha256(new TextEncoder().encode("abc"))),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
});

test("fromHex is strict: rejects upper case, odd length and non-hex; round-trips toHex", () => {
  assert.equal(fromHex("00ff10"), new Uint8Array([0, 255, 16]));
  assert.is(toHex(fromHex("deadbeef")), "deadbeef");
  for (const bad of ["ABCD", "abc", "zz", "0x00", " 00"]) assert.throws(() => fromHex(bad), bad);
});

test("WebCrypto Ed25519 is available in this Deno", async () => {
  assert.ok(await webCryptoAvailable());
});

test("webcrypto and noble agree on 200 random honest signatures; a mutated signature is rejected by both", async () => {
  for (let i = 0; i < 200; i++) {
    const seed = generatePrivateKey();
    const pub = publicKeyOf(seed);
    const msg = crypto.getRandomValues(new Uint8Array(1 + (i % 97)));
    const sig = await sign(seed, msg);
    assert.is(await verifyWithWebCrypto(pub, msg, sig), true, `webcrypto #${i}`);
    assert.is(verifyWithNoble(pub, msg, sig), true, `noble #${i}`);
    assert.is(await verify(pub, msg, sig), true);
    const bad = sig.slice();
    bad[i % 64] = bad[i % 64]! ^ (1 << (i % 8));
    assert.is(await verifyWithWebCrypto(pub, msg, bad), false, `webcrypto mutated #${i}`);
    assert.is(verifyWithNoble(pub, msg, bad), false, `noble mutated #${i}`);
    assert.is(await verify(pub, msg, bad), false);
  }
});

test("verify rejects a wrong message and a wrong key", async () => {
  const seed = generatePrivateKey();
  const msg = new Uint8Array([1, 2, 3]);
  const sig = await sign(seed, msg);
  assert.is(await verify(publicKeyOf(seed), new Uint8Array([1, 2, 4]), sig), false);
  assert.is(await verify(publicKeyOf(generatePrivateKey()), msg, sig), false);
});

test("verify returns false (never throws) on malformed lengths and types", async () => {
  const seed = generatePrivateKey();
  const pub = publicKeyOf(seed);
  const msg = new Uint8Array([9]);
  const sig = await sign(seed, msg);
  assert.is(await verify(pub.subarray(0, 31), msg, sig), false);
  assert.is(await verify(pub, msg, sig.subarray(0, 63)), false);
  assert.is(await verify(new Uint8Array(0), msg, new Uint8Array(0)), false);
  assert.is(await verify(null as unknown as Uint8Array, msg, sig), false);
  assert.is(await verify(new Uint8Array(32), msg, new Uint8Array(64)), false);
  assert.is(await verify(new Uint8Array(32).fill(255), msg, new Uint8Array(64)), false);
  assert.is(await verify(new Uint8Array(32).fill(255), msg, new Uint8Array(64).fill(255)), false);
});

test("signatures with S >= L (malleated) are rejected by the one rule", async () => {
  const seed = generatePrivateKey();
  const pub = publicKeyOf(seed);
  const msg = new Uint8Array([7, 7]);
  const sig = await sign(seed, msg);
  // S' = S + L (little-endian add) is a classic malleation; strict RFC 8032 rejects it.
  const L = (1n << 252n) + 27742317777372353535851937790883648493n;
  let s = 0n;
  for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(sig[i]!);
  let s2 = s + L;
  const bad = sig.slice();
  for (let i = 32; i < 64; i++) {
    bad[i] = Number(s2 & 255n);
    s2 >>= 8n;
  }
  assert.is(await verify(pub, msg, bad), false);
});

test("small-order keys are invalid: WebCrypto alone would accept the identity key with a zero signature", async () => {
  const identity = new Uint8Array(32);
  identity[0] = 1;
  const sig = new Uint8Array(64);
  sig[0] = 1; // R = identity, S = 0: 'valid' for every message under the identity key
  const msg = new TextEncoder().encode("any message at all");
  assert.is(await verifyWithWebCrypto(identity, msg, sig), true, "documents aws-lc's behaviour");
  assert.is(verifyWithNoble(identity, msg, sig), false);
  assert.not.ok(isValidPublicKey(identity));
  assert.is(await verify(identity, msg, sig), false);
  assert.ok(isValidPublicKey(publicKeyOf(generatePrivateKey())));
});

test("sign is deterministic (RFC 8032) and matches across calls with cached keys", async () => {
  const seed = generatePrivateKey();
  const msg = new Uint8Array([1]);
  assert.equal(await sign(seed, msg), await sign(seed, msg));
});

test("addresses: bech32 'cirrus' of 20 bytes of sha256(pubKey); isAddress/decodeAddress strict", () => {
  const pub = publicKeyOf(new Uint8Array(32).fill(1));
  const a = addressOf(pub);
  assert.ok(a.startsWith("cirrus1"));
  assert.equal(decodeAddress(a), sha256(pub).subarray(0, 20));
  assert.ok(isAddress(a));
  assert.not.ok(isAddress(a.toUpperCase()));
  assert.not.ok(isAddress(a.slice(0, -1) + (a.endsWith("q") ? "p" : "q")));
  assert.not.ok(isAddress("cosmos1" + a.slice(7)));
  assert.not.ok(isAddress(42));
  assert.throws(() => addressOf(new Uint8Array(31)));
});

test.run();
