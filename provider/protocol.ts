/**
 * Wire formats of the tenant -> provider stream protocols (DESIGN.md, data flow steps 6 and 8):
 *
 * - `/cirrus/manifest/1`: a {@link SignedManifestRequest} (the whole deployment manifest, its hash, a
 *   monotonic version, a timestamp and a nonce, signed by the tenant) -> a {@link ProtocolResponse};
 * - `/cirrus/lease/1`: a {@link SignedLeaseRequest} (`status`, `logs`, `events`) -> a response.
 *
 * Encoding: deterministic CBOR (cborg). A signed request on the wire is one map: the request's fields
 * plus `signature` (hex). The signature covers `DOMAIN || 0x00 || canonicalCBOR(request fields)`, so a
 * manifest signature can never be replayed as a lease request or a transaction, and vice versa.
 *
 * Decoders take untrusted bytes: they are size limited, strict (canonical CBOR only, no floats, tags,
 * undefined, duplicate keys or unknown fields) and throw only {@link ProtocolError}.
 *
 * Replay protection lives next to the formats: {@link FreshnessGuard} (timestamp window + nonces seen
 * in it) and {@link ManifestVersions} (the last accepted manifest version per deployment).
 * @module
 */
import { decode, encode } from "cborg";
import {
  addressOf,
  fromHex,
  isHex,
  isValidPublicKey,
  publicKeyOf,
  sign,
  toHex,
  verify,
} from "../lib/crypto.ts";
import { parseBidId } from "../lib/ids.ts";
import {
  HTTP_NEXT_CASES,
  MAX_GROUP_COUNT,
  MAX_GROUP_UNITS,
  MAX_UNIT_COUNT,
  MAX_UNIT_GPU,
} from "../auction/sdl/limits.ts";
import type { Manifest } from "../auction/sdl/types.ts";

/** The manifest protocol id and its signature domain. */
export const MANIFEST_PROTOCOL_ID = "/cirrus/manifest/1";
export const MANIFEST_SIGN_DOMAIN = "cirrus/manifest/1";
/** The lease (tenant access) protocol id and its signature domain. */
export const LEASE_PROTOCOL_ID = "/cirrus/lease/1";
export const LEASE_SIGN_DOMAIN = "cirrus/lease/1";

/** Largest manifest request accepted, bytes. */
export const MANIFEST_REQUEST_MAX_BYTES = 1024 * 1024;
/** Largest lease request accepted, bytes. */
export const LEASE_REQUEST_MAX_BYTES = 4096;
/** Largest response accepted, bytes. */
export const RESPONSE_MAX_BYTES = 8 * 1024 * 1024;
/** Largest `tail` of a logs request. */
export const LOG_TAIL_MAX = 100_000;
/** Nonce length, bytes (hex on the wire). */
export const NONCE_BYTES = 16;

/** A decoder refused its input; `message` says why (shown to the peer). */
export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProtocolError";
  }
}

// ---------------------------------------------------------------------------------------------------
// shapes

/** What `/cirrus/manifest/1` carries (before signing). */
export interface ManifestRequest {
  chainId: string;
  /** `owner/dseq/gseq/oseq/provider` */
  leaseId: string;
  /** The whole deployment manifest; the provider picks the lease's group (by gseq -> group name). */
  manifest: Manifest;
  /** Hex sha256 of the canonical manifest (must equal the chain's). */
  manifestHash: string;
  /** Monotonic per deployment (e.g. the height of the deployment.create/update, or a counter). */
  version: number;
  /** unix ms */
  timestamp: number;
  /** 16 random bytes, hex */
  nonce: string;
  /** The signer's ed25519 public key, hex (32 bytes). */
  pubKey: string;
}

/** A signed manifest request. */
export interface SignedManifestRequest {
  request: ManifestRequest;
  /** ed25519 signature (64 bytes, hex) over {@link manifestSignBytes}. */
  signature: string;
}

/** Operations of `/cirrus/lease/1`. */
export type LeaseOp = "status" | "logs" | "events";
export const LEASE_OPS: readonly LeaseOp[] = ["status", "logs", "events"];

