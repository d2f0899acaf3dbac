/**
 * The console's own endpoints, under `/api/console/` on the console's address (see console_server.ts).
 * Everything else under `/api/` is the node's RPC (node/rpc.ts), called in-process.
 *
 * - `GET  blocks?before=H&limit=N` block summaries, newest first (N <= {@link BLOCKS_LIMIT_MAX})
 * - `GET  validators` the validator set: power, proposer priority, signed share of the last blocks, and
 *   the staking module's view when the ledger has one (moniker, operator, tokens, active/jailed/tombstoned)
 * - `GET  templates` the SDL templates of `examples/` (name, title, text)
 * - `POST screen` `{groups}` asks every provider over `/cirrus/screen/1` whether it would bid, and why not
 * - `POST relay` `{provider, protocol: "manifest"|"lease", request: HEX}` forwards tenant-signed bytes
 *   to the provider over libp2p and answers `{response: HEX}`; the node never holds the tenant's key
 * - `POST relay/logs` `{provider, request: HEX}` the same for followed logs: NDJSON frames `{frame: HEX}`
 * - `GET  devnet-keys` the devnet's funded keys (test chains only, when the node was given a keystore)
 *
 * Every rejection is a 4xx with `{error}` saying why.
 * @module
 */
import { join } from "node:path";
import { fromHex, toHex } from "../lib/crypto.ts";
import { json, readBodyCapped } from "../node/http.ts";
import { isObj } from "../lib/schema.ts";
import type { CirrusNode } from "../node/node.ts";
import { decodeBlock, decodeCommit } from "../node/ledger/block.ts";
import { blockHash } from "../node/ledger/mod.ts";
import { Keystore } from "../node/keystore.ts";
import { testChainProblem } from "../node/misbehave.ts";
import type { ProviderInfo } from "../auction/market/types.ts";
import type { Group } from "../auction/sdl/types.ts";
import {
  decodeResponse,
  encodeScreenRequest,
  LEASE_PROTOCOL_ID,
  LEASE_REQUEST_MAX_BYTES,
  MANIFEST_PROTOCOL_ID,
  MANIFEST_REQUEST_MAX_BYTES,
  screenAnswerFrom,
} from "../provider/protocol/mod.ts";
import type { Screening } from "./screen.ts";
import type { ValidatorView } from "../node/ledger/staking_queries.ts";

/** Most block summaries per request. */
export const BLOCKS_LIMIT_MAX = 200;
/** Blocks over which a validator's signed share is counted. */
export const UPTIME_WINDOW_BLOCKS = 100;
/** Followed log streams open at once through one console. */
export const LOG_STREAMS_MAX = 16;
/** Providers asked at once when screening. */
const SCREEN_PARALLEL = 8;
const BODY_BYTES_MAX = 2 * MANIFEST_REQUEST_MAX_BYTES + 1024;

/** A request the console API refuses: `status` and a reason for the page. */
export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = "ApiError";
  }
}

/** What the console API reads of a node. */
export type ConsoleNode = Pick<CirrusNode, "chain" | "p2p" | "chainId" | "log">;

/** Options of {@link ConsoleApi}. */
export interface ConsoleApiOptions {
  /** `examples/`: where the SDL templates are read. */
  examplesDir: string;
  /** A keystore home whose keys `devnet-keys` may hand out (only on a test chain). */
  devnetKeysHome?: string;
}

/** The console's endpoints of one node. */
export class ConsoleApi {
  #logStreams = 0;

  constructor(readonly node: ConsoleNode, readonly opts: ConsoleApiOptions) {}

