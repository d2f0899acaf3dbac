/**
 * The staking fault cases of `npm run test:faults` (issue 9): a double-signing validator slashed and
 * tombstoned, validator churn under tx load, a downtime jail then an unjail. Each drives real node
 * processes through staking txs sent to their RPC and reads the staking queries; the runner's checkers
 * then look for forks and account the supply (what slashing burned included).
 * @module
 */
import { loadHome } from "../../node/config.ts";
import { toHex } from "../../lib/crypto.ts";
import { parseRatePpm, PPM } from "../../node/ledger/staking_params.ts";
import { type Cluster, sleep, until } from "./cluster.ts";
import { type CaseContext, countLog, type FaultCase, progress, sendTx } from "./steps.ts";

/** A validator as `GET /query/validator/ADDR` shows it (the fields read here). */
interface ValidatorView {
  operator: string;
  tokens: string;
  active: boolean;
  jailed: boolean;
  jailedUntilMs: number;
  tombstoned: boolean;
}

const validator = (c: Cluster, i: number, address: string) =>
  c.get<ValidatorView>(i, `/query/validator/${address}`);

/** Tokens `delegator` has bonded to `op`, per node i ("0" when none). */
async function delegated(c: Cluster, i: number, delegator: string, op: string): Promise<string> {
  const r = await c.get<{ delegations: { validator: string; tokens: string }[] }>(
    i,
    `/query/delegations/${delegator}`,
  );
  return r?.delegations.find((d) => d.validator === op)?.tokens ?? "0";
}

/** Validators whose precommits are in the commit of block h, per node i. */
async function signersAt(c: Cluster, i: number, h: number): Promise<string[]> {
  return (await c.get<{ commit: { signatures: string[] } | null }>(i, `/query/block/${h}`))?.commit
    ?.signatures ?? [];
}

/** Start nodes `idx` and wait (bounded) for their first block. */
async function bootSome(ctx: CaseContext, c: Cluster, idx: number[]): Promise<void> {
  for (const i of idx) await c.start(i);
  const ms = 60_000 + 15_000 * idx.length;
  const r = await c.waitHeights(idx, 1, ms);
  ctx.say(`${idx.length} processes up, heights ${r.heights.join(",")}`);
  if (!r.ok) {
    throw new Error(`the cluster did not commit a block within ${ms / 1000} s (heights ${r.heights})`);
  }
}

const doubleSignSlashed: FaultCase = {
  name: "double-sign slashed",
  what:
    "a delegator bonds to node3, then node3 starts double-signing: it is slashed (slashFractionDoubleSign, 5%) once and " +
    "tombstoned within a few heights, its delegator loses 5%, it leaves the set, the 3 others go on",
  timeoutMs: 300_000,
  async run(ctx) {
    const c = await ctx.cluster({ validators: 4, misbehave: { 3: ["double-sign"] }, stakers: 1, senders: 2 });
    const honest = [0, 1, 2];
    await bootSome(ctx, c, honest);
    ctx.load(c, { gapMs: 400, nodes: () => honest });
    const culprit = c.nodes[3]!.validator!;
    const staker = c.stakers[0]!;
    const d = await sendTx(c, 0, staker, "staking.delegate", { validator: culprit, amount: "2000000" });
    ctx.check("a delegator bonds 2,000,000 to node3", d.ok, d.ok ? `at height ${d.height}` : `${d.reason}`);
    const before = await validator(c, 0, culprit);
    const bonded = BigInt(before?.tokens ?? "0");
    await c.start(3);
    ctx.say(`node3 started double-signing (its stake ${bonded})`);
    let after: ValidatorView | null = null;
    const caught = await until(150_000, async () => {
      after = await validator(c, 0, culprit);
      return after?.tombstoned === true;
    }, 1_000);
    const v = after as ValidatorView | null;
    // the fraction as the chain's params say (genesis.params.staking.slashFractionDoubleSign)
    const fraction = c.genesis.params.staking.slashFractionDoubleSign;
    const ppm = parseRatePpm(fraction)!;
    const expected = bonded - bonded * ppm / PPM;
    ctx.check(
      `node3 is slashed ${fraction} of its stake, jailed and tombstoned`,
      caught && v !== null && v.jailed && BigInt(v.tokens) === expected,
      v ? `tokens ${bonded} -> ${v.tokens} (expected ${expected}), jailed ${v.jailed}` : "no answer",
    );
    const records = (await c.get<{ evidence: { cons: string; height: number; includedHeight: number }[] }>(
      0,
      "/query/evidence",
    ))?.evidence ?? [];
    const mine = records.filter((r) => r.cons === culprit);
    ctx.check(
      "punished once, within a few heights of the infraction",
      mine.length === 1 && mine[0]!.includedHeight - mine[0]!.height <= 5,
      mine.map((r) => `infraction at ${r.height}, evidence in block ${r.includedHeight}`).join("; ") ||
        "no record",
    );
    const left = await delegated(c, 0, staker.address, culprit);
    const leftExpected = 2_000_000n - 2_000_000n * ppm / PPM;
    ctx.check(
      `its delegator lost ${fraction} (slashFractionDoubleSign)`,
      left === leftExpected.toString(),
      `delegation 2000000 -> ${left} (expected ${leftExpected})`,
    );
    await progress(ctx, c, honest, 8, 90_000, "the 3 others go on");
    const now = await validator(c, 0, culprit);
    ctx.check(
      "out of the set, never slashed twice",
      now !== null && !now.active && now.tokens === v?.tokens,
      `active ${now?.active}, tokens ${now?.tokens}`,
    );
    const acts = await countLog(c, 3, "misbehaving: double-sign");
    ctx.check("the switch took effect", acts > 0, `${acts} "misbehaving: double-sign" lines in node3's log`);
  },
};

