/**
 * In-memory storage for simulated nodes: the block store's key-value database, the consensus WAL and
 * the signer state, with the same contracts as the disk ones (atomic batches, records replayed in
 * order after a restart, the signer's double-sign guard) but no files and no fsync. A node's
 * {@link MemoryStorage} outlives the node: stopping and starting it again (a crash in a scenario)
 * finds its blocks, WAL and last signature where it left them, as on disk.
 * @module
 */
import {
  checkSign,
  signBytesHash,
  type SignCheck,
  type SignRecord,
  type SignStep,
} from "../../consensus/mod.ts";
import type { WalReplay } from "../../consensus/wal.ts";
import { Store, type StoreDb, type StoreOp } from "../ledger/store.ts";
import type { SignerGuard, WalLog } from "../consensus_driver.ts";
import type { NodeStorage } from "../node.ts";

/** A sorted in-memory key-value database with the part of the LevelDB API the store uses. */
export class MemoryDb implements StoreDb {
  readonly #map = new Map<string, Uint8Array>();
  #sorted: string[] | null = null;
  #open = false;

  /** Opens (again) the database; the data stays across close and open. */
  open(): Promise<void> {
    this.#open = true;
    return Promise.resolve();
  }

  /** The value at `key`, or undefined. */
  get(key: string): Promise<Uint8Array | undefined> {
    this.#assertOpen();
    return Promise.resolve(this.#map.get(key));
  }

  /** The values at `keys`, in order. */
  getMany(keys: string[]): Promise<(Uint8Array | undefined)[]> {
    this.#assertOpen();
    return Promise.resolve(keys.map((k) => this.#map.get(k)));
  }

  /** Applies every write at once (atomic: nothing awaits in between). */
  batch(ops: StoreOp[], _opts: { sync: boolean }): Promise<void> {
    this.#assertOpen();
    for (const op of ops) {
      if (op.type === "put") {
        if (!this.#map.has(op.key)) this.#sorted = null;
        this.#map.set(op.key, op.value.slice());
      } else if (this.#map.delete(op.key)) this.#sorted = null;
    }
    return Promise.resolve();
  }

  /** Entries with keys in [gte, lt), in key order (or reversed), at most `limit`, from a snapshot. */
  async *iterator(
    opts: { gte?: string; lt?: string; reverse?: boolean; limit?: number },
  ): AsyncIterable<[string, Uint8Array]> {
    this.#assertOpen();
    if (this.#sorted === null) this.#sorted = [...this.#map.keys()].sort();
    const keys = this.#sorted.filter((k) =>
      (opts.gte === undefined || k >= opts.gte) && (opts.lt === undefined || k < opts.lt)
    );
    if (opts.reverse) keys.reverse();
    const limited = opts.limit !== undefined && opts.limit >= 0 ? keys.slice(0, opts.limit) : keys;
    const snapshot = limited.map((k): [string, Uint8Array] => [k, this.#map.get(k)!]);
    for (const entry of snapshot) yield entry;
  }

  /** Closes the database (data kept for a later open). */
  close(): Promise<void> {
    this.#open = false;
    return Promise.resolve();
  }

  /** Keys held. */
  get size(): number {
    return this.#map.size;
  }

  #assertOpen(): void {
    if (!this.#open) throw new Error("Cannot use the in-memory store: it is closed");
  }
}

/** The consensus WAL in memory: records kept in order until `reset`, replayed by `readAll`. */
export class MemoryWal implements WalLog {
  #records: Uint8Array[] = [];
  #closed = false;

  /** Appends one record (kept as a copy). */
  append(payload: Uint8Array, _opts: { sync: boolean }): Promise<void> {
    this.#assertOpen();
    this.#records.push(payload.slice());
    return Promise.resolve();
  }

  /** Every record from the start (an in-memory log has no torn tail). */
  readAll(): Promise<WalReplay> {
    this.#assertOpen();
    return Promise.resolve({ records: [...this.#records], droppedBytes: 0 });
  }

  /** Empties the log. */
  reset(): Promise<void> {
    this.#assertOpen();
    this.#records = [];
    return Promise.resolve();
  }

  /** Closes the log for this node run; {@link MemoryWal.reopen} gives it to the next run. */
  close(): void {
    this.#closed = true;
  }

  /** The same records, open again (a node's restart). */
  reopen(): MemoryWal {
    this.#closed = false;
    return this;
  }

  /** Records held. */
  get length(): number {
    return this.#records.length;
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error("Cannot use the in-memory WAL: it is closed");
  }
}

/** The signer's double-sign guard in memory (the same `checkSign` rule as `SignerState`). */
export class MemorySigner implements SignerGuard {
  #last: SignRecord | null = null;

  /** The last signed record, or null. */
  get last(): SignRecord | null {
    return this.#last === null ? null : { ...this.#last };
  }

  /** Checks `position` + `signBytes` against the last record and, when allowed, records it. */
  authorize(
    position: { height: number; round: number; step: SignStep },
    signBytes: Uint8Array,
  ): Promise<SignCheck> {
    const next: SignRecord = { ...position, signBytesHash: signBytesHash(signBytes) };
    const verdict = checkSign(this.#last, next);
    if (verdict.ok && !verdict.resign) this.#last = next;
    return Promise.resolve(verdict);
  }
}

/** One simulated node's durable parts, kept across its restarts. */
export class MemoryStorage implements NodeStorage {
  readonly db = new MemoryDb();
  readonly wal = new MemoryWal();
  readonly signer = new MemorySigner();

  /** The block store over {@link MemoryStorage.db} (`dir` is ignored). */
  openStore = (dir: string): Promise<Store> => Store.open(dir, this.db);
  /** The WAL (`path` is ignored). */
  openWal = (_path: string): Promise<WalLog> => Promise.resolve(this.wal.reopen());
  /** The signer state (`path` is ignored). */
  loadSigner = (_path: string): Promise<SignerGuard> => Promise.resolve(this.signer);
}
