/**
 * Shared CLI plumbing: global options, the RPC client, output in text or JSON, user errors.
 * @module
 */
import type { Command } from "commander";
import { defaultHome } from "../node/config.ts";
import { Keystore } from "../node/keystore.ts";
import { signTx } from "../node/ledger/tx.ts";
import { toHex } from "../lib/crypto.ts";
import { parseSdl } from "../auction/sdl/mod.ts";
import type { SdlResult } from "../auction/sdl/types.ts";

/** An error shown to the user as one line, without a stack trace. */
export class UserError extends Error {
  override name = "UserError";
}

/** Ends the command with this exit code and no message (the command has printed what it had to). */
export class ExitCode extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

/** Options every command takes. */
export interface GlobalOptions {
  node: string;
  home: string;
  output: "text" | "json";
}

/** The global options as seen from a (sub)command. */
export function globals(cmd: Command): GlobalOptions {
  const o = cmd.optsWithGlobals() as Partial<GlobalOptions>;
  const output = o.output ?? "text";
  if (output !== "text" && output !== "json") {
    throw new UserError(`--output must be "text" or "json", got "${output}"`);
  }
  return {
    node: (o.node ?? Deno.env.get("CIRRUS_NODE") ?? "http://127.0.0.1:26657").replace(/\/+$/, ""),
    home: o.home ?? defaultHome(),
    output,
  };
}

/** Print a result: JSON as one document, or text via `text()`. */
export function emit(g: GlobalOptions, value: unknown, text: () => string): void {
  if (g.output === "json") {
    console.log(JSON.stringify(value, (_k, v) => typeof v === "bigint" ? v.toString() : v));
  } else console.log(text());
}

/** Call the node's RPC; errors become one clear line. */
export async function rpc<T = Record<string, unknown>>(
  g: GlobalOptions,
  path: string,
  init?: { method?: string; body?: unknown; timeoutMs?: number },
): Promise<T> {
  const url = g.node + path;
  let res: Response;
  const signal = AbortSignal.timeout(init?.timeoutMs ?? 60_000);
  try {
    res = await fetch(url, {
      method: init?.method ?? (init?.body !== undefined ? "POST" : "GET"),
      headers: init?.body !== undefined ? { "content-type": "application/json" } : {},
      ...(init?.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
      signal,
    });
  } catch (e) {
    const why = (e as Error).name === "TimeoutError" ? "timed out" : "not reachable";
    throw new UserError(`node ${g.node} ${why} (is a node running? set --node URL)`);
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new UserError(`node ${g.node} answered ${res.status} with a non-JSON body`);
  }
  if (!res.ok) {
    const err = (body as { error?: string })?.error ?? `HTTP ${res.status}`;
    throw new UserError(err);
  }
  return body as T;
}

/** The text of a file named on the command line; an unreadable file is a user error naming it. */
export async function readTextArg(file: string): Promise<string> {
  try {
    return await Deno.readTextFile(file);
  } catch (e) {
    throw new UserError(`Cannot read ${file}: ${(e as Error).message}`);
  }
}

/** An SDL file read and parsed; an unreadable or invalid one is a user error naming it. */
export async function readSdl(file: string): Promise<Extract<SdlResult, { ok: true }>> {
  const r = parseSdl(await readTextArg(file));
  if (!r.ok) throw new UserError(`${file}: ${r.error}`);
  return r;
}

/** A DSEQ argument: a non-negative safe integer. */
export function dseqArg(s: string): number {
  const n = Number(s);
  if (!/^\d+$/.test(s) || !Number.isSafeInteger(n)) {
    throw new UserError(`DSEQ must be a non-negative integer, got "${s}"`);
  }
  return n;
}

/** Check a positive integer amount of base units. */
export function parseAmount(s: string, what = "amount"): bigint {
  if (!/^\d+$/.test(s)) {
    throw new UserError(`${what} must be a positive integer of base units (ucrs), got "${s}"`);
  }
  const v = BigInt(s);
  if (v <= 0n) throw new UserError(`${what} must be greater than 0`);
  return v;
}

/** The key to sign with: `--from`, else `$CIRRUS_FROM`, else the only key in the keystore. */
export async function fromKey(g: GlobalOptions, from: string | undefined): Promise<string> {
  if (from) return from;
  const env = Deno.env.get("CIRRUS_FROM");
  if (env) return env;
  const keys = await new Keystore(g.home).list();
  if (keys.length === 1) return keys[0]!.name;
  throw new UserError(
    keys.length === 0
      ? `no keys in ${g.home}/keys: create one with \`cirrus keys add NAME\` or pass --home`
      : `several keys in ${g.home}/keys (${keys.map((k) => k.name).join(", ")}): choose one with --from NAME`,
  );
}

/** What a committed (or accepted) tx returned. */
export interface SentTx {
  txId: string;
  height?: number;
  ok?: boolean;
  reason?: string;
  events?: { type: string; attrs: Record<string, string> }[];
  from: string;
}

/**
 * Sign a tx of `type` with key `keyName` from the keystore (nonce from the node, fee = the chain's
 * minimum unless given) and post it; with `wait`, return once it is in a block. A tx that the block
 * rejected is an error with the chain's reason.
 */
export async function sendTx(
  g: GlobalOptions,
  keyName: string,
  type: string,
  body: Record<string, unknown>,
  opts: { wait?: boolean; fee?: string } = {},
): Promise<SentTx> {
  const key = await new Keystore(g.home).get(keyName);
  const status = await rpc<{ chainId: string; minFee: string }>(g, "/status");
  const fee = opts.fee !== undefined ? parseAmount(opts.fee, "fee") : BigInt(status.minFee);
  const acct = await rpc<{ nextNonce: string }>(g, `/query/account/${key.address}`).catch((e) => {
    throw new UserError(`cannot send from ${keyName} (${key.address}): ${(e as Error).message}`);
  });
  const bytes = await signTx({
    chainId: status.chainId,
    type,
    from: key.address,
    nonce: BigInt(acct.nextNonce),
    fee,
    body,
  }, key.privKey);
  const r = await rpc<SentTx>(g, "/tx", { body: { tx: toHex(bytes), wait: opts.wait !== false } });
  if (r.ok === false) throw new UserError(`${type} failed in block ${r.height}: ${r.reason}`);
  return { ...r, from: key.address };
}
