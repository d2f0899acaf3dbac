/**
 * `cirrus node start`: run one node (consensus, gossip, sync, RPC) until SIGINT/SIGTERM.
 * @module
 */
import { loadHome } from "../node/config.ts";
import { type CirrusNode, startNode } from "../node/node.ts";
import { RpcServer } from "../node/rpc.ts";
import type { Logger } from "../lib/log.ts";
import { type Clock, systemClock } from "../lib/clock.ts";
import {
  CLOCK_SKEW_ENV,
  type Misbehaviour,
  parseClockSkew,
  skewedClock,
  testChainProblem,
} from "../node/misbehave.ts";
import { UserError } from "./util.ts";
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
  /** Override the config's `peersMax` / `connectionsPerIpMax`. */
  peersMax?: number;
  connectionsPerIpMax?: number;
  /** Test only: misbehaviours (refused unless the chain is a test chain). */
  misbehave?: Misbehaviour[];
}

/**
 * The node's clock: the system clock, shifted by `CIRRUS_CLOCK_SKEW_MS` (read once, at start) for
 * clock-skew fault tests; the skew is refused unless the chain is a test chain.
 */
export function nodeClock(chainId: string, skewText: string | undefined): { clock: Clock; skewMs: number } {
  if (skewText === undefined || skewText === "") return { clock: systemClock, skewMs: 0 };
  let skewMs: number;
  try {
    skewMs = parseClockSkew(skewText);
  } catch (e) {
    throw new UserError((e as Error).message);
  }
  const why = testChainProblem(chainId, CLOCK_SKEW_ENV);
  if (why) throw new UserError(why);
  return { clock: skewMs === 0 ? systemClock : skewedClock(systemClock, skewMs), skewMs };
}

/**
 * Ask peers for their height as soon as one connects (not only at block sync's next poll, up to 1 s
 * later, 10 s at rest): a node that starts behind, e.g. one made by `node init --join`, begins to
 * catch up as soon as its first peer is there. One round at a time (block sync drops a round asked
 * for while one runs).
 */
export function catchUpOnConnect(node: Pick<CirrusNode, "p2p" | "sync">): void {
  node.p2p.onPeer((_peer, event) => {
    if (event === "connect") void node.sync.tick();
  });
  if (node.p2p.peers().length > 0) void node.sync.tick(); // connected while starting
}

/** Start a node from its home and run until a signal. */
export async function runNode(o: RunNodeOptions): Promise<void> {
  const loaded = await loadHome(o.home);
  const home = {
    ...loaded,
    config: {
      ...loaded.config,
      ...(o.peersMax !== undefined ? { peersMax: o.peersMax } : {}),
      ...(o.connectionsPerIpMax !== undefined ? { connectionsPerIpMax: o.connectionsPerIpMax } : {}),
    },
  };
  const level = (o.logLevel in LEVELS ? o.logLevel : "info") as keyof typeof LEVELS;
  const log = stderrLogger(level, home.config.moniker);
  const { clock, skewMs } = nodeClock(home.genesis.chainId, Deno.env.get(CLOCK_SKEW_ENV));
  if (skewMs !== 0) log("warn", "clock skewed (test only)", { skewMs });
  if (o.misbehave && o.misbehave.length > 0) {
    const why = testChainProblem(home.genesis.chainId, "--misbehave");
    if (why) throw new UserError(why);
  }
  const node = await startNode({
    home,
    clock,
    ...(o.misbehave && o.misbehave.length > 0 ? { misbehave: o.misbehave } : {}),
    validator: o.validator,
    transport: "tcp",
    p2pListen: [o.p2pListen ?? home.config.p2pListen],
    bootstrap: o.bootstrap.length > 0 ? o.bootstrap : home.config.bootstrap,
    logger: log,
  });
  catchUpOnConnect(node);
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
