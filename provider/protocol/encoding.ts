/**
 * The protocols' encoding: canonical CBOR ({@link encodeWire}) and the one strict decoder of
 * `lib/cbor.ts` ({@link decodeWire}), with its {@link DecodeError} reported as a {@link ProtocolError}.
 * @module
 */
import {
  canonicalEncode,
  DecodeError,
  plainDataProblem,
  strictDecode,
  stripUndefined,
} from "../../lib/cbor.ts";

/** A decoder refused its input; `message` says why (shown to the peer). */
export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProtocolError";
  }
}

/** Runs `fn`, reporting a {@link DecodeError} it throws as a {@link ProtocolError}. */
function asProtocolError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof DecodeError) throw new ProtocolError(e.reason);
    throw e;
  }
}

/** A copy of `v` without undefined properties; throws {@link ProtocolError} when nested too deeply. */
export function withoutUndefined(v: unknown): unknown {
  return asProtocolError(() => stripUndefined(v));
}

/** Canonical CBOR of `v`, undefined properties dropped. */
export function encodeWire(v: unknown): Uint8Array {
  return canonicalEncode(withoutUndefined(v));
}

/**
 * Canonical CBOR of plain data: undefined properties dropped, numbers integers or finite floats; a
 * value that is not plain data (Map, Date, function...) throws {@link ProtocolError}.
 */
export function encodePlainWire(v: unknown, what: string): Uint8Array {
  const plain = withoutUndefined(v);
  const bad = plainDataProblem(plain, 32, what, true);
  if (bad) throw new ProtocolError(bad);
  return canonicalEncode(plain);
}

/**
 * Strict, size-limited decoding of untrusted bytes (`lib/cbor.ts`'s `strictDecode`); throws only
 * {@link ProtocolError}.
 */
export function decodeWire(
  bytes: unknown,
  what: string,
  bytesMax: number,
  opts: { floats?: boolean; canonical?: boolean } = {},
): unknown {
  return asProtocolError(() => strictDecode(bytes, what, { ...opts, bytesMax }));
}
