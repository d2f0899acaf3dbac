/**
 * Request/response and streaming protocols over libp2p streams, with limits.
 *
 * - Request/response: the requester writes one frame, the responder answers with one frame whose
 *   first byte is a status (0 ok, 1 error: the rest is a UTF-8 message). Frames are varint
 *   length-prefixed (`p2p_frame.ts`).
 * - Streaming (for `logs --follow`): one request frame, then any number of status-0 frames, ended by
 *   a status-2 (end) or status-1 (error) frame.
 * @module
 */
import { errorMessage, type Logger } from "../lib/log.ts";
import { peerIdFromString } from "@libp2p/peer-id";
import type { Connection, Stream } from "@libp2p/interface";
import type { Host } from "./p2p_host.ts";
import { encodeFrame, FrameReader, FrameTooLargeError, writeAll } from "./p2p_frame.ts";

const MiB = 1024 * 1024;
/** Default largest request a handler reads. */
export const REQUEST_BYTES_MAX = 1 * MiB;
/** Default largest response (sent or accepted). */
export const RESPONSE_BYTES_MAX = 16 * MiB;
/** Default largest frame of an opened stream. */
export const STREAM_FRAME_BYTES_MAX = 4 * MiB;

/** Limits of a protocol handler. */
export interface HandleOptions {
  /** default 1 MiB */
  requestBytesMax?: number;
  /** concurrent inbound streams for this protocol on one connection (libp2p limit), default 16 */
  inboundStreamsMax?: number;
  /** concurrent inbound streams for this protocol over all peers; beyond it the reply is "busy". default 64 */
  concurrentMax?: number;
  /** time to read the request + run the handler + write the reply, default 30 s (unary only) */
  timeoutMs?: number;
  /** the reply is refused (error sent instead) above this size, default 16 MiB */
  responseBytesMax?: number;
}

/** Limits of one request. */
export interface RequestOptions {
  /** default 10 s, covers dial + request + response */
  timeoutMs?: number;
  /** default 16 MiB */
  responseBytesMax?: number;
  signal?: AbortSignal;
}

/** Limits of one opened stream. */
export interface OpenStreamOptions {
  /** time allowed to dial and write the request, default 10 s */
  timeoutMs?: number;
  /** time allowed between two frames; default none (a follow stream may be idle for long) */
  idleTimeoutMs?: number;
  /** largest frame, default 4 MiB */
  frameBytesMax?: number;
  signal?: AbortSignal;
}

/** A streaming handler: `send` each frame; returning ends the stream. */
export type StreamHandlerFn = (
  req: Uint8Array,
  from: string,
  send: (frame: Uint8Array) => Promise<void>,
  signal: AbortSignal,
) => Promise<void>;

/** The remote side answered with an error frame (handler threw, request too large, busy...). */
export class RemoteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RemoteError";
  }
}

/** A request, stream or handler ran out of time. */
export class P2PTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TimeoutError";
  }
}

const STATUS_OK = 0;
const STATUS_ERROR = 1;
const STATUS_END = 2;

const enc = new TextEncoder();
const dec = new TextDecoder();

function statusFrame(status: number, body: Uint8Array): Uint8Array {
  const payload = new Uint8Array(1 + body.length);
  payload[0] = status;
  payload.set(body, 1);
  return encodeFrame(payload);
}

/** Request/response and streaming protocols of a host; `stop()` aborts every stream in flight. */
export class Protocols {
  readonly #node: Host;
  readonly #log: Logger;
  readonly #inflight = new Set<Stream>();

  constructor(node: Host, logger: Logger) {
    this.#node = node;
    this.#log = logger;
  }

  #track(s: Stream): void {
    this.#inflight.add(s);
    s.addEventListener("close", () => this.#inflight.delete(s));
  }