/** One churn step: who sends which staking tx (`stakers[from]`), and why. */
interface ChurnStep {
  what: string;
  from: number;
  type: string;
  /** The tx body; `pubKey(i)`: node i's consensus public key (hex). */
  body: (c: Cluster, pubKey: (i: number) => string) => Record<string, unknown>;
}

const op = (c: Cluster, i: number) => c.nodes[i]!.validator!;
const stakerOp = (c: Cluster, k: number) => c.stakers[k]!.address;

/** Joiners are nodes 4 and 5; stakers 0 and 1 operate them, staker 2 delegates around. */
const CHURN: ChurnStep[] = [
  {
    what: "joiner0 becomes a validator",
    from: 0,
    type: "staking.create_validator",
    body: (_, pubKey) => ({ pubKey: pubKey(4), amount: "10000000", moniker: "joiner0", commission: "0.1" }),
  },
  {
    what: "joiner1 becomes a validator",
    from: 1,
    type: "staking.create_validator",
    body: (_, pubKey) => ({ pubKey: pubKey(5), amount: "10000000", moniker: "joiner1", commission: "0.05" }),
  },
  {
    what: "a delegation to node0",
    from: 2,
    type: "staking.delegate",
    body: (c) => ({ validator: op(c, 0), amount: "5000000" }),
  },
  {
    what: "a redelegation node0 -> joiner1",
    from: 2,
    type: "staking.redelegate",
    body: (c) => ({ src: op(c, 0), dst: stakerOp(c, 1), amount: "2000000" }),
  },
  {
    what: "joiner0's operator takes its bond back: joiner0 leaves",
    from: 0,
    type: "staking.undelegate",
    body: (c) => ({ validator: stakerOp(c, 0), amount: "10000000" }),
  },
  {
    what: "a partial undelegation from node0",
    from: 2,
    type: "staking.undelegate",
    body: (c) => ({ validator: op(c, 0), amount: "1000000" }),
  },
  {
    what: "joiner1's power falls",
    from: 1,
    type: "staking.undelegate",
    body: (c) => ({ validator: stakerOp(c, 1), amount: "5000000" }),
  },
  {
    what: "a redelegation node0 -> node2",
    from: 2,
    type: "staking.redelegate",
    body: (c) => ({ src: op(c, 0), dst: op(c, 2), amount: "1000000" }),
  },
  {
    what: "joiner1's operator takes the rest of its bond back: joiner1 leaves",
    from: 1,
    type: "staking.undelegate",
    body: (c) => ({ validator: stakerOp(c, 1), amount: "5000000" }),
  },
  {
    what: "a delegation to node1",
    from: 2,
    type: "staking.delegate",
    body: (c) => ({ validator: op(c, 1), amount: "3000000" }),
  },
];

