/**
 * Tenant-signed requests: what a signature covers, signing with the tenant's seed and verifying.
 * The signature covers `DOMAIN || 0x00 || canonicalCBOR(request fields)`, so a manifest signature can
 * never be replayed as a lease request or a transaction, and vice versa.
 * @module
 */
import {
  addressOf,
  fromHex,
  isHex,
  isValidPublicKey,
  publicKeyOf,
  sign,
  toHex,
  verify,
} from "../../lib/crypto.ts";
import { LEASE_SIGN_DOMAIN, MANIFEST_SIGN_DOMAIN, NONCE_BYTES } from "./constants.ts";
import { encodeWire, withoutUndefined } from "./encoding.ts";
import {
  encodeLeaseRequest,
  encodeManifestRequest,
  leaseBody,
  type LeaseRequest,
  leaseRequestFrom,
  manifestBody,
  type ManifestRequest,
  manifestRequestFrom,
  type SignedLeaseRequest,
  type SignedManifestRequest,
} from "./wire_schema.ts";

/** The outcome of verifying a signed request. */
export type VerifyResult = { ok: true; signer: string } | { ok: false; reason: string };

const te = new TextEncoder();

function signBytes(domain: string, body: Record<string, unknown>): Uint8Array {
  const tag = te.encode(domain);
  const b = encodeWire(body);
  const out = new Uint8Array(tag.length + 1 + b.length);
  out.set(tag, 0);
  out.set(b, tag.length + 1);
  return out;
}

/** The bytes a manifest request's signature covers: `"cirrus/manifest/1" || 0x00 || CBOR(fields)`. */
export function manifestSignBytes(r: ManifestRequest): Uint8Array {
  return signBytes(MANIFEST_SIGN_DOMAIN, manifestBody(r));
}

/** The bytes a lease request's signature covers: `"cirrus/lease/1" || 0x00 || CBOR(fields)`. */
export function leaseSignBytes(r: LeaseRequest): Uint8Array {
  return signBytes(LEASE_SIGN_DOMAIN, leaseBody(r));
}

/** 16 fresh random bytes, hex: a request nonce. */
export function newNonce(): string {
  return toHex(crypto.getRandomValues(new Uint8Array(NONCE_BYTES)));
}

function withPubKey<T extends { pubKey?: string }>(req: T, seed: Uint8Array): T & { pubKey: string } {
  const pk = toHex(publicKeyOf(seed));
  if (req.pubKey !== undefined && req.pubKey !== pk) {
    throw new Error("request pubKey is not the public key of the signing seed");
  }
  return { ...req, pubKey: pk };
}

/**
 * Signs a manifest request with the tenant's 32-byte seed (`pubKey` is filled in from the seed) and
 * returns the wire bytes (what {@link decodeManifestRequest} reads). The request is checked first: a
 * malformed request throws {@link ProtocolError} here, not at the provider.
 */
export async function signManifestRequest(
  req: Omit<ManifestRequest, "pubKey"> & { pubKey?: string },
  seed: Uint8Array,
): Promise<Uint8Array> {
  return encodeManifestRequest(await createSignedManifestRequest(req, seed));
}

/** Like {@link signManifestRequest}, but returns the signed request (encode with {@link encodeManifestRequest}). */
export async function createSignedManifestRequest(
  req: Omit<ManifestRequest, "pubKey"> & { pubKey?: string },
  seed: Uint8Array,
): Promise<SignedManifestRequest> {
  const r = withPubKey(req, seed) as ManifestRequest;
  const request = manifestRequestFrom(withoutUndefined(manifestBody(r)));
  return { request, signature: toHex(await sign(seed, manifestSignBytes(request))) };
}

/** Signs a lease request with the tenant's seed (`pubKey` filled in from the seed); returns the wire bytes. */
export async function signLeaseRequest(
  req: Omit<LeaseRequest, "pubKey"> & { pubKey?: string },
  seed: Uint8Array,
): Promise<Uint8Array> {
  return encodeLeaseRequest(await createSignedLeaseRequest(req, seed));
}

/** Like {@link signLeaseRequest}, but returns the signed request (encode with {@link encodeLeaseRequest}). */
export async function createSignedLeaseRequest(
  req: Omit<LeaseRequest, "pubKey"> & { pubKey?: string },
  seed: Uint8Array,
): Promise<SignedLeaseRequest> {
  const r = withPubKey(req, seed) as LeaseRequest;
  const request = leaseRequestFrom(leaseBody(r));
  return { request, signature: toHex(await sign(seed, leaseSignBytes(request))) };
}

async function verifySigned(
  pubKey: string,
  signature: string,
  msg: Uint8Array,
  chainId: string,
  expectedChainId: string | undefined,
): Promise<VerifyResult> {
  if (!isHex(pubKey, 32)) return { ok: false, reason: "pubKey: must be 32 bytes of hex" };
  if (!isHex(signature, 64)) return { ok: false, reason: "signature: must be 64 bytes of hex" };
  const pk = fromHex(pubKey);
  if (!isValidPublicKey(pk)) return { ok: false, reason: "pubKey: not a valid ed25519 public key" };
  if (!(await verify(pk, msg, fromHex(signature)))) {
    return { ok: false, reason: "bad signature: the request was not signed by the key it names" };
  }
  if (expectedChainId !== undefined && chainId !== expectedChainId) {
    return {
      ok: false,
      reason: `the request is for chain ${chainId}, this provider is on ${expectedChainId}`,
    };
  }
  return { ok: true, signer: addressOf(pk) };
}

/** {@link verifySigned} of a signed request; never throws (an odd value is a reason). */
function verifyRequest<R extends { pubKey: string; chainId: string }>(
  signed: { request: R; signature: string },
  signBytesOf: (r: R) => Uint8Array,
  expectedChainId: string | undefined,
): Promise<VerifyResult> {
  const cannot = (e: unknown): VerifyResult => ({
    ok: false,
    reason: `cannot verify: ${(e as Error)?.message}`,
  });
  try {
    const r = signed.request;
    return verifySigned(r.pubKey, signed.signature, signBytesOf(r), r.chainId, expectedChainId).catch(cannot);
  } catch (e) {
    return Promise.resolve(cannot(e));
  }
}

/**
 * Checks a manifest request's signature (and, when given, its chain id). Never throws. `signer` is
 * the address of the signing key; whether it owns the deployment is the caller's check
 * (see `checkManifestAgainstLease`).
 */
export function verifyManifestRequest(
  signed: SignedManifestRequest,
  expectedChainId?: string,
): Promise<VerifyResult> {
  return verifyRequest(signed, manifestSignBytes, expectedChainId);
}

/** Checks a lease request's signature (and, when given, its chain id). Never throws. */
export function verifyLeaseRequest(
  signed: SignedLeaseRequest,
  expectedChainId?: string,
): Promise<VerifyResult> {
  return verifyRequest(signed, leaseSignBytes, expectedChainId);
}
