/**
 * `cirrus sim twins`: the Twins checker (`node/sim/twins.ts`). Runs generated scenarios of twinned
 * validators (two nodes with one key) under per-round partitions on the real consensus core, checks
 * safety, liveness after the partitions heal, and evidence; prints `{scenarios, violations, seconds}`
 * and exits 1 on a violation, writing the first violating scenario with its trace to `--trace FILE`
 * (run it again with `--replay FILE`). `--mutant NAME` runs a deliberately broken rule instead.
 * @module
 */
import type { Command } from "commander";
import { MUTANTS } from "../consensus/mutant.ts";
import {
  checkTwinsConfig,
  parseTwinsScenario,
  runTwins,
  runTwinsScenario,
  TWINS_DEFAULTS,
  type TwinsConfig,
  TwinsConfigError,
  type TwinsOutcome,
  type TwinsScenario,
} from "../node/sim/twins.ts";
import { ExitCode, globals, UserError } from "./util.ts";

/** Flags of `cirrus sim twins` (as commander gives them). */
export interface SimTwinsFlags {
  validators?: string;
  twins?: string;
  partitions?: string;
  rounds?: string;
  heights?: string;
  scenarios?: string;
  seed?: string;
  mutant?: string;
  trace?: string;
  replay?: string;
}

/** Version of the trace file's format. */
export const TWINS_TRACE_VERSION = 1;

/** What `--trace` writes and `--replay` reads. */
export interface TwinsTraceFile {
  version: number;
  config: TwinsConfig;
  scenario: TwinsScenario;
  violations: string[];
  trace: string[];
}

/**
 * The configuration of a run from the defaults and the flags.
 * @throws UserError naming the flag that is wrong.
 */
export function twinsConfigOf(f: SimTwinsFlags): TwinsConfig {
  const num = (name: string, v: string | undefined, d: number): number => {
    if (v === undefined) return d;
    const x = Number(v);
    if (v.trim() === "" || !Number.isSafeInteger(x)) {
      throw new UserError(`--${name}: expected a whole number, got "${v}"`);
    }
    return x;
  };
  if (f.mutant !== undefined && !(MUTANTS as readonly string[]).includes(f.mutant)) {
    throw new UserError(`--mutant: unknown "${f.mutant}"; one of ${MUTANTS.join(", ")}`);
  }
  const d = TWINS_DEFAULTS;
  const c: TwinsConfig = {
    validators: num("validators", f.validators, d.validators),
    twins: num("twins", f.twins, d.twins),
    partitions: num("partitions", f.partitions, d.partitions),
    rounds: num("rounds", f.rounds, d.rounds),
    heights: num("heights", f.heights, d.heights),
    scenarios: num("scenarios", f.scenarios, d.scenarios),
    seed: num("seed", f.seed, d.seed),
    mutant: (f.mutant ?? null) as TwinsConfig["mutant"],
  };
  try {
    return checkTwinsConfig(c);
  } catch (e) {
    if (e instanceof TwinsConfigError) throw new UserError(`--${e.message}`);
    throw e;
  }
}

/**
 * Reads a `--trace` file back.
 * @throws UserError when it cannot be read or is not a Twins trace.
 */
export async function readTwinsTrace(
  path: string,
): Promise<{ config: TwinsConfig; scenario: TwinsScenario }> {
  let doc: Partial<TwinsTraceFile>;
  try {
    doc = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw new UserError(`Cannot read replay file ${path}: ${(e as Error).message}`);
  }
  if (typeof doc !== "object" || doc === null || doc.version !== TWINS_TRACE_VERSION) {
    throw new UserError(`Cannot replay ${path}: not a Twins trace of version ${TWINS_TRACE_VERSION}`);
  }
  try {
    const config = checkTwinsConfig({ ...TWINS_DEFAULTS, ...doc.config, scenarios: 1 });
    return { config, scenario: parseTwinsScenario(doc.scenario, config) };
  } catch (e) {
    if (e instanceof TwinsConfigError || e instanceof TypeError) {
      throw new UserError(`Cannot replay ${path}: ${e.message}`);
    }
    throw e;
  }
}

async function writeTrace(path: string, config: TwinsConfig, scenario: TwinsScenario, o: TwinsOutcome) {
  const file: TwinsTraceFile = {
    version: TWINS_TRACE_VERSION,
    config,
    scenario,
    violations: o.violations,
    trace: o.trace,
  };
  await Deno.writeTextFile(path, JSON.stringify(file, null, 1) + "\n");
}

