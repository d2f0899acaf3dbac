/**
 * Block sync: a request/response protocol (`/cirrus/sync/1`) through which a node that was down or
 * joined late fetches committed blocks with their commit certificates and verifies them. Gossipsub
 * keeps no old messages, so catching up never relies on it.
 *
 * Requests (CBOR): `{t: "status"}` -> `{height}`; `{t: "blocks", from, count}` -> `{blocks: [[block, commit]]}`.
 * A response holds at most {@link SYNC_BATCH_MAX} blocks and {@link SYNC_RESPONSE_BYTES_MAX} bytes
 * (at least one block, whatever its size).
 *
 * No peer is trusted (issue 8, finding 6): every round asks several peers for their height, fetches
 * from the highest that is not in penalty, and moves on to the next when one times out, answers
 * nothing while claiming more, or sends a block that fails verification. Such a peer is put in
 * penalty for a time that doubles with each strike; a batch that moves the chain clears its strikes.
 * @module
 */
import { decode, encode } from "cborg";
import type { Chain } from "./chain.ts";
import type { P2P } from "./p2p.ts";
import type { ConsensusDriver } from "./consensus_driver.ts";
import type { Clock } from "../lib/clock.ts";
import type { Logger } from "../lib/log.ts";
import { cryptoSeededRng, type Rng } from "../lib/rng.ts";

/** The protocol id. */
export const SYNC_PROTOCOL = "/cirrus/sync/1";
/** Most blocks in one response. */
export const SYNC_BATCH_MAX = 32;
/**
 * Largest response, in bytes: the request/response layer's default cap (16 MiB). A server stops
 * adding blocks before it (one block always goes, and a block is at most 4 MiB).
 */
export const SYNC_RESPONSE_BYTES_MAX = 16 * 1024 * 1024;
/** Room left in a response for its CBOR framing. */
const RESPONSE_FRAMING_BYTES = 64 * 1024;
/** Peers asked for their height in one round, at most (a random sample beyond). */
export const SYNC_STATUS_PEERS_MAX = 16;
/** First penalty of a misbehaving peer; doubles with each strike up to {@link PENALTY_MS_MAX}. */
const PENALTY_MS = 5_000;
const PENALTY_MS_MAX = 10 * 60_000;
/**
 * Longest pause between two polls when no peer is ahead: each poll that finds none doubles the pause
 * from `intervalMs` up to this while consensus rests (a node at rest asks its peers rarely; issue 9,
 * part 5; a node deciding heights polls every `intervalMs`). A peer's
 * consensus message from a higher height, or a poll that finds one ahead, brings it back at once.
 */
const QUIET_POLL_MS_MAX = 10_000;
/** Peers remembered with strikes, at most (oldest forgotten). */
const PENALIZED_PEERS_MAX = 1024;

/** Options of {@link BlockSync}. */
export interface BlockSyncOptions {
  /** Bytes of blocks this node puts in one response, at most (default {@link SYNC_RESPONSE_BYTES_MAX}). */
  responseBytesMax?: number;
  /** Time allowed for a status answer (default 2 s). */
  statusTimeoutMs?: number;
  /** Time allowed for a blocks answer (default 10 s). */
  blocksTimeoutMs?: number;
  /** Draws the sample of peers asked for their height (default {@link cryptoSeededRng}). */
  rng?: Rng;
}

/** Serve and run block sync for one node. */
export class BlockSync {
  #timer: unknown = null;
  #stopped = false;
  #busy = false;
  #hint = 0;
  /** peer -> strikes and the time its penalty ends. */
  readonly #penalties = new Map<string, { strikes: number; until: number }>();
  /** Blocks applied through sync since start. */
  applied = 0;
  /** Polls in a row that found no peer ahead (the pause before the next one doubles with each). */
  #quietPolls = 0;
  readonly #rng: Rng;

  constructor(
    readonly chain: Chain,
    readonly p2p: P2P,
    readonly driver: ConsensusDriver,
    readonly clock: Clock,
    readonly log: Logger,
    readonly intervalMs = 1000,
    readonly options: BlockSyncOptions = {},
  ) {
    this.#rng = options.rng ?? cryptoSeededRng();
  }

