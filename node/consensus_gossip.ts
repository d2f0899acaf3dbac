/**
 * Gossip validation of consensus messages (proposals and votes), with typed reasons.
 *
 * Wire formats: a proposal message is `cbor([signedProposal, blockBytes, resend])`, a vote message
 * `cbor([[signedVote...], resend])` (one vote on gossip). The resend counter and the encoding are not
 * signed: {@link gossipMessageIdOf} derives gossip ids from the signed content only, so they cannot
 * mint new messages out of one signed proposal or vote. A stuck validator re-sends its own messages
 * directly to its peers ({@link resendProtocol}: not relayed), since gossip de-duplicates them.
 *
 * Order of checks: cheap shape checks, then membership and signature, and only then anything that
 * acts on the message's claims (a height above ours triggers block sync only once signed by a
 * validator; a block is accepted for relay only if its bytes hash to the signed `blockHash`).
 *
 * Membership is checked against the validator set of the message's height (issue 9: the set changes
 * at H+2): the last committed height, the one being decided and the next are known
 * (`Chain.validatorsFor`), those of recent heights are kept (`Chain.validatorsAt`): a late vote up to
 * {@link STALE_VOTE_HEIGHTS_CHECKED} heights old is checked with its height's set (then ignored), an
 * older one is ignored unchecked, as is a proposal of any older height; a message of a farther height
 * is checked against the current set only to serve as a sync hint, and ignored (not penalised) when
 * its signer is unknown there.
 * @module
 */
import { createHash } from "node:crypto";
import { decode, encode } from "cborg";
import { toHex, verify } from "../lib/crypto.ts";
import type { Logger } from "../lib/log.ts";
import type { P2P } from "./p2p.ts";
import type { Chain } from "./chain.ts";
import { type Block, blockHash, decodeBlock } from "./ledger/block.ts";
import {
  ConsensusDecodeError,
  decodeSignedProposal,
  decodeSignedVote,
  proposalSignBytes,
  voteSignBytes,
} from "../consensus/mod.ts";
import type { SignedProposal, SignedVote } from "../consensus/types.ts";
import { type GossipResult, IGNORE, REJECT } from "./gossip_validation.ts";
import type { MessageIdFn } from "./p2p_host.ts";

/** Topic names of a chain. */
export function topics(chainId: string): { txs: string; proposal: string; vote: string; evidence: string } {
  return {
    txs: `/cirrus/${chainId}/txs`,
    proposal: `/cirrus/${chainId}/proposal`,
    vote: `/cirrus/${chainId}/vote`,
    evidence: `/cirrus/${chainId}/evidence`,
  };
}

/** How many heights below the current one a late vote is still checked (and penalised when bad). */
export const STALE_VOTE_HEIGHTS_CHECKED = 64;

/** Most votes in one vote message. */
export const VOTES_PER_MESSAGE_MAX = 64;
/** Largest vote message. */
export const VOTE_MESSAGE_BYTES_MAX = 64 * 1024;
/** Room in a proposal message above `maxBlockBytes` (the signed proposal, framing). */
export const PROPOSAL_OVERHEAD_BYTES_MAX = 128 * 1024;
/** Room above `maxBlockBytes` for a block's own framing and last commit (as `Chain.validateBlock`). */
const BLOCK_OVERHEAD_BYTES_MAX = 64 * 1024;

/** What the validators read of the node: the chain, the height being decided, the sync hint. */
export interface ConsensusGossipContext {
  readonly chain: Chain;
  /** The height being decided. */
  height(): number;
  /** Called with a height above ours seen in a validator-signed message. */
  onBehind(height: number): void;
}

/** A block's bytes decoded (with the limits used), or why they do not decode. */
type BlockDecoding = { limits: string; block: Block; hash: string } | { limits: string; error: string };

/**
 * Decodings of block bytes, by the bytes object: the message id, the gossip validator and the
 * consensus driver see the same proposal message (and, through {@link decodeProposalMessage}, the same
 * block bytes object), and decode its block once (a 2,000-tx block was decoded and hashed three times).
 * Bytes are never mutated once received.
 */
const blockDecodings = new WeakMap<Uint8Array, BlockDecoding>();