const validatorChurn: FaultCase = {
  name: "validator churn",
  what: "4 validators and 2 joiners under tx load for ~2 min: a staking tx every ~12 s (two validators " +
    "join, delegations, redelegations, power changes, both leave): every step commits, the joiners sign " +
    "while members, the set ends as it began; no fork, supply conserved",
  timeoutMs: 420_000,
  async run(ctx) {
    const c = await ctx.cluster({ validators: 4, joiners: 2, stakers: 3, senders: 3 });
    const keys = new Map<number, string>();
    for (const i of [4, 5]) keys.set(i, toHex((await loadHome(c.nodes[i]!.home)).validatorKey.pubKey));
    const pubKey = (i: number) => keys.get(i)!;
    await bootSome(ctx, c, [0, 1, 2, 3, 4, 5]);
    ctx.load(c, { gapMs: 300, nodes: () => [0, 1, 2, 3] });
    const start = await c.maxHeight([0, 1, 2, 3]);
    let committed = 0;
    const failures: string[] = [];
    const memberSince = new Map<string, number>();
    for (const [k, step] of CHURN.entries()) {
      const r = await sendTx(c, k % 4, c.stakers[step.from]!, step.type, step.body(c, pubKey));
      if (r.ok) committed++;
      else failures.push(`${step.what}: ${r.reason}`);
      if (r.ok && step.type === "staking.create_validator") {
        memberSince.set(c.nodes[step.from + 4]!.validator!, r.height! + 2);
      }
      ctx.say(`${step.what}: ${r.ok ? `committed at ${r.height}` : `REFUSED ${r.reason}`}`);
      await sleep(12_000);
    }
    ctx.check("every churn step commits", failures.length === 0, failures.join("; ") || `${committed} steps`);
    const end = await c.maxHeight([0, 1, 2, 3]);
    const signedBy = new Map<string, number>();
    for (let h = start; h <= end; h++) {
      for (const s of await signersAt(c, 0, h)) signedBy.set(s, (signedBy.get(s) ?? 0) + 1);
    }
    const joiners = [4, 5].map((i) => c.nodes[i]!.validator!);
    ctx.check(
      "the joiners signed blocks while members",
      joiners.every((j) => (signedBy.get(j) ?? 0) > 0),
      joiners.map((j, i) => `joiner${i}: ${signedBy.get(j) ?? 0} commits`).join(", ") +
        ` (heights ${start}-${end})`,
    );
    await progress(ctx, c, [0, 1, 2, 3], 5, 60_000, "the genesis validators go on after the churn");
    const active = (await c.get<{ validators: { cons: string }[] }>(0, "/query/validators?status=active"))
      ?.validators.map((v) => v.cons).sort() ?? [];
    const genesis = [0, 1, 2, 3].map((i) => op(c, i)).sort();
    ctx.check(
      "the set ends as it began",
      JSON.stringify(active) === JSON.stringify(genesis),
      `active: ${active.map((a) => a.slice(0, 14)).join(",")}`,
    );
  },
};

const downtimeJail: FaultCase = {
  name: "downtime jail then unjail",
  what: "node3 is killed: after missing half of a 20-block window it is jailed (1% slashed) but not " +
    "tombstoned; restarted, its unjail is refused before the jail ends and accepted after; it signs again",
  timeoutMs: 300_000,
  async run(ctx) {
    const c = await ctx.cluster({
      validators: 4,
      validatorBalance: "1000000000",
      staking: {
        signedBlocksWindow: 20,
        minSignedPerWindow: "0.5",
        downtimeJailMs: 30_000,
        slashFractionDowntime: "0.01",
      },
      senders: 2,
    });
    await bootSome(ctx, c, [0, 1, 2, 3]);
    ctx.load(c, { gapMs: 300, nodes: () => [0, 1, 2] });
    const node3 = c.nodes[3]!.validator!;
    await progress(ctx, c, [0, 1, 2, 3], 3, 60_000, "all 4 commit");
    const bonded = BigInt((await validator(c, 0, node3))?.tokens ?? "0");
    await c.kill(3, "SIGKILL");
    ctx.say("node3 killed");
    let jailed: ValidatorView | null = null;
    const gotJailed = await until(120_000, async () => {
      jailed = await validator(c, 0, node3);
      return jailed?.jailed === true;
    }, 1_000);
    const j = jailed as ValidatorView | null;
    const expected = bonded - bonded / 100n;
    ctx.check(
      "jailed for downtime, slashed 1%, not tombstoned",
      gotJailed && j !== null && !j.tombstoned && BigInt(j.tokens) === expected,
      j ? `tokens ${bonded} -> ${j.tokens} (expected ${expected}), until ${j.jailedUntilMs}` : "no answer",
    );
    await c.start(3);
    const key = (await loadHome(c.nodes[3]!.home)).validatorKey;
    const operator = { address: key.address, privKey: key.privKey };
    const early = await sendTx(c, 0, operator, "staking.unjail", {});
    ctx.check("an unjail before the jail ends is refused", !early.ok, `${early.reason ?? "accepted"}`);
    const ended = await until(90_000, async () => {
      const b = await c.get<{ time: number }>(0, "/query/block/latest");
      return b !== null && j !== null && b.time > j.jailedUntilMs;
    }, 1_000);
    const late = await sendTx(c, 1, operator, "staking.unjail", {});
    ctx.check(
      "after the jail, the unjail commits",
      ended && late.ok,
      late.ok ? `at ${late.height}` : `${late.reason}`,
    );
    const from = late.height ?? (await c.maxHeight([0]));
    const signs = await until(90_000, async () => {
      const top = await c.maxHeight([0]);
      for (let h = from + 2; h <= top; h++) if ((await signersAt(c, 0, h)).includes(node3)) return true;
      return false;
    }, 1_000);
    ctx.check(
      "node3 signs again",
      signs,
      `a commit after height ${from + 2} carries node3's precommit: ${signs}`,
    );
  },
};

/** The staking cases, in running order. */
export const STAKING_CASES: FaultCase[] = [doubleSignSlashed, validatorChurn, downtimeJail];
