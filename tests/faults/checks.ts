/**
 * The checkers run after every fault case, on the stores of the stopped nodes and their logs:
 * - no fork: no two nodes hold different blocks at one height;
 * - set check (Jepsen): every tx a client saw committed is in the chain exactly once on every node
 *   that reached its height, and no node holds a tx twice;
 * - app hashes agree: a node's state at height h has the app hash that block h+1 (on any node) names,
 *   and nodes at one height have one app hash;
 * - supply conserved: the sum of balances and module-held funds is the recorded supply, and the
 *   recorded supply is the genesis supply minus what slashing burned plus what inflation minted (the
 *   blocks are replayed from genesis to add up the `staking.slash` and `rewards` events; the replay also
 *   re-derives every app hash);
 * - no honest double-sign: no node logged duplicate-vote evidence against an honest validator.
 * @module
 */
import { join } from "node:path";
import { Store } from "../../node/ledger/store.ts";
import { decodeBlock } from "../../node/ledger/block.ts";
import { txId } from "../../node/ledger/tx.ts";
import { executeBlock, LedgerState, totalSupply } from "../../node/ledger/state.ts";
import type { SignedTx } from "../../node/ledger/tx.ts";
import type { Genesis } from "../../node/ledger/genesis.ts";
import { cirrusLedger } from "../../node/ledger/default_ledger.ts";
import { genesisSupply as genesisSupplyOf } from "../../node/ledger/genesis.ts";
import type { Cluster } from "./cluster.ts";

/** One check's outcome. */
export interface Check {
  what: string;
  ok: boolean;
  detail: string;
}

/** Evidence lines of a log: validator addresses named by "duplicate vote evidence". */
export function evidenceAgainst(log: string): string[] {
  const out: string[] = [];
  for (const line of log.split("\n")) {
    if (!line.includes("duplicate vote evidence")) continue;
    const m = /validator=(\S+)/.exec(line);
    if (m) out.push(m[1]!);
  }
  return out;
}

interface NodeChain {
  name: string;
  height: number;
  appHash: string;
  hashes: string[]; // index h-1
  appHashOfBlock: string[]; // header.appHash of block h (state after h-1)
  txCount: Map<string, number>;
  txHeight: Map<string, number>;
  supplyOk: string | null;
  /** The recorded supply and what slashing and inflation changed. */
  supply: string;
}

/** Sum of the `attr` attributes of events of type `type`. */
function sumEvents(
  events: { type: string; attrs: Record<string, string> }[],
  type: string,
  attr: string,
): bigint {
  let sum = 0n;
  for (const e of events) if (e.type === type && e.attrs[attr] !== undefined) sum += BigInt(e.attrs[attr]);
  return sum;
}

async function readNode(
  dir: string,
  name: string,
  genesis: Genesis,
  genesisSupply: bigint,
): Promise<NodeChain | null> {
  let store: Store;
  try {
    store = await Store.open(join(dir, "data", "ledger"));
  } catch {
    return null;
  }
  try {
    const state = await store.loadState(cirrusLedger());
    if (!state) return null;
    const height = state.height;
    const hashes: string[] = [];
    const appHashOfBlock: string[] = [];
    const txCount = new Map<string, number>();
    const txHeight = new Map<string, number>();
    // Replay from genesis: what slashing burned and inflation minted, and each app hash re-derived.
    const replay = LedgerState.fromGenesis(genesis, cirrusLedger());
    let burned = 0n, minted = 0n;
    let replayProblem: string | null = null;
    for (let h = 1; h <= height; h++) {
      hashes.push((await store.getBlockHashAt(h)) ?? "");
      const bytes = await store.getBlock(h);
      if (!bytes) {
        appHashOfBlock.push("");
        continue;
      }
      const block = decodeBlock(bytes, { maxBlockBytes: Number.MAX_SAFE_INTEGER });
      appHashOfBlock.push(block.header.appHash);
      if (replayProblem === null) {
        const stxs: SignedTx[] = [];
        for (const t of block.txs) {
          const d = replay.ledger.decodeTx(t, { maxTxBytes: Number.MAX_SAFE_INTEGER });
          if (d.ok) stxs.push(d.stx);
        }
        const exec = executeBlock(replay, {
          height: h,
          proposer: block.header.proposer,
          time: block.header.time,
          txs: stxs,
          signing: {
            lastCommitSigners: (block.lastCommit?.signatures.map((x) => x.validator) ?? []).sort(),
            evidence: block.evidence,
          },
        });
        const events = [...exec.beginEvents, ...exec.endEvents, ...exec.results.flatMap((r) => r.events)];
        burned += sumEvents(events, "staking.slash", "burned");
        minted += sumEvents(events, "rewards", "minted");
        replay.apply(exec.writes, h, exec.appHash);
        const next = h < height ? await store.getBlock(h + 1) : undefined;
        const stored = next
          ? decodeBlock(next, { maxBlockBytes: Number.MAX_SAFE_INTEGER }).header.appHash
          : state.appHash;
        if (exec.appHash !== stored) replayProblem = `replaying block ${h} gives another app hash`;
      }
      for (const t of block.txs) {
        const id = txId(t);
        txCount.set(id, (txCount.get(id) ?? 0) + 1);
        txHeight.set(id, h);
      }
    }
    const sum = totalSupply(state);
    const expected = genesisSupply - burned + minted;
    const supplyOk = replayProblem ??
      (sum === state.supply && state.supply === expected
        ? null
        : `balances+held ${sum}, recorded ${state.supply}, genesis ${genesisSupply} - burned ${burned} + minted ${minted}`);
    const accounted = burned > 0n || minted > 0n ? ` (burned ${burned}, minted ${minted})` : "";
    return {
      name,
      height,
      appHash: state.appHash,
      hashes,
      appHashOfBlock,
      txCount,
      txHeight,
      supplyOk,
      supply: `${state.supply}${accounted}`,
    };
  } finally {
    await store.close();
  }
}