  /** Answers `/api/console/<parts>`. */
  async handle(req: Request, parts: string[], url: URL): Promise<Response> {
    const route = `${req.method} ${parts.join("/")}`;
    switch (route) {
      case "GET blocks":
        return json(200, await this.#blocks(url));
      case "GET validators":
        return json(200, await this.#validators());
      case "GET templates":
        return json(200, await this.#templates());
      case "POST screen":
        return json(200, await this.#screen(await readJson(req)));
      case "POST relay":
        return json(200, await this.#relay(await readJson(req)));
      case "POST relay/logs":
        return await this.#relayLogs(await readJson(req));
      case "GET devnet-keys":
        return json(200, await this.#devnetKeys());
      default:
        throw new ApiError(
          404,
          `no console route ${route} (blocks, validators, templates, screen, relay, ...)`,
        );
    }
  }

  async #blocks(url: URL) {
    const chain = this.node.chain;
    const limit = Math.min(Math.max(Number(url.searchParams.get("limit") ?? 50) || 50, 1), BLOCKS_LIMIT_MAX);
    const beforeArg = url.searchParams.get("before");
    const before = beforeArg === null ? chain.height + 1 : Number(beforeArg);
    if (!Number.isSafeInteger(before) || before < 1) {
      throw new ApiError(400, "before must be a positive height");
    }
    const blocks = [];
    for (let h = Math.min(before - 1, chain.height); h >= 1 && blocks.length < limit; h--) {
      const bytes = await chain.store.getBlock(h);
      if (!bytes) break;
      const b = decodeBlock(bytes);
      blocks.push({
        height: b.header.height,
        hash: blockHash(b),
        time: b.header.time,
        proposer: b.header.proposer,
        txs: b.txs.length,
      });
    }
    return { height: chain.height, blocks };
  }

  async #validators() {
    const chain = this.node.chain;
    const signed = new Map<string, number>();
    let counted = 0;
    for (let h = chain.height; h >= 1 && counted < UPTIME_WINDOW_BLOCKS; h--) {
      const c = await chain.store.getCommit(h);
      if (!c) continue;
      counted++;
      for (const s of decodeCommit(c).signatures) signed.set(s.validator, (signed.get(s.validator) ?? 0) + 1);
    }
    const set = chain.validators;
    // The staking module's view (moniker, jailed...), when the ledger has one, by consensus address.
    const staking = new Map<string, ValidatorView>();
    const query = chain.ledger.query("validators");
    if (query) {
      try {
        const r = query(chain.state, { args: [], params: new URLSearchParams() }) as {
          validators: ValidatorView[];
        };
        for (const v of r.validators) staking.set(v.cons, v);
      } catch { /* no staking view: the consensus set alone */ }
    }
    const row = (address: string, power: string, priority: string | null) => {
      const st = staking.get(address);
      return {
        address,
        power,
        priority,
        signed: signed.get(address) ?? 0,
        uptime: counted > 0 ? (signed.get(address) ?? 0) / counted : null,
        ...(st
          ? {
            moniker: st.moniker,
            operator: st.operator,
            tokens: st.tokens,
            status: st.tombstoned ? "tombstoned" : st.jailed ? "jailed" : st.active ? "active" : "inactive",
          }
          : {}),
      };
    };
    const inSet = new Set(set.validators.map((v) => v.address));
    return {
      height: chain.height,
      totalPower: set.totalPower.toString(),
      proposer: set.proposer.address,
      windowBlocks: counted,
      validators: [
        ...set.validators.map((v) => row(v.address, v.power.toString(), v.priority.toString())),
        ...[...staking.values()].filter((v) => !inSet.has(v.cons)).map((v) => row(v.cons, "0", null)),
      ],
    };
  }

  async #templates() {
    const out: { name: string; title: string; text: string }[] = [];
    const names: string[] = [];
    try {
      for await (const e of Deno.readDir(this.opts.examplesDir)) {
        if (e.isFile && e.name.endsWith(".yaml")) names.push(e.name);
      }
    } catch { /* no examples folder: no templates */ }
    for (const name of names.sort()) {
      const text = await Deno.readTextFile(join(this.opts.examplesDir, name));
      if (!/^services:/m.test(text) || !/^deployment:/m.test(text)) continue; // not an SDL file
      const title = /^#\s*(.+)$/m.exec(text)?.[1] ?? name;
      out.push({ name, title, text });
    }
    return { templates: out };
  }

  /** The provider's peer id after dialing one of its on-chain host addresses. */
  async #dialProvider(address: string): Promise<string> {
    if (typeof address !== "string" || !/^[a-z0-9]{1,90}$/.test(address)) {
      throw new ApiError(400, "provider must be a cirrus address");
    }
    const query = this.node.chain.ledger.query("provider");
    let info: ProviderInfo;
    try {
      info = query!(this.node.chain.state, {
        args: [address],
        params: new URLSearchParams(),
      }) as ProviderInfo;
    } catch (e) {
      throw new ApiError(404, `provider ${address}: ${(e as Error).message}`);
    }
    let lastError = "it has no host address";
    for (const addr of info.hostUri) {
      const peer = /\/p2p\/([^/]+)$/.exec(addr)?.[1];
      if (!peer) continue;
      try {
        await this.node.p2p.dial(addr);
        return peer;
      } catch (e) {
        lastError = (e as Error).message;
      }
    }
    throw new ApiError(502, `cannot reach provider ${address}: ${lastError}`);
  }

  async #screen(body: Record<string, unknown>): Promise<Screening> {
    if (!Array.isArray(body.groups)) {
      throw new ApiError(400, "groups must be an array (as deployment.create carries them)");
    }
    const groups = body.groups as Group[];
    let request: Uint8Array;
    try {
      request = encodeScreenRequest({ chainId: this.node.chainId, groups });
    } catch (e) {
      throw new ApiError(400, `groups: ${(e as Error).message}`);
    }
    const list = this.node.chain.ledger.query("providers");
    const providers = (list!(this.node.chain.state, { args: [], params: new URLSearchParams() }) as {
      providers: ProviderInfo[];
    }).providers.map((p) => p.owner).sort();
    const answers = new Map<string, Map<string, Screening["groups"][number]["providers"][number]> | string>();
    let next = 0;
    const worker = async () => {
      while (next < providers.length) {
        const address = providers[next++]!;
        try {
          const peer = await this.#dialProvider(address);
          const res = decodeResponse(
            await this.node.p2p.request(peer, "/cirrus/screen/1", request, { timeoutMs: 5_000 }),
          );
          if (!res.ok) {
            answers.set(address, `provider refused to screen: ${res.error} (${res.code})`);
            continue;
          }
          const a = screenAnswerFrom(res);
          answers.set(
            address,
            new Map(
              a.groups.map((
                x,
              ) => [
                x.name,
                x.bid ? { address, bid: true, price: x.price } : { address, bid: false, reasons: x.reasons },
              ]),
            ),
          );
        } catch (e) {
          answers.set(address, `provider did not answer: ${(e as Error).message}`);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(SCREEN_PARALLEL, providers.length) }, worker));
    return {
      groups: groups.map((g) => ({
        name: String(g.name),
        providers: providers.map((address) => {
          const a = answers.get(address) ?? "provider was not asked";
          if (typeof a === "string") return { address, bid: false as const, reasons: [a] };
          return a.get(String(g.name)) ??
            { address, bid: false as const, reasons: [`no answer for group ${g.name}`] };
        }),
      })),
    };
  }

  #signedBytes(body: Record<string, unknown>, bytesMax: number): Uint8Array {
    const hex = body.request;
    if (typeof hex !== "string" || !/^([0-9a-f]{2})+$/.test(hex)) {
      throw new ApiError(400, "request must be the signed request's bytes, lowercase hex");
    }
    if (hex.length / 2 > bytesMax) {
      throw new ApiError(413, `request is ${hex.length / 2} bytes, the limit is ${bytesMax}`);
    }
    return fromHex(hex);
  }

