/** Wire formats of /cirrus/manifest/1 and /cirrus/lease/1: signing, strict decoding, freshness, versions. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { encode } from "cborg";
import { parseSdl } from "../../auction/sdl/mod.ts";
import type { Manifest } from "../../auction/sdl/types.ts";
import { addressOf, generatePrivateKey, publicKeyOf, toHex } from "../../lib/crypto.ts";
import {
  createSignedLeaseRequest,
  createSignedManifestRequest,
  decodeLeaseRequest,
  decodeManifestRequest,
  decodeResponse,
  encodeLeaseRequest,
  encodeManifestRequest,
  encodeResponse,
  errorResponse,
  FreshnessGuard,
  LEASE_REQUEST_MAX_BYTES,
  leaseSignBytes,
  MANIFEST_REQUEST_MAX_BYTES,
  manifestSignBytes,
  ManifestVersions,
  newNonce,
  ProtocolError,
  type SignedLeaseRequest,
  type SignedManifestRequest,
  signLeaseRequest,
  signManifestRequest,
  verifyLeaseRequest,
  verifyManifestRequest,
} from "../../provider/mod.ts";
import { seededRng } from "../../lib/rng.ts";
import { HELLO_SDL as HELLO } from "../helpers/sdl.ts";

const parsed = parseSdl(HELLO);
if (!parsed.ok) throw new Error(parsed.errors.join("; "));
const MANIFEST: Manifest = parsed.manifest;
const HASH = parsed.manifestHash;
const SEED = generatePrivateKey();
const TENANT = addressOf(publicKeyOf(SEED));
const PROVIDER = addressOf(publicKeyOf(generatePrivateKey()));
const LEASE_ID = `${TENANT}/7/1/1/${PROVIDER}`;
const NOW = 1_700_000_000_000;

function manifestReq(seed = SEED, over: Record<string, unknown> = {}): Promise<SignedManifestRequest> {
  return createSignedManifestRequest({
    chainId: "cirrus-devnet",
    leaseId: LEASE_ID,
    manifest: MANIFEST,
    manifestHash: HASH,
    version: 3,
    timestamp: NOW,
    nonce: newNonce(),
    ...over,
  }, seed);
}

function leaseReq(over: Record<string, unknown> = {}): Promise<SignedLeaseRequest> {
  return createSignedLeaseRequest({
    chainId: "cirrus-devnet",
    leaseId: LEASE_ID,
    op: "status",
    timestamp: NOW,
    nonce: newNonce(),
    ...over,
  }, SEED);
}

function throwsProtocol(fn: () => unknown, re: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, ProtocolError, String(e));
    assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable(`expected ProtocolError ${re}`);
}

/** Re-encode a decoded wire map with `edit` applied (canonical, so only the edit can be refused). */
function edited(bytes: Uint8Array, edit: (m: Record<string, unknown>) => void): Uint8Array {
  const m = decodeManifestRequestRaw(bytes);
  edit(m);
  return new Uint8Array(encode(m));
}
function decodeManifestRequestRaw(bytes: Uint8Array): Record<string, unknown> {
  const s = decodeManifestRequest(bytes);
  return structuredClone({ ...s.request, signature: s.signature }) as Record<string, unknown>;
}

// ---- manifest requests ----

test("manifest request: sign, encode, decode round trip and verify gives the signer's address", async () => {
  const s = await manifestReq();
  const bytes = encodeManifestRequest(s);
  const d = decodeManifestRequest(bytes);
  assert.equal(d, s);
  assert.equal(encodeManifestRequest(d), bytes);
  assert.is(d.request.pubKey, toHex(publicKeyOf(SEED)));
  const v = await verifyManifestRequest(d, "cirrus-devnet");
  assert.equal(v, { ok: true, signer: TENANT });
});

test("signManifestRequest / signLeaseRequest return the wire bytes the decoders read", async () => {
  const bytes = await signManifestRequest({
    chainId: "cirrus-devnet",
    leaseId: LEASE_ID,
    manifest: MANIFEST,
    manifestHash: HASH,
    version: 1,
    timestamp: NOW,
    nonce: newNonce(),
  }, SEED);
  assert.equal(await verifyManifestRequest(decodeManifestRequest(bytes)), { ok: true, signer: TENANT });
  const lb = await signLeaseRequest({
    chainId: "c",
    leaseId: LEASE_ID,
    op: "events",
    timestamp: NOW,
    nonce: newNonce(),
  }, SEED);
  assert.equal(await verifyLeaseRequest(decodeLeaseRequest(lb)), { ok: true, signer: TENANT });
});