  async #replyError(stream: Stream, message: string): Promise<void> {
    try {
      await writeAll(stream, statusFrame(STATUS_ERROR, enc.encode(message)));
      await stream.close({ signal: AbortSignal.timeout(2_000) });
    } catch {
      stream.abort(new Error(message));
    }
  }

  async #register(
    protocol: string,
    opts: HandleOptions | undefined,
    serve: (stream: Stream, from: string, reader: FrameReader, req: Uint8Array) => Promise<void>,
    unary: boolean,
  ): Promise<void> {
    const requestBytesMax = opts?.requestBytesMax ?? REQUEST_BYTES_MAX;
    const concurrentMax = opts?.concurrentMax ?? 64;
    const timeoutMs = opts?.timeoutMs ?? 30_000;
    const log = this.#log;
    let active = 0;
    await this.#node.handle(protocol, async (stream: Stream, connection: Connection) => {
      const from = connection.remotePeer.toString();
      this.#track(stream);
      if (active >= concurrentMax) {
        log("warn", "p2p: too many concurrent streams, refusing", { protocol, from });
        await this.#replyError(stream, `busy: ${protocol} is serving ${active} streams`);
        return;
      }
      active++;
      // unary: the whole exchange is bounded; streaming: only reading the request is.
      let timer: ReturnType<typeof setTimeout> | undefined = setTimeout(() => {
        stream.abort(new P2PTimeoutError(`${protocol}: timed out after ${timeoutMs} ms`));
      }, unary ? timeoutMs : Math.min(timeoutMs, 10_000));
      const reader = new FrameReader(stream);
      try {
        let req: Uint8Array | undefined;
        try {
          req = await reader.next(requestBytesMax);
        } catch (e) {
          if (e instanceof FrameTooLargeError) {
            log("warn", "p2p: request too large", { protocol, from, size: e.size, limit: e.limit });
            await this.#replyError(stream, `request too large: ${e.size} bytes > ${e.limit}`);
            stream.abort(e); // drop the rest of the oversized request
            return;
          }
          throw e;
        }
        if (req === undefined) {
          stream.abort(new Error("no request"));
          return;
        }
        if (!unary) {
          clearTimeout(timer);
          timer = undefined;
        }
        await serve(stream, from, reader, req);
      } catch (e) {
        log("debug", "p2p: inbound stream failed", { protocol, from, err: errorMessage(e) });
        stream.abort(e instanceof Error ? e : new Error(String(e)));
      } finally {
        if (timer !== undefined) clearTimeout(timer);
        active--;
      }
    }, { maxInboundStreams: opts?.inboundStreamsMax ?? 16 });
  }

  async #openOutbound(peerId: string, protocol: string, signal: AbortSignal): Promise<Stream> {
    const stream = await this.#node.dialProtocol(peerIdFromString(peerId), protocol, { signal });
    this.#track(stream);
    return stream;
  }

  /** Serve a unary protocol. */
  async handle(
    protocol: string,
    handler: (req: Uint8Array, from: string) => Uint8Array | Promise<Uint8Array>,
    hopts?: HandleOptions,
  ): Promise<void> {
    const responseBytesMax = hopts?.responseBytesMax ?? RESPONSE_BYTES_MAX;
    await this.#register(protocol, hopts, async (stream, from, reader, req) => {
      await reader.release();
      let frame: Uint8Array;
      try {
        const resp = await handler(req, from);
        frame = resp.length > responseBytesMax
          ? statusFrame(STATUS_ERROR, enc.encode(`response too large: ${resp.length} bytes`))
          : statusFrame(STATUS_OK, resp);
      } catch (e) {
        this.#log("debug", "p2p: handler threw", { protocol, from, err: errorMessage(e) });
        frame = statusFrame(STATUS_ERROR, enc.encode(`handler error: ${errorMessage(e)}`));
      }
      await writeAll(stream, frame);
      await stream.close();
    }, true);
  }

  /** One request, one response (or a `RemoteError`, a `P2PTimeoutError`). */
  async request(
    peerId: string,
    protocol: string,
    req: Uint8Array,
    ropts?: RequestOptions,
  ): Promise<Uint8Array> {
    const timeoutMs = ropts?.timeoutMs ?? 10_000;
    const responseBytesMax = ropts?.responseBytesMax ?? RESPONSE_BYTES_MAX;
    const timeoutErr = new P2PTimeoutError(
      `request ${protocol} to ${peerId} timed out after ${timeoutMs} ms`,
    );
    const ac = new Deadline(timeoutMs, timeoutErr, ropts?.signal);
    let stream: Stream | undefined;
    try {
      stream = await this.#openOutbound(peerId, protocol, ac.signal);
      const s = stream;
      const abortStream = () => s.abort(ac.signal.reason instanceof Error ? ac.signal.reason : timeoutErr);
      if (ac.signal.aborted) abortStream();
      ac.signal.addEventListener("abort", abortStream);
      const reader = new FrameReader(s);
      // read concurrently with writing: the server may answer (e.g. "too large") before it reads all
      const respP = reader.next(responseBytesMax + 1);
      respP.catch(() => {});
      let writeErr: unknown;
      try {
        await writeAll(s, encodeFrame(req));
        await s.close();
      } catch (e) {
        writeErr = e;
      }
      let frame: Uint8Array | undefined;
      try {
        frame = await respP;
      } catch (e) {
        if (ac.signal.aborted) throw ac.signal.reason;
        if (e instanceof FrameTooLargeError) {
          throw new Error(`response from ${peerId} too large: ${e.size - 1} bytes > ${responseBytesMax}`);
        }
        throw writeErr ?? e;
      }
      if (frame === undefined || frame.length === 0) {
        throw new Error(`${protocol}: empty response from ${peerId}`);
      }
      if (frame[0] === STATUS_OK) return frame.subarray(1);
      if (frame[0] === STATUS_ERROR) throw new RemoteError(dec.decode(frame.subarray(1)));
      throw new Error(`${protocol}: bad response status ${frame[0]}`);
    } catch (e) {
      if (ac.signal.aborted && ac.signal.reason === timeoutErr) throw timeoutErr;
      stream?.abort(e instanceof Error ? e : new Error(String(e)));
      throw e;
    } finally {
      ac.release();
    }
  }

  /** Serve a streaming protocol. */
  async handleStream(protocol: string, handler: StreamHandlerFn, hopts?: HandleOptions): Promise<void> {
    await this.#register(protocol, hopts, async (stream, from, reader, req) => {
      await reader.release();
      const ac = new AbortController();
      const onClose = () => ac.abort(new Error("stream closed"));
      stream.addEventListener("close", onClose);
      // the client closes its write side after the request; a reset/close ends the stream
      try {
        const send = async (frame: Uint8Array) => {
          if (ac.signal.aborted) throw ac.signal.reason;
          await writeAll(stream, statusFrame(STATUS_OK, frame));
        };
        try {
          await handler(req, from, send, ac.signal);
          if (!ac.signal.aborted) {
            await writeAll(stream, statusFrame(STATUS_END, new Uint8Array()));
            await stream.close();
          }
        } catch (e) {
          if (ac.signal.aborted) return;
          this.#log("debug", "p2p: stream handler threw", { protocol, from, err: errorMessage(e) });
          await this.#replyError(stream, `handler error: ${errorMessage(e)}`);
        }
      } finally {
        stream.removeEventListener("close", onClose);
      }
    }, false);
  }

  /** Open a stream: yields each frame until the end frame (throws `RemoteError` on an error frame). */
  async *openStream(
    peerId: string,
    protocol: string,
    req: Uint8Array,
    sopts?: OpenStreamOptions,
  ): AsyncGenerator<Uint8Array> {
    const timeoutMs = sopts?.timeoutMs ?? 10_000;
    const frameBytesMax = sopts?.frameBytesMax ?? STREAM_FRAME_BYTES_MAX;
    const ac = new Deadline(
      timeoutMs,
      new P2PTimeoutError(`openStream ${protocol} to ${peerId} timed out`),
      sopts?.signal,
    );
    let idle: ReturnType<typeof setTimeout> | undefined;
    let stream: Stream | undefined;
    let finished = false;
    try {
      stream = await this.#openOutbound(peerId, protocol, ac.signal);
      const s = stream;
      ac.signal.addEventListener("abort", () => s.abort(ac.signal.reason));
      if (ac.signal.aborted) throw ac.signal.reason;
      const reader = new FrameReader(s);
      await writeAll(s, encodeFrame(req));
      await s.close(); // half-close: we only read from here on
      ac.disarm();
      while (true) {
        if (sopts?.idleTimeoutMs !== undefined) {
          idle = setTimeout(
            () => ac.abort(new P2PTimeoutError(`openStream ${protocol}: idle for ${sopts.idleTimeoutMs} ms`)),
            sopts.idleTimeoutMs,
          );
        }
        let frame: Uint8Array | undefined;
        try {
          frame = await reader.next(frameBytesMax + 1);
        } catch (e) {
          if (ac.signal.aborted) throw ac.signal.reason;
          throw e;
        }
        if (idle !== undefined) clearTimeout(idle);
        if (frame === undefined || frame.length === 0) {
          throw new Error(`${protocol}: stream ended without end frame`);
        }
        if (frame[0] === STATUS_END) {
          finished = true;
          return;
        }
        if (frame[0] === STATUS_ERROR) {
          finished = true;
          throw new RemoteError(dec.decode(frame.subarray(1)));
        }
        yield frame.subarray(1);
      }
    } finally {
      ac.release();
      if (idle !== undefined) clearTimeout(idle);
      // consumer broke out early (or an error): reset so the server's handler sees its signal abort
      if (!finished) stream?.abort(new Error("stream cancelled"));
    }
  }

  /** Abort every stream in flight. */
  stop(): void {
    for (const s of this.#inflight) s.abort(new Error("p2p stopping"));
    this.#inflight.clear();
  }
}

/** An abort signal that fires with `timeoutErr` after `timeoutMs`, or when the caller's `signal` aborts. */
class Deadline {
  readonly #ac = new AbortController();
  readonly #timer: ReturnType<typeof setTimeout>;
  readonly #caller: AbortSignal | undefined;
  readonly #onAbort = () => this.#ac.abort(this.#caller?.reason);

  constructor(timeoutMs: number, timeoutErr: Error, signal?: AbortSignal) {
    this.#timer = setTimeout(() => this.#ac.abort(timeoutErr), timeoutMs);
    this.#caller = signal;
    signal?.addEventListener("abort", this.#onAbort);
  }

  /** The signal to pass down. */
  get signal(): AbortSignal {
    return this.#ac.signal;
  }

  /** Abort now with `reason`. */
  abort(reason: unknown): void {
    this.#ac.abort(reason);
  }

  /** Stop the timer (the caller's signal still aborts). */
  disarm(): void {
    clearTimeout(this.#timer);
  }

  /** Stop the timer and stop following the caller's signal. */
  release(): void {
    this.disarm();
    this.#caller?.removeEventListener("abort", this.#onAbort);
  }
}
