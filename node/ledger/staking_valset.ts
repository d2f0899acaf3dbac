/**
 * The active validator set: the top `validatorsMax` validators by power (not jailed, power >= 1),
 * recomputed at the end of a block whose txs or steps changed a power or a jail (`stk/dirty`), and
 * stored under the height it takes effect: a change computed at the end of block H is effective from
 * H+2 (as CometBFT). Sets are kept per effective height while evidence may still name them
 * (`evidenceMaxAgeBlocks`); older ones are pruned when a new set is stored.
 * @module
 */
import { decode } from "cborg";
import { bytesEqual } from "../../lib/crypto.ts";
import { canonicalEncode } from "../../lib/cbor.ts";
import type { ActiveValidator } from "./module.ts";
import type { StakingParams } from "./staking_params.ts";
import {
  getList,
  getValidator,
  powerOf,
  putList,
  type SetMember,
  SK,
  type StakingReader,
  type StakingStore,
} from "./staking_state.ts";

interface StoredMember {
  cons: string;
  operator: string;
  pubKey: Uint8Array;
  power: string;
}

function encodeSet(members: readonly SetMember[]): Uint8Array {
  return canonicalEncode(members.map((m) => ({ ...m, power: m.power.toString() })));
}

/** Decoded sets by their (immutable) stored bytes: read-only, shared between readers. */
const setCache = new WeakMap<Uint8Array, readonly SetMember[]>();

function decodeSet(bytes: Uint8Array): readonly SetMember[] {
  let set = setCache.get(bytes);
  if (!set) {
    set = Object.freeze(
      (decode(bytes) as StoredMember[]).map((m) => Object.freeze({ ...m, power: BigInt(m.power) })),
    );
    setCache.set(bytes, set);
  }
  return set;
}

/**
 * The set in effect at `height` (sorted by consensus address), or null when no stored set covers it
 * (before the first one, or pruned). Two reads: the index of effective heights, then the set.
 */
export function setAt(s: StakingReader, height: number): readonly SetMember[] | null {
  const heights = getList<number>(s, SK.sets);
  let lo = 0, hi = heights.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (heights[mid]! <= height) lo = mid + 1;
    else hi = mid;
  }
  if (lo === 0) return null;
  const b = s.get(SK.set(heights[lo - 1]!));
  return b === undefined ? null : decodeSet(b);
}

/** The set as consensus wants it: consensus address, public key, power. */
export function toActive(members: readonly SetMember[]): ActiveValidator[] {
  return members.map((m) => ({ address: m.cons, pubKey: m.pubKey, power: m.power }));
}

/** The candidates ranked: not jailed, power >= 1, by power (desc) then consensus address; top `max`. */
export function computeSet(s: StakingReader, p: StakingParams): SetMember[] {
  const ranked: SetMember[] = [];
  for (const op of getList<string>(s, SK.validators)) {
    const v = getValidator(s, op);
    if (!v || v.jailed || v.tombstoned) continue;
    const power = powerOf(v, p);
    if (power < 1n) continue;
    ranked.push({ cons: v.cons, operator: v.operator, pubKey: v.consPubKey, power });
  }
  ranked.sort((a, b) => (a.power !== b.power ? (a.power > b.power ? -1 : 1) : a.cons < b.cons ? -1 : 1));
  return ranked.slice(0, p.validatorsMax).sort((a, b) => (a.cons < b.cons ? -1 : a.cons > b.cons ? 1 : 0));
}

function sameSet(a: readonly SetMember[], b: readonly SetMember[]): boolean {
  return a.length === b.length &&
    a.every((m, i) => m.cons === b[i]!.cons && m.power === b[i]!.power && bytesEqual(m.pubKey, b[i]!.pubKey));
}

/**
 * Stores `members` as the set effective from `effective` (unless it equals the latest stored set),
 * and prunes sets no evidence can name any more (those wholly before `effective - keepBlocks`).
 * Returns true when a new set was stored.
 */
export function storeSet(
  s: StakingStore,
  effective: number,
  members: readonly SetMember[],
  keepBlocks: number,
): boolean {
  const heights = getList<number>(s, SK.sets);
  const last = heights[heights.length - 1];
  if (last !== undefined) {
    const b = s.get(SK.set(last));
    if (b !== undefined && sameSet(decodeSet(b), members)) return false;
  }
  s.set(SK.set(effective), encodeSet(members));
  const kept = heights.filter((h) => h !== effective);
  kept.push(effective);
  // Keep the newest set that starts at or before the oldest height evidence may name, and all later.
  const oldest = effective - keepBlocks - 2;
  let first = 0;
  while (first + 1 < kept.length && kept[first + 1]! <= oldest) first++;
  for (const h of kept.slice(0, first)) s.delete(SK.set(h));
  putList(s, SK.sets, kept.slice(first));
  return true;
}

/** The effective height of the newest stored set (0 when none). */
export function latestSetHeight(s: StakingReader): number {
  const heights = getList<number>(s, SK.sets);
  return heights[heights.length - 1] ?? 0;
}
