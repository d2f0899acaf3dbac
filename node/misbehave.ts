/**
 * Misbehaviour switches, for fault tests only: a validator that double-signs, equivocates, proposes
 * far-future or oversize blocks, poisons others' proposals, lies to block sync, stays silent or forgets
 * its consensus state. The honest code paths stay untouched: {@link misbehavingP2P} wraps the node's
 * {@link P2P} facade and rewrites what the honest driver publishes (signing the extra or altered
 * messages itself, past the signer guard), {@link forgetConsensusState} wipes the WAL and signer state
 * before the driver opens them. `duplicate-key` needs nothing here: a second process runs with the same
 * validator key (the devnet and the fault suite start it).
 *
 * Refused outside test chains: see {@link testChainProblem} (chain id `cirrus-devnet` or `cirrus-test`,
 * alone or followed by `-...`). The same rule guards the test-only clock skew ({@link skewedClock}).
 * @module
 */
import { decode, encode } from "cborg";
import { sha256, sign, toHex } from "../lib/crypto.ts";
import type { Clock } from "../lib/clock.ts";
import type { Logger } from "../lib/log.ts";
import {
  decodeSignedProposal,
  decodeSignedVote,
  encodeSignedProposal,
  encodeSignedVote,
  proposalSignBytes,
  voteSignBytes,
} from "../consensus/mod.ts";
import type { Proposal, SignedVote, Vote } from "../consensus/types.ts";
import { type Block, blockHash, decodeBlock, encodeBlock, txsHash } from "./ledger/block.ts";
import type { P2P } from "./p2p.ts";
import { SYNC_PROTOCOL } from "./sync.ts";

/** Every misbehaviour kind. */
export const MISBEHAVIOURS = [
  "double-sign",
  "equivocate-proposal",
  "future-time",
  "junk-proposal",
  "oversize-proposal",
  "lying-sync",
  "silent",
  "amnesia",
  "duplicate-key",
] as const;

/** One misbehaviour kind. */
export type Misbehaviour = typeof MISBEHAVIOURS[number];

/** Whether `s` names a misbehaviour kind. */
export function isMisbehaviour(s: string): s is Misbehaviour {
  return (MISBEHAVIOURS as readonly string[]).includes(s);
}

/** The height a `lying-sync` node claims. */
export const LYING_SYNC_HEIGHT = 1e15;

/** Chain ids on which test-only switches are allowed: `cirrus-devnet`/`cirrus-test`, alone or `-...`. */
const TEST_CHAIN_RE = /^cirrus-(devnet|test)(-[A-Za-z0-9._-]*)?$/;

/** Whether `chainId` is a devnet or test chain (the only chains test-only switches run on). */
export function isTestChain(chainId: string): boolean {
  return TEST_CHAIN_RE.test(chainId);
}

/** Why a test-only switch (`what`) is refused on `chainId`, or null when it is a test chain. */
export function testChainProblem(chainId: string, what: string): string | null {
  return isTestChain(chainId) ? null : `${what} is for tests only: it is refused on chain "${chainId}" ` +
    `(allowed only on chain ids "cirrus-devnet" or "cirrus-test", alone or followed by "-...")`;
}

/** Parse `KIND[,KIND...]`; throws an Error naming the bad kind. */
export function parseMisbehaviours(spec: string): Misbehaviour[] {
  const out: Misbehaviour[] = [];
  for (const raw of spec.split(",")) {
    const k = raw.trim();
    if (!isMisbehaviour(k)) {
      throw new Error(`unknown misbehaviour "${k}" (one of: ${MISBEHAVIOURS.join(", ")})`);
    }
    if (!out.includes(k)) out.push(k);
  }
  return out;
}

/** Environment variable of the test-only clock skew (milliseconds added to the node's wall time). */
export const CLOCK_SKEW_ENV = "CIRRUS_CLOCK_SKEW_MS";

/** Largest clock skew accepted, in ms (one day). */
export const CLOCK_SKEW_MS_MAX = 86_400_000;

/** Parse a clock skew value (integer ms, may be negative, |skew| <= one day); throws on anything else. */
export function parseClockSkew(text: string): number {
  if (!/^-?\d{1,9}$/.test(text.trim())) throw new Error(`${CLOCK_SKEW_ENV}="${text}": not an integer of ms`);
  const v = Number(text.trim());
  if (Math.abs(v) > CLOCK_SKEW_MS_MAX) {
    throw new Error(`${CLOCK_SKEW_ENV}=${v}: more than ${CLOCK_SKEW_MS_MAX} ms away`);
  }
  return v;
}

/** `base` with `skewMs` added to its wall time (timers unchanged). */
export function skewedClock(base: Clock, skewMs: number): Clock {
  return {
    now: () => base.now() + skewMs,
    setTimeout: (fn, ms) => base.setTimeout(fn, ms),
    clearTimeout: (h) => base.clearTimeout(h),
  };
}

