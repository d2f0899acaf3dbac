/**
 * `cirrus node init --join RPC_URL`: make a node home for a running network. The genesis (its exact
 * bytes) and a peer list come from one of the network's nodes over its RPC (`GET /status`,
 * `GET /genesis`, `GET /net/peers`); the chain id and the genesis hash are checked (against
 * `--chain-id` / `--genesis-hash` when given) before anything is written. Every read is bounded in
 * bytes and time; every refusal says what was wrong.
 * @module
 */
import { multiaddr } from "@multiformats/multiaddr";
import { ConfigError, genesisHash, initHome } from "../node/config.ts";
import { type Genesis, validateGenesis } from "../node/ledger/genesis.ts";
import { isObj } from "../lib/schema.ts";
import { readBodyCapped } from "../node/http.ts";
import { emit, type GlobalOptions, UserError } from "./util.ts";

/** Largest `/status` or `/net/peers` answer read, in bytes. */
export const JOIN_ANSWER_BYTES_MAX = 1024 * 1024;
/** Largest `/genesis` answer read, in bytes. */
export const JOIN_GENESIS_BYTES_MAX = 32 * 1024 * 1024;
/** Time allowed for each request. */
export const JOIN_FETCH_TIMEOUT_MS = 10_000;
/** Bootstrap addresses written into the new config, at most. */
export const JOIN_BOOTSTRAP_MAX = 16;

/** Options of {@link joinNetwork}. */
export interface JoinOptions {
  /** RPC URL of a running node, e.g. http://127.0.0.1:26657 */
  url: string;
  home: string;
  moniker: string;
  /** Insist on this chain id. */
  chainId?: string;
  /** Insist on this genesis hash (hex sha256 of genesis.json). */
  genesisHash?: string;
  p2pListen?: string;
  rpcListen?: string;
  peersMax?: number;
  connectionsPerIpMax?: number;
  force?: boolean;
  /** Per-request time limit (default {@link JOIN_FETCH_TIMEOUT_MS}). */
  timeoutMs?: number;
}

/** What {@link joinNetwork} did. */
export interface JoinResult {
  home: string;
  chainId: string;
  genesisHash: string;
  /** The height the node we asked was at. */
  height: number;
  validator: string;
  bootstrap: string[];
}

/** Read a response body, refusing it as soon as it passes `bytesMax`. */
async function readCapped(res: Response, bytesMax: number, what: string): Promise<Uint8Array> {
  const declared = Number(res.headers.get("content-length") ?? 0);
  if (declared > bytesMax) {
    await res.body?.cancel().catch(() => {});
    throw new UserError(`${what}: the answer is ${declared} bytes, more than the ${bytesMax} bytes allowed`);
  }
  const body = await readBodyCapped(res.body, bytesMax);
  if (body === null) throw new UserError(`${what}: the answer is more than the ${bytesMax} bytes allowed`);
  return body;
}

/** GET `base + path`: the body's bytes, bounded in bytes and time; errors say what went wrong. */
async function getBytes(base: URL, path: string, bytesMax: number, timeoutMs: number): Promise<Uint8Array> {
  const url = new URL(path, base);
  const what = `GET ${url}`;
  const signal = AbortSignal.timeout(timeoutMs);
  let res: Response;
  try {
    res = await fetch(url, { signal, redirect: "error" });
  } catch (e) {
    const why = signal.aborted ? `no answer within ${timeoutMs} ms` : (e as Error).message;
    throw new UserError(`cannot reach ${base.origin}: ${why} (is a cirrus node's RPC running there?)`);
  }
  if (res.status !== 200) {
    await res.body?.cancel().catch(() => {});
    throw new UserError(
      `${what} answered HTTP ${res.status}: ${base.origin} is not a cirrus node RPC (or an older one without ${path})`,
    );
  }
  try {
    return await readCapped(res, bytesMax, what);
  } catch (e) {
    if (e instanceof UserError) throw e;
    const why = signal.aborted ? `not read within ${timeoutMs} ms` : (e as Error).message;
    throw new UserError(`${what}: ${why}`);
  }
}

