/**
 * The node's RPC for the CLI: HTTP + JSON, bound to 127.0.0.1 unless told otherwise.
 *
 * - `GET  /status`
 * - `POST /tx` `{"tx": HEX, "wait"?: bool, "timeoutMs"?: n}` -> `{txId, height?, ok?, reason?}`
 * - `POST /txs` `{"txs": [HEX...]}` -> `{results: [{txId} | {error}]}` (batch submit, for load)
 * - `GET  /query/account/ADDR`, `/query/block/HEIGHT|latest`, `/query/tx/ID`, `/query/txs?address=A`
 * - `GET  /events` server-sent events: `block`, `tx`, `event` (marketplace and bank events; filter with
 *   `?type=block&type=event`)
 * - `GET  /genesis`: the exact bytes of this node's `genesis.json` (their sha256 is the genesis hash,
 *   also in the `x-cirrus-genesis-hash` header), for `node init --join`
 * - `GET  /net/peers`: `{chainId, peerId, addrs, peers: [{peerId, addrs}]}`, this node's p2p addresses
 *   and those of its connected peers (at most {@link NET_PEERS_MAX}, {@link NET_PEER_ADDRS_MAX}
 *   addresses each; never a key)
 * - `GET  /query/params`, and the queries the ledger's modules declare (node/ledger/module.ts): the
 *   market's `/query/deployments|orders|bids|leases?owner=&provider=&state=`,
 *   `/query/deployment/OWNER/DSEQ`, `/query/escrow/OWNER/DSEQ`, `/query/provider/ADDR`, `/query/providers`,
 *   `/query/order|bid|lease?id=ID`; the audit module's `/query/audits?provider=&auditor=`
 *
 * Every bad request gets a 4xx with `{error}` saying what is wrong; a handler bug gets a 500 with
 * `{error}`; nothing crashes the node.
 * @module
 */
import type { CirrusNode } from "./node.ts";
import type { CommittedBlock } from "./chain.ts";
import { fromHex, isAddress, toHex } from "../lib/crypto.ts";
import { decodeBlock, decodeCommit } from "./ledger/block.ts";
import { blockHash } from "./ledger/mod.ts";
import { decodeSignedTx, txId } from "./ledger/tx.ts";
import { QueryError } from "./ledger/module.ts";
import { genesisHash } from "./config.ts";
import { json, readBodyCapped, serveHttp } from "./http.ts";

const BODY_BYTES_MAX = 8 * 1024 * 1024;
const WAIT_MS_DEFAULT = 30_000;
const WAIT_MS_MAX = 120_000;
const SSE_CLIENTS_MAX = 64;
/** Bytes of events queued for one SSE client that does not read; beyond it the client is dropped. */
const SSE_QUEUE_BYTES_MAX = 4 * 1024 * 1024;

/** Connected peers listed by `GET /net/peers`, at most. */
export const NET_PEERS_MAX = 32;
/** Addresses listed per peer by `GET /net/peers`, at most. */
export const NET_PEER_ADDRS_MAX = 8;

/** What a committed tx produced, for `POST /tx` with wait. */
interface TxOutcome {
  height: number;
  ok: boolean;
  reason?: string;
  events: { type: string; attrs: Record<string, string> }[];
}

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/**
 * Read a request body with a byte cap: the declared length is checked first, then the body is
 * streamed and refused (413) as soon as it passes the cap, never buffered whole.
 */
async function readBody(req: Request, bytesMax: number): Promise<Uint8Array> {
  const len = Number(req.headers.get("content-length") ?? 0);
  if (len > bytesMax) throw new HttpError(413, `body is ${len} bytes, the limit is ${bytesMax}`);
  const body = await readBodyCapped(req.body, bytesMax);
  if (body === null) throw new HttpError(413, `body larger than ${bytesMax} bytes`);
  return body;
}