/** What `/cirrus/lease/1` carries (before signing). `service`, `tail`, `follow`: logs only. */
export interface LeaseRequest {
  chainId: string;
  leaseId: string;
  op: LeaseOp;
  service?: string;
  tail?: number;
  follow?: boolean;
  timestamp: number;
  nonce: string;
  pubKey: string;
}

/** A signed lease request. */
export interface SignedLeaseRequest {
  request: LeaseRequest;
  signature: string;
}

/** Error codes of a refused request. */
export type ProtocolErrorCode = "forbidden" | "bad_request" | "not_found" | "conflict" | "internal";
export const PROTOCOL_ERROR_CODES: readonly ProtocolErrorCode[] = [
  "forbidden",
  "bad_request",
  "not_found",
  "conflict",
  "internal",
];

/** A successful answer: `ok` plus any plain data. */
export type OkResponse<T extends Record<string, unknown> = Record<string, unknown>> = { ok: true } & T;
/** A refusal. */
export interface ErrorResponse {
  ok: false;
  error: string;
  code: ProtocolErrorCode;
}
/** What the provider answers on both protocols. */
export type ProtocolResponse<T extends Record<string, unknown> = Record<string, unknown>> =
  | OkResponse<T>
  | ErrorResponse;

/** The outcome of verifying a signed request. */
export type VerifyResult = { ok: true; signer: string } | { ok: false; reason: string };

// ---------------------------------------------------------------------------------------------------
// CBOR helpers

const DECODE_OPTIONS = {
  strict: true,
  rejectDuplicateMapKeys: true,
  allowIndefinite: false,
  allowUndefined: false,
  allowInfinity: false,
  allowNaN: false,
  allowBigInt: false,
  useMaps: false,
  tags: [],
} as const;

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) &&
    Object.getPrototypeOf(v) === Object.prototype;
}

/** Drops undefined properties recursively (cborg would encode them as CBOR `undefined`). */
function stripUndefined(v: unknown, depth = 0): unknown {
  if (depth > 64) throw new ProtocolError("value nested too deeply");
  if (Array.isArray(v)) return v.map((x) => stripUndefined(x, depth + 1));
  if (isObj(v)) {
    const out: Obj = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = stripUndefined(x, depth + 1);
    return out;
  }
  return v;
}

function cborEncode(v: unknown): Uint8Array {
  return new Uint8Array(encode(stripUndefined(v)));
}

/** Why `v` is not plain data (strings, booleans, null, bytes, arrays, maps, numbers), or null. */
function plainProblem(v: unknown, depth: number, floats: boolean, path: string): string | null {
  if (depth < 0) return `${path}: nested too deeply`;
  if (v === null || typeof v === "string" || typeof v === "boolean" || v instanceof Uint8Array) return null;
  if (typeof v === "number") {
    if (floats ? Number.isFinite(v) : Number.isSafeInteger(v)) return null;
    return `${path}: numbers must be ${floats ? "finite" : "safe integers"}`;
  }
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const p = plainProblem(v[i], depth - 1, floats, `${path}[${i}]`);
      if (p) return p;
    }
    return null;
  }
  if (isObj(v)) {
    for (const [k, x] of Object.entries(v)) {
      const p = plainProblem(x, depth - 1, floats, `${path}.${k}`);
      if (p) return p;
    }
    return null;
  }
  return `${path}: unsupported type ${typeof v}`;
}