/**
 * The block `blockBytes` decode to under the chain's limits (strict, as {@link decodeBlock}) with its
 * hash, or why they do not decode. Remembered by the bytes object.
 */
export function decodeProposedBlock(
  chain: Chain,
  blockBytes: Uint8Array,
): { block: Block; hash: string } | { error: string } {
  const p = chain.genesis.params;
  const limits = {
    maxBlockBytes: p.consensus.maxBlockBytes + BLOCK_OVERHEAD_BYTES_MAX,
    maxBlockTxs: p.consensus.maxBlockTxs,
    maxTxBytes: p.ledger.maxTxBytes,
  };
  const key = `${limits.maxBlockBytes}/${limits.maxBlockTxs}/${limits.maxTxBytes}`;
  const known = blockDecodings.get(blockBytes);
  if (known !== undefined && known.limits === key) return known;
  let d: BlockDecoding;
  try {
    const block = decodeBlock(blockBytes, limits);
    d = { limits: key, block, hash: blockHash(block) };
  } catch (e) {
    d = { limits: key, error: (e as Error).message };
  }
  blockDecodings.set(blockBytes, d);
  return d;
}

/**
 * Why `blockBytes` is not the block a signed proposal names, or null when it is (it decodes strictly
 * and its header hashes to `blockHashHex`; the header binds the txs and last commit).
 */
export function blockBytesMismatch(
  chain: Chain,
  blockBytes: Uint8Array,
  blockHashHex: string,
): string | null {
  const d = decodeProposedBlock(chain, blockBytes);
  if ("error" in d) return `block bytes do not decode: ${d.error}`;
  return d.hash === blockHashHex ? null : "block bytes hash to another block";
}

/** A proposal message split into its signed proposal and block bytes. */
export interface ProposalMessage {
  sp: SignedProposal;
  spBytes: Uint8Array;
  blockBytes: Uint8Array;
}

/** Decoded proposal messages by message bytes object (null: malformed); see {@link blockDecodings}. */
const proposalDecodings = new WeakMap<Uint8Array, ProposalMessage | null>();

/**
 * Split a proposal message into its signed proposal and block bytes, or null when malformed.
 * Remembered by the message bytes object (the id function, the validator and the driver share one
 * decoding); the result is shared: never mutate it.
 */
export function decodeProposalMessage(data: Uint8Array): ProposalMessage | null {
  const known = proposalDecodings.get(data);
  if (known !== undefined) return known;
  let m: ProposalMessage | null = null;
  try {
    const arr = decode(data);
    if (
      Array.isArray(arr) && arr.length === 3 && arr[0] instanceof Uint8Array && arr[1] instanceof Uint8Array
    ) {
      m = { sp: decodeSignedProposal(arr[0]), spBytes: arr[0], blockBytes: arr[1] };
    }
  } catch {
    m = null;
  }
  proposalDecodings.set(data, m);
  return m;
}

/** Gossip validation of a proposal message: shape, chain, signer, signature, height, block binding. */
export async function validateProposalMessage(
  data: Uint8Array,
  ctx: ConsensusGossipContext,
): Promise<GossipResult> {
  const chain = ctx.chain;
  if (data.length > chain.genesis.params.consensus.maxBlockBytes + PROPOSAL_OVERHEAD_BYTES_MAX) {
    return REJECT.too_large;
  }
  const m = decodeProposalMessage(data);
  if (m === null) return REJECT.malformed;
  const p = m.sp.proposal;
  if (p.chainId !== chain.chainId) return REJECT.wrong_chain;
  const height = ctx.height();
  if (p.height < height) return IGNORE.stale_height;
  const far = p.height > height + 1;
  const set = (far ? null : chain.validatorsFor(p.height)) ?? chain.validators;
  const v = set.get(p.proposer);
  if (!v) return far ? IGNORE.future_height : REJECT.not_validator;
  if (!await verify(v.pubKey, proposalSignBytes(p), m.sp.signature)) return REJECT.bad_signature;
  // The committed height read again after the await: a proposal of a height committed meanwhile is
  // stale (ignored). Judged by the next height's proposer order it was a wrong_proposer reject of an
  // honest peer, whose gossip score then fell (under load, a stall).
  const next = chain.height + 1;
  if (p.height < next) return IGNORE.stale_height;
  // issue 8 finding 9: a far height is a sync hint only once a validator signed it
  if (far) {
    ctx.onBehind(p.height);
    return IGNORE.future_height;
  }
  // the proposer order of the proposal's own height (`validatorsFor`), whatever was committed meanwhile
  if (p.height === height && set.proposerForRound(p.round).address !== p.proposer) {
    return REJECT.wrong_proposer;
  }
  // issue 8 finding 2: the block bytes must be the signed block, else anyone could poison the round
  const why = blockBytesMismatch(chain, m.blockBytes, p.blockHash);
  if (why !== null) return { action: "reject", reason: "hash_mismatch", detail: why };
  return "accept";
}