test("manifest request: the encoding is deterministic (field order does not matter)", async () => {
  const s = await manifestReq();
  const shuffled: SignedManifestRequest = {
    signature: s.signature,
    request: Object.fromEntries(Object.entries(s.request).reverse()) as SignedManifestRequest["request"],
  };
  assert.equal(encodeManifestRequest(shuffled), encodeManifestRequest(s));
});

test("manifest request: a tampered field fails the signature check", async () => {
  const s = await manifestReq();
  for (
    const edit of [
      { version: 4 },
      { manifestHash: "ab".repeat(32) },
      { leaseId: `${TENANT}/8/1/1/${PROVIDER}` },
      { timestamp: NOW + 1 },
      { chainId: "other" },
    ]
  ) {
    const v = await verifyManifestRequest({ ...s, request: { ...s.request, ...edit } });
    assert.equal(v, { ok: false, reason: "bad signature: the request was not signed by the key it names" });
  }
});

test("manifest request: another key's signature under the tenant's pubKey fails", async () => {
  const mallory = generatePrivateKey();
  const forged = await manifestReq(mallory);
  const v = await verifyManifestRequest({
    ...forged,
    request: { ...forged.request, pubKey: toHex(publicKeyOf(SEED)) },
  });
  assert.not.ok(v.ok);
  // signed honestly by another key: valid, but the signer is that key's address (the owner check refuses it)
  const honest = await verifyManifestRequest(forged);
  assert.equal(honest, { ok: true, signer: addressOf(publicKeyOf(mallory)) });
});

test("manifest request: a request for another chain is refused by verify", async () => {
  const s = await manifestReq(SEED, { chainId: "cirrus-other" });
  const v = await verifyManifestRequest(s, "cirrus-devnet");
  assert.equal(v, {
    ok: false,
    reason: "the request is for chain cirrus-other, this provider is on cirrus-devnet",
  });
});

test("manifest request: signing refuses a pubKey that is not the seed's", async () => {
  try {
    await manifestReq(SEED, { pubKey: "11".repeat(32) });
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, /not the public key of the signing seed/);
  }
});

test("signatures are domain separated: a lease signature never verifies as a manifest signature", async () => {
  const l = await leaseReq();
  const m = await manifestReq();
  assert.match(
    new TextDecoder().decode(manifestSignBytes(m.request).subarray(0, 18)),
    /^cirrus\/manifest\/1\0/,
  );
  assert.match(new TextDecoder().decode(leaseSignBytes(l.request).subarray(0, 15)), /^cirrus\/lease\/1\0/);
  const v = await verifyManifestRequest({ ...m, signature: l.signature });
  assert.not.ok(v.ok);
});

