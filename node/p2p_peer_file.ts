/**
 * The persisted peer store: `<data>/peers.json`, the peers a node was connected to (id, addresses,
 * when last seen), so that a restarted node finds the network again without its bootstrap peers.
 * Bounded ({@link PEER_FILE_PEERS_MAX} peers, {@link PEER_FILE_ADDRS_MAX} addresses each, a file of
 * at most {@link PEER_FILE_BYTES_MAX}); an unreadable file or a bad entry is dropped with a warning,
 * never fatal. Written atomically (temporary file, then rename).
 * @module
 */
import { multiaddr } from "@multiformats/multiaddr";
import { peerIdFromString } from "@libp2p/peer-id";
import type { Logger } from "../lib/log.ts";

/** Peers kept in the file, at most (most recently seen first). */
export const PEER_FILE_PEERS_MAX = 256;
/** Addresses kept per peer, at most. */
export const PEER_FILE_ADDRS_MAX = 8;
/** A larger file is not read. */
export const PEER_FILE_BYTES_MAX = 1024 * 1024;
/** Longest address kept, in characters. */
const ADDR_CHARS_MAX = 512;

/** One remembered peer. */
export interface PeerEntry {
  peerId: string;
  /** full multiaddrs ending in /p2p/<peerId> */
  addrs: string[];
  /** wall time (ms) it was last connected */
  seenMs: number;
}

/** A checked entry, or the reason it is dropped. */
export function checkPeerEntry(v: unknown): PeerEntry | string {
  if (typeof v !== "object" || v === null) return "not an object";
  const e = v as Record<string, unknown>;
  if (typeof e.peerId !== "string" || e.peerId.length > 128) return "peerId: not a string";
  try {
    peerIdFromString(e.peerId);
  } catch {
    return `peerId ${e.peerId}: not a peer id`;
  }
  if (!Array.isArray(e.addrs)) return "addrs: not a list";
  const seenMs = typeof e.seenMs === "number" && Number.isFinite(e.seenMs) ? e.seenMs : 0;
  const addrs: string[] = [];
  for (const a of e.addrs) {
    if (typeof a !== "string" || a.length > ADDR_CHARS_MAX) continue;
    try {
      const ma = multiaddr(a);
      const id = ma.getComponents().findLast((c) => c.name === "p2p")?.value;
      const full = id === undefined ? `${ma.toString()}/p2p/${e.peerId}` : ma.toString();
      if ((id === undefined || id === e.peerId) && !addrs.includes(full)) addrs.push(full);
    } catch { /* not a multiaddr: dropped */ }
    if (addrs.length >= PEER_FILE_ADDRS_MAX) break;
  }
  if (addrs.length === 0) return `peer ${e.peerId}: no valid address`;
  return { peerId: e.peerId, addrs, seenMs };
}

/** Read the peer file; a missing file is empty; bad entries (and a bad file) are dropped and logged. */
export async function loadPeerFile(path: string, log: Logger): Promise<PeerEntry[]> {
  let text: string;
  try {
    const st = await Deno.stat(path);
    if (st.size > PEER_FILE_BYTES_MAX) {
      log("warn", "p2p: peer file too large, ignored", { path, bytes: st.size, max: PEER_FILE_BYTES_MAX });
      return [];
    }
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      log("warn", "p2p: peer file unreadable, ignored", { path, err: (e as Error).message });
    }
    return [];
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    log("warn", "p2p: peer file is not JSON, ignored", { path, err: (e as Error).message });
    return [];
  }
  const list = (doc as { peers?: unknown } | null)?.peers;
  if (!Array.isArray(list)) {
    log("warn", "p2p: peer file has no peers list, ignored", { path });
    return [];
  }
  const out: PeerEntry[] = [];
  for (const v of list.slice(0, PEER_FILE_PEERS_MAX * 2)) {
    const e = checkPeerEntry(v);
    if (typeof e === "string") {
      log("warn", "p2p: peer file entry dropped", { path, reason: e });
      continue;
    }
    if (!out.some((x) => x.peerId === e.peerId)) out.push(e);
  }
  return trimPeers(out);
}

/** Most recently seen first, one entry per peer, at most {@link PEER_FILE_PEERS_MAX}. */
export function trimPeers(entries: PeerEntry[]): PeerEntry[] {
  const seen = new Set<string>();
  return [...entries].sort((a, b) => b.seenMs - a.seenMs).filter((e) => {
    if (seen.has(e.peerId)) return false;
    seen.add(e.peerId);
    return true;
  }).slice(0, PEER_FILE_PEERS_MAX);
}

/** Write the peer file atomically. */
export async function savePeerFile(path: string, entries: PeerEntry[]): Promise<void> {
  const tmp = `${path}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify({ version: 1, peers: trimPeers(entries) }, null, 1) + "\n");
  await Deno.rename(tmp, path);
}