async function readJson(req: Request): Promise<Record<string, unknown>> {
  const buf = await readBody(req, BODY_BYTES_MAX);
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(buf));
  } catch {
    throw new HttpError(400, "body is not valid JSON");
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new HttpError(400, "body must be a JSON object");
  }
  return v as Record<string, unknown>;
}

function hexArg(v: unknown, what: string): Uint8Array {
  if (typeof v !== "string" || !/^([0-9a-f]{2})+$/i.test(v)) {
    throw new HttpError(400, `${what} must be hex bytes`);
  }
  return fromHex(v.toLowerCase());
}

/**
 * What the RPC reads and calls of a node (`home` and `p2p` are optional: without them `/genesis`
 * and `/net/peers` answer 404).
 */
export type RpcNode =
  & Pick<
    CirrusNode,
    "chain" | "mempool" | "log" | "status" | "submitTx" | "onCommit" | "clock"
  >
  & Partial<Pick<CirrusNode, "home" | "p2p">>;

/** The RPC server of one node. */
export class RpcServer {
  #server: Deno.HttpServer | null = null;
  #sse = new Set<(b: CommittedBlock) => void>();
  #waiters = new Map<string, ((r: TxOutcome | null) => void)[]>();
  #unsubscribe: (() => void) | null = null;
  addr = "";

  constructor(readonly node: RpcNode) {}

  /** Event-stream subscribers connected now. */
  get sseClients(): number {
    return this.#sse.size;
  }

  /** Listen on `host:port` (port 0 picks a free one). */
  start(listen: string): Promise<string> {
    const listening = serveHttp(listen, "RPC", (req) => this.handle(req), (s) => (this.#server = s));
    this.#unsubscribe = this.node.onCommit((b) => this.#onCommit(b));
    return listening.then((url) => (this.addr = url));
  }

  async stop(): Promise<void> {
    this.#unsubscribe?.();
    for (const close of this.#sseClosers) close();
    await this.#server?.shutdown();
  }

  #sseClosers = new Set<() => void>();

  #onCommit(b: CommittedBlock): void {
    for (const t of b.txs) {
      const ws = this.#waiters.get(t.id);
      if (ws) {
        this.#waiters.delete(t.id);
        for (const w of ws) {
          w({
            height: b.height,
            ok: t.ok,
            ...(t.reason !== undefined ? { reason: t.reason } : {}),
            events: t.events,
          });
        }
      }
    }
    for (const s of this.#sse) s(b);
  }

  /** Answers one request (also called in-process by the console server, cli/console_server.ts). */
  async handle(req: Request): Promise<Response> {
    try {
      return await this.#route(req);
    } catch (e) {
      if (e instanceof HttpError) return json(e.status, { error: e.message });
      this.node.log("error", "rpc handler failed", { error: String((e as Error)?.stack ?? e) });
      return json(500, { error: `internal error: ${(e as Error)?.message ?? e}` });
    }
  }

  async #route(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const path = url.pathname.replace(/\/+$/, "") || "/";
    const parts = path.split("/").filter(Boolean);
    if (req.method === "GET" && path === "/status") return json(200, this.node.status());
    if (req.method === "POST" && path === "/tx") return await this.#postTx(req);
    if (req.method === "POST" && path === "/txs") return await this.#postTxs(req);
    if (req.method === "GET" && path === "/events") return this.#events(url);
    if (req.method === "GET" && parts[0] === "query") return await this.#query(parts.slice(1), url);
    if (req.method === "GET" && path === "/genesis") return this.#genesis();
    if (req.method === "GET" && path === "/net/peers") return await this.#netPeers();
    if (
      ["/status", "/tx", "/txs", "/events", "/genesis", "/net/peers"].includes(path) || parts[0] === "query"
    ) {
      throw new HttpError(405, `method ${req.method} is not allowed on ${path}`);
    }
    throw new HttpError(404, `no route ${req.method} ${path} (see GET /status, POST /tx, GET /query/...)`);
  }

  /** The exact bytes of genesis.json (re-encoded as `node init` writes it if the home has no bytes). */
  #genesis(): Response {
    const home = this.node.home;
    if (home === undefined) throw new HttpError(404, "this node does not serve its genesis");
    const bytes = home.genesisBytes ?? new TextEncoder().encode(JSON.stringify(home.genesis, null, 2) + "\n");
    return new Response(bytes.slice(), {
      status: 200,
      headers: { "content-type": "application/json", "x-cirrus-genesis-hash": genesisHash(bytes) },
    });
  }

  /** This node's p2p addresses and its connected peers' (bounded; addresses only, never keys). */
  async #netPeers(): Promise<Response> {
    const p2p = this.node.p2p;
    if (p2p === undefined) throw new HttpError(404, "this node has no p2p host");
    const peers: { peerId: string; addrs: string[] }[] = [];
    for (const peerId of p2p.peers().slice(0, NET_PEERS_MAX)) {
      const addrs = (await p2p.peerAddrs?.(peerId) ?? []).slice(0, NET_PEER_ADDRS_MAX);
      peers.push({ peerId, addrs });
    }
    return json(200, {
      chainId: this.node.chain.chainId,
      peerId: p2p.peerId,
      addrs: p2p.addrs().slice(0, NET_PEER_ADDRS_MAX),
      peers,
    });
  }

