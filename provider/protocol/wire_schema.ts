/**
 * The wire schema of `/cirrus/manifest/1` and `/cirrus/lease/1`: the request and response shapes,
 * their checks (`lib/schema.ts`) and their encoding. A signed request on the wire is one canonical
 * CBOR map: the request's fields plus `signature` (hex). Decoders take untrusted bytes: they are size
 * limited, strict (canonical CBOR only, no floats, tags, undefined, duplicate keys or unknown fields)
 * and throw only {@link ProtocolError}.
 *
 * Responses are discriminated by `ok`: an {@link ErrorResponse}, or `ok: true` with the payload of the
 * request's kind ({@link ManifestAccepted}, {@link LeaseStatusPayload}, {@link LeaseEventsPayload},
 * {@link LeaseLogsPayload}, {@link LogLinePayload}).
 * @module
 */
import { isHex } from "../../lib/crypto.ts";
import { parseLeaseId } from "../../lib/ids.ts";
import {
  arr,
  bool,
  first,
  int,
  isObj,
  keysProblem,
  oneOf,
  optional,
  type Problem,
  str,
} from "../../lib/schema.ts";
import type { LeaseInfo } from "../../auction/market/types.ts";
import type { Manifest } from "../../auction/sdl/types.ts";
import type { LeaseStatus, ServiceStatus } from "../cluster/driver.ts";
import {
  LEASE_REQUEST_MAX_BYTES,
  LOG_CURSOR_ENTRIES_MAX,
  LOG_TAIL_MAX,
  MANIFEST_REQUEST_MAX_BYTES,
  NONCE_BYTES,
  RESPONSE_MAX_BYTES,
  SHELL_ARG_MAX,
  SHELL_ARGS_MAX,
  SHELL_REPLICA_MAX,
  SHELL_STDIN_CHUNK_MAX_BYTES,
  SHELL_TERMINAL_MAX,
} from "./constants.ts";
import { decodeWire, encodePlainWire, encodeWire, ProtocolError } from "./encoding.ts";
import { manifestShapeProblem, TEXT_MAX } from "./manifest_shape.ts";

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
  /** ed25519 signature (64 bytes, hex) over `manifestSignBytes` (signing.ts). */
  signature: string;
}

/** Operations of `/cirrus/lease/1`. */
export type LeaseOp = "status" | "logs" | "events" | "shell" | "shell_io";
/** Every {@link LeaseOp}. */
export const LEASE_OPS: readonly LeaseOp[] = ["status", "logs", "events", "shell", "shell_io"];

/**
 * What `/cirrus/lease/1` carries (before signing). `tail`, `follow`, `cursor`: logs only; `service`:
 * logs and shell; `replica`, `command` (required): shell only.
 */