function parseJson(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    throw new UserError(`${what} is not valid JSON (${(e as Error).message}): not a cirrus node RPC?`);
  }
}

/** A peer address we will dial: parses, and names the peer it claims (`/p2p/<peerId>`). */
function dialable(addr: unknown, peerId: unknown): string | null {
  if (typeof addr !== "string" || addr.length > 512 || typeof peerId !== "string") return null;
  try {
    const ma = multiaddr(addr);
    const id = ma.getComponents().findLast((c) => c.name === "p2p")?.value;
    if (id === undefined) return `${ma.toString()}/p2p/${peerId}`;
    return id === peerId ? ma.toString() : null;
  } catch {
    return null;
  }
}

/** The bootstrap list from a `/net/peers` answer: the node's own addresses first, then its peers'. */
export function bootstrapFromNetPeers(v: unknown): string[] {
  if (!isObj(v)) return [];
  const out: string[] = [];
  const add = (addrs: unknown, peerId: unknown) => {
    if (!Array.isArray(addrs)) return;
    for (const a of addrs.slice(0, 8)) {
      const d = dialable(a, peerId);
      if (d !== null && !out.includes(d) && out.length < JOIN_BOOTSTRAP_MAX) out.push(d);
    }
  };
  add(v.addrs, v.peerId);
  if (Array.isArray(v.peers)) {
    for (const p of v.peers.slice(0, 64)) if (isObj(p)) add(p.addrs, p.peerId);
  }
  return out;
}

/** Fetch, check, then write a home that joins the network `o.url` belongs to. */
export async function joinNetwork(o: JoinOptions): Promise<JoinResult> {
  let base: URL;
  try {
    base = new URL(o.url);
  } catch {
    throw new UserError(`--join: "${o.url}" is not a URL (expected e.g. http://127.0.0.1:26657)`);
  }
  if (base.protocol !== "http:" && base.protocol !== "https:") {
    throw new UserError(`--join: "${o.url}" must be an http:// or https:// URL`);
  }
  if (!base.pathname.endsWith("/")) base.pathname += "/";
  if (o.genesisHash !== undefined && !/^[0-9a-fA-F]{64}$/.test(o.genesisHash)) {
    throw new UserError(`--genesis-hash must be 64 hex characters (a sha256), got "${o.genesisHash}"`);
  }
  const timeoutMs = o.timeoutMs ?? JOIN_FETCH_TIMEOUT_MS;

  const status = parseJson(await getBytes(base, "status", JOIN_ANSWER_BYTES_MAX, timeoutMs), "GET /status");
  if (!isObj(status) || typeof status.chainId !== "string" || typeof status.height !== "number") {
    throw new UserError(`GET /status of ${base.origin} has no chainId and height: not a cirrus node RPC`);
  }
  const chainId = status.chainId;
  if (o.chainId !== undefined && o.chainId !== chainId) {
    throw new UserError(
      `chain id mismatch: ${base.origin} is on "${chainId}", --chain-id asks for "${o.chainId}"`,
    );
  }

  const genesisBytes = await getBytes(base, "genesis", JOIN_GENESIS_BYTES_MAX, timeoutMs);
  const hash = genesisHash(genesisBytes);
  let genesis: Genesis;
  try {
    genesis = validateGenesis(parseJson(genesisBytes, "GET /genesis"));
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`GET /genesis of ${base.origin} is not a valid genesis: ${(e as Error).message}`);
  }
  if (genesis.chainId !== chainId) {
    throw new UserError(
      `chain id mismatch: ${base.origin}'s genesis is for "${genesis.chainId}" but its status says "${chainId}"`,
    );
  }
  if (o.genesisHash !== undefined && o.genesisHash.toLowerCase() !== hash) {
    throw new UserError(
      `genesis hash mismatch: ${base.origin} serves a genesis with hash ${hash}, --genesis-hash asks for ${o.genesisHash.toLowerCase()}`,
    );
  }

  const net = parseJson(
    await getBytes(base, "net/peers", JOIN_ANSWER_BYTES_MAX, timeoutMs),
    "GET /net/peers",
  );
  if (isObj(net) && net.chainId !== undefined && net.chainId !== chainId) {
    throw new UserError(`chain id mismatch: ${base.origin}'s /net/peers says "${String(net.chainId)}"`);
  }
  const bootstrap = bootstrapFromNetPeers(net);
  if (bootstrap.length === 0) {
    throw new UserError(
      `GET /net/peers of ${base.origin} lists no dialable p2p address: nothing to sync from`,
    );
  }

  try {
    const r = await initHome({
      home: o.home,
      moniker: o.moniker,
      chainId,
      ...(o.p2pListen !== undefined ? { p2pListen: o.p2pListen } : {}),
      ...(o.rpcListen !== undefined ? { rpcListen: o.rpcListen } : {}),
      ...(o.peersMax !== undefined ? { peersMax: o.peersMax } : {}),
      ...(o.connectionsPerIpMax !== undefined ? { connectionsPerIpMax: o.connectionsPerIpMax } : {}),
      bootstrap,
      genesisBytes,
      force: o.force === true,
    });
    return {
      home: o.home,
      chainId,
      genesisHash: hash,
      height: status.height,
      validator: r.validatorAddress,
      bootstrap,
    };
  } catch (e) {
    if (e instanceof ConfigError) throw new UserError(e.message);
    throw e;
  }
}

