/**
 * This node's own consensus messages: signed behind the double-sign guard, written to the WAL
 * (fsynced), published, and re-sent to peers while the height makes no progress.
 *
 * Order of effects: signer guard (persisted) -> WAL (fsynced) -> publish. The driver then feeds
 * the signed message back to the core.
 * @module
 */
import { decode, encode } from "cborg";
import { sign } from "../lib/crypto.ts";
import type { Logger } from "../lib/log.ts";
import type { P2P } from "./p2p.ts";
import { resendToPeers, type topics, VOTES_PER_MESSAGE_MAX } from "./consensus_gossip.ts";
import { GOSSIP_BYTES_MAX } from "./gossip_validation.ts";
import type { ConsensusWal } from "./consensus_wal.ts";
import {
  encodeSignedProposal,
  encodeSignedVote,
  proposalSignBytes,
  type SignerState,
  type SignStep,
  voteSignBytes,
} from "../consensus/mod.ts";
import type { Proposal, SignedProposal, SignedVote, Vote } from "../consensus/types.ts";

/** Most re-send ticks between two re-sends of a stuck height (the backoff doubles up to it). */
export const RESEND_BACKOFF_TICKS_MAX = 8;

/** What {@link OwnMessages} needs. */
export interface OwnMessagesOptions {
  p2p: P2P;
  chainId: string;
  topics: ReturnType<typeof topics>;
  /** The validator key (only validators sign). */
  key: { address: string; privKey: Uint8Array };
  signer: Pick<SignerState, "authorize">;
  wal: ConsensusWal;
  log: Logger;
}

/** Own proposal and votes of the current height: signing, persistence, publishing, re-sending. */
export class OwnMessages {
  readonly #o: OwnMessagesOptions;
  /** `[signedProposal, block]` of this height, for re-sending. */
  #proposal: Uint8Array | null = null;
  #votes: Uint8Array[] = [];
  #resend = 0;
  /** Peers a re-send is in flight to (at most one exchange per peer). */
  readonly #inflight = new Set<string>();
  /** Re-send ticks still to skip, and the current gap between re-sends (in ticks): the backoff. */
  #skip = 0;
  #gap = 1;

  constructor(opts: OwnMessagesOptions) {
    this.#o = opts;
  }

  /** Forget the messages of the finished height. */
  clear(): void {
    this.#proposal = null;
    this.#votes = [];
    this.#skip = 0;
    this.#gap = 1;
  }

  /**
   * Sign, persist and (unless `publish` is false, as during WAL replay) publish a proposal.
   * @returns the signed proposal, or null when the signer guard refused.
   */
  async proposal(
    proposal: Proposal,
    blockBytes: Uint8Array,
    publish: boolean,
  ): Promise<SignedProposal | null> {
    const bytes = proposalSignBytes(proposal);
    if (!await this.#guard(proposal.height, proposal.round, "propose", bytes)) return null;
    const signed: SignedProposal = { proposal, signature: await sign(this.#o.key.privKey, bytes) };
    const sp = encodeSignedProposal(signed);
    await this.#o.wal.proposal(sp, blockBytes, true);
    this.#proposal = encode([sp, blockBytes]);
    if (publish) await this.#publish(this.#o.topics.proposal, encode([sp, blockBytes, 0]));
    return signed;
  }

  /**
   * Sign, persist and (unless `publish` is false) publish a vote.
   * @returns the signed vote, or null when the signer guard refused.
   */
  async vote(vote: Vote, publish: boolean): Promise<SignedVote | null> {
    const bytes = voteSignBytes(vote);
    if (!await this.#guard(vote.height, vote.round, vote.type, bytes)) return null;
    const signed: SignedVote = { vote, signature: await sign(this.#o.key.privKey, bytes) };
    const sv = encodeSignedVote(signed);
    await this.#o.wal.vote(sv, true);
    this.#votes.push(sv);
    if (this.#votes.length > VOTES_PER_MESSAGE_MAX) this.#votes.shift();
    if (publish) await this.#publish(this.#o.topics.vote, encode([[sv], 0]));
    return signed;
  }

  /**
   * Called at each re-send tick while the height is stuck: re-send this height's own proposal and
   * votes straight to peers, as one bounded exchange per peer (never a second one to a peer whose
   * previous one is in flight), with a backoff: ticks 1, 3, 7, 15, then every
   * {@link RESEND_BACKOFF_TICKS_MAX} ticks, until the height ends ({@link clear}).
   * @returns the peers sent to (empty on a skipped tick).
   */
  resend(): string[] {
    if (this.#skip > 0) {
      this.#skip--;
      return [];
    }
    this.#gap = Math.min(this.#gap * 2, RESEND_BACKOFF_TICKS_MAX);
    this.#skip = this.#gap - 1;
    this.#resend++;
    const { p2p, chainId, log } = this.#o;
    const messages: ["proposal" | "vote", Uint8Array][] = [];
    if (this.#proposal) {
      const [sp, b] = decode(this.#proposal) as [Uint8Array, Uint8Array];
      messages.push(["proposal", encode([sp, b, this.#resend])]);
    }
    if (this.#votes.length > 0) messages.push(["vote", encode([this.#votes, this.#resend])]);
    return resendToPeers(p2p, chainId, messages, log, this.#inflight);
  }

  /** The double-sign guard: persisted before anything is signed. */
  async #guard(height: number, round: number, signStep: SignStep, bytes: Uint8Array): Promise<boolean> {
    const r = await this.#o.signer.authorize({ height, round, step: signStep }, bytes);
    if (!r.ok) {
      this.#o.log("warn", "signer refused", { height, round, step: signStep, reason: r.reason });
      return false;
    }
    return true;
  }

  async #publish(topic: string, data: Uint8Array): Promise<void> {
    // A proposal that cannot leave this node costs the round: say so loudly (issue 8, finding 4).
    const level = topic === this.#o.topics.proposal ? "error" : "debug";
    if (data.length > GOSSIP_BYTES_MAX) {
      this.#o.log(level, "message too large for gossip; not sent", {
        topic,
        bytes: data.length,
        max: GOSSIP_BYTES_MAX,
      });
      return;
    }
    try {
      await this.#o.p2p.publish(topic, data);
    } catch (e) {
      this.#o.log(level, "publish failed", { topic, bytes: data.length, error: String(e) });
    }
  }
}
