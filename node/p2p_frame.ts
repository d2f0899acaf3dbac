/**
 * Length-prefixed framing over a libp2p v3 `Stream` (unsigned varint length, then the bytes: the same
 * wire format as `it-length-prefixed`, so non-TypeScript peers can speak it).
 *
 * libp2p v3 streams are event based (`message` / `close` / `remoteCloseWrite`) and async-iterable;
 * this reader pulls from the iterator, keeps any read-ahead for the next frame, and checks a frame's
 * declared length against a limit BEFORE buffering its body.
 */
import type { Stream } from "@libp2p/interface";

export class FrameTooLargeError extends Error {
  constructor(readonly size: number, readonly limit: number) {
    super(`frame of ${size} bytes exceeds the limit of ${limit} bytes`);
    this.name = "FrameTooLargeError";
  }
}

export class StreamEndedError extends Error {
  constructor(message = "stream ended before a complete frame was read") {
    super(message);
    this.name = "StreamEndedError";
  }
}

/** Largest varint we accept for a length: 5 bytes (up to 2^35, far above any limit we set). */
const VARINT_BYTES_MAX = 5;

export function encodeVarint(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`bad varint ${n}`);
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return Uint8Array.from(out);
}

/** Returns [value, bytesUsed], or undefined if the buffer does not yet hold a full varint. */
export function decodeVarint(buf: Uint8Array): [number, number] | undefined {
  let value = 0;
  let mul = 1;
  for (let i = 0; i < buf.length; i++) {
    if (i >= VARINT_BYTES_MAX) throw new RangeError("varint length prefix too long");
    const b = buf[i]!;
    value += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) return [value, i + 1];
    mul *= 0x80;
  }
  if (buf.length >= VARINT_BYTES_MAX) throw new RangeError("varint length prefix too long");
  return undefined;
}

/** One frame: varint(payload.length) || payload. */
export function encodeFrame(payload: Uint8Array): Uint8Array {
  const prefix = encodeVarint(payload.length);
  const out = new Uint8Array(prefix.length + payload.length);
  out.set(prefix, 0);
  out.set(payload, prefix.length);
  return out;
}

/** Write bytes, waiting for `drain` when the stream's send buffer is full. */
export async function writeAll(stream: Stream, data: Uint8Array): Promise<void> {
  if (!stream.send(data)) await stream.onDrain();
}

export class FrameReader {
  #it: AsyncIterator<Uint8Array | { subarray(): Uint8Array }>;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #done = false;

  constructor(stream: Stream) {
    this.#it = stream[Symbol.asyncIterator]();
  }

  #concat(): Uint8Array {
    if (this.#chunks.length === 1) return this.#chunks[0]!;
    const out = new Uint8Array(this.#buffered);
    let o = 0;
    for (const c of this.#chunks) {
      out.set(c, o);
      o += c.length;
    }
    this.#chunks = out.length > 0 ? [out] : [];
    return out;
  }

  async #pull(): Promise<boolean> {
    if (this.#done) return false;
    const r = await this.#it.next();
    if (r.done === true) {
      this.#done = true;
      return false;
    }
    const v = r.value;
    const chunk = v instanceof Uint8Array ? v : v.subarray();
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
    }
    return true;
  }

  /** Read the next frame. Resolves undefined on a clean end of stream at a frame boundary. */
  async next(bytesMax: number): Promise<Uint8Array | undefined> {
    // 1. the length prefix
    let header: [number, number] | undefined;
    while (true) {
      header = this.#buffered > 0 ? decodeVarint(this.#concat()) : undefined;
      if (header !== undefined) break;
      if (!(await this.#pull())) {
        if (this.#buffered === 0) return undefined;
        throw new StreamEndedError();
      }
    }
    const [len, used] = header;
    if (len > bytesMax) throw new FrameTooLargeError(len, bytesMax);
    // 2. the body
    while (this.#buffered < used + len) {
      if (!(await this.#pull())) throw new StreamEndedError();
    }
    const all = this.#concat();
    const frame = all.slice(used, used + len);
    const rest = all.subarray(used + len);
    this.#chunks = rest.length > 0 ? [rest] : [];
    this.#buffered = rest.length;
    return frame;
  }

  /** Release the iterator's listeners (only call when no next() is pending). */
  async release(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    try {
      await this.#it.return?.();
    } catch { /* already closed */ }
  }
}
