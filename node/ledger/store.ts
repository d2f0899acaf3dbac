/**
 * The block store: LevelDB (utf8 keys, binary values). Every block is committed in ONE atomic batch,
 * so a crash leaves the store exactly at a block boundary; the batch is synced to disk (`sync: true`)
 * before `commitBlock` resolves, so the consensus WAL reset that follows it can never leave a power
 * loss with neither the block nor the WAL (issue 8, finding 9).
 *
 * Keys (heights zero-padded to 12 digits, tx indexes to 6, so lexical order is numeric order):
 * - `b/<h>`            block bytes
 * - `c/<h>`            commit certificate bytes for block h
 * - `h/<h>`            block hash (utf8 hex)
 * - `s/<stateKey>`     state value
 * - `t/<txid>`         cbor({height, index, result: {ok, reason?, events}})
 * - `a/<address>/<h>/<i>` raw 32-byte tx id (tx index by address)
 * - `m/height`, `m/appHash`, `m/blockHash`   cbor meta of the last committed block
 * - `m/validatorSet`   the validator set of the last committed block's height, with its proposer
 *                      priorities (utf8 JSON, `ValidatorSetJson`; the chain derives the next one)
 * - `v/<h>`            the validator set of height h, for each height whose members or powers differ
 *                      from the previous height's (and height 1): the history evidence is checked with
 * @module
 */
import { Level } from "level";
import { decode } from "cborg";
import type { Hex } from "../../consensus/types.ts";
import { fromHex, toHex } from "../../lib/crypto.ts";
import { canonicalEncode } from "../../lib/cbor.ts";
import { LedgerState, type TxResult } from "./state.ts";
import type { Ledger } from "./ledger.ts";

/** Zero-padded height for keys. */
export const padHeight = (h: number): string => h.toString().padStart(12, "0");
const padIndex = (i: number): string => i.toString().padStart(6, "0");

/** One entry of a block's tx index. */
export interface TxIndexEntry {
  id: Hex;
  height: number;
  index: number;
  /** Addresses the tx concerns (sender first). */
  addresses: string[];
}

/** Everything {@link Store.commitBlock} writes for one block. */
export interface CommitInput {
  height: number;
  block: Uint8Array;
  blockHash: Hex;
  /** Commit certificate bytes for this block. */
  commit: Uint8Array;
  writes: ReadonlyMap<string, Uint8Array | null>;
  appHash: Hex;
  txIndex: TxIndexEntry[];
  /** Per-tx results, same order as `txIndex`. */
  results: TxResult[];
  /**
   * The validator set of this block's height (`m/validatorSet`), and whether its members differ from
   * the previous height's (then also kept as `v/<height>`).
   */
  validatorSet?: { bytes: Uint8Array; changed: boolean };
}

/** A stored tx's location and result. */
export interface StoredTx {
  height: number;
  index: number;
  result: { ok: boolean; reason?: string; events: { type: string; attrs: Record<string, string> }[] };
}

type Op = { type: "put"; key: string; value: Uint8Array } | { type: "del"; key: string };

/**
 * The part of the LevelDB API the store uses (`level`'s `Level` has it; the simulator passes an
 * in-memory one, `node/sim/memory_storage.ts`).
 */
export interface StoreDb {
  open(): Promise<void>;
  get(key: string): Promise<Uint8Array | undefined>;
  getMany(keys: string[]): Promise<(Uint8Array | undefined)[]>;
  batch(ops: Op[], opts: { sync: boolean }): Promise<void>;
  iterator(
    opts: { gte?: string; lt?: string; reverse?: boolean; limit?: number },
  ): AsyncIterable<[string, Uint8Array]>;
  close(): Promise<void>;
}

/** One write of {@link StoreDb.batch}. */
export type StoreOp = Op;

const view = (b: Uint8Array): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

/** The LevelDB-backed store of blocks, commits, state and tx indexes. */
export class Store {
  #db: StoreDb;
  #height: number | null;

  private constructor(db: StoreDb, height: number | null) {
    this.#db = db;
    this.#height = height;
  }

  /** Opens (creating if needed) the store in `dir`, or over `db` when given (then `dir` is unused). */
  static async open(dir: string, db?: StoreDb): Promise<Store> {
    if (!db) db = new Level<string, Uint8Array>(dir, { keyEncoding: "utf8", valueEncoding: "view" });
    await db.open();
    const h = await db.get("m/height");
    return new Store(db, h === undefined ? null : (decode(h) as number));
  }

  /** Height of the last committed block: 0 after genesis only, null when empty. */
  latestHeight(): number | null {
    return this.#height;
  }

