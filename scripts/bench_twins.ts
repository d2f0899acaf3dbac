/**
 * Benchmark and catch rates of the Twins checker (`node/sim/twins.ts`): the rate of the correct core
 * over N scenarios of 4 validators with one twin, then, for each mutant of `consensus/mutant.ts`
 * and each of SEEDS seeds, the index of the first violating scenario (the number of scenarios it
 * took to catch it), with the violation. Prints one line each.
 *
 * Usage: ./cirrus --run-script scripts/bench_twins.ts [N=10000] [SEEDS=5] [MUTANT_MAX=20000]
 */
import { MUTANTS } from "../consensus/mutant.ts";
import { runTwins, TWINS_DEFAULTS } from "../node/sim/twins.ts";
import { exitOnHelp } from "./help.ts";

exitOnHelp(import.meta.url);

const n = Number(Deno.args[0] ?? 10_000);
const seeds = Number(Deno.args[1] ?? 5);
const mutantMax = Number(Deno.args[2] ?? 20_000);

const t0 = performance.now();
const ok = runTwins({ ...TWINS_DEFAULTS, scenarios: n }, { stopAtFirst: false });
const s = (performance.now() - t0) / 1000;
console.log(
  `correct core: ${ok.scenarios} scenarios (4 validators, 1 twin, seed ${TWINS_DEFAULTS.seed}) in ${
    s.toFixed(1)
  } s ` +
    `(${(s * 1000 / ok.scenarios).toFixed(2)} ms each): ${ok.violations} violations, ` +
    `${ok.equivocations} equivocations, ${ok.detected} turned into evidence`,
);
for (const mutant of MUTANTS) {
  const caught: string[] = [];
  for (let seed = 1; seed <= seeds; seed++) {
    const m = runTwins({ ...TWINS_DEFAULTS, seed, scenarios: mutantMax, mutant });
    caught.push(m.first ? `${m.scenarios}` : `not within ${mutantMax}`);
    if (seed === 1 && m.first) console.log(`  ${mutant} (seed 1): ${m.first.outcome.violations[0]}`);
  }
  console.log(`${mutant}: caught after ${caught.join(", ")} scenarios (seeds 1..${seeds})`);
}
