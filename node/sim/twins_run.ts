/**
 * Runs Twins scenarios (`twins_scenario.ts`) on {@link TwinsNode}s over a tiny discrete-event
 * network, and checks each:
 * - safety: no two different blocks decided at one height by any two nodes (honest nodes and the
 *   twins' views alike: each twin runs the honest code and must not be fooled either), and every
 *   decision's commit carries precommits of more than 2/3 of the power;
 * - liveness: once the partitions heal (every running node past the last scheduled round, or
 *   `healMs` of simulated time), every honest node decides every height within `liveMs`;
 * - evidence: every equivocation an honest node saw (two different votes of one validator for one
 *   height, round and type reaching its core) made that node's core output duplicate-vote evidence.
 *
 * Network: every message is delivered after `latencyMs` + [0, `jitterMs`) ms drawn from the
 * scenario's seed, except a proposal or vote of a scheduled (height, round) between nodes of
 * different groups of that round's partition, which is dropped while the partitions last. Events
 * at one instant run in the order they were scheduled. Deterministic: one scenario, one outcome.
 * @module
 */
import { MinHeap } from "../../lib/min_heap.ts";
import { type Rng, seededRng } from "../../lib/rng.ts";
import { type Hex, ValidatorSet } from "../../consensus/mod.ts";
import { nodeNames, type TwinsConfig, type TwinsScenario } from "./twins_scenario.ts";
import { commitHasQuorum, type TwinsEnv, type TwinsMessage, TwinsNode } from "./twins_node.ts";

/** Timing of a Twins run, simulated ms. */
export interface TwinsTiming {
  latencyMs: number;
  jitterMs: number;
  timeoutProposeMs: number;
  timeoutPrevoteMs: number;
  timeoutPrecommitMs: number;
  timeoutDeltaMs: number;
  commitDelayMs: number;
  rebroadcastMs: number;
  /** The partitions end by this time at the latest. */
  healMs: number;
  /** Honest nodes must decide every height within this long after the heal. */
  liveMs: number;
}

/** The default timing: 5-15 ms links, short timeouts growing 20 ms per round. */
export const TWINS_TIMING: TwinsTiming = {
  latencyMs: 5,
  jitterMs: 10,
  timeoutProposeMs: 60,
  timeoutPrevoteMs: 30,
  timeoutPrecommitMs: 30,
  timeoutDeltaMs: 20,
  commitDelayMs: 5,
  rebroadcastMs: 200,
  healMs: 3_000,
  liveMs: 10_000,
};

/** What one scenario did. */
export interface TwinsOutcome {
  index: number;
  violations: string[];
  /** Simulated ms at the end. */
  simulatedMs: number;
  messages: number;
  /** Validator/height/round/type with two different signed votes. */
  equivocations: number;
  /** Of those, how many some honest node turned into evidence. */
  detected: number;
  /** Trace lines when asked for. */
  trace: string[];
}

const CHAIN_ID = "cirrus-twins";

interface Event {
  at: number;
  seq: number;
  fn: () => void;
}

function lt(x: Event, y: Event): boolean {
  return x.at !== y.at ? x.at < y.at : x.seq < y.seq;
}

/** Validator sets per height for `n` validators of power 1 (cached: every scenario shares them). */
const validatorSets = new Map<number, ValidatorSet[]>();
function setsFor(n: number, heights: number): ValidatorSet[] {
  let sets = validatorSets.get(n);
  if (!sets) {
    const base = new ValidatorSet(
      [...Array(n).keys()].map((i) => ({ address: `v${i}`, pubKey: new Uint8Array(32), power: 1n })),
    );
    sets = [base];
    validatorSets.set(n, sets);
  }
  while (sets.length < heights) sets.push(sets[sets.length - 1]!.advance(1));
  return sets;
}

/**
 * Runs one scenario and checks it (see the module doc).
 * @param c the run's configuration (validators, heights, mutant).
 * @param s the scenario.
 * @param opts `trace`: keep trace lines; `timing`: override {@link TWINS_TIMING}.
 * @returns the outcome; `violations` is empty when every check held.
 */