function bytesEq(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Strict, size-limited CBOR decoding of untrusted bytes; throws only {@link ProtocolError}. */
function strictDecode(
  bytes: unknown,
  what: string,
  maxBytes: number,
  opts: { maxDepth?: number; floats?: boolean; canonical?: boolean } = {},
): unknown {
  if (!(bytes instanceof Uint8Array)) throw new ProtocolError(`${what}: not bytes`);
  if (bytes.length === 0) throw new ProtocolError(`${what}: empty`);
  if (bytes.length > maxBytes) {
    throw new ProtocolError(`${what}: ${bytes.length} bytes, the limit is ${maxBytes}`);
  }
  let value: unknown;
  try {
    value = decode(bytes, { ...DECODE_OPTIONS, allowBigInt: false });
  } catch (e) {
    const msg = e instanceof RangeError ? "nested too deeply" : String((e as Error)?.message ?? e);
    throw new ProtocolError(`${what}: malformed CBOR (${msg.replace(/^CBOR decode error: /, "")})`);
  }
  const bad = plainProblem(value, opts.maxDepth ?? 32, opts.floats ?? false, what);
  if (bad) throw new ProtocolError(bad);
  if (opts.canonical ?? true) {
    let again: Uint8Array;
    try {
      again = cborEncode(value);
    } catch {
      throw new ProtocolError(`${what}: not canonical CBOR`);
    }
    if (!bytesEq(again, bytes)) throw new ProtocolError(`${what}: not canonical CBOR`);
  }
  return value;
}

// ---------------------------------------------------------------------------------------------------
// field checks (each returns a reason or null)

type Problem = string | null;

function keysProblem(
  o: Obj,
  required: readonly string[],
  optional: readonly string[],
  path: string,
): Problem {
  for (const k of required) if (!Object.hasOwn(o, k)) return `${path}.${k}: missing`;
  for (const k of Object.keys(o)) {
    if (!required.includes(k) && !optional.includes(k)) return `${path}.${k}: unknown field`;
  }
  return null;
}

function str(v: unknown, path: string, max: number, min = 0): Problem {
  if (typeof v !== "string") return `${path}: must be a string`;
  if (v.length < min || v.length > max) return `${path}: must be ${min}-${max} characters`;
  return null;
}

function int(v: unknown, path: string, min: number, max: number): Problem {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max) {
    return `${path}: must be an integer in [${min}, ${max}]`;
  }
  return null;
}

function bool(v: unknown, path: string): Problem {
  return typeof v === "boolean" ? null : `${path}: must be a boolean`;
}

function oneOf(v: unknown, path: string, allowed: readonly string[]): Problem {
  return typeof v === "string" && allowed.includes(v)
    ? null
    : `${path}: must be one of ${allowed.join(", ")}`;
}

function arr(
  v: unknown,
  path: string,
  max: number,
  each: (x: unknown, p: string) => Problem,
  min = 0,
): Problem {
  if (!Array.isArray(v)) return `${path}: must be an array`;
  if (v.length < min || v.length > max) return `${path}: must have ${min}-${max} entries`;
  for (let i = 0; i < v.length; i++) {
    const p = each(v[i], `${path}[${i}]`);
    if (p) return p;
  }
  return null;
}

function obj(
  v: unknown,
  path: string,
  required: readonly string[],
  optional: readonly string[],
  fields: (o: Obj) => Problem,
): Problem {
  if (!isObj(v)) return `${path}: must be a map`;
  return keysProblem(v, required, optional, path) ?? fields(v);
}

const NAME_MAX = 256;
const TEXT_MAX = 64 * 1024;
const LIST_MAX = 256;
const SIZE_MAX = Number.MAX_SAFE_INTEGER;

const first = (...ps: Problem[]): Problem => ps.find((p) => p !== null) ?? null;
const strList = (max: number, len: number) => (x: unknown, p: string) =>
  arr(x, p, max, (s, q) => str(s, q, len));

function volumeProblem(v: unknown, p: string): Problem {
  return obj(v, p, ["name", "size", "persistent"], ["class"], (o) =>
    first(
      str(o.name, `${p}.name`, NAME_MAX, 1),
      int(o.size, `${p}.size`, 0, SIZE_MAX),
      bool(o.persistent, `${p}.persistent`),
      o.class === undefined
        ? null
        : oneOf(o.class, `${p}.class`, ["default", "beta1", "beta2", "beta3", "ram"]),
    ));
}

function gpuAttributeProblem(v: unknown, p: string): Problem {
  return obj(v, p, ["vendor", "model"], ["ram", "interface"], (o) =>
    first(
      oneOf(o.vendor, `${p}.vendor`, ["nvidia", "amd"]),
      str(o.model, `${p}.model`, NAME_MAX, 1),
      o.ram === undefined ? null : str(o.ram, `${p}.ram`, 32, 1),
      o.interface === undefined ? null : oneOf(o.interface, `${p}.interface`, ["pcie", "sxm"]),
    ));
}