  /** Writes the genesis state (height 0). Only on an empty store. */
  async initGenesis(state: LedgerState): Promise<void> {
    if (this.#height !== null) throw new Error("store already initialised");
    if (state.height !== 0) throw new Error("initGenesis: state is not at height 0");
    const ops: Op[] = state.entries().map(([k, v]) => ({ type: "put", key: `s/${k}`, value: v }));
    ops.push({ type: "put", key: "m/height", value: canonicalEncode(0) });
    ops.push({ type: "put", key: "m/appHash", value: canonicalEncode(state.appHash) });
    ops.push({ type: "put", key: "m/blockHash", value: canonicalEncode("") });
    await this.#db.batch(ops, { sync: true });
    this.#height = 0;
  }

  /**
   * Commits one block in ONE atomic batch: block, commit, state writes, tx index, meta. Durable on
   * return unless `sync: false` (block sync commits a fetched batch so and syncs only its last block:
   * a crash loses only re-fetchable blocks, and the store stays at a block boundary).
   */
  async commitBlock(c: CommitInput, opts: { sync?: boolean } = {}): Promise<void> {
    if (this.#height === null) throw new Error("commitBlock: store has no genesis");
    if (c.height !== this.#height + 1) {
      throw new Error(`commitBlock: height ${c.height} after ${this.#height}`);
    }
    if (c.results.length !== c.txIndex.length) {
      throw new Error("commitBlock: results and txIndex differ in length");
    }
    const h = padHeight(c.height);
    const ops: Op[] = [
      { type: "put", key: `b/${h}`, value: c.block },
      { type: "put", key: `c/${h}`, value: c.commit },
      { type: "put", key: `h/${h}`, value: new TextEncoder().encode(c.blockHash) },
    ];
    for (const [k, v] of c.writes) {
      ops.push(v === null ? { type: "del", key: `s/${k}` } : { type: "put", key: `s/${k}`, value: v });
    }
    const seen = new Set<string>();
    c.txIndex.forEach((t, i) => {
      if (seen.has(t.id)) return; // a duplicate tx in one block: keep the first (the one that could succeed)
      seen.add(t.id);
      const r = c.results[i]!;
      const result: Record<string, unknown> = { ok: r.ok, events: r.events };
      if (r.reason !== undefined) result.reason = r.reason;
      ops.push({
        type: "put",
        key: `t/${t.id}`,
        value: canonicalEncode({ height: t.height, index: t.index, result }),
      });
      const idBytes = fromHex(t.id);
      for (const a of new Set(t.addresses)) {
        ops.push({ type: "put", key: `a/${a}/${padHeight(t.height)}/${padIndex(t.index)}`, value: idBytes });
      }
    });
    if (c.validatorSet) {
      ops.push({ type: "put", key: "m/validatorSet", value: c.validatorSet.bytes });
      if (c.validatorSet.changed) ops.push({ type: "put", key: `v/${h}`, value: c.validatorSet.bytes });
    }
    ops.push({ type: "put", key: "m/height", value: canonicalEncode(c.height) });
    ops.push({ type: "put", key: "m/appHash", value: canonicalEncode(c.appHash) });
    ops.push({ type: "put", key: "m/blockHash", value: canonicalEncode(c.blockHash) });
    await this.#db.batch(ops, { sync: opts.sync ?? true });
    this.#height = c.height;
  }

  /** Block bytes at height `h`. */
  async getBlock(h: number): Promise<Uint8Array | undefined> {
    const v = await this.#db.get(`b/${padHeight(h)}`);
    return v && view(v);
  }

  /** Commit certificate bytes for block `h`. */
  async getCommit(h: number): Promise<Uint8Array | undefined> {
    const v = await this.#db.get(`c/${padHeight(h)}`);
    return v && view(v);
  }

  /** Block hash at height `h`. */
  async getBlockHashAt(h: number): Promise<Hex | undefined> {
    const v = await this.#db.get(`h/${padHeight(h)}`);
    return v && new TextDecoder().decode(v);
  }

  /** The validator set of the last committed height (`m/validatorSet`), if the store has one. */
  async latestValidatorSet(): Promise<Uint8Array | undefined> {
    const v = await this.#db.get("m/validatorSet");
    return v && view(v);
  }

  /** The validator set of height `h`: the last one kept at a height <= h (`v/`), if any. */
  async validatorSetAt(h: number): Promise<Uint8Array | undefined> {
    for await (
      const [, v] of this.#db.iterator({ gte: "v/", lt: `v/${padHeight(h + 1)}`, reverse: true, limit: 1 })
    ) {
      return view(v);
    }
    return undefined;
  }

  /** Meta of the last committed block. */
  async meta(): Promise<{ height: number; appHash: Hex; blockHash: Hex } | null> {
    const [h, a, b] = await this.#db.getMany(["m/height", "m/appHash", "m/blockHash"]);
    if (!h || !a || !b) return null;
    return { height: decode(h) as number, appHash: decode(a) as Hex, blockHash: decode(b) as Hex };
  }

  /** Location and result of a committed tx. */
  async getTx(id: Hex): Promise<StoredTx | undefined> {
    const v = await this.#db.get(`t/${id}`);
    return v && (decode(v) as StoredTx);
  }

  /** Txs concerning `address`, newest first. */
  async txsByAddress(address: string, limit = 100): Promise<{ id: Hex; height: number; index: number }[]> {
    const out: { id: Hex; height: number; index: number }[] = [];
    const prefix = `a/${address}/`;
    for await (
      const [k, v] of this.#db.iterator({ gte: prefix, lt: `a/${address}0`, reverse: true, limit })
    ) {
      const [hs, is] = k.slice(prefix.length).split("/");
      out.push({ id: toHex(view(v)), height: Number(hs), index: Number(is) });
    }
    return out;
  }

  /**
   * The committed state (all `s/` keys + meta) run by `ledger`, or null for an empty store. Reads meta and state
   * through ONE iterator (one LevelDB snapshot), so it is consistent even during a commit.
   */
  async loadState(ledger: Ledger): Promise<LedgerState | null> {
    const entries: [string, Uint8Array][] = [];
    const meta = new Map<string, Uint8Array>();
    for await (const [k, v] of this.#db.iterator({ gte: "m/", lt: "s0" })) {
      if (k.startsWith("s/")) entries.push([k.slice(2), view(v)]);
      else if (k.startsWith("m/")) meta.set(k, view(v));
    }
    const h = meta.get("m/height"), a = meta.get("m/appHash");
    if (!h || !a) return null;
    return LedgerState.fromEntries(entries, {
      ledger,
      height: decode(h) as number,
      appHash: decode(a) as Hex,
    });
  }

  /** Closes the database. */
  async close(): Promise<void> {
    await this.#db.close();
  }
}