  /** Register the protocol handler and start the catch-up loop. */
  async start(): Promise<void> {
    await this.p2p.handle(SYNC_PROTOCOL, (req) => this.#serve(req), {
      requestBytesMax: 1024,
      responseBytesMax: SYNC_RESPONSE_BYTES_MAX,
    });
    this.driver.onBehind((h) => {
      if (h > this.#hint) this.#hint = h;
      void this.tick();
    });
    this.#schedule();
  }

  /** Stop the catch-up loop. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) this.clock.clearTimeout(this.#timer);
  }

  /** Whether `peer` is in penalty now (for status and tests). */
  penalized(peer: string): boolean {
    return (this.#penalties.get(peer)?.until ?? -Infinity) > this.clock.now();
  }

  get #responseBytesMax(): number {
    return this.options.responseBytesMax ?? SYNC_RESPONSE_BYTES_MAX;
  }

  #schedule(): void {
    if (this.#stopped) return;
    // The pause grows only while consensus rests: on a busy chain a node left behind (a height's
    // messages missed under load) waited up to QUIET_POLL_MS_MAX for its next poll.
    const pause = this.driver.resting
      ? Math.min(this.intervalMs * 2 ** Math.min(this.#quietPolls, 16), QUIET_POLL_MS_MAX)
      : this.intervalMs;
    this.#timer = this.clock.setTimeout(async () => {
      await this.tick();
      this.#schedule();
    }, Math.max(this.intervalMs, pause));
  }