function resourcesProblem(v: unknown, p: string): Problem {
  return obj(v, p, ["id", "cpu", "memory", "storage", "gpu", "endpoints"], [], (o) =>
    first(
      int(o.id, `${p}.id`, 1, MAX_GROUP_UNITS),
      int(o.cpu, `${p}.cpu`, 0, SIZE_MAX),
      int(o.memory, `${p}.memory`, 0, SIZE_MAX),
      arr(o.storage, `${p}.storage`, 32, volumeProblem),
      obj(o.gpu, `${p}.gpu`, ["units", "attributes"], [], (g) =>
        first(
          int(g.units, `${p}.gpu.units`, 0, MAX_UNIT_GPU),
          arr(g.attributes, `${p}.gpu.attributes`, 64, gpuAttributeProblem),
        )),
      arr(o.endpoints, `${p}.endpoints`, LIST_MAX, (e, q) =>
        obj(e, q, ["kind", "sequenceNumber"], [], (x) =>
          first(
            oneOf(x.kind, `${q}.kind`, ["shared_http", "random_port", "leased_ip"]),
            int(x.sequenceNumber, `${q}.sequenceNumber`, 0, SIZE_MAX),
          ))),
    ));
}

function exposeProblem(v: unknown, p: string): Problem {
  const keys = [
    "port",
    "externalPort",
    "proto",
    "service",
    "global",
    "hosts",
    "ip",
    "endpointSequenceNumber",
  ];
  return obj(v, p, [...keys, "httpOptions"], [], (o) =>
    first(
      int(o.port, `${p}.port`, 1, 65535),
      int(o.externalPort, `${p}.externalPort`, 0, 65535),
      oneOf(o.proto, `${p}.proto`, ["tcp", "udp"]),
      str(o.service, `${p}.service`, NAME_MAX),
      bool(o.global, `${p}.global`),
      strList(LIST_MAX, 253)(o.hosts, `${p}.hosts`),
      str(o.ip, `${p}.ip`, NAME_MAX),
      int(o.endpointSequenceNumber, `${p}.endpointSequenceNumber`, 0, SIZE_MAX),
      obj(
        o.httpOptions,
        `${p}.httpOptions`,
        ["maxBodySize", "readTimeout", "sendTimeout", "nextTries", "nextTimeout", "nextCases"],
        [],
        (h) =>
          first(
            int(h.maxBodySize, `${p}.httpOptions.maxBodySize`, 0, SIZE_MAX),
            int(h.readTimeout, `${p}.httpOptions.readTimeout`, 0, SIZE_MAX),
            int(h.sendTimeout, `${p}.httpOptions.sendTimeout`, 0, SIZE_MAX),
            int(h.nextTries, `${p}.httpOptions.nextTries`, 0, SIZE_MAX),
            int(h.nextTimeout, `${p}.httpOptions.nextTimeout`, 0, SIZE_MAX),
            arr(
              h.nextCases,
              `${p}.httpOptions.nextCases`,
              HTTP_NEXT_CASES.length,
              (c, q) => oneOf(c, q, HTTP_NEXT_CASES),
            ),
          ),
      ),
    ));
}