test("manifest request decoder: garbage, oversize, non-canonical, unknown and missing fields are ProtocolErrors", async () => {
  const bytes = encodeManifestRequest(await manifestReq());
  throwsProtocol(() => decodeManifestRequest(new Uint8Array()), /manifest request: empty/);
  throwsProtocol(() => decodeManifestRequest(new Uint8Array([0xff, 0x00, 0x13])), /malformed CBOR/);
  throwsProtocol(
    () => decodeManifestRequest(new Uint8Array(MANIFEST_REQUEST_MAX_BYTES + 1)),
    /bytes, the limit is 1048576/,
  );
  throwsProtocol(() => decodeManifestRequest("hello" as unknown as Uint8Array), /not bytes/);
  throwsProtocol(() => decodeManifestRequest(new Uint8Array(encode([1, 2]))), /must be a map/);
  // a non-minimal integer (0x18 0x05 for 5) is not canonical
  throwsProtocol(() => decodeManifestRequest(new Uint8Array([0xa1, 0x61, 0x61, 0x18, 0x05])), /CBOR/);
  // float
  throwsProtocol(() => decodeManifestRequest(new Uint8Array(encode({ a: 1.5 }))), /safe integers/);
  throwsProtocol(() => decodeManifestRequest(edited(bytes, (m) => (m.extra = 1))), /\.extra: unknown field/);
  throwsProtocol(() => decodeManifestRequest(edited(bytes, (m) => delete m.nonce)), /\.nonce: missing/);
  throwsProtocol(
    () => decodeManifestRequest(edited(bytes, (m) => (m.nonce = "abcd"))),
    /nonce: must be 16 bytes/,
  );
  throwsProtocol(
    () => decodeManifestRequest(edited(bytes, (m) => (m.leaseId = "x/1"))),
    /leaseId: must be owner/,
  );
  throwsProtocol(
    () => decodeManifestRequest(edited(bytes, (m) => (m.version = -1))),
    /version: must be an integer/,
  );
  throwsProtocol(
    () => decodeManifestRequest(edited(bytes, (m) => (m.signature = "00"))),
    /signature: must be 64 bytes/,
  );
  throwsProtocol(
    () =>
      decodeManifestRequest(
        edited(bytes, (m) => ((m.manifest as Manifest)[0]!.services[0]!.resources.cpu = "1" as never)),
      ),
    /manifest\[0\]\.services\[0\]\.resources\.cpu: must be an integer/,
  );
  throwsProtocol(
    () => decodeManifestRequest(edited(bytes, (m) => (m.manifest = []))),
    /manifest: must have 1-20 entries/,
  );
  // a __proto__ key is just an unknown field
  const proto = new Uint8Array([0xa1, 0x69, ...new TextEncoder().encode("__proto__"), 0x01]);
  throwsProtocol(() => decodeManifestRequest(proto), /__proto__: unknown field|missing/);
  // deep nesting (stack) is a ProtocolError, not a RangeError
  const deep = new Uint8Array(200_000).fill(0x81);
  throwsProtocol(() => decodeManifestRequest(deep), /manifest request/);
});

// ---- lease requests ----

test("lease request: round trip with logs options, verify gives the signer", async () => {
  const s = await leaseReq({ op: "logs", service: "web", tail: 50, follow: true });
  const bytes = encodeLeaseRequest(s);
  assert.ok(bytes.length < LEASE_REQUEST_MAX_BYTES);
  const d = decodeLeaseRequest(bytes);
  assert.equal(d, s);
  assert.equal(await verifyLeaseRequest(d, "cirrus-devnet"), { ok: true, signer: TENANT });
  const st = decodeLeaseRequest(encodeLeaseRequest(await leaseReq({ op: "events" })));
  assert.is(st.request.op, "events");
  assert.is(st.request.service, undefined);
});

test("lease request: a logs cursor round-trips; bad cursors are refused with the reason", async () => {
  const s = await leaseReq({ op: "logs", follow: true, cursor: { "0123456789ab": 42, "ba9876543210": 0 } });
  assert.equal(decodeLeaseRequest(encodeLeaseRequest(s)), s);
  await assertRejectsProtocol(
    () => leaseReq({ op: "status", cursor: {} }),
    /cursor: only allowed with op "logs"/,
  );
  const signed = await leaseReq({ op: "logs", cursor: { a: 1 } });
  const asArray = new Uint8Array(encode({ ...signed.request, cursor: [1], signature: signed.signature }));
  throwsProtocol(() => decodeLeaseRequest(asArray), /cursor: must be a map/);
  await assertRejectsProtocol(
    () => leaseReq({ op: "logs", cursor: { a: -1 } }),
    /cursor\.a: must be an integer/,
  );
  await assertRejectsProtocol(
    () => leaseReq({ op: "logs", cursor: { a: 1.5 } }),
    /cursor\.a: must be an integer/,
  );
  const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`c${i}`, i]));
  await assertRejectsProtocol(() => leaseReq({ op: "logs", cursor: many }), /at most 64 containers, got 65/);
  await assertRejectsProtocol(() => leaseReq({ op: "logs", cursor: { ["x".repeat(65)]: 1 } }), /cursor key/);
});

test("lease request: a tampered op fails the signature check", async () => {
  const s = await leaseReq();
  const v = await verifyLeaseRequest({ ...s, request: { ...s.request, op: "logs" } });
  assert.not.ok(v.ok);
});