  async #relay(body: Record<string, unknown>) {
    const protocol = body.protocol === "manifest"
      ? MANIFEST_PROTOCOL_ID
      : body.protocol === "lease"
      ? LEASE_PROTOCOL_ID
      : null;
    if (protocol === null) throw new ApiError(400, `protocol must be "manifest" or "lease"`);
    const bytes = this.#signedBytes(
      body,
      protocol === MANIFEST_PROTOCOL_ID ? MANIFEST_REQUEST_MAX_BYTES : LEASE_REQUEST_MAX_BYTES,
    );
    const peer = await this.#dialProvider(body.provider as string);
    try {
      const res = await this.node.p2p.request(peer, protocol, bytes, {
        timeoutMs: protocol === MANIFEST_PROTOCOL_ID ? 120_000 : 60_000,
      });
      return { response: toHex(res) };
    } catch (e) {
      throw new ApiError(502, `provider ${body.provider}: ${(e as Error).message}`);
    }
  }

  async #relayLogs(body: Record<string, unknown>): Promise<Response> {
    const bytes = this.#signedBytes(body, LEASE_REQUEST_MAX_BYTES);
    if (this.#logStreams >= LOG_STREAMS_MAX) {
      throw new ApiError(503, `too many followed log streams (${LOG_STREAMS_MAX}); close one`);
    }
    const peer = await this.#dialProvider(body.provider as string);
    // The page going away cancels the response stream (below), which aborts the provider stream.
    const ac = new AbortController();
    const enc = new TextEncoder();
    this.#logStreams++;
    let released = false;
    const release = () => {
      if (!released) this.#logStreams--;
      released = true;
      ac.abort();
    };
    const frames = this.node.p2p.openStream(peer, `${LEASE_PROTOCOL_ID}/logs`, bytes, {
      signal: ac.signal,
      timeoutMs: 30_000,
    });
    const stream = new ReadableStream<Uint8Array>({
      pull: async (ctrl) => {
        try {
          const { done, value } = await frames.next();
          if (done) {
            release();
            ctrl.close();
          } else ctrl.enqueue(enc.encode(JSON.stringify({ frame: toHex(value) }) + "\n"));
        } catch (e) {
          release();
          if (!ac.signal.aborted) {
            try {
              ctrl.enqueue(enc.encode(JSON.stringify({ error: (e as Error).message }) + "\n"));
              ctrl.close();
            } catch { /* closed */ }
          }
        }
      },
      cancel: () => release(),
    });
    return new Response(stream, {
      headers: { "content-type": "application/x-ndjson", "cache-control": "no-cache" },
    });
  }

  async #devnetKeys() {
    const why = testChainProblem(this.node.chainId, "importing the devnet's keys");
    if (why) throw new ApiError(403, why);
    if (!this.opts.devnetKeysHome) {
      throw new ApiError(
        404,
        "this node was not given the devnet's keystore (cirrus devnet gives it to node0)",
      );
    }
    const keys = (await new Keystore(this.opts.devnetKeysHome).list()).filter((k) =>
      !k.name.startsWith("bench")
    ).slice(0, 32);
    return { keys: keys.map((k) => ({ name: k.name, address: k.address, seed: toHex(k.privKey) })) };
  }
}

async function readJson(req: Request): Promise<Record<string, unknown>> {
  const len = Number(req.headers.get("content-length") ?? 0);
  if (len > BODY_BYTES_MAX) throw new ApiError(413, `body is ${len} bytes, the limit is ${BODY_BYTES_MAX}`);
  const body = await readBodyCapped(req.body, BODY_BYTES_MAX);
  if (body === null) throw new ApiError(413, `body larger than ${BODY_BYTES_MAX} bytes`);
  const text = new TextDecoder().decode(body);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new ApiError(400, "body is not valid JSON");
  }
  if (!isObj(v)) {
    throw new ApiError(400, "body must be a JSON object");
  }
  return v;
}
