/**
 * Deno compatibility shims for libp2p v3, applied once on import.
 *
 * `mortice` (the lock library of @libp2p/peer-store) opens a `BroadcastChannel` with a message listener
 * for every peer lock and calls `channel.unref?.()` so that it does not keep a Node process alive.
 * Deno's web `BroadcastChannel` has no `unref()` (only `node:worker_threads`' subclass has it), so the
 * channel stays referenced and a process that ever ran a libp2p node never exits, even after
 * `node.stop()`. Give the global class the same `unref`/`ref` the Node-compat subclass uses.
 */
import { BroadcastChannel as NodeBroadcastChannel } from "node:worker_threads";

type RefCapable = { ref?: () => unknown; unref?: () => unknown };

const proto = globalThis.BroadcastChannel?.prototype as (BroadcastChannel & RefCapable) | undefined;
const nodeProto = NodeBroadcastChannel.prototype as unknown as RefCapable;
if (proto !== undefined && typeof proto.unref !== "function" && typeof nodeProto.unref === "function") {
  Object.defineProperty(proto, "unref", { value: nodeProto.unref, configurable: true, writable: true });
  Object.defineProperty(proto, "ref", { value: nodeProto.ref, configurable: true, writable: true });
}

export const denoShimsApplied = true;
