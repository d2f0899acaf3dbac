/**
 * The small HTTP pieces the node's RPC and the web console share: JSON answers, bounded body
 * reading, and listening on `HOST:PORT`.
 * @module
 */
import { concatBytes } from "../lib/crypto.ts";

/** A JSON response (bigints as decimal strings). */
export function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body, (_k, v) => typeof v === "bigint" ? v.toString() : v), {
    status,
    headers: { "content-type": "application/json" },
  });
}

/**
 * The bytes of a body stream, read chunk by chunk and never buffered past `bytesMax`: null (the
 * stream cancelled) as soon as it passes the cap. A caller checks a declared length first.
 */
export async function readBodyCapped(
  body: ReadableStream<Uint8Array> | null,
  bytesMax: number,
): Promise<Uint8Array | null> {
  if (body === null) return new Uint8Array();
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > bytesMax) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  return chunks.length === 1 ? chunks[0]! : concatBytes(...chunks);
}

/**
 * Listen on `listen` (`HOST:PORT`, `[v6]:PORT`; port 0 picks a free one) and serve `handler`;
 * `onServer` gets the server at once (so a stop before the listen completes still shuts it), and
 * the promise resolves to the URL it listens on. `what` names the address in a parse error.
 */
export function serveHttp(
  listen: string,
  what: string,
  handler: (req: Request) => Response | Promise<Response>,
  onServer: (server: Deno.HttpServer, hostname: string) => void,
): Promise<string> {
  const m = /^(.+):(\d+)$/.exec(listen);
  if (!m) throw new TypeError(`Cannot parse ${what} address "${listen}": expected HOST:PORT`);
  const hostname = m[1]!.replace(/^\[|\]$/g, "");
  return new Promise((resolve, reject) => {
    try {
      onServer(
        Deno.serve({
          hostname,
          port: Number(m[2]),
          onListen: (a) =>
            resolve(`http://${a.hostname.includes(":") ? `[${a.hostname}]` : a.hostname}:${a.port}`),
          onError: (e) => json(500, { error: `internal error: ${(e as Error).message}` }),
        }, handler),
        hostname,
      );
    } catch (e) {
      reject(e);
    }
  });
}
