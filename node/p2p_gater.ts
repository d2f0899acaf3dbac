/**
 * The libp2p connection gater: at most `connectionsPerIpMax` connections from one IP address, so
 * that one machine cannot take every connection slot of a node (the peer cap is the connection
 * manager's `maxConnections`). Loopback addresses are exempt by default: a devnet runs every node
 * on 127.0.0.1. Addresses without an IP (the in-process memory transport) are never limited.
 * @module
 */
import type { Multiaddr } from "@multiformats/multiaddr";
import type { ConnectionGater, MultiaddrConnection } from "@libp2p/interface";
import type { Logger } from "../lib/log.ts";

/** Default of the per-IP connection limit. */
export const CONNECTIONS_PER_IP_MAX_DEFAULT = 4;

/** IPs exempt from the per-IP limit unless told otherwise. */
export const LOOPBACK_IPS: readonly string[] = ["127.0.0.1", "::1"];

/** The IP address of a multiaddr (`/ip4/...` or `/ip6/...`), or null. */
export function ipOf(ma: Multiaddr): string | null {
  const c = ma.getComponents().find((x) => x.name === "ip4" || x.name === "ip6");
  return c?.value ?? null;
}

/** Options of {@link ipLimitGater}. */
export interface IpLimitOptions {
  connectionsPerIpMax: number;
  /** IPs never limited (default {@link LOOPBACK_IPS}). */
  exempt?: readonly string[];
  /** Remote addresses of the host's open connections (set once the host exists). */
  remoteAddrs: () => Multiaddr[];
  logger?: Logger;
}

/**
 * A gater refusing an inbound connection when its IP already has `connectionsPerIpMax` open ones.
 * Counted again after the encryption handshake (connections opened in parallel pass the first check
 * together), where the new connection is not yet among the open ones.
 */
export function ipLimitGater(o: IpLimitOptions): ConnectionGater {
  const exempt = new Set(o.exempt ?? LOOPBACK_IPS);
  const log: Logger = o.logger ?? (() => {});
  const full = (maConn: MultiaddrConnection, stage: string): boolean => {
    const ip = ipOf(maConn.remoteAddr);
    if (ip === null || exempt.has(ip)) return false;
    const open = o.remoteAddrs().filter((a) => ipOf(a) === ip).length;
    if (open < o.connectionsPerIpMax) return false;
    log("info", "p2p: connection refused, too many from one IP", {
      ip,
      open,
      max: o.connectionsPerIpMax,
      stage,
    });
    return true;
  };
  return {
    denyInboundConnection: (maConn) => full(maConn, "accept"),
    denyInboundEncryptedConnection: (_peer, maConn) => full(maConn, "encrypted"),
  };
}
