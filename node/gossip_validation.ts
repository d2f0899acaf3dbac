/**
 * Gossip validation results with typed reasons, and the ONE adapter that turns a result into the
 * pubsub verdict, logs it and counts it per peer and per reason.
 *
 * Every implementation of the `P2P` facade (libp2p in `p2p.ts`, a simulated network in tests) runs
 * a topic's validator and hands its result to {@link toVerdict} with its own {@link GossipStats},
 * so a simulated node validates and counts exactly like a real one.
 * @module
 */
import type { Logger } from "../lib/log.ts";

const MiB = 1024 * 1024;

/**
 * Largest gossip payload, the one source of truth for the gossip size limit. gossipsub's outbound
 * stream length-prefixes each RPC with it-length-prefixed, whose encoder refuses frames over 4 MiB
 * (not configurable; the refusal is silent). Keep 64 KiB for the RPC envelope and control messages.
 */
export const GOSSIP_BYTES_MAX = 4 * MiB - 64 * 1024;

/** What a gossipsub topic validator tells the router: deliver + relay, drop + penalise, or drop. */
export type Verdict = "accept" | "reject" | "ignore";

/** Why a gossip message was not accepted. */
export type GossipReason =
  | "malformed"
  | "too_large"
  | "bad_signature"
  | "wrong_chain"
  | "not_validator"
  | "wrong_proposer"
  | "stale_height"
  | "future_height"
  | "hash_mismatch"
  | "unfunded_sender"
  | "not_subscribed"
  | "validator_timeout"
  | "validator_error"
  | "invalid_evidence"
  | "known_evidence";

/** The result of a topic validator: accept, or reject/ignore with a typed reason. */
export type GossipResult = "accept" | {
  action: "reject" | "ignore";
  reason: GossipReason;
  detail?: string;
};

/** A reject result without detail, shared (validators return these without allocating). */
export const REJECT: { readonly [R in GossipReason]: GossipResult } = results("reject");
/** An ignore result without detail, shared (validators return these without allocating). */
export const IGNORE: { readonly [R in GossipReason]: GossipResult } = results("ignore");

function results(action: "reject" | "ignore"): { [R in GossipReason]: GossipResult } {
  const reasons: GossipReason[] = [
    "malformed",
    "too_large",
    "bad_signature",
    "wrong_chain",
    "not_validator",
    "wrong_proposer",
    "stale_height",
    "future_height",
    "hash_mismatch",
    "unfunded_sender",
    "not_subscribed",
    "validator_timeout",
    "validator_error",
    "invalid_evidence",
    "known_evidence",
  ];
  const out = {} as { [R in GossipReason]: GossipResult };
  for (const reason of reasons) out[reason] = Object.freeze({ action, reason });
  return out;
}

/** Counts of one peer's refused messages: `reject` and `ignore` per reason. */
export interface PeerGossipCounts {
  reject: Partial<Record<GossipReason, number>>;
  ignore: Partial<Record<GossipReason, number>>;
}

/** Default number of peers whose counts are kept (the least recently counted is dropped beyond). */
export const GOSSIP_STATS_PEERS_MAX = 1024;

/**
 * Refused gossip counted per peer and per reason, for tests, logs and (later) RPC/metrics. Bounded:
 * at most `peersMax` peers are tracked; counting a new peer beyond it forgets the least recently
 * counted one. Totals per reason are kept for all peers.
 */
export class GossipStats {
  readonly #peers = new Map<string, PeerGossipCounts>();
  readonly #totals: PeerGossipCounts = { reject: {}, ignore: {} };
  readonly peersMax: number;

  constructor(peersMax = GOSSIP_STATS_PEERS_MAX) {
    if (!Number.isSafeInteger(peersMax) || peersMax < 1) throw new RangeError(`bad peersMax ${peersMax}`);
    this.peersMax = peersMax;
  }

  /** Count one refused message of `from`. */
  count(from: string, action: "reject" | "ignore", reason: GossipReason): void {
    let c = this.#peers.get(from);
    if (c === undefined) {
      if (this.#peers.size >= this.peersMax) {
        const oldest = this.#peers.keys().next();
        if (!oldest.done) this.#peers.delete(oldest.value);
      }
      c = { reject: {}, ignore: {} };
    } else {
      this.#peers.delete(from); // re-insert: most recently counted last
    }
    this.#peers.set(from, c);
    c[action][reason] = (c[action][reason] ?? 0) + 1;
    this.#totals[action][reason] = (this.#totals[action][reason] ?? 0) + 1;
  }

  /** A peer's counts (empty when never counted or forgotten). */
  peer(from: string): PeerGossipCounts {
    const c = this.#peers.get(from);
    return c === undefined
      ? { reject: {}, ignore: {} }
      : { reject: { ...c.reject }, ignore: { ...c.ignore } };
  }

  /** Counts over all peers. */
  totals(): PeerGossipCounts {
    return { reject: { ...this.#totals.reject }, ignore: { ...this.#totals.ignore } };
  }

  /** The peers currently tracked, least recently counted first. */
  peers(): string[] {
    return [...this.#peers.keys()];
  }
}

/** What {@link toVerdict} needs besides the result. */
export interface VerdictContext {
  topic: string;
  from: string;
  stats: GossipStats;
  logger: Logger;
}

/**
 * The one adapter from a validator's result to the router's verdict: logs (debug for ignore, warn
 * for reject) and counts refusals per peer and per reason. Accept costs nothing.
 *
 * @param result what the topic's validator returned
 * @param ctx the topic, the peer the message came from, where to count and log
 * @returns the verdict for the pubsub router
 * @example
 * ```ts
 * const stats = new GossipStats();
 * toVerdict(REJECT.bad_signature, { topic: "/cirrus/x/vote", from: "12D3Koo...", stats, logger: silentLogger });
 * // -> "reject"; stats.peer("12D3Koo...").reject.bad_signature === 1
 * ```
 */
export function toVerdict(result: GossipResult, ctx: VerdictContext): Verdict {
  if (result === "accept") return "accept";
  const { action, reason } = result;
  ctx.stats.count(ctx.from, action, reason);
  ctx.logger(action === "reject" ? "warn" : "debug", `gossip ${action}: ${reason}`, {
    topic: ctx.topic,
    from: ctx.from,
    ...(result.detail !== undefined ? { detail: result.detail } : {}),
  });
  return action;
}

/** Anything else a validator may return (a bug, or an untyped JS caller): a reject, counted. */
export function asGossipResult(v: unknown): GossipResult {
  if (v === "accept") return "accept";
  if (
    typeof v === "object" && v !== null && "action" in v && "reason" in v &&
    (v.action === "reject" || v.action === "ignore") && typeof v.reason === "string" &&
    (REJECT as Record<string, unknown>)[v.reason] !== undefined
  ) {
    return v as GossipResult;
  }
  return { action: "reject", reason: "validator_error", detail: `bad validator result ${String(v)}` };
}
