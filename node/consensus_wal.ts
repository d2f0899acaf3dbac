/**
 * The consensus driver's write-ahead log: what a height's records are (own and peer messages,
 * timeouts, built values), how they are written, and how they are replayed after a restart.
 * @module
 */
import { decode, encode } from "cborg";
import type { Logger } from "../lib/log.ts";
import { type Step, Wal } from "../consensus/mod.ts";

/** One WAL record: a signed proposal with its block, a signed vote, a timeout fired, or a value built. */
export type WalRecord =
  | ["proposal", Uint8Array, Uint8Array]
  | ["vote", Uint8Array]
  | ["timeout", Step, number, number]
  | ["value", number, number, Uint8Array];

/** What replay feeds back into the driver, record by record. */
export interface WalReplayHandlers {
  /** The height being decided (replay stops when it changes: the height was decided). */
  height(): number;
  /** A proposal message, in gossip encoding `[signedProposal, block, 0]`. */
  proposal(data: Uint8Array): Promise<void>;
  /** A vote message, in gossip encoding `[[signedVote], 0]`. */
  vote(data: Uint8Array): Promise<void>;
  /** A timeout of the current height that had fired. */
  timeout(step: Step, height: number, round: number): Promise<void>;
  /** A value this node had built for the current height. */
  value(height: number, round: number, bytes: Uint8Array): Promise<void>;
}

/** The log under the consensus WAL: {@link Wal} on disk, or the simulator's in-memory one. */
export type WalLog = Pick<Wal, "append" | "readAll" | "reset" | "close">;

const STEPS: readonly string[] = ["propose", "prevote", "precommit"];

/** The consensus WAL of one node: typed appends over {@link Wal}, and replay. */
export class ConsensusWal {
  readonly #wal: WalLog;

  private constructor(wal: WalLog) {
    this.#wal = wal;
  }

  /**
   * Opens (creating if needed) the WAL at `path`, through `open` when given (the simulator keeps
   * its WALs in memory), else the fsynced file ({@link Wal.open}).
   */
  static async open(path: string, open?: (path: string) => Promise<WalLog>): Promise<ConsensusWal> {
    return new ConsensusWal(await (open ?? Wal.open)(path));
  }

  /** Records a signed proposal and its block bytes (`sync` for our own, before sending). */
  proposal(signedProposal: Uint8Array, blockBytes: Uint8Array, sync: boolean): Promise<void> {
    return this.#append(["proposal", signedProposal, blockBytes], sync);
  }

  /** Records a signed vote (`sync` for our own, before sending). */
  vote(signedVote: Uint8Array, sync: boolean): Promise<void> {
    return this.#append(["vote", signedVote], sync);
  }

  /** Records a timeout that fired. */
  timeout(step: Step, height: number, round: number): Promise<void> {
    return this.#append(["timeout", step, height, round], false);
  }

  /** Records a value (block bytes) this node built for a round. */
  value(height: number, round: number, bytes: Uint8Array): Promise<void> {
    return this.#append(["value", height, round, bytes], false);
  }

  #append(rec: WalRecord, sync: boolean): Promise<void> {
    return this.#wal.append(encode(rec), { sync });
  }

  /**
   * Empties the log (after a height is committed). `sync: false` (after a block that is not durable
   * yet, e.g. inside a block-sync batch) leaves the truncation to the next synced write: a crash
   * before it leaves records of committed heights, which replay ignores.
   */
  reset(sync = true): Promise<void> {
    return this.#wal.reset({ sync });
  }

  /** Closes the file. */
  close(): void {
    this.#wal.close();
  }

  /**
   * Feeds every intact record back through `h`, in order, until the height changes. A torn tail is
   * dropped (and logged); undecodable records are skipped.
   * @returns the number of records replayed.
   */
  async replay(h: WalReplayHandlers, log: Logger): Promise<number> {
    const { records, droppedBytes } = await this.#wal.readAll();
    if (droppedBytes > 0) log("warn", "WAL had a torn tail; dropped it", { droppedBytes });
    let replayed = 0;
    for (const payload of records) {
      let rec: WalRecord;
      try {
        rec = decode(payload) as WalRecord;
      } catch {
        continue;
      }
      const before = h.height();
      if (rec[0] === "proposal") await h.proposal(encode([rec[1], rec[2], 0]));
      else if (rec[0] === "vote") await h.vote(encode([[rec[1]], 0]));
      else if (rec[0] === "timeout") {
        if (rec[2] === before && STEPS.includes(rec[1])) await h.timeout(rec[1], rec[2], rec[3]);
      } else if (rec[0] === "value") {
        if (rec[1] === before) await h.value(rec[1], rec[2], rec[3]);
      }
      replayed++;
      if (h.height() !== before) break; // decided during replay
    }
    return replayed;
  }
}
