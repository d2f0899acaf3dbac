/**
 * `cirrus node start`: run one node (consensus, gossip, sync, RPC) until SIGINT/SIGTERM.
 * @module
 */
import { loadHome } from "../node/config.ts";
import { CirrusNode } from "../node/node.ts";
import { RpcServer } from "../node/rpc.ts";
import type { Logger } from "../lib/log.ts";
import { startProviderRole } from "./provider_role.ts";

const LEVELS = { debug: 0, info: 1, warn: 2, error: 3 } as const;

/** A logger writing one line per event to stderr: time, level, message, fields. */
export function stderrLogger(level: keyof typeof LEVELS, name: string): Logger {
  const min = LEVELS[level] ?? 1;
  const enc = new TextEncoder();
  return (lvl, msg, fields) => {
    if (LEVELS[lvl] < min) return;
    const f = fields
      ? " " +
        Object.entries(fields).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join(
          " ",
        )
      : "";
    try {
      Deno.stderr.writeSync(
        enc.encode(`${new Date().toISOString()} ${lvl.toUpperCase()} [${name}] ${msg}${f}\n`),
      );
    } catch { /* stderr closed */ }
  };
}

/** Options of {@link runNode}. */
export interface RunNodeOptions {
  home: string;
  validator: boolean;
  p2pListen?: string;
  rpcListen?: string;
  bootstrap: string[];
  logLevel: string;
  /** Provider role: path of the provider config (YAML). */
  providerConfig?: string;
}

/** Start a node from its home and run until a signal. */
export async function runNode(o: RunNodeOptions): Promise<void> {
  const home = await loadHome(o.home);
  const level = (o.logLevel in LEVELS ? o.logLevel : "info") as keyof typeof LEVELS;
  const log = stderrLogger(level, home.config.moniker);
  const node = await CirrusNode.fromHome(o.home, {
    validator: o.validator,
    transport: "tcp",
    p2pListen: [o.p2pListen ?? home.config.p2pListen],
    bootstrap: o.bootstrap.length > 0 ? o.bootstrap : home.config.bootstrap,
    logger: log,
  });
  let provider: Awaited<ReturnType<typeof startProviderRole>> | null = null;
  if (o.providerConfig) {
    try {
      provider = await startProviderRole(node, o.home, o.providerConfig, log);
    } catch (e) {
      await node.stop();
      throw e;
    }
  }
  const rpc = new RpcServer(node);
  let rpcAddr: string;
  try {
    rpcAddr = await rpc.start(o.rpcListen ?? home.config.rpcListen);
  } catch (e) {
    await node.stop();
    throw new Error(
      `cannot listen for RPC on ${o.rpcListen ?? home.config.rpcListen}: ${(e as Error).message}`,
    );
  }
  log("info", "node started", {
    chainId: node.chainId,
    height: node.chain.height,
    validator: o.validator ? home.validatorKey.address : "no",
    rpc: rpcAddr,
    p2p: node.p2p.addrs().join(","),
  });
  let lastLogged = 0;
  node.onCommit((b) => {
    if (b.txs.length > 0 || b.height - lastLogged >= 20) {
      lastLogged = b.height;
      log("info", "committed block", { height: b.height, txs: b.txs.length, hash: b.hash.slice(0, 16) });
    }
  });
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    Deno.addSignalListener("SIGINT", stop);
    Deno.addSignalListener("SIGTERM", stop);
  });
  log("info", "stopping");
  await provider?.stop();
  await rpc.stop();
  await node.stop();
  Deno.exit(0);
}