test("lease request decoder: bad op, options on status, bad tail are ProtocolErrors", async () => {
  await assertRejectsProtocol(() => leaseReq({ op: "exec" }), /op: must be one of status, logs, events/);
  await assertRejectsProtocol(() => leaseReq({ op: "status", tail: 3 }), /tail: only allowed with op "logs"/);
  await assertRejectsProtocol(() => leaseReq({ op: "logs", tail: -1 }), /tail: must be an integer/);
  await assertRejectsProtocol(() => leaseReq({ op: "logs", follow: "yes" }), /follow: must be a boolean/);
  throwsProtocol(() => decodeLeaseRequest(new Uint8Array(LEASE_REQUEST_MAX_BYTES + 1)), /the limit is 4096/);
  const bytes = encodeLeaseRequest(await leaseReq());
  throwsProtocol(() => decodeLeaseRequest(bytes.subarray(0, bytes.length - 3)), /malformed CBOR/);
});

async function assertRejectsProtocol(fn: () => Promise<unknown>, re: RegExp): Promise<void> {
  try {
    await fn();
  } catch (e) {
    assert.instance(e, ProtocolError, String(e));
    assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable(`expected ProtocolError ${re}`);
}

// ---- responses ----

test("responses: ok payloads (with floats, nested, undefined dropped) and errors round trip", () => {
  const ok = { ok: true as const, services: [{ name: "web", ready: 1, cpu: 0.25 }], note: undefined };
  assert.equal(decodeResponse(encodeResponse(ok)), {
    ok: true,
    services: [{ name: "web", ready: 1, cpu: 0.25 }],
  });
  const err = errorResponse("forbidden", "forbidden: only the deployment's owner may ask");
  assert.equal(decodeResponse(encodeResponse(err)), err);
});

test("responses: a malformed error response or garbage is a ProtocolError", () => {
  throwsProtocol(
    () => decodeResponse(new Uint8Array(encode({ ok: false, error: "x", code: "teapot" }))),
    /code/,
  );
  throwsProtocol(() => decodeResponse(new Uint8Array(encode({ ok: "yes" }))), /ok: must be a boolean/);
  throwsProtocol(() => decodeResponse(new Uint8Array([0x9f])), /malformed CBOR/);
  throwsProtocol(() => encodeResponse({ ok: true, when: new Date() } as never), /unsupported type/);
});

// ---- fuzz ----

test("fuzz: 1,000 random and mutated byte strings give only ProtocolError (or a request that fails verify)", async () => {
  const r = seededRng(42);
  const seeds = [
    encodeManifestRequest(await manifestReq()),
    encodeLeaseRequest(await leaseReq({ op: "logs", service: "web", tail: 10 })),
    encodeResponse({ ok: true, lines: ["a", "b"] }),
  ];
  const decoders = [decodeManifestRequest, decodeLeaseRequest, decodeResponse] as const;
  let decoded = 0, refused = 0;
  for (let i = 0; i < 1000; i++) {
    let bytes: Uint8Array;
    const kind = i % 4;
    if (kind === 0) {
      bytes = new Uint8Array(Math.floor(r() * 300));
      for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(r() * 256);
    } else {
      const base = seeds[kind - 1]!;
      bytes = base.slice();
      const flips = 1 + Math.floor(r() * 4);
      for (let f = 0; f < flips; f++) {
        const op = r();
        const at = Math.floor(r() * bytes.length);
        if (op < 0.6) bytes[at] = Math.floor(r() * 256);
        else if (op < 0.8) bytes = bytes.subarray(0, at);
        else bytes = new Uint8Array([...bytes.subarray(0, at), Math.floor(r() * 256), ...bytes.subarray(at)]);
      }
    }
    for (const dec of decoders) {
      try {
        const v = dec(bytes);
        decoded++;
        if (dec === decodeManifestRequest) {
          const res = await verifyManifestRequest(v as SignedManifestRequest);
          if (!res.ok) assert.type(res.reason, "string");
        } else if (dec === decodeLeaseRequest) {
          const res = await verifyLeaseRequest(v as SignedLeaseRequest);
          if (!res.ok) assert.type(res.reason, "string");
        }
      } catch (e) {
        if (!(e instanceof ProtocolError)) {
          assert.unreachable(`case ${i}: ${dec.name} threw ${(e as Error)?.name}: ${(e as Error)?.message}`);
        }
        refused++;
      }
    }
  }
  assert.ok(refused > 2000, `refused ${refused}`);
  assert.ok(decoded > 0, "some mutations still decode (and then fail verify)");
  assert.is(decoded + refused, 3000);
});

// ---- freshness ----

test("freshness: a fresh request passes once; the same nonce again is a replay", () => {
  const g = new FreshnessGuard();
  const n = newNonce();
  assert.is(g.check(NOW - 10_000, n, NOW), null);
  assert.is(g.check(NOW - 10_000, n, NOW + 1000), "replayed request: this nonce was already used");
  assert.is(g.check(NOW, newNonce(), NOW), null);
});

test("freshness: a stale timestamp is refused with its age and the window", () => {
  const g = new FreshnessGuard({ windowMs: 60_000 });
  assert.is(
    g.check(NOW - 5 * 60_000, newNonce(), NOW),
    "request is stale: timestamp 5m ago, the window is 60s",
  );
  assert.is(g.check(NOW - 61_000, newNonce(), NOW), "request is stale: timestamp 61s ago, the window is 60s");
});

test("freshness: a timestamp in the future beyond the window is refused", () => {
  const g = new FreshnessGuard();
  assert.is(
    g.check(NOW + 2 * 60_000 + 1000, newNonce(), NOW),
    "request timestamp is 2m in the future, the window is 60s (check the clock)",
  );
  assert.is(g.check(NOW + 30_000, newNonce(), NOW), null);
});

test("freshness: a captured request replayed after the window is refused as stale", () => {
  const g = new FreshnessGuard();
  const n = newNonce();
  assert.is(g.check(NOW, n, NOW), null);
  assert.match(g.check(NOW, n, NOW + 61_000)!, /^request is stale/);
});

test("freshness: memory is bounded; when full of live nonces it refuses, and frees them as time passes", () => {
  const g = new FreshnessGuard({ windowMs: 1000, maxNonces: 100 });
  for (let i = 0; i < 100; i++) assert.is(g.check(NOW, `n${i}`, NOW), null);
  assert.is(g.size, 100);
  assert.match(g.check(NOW, "n-extra", NOW)!, /^too many requests: 100 in the last 1s/);
  // a live nonce is never forgotten to make room: the replay is still caught
  assert.is(g.check(NOW, "n5", NOW + 10), "replayed request: this nonce was already used");
  // after the window the old nonces go and new requests pass
  assert.is(g.check(NOW + 1500, "later", NOW + 1500), null);
  assert.is(g.size, 1);
  // a steady stream over a long time stays under the bound
  for (let t = 0; t < 20_000; t += 20) assert.is(g.check(NOW + 2000 + t, `s${t}`, NOW + 2000 + t), null);
  assert.ok(g.size <= 100, `size ${g.size}`);
});

// ---- versions ----

test("versions: a lower version is a replay, the same version and hash is idempotent", () => {
  const v = new ManifestVersions();
  assert.is(v.check("d/1", 5, "aa"), null);
  v.accept("d/1", 5, "aa");
  assert.is(v.check("d/1", 3, "bb"), "replayed manifest: version 3, accepted 5");
  assert.is(v.check("d/1", 5, "aa"), null);
  assert.match(v.check("d/1", 5, "bb")!, /^manifest version 5 was already accepted with hash aa…/);
  assert.is(v.check("d/1", 6, "bb"), null);
  assert.is(v.check("d/2", 1, "cc"), null);
});

test("versions: accept never lowers; forget clears; memory is bounded", () => {
  const v = new ManifestVersions(3);
  v.accept("d/1", 5, "aa");
  v.accept("d/1", 4, "zz");
  assert.equal(v.get("d/1"), { version: 5, hash: "aa" });
  v.forget("d/1");
  assert.is(v.get("d/1"), undefined);
  for (let i = 0; i < 10; i++) v.accept(`d/${i}`, 1, "aa");
  assert.is(v.size, 3);
  assert.ok(v.get("d/9"));
});

test.run();