/** Registers `twins` under the `sim` command. */
export function addSimTwinsCommand(sim: Command): void {
  sim.command("twins")
    .description(
      "Twins checker: validators run twice (equivocation, amnesia) under per-round partitions on the " +
        "real consensus core; checks safety, liveness after healing and evidence (exit 1 on a violation)",
    )
    .option("--validators <n>", `validators, 4 or 7 (default ${TWINS_DEFAULTS.validators})`)
    .option("--twins <n>", `twinned validators, at most f (default ${TWINS_DEFAULTS.twins})`)
    .option("--partitions <p>", `most groups per round's partition (default ${TWINS_DEFAULTS.partitions})`)
    .option(
      "--rounds <r>",
      `partitioned rounds (steps of Tendermint rounds) (default ${TWINS_DEFAULTS.rounds})`,
    )
    .option("--heights <h>", `heights every honest node must decide (default ${TWINS_DEFAULTS.heights})`)
    .option("--scenarios <n>", `scenarios to run (default ${TWINS_DEFAULTS.scenarios})`)
    .option("--seed <s>", `seed (default ${TWINS_DEFAULTS.seed})`)
    .option("--mutant <name>", `run a deliberately broken rule: ${MUTANTS.join(", ")}`)
    .option("--trace <file>", "where to write the first violating scenario and its trace", "twins-trace.json")
    .option("--replay <file>", "run the scenario of a trace file again and print its trace")
    .action(async (_o: SimTwinsFlags, cmd: Command) => {
      const g = globals(cmd);
      // `sim` has --validators, --heights and --seed too: commander gives them to it when they follow
      // `twins`, so read the merged options.
      const o = cmd.optsWithGlobals() as SimTwinsFlags;
      const t0 = performance.now();
      if (o.replay !== undefined) {
        const { config, scenario } = await readTwinsTrace(o.replay);
        const outcome = runTwinsScenario(config, scenario, { trace: true });
        const seconds = Math.round(performance.now() - t0) / 1000;
        if (g.output === "json") {
          console.log(
            JSON.stringify({
              scenarios: 1,
              violations: outcome.violations.length > 0 ? 1 : 0,
              seconds,
              details: outcome.violations,
              trace: outcome.trace,
            }),
          );
        } else {
          console.log(outcome.trace.join("\n"));
          console.log(outcome.violations.length > 0 ? outcome.violations.join("\n") : "no violation");
        }
        if (outcome.violations.length > 0) throw new ExitCode(1);
        return;
      }
      const c = twinsConfigOf(o);
      let lastPrint = t0;
      const summary = runTwins(c, {
        progressEvery: 100,
        onProgress: (done) => {
          const now = performance.now();
          if (g.output === "json" || now - lastPrint < 2000) return;
          lastPrint = now;
          const rate = done / ((now - t0) / 1000);
          console.error(
            `${done}/${c.scenarios} scenarios, ${rate.toFixed(0)}/s, ETA ${
              ((c.scenarios - done) / rate).toFixed(0)
            } s`,
          );
        },
      });
      const seconds = Math.round(performance.now() - t0) / 1000;
      const result = {
        scenarios: summary.scenarios,
        violations: summary.violations,
        seconds,
        seed: c.seed,
        mutant: c.mutant,
        equivocations: summary.equivocations,
        evidenced: summary.detected,
        messages: summary.messages,
        ...(summary.first ? { trace: o.trace, first: summary.first.outcome.violations } : {}),
      };
      if (summary.first) {
        await writeTrace(o.trace ?? "twins-trace.json", c, summary.first.scenario, summary.first.outcome);
      }
      if (g.output === "json") console.log(JSON.stringify(result));
      else {
        console.log(
          `${result.scenarios} scenarios (seed ${c.seed}${
            c.mutant ? `, mutant ${c.mutant}` : ""
          }) in ${seconds} s: ` +
            `${result.violations} with a violation; ${result.equivocations} equivocations, ${result.evidenced} turned into evidence`,
        );
        if (summary.first) {
          console.log(
            `scenario ${summary.first.scenario.index}: ${summary.first.outcome.violations.join("; ")}`,
          );
          console.log(`trace written to ${o.trace}; replay with: cirrus sim twins --replay ${o.trace}`);
        }
      }
      if (summary.violations > 0) throw new ExitCode(1);
    });
}