  async #postTx(req: Request): Promise<Response> {
    const body = await readJson(req);
    const bytes = hexArg(body.tx, "tx");
    const wait = body.wait === true;
    const timeoutMs = Math.min(
      typeof body.timeoutMs === "number" && body.timeoutMs > 0 ? body.timeoutMs : WAIT_MS_DEFAULT,
      WAIT_MS_MAX,
    );
    // Register before submitting so that a fast commit cannot be missed (the id is the hash of the bytes).
    const waiter = wait ? this.#waitFor(txId(bytes), timeoutMs) : null;
    const r = await this.node.submitTx(bytes);
    if (!r.ok) {
      waiter?.cancel();
      return json(400, { error: r.error, ...(r.txId ? { txId: r.txId } : {}) });
    }
    if (!waiter) return json(200, { txId: r.txId });
    const res = await waiter.done;
    if (!res) {
      return json(504, { txId: r.txId, error: `tx not committed within ${timeoutMs} ms (it may still be)` });
    }
    return json(200, {
      txId: r.txId,
      height: res.height,
      ok: res.ok,
      ...(res.reason ? { reason: res.reason } : {}),
      events: res.events,
    });
  }

  /** Wait for a tx id's commit (bounded); `cancel` drops only this waiter and its timer. */
  #waitFor(id: string, ms: number): { done: Promise<TxOutcome | null>; cancel(): void } {
    let finish!: (r: TxOutcome | null) => void;
    const done = new Promise<TxOutcome | null>((resolve) => finish = resolve);
    const clock = this.node.clock;
    const waiter = (r: TxOutcome | null) => {
      clock.clearTimeout(timer);
      const list = this.#waiters.get(id)?.filter((w) => w !== waiter) ?? [];
      if (list.length > 0) this.#waiters.set(id, list);
      else this.#waiters.delete(id);
      finish(r);
    };
    const timer = clock.setTimeout(() => waiter(null), ms);
    this.#waiters.set(id, [...(this.#waiters.get(id) ?? []), waiter]);
    return { done, cancel: () => waiter(null) };
  }

  async #postTxs(req: Request): Promise<Response> {
    const body = await readJson(req);
    if (!Array.isArray(body.txs)) throw new HttpError(400, "txs must be an array of hex strings");
    if (body.txs.length > 10_000) throw new HttpError(400, "txs: at most 10000 per request");
    const results = [];
    for (let i = 0; i < body.txs.length; i++) {
      let bytes: Uint8Array;
      try {
        bytes = hexArg(body.txs[i], `txs[${i}]`);
      } catch (e) {
        results.push({ error: (e as Error).message });
        continue;
      }
      const r = await this.node.submitTx(bytes);
      results.push(r.ok ? { txId: r.txId } : { error: r.error, ...(r.txId ? { txId: r.txId } : {}) });
    }
    return json(200, { results });
  }

  async #query(parts: string[], url: URL): Promise<Response> {
    const chain = this.node.chain;
    const [kind, arg] = parts;
    switch (kind) {
      case "account": {
        if (!arg || !isAddress(arg)) throw new HttpError(400, `"${arg ?? ""}" is not a cirrus address`);
        const a = chain.state.account(arg);
        if (!a) throw new HttpError(404, `account ${arg} not found (it has never received funds)`);
        return json(200, {
          address: a.address,
          balance: a.balance.toString(),
          nonce: a.nonce.toString(),
          nextNonce: this.node.mempool.nextNonce(chain.state, arg).toString(),
          denom: chain.genesis.params.ledger.denom,
        });
      }
      case "block": {
        const height = arg === "latest" || arg === undefined ? chain.height : Number(arg);
        if (!Number.isSafeInteger(height) || height < 1) {
          throw new HttpError(400, `block height must be a positive integer or "latest", got "${arg}"`);
        }
        if (height > chain.height) {
          throw new HttpError(404, `block ${height} not found (latest is ${chain.height})`);
        }
        const bytes = await chain.store.getBlock(height);
        if (!bytes) throw new HttpError(404, `block ${height} not found`);
        const block = decodeBlock(bytes);
        const commitBytes = await chain.store.getCommit(height);
        const commit = commitBytes ? decodeCommit(commitBytes) : null;
        const txs = [];
        for (const t of block.txs) {
          const d = decodeSignedTx(t, { maxTxBytes: Number.MAX_SAFE_INTEGER });
          if (d.ok) txs.push(d.stx.id);
        }
        const h = block.header;
        return json(200, {
          height: h.height,
          hash: blockHash(block),
          time: h.time,
          proposer: h.proposer,
          prevHash: h.prevHash,
          appHash: h.appHash,
          txsHash: h.txsHash,
          txs,
          commit: commit
            ? { round: commit.round, signatures: commit.signatures.map((s) => s.validator) }
            : null,
        });
      }
      case "tx": {
        if (!arg || !/^[0-9a-f]{64}$/.test(arg)) {
          throw new HttpError(400, `tx id must be 64 lowercase hex characters`);
        }
        const rec = await chain.store.getTx(arg);
        if (!rec) {
          if (this.node.mempool.has(arg)) return json(200, { txId: arg, pending: true });
          throw new HttpError(404, `tx ${arg} not found`);
        }
        const bytes = await chain.store.getBlock(rec.height);
        const block = bytes ? decodeBlock(bytes) : null;
        const raw = block?.txs[rec.index];
        const d = raw ? decodeSignedTx(raw, { maxTxBytes: Number.MAX_SAFE_INTEGER }) : null;
        const tx = d?.ok ? d.stx.tx : null;
        return json(200, {
          txId: arg,
          height: rec.height,
          index: rec.index,
          ok: rec.result?.ok ?? true,
          ...(rec.result?.reason ? { reason: rec.result.reason } : {}),
          ...(tx
            ? {
              type: tx.type,
              from: tx.from,
              nonce: tx.nonce.toString(),
              fee: tx.fee.toString(),
              body: tx.body,
            }
            : {}),
          ...(raw ? { raw: toHex(raw) } : {}),
        });
      }
      case "txs": {
        const address = url.searchParams.get("address") ?? "";
        if (!isAddress(address)) throw new HttpError(400, `address must be a cirrus address`);
        const limit = Math.min(Number(url.searchParams.get("limit") ?? 100) || 100, 1000);
        return json(200, { txs: await chain.store.txsByAddress(address, limit) });
      }
      case "params":
        return json(200, chain.genesis.params);
      default: {
        const query = kind === undefined ? undefined : chain.ledger.query(kind);
        if (query) {
          return json(
            200,
            this.#moduleQuery(() => query(chain.state, { args: parts.slice(1), params: url.searchParams })),
          );
        }
        throw new HttpError(
          404,
          `unknown query "${kind ?? ""}" (${
            ["account", "block", "tx", "txs", "params", ...chain.ledger.queryNames()].join(", ")
          })`,
        );
      }
    }
  }

  /** Runs a ledger module's query (see node/ledger/module.ts); its QueryError becomes a 4xx. */
  #moduleQuery(run: () => unknown): unknown {
    try {
      return run();
    } catch (e) {
      if (e instanceof QueryError) throw new HttpError(e.status, e.message);
      throw e;
    }
  }

  #events(url: URL): Response {
    if (this.#sse.size >= SSE_CLIENTS_MAX) {
      throw new HttpError(503, `too many event subscribers (${SSE_CLIENTS_MAX})`);
    }
    const types = new Set(url.searchParams.getAll("type"));
    const want = (t: string) => types.size === 0 || types.has(t);
    const enc = new TextEncoder();
    let listener: ((b: CommittedBlock) => void) | null = null;
    let ping: ReturnType<typeof setInterval> | null = null;
    const cleanup = () => {
      if (listener) this.#sse.delete(listener);
      listener = null;
      if (ping !== null) clearInterval(ping);
      this.#sseClosers.delete(closeFn);
    };
    let closeFn = () => {};
    const stream = new ReadableStream<Uint8Array>({
      start: (ctrl) => {
        const send = (event: string, data: unknown) => {
          if (listener === null) return; // dropped or closed
          try {
            ctrl.enqueue(enc.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`));
          } catch {
            cleanup();
            return;
          }
          if ((ctrl.desiredSize ?? 0) < 0) {
            // the client does not read: its queue is over SSE_QUEUE_BYTES_MAX, drop it
            this.node.log("warn", "rpc: dropping a slow event subscriber", {
              queueBytesMax: SSE_QUEUE_BYTES_MAX,
            });
            cleanup();
            try {
              ctrl.error(new Error("slow event subscriber dropped"));
            } catch { /* closed */ }
          }
        };
        listener = (b) => {
          if (want("block")) {
            send("block", {
              height: b.height,
              hash: b.hash,
              time: b.time,
              proposer: b.proposer,
              txs: b.txs.length,
            });
          }
          if (want("tx")) {
            for (const t of b.txs) {
              send("tx", {
                id: t.id,
                ok: t.ok,
                reason: t.reason,
                from: t.from,
                type: t.type,
                height: b.height,
              });
            }
          }
          if (want("event")) {
            // Marketplace and bank events, in block order: those of each tx, then the block's own.
            for (const t of b.txs) {
              if (!t.ok) continue;
              for (const e of t.events) {
                send("event", { height: b.height, txId: t.id, type: e.type, attrs: e.attrs });
              }
            }
            for (const e of b.events) send("event", { height: b.height, type: e.type, attrs: e.attrs });
          }
        };
        this.#sse.add(listener);
        ping = setInterval(() => {
          try {
            ctrl.enqueue(enc.encode(`: ping\n\n`));
          } catch {
            cleanup();
          }
        }, 15_000);
        closeFn = () => {
          cleanup();
          try {
            ctrl.close();
          } catch { /* closed */ }
        };
        this.#sseClosers.add(closeFn);
        ctrl.enqueue(enc.encode(`: cirrus events, height ${this.node.chain.height}\n\n`));
      },
      cancel: () => cleanup(),
    }, new ByteLengthQueuingStrategy({ highWaterMark: SSE_QUEUE_BYTES_MAX }));
    return new Response(stream, {
      headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
    });
  }
}