function serviceProblem(v: unknown, p: string): Problem {
  return obj(
    v,
    p,
    ["name", "image", "command", "args", "env", "resources", "count", "expose", "params"],
    ["credentials"],
    (o) =>
      first(
        str(o.name, `${p}.name`, 63, 1),
        str(o.image, `${p}.image`, 1024, 1),
        strList(LIST_MAX, TEXT_MAX)(o.command, `${p}.command`),
        strList(LIST_MAX, TEXT_MAX)(o.args, `${p}.args`),
        strList(1024, TEXT_MAX)(o.env, `${p}.env`),
        resourcesProblem(o.resources, `${p}.resources`),
        int(o.count, `${p}.count`, 0, MAX_UNIT_COUNT),
        arr(o.expose, `${p}.expose`, LIST_MAX, exposeProblem),
        obj(o.params, `${p}.params`, ["storage"], [], (x) =>
          arr(x.storage, `${p}.params.storage`, 32, (s, q) =>
            obj(s, q, ["name", "mount", "readOnly"], [], (y) =>
              first(
                str(y.name, `${q}.name`, NAME_MAX, 1),
                str(y.mount, `${q}.mount`, 4096),
                bool(y.readOnly, `${q}.readOnly`),
              )))),
        o.credentials === undefined
          ? null
          : obj(o.credentials, `${p}.credentials`, ["host", "username", "password"], ["email"], (c) =>
            first(
              str(c.host, `${p}.credentials.host`, 1024, 1),
              str(c.username, `${p}.credentials.username`, 1024),
              str(c.password, `${p}.credentials.password`, 4096),
              c.email === undefined ? null : str(c.email, `${p}.credentials.email`, 1024),
            )),
      ),
  );
}

/** Why `v` is not a well-formed manifest (the shape of {@link Manifest}, bounded), or null. */
export function manifestShapeProblem(v: unknown, path = "manifest"): Problem {
  return arr(v, path, MAX_GROUP_COUNT, (g, p) =>
    obj(g, p, ["name", "services"], [], (o) =>
      first(
        str(o.name, `${p}.name`, NAME_MAX, 1),
        arr(o.services, `${p}.services`, 100, serviceProblem, 1),
      )), 1);
}

function chainIdProblem(v: unknown, path: string): Problem {
  return str(v, path, 64, 1);
}

function leaseIdProblem(v: unknown, path: string): Problem {
  return parseBidId(v) ? null : `${path}: must be owner/dseq/gseq/oseq/provider`;
}

const hexOf = (v: unknown, path: string, bytes: number): Problem =>
  isHex(v, bytes) ? null : `${path}: must be ${bytes} bytes of lower-case hex`;

// ---------------------------------------------------------------------------------------------------
// signing

const te = new TextEncoder();

function signBytes(domain: string, body: Obj): Uint8Array {
  const tag = te.encode(domain);
  const b = cborEncode(body);
  const out = new Uint8Array(tag.length + 1 + b.length);
  out.set(tag, 0);
  out.set(b, tag.length + 1);
  return out;
}

function manifestBody(r: ManifestRequest): Obj {
  return {
    chainId: r.chainId,
    leaseId: r.leaseId,
    manifest: r.manifest,
    manifestHash: r.manifestHash,
    version: r.version,
    timestamp: r.timestamp,
    nonce: r.nonce,
    pubKey: r.pubKey,
  };
}