/** Run every checker on a STOPPED cluster; `committed`: tx ids a client saw committed (id -> height). */
export async function runCheckers(c: Cluster, committed: ReadonlyMap<string, number>): Promise<Check[]> {
  const checks: Check[] = [];
  const genesisSupply = genesisSupplyOf(c.genesis);
  const chains: NodeChain[] = [];
  for (const n of c.nodes) {
    if (n.starts === 0) continue;
    const ch = await readNode(n.home, n.name, c.genesis, genesisSupply);
    if (ch) chains.push(ch);
  }
  // No fork.
  const forks: string[] = [];
  const maxH = Math.max(0, ...chains.map((x) => x.height));
  for (let h = 1; h <= maxH; h++) {
    const seen = new Map<string, string[]>();
    for (const ch of chains) {
      const hash = ch.hashes[h - 1];
      if (hash === undefined) continue;
      seen.set(hash, [...(seen.get(hash) ?? []), ch.name]);
    }
    if (seen.size > 1) {
      forks.push(`h${h}: ${[...seen].map(([k, v]) => `${k.slice(0, 12)}@${v.join("+")}`).join(" vs ")}`);
    }
  }
  checks.push({
    what: "no fork",
    ok: forks.length === 0,
    detail: forks.length === 0
      ? `${chains.length} stores, heights ${chains.map((x) => `${x.name}:${x.height}`).join(" ")}`
      : forks.slice(0, 3).join("; "),
  });
  // Set check.
  const setProblems: string[] = [];
  for (const ch of chains) {
    for (const [id, n] of ch.txCount) {
      if (n > 1) setProblems.push(`${ch.name} holds ${id.slice(0, 12)} ${n}x`);
    }
    for (const [id, h] of committed) {
      if (ch.height < h) continue;
      const n = ch.txCount.get(id) ?? 0;
      if (n !== 1) setProblems.push(`${ch.name}: committed tx ${id.slice(0, 12)} (h${h}) found ${n}x`);
    }
  }
  const lagging = chains.filter((ch) => [...committed.values()].some((h) => ch.height < h)).map((x) =>
    x.name
  );
  checks.push({
    what: "set check",
    ok: setProblems.length === 0,
    detail: setProblems.length === 0
      ? `${committed.size} committed txs present once on every node` +
        (lagging.length > 0 ? ` (below some tx heights: ${lagging.join(",")})` : "")
      : `${setProblems.length} problems: ${setProblems.slice(0, 3).join("; ")}`,
  });
  // App hashes.
  const appProblems: string[] = [];
  for (const ch of chains) {
    for (const other of chains) {
      const next = other.appHashOfBlock[ch.height]; // block ch.height+1
      if (next !== undefined && next !== "" && next !== ch.appHash) {
        appProblems.push(
          `${ch.name}@${ch.height} app hash ${ch.appHash.slice(0, 12)} vs ${other.name}'s block`,
        );
      }
      if (other.height === ch.height && other.appHash !== ch.appHash) {
        appProblems.push(`${ch.name} and ${other.name} at ${ch.height} differ`);
      }
    }
  }
  checks.push({
    what: "app hashes agree",
    ok: appProblems.length === 0,
    detail: appProblems.length === 0 ? "every state matches the next block's app hash" : appProblems[0]!,
  });
  // Supply.
  const supply = chains.filter((ch) => ch.supplyOk !== null).map((ch) => `${ch.name}: ${ch.supplyOk}`);
  checks.push({
    what: "supply conserved",
    ok: supply.length === 0,
    detail: supply.length === 0
      ? `genesis ${genesisSupply}; ${[...new Set(chains.map((ch) => ch.supply))].join(" / ")}`
      : supply[0]!,
  });
  // Honest double-sign.
  const honest = c.honestAddresses;
  const against: string[] = [];
  for (const n of c.nodes) {
    for (const v of evidenceAgainst(await c.log(n.index))) {
      if (honest.has(v)) against.push(`${n.name} saw ${v.slice(0, 16)}`);
    }
  }
  checks.push({
    what: "no honest double-sign",
    ok: against.length === 0,
    detail: against.length === 0 ? "no evidence against an honest validator" : against.slice(0, 3).join("; "),
  });
  return checks;
}