/** `amnesia`: delete the consensus WAL and the signer state so the node forgets its lock and last vote. */
export async function forgetConsensusState(
  paths: { walPath: string; signerStatePath: string },
): Promise<void> {
  for (const p of [paths.walPath, paths.signerStatePath]) {
    await Deno.remove(p).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }
}

/** What {@link misbehavingP2P} needs to know. */
export interface MisbehaveContext {
  kinds: readonly Misbehaviour[];
  /** Topic names of the chain (proposal and vote). */
  topics: { proposal: string; vote: string };
  /** The validator key the node signs with. */
  validatorKey: { address: string; privKey: Uint8Array };
  /** Largest block the chain accepts (the oversize proposal is larger). */
  maxBlockBytes: number;
  logger: Logger;
}

type Publish = (topic: string, data: Uint8Array) => Promise<number>;

/**
 * The node's P2P facade with the misbehaviours applied to what goes out (and, for `junk-proposal`,
 * to what comes in). Every act is logged at warn level as `misbehaving: KIND ...` (the fault suite
 * counts these lines to check that the switch took effect).
 */
export function misbehavingP2P(inner: P2P, ctx: MisbehaveContext): P2P {
  const has = (k: Misbehaviour) => ctx.kinds.includes(k);
  const acted = (kind: Misbehaviour, fields: Record<string, unknown>) =>
    ctx.logger("warn", `misbehaving: ${kind}`, fields);
  const send: Publish = (topic, data) => inner.publish(topic, data);
  const silent = has("silent");
  const publish: Publish = async (topic, data) => {
    if (silent) return 0;
    if (topic === ctx.topics.vote && has("double-sign")) {
      await doubleSign(data, ctx, send, acted);
    }
    if (topic === ctx.topics.proposal) {
      if (has("future-time")) return await alterProposal(data, ctx, send, acted, "future-time");
      if (has("oversize-proposal")) return await alterProposal(data, ctx, send, acted, "oversize-proposal");
      if (has("equivocate-proposal")) await alterProposal(data, ctx, send, acted, "equivocate-proposal");
    }
    return await send(topic, data);
  };
  const silentLogged = { done: false };
  return {
    get peerId() {
      return inner.peerId;
    },
    addrs: () => inner.addrs(),
    publish: async (topic, data) => {
      if (silent && !silentLogged.done) {
        silentLogged.done = true;
        acted("silent", { topic, note: "drops every publish and serves no request" });
      }
      return await publish(topic, data);
    },
    onMessage: (topic, validate, handle) => {
      if (topic !== ctx.topics.proposal || !has("junk-proposal") || silent) {
        inner.onMessage(topic, validate, handle);
        return;
      }
      inner.onMessage(topic, validate, (data, from) => {
        handle(data, from);
        void junkRepublish(data, ctx, send, acted);
      });
    },
    handle: async (protocol, handler, opts) => {
      if (silent) return;
      if (protocol === SYNC_PROTOCOL && has("lying-sync")) {
        let told = 0;
        await inner.handle(protocol, (req, from) => {
          if (told++ % 20 === 0) acted("lying-sync", { to: from, claims: LYING_SYNC_HEIGHT });
          return lyingSyncAnswer(req);
        }, opts);
        return;
      }
      await inner.handle(protocol, handler, opts);
    },
    request: (peerId, protocol, req, opts) => inner.request(peerId, protocol, req, opts),
    handleStream: async (protocol, handler, opts) => {
      if (silent) return;
      await inner.handleStream(protocol, handler, opts);
    },
    openStream: (peerId, protocol, req, opts) => inner.openStream(peerId, protocol, req, opts),
    peers: () => inner.peers(),
    dial: (addr) => inner.dial(addr),
    onPeer: (cb) => inner.onPeer(cb),
    scoreOf: (peerId) => inner.scoreOf(peerId),
    topicPeers: (topic) => inner.topicPeers(topic),
    meshPeers: (topic) => inner.meshPeers(topic),
    stop: () => inner.stop(),
  };
}

/** The answer of a lying sync server: a huge height, and no blocks. */
export function lyingSyncAnswer(req: Uint8Array): Uint8Array {
  let t: unknown = null;
  try {
    t = (decode(req) as { t?: unknown })?.t;
  } catch { /* answer the same to garbage */ }
  return t === "status" ? encode({ height: LYING_SYNC_HEIGHT }) : encode({ blocks: [] });
}

type Acted = (kind: Misbehaviour, fields: Record<string, unknown>) => void;

/** A block hash (hex) that is not `h`, derived from it (so re-signing gives the same conflicting vote). */
function otherHash(seed: Uint8Array): string {
  return toHex(sha256(seed));
}