function leaseBody(r: LeaseRequest): Obj {
  const b: Obj = {
    chainId: r.chainId,
    leaseId: r.leaseId,
    op: r.op,
    timestamp: r.timestamp,
    nonce: r.nonce,
    pubKey: r.pubKey,
  };
  if (r.service !== undefined) b.service = r.service;
  if (r.tail !== undefined) b.tail = r.tail;
  if (r.follow !== undefined) b.follow = r.follow;
  return b;
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
  const request = manifestRequestFrom(stripUndefined(manifestBody(r)));
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

/**
 * Checks a manifest request's signature (and, when given, its chain id). Never throws. `signer` is
 * the address of the signing key; whether it owns the deployment is the caller's check
 * (see `checkManifestAgainstLease`).
 */
export function verifyManifestRequest(
  signed: SignedManifestRequest,
  expectedChainId?: string,
): Promise<VerifyResult> {
  try {
    const r = signed.request;
    return verifySigned(r.pubKey, signed.signature, manifestSignBytes(r), r.chainId, expectedChainId)
      .catch((e) => ({ ok: false, reason: `cannot verify: ${(e as Error)?.message}` }));
  } catch (e) {
    return Promise.resolve({ ok: false, reason: `cannot verify: ${(e as Error)?.message}` });
  }
}

/** Checks a lease request's signature (and, when given, its chain id). Never throws. */
export function verifyLeaseRequest(
  signed: SignedLeaseRequest,
  expectedChainId?: string,
): Promise<VerifyResult> {
  try {
    const r = signed.request;
    return verifySigned(r.pubKey, signed.signature, leaseSignBytes(r), r.chainId, expectedChainId)
      .catch((e) => ({ ok: false, reason: `cannot verify: ${(e as Error)?.message}` }));
  } catch (e) {
    return Promise.resolve({ ok: false, reason: `cannot verify: ${(e as Error)?.message}` });
  }
}

// ---------------------------------------------------------------------------------------------------
// encode / decode

const MANIFEST_FIELDS = [
  "chainId",
  "leaseId",
  "manifest",
  "manifestHash",
  "version",
  "timestamp",
  "nonce",
  "pubKey",
] as const;
const LEASE_FIELDS = ["chainId", "leaseId", "op", "timestamp", "nonce", "pubKey"] as const;
const LEASE_OPTIONAL = ["service", "tail", "follow"] as const;

function manifestRequestFrom(v: unknown, signed = false): ManifestRequest {
  const what = "manifest request";
  if (!isObj(v)) throw new ProtocolError(`${what}: must be a map`);
  const p = keysProblem(v, signed ? [...MANIFEST_FIELDS, "signature"] : MANIFEST_FIELDS, [], what) ??
    first(
      chainIdProblem(v.chainId, `${what}.chainId`),
      leaseIdProblem(v.leaseId, `${what}.leaseId`),
      hexOf(v.manifestHash, `${what}.manifestHash`, 32),
      int(v.version, `${what}.version`, 0, Number.MAX_SAFE_INTEGER),
      int(v.timestamp, `${what}.timestamp`, 0, Number.MAX_SAFE_INTEGER),
      hexOf(v.nonce, `${what}.nonce`, NONCE_BYTES),
      hexOf(v.pubKey, `${what}.pubKey`, 32),
      signed ? hexOf(v.signature, `${what}.signature`, 64) : null,
      manifestShapeProblem(v.manifest, `${what}.manifest`),
    );
  if (p) throw new ProtocolError(p);
  return {
    chainId: v.chainId as string,
    leaseId: v.leaseId as string,
    manifest: v.manifest as Manifest,
    manifestHash: v.manifestHash as string,
    version: v.version as number,
    timestamp: v.timestamp as number,
    nonce: v.nonce as string,
    pubKey: v.pubKey as string,
  };
}

function leaseRequestFrom(v: unknown, signed = false): LeaseRequest {
  const what = "lease request";
  if (!isObj(v)) throw new ProtocolError(`${what}: must be a map`);
  const p = keysProblem(v, signed ? [...LEASE_FIELDS, "signature"] : LEASE_FIELDS, LEASE_OPTIONAL, what) ??
    first(
      chainIdProblem(v.chainId, `${what}.chainId`),
      leaseIdProblem(v.leaseId, `${what}.leaseId`),
      oneOf(v.op, `${what}.op`, LEASE_OPS),
      int(v.timestamp, `${what}.timestamp`, 0, Number.MAX_SAFE_INTEGER),
      hexOf(v.nonce, `${what}.nonce`, NONCE_BYTES),
      hexOf(v.pubKey, `${what}.pubKey`, 32),
      signed ? hexOf(v.signature, `${what}.signature`, 64) : null,
      v.service === undefined ? null : str(v.service, `${what}.service`, 63, 1),
      v.tail === undefined ? null : int(v.tail, `${what}.tail`, 0, LOG_TAIL_MAX),
      v.follow === undefined ? null : bool(v.follow, `${what}.follow`),
    );
  if (p) throw new ProtocolError(p);
  if (v.op !== "logs") {
    for (const k of LEASE_OPTIONAL) {
      if (v[k] !== undefined) throw new ProtocolError(`${what}.${k}: only allowed with op "logs"`);
    }
  }
  const r: LeaseRequest = {
    chainId: v.chainId as string,
    leaseId: v.leaseId as string,
    op: v.op as LeaseOp,
    timestamp: v.timestamp as number,
    nonce: v.nonce as string,
    pubKey: v.pubKey as string,
  };
  if (v.service !== undefined) r.service = v.service as string;
  if (v.tail !== undefined) r.tail = v.tail as number;
  if (v.follow !== undefined) r.follow = v.follow as boolean;
  return r;
}

/** Wire bytes of a signed manifest request: one canonical CBOR map (the fields plus `signature`). */
export function encodeManifestRequest(s: SignedManifestRequest): Uint8Array {
  return cborEncode({ ...manifestBody(s.request), signature: s.signature });
}

/** Decodes untrusted bytes into a signed manifest request (signature NOT yet checked). */
export function decodeManifestRequest(bytes: Uint8Array): SignedManifestRequest {
  const v = strictDecode(bytes, "manifest request", MANIFEST_REQUEST_MAX_BYTES);
  const request = manifestRequestFrom(v, true);
  return { request, signature: (v as Obj).signature as string };
}

/** Wire bytes of a signed lease request. */
export function encodeLeaseRequest(s: SignedLeaseRequest): Uint8Array {
  return cborEncode({ ...leaseBody(s.request), signature: s.signature });
}

/** Decodes untrusted bytes into a signed lease request (signature NOT yet checked). */
export function decodeLeaseRequest(bytes: Uint8Array): SignedLeaseRequest {
  const v = strictDecode(bytes, "lease request", LEASE_REQUEST_MAX_BYTES);
  const request = leaseRequestFrom(v, true);
  return { request, signature: (v as Obj).signature as string };
}

/** A refusal response. */
export function errorResponse(code: ProtocolErrorCode, error: string): ErrorResponse {
  return { ok: false, code, error };
}

/**
 * Wire bytes of a response. Undefined fields are dropped; numbers may be integers or finite floats;
 * a value that is not plain data (Map, Date, function...) throws {@link ProtocolError}.
 */
export function encodeResponse(r: ProtocolResponse): Uint8Array {
  const v = stripUndefined(r);
  const bad = plainProblem(v, 32, true, "response");
  if (bad) throw new ProtocolError(bad);
  return cborEncode(v);
}

/** Decodes a provider's response (untrusted on the CLI side). */
export function decodeResponse(bytes: Uint8Array): ProtocolResponse {
  const v = strictDecode(bytes, "response", RESPONSE_MAX_BYTES, { floats: true, canonical: false });
  if (!isObj(v)) throw new ProtocolError("response: must be a map");
  if (v.ok === true) return v as OkResponse;
  if (v.ok !== false) throw new ProtocolError("response.ok: must be a boolean");
  const p = keysProblem(v, ["ok", "error", "code"], [], "response") ??
    first(str(v.error, "response.error", TEXT_MAX), oneOf(v.code, "response.code", PROTOCOL_ERROR_CODES));
  if (p) throw new ProtocolError(p);
  return { ok: false, error: v.error as string, code: v.code as ProtocolErrorCode };
}

// ---------------------------------------------------------------------------------------------------
// replay protection

/** "90s", "5m", "3h", "2d": a short human duration. */
export function formatDuration(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  if (s < 120) return `${s}s`;
  if (s < 2 * 3600) return `${Math.round(s / 60)}m`;
  if (s < 2 * 86400) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

/** Options of a {@link FreshnessGuard}. */
export interface FreshnessOptions {
  /** Accepted clock skew each way, ms (default 60 000). */
  windowMs?: number;
  /** Most nonces remembered at once (default 100 000). */
  maxNonces?: number;
}

/**
 * Refuses requests whose timestamp is outside `now ± windowMs` and nonces already seen. A nonce is
 * remembered until its request's timestamp has left the window (after that, the timestamp alone
 * refuses a replay), so memory is bounded by the requests of one window and by `maxNonces`. When
 * full of live nonces it refuses new requests ("busy") rather than forget a live nonce.
 */
export class FreshnessGuard {
  readonly windowMs: number;
  readonly maxNonces: number;
  /** nonce -> time after which it can be forgotten */
  #seen = new Map<string, number>();
  #nextSweep = -Infinity;
  /** Earliest expiry among the remembered nonces as of the last sweep. */
  #minExpiry = Infinity;

  constructor(opts: FreshnessOptions = {}) {
    this.windowMs = opts.windowMs ?? 60_000;
    this.maxNonces = opts.maxNonces ?? 100_000;
    if (!(this.windowMs > 0) || !(this.maxNonces > 0)) throw new Error("windowMs and maxNonces must be > 0");
  }

  /** Nonces remembered now. */
  get size(): number {
    return this.#seen.size;
  }

  /** null when fresh (the nonce is then remembered), else why not. */
  check(timestamp: number, nonce: string, nowMs: number): string | null {
    if (typeof timestamp !== "number" || !Number.isFinite(timestamp)) {
      return "request timestamp is not a number";
    }
    if (typeof nonce !== "string" || nonce.length === 0 || nonce.length > 128) {
      return "request nonce is invalid";
    }
    const window = formatDuration(this.windowMs);
    if (timestamp < nowMs - this.windowMs) {
      return `request is stale: timestamp ${formatDuration(nowMs - timestamp)} ago, the window is ${window}`;
    }
    if (timestamp > nowMs + this.windowMs) {
      return `request timestamp is ${
        formatDuration(timestamp - nowMs)
      } in the future, the window is ${window} (check the clock)`;
    }
    this.#maybeSweep(nowMs);
    const until = this.#seen.get(nonce);
    if (until !== undefined && until >= nowMs) return "replayed request: this nonce was already used";
    if (this.#seen.size >= this.maxNonces) {
      return `too many requests: ${this.maxNonces} in the last ${window}; try again in ${
        formatDuration(this.#minExpiry - nowMs)
      }`;
    }
    const expiry = timestamp + this.windowMs;
    this.#seen.set(nonce, expiry);
    if (expiry < this.#minExpiry) this.#minExpiry = expiry;
    return null;
  }

  #maybeSweep(nowMs: number): void {
    const full = this.#seen.size >= this.maxNonces;
    if (!(nowMs >= this.#nextSweep || (full && nowMs > this.#minExpiry))) return;
    let min = Infinity;
    for (const [n, until] of this.#seen) {
      if (until < nowMs) this.#seen.delete(n);
      else if (until < min) min = until;
    }
    this.#minExpiry = min;
    this.#nextSweep = nowMs + this.windowMs / 4;
  }
}

/**
 * The last accepted manifest version of each deployment (`owner/dseq`). A lower version is a replay;
 * the same version with the same hash is an idempotent resend; the same version with another hash is
 * a conflict. `check` only reads; call `accept` once the manifest is deployed. Bounded: past
 * `maxEntries` the least recently accepted deployment is forgotten.
 */
export class ManifestVersions {
  #m = new Map<string, { version: number; hash: string }>();
  constructor(readonly maxEntries = 100_000) {}

  /** null when `version` may be deployed, else why not (a conflict). */
  check(deploymentId: string, version: number, hash: string): string | null {
    const cur = this.#m.get(deploymentId);
    if (!cur) return null;
    if (version < cur.version) {
      return `replayed manifest: version ${version}, accepted ${cur.version}`;
    }
    if (version === cur.version && hash !== cur.hash) {
      return `manifest version ${version} was already accepted with hash ${cur.hash.slice(0, 12)}…; ` +
        `send a different manifest with a higher version`;
    }
    return null;
  }

  /** Records `version` as deployed (never lowers the recorded version). */
  accept(deploymentId: string, version: number, hash: string): void {
    const cur = this.#m.get(deploymentId);
    if (cur && cur.version > version) return;
    this.#m.delete(deploymentId);
    if (this.#m.size >= this.maxEntries) {
      const oldest = this.#m.keys().next();
      if (!oldest.done) this.#m.delete(oldest.value);
    }
    this.#m.set(deploymentId, { version, hash });
  }

  /** The accepted version and hash, if any. */
  get(deploymentId: string): { version: number; hash: string } | undefined {
    const cur = this.#m.get(deploymentId);
    return cur ? { ...cur } : undefined;
  }

  /** Forget a deployment (closed). */
  forget(deploymentId: string): void {
    this.#m.delete(deploymentId);
  }

  get size(): number {
    return this.#m.size;
  }
}
