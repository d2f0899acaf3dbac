/**
 * Wire formats of the tenant -> provider stream protocols (DESIGN.md, data flow steps 6 and 8):
 *
 * - `/cirrus/manifest/1`: a signed manifest request (the whole deployment manifest, its hash, a
 *   monotonic version, a timestamp and a nonce, signed by the tenant) -> a {@link ManifestResponse};
 * - `/cirrus/lease/1`: a signed lease request (`status`, `logs`, `events`, `shell`) -> a {@link LeaseResponse};
 * - `/cirrus/screen/1`: an unsigned screening request (groups) -> a {@link ScreenResponse}.
 *
 * `constants.ts`: protocol ids, signature domains, size limits; `wire_schema.ts`: request and
 * response shapes, their checks and encoding; `manifest_shape.ts`: the manifest's shape;
 * `signing.ts`: signing and verifying; `replay_guard.ts`: freshness and manifest versions;
 * `screen.ts`: the screening protocol; `encoding.ts`: canonical CBOR and the strict decoder (`lib/cbor.ts`) behind {@link ProtocolError}.
 * @module
 */
export * from "./constants.ts";
export { ProtocolError } from "./encoding.ts";
export { manifestShapeProblem } from "./manifest_shape.ts";
export {
  decodeLeaseRequest,
  decodeManifestRequest,
  decodeResponse,
  encodeLeaseRequest,
  encodeManifestRequest,
  encodeResponse,
  type ErrorResponse,
  errorResponse,
  LEASE_OPS,
  type LeaseEvent,
  type LeaseEventsPayload,
  type LeaseLogsPayload,
  type LeaseOp,
  type LeaseRequest,
  type LeaseResponse,
  type LeaseShellIoPayload,
  type LeaseShellOpenPayload,
  type LeaseShellPayload,
  type LeaseStatusPayload,
  type LogDroppedPayload,
  type LogLinePayload,
  type LogStreamFrame,
  type ManifestAccepted,
  type ManifestRequest,
  type ManifestResponse,
  type OkResponse,
  PROTOCOL_ERROR_CODES,
  type ProtocolErrorCode,
  type ProtocolResponse,
  type ServiceView,
  type SignedLeaseRequest,
  type SignedManifestRequest,
} from "./wire_schema.ts";
export * from "./signing.ts";
export * from "./screen.ts";
export * from "./replay_guard.ts";
