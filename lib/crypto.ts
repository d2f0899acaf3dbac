/**
 * Hashing, hex, ed25519 keys and signatures, and cirrus account addresses.
 *
 * Signature validity is ONE rule on every node (see RUNTIME.md): a signature is valid when WebCrypto
 * Ed25519 (Deno's native aws-lc) accepts it, or, when WebCrypto says no or throws, when noble's RFC 8032
 * strict verification (`zip215: false`) accepts it. On honest signatures the two agree; WebCrypto is the
 * fast accept path and noble strict is the judge of everything WebCrypto refuses. Malformed lengths are
 * invalid (`false`), never an exception.
 * @module
 */
import * as ed from "@noble/ed25519";
import { sha256 as nobleSha256, sha512 } from "@noble/hashes/sha2.js";
import { bech32 } from "@scure/base";

ed.hashes.sha512 = sha512;

/** Bech32 human-readable prefix of account addresses. */
export const ADDRESS_PREFIX = "cirrus";

/** sha256 of `bytes` (32 bytes). */
export function sha256(bytes: Uint8Array): Uint8Array {
  return nobleSha256(bytes);
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** Lower-case hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i]!]!;
  return s;
}

const HEX_RE = /^(?:[0-9a-f]{2})*$/;

/** Parses strict hex: lower-case, even length. Throws `Error` on anything else. */
export function fromHex(hex: string): Uint8Array {
  if (typeof hex !== "string" || !HEX_RE.test(hex)) {
    throw new Error("invalid hex (want lower-case, even length)");
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Standard base64 (with padding) of `bytes`; any length (encoded in chunks, never one huge call). */
export function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/** Bytes of base64 text (the platform's forgiving decoder, `atob`); throws on text that is not base64. */
export function fromBase64(b64: string): Uint8Array {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** True when `s` is strict lower-case, even-length hex (optionally of exactly `bytes` bytes). */
export function isHex(s: unknown, bytes?: number): s is string {
  return typeof s === "string" && HEX_RE.test(s) && (bytes === undefined || s.length === 2 * bytes);
}

/** Concatenation of byte arrays. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Byte-wise equality. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A fresh random 32-byte ed25519 private key seed. */
export function generatePrivateKey(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(32));
}

/** The 32-byte ed25519 public key of a 32-byte seed. Throws on a wrong seed length. */
export function publicKeyOf(seed: Uint8Array): Uint8Array {
  if (!(seed instanceof Uint8Array) || seed.length !== 32) {
    throw new Error("private key seed must be 32 bytes");
  }
  return ed.getPublicKey(seed);
}

/** A small insertion-ordered cache that evicts its oldest entry past `max`. */
class BoundedCache<V> {
  #map = new Map<string, V>();
  constructor(readonly max: number) {}
  get(k: string): V | undefined {
    return this.#map.get(k);
  }
  set(k: string, v: V): void {
    if (this.#map.size >= this.max && !this.#map.has(k)) {
      const oldest = this.#map.keys().next();
      if (!oldest.done) this.#map.delete(oldest.value);
    }
    this.#map.set(k, v);
  }
}

const PKCS8_ED25519_PREFIX = new Uint8Array([
  0x30,
  0x2e,
  0x02,
  0x01,
  0x00,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x70,
  0x04,
  0x22,
  0x04,
  0x20,
]);

let webCryptoOk: boolean | null = null; // null = not probed yet
const signKeys = new BoundedCache<Promise<CryptoKey>>(256);
/** Per public key: whether it is acceptable, and its imported WebCrypto key (lazily). */
interface VerifyKeyEntry {
  valid: boolean;
  key: Promise<CryptoKey> | null;
}
const verifyKeys = new BoundedCache<VerifyKeyEntry>(4096);

function verifyKeyEntry(pubKey: Uint8Array): VerifyKeyEntry {
  const id = toHex(pubKey);
  let e = verifyKeys.get(id);
  if (!e) {
    let valid = false;
    try {
      valid = !ed.Point.fromBytes(pubKey, false).isSmallOrder();
    } catch {
      valid = false;
    }
    e = { valid, key: null };
    verifyKeys.set(id, e);
  }
  return e;
}

/**
 * True when `pubKey` is 32 bytes, a canonical encoding of a curve point (y < p), and not of small
 * order. WebCrypto (aws-lc) accepts the identity key with an all-zero signature for ANY message;
 * noble strict refuses small-order keys, so {@link verify} checks this first on every path.
 * Cached per key in a bounded map.
 */
export function isValidPublicKey(pubKey: Uint8Array): boolean {
  if (!(pubKey instanceof Uint8Array) || pubKey.length !== 32) return false;
  return verifyKeyEntry(pubKey).valid;
}

/** Whether WebCrypto Ed25519 sign/verify works in this runtime (probed once, then cached). */
export async function webCryptoAvailable(): Promise<boolean> {
  if (webCryptoOk !== null) return webCryptoOk;
  try {
    const seed = new Uint8Array(32).fill(7);
    const msg = new Uint8Array([1, 2, 3]);
    const key = await crypto.subtle.importKey(
      "pkcs8",
      concatBytes(PKCS8_ED25519_PREFIX, seed),
      "Ed25519",
      false,
      ["sign"],
    );
    const sig = new Uint8Array(await crypto.subtle.sign("Ed25519", key, msg));
    webCryptoOk = bytesEqual(sig, ed.sign(msg, seed));
  } catch {
    webCryptoOk = false;
  }
  return webCryptoOk;
}

/** ed25519 signature (64 bytes) of `msg` with the 32-byte `seed`. WebCrypto when available, else noble. */
export async function sign(seed: Uint8Array, msg: Uint8Array): Promise<Uint8Array> {
  if (!(seed instanceof Uint8Array) || seed.length !== 32) {
    throw new Error("private key seed must be 32 bytes");
  }
  if (!syncOnly && await webCryptoAvailable()) {
    const id = toHex(seed);
    let key = signKeys.get(id);
    if (!key) {
      key = crypto.subtle.importKey("pkcs8", concatBytes(PKCS8_ED25519_PREFIX, seed), "Ed25519", false, [
        "sign",
      ]);
      signKeys.set(id, key);
    }
    try {
      return new Uint8Array(await crypto.subtle.sign("Ed25519", await key, msg as Uint8Array<ArrayBuffer>));
    } catch {
      // fall through to noble
    }
  }
  return ed.sign(msg, seed);
}

/**
 * WebCrypto's opinion alone: true/false, or `null` when WebCrypto is unavailable or threw.
 * Exposed for tests and benchmarks; consensus code must use {@link verify}.
 */
export async function verifyWithWebCrypto(
  pubKey: Uint8Array,
  msg: Uint8Array,
  sig: Uint8Array,
): Promise<boolean | null> {
  if (!(await webCryptoAvailable())) return null;
  if (pubKey?.length !== 32 || sig?.length !== 64) return false;
  try {
    const entry = verifyKeyEntry(pubKey);
    if (!entry.key) {
      entry.key = crypto.subtle.importKey("raw", pubKey as Uint8Array<ArrayBuffer>, "Ed25519", false, [
        "verify",
      ]);
    }
    return await crypto.subtle.verify(
      "Ed25519",
      await entry.key,
      sig as Uint8Array<ArrayBuffer>,
      msg as Uint8Array<ArrayBuffer>,
    );
  } catch {
    return null;
  }
}

/** noble's RFC 8032 strict verification (`zip215: false`) alone. Never throws. */
export function verifyWithNoble(pubKey: Uint8Array, msg: Uint8Array, sig: Uint8Array): boolean {
  if (!(pubKey instanceof Uint8Array) || !(sig instanceof Uint8Array) || !(msg instanceof Uint8Array)) {
    return false;
  }
  if (pubKey.length !== 32 || sig.length !== 64) return false;
  try {
    return ed.verify(sig, msg, pubKey, { zip215: false });
  } catch {
    return false;
  }
}

/**
 * The one validity rule: the key passes {@link isValidPublicKey}, and WebCrypto accepts or (when it
 * refuses or throws) noble strict accepts. With small-order and non-canonical keys excluded, both
 * are cofactorless RFC 8032 checks with S < L and canonical R, so they agree.
 * Wrong lengths or non-byte inputs give `false`; this never throws.
 */
export async function verify(pubKey: Uint8Array, msg: Uint8Array, sig: Uint8Array): Promise<boolean> {
  if (!(pubKey instanceof Uint8Array) || !(sig instanceof Uint8Array) || !(msg instanceof Uint8Array)) {
    return false;
  }
  if (pubKey.length !== 32 || sig.length !== 64) return false;
  if (sharedVerdicts === null) return await verifyUncached(pubKey, msg, sig);
  const cached = sharedVerdicts.get(pubKey, msg, sig);
  if (cached !== undefined) return cached;
  // noble alone (synchronous): the same rule once the key is valid (see below), and no real async
  // work whose completion order could differ between two runs of a simulation.
  const ok = verifyKeyEntry(pubKey).valid && verifyWithNoble(pubKey, msg, sig);
  sharedVerdicts.set(pubKey, msg, sig, ok);
  return ok;
}

async function verifyUncached(pubKey: Uint8Array, msg: Uint8Array, sig: Uint8Array): Promise<boolean> {
  if (!verifyKeyEntry(pubKey).valid) return false;
  if ((await verifyWithWebCrypto(pubKey, msg, sig)) === true) return true;
  return verifyWithNoble(pubKey, msg, sig);
}

/**
 * Verdicts of {@link verify} remembered by (public key, signature, message): the verdict of a
 * signature check is a pure function of the three, so many simulated nodes in one process can share
 * it (issue 10: a signature is checked once per simulation, not once per node). A hit compares the
 * whole message, so a cached verdict is never reused for other bytes. A miss is checked by noble
 * synchronously, so that a simulation's outcome does not depend on when WebCrypto answers.
 */
export class VerdictCache {
  readonly #entries = new Map<string, { msg: Uint8Array; ok: boolean }[]>();
  #size = 0;
  /** Hits and misses, for the simulator's report. */
  hits = 0;
  misses = 0;
  /** @param max verdicts kept at most; the whole cache is dropped when full (simple, bounded). */
  constructor(readonly max = 1_000_000) {}

  /** The remembered verdict, or undefined. */
  get(pubKey: Uint8Array, msg: Uint8Array, sig: Uint8Array): boolean | undefined {
    const list = this.#entries.get(verdictKey(pubKey, sig));
    if (list) {
      for (const e of list) {
        if (bytesEqual(e.msg, msg)) {
          this.hits++;
          return e.ok;
        }
      }
    }
    this.misses++;
    return undefined;
  }

  /** Remembers a verdict (a copy of the message is kept). */
  set(pubKey: Uint8Array, msg: Uint8Array, sig: Uint8Array, ok: boolean): void {
    if (this.#size >= this.max) {
      this.#entries.clear();
      this.#size = 0;
    }
    const key = verdictKey(pubKey, sig);
    let list = this.#entries.get(key);
    if (!list) this.#entries.set(key, list = []);
    list.push({ msg: msg.slice(), ok });
    this.#size++;
  }

  /** Verdicts held. */
  get size(): number {
    return this.#size;
  }
}

let sharedVerdicts: VerdictCache | null = null;
let syncOnly = false;

/**
 * Makes {@link sign} use noble only (synchronous work inside the promise: the same signature, since
 * ed25519 signing is deterministic). A simulation of many nodes in one process needs it: WebCrypto
 * answers in whatever order the machine finishes them, and that order would leak into the run.
 * Returns a function restoring the previous mode. A real node never sets it.
 */
export function signSynchronously(on: boolean): () => void {
  const previous = syncOnly;
  syncOnly = on;
  return () => {
    syncOnly = previous;
  };
}

/**
 * Makes every {@link verify} of this process consult `cache` (null: none, the default; a real node
 * never sets one). Returns a function restoring the previous cache. For the simulator only.
 */
export function shareVerdicts(cache: VerdictCache | null): () => void {
  const previous = sharedVerdicts;
  sharedVerdicts = cache;
  return () => {
    sharedVerdicts = previous;
  };
}

function verdictKey(pubKey: Uint8Array, sig: Uint8Array): string {
  return toHex(sig) + toHex(pubKey);
}

/** The account address of a 32-byte public key: bech32("cirrus", first 20 bytes of sha256(pubKey)). */
export function addressOf(pubKey: Uint8Array): string {
  if (!(pubKey instanceof Uint8Array) || pubKey.length !== 32) throw new Error("public key must be 32 bytes");
  const id = toHex(pubKey);
  let address = addressesByKey.get(id);
  if (address === undefined) {
    address = bech32.encode(ADDRESS_PREFIX, bech32.toWords(sha256(pubKey).subarray(0, 20)));
    addressesByKey.set(id, address);
  }
  return address;
}

/** Addresses of recently seen public keys (hex). */
const addressesByKey = new BoundedCache<string>(65_536);

/** The 20 address bytes of a canonical (lower-case, prefix "cirrus") address. Throws otherwise. */
export function decodeAddress(s: string): Uint8Array {
  if (typeof s !== "string" || s.length > 90 || s !== s.toLowerCase()) {
    throw new Error("not a cirrus address (want lower-case bech32)");
  }
  let dec: { prefix: string; words: number[] };
  try {
    dec = bech32.decode(s as `${string}1${string}`);
  } catch (e) {
    throw new Error(`not a cirrus address: ${(e as Error).message}`);
  }
  if (dec.prefix !== ADDRESS_PREFIX) throw new Error(`not a cirrus address: prefix "${dec.prefix}"`);
  const bytes = bech32.fromWords(dec.words);
  if (bytes.length !== 20) throw new Error("not a cirrus address: want 20 bytes");
  return bytes;
}

/** Addresses already checked (bech32 decoding is a hot spot of tx checks). */
const knownAddresses = new BoundedCache<boolean>(65_536);

/** True when `s` is a canonical cirrus address. */
export function isAddress(s: unknown): s is string {
  if (typeof s !== "string" || s.length > 90) return false;
  const known = knownAddresses.get(s);
  if (known !== undefined) return known;
  let ok: boolean;
  try {
    decodeAddress(s);
    ok = true;
  } catch {
    ok = false;
  }
  knownAddresses.set(s, ok);
  return ok;
}
