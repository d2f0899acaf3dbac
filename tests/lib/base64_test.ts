/** lib/crypto.ts base64: the one encoder/decoder the shell protocol and the pull credentials use. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { fromBase64, toBase64 } from "../../lib/crypto.ts";

test("base64: known vectors, both ways", () => {
  const enc = new TextEncoder();
  assert.is(toBase64(enc.encode("hi")), "aGk=");
  assert.is(toBase64(enc.encode("user:pass")), "dXNlcjpwYXNz");
  assert.is(toBase64(new Uint8Array()), "");
  assert.equal(fromBase64("aGk="), enc.encode("hi"));
});

test("base64: a buffer larger than one encoding chunk round-trips", () => {
  const bytes = new Uint8Array(100_000).map((_, i) => (i * 31) & 0xff);
  assert.equal(fromBase64(toBase64(bytes)), bytes);
});

test("base64: text that is not base64 throws", () => {
  assert.throws(() => fromBase64("!!not base64!!"));
});

test.run();