/**
 * Split a vote message into its signed votes, or null when malformed or with more than `votesMax`
 * votes (gossip carries one vote per message; a direct re-send may bundle up to
 * {@link VOTES_PER_MESSAGE_MAX}).
 */
export function decodeVoteMessage(data: Uint8Array, votesMax: number): { votes: SignedVote[] } | null {
  try {
    const arr = decode(data);
    if (!Array.isArray(arr) || arr.length !== 2 || !Array.isArray(arr[0]) || arr[0].length === 0) {
      return null;
    }
    if (arr[0].length > votesMax) return null;
    const votes = (arr[0] as unknown[]).map((b) => {
      if (!(b instanceof Uint8Array)) throw new ConsensusDecodeError("vote: not bytes");
      return decodeSignedVote(b);
    });
    return { votes };
  } catch {
    return null;
  }
}

/**
 * Gossip validation of a vote message: shape (at most `votesMax` votes: one on gossip), chain,
 * validator membership, signatures, height.
 */
export async function validateVoteMessage(
  data: Uint8Array,
  ctx: ConsensusGossipContext,
  votesMax = 1,
): Promise<GossipResult> {
  if (data.length > VOTE_MESSAGE_BYTES_MAX) return REJECT.too_large;
  const m = decodeVoteMessage(data, votesMax);
  if (m === null) return REJECT.malformed;
  const chain = ctx.chain;
  const height = ctx.height();
  let current = false;
  for (const sv of m.votes) {
    if (sv.vote.chainId !== chain.chainId) return REJECT.wrong_chain;
    const h = sv.vote.height;
    const far = h > height + 1;
    if (h + STALE_VOTE_HEIGHTS_CHECKED < height) continue; // long past: ignored unchecked
    const set = far ? chain.validators : chain.validatorsFor(h) ?? await chain.validatorsAt(h);
    if (set === null) continue;
    const v = set.get(sv.vote.validator);
    if (!v) {
      if (far) continue;
      return REJECT.not_validator;
    }
    if (!await verify(v.pubKey, voteSignBytes(sv.vote), sv.signature)) return REJECT.bad_signature;
    if (far) ctx.onBehind(h);
    else if (h >= height) current = true;
  }
  if (current) return "accept";
  return m.votes.every((sv) => sv.vote.height < height) ? IGNORE.stale_height : IGNORE.future_height;
}

const PROPOSAL_TAG = new TextEncoder().encode("cirrus/proposal-msg/1");
const VOTE_TAG = new TextEncoder().encode("cirrus/vote-msg/1");
const ZERO = new Uint8Array(1);

/**
 * sha256 of the concatenation of `parts`, by Node's native hash (synchronous; about 5x WebCrypto's
 * digest and 10x noble's on a 100 KiB message: gossip ids hash every copy of every message received).
 */
export function nativeSha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  const d = h.digest();
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/**
 * Gossip message ids of a chain's topics. Consensus messages get ids from their signed content only
 * (a proposal: the signed proposal and the hash of the block bytes; a vote: the signed vote), never
 * from the resend counter or the encoding; other topics keep the default content id
 * (`messageId`: sha256 of topic and bytes). A malformed message gets the id of its raw bytes (it
 * is rejected anyway).
 */
