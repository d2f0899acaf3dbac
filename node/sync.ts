/**
 * Block sync: a request/response protocol (`/cirrus/sync/1`) through which a node that was down or
 * joined late fetches committed blocks with their commit certificates and verifies them. Gossipsub
 * keeps no old messages, so catching up never relies on it.
 *
 * Requests (CBOR): `{t: "status"}` -> `{height}`; `{t: "blocks", from, count}` -> `{blocks: [[block, commit]]}`.
 * @module
 */
import { decode, encode } from "cborg";
import type { Chain } from "./chain.ts";
import type { P2P } from "./p2p.ts";
import type { ConsensusDriver } from "./consensus_driver.ts";
import type { Clock } from "../lib/clock.ts";
import type { Logger } from "../lib/log.ts";

/** The protocol id. */
export const SYNC_PROTOCOL = "/cirrus/sync/1";
/** Most blocks in one response. */
export const SYNC_BATCH_MAX = 32;
const RESPONSE_BYTES_MAX = 64 * 1024 * 1024;

/** Serve and run block sync for one node. */
export class BlockSync {
  #timer: unknown = null;
  #stopped = false;
  #busy = false;
  #hint = 0;
  /** Blocks applied through sync since start. */
  applied = 0;

  constructor(
    readonly chain: Chain,
    readonly p2p: P2P,
    readonly driver: ConsensusDriver,
    readonly clock: Clock,
    readonly log: Logger,
    readonly intervalMs = 1000,
  ) {}

  /** Register the protocol handler and start the catch-up loop. */
  async start(): Promise<void> {
    await this.p2p.handle(SYNC_PROTOCOL, (req) => this.#serve(req), { maxRequestBytes: 1024 });
    this.driver.onBehind((h) => {
      if (h > this.#hint) this.#hint = h;
      void this.tick();
    });
    this.#schedule();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) this.clock.clearTimeout(this.#timer);
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = this.clock.setTimeout(async () => {
      await this.tick();
      this.#schedule();
    }, this.intervalMs);
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
      const blocks: [Uint8Array, Uint8Array][] = [];
      for (let h = from; h < from + Math.min(count, SYNC_BATCH_MAX) && h <= this.chain.height; h++) {
        const b = await this.chain.store.getBlock(h);
        const c = await this.chain.store.getCommit(h);
        if (!b || !c) break;
        blocks.push([b, c]);
      }
      return encode({ blocks });
    }
    throw new Error("unknown request");
  }

  /** One catch-up round: ask peers for their height; fetch and apply blocks from the highest. */
  async tick(): Promise<void> {
    if (this.#busy || this.#stopped) return;
    this.#busy = true;
    try {
      const peers = this.p2p.peers();
      let best: { peer: string; height: number } | null = null;
      for (const peer of peers) {
        try {
          const res = decode(
            await this.p2p.request(peer, SYNC_PROTOCOL, encode({ t: "status" }), { timeoutMs: 2000 }),
          );
          const h = (res as { height?: unknown }).height;
          if (typeof h === "number" && Number.isSafeInteger(h) && (!best || h > best.height)) {
            best = { peer, height: h };
          }
        } catch { /* peer without the protocol, or slow: try the others */ }
      }
      if (!best || best.height <= this.chain.height) return;
      this.log("info", "catching up", { from: this.chain.height + 1, to: best.height, peer: best.peer });
      let guard = 0;
      while (!this.#stopped && this.chain.height < best.height && guard++ < 10_000) {
        const res = decode(
          await this.p2p.request(
            best.peer,
            SYNC_PROTOCOL,
            encode({ t: "blocks", from: this.chain.height + 1, count: SYNC_BATCH_MAX }),
            { timeoutMs: 10_000, maxResponseBytes: RESPONSE_BYTES_MAX },
          ),
        ) as { blocks?: unknown };
        if (!Array.isArray(res.blocks) || res.blocks.length === 0) break;
        for (const pair of res.blocks) {
          if (!Array.isArray(pair) || !(pair[0] instanceof Uint8Array) || !(pair[1] instanceof Uint8Array)) {
            return;
          }
          const why = await this.driver.applySyncedBlock(pair[0], pair[1]);
          if (why) {
            this.log("warn", "block sync rejected a block", { peer: best.peer, reason: why });
            return;
          }
          this.applied++;
        }
      }
    } catch (e) {
      this.log("debug", "block sync round failed", { error: String(e) });
    } finally {
      this.#busy = false;
    }
  }
}
