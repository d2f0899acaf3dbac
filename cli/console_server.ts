/**
 * Serves the web console of one node (`node start --console`): the bundle built from `console/`
 * (console/build.ts), the node's RPC under `/api/` (called in-process, the same handler as the RPC
 * address) and the console's own endpoints under `/api/console/` (console_api.ts). Binds 127.0.0.1
 * unless told otherwise.
 * @module
 */
import { extname, join, normalize } from "node:path";
import type { RpcServer } from "../node/rpc.ts";
import { json, serveHttp } from "../node/http.ts";
import { ApiError, ConsoleApi, type ConsoleApiOptions, type ConsoleNode } from "./console_api.ts";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json",
  ".txt": "text/plain; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".woff2": "font/woff2",
};

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1"]);

/** Options of {@link ConsoleServer}. */
export interface ConsoleServerOptions extends ConsoleApiOptions {
  /** The built bundle (`console/dist`). */
  distDir: string;
}

/** The console's HTTP server. */
export class ConsoleServer {
  #server: Deno.HttpServer | null = null;
  readonly api: ConsoleApi;
  /** `http://HOST:PORT` once listening. */
  url = "";

  #loopback = true;

  constructor(
    readonly node: ConsoleNode,
    readonly rpc: Pick<RpcServer, "handle">,
    readonly opts: ConsoleServerOptions,
  ) {
    this.api = new ConsoleApi(node, opts);
  }

  /** Listen on `host:port` (port 0 picks a free one); resolves to the console's URL. */
  start(listen: string): Promise<string> {
    return serveHttp(listen, "console", (req) => this.#handle(req), (s, hostname) => {
      this.#server = s;
      this.#loopback = LOOPBACK.has(hostname);
    }).then((url) => (this.url = url));
  }

  /** Stop listening. */
  async stop(): Promise<void> {
    await this.#server?.shutdown();
  }

  async #handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    try {
      // On loopback, only loopback names: a web page cannot reach the console by rebinding its own name.
      const host = (req.headers.get("host") ?? "").replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
      if (this.#loopback && !LOOPBACK.has(host)) {
        throw new ApiError(403, `host "${host}" refused: the console answers only to 127.0.0.1 or localhost`);
      }
      if (url.pathname === "/api" || url.pathname.startsWith("/api/")) {
        const rest = url.pathname.slice(4) || "/";
        const parts = rest.split("/").filter(Boolean);
        if (parts[0] === "console") return await this.api.handle(req, parts.slice(1), url);
        // The node's RPC, same handler as its RPC address.
        // (Without the outer request's signal: the RPC reads none, and Deno aborts it once a response is sent.)
        const inner = new Request(new URL(rest + url.search, "http://rpc.local"), {
          method: req.method,
          headers: req.headers,
          ...(req.body ? { body: req.body } : {}),
        });
        return await this.rpc.handle(inner);
      }
      if (req.method !== "GET" && req.method !== "HEAD") {
        throw new ApiError(405, `method ${req.method} not allowed`);
      }
      return await this.#file(url.pathname);
    } catch (e) {
      if (e instanceof ApiError) return json(e.status, { error: e.message });
      this.node.log("error", "console handler failed", { error: String((e as Error)?.stack ?? e) });
      return json(500, { error: `internal error: ${(e as Error)?.message ?? e}` });
    }
  }

  async #file(pathname: string): Promise<Response> {
    const rel = normalize(decodeURIComponent(pathname)).replace(/^\/+/, "");
    if (rel.startsWith("..") || rel.includes("\0")) throw new ApiError(400, "bad path");
    const path = join(this.opts.distDir, rel === "" ? "index.html" : rel);
    let data: Uint8Array<ArrayBuffer>;
    try {
      data = await Deno.readFile(path);
    } catch {
      // Unknown paths are the page's own routes (hash routes need none, but be kind to reloads).
      if (extname(rel) !== "") throw new ApiError(404, `no file ${pathname}`);
      data = await Deno.readFile(join(this.opts.distDir, "index.html"));
      return new Response(data, { headers: { "content-type": TYPES[".html"]! } });
    }
    return new Response(data, {
      headers: {
        "content-type": TYPES[extname(path)] ?? "application/octet-stream",
        "cache-control": "no-cache",
        "x-content-type-options": "nosniff",
      },
    });
  }
}