  async #serve(req: Uint8Array): Promise<Uint8Array> {
    const msg = decode(req) as { t?: unknown; from?: unknown; count?: unknown };
    if (msg?.t === "status") return encode({ height: this.chain.height });
    if (msg?.t === "blocks") {
      const from = msg.from, count = msg.count;
      if (typeof from !== "number" || !Number.isSafeInteger(from) || from < 1) {
        throw new Error("from: bad height");
      }
      if (typeof count !== "number" || !Number.isSafeInteger(count) || count < 1) {
        throw new Error("count: bad");
      }
      const budget = this.#responseBytesMax - RESPONSE_FRAMING_BYTES;
      const blocks: [Uint8Array, Uint8Array][] = [];
      let bytes = 0;
      for (let h = from; h < from + Math.min(count, SYNC_BATCH_MAX) && h <= this.chain.height; h++) {
        const b = await this.chain.store.getBlock(h);
        const c = await this.chain.store.getCommit(h);
        if (!b || !c) break;
        if (blocks.length > 0 && bytes + b.length + c.length > budget) break;
        blocks.push([b, c]);
        bytes += b.length + c.length;
      }
      return encode({ blocks });
    }
    throw new Error("unknown request");
  }

  #strike(peer: string, strikes: number, reason: string): void {
    const prev = this.#penalties.get(peer);
    const n = (prev?.strikes ?? 0) + strikes;
    const ms = Math.min(PENALTY_MS * 2 ** Math.min(n - 1, 20), PENALTY_MS_MAX);
    this.#penalties.delete(peer);
    if (this.#penalties.size >= PENALIZED_PEERS_MAX) {
      const oldest = this.#penalties.keys().next();
      if (!oldest.done) this.#penalties.delete(oldest.value);
    }
    this.#penalties.set(peer, { strikes: n, until: this.clock.now() + ms });
    this.log("warn", "block sync: peer penalized", { peer, reason, strikes: n, penaltyMs: ms });
  }

  /** Heights claimed by a sample of peers not in penalty, highest first (only those above ours). */
  async #candidates(): Promise<{ peer: string; height: number }[]> {
    let peers = this.p2p.peers().filter((p) => !this.penalized(p));
    if (peers.length > SYNC_STATUS_PEERS_MAX) {
      peers = peers.map((p) => ({ p, k: this.#rng() })).sort((a, b) => a.k - b.k)
        .slice(0, SYNC_STATUS_PEERS_MAX).map((x) => x.p);
    }
    const timeoutMs = this.options.statusTimeoutMs ?? 2000;
    const answers = await Promise.all(peers.map(async (peer) => {
      try {
        const res = decode(
          await this.p2p.request(peer, SYNC_PROTOCOL, encode({ t: "status" }), { timeoutMs }),
        );
        const h = (res as { height?: unknown } | null)?.height;
        return typeof h === "number" && Number.isSafeInteger(h) && h >= 0 ? { peer, height: h } : null;
      } catch {
        return null; // a peer without the protocol, or slow: the others answer
      }
    }));
    return answers.filter((a): a is { peer: string; height: number } =>
      a !== null && a.height > this.chain.height
    )
      .sort((a, b) => b.height - a.height);
  }

  /** Ask `peer` for the blocks from `from` on; never rejects (the error is returned). */
  async #requestBlocks(peer: string, from: number): Promise<{ blocks: unknown } | { error: string }> {
    try {
      const res = decode(
        await this.p2p.request(
          peer,
          SYNC_PROTOCOL,
          encode({ t: "blocks", from, count: SYNC_BATCH_MAX }),
          { timeoutMs: this.options.blocksTimeoutMs ?? 10_000, responseBytesMax: SYNC_RESPONSE_BYTES_MAX },
        ),
      ) as { blocks?: unknown } | null;
      return { blocks: res?.blocks };
    } catch (e) {
      return { error: `blocks request failed: ${(e as Error)?.message ?? e}` };
    }
  }

  /**
   * Fetch from one peer until it has nothing more or misbehaves. Returns true when the peer gave all
   * it claimed (or the chain reached its height). Pipelined: the next batch is asked for while this
   * one is verified and applied (the round trip and the serving peer's reads overlap our work); a
   * prefetched batch that no longer starts at our next height is dropped and asked for again.
   */
  async #fetchFrom(peer: string, claimed: number): Promise<boolean> {
    let guard = 0;
    let from = this.chain.height + 1;
    let pending = this.#requestBlocks(peer, from);
    while (!this.#stopped && this.chain.height < claimed && guard++ < 100_000) {
      const res = await pending;
      if ("error" in res) {
        this.#strike(peer, 1, res.error);
        return false;
      }
      if (from !== this.chain.height + 1) {
        // consensus (or another path) moved the chain while we waited: ask again from where it is
        from = this.chain.height + 1;
        pending = this.#requestBlocks(peer, from);
        continue;
      }
      if (!Array.isArray(res.blocks) || res.blocks.length === 0) {
        this.#strike(peer, 1, `claimed height ${claimed} but sent no block after ${this.chain.height}`);
        return false;
      }
      const next = from + res.blocks.length;
      if (next <= claimed) {
        from = next;
        pending = this.#requestBlocks(peer, from);
      }
      const last = res.blocks.length - 1;
      for (const [i, pair] of res.blocks.entries()) {
        if (!Array.isArray(pair) || !(pair[0] instanceof Uint8Array) || !(pair[1] instanceof Uint8Array)) {
          this.#strike(peer, 3, "malformed blocks response");
          return false;
        }
        // One fsync per batch: its last block (earlier ones are lost in a crash only, and re-fetched).
        const why = await this.driver.applySyncedBlock(pair[0], pair[1], i === last);
        if (why) {
          // A block that fails verification against our chain is a lie (or another chain).
          this.#strike(peer, 3, why);
          return false;
        }
        this.applied++;
      }
      this.#penalties.delete(peer);
      if (next > claimed) break;
    }
    return true;
  }

  /**
   * One catch-up round: ask several peers for their height; fetch from the highest, falling back to
   * the next when one fails (and penalizing it).
   */
  async tick(): Promise<void> {
    if (this.#busy || this.#stopped) return;
    this.#busy = true;
    try {
      const candidates = await this.#candidates();
      this.#quietPolls = candidates.length === 0 ? this.#quietPolls + 1 : 0;
      for (const { peer, height } of candidates) {
        if (this.#stopped || this.chain.height >= height) continue;
        this.log("info", "catching up", { from: this.chain.height + 1, to: height, peer });
        await this.#fetchFrom(peer, height);
      }
    } catch (e) {
      this.log("debug", "block sync round failed", { error: String(e) });
    } finally {
      this.#busy = false;
    }
  }
}