export function runTwinsScenario(
  c: TwinsConfig,
  s: TwinsScenario,
  opts: { trace?: boolean; timing?: Partial<TwinsTiming> } = {},
): TwinsOutcome {
  const t = { ...TWINS_TIMING, ...opts.timing };
  const sets = setsFor(c.validators, c.heights);
  const names = nodeNames(s);
  const twinned = new Set(s.twinned);
  const honest = s.nodeValidator.map((v) => !twinned.has(v));
  const rng: Rng = seededRng(s.seed);
  const queue = new MinHeap<Event>(lt);
  let now = 0, seq = 0, messages = 0;
  const trace: string[] = [];
  const violations: string[] = [];
  // Partition of each scheduled (height, round): group of each node.
  const slotGroups = new Map<number, Int8Array>();
  const stepIndex = { propose: 0, prevote: 1, precommit: 2 } as const;
  const slotKey = (h: number, r: number, st: keyof typeof stepIndex) => (h * 100_000 + r) * 4 + stepIndex[st];
  for (const slot of s.slots) {
    const g = new Int8Array(s.nodeValidator.length).fill(-1);
    slot.groups.forEach((members, i) => members.forEach((m) => g[m] = i));
    slotGroups.set(slotKey(slot.height, slot.round, slot.step), g);
  }
  const last = s.slots[s.slots.length - 1];
  let healedAt = last === undefined ? 0 : -1;
  const at = (ms: number, fn: () => void) => queue.push({ at: now + ms, seq: seq++, fn });
  const decided = new Map<number, { blockHash: Hex; node: string }>();
  // Evidence check: per honest node, first vote value per (validator, height, round, type).
  const firstVote = s.nodeValidator.map(() => new Map<string, string>());
  const mustReport = s.nodeValidator.map(() => new Set<string>());
  const reported = s.nodeValidator.map(() => new Set<string>());
  const signedValues = new Map<string, Set<string>>();
  const tracing = opts.trace ?? false;
  const crashed = new Set<TwinsScenario["restarts"][number]>();
  const env: TwinsEnv = {
    chainId: CHAIN_ID,
    timeouts: {
      proposeMs: t.timeoutProposeMs,
      prevoteMs: t.timeoutPrevoteMs,
      precommitMs: t.timeoutPrecommitMs,
      deltaMs: t.timeoutDeltaMs,
    },
    heights: c.heights,
    mutant: c.mutant,
    commitDelayMs: t.commitDelayMs,
    rebroadcastMs: t.rebroadcastMs,
    now: () => now,
    validators: (h) => sets[h - 1]!,
    broadcast: (from, msg) => {
      if (msg.kind === "vote") {
        const v = msg.signed.vote;
        const k = `${v.validator}/${v.height}/${v.round}/${v.type}`;
        let values = signedValues.get(k);
        if (!values) signedValues.set(k, values = new Set());
        values.add(v.blockHash ?? "nil");
      }
      for (let to = 0; to < nodes.length; to++) if (to !== from.index) env.send(from, to, msg);
    },
    send: (from, to, msg) => {
      messages++;
      if ((msg.kind === "proposal" || msg.kind === "vote") && healedAt < 0) {
        const g = slotGroups.get(
          msg.kind === "proposal"
            ? slotKey(msg.proposal.height, msg.proposal.round, "propose")
            : slotKey(msg.signed.vote.height, msg.signed.vote.round, msg.signed.vote.type),
        );
        if (g !== undefined && g[from.index] !== g[to]) {
          if (tracing) trace.push(`${now} ${from.name} -x ${names[to]} ${describe(msg)} (partition)`);
          return;
        }
      }
      const delay = t.latencyMs + (t.jitterMs > 0 ? Math.floor(rng() * t.jitterMs) : 0);
      at(delay, () => {
        if (tracing) trace.push(`${now} ${from.name} -> ${names[to]} ${describe(msg)}`);
        nodes[to]!.receive(from.index, msg);
      });
    },
    schedule: (node, ms, fn) => {
      const incarnation = node.incarnation;
      at(ms, () => {
        if (node.incarnation === incarnation && node.up) fn();
      });
    },
    onSigned: (node, h, r, st) => {
      for (const c of s.restarts) {
        if (c.node !== node.index || c.height !== h || c.round !== r || c.step !== st || crashed.has(c)) {
          continue;
        }
        crashed.add(c);
        at(0, () => {
          if (tracing) trace.push(`${now} ${node.name} crashes`);
          node.crash();
        });
        at(c.downMs, () => {
          if (tracing) trace.push(`${now} ${node.name} restarts`);
          node.restart();
        });
      }
    },
    onVoteFed: (node, signed) => {
      if (!honest[node.index]) return;
      const v = signed.vote;
      const k = `${v.validator}/${v.height}/${v.round}/${v.type}`;
      const value = v.blockHash ?? "nil";
      const first = firstVote[node.index]!.get(k);
      if (first === undefined) firstVote[node.index]!.set(k, value);
      else if (first !== value) mustReport[node.index]!.add(k);
    },
    onEvidence: (node, ev) => {
      const v = ev.a.vote;
      reported[node.index]!.add(`${v.validator}/${v.height}/${v.round}/${v.type}`);
      if (tracing) {
        trace.push(`${now} ${node.name} evidence against ${v.validator} h${v.height} r${v.round} ${v.type}`);
      }
    },
    onDecide: (node, h, blockHash, commit, how) => {
      if (tracing) trace.push(`${now} ${node.name} decides h${h} ${blockHash} (${how})`);
      if (!commitHasQuorum(CHAIN_ID, sets[h - 1]!, blockHash, commit) && violations.length < 10) {
        violations.push(
          `safety: height ${h}: ${node.name} decided ${blockHash} with a commit of ${commit.signatures.length} ` +
            `precommits, not more than 2/3 of the power`,
        );
      }
      const first = decided.get(h);
      if (first === undefined) decided.set(h, { blockHash, node: node.name });
      else if (first.blockHash !== blockHash && violations.length < 10) {
        violations.push(
          `safety: height ${h}: ${first.node} decided ${first.blockHash}, ${node.name} decided ${blockHash}`,
        );
      }
    },
    trace: tracing ? (line) => trace.push(line) : null,
  };
  const nodes = s.nodeValidator.map((v, i) => new TwinsNode(env, i, names[i]!, `v${v}`));
  if (tracing) {
    trace.push(`twinned ${s.twinned.map((v) => `v${v}`).join(",") || "none"}; nodes ${names.join(",")}`);
    for (const slot of s.slots) {
      const leader = sets[slot.height - 1]?.proposerForRound(slot.round).address ?? "?";
      trace.push(
        `slot h${slot.height} r${slot.round} ${slot.step} leader ${leader}: ` +
          slot.groups.map((g) => g.map((i) => names[i]).join(",")).join(" | "),
      );
    }
  }
  for (const node of nodes) node.start();
  const pastLast = () =>
    last !== undefined &&
    nodes.every((n) => !n.up || n.height > last.height || (n.height === last.height && n.round > last.round));
  const done = () => nodes.every((n, i) => !honest[i] || n.decisions.size >= c.heights);
  while (queue.size > 0 && violations.length === 0 && !done()) {
    const e = queue.pop()!;
    now = e.at;
    if (healedAt < 0 && (now >= t.healMs || pastLast())) {
      healedAt = now;
      if (tracing) trace.push(`${now} partitions heal`);
    }
    if (healedAt >= 0 && now > healedAt + t.liveMs) break;
    e.fn();
  }
  if (violations.length === 0 && !done()) {
    const stuck = nodes.filter((n, i) => honest[i] && n.decisions.size < c.heights)
      .map((n) => `${n.name} at height ${n.height} round ${n.round}`);
    violations.push(
      `liveness: ${t.liveMs} ms after the partitions healed (at ${healedAt} ms), ${stuck.join(", ")}`,
    );
  }
  for (let i = 0; i < nodes.length; i++) {
    for (const k of mustReport[i]!) {
      if (!reported[i]!.has(k)) {
        violations.push(`evidence: ${names[i]} saw ${k} equivocate, reported nothing`);
      }
    }
  }
  let equivocations = 0, detected = 0;
  for (const [k, values] of signedValues) {
    if (values.size < 2) continue;
    equivocations++;
    if (reported.some((r, i) => honest[i] && r.has(k))) detected++;
  }
  return { index: s.index, violations, simulatedMs: now, messages, equivocations, detected, trace };
}

function describe(msg: TwinsMessage): string {
  if (msg.kind === "proposal") {
    const p = msg.proposal;
    return `proposal h${p.height} r${p.round} ${p.blockHash} pol ${p.polRound}`;
  }
  if (msg.kind === "vote") {
    const v = msg.signed.vote;
    return `${v.type} h${v.height} r${v.round} ${v.blockHash ?? "nil"}`;
  }
  if (msg.kind === "status") return `status h${msg.height}`;
  return `commit h${msg.height} ${msg.blockHash}`;
}