export function gossipMessageIdOf(chainId: string): MessageIdFn {
  const t = topics(chainId);
  const topicBytes = new Map<string, Uint8Array>();
  return (topic, data) => {
    if (topic === t.proposal) {
      const m = decodeProposalMessage(data);
      if (m === null) return nativeSha256(data);
      const p = m.sp.proposal;
      return nativeSha256(PROPOSAL_TAG, proposalSignBytes(p), m.sp.signature, nativeSha256(m.blockBytes));
    }
    if (topic === t.vote) {
      const m = decodeVoteMessage(data, 1);
      if (m === null) return nativeSha256(data);
      const sv = m.votes[0]!;
      return nativeSha256(VOTE_TAG, voteSignBytes(sv.vote), sv.signature);
    }
    // the default content id (p2p_host's `messageId`: sha256(topic || 0x00 || data)), natively
    let tb = topicBytes.get(topic);
    if (tb === undefined) {
      tb = new TextEncoder().encode(topic);
      if (topicBytes.size < 16) topicBytes.set(topic, tb);
    }
    return nativeSha256(tb, ZERO, data);
  };
}

/** The protocol a validator re-sends its own messages of a stuck height on, directly to each peer. */
export function resendProtocol(chainId: string): string {
  return `/cirrus/${chainId}/consensus-resend/1`;
}

/**
 * Validate a re-sent message (`cbor([kind, message])`, kind "proposal" or "vote") exactly like its
 * gossip counterpart, except that a vote message may bundle up to {@link VOTES_PER_MESSAGE_MAX} votes.
 */
export async function validateResend(
  req: Uint8Array,
  ctx: ConsensusGossipContext,
): Promise<{ kind: "proposal" | "vote"; data: Uint8Array; result: GossipResult }> {
  let arr: unknown;
  try {
    arr = decode(req);
  } catch {
    arr = null;
  }
  if (!Array.isArray(arr) || arr.length !== 2 || !(arr[1] instanceof Uint8Array)) {
    return { kind: "proposal", data: req, result: REJECT.malformed };
  }
  const data = arr[1];
  if (arr[0] === "proposal") {
    return { kind: "proposal", data, result: await validateProposalMessage(data, ctx) };
  }
  if (arr[0] === "vote") {
    return { kind: "vote", data, result: await validateVoteMessage(data, ctx, VOTES_PER_MESSAGE_MAX) };
  }
  return { kind: "proposal", data, result: REJECT.malformed };
}

/** How long one re-sent message may take to reach a peer (an exchange holds at most two). */
export const RESEND_TIMEOUT_MS = 2_500;

/**
 * Re-send own messages (`messages`: `[kind, message]`, a proposal or a vote message) directly to every
 * connected peer, not relayed: gossip ids come from the signed content, so gossip would drop an
 * identical re-publish. At most ONE exchange per peer is in flight (`inflight` holds the peers being
 * sent to; a peer still busy with the previous re-send is skipped), and its messages go one after the
 * other on it: a peer never sees more than one re-send stream from this node, however slow the link.
 * @returns the peers sent to.
 */
export function resendToPeers(
  p2p: Pick<P2P, "peers" | "request">,
  chainId: string,
  messages: ["proposal" | "vote", Uint8Array][],
  log: Logger,
  inflight: Set<string>,
): string[] {
  if (messages.length === 0) return [];
  const protocol = resendProtocol(chainId);
  const reqs = messages.map(([kind, data]) => encode([kind, data]));
  const sent: string[] = [];
  for (const peer of p2p.peers()) {
    if (inflight.has(peer)) continue;
    inflight.add(peer);
    sent.push(peer);
    void (async () => {
      try {
        for (const req of reqs) await p2p.request(peer, protocol, req, { timeoutMs: RESEND_TIMEOUT_MS });
      } catch (e) {
        log("debug", "re-send failed", { peer, error: String(e) });
      } finally {
        inflight.delete(peer);
      }
    })();
  }
  return sent;
}

/** Signed messages of one height remembered at most (beyond, the memory starts over). */
const SEEN_SIGNATURES_MAX = 100_000;

/** Signatures of the signed messages seen (for a height): identical messages are written to the WAL once. */
export class SeenSignatures {
  #seen = new Set<string>();

  /** True the first time this signature is seen. */
  first(signature: Uint8Array): boolean {
    const key = toHex(signature);
    if (this.#seen.has(key)) return false;
    if (this.#seen.size >= SEEN_SIGNATURES_MAX) this.#seen.clear();
    this.#seen.add(key);
    return true;
  }

  /** Forget everything (a new height). */
  clear(): void {
    this.#seen.clear();
  }
}
