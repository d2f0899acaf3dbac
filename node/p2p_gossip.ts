/**
 * Gossip topics on the host: publish with a size limit, and the validation adapter. Every incoming
 * message goes through its topic's validator BEFORE it is delivered or relayed; the validator's
 * typed result goes through {@link toVerdict} (logged, counted per peer and reason). A validator that
 * throws counts as a reject ("validator_error"), one slower than `validateTimeoutMs` as an ignore
 * ("validator_timeout"). Until `onMessage` is called for a topic, messages on it are ignored
 * ("not_subscribed", never relayed).
 * @module
 */
import type { Logger } from "../lib/log.ts";
import { type GossipsubMessage, TopicValidatorResult } from "@libp2p/gossipsub";
import type { ScoredGossipSub } from "./p2p_host.ts";
import {
  asGossipResult,
  type GossipResult,
  GossipStats,
  IGNORE,
  REJECT,
  toVerdict,
} from "./gossip_validation.ts";

/** A topic validator: the typed result of checking one message from one peer. */
export type GossipValidator = (data: Uint8Array, from: string) => GossipResult | Promise<GossipResult>;
/** A topic handler: called with every accepted message. */
export type GossipHandler = (data: Uint8Array, from: string) => void;

const TO_RESULT: Record<string, TopicValidatorResult> = {
  accept: TopicValidatorResult.Accept,
  reject: TopicValidatorResult.Reject,
  ignore: TopicValidatorResult.Ignore,
};

function errMsg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The gossip side of a host: configured topics, their validators and handlers. */
export class GossipTopics {
  readonly #pubsub: ScoredGossipSub;
  readonly #topics: string[];
  readonly #log: Logger;
  readonly #messageBytesMax: number;
  readonly #validateTimeoutMs: number;
  readonly #subs = new Map<string, { validate: GossipValidator; handle: GossipHandler }>();
  /** Refused messages per peer and reason. */
  readonly stats: GossipStats;

  constructor(
    pubsub: ScoredGossipSub,
    o: {
      topics: string[];
      logger: Logger;
      messageBytesMax: number;
      validateTimeoutMs: number;
      stats: GossipStats;
    },
  ) {
    this.#pubsub = pubsub;
    this.#topics = o.topics;
    this.#log = o.logger;
    this.#messageBytesMax = o.messageBytesMax;
    this.#validateTimeoutMs = o.validateTimeoutMs;
    this.stats = o.stats;
    for (const topic of o.topics) {
      pubsub.topicValidators.set(topic, async (peer, msg) => {
        const from = peer.toString();
        const result = await this.#validate(topic, msg.data, from);
        return TO_RESULT[toVerdict(result, { topic, from, stats: this.stats, logger: this.#log })]!;
      });
      pubsub.subscribe(topic);
    }
    pubsub.addEventListener("gossipsub:message", (evt: CustomEvent<GossipsubMessage>) => {
      const { msg, propagationSource } = evt.detail;
      const sub = this.#subs.get(msg.topic);
      if (sub === undefined) return;
      try {
        sub.handle(msg.data, propagationSource.toString());
      } catch (e) {
        this.#log("error", "p2p: message handler threw", { topic: msg.topic, err: errMsg(e) });
      }
    });
  }

  async #validate(topic: string, data: Uint8Array, from: string): Promise<GossipResult> {
    const sub = this.#subs.get(topic);
    if (sub === undefined) return IGNORE.not_subscribed;
    if (data.length > this.#messageBytesMax) return REJECT.too_large;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const timeout = new Promise<GossipResult>((resolve) => {
        timer = setTimeout(() => resolve(IGNORE.validator_timeout), this.#validateTimeoutMs);
      });
      const r = await Promise.race([Promise.resolve().then(() => sub.validate(data, from)), timeout]);
      return asGossipResult(r);
    } catch (e) {
      return { action: "reject", reason: "validator_error", detail: errMsg(e) };
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  }

  /** Publish on a configured topic; resolves to the number of peers it was sent to. */
  async publish(topic: string, data: Uint8Array): Promise<number> {
    if (!this.#topics.includes(topic)) throw new Error(`p2p: not a configured topic: ${topic}`);
    if (data.length > this.#messageBytesMax) {
      throw new Error(
        `p2p: message of ${data.length} bytes exceeds messageBytesMax ${this.#messageBytesMax}`,
      );
    }
    const r = await this.#pubsub.publish(topic, data);
    return r.recipients.length;
  }

  /** Set the validator and handler of a configured topic. */
  onMessage(topic: string, validate: GossipValidator, handle: GossipHandler): void {
    if (!this.#topics.includes(topic)) throw new Error(`p2p: not a configured topic: ${topic}`);
    this.#subs.set(topic, { validate, handle });
  }
}