export interface LeaseRequest {
  chainId: string;
  leaseId: string;
  op: LeaseOp;
  service?: string;
  tail?: number;
  follow?: boolean;
  /**
   * logs: resume after these lines: container id (short, from the frames) -> the next line's `seq`;
   * containers not named are read from their first kept line. Replaces `tail`.
   */
  cursor?: Record<string, number>;
  /** shell: which replica of the service (0-based, default 0) */
  replica?: number;
  /** shell: the program and its arguments, run in the container */
  command?: string[];
  /**
   * shell: an interactive session (stdin streamed by `shell_io` requests), with a pseudo-terminal in
   * the container when true; absent: run `command` to completion
   */
  tty?: boolean;
  /** shell with `tty`: the tenant's terminal size at the start */
  cols?: number;
  rows?: number;
  /** shell_io: the session (from the `shell` answer) */
  session?: string;
  /** shell_io: stdin bytes, base64 (at most `SHELL_STDIN_CHUNK_MAX_BYTES` decoded) */
  stdin?: string;
  /** shell_io: the tenant's stdin ended */
  eof?: boolean;
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
export type ProtocolErrorCode =
  | "forbidden"
  | "bad_request"
  | "not_found"
  | "conflict"
  | "internal"
  | "busy"
  | "unsupported";
/** Every {@link ProtocolErrorCode}. */
export const PROTOCOL_ERROR_CODES: readonly ProtocolErrorCode[] = [
  "forbidden",
  "bad_request",
  "not_found",
  "conflict",
  "internal",
  "busy",
  "unsupported",
];

/** A successful answer: `ok` plus any plain data. */
export type OkResponse<T extends object = Record<string, unknown>> = { ok: true } & T;
/** A refusal. */
export interface ErrorResponse {
  ok: false;
  error: string;
  code: ProtocolErrorCode;
}
/** What the provider answers on both protocols. */
export type ProtocolResponse<T extends object = Record<string, unknown>> =
  | OkResponse<T>
  | ErrorResponse;

/** The outcome of verifying a signed request. */
export type VerifyResult = { ok: true; signer: string } | { ok: false; reason: string };

/** What the provider answers a manifest it deployed: the workload's status (null while starting). */
export interface ManifestAccepted {
  status: LeaseStatus | null;
}

/** What the provider answers `status`: the lease and its services (`message` when no workload). */
export interface LeaseStatusPayload {
  lease: LeaseInfo;
  services: ServiceStatus[];
  message?: string;
}

/**
 * One service of a `status` answer as a client reads it: {@link ServiceStatus} with `image` and
 * `state` optional (a provider may leave them out). Used by the CLI and the console.
 */
export type ServiceView = Omit<ServiceStatus, "image" | "state"> & { image?: string; state?: string };

/** One entry of a lease's event log. */
export interface LeaseEvent {
  height: number;
  /** ISO 8601 */
  time: string;
  type: string;
  message: string;
}

/** What the provider answers `events`. */
export interface LeaseEventsPayload {
  events: LeaseEvent[];
}

/** What the provider answers `logs`: the last lines. */
export interface LeaseLogsPayload {
  lines: string[];
  /** lines asked for that the provider no longer keeps, per container */
  dropped?: { container: string; lines: number }[];
}

/** What the provider answers `shell`: the command's exit code and (capped) output. */
export interface LeaseShellPayload {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** true when output beyond the cap was dropped */
  truncated: boolean;
}

/**
 * One frame of `/cirrus/lease/1/logs` (a followed log): a line (with, where the provider keeps logs,
 * its container's name, short `id` and `seq`: the cursor to resume after it), or a note that
 * `dropped` lines of `container` asked for are no longer kept.
 */
export interface LogLinePayload {
  line: string;
  container?: string;
  id?: string;
  seq?: number;
}

/** A frame saying that lines asked for are no longer kept (see {@link LogLinePayload}). */
export interface LogDroppedPayload {
  dropped: number;
  container: string;
}

/** What the provider answers an interactive `shell`: the session to talk to with `shell_io`. */
export interface LeaseShellOpenPayload {
  session: string;
}

/** What the provider answers `shell_io`: output since the last answer (base64), the exit code once ended. */
export interface LeaseShellIoPayload {
  output: string;
  exitCode?: number;
  /** output bytes dropped because the tenant did not fetch them in time */
  dropped?: number;
}

/** What the provider answers on `/cirrus/manifest/1`. */
export type ManifestResponse = ProtocolResponse<ManifestAccepted>;

/** What the provider answers on `/cirrus/lease/1`, by op. */
export type LeaseResponse =
  | OkResponse<LeaseStatusPayload>
  | OkResponse<LeaseEventsPayload>
  | OkResponse<LeaseLogsPayload>
  | OkResponse<LeaseShellPayload>
  | OkResponse<LeaseShellOpenPayload>
  | OkResponse<LeaseShellIoPayload>
  | ErrorResponse;

/** One frame the provider sends on `/cirrus/lease/1/logs`. */
export type LogStreamFrame = ProtocolResponse<LogLinePayload> | OkResponse<LogDroppedPayload>;

// ---------------------------------------------------------------------------------------------------
// field checks

function chainIdProblem(v: unknown, path: string): Problem {
  return str(v, path, 64, 1);
}

function leaseIdProblem(v: unknown, path: string): Problem {
  return parseLeaseId(v) ? null : `${path}: must be owner/dseq/gseq/oseq/provider`;
}

const hexOf = (v: unknown, path: string, bytes: number): Problem =>
  isHex(v, bytes) ? null : `${path}: must be ${bytes} bytes of lower-case hex`;

/** What every request names first: its chain and its lease. */
function targetProblem(v: Record<string, unknown>, what: string): Problem {
  return first(chainIdProblem(v.chainId, `${what}.chainId`), leaseIdProblem(v.leaseId, `${what}.leaseId`));
}

/** What every request carries to be fresh and signed: timestamp, nonce, key (and signature). */
function senderProblem(v: Record<string, unknown>, what: string, signed: boolean): Problem {
  return first(
    int(v.timestamp, `${what}.timestamp`, 0, Number.MAX_SAFE_INTEGER),
    hexOf(v.nonce, `${what}.nonce`, NONCE_BYTES),
    hexOf(v.pubKey, `${what}.pubKey`, 32),
    signed ? hexOf(v.signature, `${what}.signature`, 64) : null,
  );
}

/** The fields of a manifest request, in a fresh map (what is signed and sent). */
export function manifestBody(r: ManifestRequest): Record<string, unknown> {
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

/** The fields of a lease request, in a fresh map (options only when set). */
export function leaseBody(r: LeaseRequest): Record<string, unknown> {
  const b: Record<string, unknown> = {
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
  if (r.cursor !== undefined) b.cursor = { ...r.cursor };
  if (r.replica !== undefined) b.replica = r.replica;
  if (r.command !== undefined) b.command = [...r.command];
  for (const k of ["tty", "cols", "rows", "session", "stdin", "eof"] as const) {
    if (r[k] !== undefined) b[k] = r[k];
  }
  return b;
}

/** Base64 of at most `SHELL_STDIN_CHUNK_MAX_BYTES` bytes. */
function stdinProblem(v: unknown, path: string): Problem {
  const max = Math.ceil(SHELL_STDIN_CHUNK_MAX_BYTES / 3) * 4;
  if (typeof v !== "string" || v.length > max || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) {
    return `${path}: must be base64 of at most ${SHELL_STDIN_CHUNK_MAX_BYTES} bytes`;
  }
  return null;
}

/** A logs cursor: at most `LOG_CURSOR_ENTRIES_MAX` container ids (1-64 chars) -> seq (a safe integer >= 0). */
function cursorProblem(v: unknown, path: string): Problem {
  if (!isObj(v) || Array.isArray(v)) return `${path}: must be a map of container id -> next line number`;
  const keys = Object.keys(v);
  if (keys.length > LOG_CURSOR_ENTRIES_MAX) {
    return `${path}: at most ${LOG_CURSOR_ENTRIES_MAX} containers, got ${keys.length}`;
  }
  for (const k of keys) {
    const p = first(str(k, `${path} key`, 64, 1), int(v[k], `${path}.${k}`, 0, Number.MAX_SAFE_INTEGER));
    if (p) return p;
  }
  return null;
}

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
const LEASE_OPTIONAL = [
  "service",
  "tail",
  "follow",
  "cursor",
  "replica",
  "command",
  "tty",
  "cols",
  "rows",
  "session",
  "stdin",
  "eof",
] as const;
/** The optional fields each op allows. */
const LEASE_OP_FIELDS: Record<LeaseOp, readonly string[]> = {
  status: [],
  events: [],
  logs: ["service", "tail", "follow", "cursor"],
  shell: ["service", "replica", "command", "tty", "cols", "rows"],
  shell_io: ["session", "stdin", "eof"],
};

/** The manifest request in `v` (a decoded map; `signed`: with its `signature`); throws {@link ProtocolError}. */
export function manifestRequestFrom(v: unknown, signed = false): ManifestRequest {
  const what = "manifest request";
  if (!isObj(v)) throw new ProtocolError(`${what}: must be a map`);
  const p = keysProblem(v, signed ? [...MANIFEST_FIELDS, "signature"] : MANIFEST_FIELDS, [], what) ??
    first(
      targetProblem(v, what),
      hexOf(v.manifestHash, `${what}.manifestHash`, 32),
      int(v.version, `${what}.version`, 0, Number.MAX_SAFE_INTEGER),
      senderProblem(v, what, signed),
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

/** The lease request in `v` (a decoded map; `signed`: with its `signature`); throws {@link ProtocolError}. */
export function leaseRequestFrom(v: unknown, signed = false): LeaseRequest {
  const what = "lease request";
  if (!isObj(v)) throw new ProtocolError(`${what}: must be a map`);
  const p = keysProblem(v, signed ? [...LEASE_FIELDS, "signature"] : LEASE_FIELDS, LEASE_OPTIONAL, what) ??
    first(
      targetProblem(v, what),
      oneOf(v.op, `${what}.op`, LEASE_OPS),
      senderProblem(v, what, signed),
      optional((x, q) => str(x, q, 63, 1))(v.service, `${what}.service`),
      optional((x, q) => int(x, q, 0, LOG_TAIL_MAX))(v.tail, `${what}.tail`),
      optional(bool)(v.follow, `${what}.follow`),
      optional(cursorProblem)(v.cursor, `${what}.cursor`),
      optional((x, q) => int(x, q, 0, SHELL_REPLICA_MAX))(v.replica, `${what}.replica`),
      optional((x, q) => arr(x, q, SHELL_ARGS_MAX, (a, qa) => str(a, qa, SHELL_ARG_MAX, 1), 1))(
        v.command,
        `${what}.command`,
      ),
      optional(bool)(v.tty, `${what}.tty`),
      optional((x, q) => int(x, q, 1, SHELL_TERMINAL_MAX))(v.cols, `${what}.cols`),
      optional((x, q) => int(x, q, 1, SHELL_TERMINAL_MAX))(v.rows, `${what}.rows`),
      optional((x, q) => hexOf(x, q, 16))(v.session, `${what}.session`),
      optional(stdinProblem)(v.stdin, `${what}.stdin`),
      optional(bool)(v.eof, `${what}.eof`),
    );
  if (p) throw new ProtocolError(p);
  const op = v.op as LeaseOp;
  for (const k of LEASE_OPTIONAL) {
    if (v[k] !== undefined && !LEASE_OP_FIELDS[op].includes(k)) {
      const ops = LEASE_OPS.filter((o) => LEASE_OP_FIELDS[o].includes(k)).map((o) => `"${o}"`).join(" or ");
      throw new ProtocolError(`${what}.${k}: only allowed with op ${ops}`);
    }
  }
  if (op === "shell" && v.command === undefined) {
    throw new ProtocolError(`${what}.command: missing (op "shell" runs a command)`);
  }
  if (op === "shell_io" && v.session === undefined) {
    throw new ProtocolError(`${what}.session: missing (op "shell_io" talks to an open session)`);
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
  if (v.cursor !== undefined) r.cursor = { ...(v.cursor as Record<string, number>) };
  if (v.replica !== undefined) r.replica = v.replica as number;
  if (v.command !== undefined) r.command = [...(v.command as string[])];
  for (const k of ["tty", "eof"] as const) if (v[k] !== undefined) r[k] = v[k] as boolean;
  for (const k of ["cols", "rows"] as const) if (v[k] !== undefined) r[k] = v[k] as number;
  for (const k of ["session", "stdin"] as const) if (v[k] !== undefined) r[k] = v[k] as string;
  return r;
}

/** Decodes a signed request: its fields (checked by `requestFrom`) and its `signature`. */
function decodeSigned<R>(
  bytes: Uint8Array,
  what: string,
  bytesMax: number,
  requestFrom: (v: unknown, signed: boolean) => R,
): { request: R; signature: string } {
  const v = decodeWire(bytes, what, bytesMax);
  const request = requestFrom(v, true);
  const signature = isObj(v) ? v.signature : undefined;
  if (typeof signature !== "string") throw new ProtocolError(`${what}.signature: missing`);
  return { request, signature };
}

/** Wire bytes of a signed manifest request: one canonical CBOR map (the fields plus `signature`). */
export function encodeManifestRequest(s: SignedManifestRequest): Uint8Array {
  return encodeWire({ ...manifestBody(s.request), signature: s.signature });
}

/** Decodes untrusted bytes into a signed manifest request (signature NOT yet checked). */
export function decodeManifestRequest(bytes: Uint8Array): SignedManifestRequest {
  return decodeSigned(bytes, "manifest request", MANIFEST_REQUEST_MAX_BYTES, manifestRequestFrom);
}

/** Wire bytes of a signed lease request. */
export function encodeLeaseRequest(s: SignedLeaseRequest): Uint8Array {
  return encodeWire({ ...leaseBody(s.request), signature: s.signature });
}

/** Decodes untrusted bytes into a signed lease request (signature NOT yet checked). */
export function decodeLeaseRequest(bytes: Uint8Array): SignedLeaseRequest {
  return decodeSigned(bytes, "lease request", LEASE_REQUEST_MAX_BYTES, leaseRequestFrom);
}

/** A refusal response. */
export function errorResponse(code: ProtocolErrorCode, error: string): ErrorResponse {
  return { ok: false, code, error };
}

/**
 * Wire bytes of a response. Undefined fields are dropped; numbers may be integers or finite floats;
 * a value that is not plain data (Map, Date, function...) throws {@link ProtocolError}.
 */
export function encodeResponse(r: ProtocolResponse | OkResponse<object>): Uint8Array {
  return encodePlainWire(r, "response");
}

/** Decodes a provider's response (untrusted on the CLI side). */
export function decodeResponse(bytes: Uint8Array): ProtocolResponse {
  const v = decodeWire(bytes, "response", RESPONSE_MAX_BYTES, { floats: true, canonical: false });
  if (!isObj(v)) throw new ProtocolError("response: must be a map");
  if (v.ok === true) return v as OkResponse;
  if (v.ok !== false) throw new ProtocolError("response.ok: must be a boolean");
  const p = keysProblem(v, ["ok", "error", "code"], [], "response") ??
    first(str(v.error, "response.error", TEXT_MAX), oneOf(v.code, "response.code", PROTOCOL_ERROR_CODES));
  if (p) throw new ProtocolError(p);
  return { ok: false, error: v.error as string, code: v.code as ProtocolErrorCode };
}
