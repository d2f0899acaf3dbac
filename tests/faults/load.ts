/**
 * Steady transaction load for the fault suite, as a Jepsen client: each sender signs `bank.send`s with
 * consecutive nonces and posts them (with `wait`) to a random running node; an unclear outcome (node
 * killed, timeout, refused as a duplicate) is resolved by re-posting the SAME bytes or by asking a node
 * for the tx. Every tx a client saw committed is recorded, for the set check.
 * @module
 */
import { addressOf, generatePrivateKey, publicKeyOf, toHex } from "../../lib/crypto.ts";
import { signTx, txId } from "../../node/ledger/tx.ts";
import { type Cluster, sleep } from "./cluster.ts";

/** What the load saw. */
export interface LoadResult {
  /** Tx ids a client saw committed (ok or failed in the block), with the height. */
  committed: Map<string, number>;
  /** Txs signed. */
  sent: number;
  /** Txs still unresolved when the load stopped. */
  unresolved: number;
}

/** A running load; `stop()` ends it (bounded) and returns what it saw. */
export interface Load {
  stop(): Promise<LoadResult>;
  /** Committed so far. */
  readonly committed: Map<string, number>;
}

/** Start one loop per sender of `c`, each sending a tx every `gapMs` at most. */
export function startLoad(c: Cluster, opts: { gapMs?: number; nodes?: () => number[] } = {}): Load {
  const committed = new Map<string, number>();
  let stopping = false;
  let sent = 0;
  let unresolved = 0;
  const gapMs = opts.gapMs ?? 300;
  const nodes = opts.nodes ?? (() => c.running);
  const bob = addressOf(publicKeyOf(generatePrivateKey()));
  const pick = () => {
    const live = nodes();
    return live.length === 0 ? null : live[Math.floor(Math.random() * live.length)]!;
  };
  /** Was the tx committed, per some node? height, or null when no node knows it as committed. */
  const lookup = async (id: string): Promise<number | null> => {
    for (const i of nodes()) {
      const r = await c.get<{ height?: number; pending?: boolean }>(i, `/query/tx/${id}`, 2_000);
      if (r && typeof r.height === "number") return r.height;
    }
    return null;
  };
  const loop = async (k: number) => {
    const s = c.senders[k]!;
    let nonce = 0n;
    while (!stopping) {
      const bytes = await signTx({
        chainId: c.genesis.chainId,
        type: "bank.send",
        from: s.address,
        nonce,
        fee: 1n,
        body: { to: bob, amount: "1" },
      }, s.privKey);
      const id = txId(bytes);
      sent++;
      let done = false;
      while (!done) {
        if (stopping) {
          const h = await lookup(id);
          if (h !== null) committed.set(id, h);
          else unresolved++;
          return;
        }
        const i = pick();
        if (i === null) {
          await sleep(200);
          continue;
        }
        try {
          const res = await fetch(`${c.rpc(i)}/tx`, {
            method: "POST",
            body: JSON.stringify({ tx: toHex(bytes), wait: true, timeoutMs: 8_000 }),
            signal: AbortSignal.timeout(10_000),
          });
          const r = await res.json() as { ok?: boolean; height?: number; error?: string };
          if (res.status === 200 && typeof r.height === "number") {
            committed.set(id, r.height);
            done = true;
            break;
          }
        } catch { /* killed or slow: resolve below */ }
        const h = await lookup(id);
        if (h !== null) {
          committed.set(id, h);
          done = true;
        } else {
          await sleep(300);
        }
      }
      nonce++;
      await sleep(gapMs);
    }
  };
  const loops = c.senders.map((_, k) => loop(k));
  return {
    committed,
    async stop() {
      stopping = true;
      await Promise.race([Promise.all(loops), sleep(30_000)]);
      return { committed, sent, unresolved };
    },
  };
}
