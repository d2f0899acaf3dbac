/**
 * Write-ahead log for the consensus driver. Records are `[u32 length][u32 crc32][payload]`
 * (big-endian, CRC-32/IEEE of the payload). Replay stops at the first torn or corrupt record and
 * truncates the file there. Payloads are opaque (the driver CBOR-encodes its inputs).
 * @module
 */

/** Largest payload of one record, in bytes; a larger length field marks a corrupt record. */
export const WAL_RECORD_BYTES_MAX = 16 * 1024 * 1024;
/** Header size: u32 length + u32 crc32. */
export const WAL_HEADER_BYTES = 8;

const CRC_TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/**
 * CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as used by zlib and PNG.
 * @param bytes data.
 * @returns the checksum as an unsigned 32-bit number.
 * @example
 * ```ts
 * crc32(new TextEncoder().encode("123456789")); // 0xcbf43926
 * ```
 */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Result of {@link Wal.readAll}. */
export interface WalReplay {
  /** Payloads of the intact records, in order. */
  records: Uint8Array[];
  /** Bytes removed from the end of the file (a torn or corrupt tail); 0 when the file was clean. */
  droppedBytes: number;
}

/**
 * An append-only log file.
 * @example
 * ```ts
 * const wal = await Wal.open("/data/cs.wal");
 * const { records } = await wal.readAll(); // replay after a crash
 * await wal.append(payload, { sync: true });
 * await wal.reset(); // after the height is committed
 * wal.close();
 * ```
 */
export class Wal {
  readonly path: string;
  #file: Deno.FsFile;
  #closed = false;

  private constructor(path: string, file: Deno.FsFile) {
    this.path = path;
    this.#file = file;
  }

  /**
   * Opens (creating if needed) the log; appends go to its end.
   * @param path the log file.
   */
  static async open(path: string): Promise<Wal> {
    const file = await Deno.open(path, { read: true, write: true, create: true });
    await file.seek(0, Deno.SeekMode.End);
    return new Wal(path, file);
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error(`Cannot use WAL ${this.path}: it is closed`);
  }

  /**
   * Appends one record.
   * @param payload record bytes, at most {@link WAL_RECORD_BYTES_MAX}.
   * @param opts `sync: true` to fdatasync before returning (own signed messages, before sending).
   */
  async append(payload: Uint8Array, opts: { sync: boolean }): Promise<void> {
    this.#assertOpen();
    if (payload.length > WAL_RECORD_BYTES_MAX) {
      throw new RangeError(`Cannot append WAL record: ${payload.length} bytes > ${WAL_RECORD_BYTES_MAX}`);
    }
    const record = new Uint8Array(WAL_HEADER_BYTES + payload.length);
    const view = new DataView(record.buffer);
    view.setUint32(0, payload.length);
    view.setUint32(4, crc32(payload));
    record.set(payload, WAL_HEADER_BYTES);
    let written = 0;
    while (written < record.length) written += await this.#file.write(record.subarray(written));
    if (opts.sync) await this.#file.syncData();
  }

  /**
   * Reads every intact record from the start. At the first torn (short) or corrupt (bad length or CRC)
   * record the file is truncated there, synced, and the dropped byte count reported.
   * @returns the payloads and the dropped byte count.
   */
  async readAll(): Promise<WalReplay> {
    this.#assertOpen();
    const data = await Deno.readFile(this.path);
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const records: Uint8Array[] = [];
    let offset = 0;
    while (offset + WAL_HEADER_BYTES <= data.length) {
      const length = view.getUint32(offset);
      const checksum = view.getUint32(offset + 4);
      const end = offset + WAL_HEADER_BYTES + length;
      if (length > WAL_RECORD_BYTES_MAX || end > data.length) break;
      const payload = data.slice(offset + WAL_HEADER_BYTES, end);
      if (crc32(payload) !== checksum) break;
      records.push(payload);
      offset = end;
    }
    const droppedBytes = data.length - offset;
    if (droppedBytes > 0) {
      await this.#file.truncate(offset);
      await this.#file.syncData();
    }
    await this.#file.seek(offset, Deno.SeekMode.Start);
    return { records, droppedBytes };
  }

  /** Empties the log (after a height is committed) and syncs. */
  async reset(opts: { sync?: boolean } = {}): Promise<void> {
    this.#assertOpen();
    await this.#file.truncate(0);
    if (opts.sync ?? true) await this.#file.syncData();
    await this.#file.seek(0, Deno.SeekMode.Start);
  }

  /** Closes the file; further calls throw. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#file.close();
  }
}