/** A positive integer flag, or a {@link UserError} naming it. */
export function positiveIntFlag(v: unknown, flag: string): number {
  const n = typeof v === "string" && /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new UserError(`${flag} must be a positive integer, got "${v}"`);
  }
  return n;
}

/** `--peers-max` and `--connections-per-ip-max` of `node init` / `node start`, checked. */
export function peerLimitOptions(o: { peersMax?: unknown; connectionsPerIpMax?: unknown }): {
  peersMax?: number;
  connectionsPerIpMax?: number;
} {
  return {
    ...(o.peersMax !== undefined ? { peersMax: positiveIntFlag(o.peersMax, "--peers-max") } : {}),
    ...(o.connectionsPerIpMax !== undefined
      ? { connectionsPerIpMax: positiveIntFlag(o.connectionsPerIpMax, "--connections-per-ip-max") }
      : {}),
  };
}

/** The flags of `node init` that {@link initJoinAction} reads. */
export interface InitJoinFlags {
  join: string;
  moniker: string;
  chainId?: string;
  genesisHash?: string;
  p2pListen?: string;
  rpcListen?: string;
  peersMax?: string;
  connectionsPerIpMax?: string;
  force?: boolean;
}

/** `node init --join URL`: join, then print what was done (text or JSON). */
export async function initJoinAction(
  g: GlobalOptions,
  o: InitJoinFlags,
  chainIdGiven: boolean,
): Promise<void> {
  const r = await joinNetwork({
    url: o.join,
    home: g.home,
    moniker: o.moniker,
    ...(chainIdGiven && o.chainId !== undefined ? { chainId: o.chainId } : {}),
    ...(o.genesisHash !== undefined ? { genesisHash: o.genesisHash } : {}),
    ...(o.p2pListen !== undefined ? { p2pListen: o.p2pListen } : {}),
    ...(o.rpcListen !== undefined ? { rpcListen: o.rpcListen } : {}),
    ...peerLimitOptions(o),
    force: o.force === true,
  });
  emit(g, r, () =>
    [
      `initialised ${r.home} to join chain ${r.chainId} (the node asked is at height ${r.height})`,
      `genesis hash ${r.genesisHash}  (compare it with one from a source you trust)`,
      `validator key ${r.validator}`,
      `bootstrap peers (${r.bootstrap.length}):`,
      ...r.bootstrap.map((a) => `  ${a}`),
      `next: cirrus node start --home ${r.home} [--validator]`,
    ].join("\n"));
}