/** `double-sign`: for each own vote, also sign and send one for a different block. */
async function doubleSign(data: Uint8Array, ctx: MisbehaveContext, send: Publish, acted: Acted) {
  let votes: SignedVote[];
  try {
    const arr = decode(data) as [Uint8Array[], number];
    votes = arr[0].map((b) => decodeSignedVote(b));
  } catch {
    return;
  }
  const out: Uint8Array[] = [];
  for (const sv of votes) {
    if (sv.vote.validator !== ctx.validatorKey.address) continue;
    const vote: Vote = { ...sv.vote, blockHash: otherHash(voteSignBytes(sv.vote)) };
    const bytes = voteSignBytes(vote);
    out.push(encodeSignedVote({ vote, signature: await sign(ctx.validatorKey.privKey, bytes) }));
    acted("double-sign", { height: vote.height, round: vote.round, type: vote.type });
  }
  if (out.length > 0) await send(ctx.topics.vote, encode([out, 0])).catch(() => 0);
}

/**
 * Own proposals: `equivocate-proposal` sends a second, different block for the same round (the caller
 * sends the original too); `future-time` and `oversize-proposal` send an altered block instead of it.
 */
async function alterProposal(
  data: Uint8Array,
  ctx: MisbehaveContext,
  send: Publish,
  acted: Acted,
  kind: "equivocate-proposal" | "future-time" | "oversize-proposal",
): Promise<number> {
  let proposal: Proposal, block: Block, resend: number;
  try {
    const arr = decode(data) as [Uint8Array, Uint8Array, number];
    proposal = decodeSignedProposal(arr[0]).proposal;
    block = decodeBlock(arr[1], { maxBlockBytes: Number.MAX_SAFE_INTEGER });
    resend = typeof arr[2] === "number" ? arr[2] : 0;
  } catch {
    return await send(ctx.topics.proposal, data);
  }
  if (proposal.proposer !== ctx.validatorKey.address) return await send(ctx.topics.proposal, data);
  if (kind === "equivocate-proposal") {
    block.header = { ...block.header, time: block.header.time + 1 };
  } else if (kind === "future-time") {
    block.header = { ...block.header, time: Number.MAX_SAFE_INTEGER };
  } else {
    const txs = [...block.txs, new Uint8Array(ctx.maxBlockBytes + 64 * 1024)];
    block.txs = txs;
    block.header = { ...block.header, txsHash: txsHash(txs) };
  }
  const altBytes = encodeBlock(block);
  const alt: Proposal = { ...proposal, blockHash: blockHash(block) };
  const sp = encodeSignedProposal({
    proposal: alt,
    signature: await sign(ctx.validatorKey.privKey, proposalSignBytes(alt)),
  });
  if (resend === 0) {
    acted(kind, { height: alt.height, round: alt.round, bytes: altBytes.length, time: block.header.time });
  }
  try {
    return await send(ctx.topics.proposal, encode([sp, altBytes, resend]));
  } catch (e) {
    if (resend === 0) acted(kind, { height: alt.height, round: alt.round, publishFailed: String(e) });
    return 0;
  }
}

/** `junk-proposal`: re-publish someone else's signed proposal with bytes that are not its block. */
async function junkRepublish(data: Uint8Array, ctx: MisbehaveContext, send: Publish, acted: Acted) {
  try {
    const arr = decode(data) as [Uint8Array, Uint8Array, number];
    const p = decodeSignedProposal(arr[0]).proposal;
    if (p.proposer === ctx.validatorKey.address || arr[2] !== 0) return;
    const junk = crypto.getRandomValues(new Uint8Array(Math.min(Math.max(arr[1].length, 64), 4096)));
    // A fresh resend counter: a message id of its own, so gossip relays it.
    await send(ctx.topics.proposal, encode([arr[0], junk, 1 + Math.floor(Math.random() * 1e9)]));
    acted("junk-proposal", { height: p.height, round: p.round, proposer: p.proposer });
  } catch { /* not a proposal we can poison */ }
}

/** Parse `NAME=KIND[,NAME=KIND...]` (a name may repeat to combine kinds); throws an Error when malformed. */
export function parseNamedMisbehaviours(spec: string): Map<string, Misbehaviour[]> {
  const out = new Map<string, Misbehaviour[]>();
  for (const part of spec.split(",")) {
    const m = /^\s*([A-Za-z0-9._-]+)\s*=\s*([a-z-]+)\s*$/.exec(part);
    if (!m) throw new Error(`"${part}": expected NAME=KIND (e.g. node1=double-sign)`);
    const [kind] = parseMisbehaviours(m[2]!);
    const list = out.get(m[1]!) ?? [];
    if (!list.includes(kind!)) list.push(kind!);
    out.set(m[1]!, list);
  }
  return out;
}
