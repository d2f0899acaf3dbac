/**
 * Twins mode of the simulator (issue 10, item 4): many generated scenarios of equivocating and
 * amnesiac validator twins under per-round partitions, each checked for safety, liveness after the
 * partitions heal, and evidence (see `twins_run.ts`); `mutant` proves the checks catch broken rules.
 * @module
 */
import { checkTwinsConfig, type TwinsConfig, type TwinsScenario, twinsScenario } from "./twins_scenario.ts";
import { runTwinsScenario, type TwinsOutcome, type TwinsTiming } from "./twins_run.ts";

export * from "./twins_scenario.ts";
export { runTwinsScenario, TWINS_TIMING, type TwinsOutcome, type TwinsTiming } from "./twins_run.ts";

/** The summary of a Twins run. */
export interface TwinsSummary {
  /** Scenarios run (fewer than asked when it stopped at the first violation). */
  scenarios: number;
  /** Scenarios with at least one violation. */
  violations: number;
  /** Equivocations (two signed votes of one validator at one height/round/type), and how many became evidence. */
  equivocations: number;
  detected: number;
  messages: number;
  /** The first violating scenario and its outcome (with its trace), or null. */
  first: { scenario: TwinsScenario; outcome: TwinsOutcome } | null;
}

/** Options of {@link runTwins}. */
export interface RunTwinsOptions {
  /** Stop at the first violating scenario (default true). */
  stopAtFirst?: boolean;
  timing?: Partial<TwinsTiming>;
  /** Called every `progressEvery` scenarios with the count done. */
  onProgress?: (done: number) => void;
  progressEvery?: number;
}

/**
 * Runs `c.scenarios` scenarios of seed `c.seed` (scenario i is the same in every run).
 * @param c the configuration (checked).
 * @param opts see {@link RunTwinsOptions}.
 * @returns the summary; the first violating scenario is re-run with a trace.
 * @throws TwinsConfigError on a bad configuration.
 * @example
 * ```ts
 * const s = runTwins({ ...TWINS_DEFAULTS, scenarios: 100, mutant: "skip-lock-check" });
 * s.violations > 0; // the mutant is caught
 * ```
 */
export function runTwins(c: TwinsConfig, opts: RunTwinsOptions = {}): TwinsSummary {
  checkTwinsConfig(c);
  const stopAtFirst = opts.stopAtFirst ?? true;
  const every = opts.progressEvery ?? 1000;
  const summary: TwinsSummary = {
    scenarios: 0,
    violations: 0,
    equivocations: 0,
    detected: 0,
    messages: 0,
    first: null,
  };
  for (let i = 0; i < c.scenarios; i++) {
    const scenario = twinsScenario(c, i);
    const outcome = runTwinsScenario(c, scenario, opts.timing ? { timing: opts.timing } : {});
    summary.scenarios++;
    summary.equivocations += outcome.equivocations;
    summary.detected += outcome.detected;
    summary.messages += outcome.messages;
    if (outcome.violations.length > 0) {
      summary.violations++;
      if (summary.first === null) {
        const traced = runTwinsScenario(c, scenario, {
          trace: true,
          ...(opts.timing ? { timing: opts.timing } : {}),
        });
        summary.first = { scenario, outcome: traced };
      }
      if (stopAtFirst) break;
    }
    if (opts.onProgress && (i + 1) % every === 0) opts.onProgress(i + 1);
  }
  return summary;
}
