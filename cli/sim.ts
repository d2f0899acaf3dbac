/**
 * `cirrus sim`: the researchers' simulator. Whole real nodes in one process on simulated time and a
 * simulated network (`node/sim/simulate.ts`), configured by flags and/or a YAML scenario file (flags
 * win), writing metrics, a summary and plots into `--out`. Progress on stderr; `--output json`
 * prints one JSON summary on stdout and nothing else.
 * @module
 */
import { type Command, Option } from "commander";
import { parse as parseYaml } from "yaml";
import {
  checkSimConfig,
  parseCrashes,
  parseMisbehave,
  parsePartitions,
  SIM_DEFAULTS,
  type SimConfig,
  SimConfigError,
  simConfigFrom,
} from "../node/sim/scenario.ts";
import type { SimProgress } from "../node/sim/simulate.ts";
import { simulateMarket } from "./sim_market.ts";
import { headline, writeOutputs } from "./sim_output.ts";
import { globals, UserError } from "./util.ts";

/** Flags of `cirrus sim` (strings as commander gives them; absent when not given). */
export interface SimFlags {
  scenario?: string;
  validators?: string;
  providers?: string;
  tenants?: string;
  heights?: string;
  latency?: string;
  jitter?: string;
  loss?: string;
  partition?: string;
  crash?: string;
  misbehave?: string;
  txRate?: string;
  seed?: string;
  out?: string;
}

/**
 * The configuration of a run: the defaults, then the scenario file's keys, then the flags given.
 * @throws UserError naming the flag or key that is wrong.
 */
export async function simConfigOf(f: SimFlags): Promise<SimConfig> {
  try {
    let c: SimConfig = { ...SIM_DEFAULTS };
    if (f.scenario !== undefined) {
      let text: string;
      try {
        text = await Deno.readTextFile(f.scenario);
      } catch (e) {
        throw new UserError(`Cannot read scenario ${f.scenario}: ${(e as Error).message}`);
      }
      let doc: unknown;
      try {
        doc = parseYaml(text);
      } catch (e) {
        throw new UserError(`Cannot parse scenario ${f.scenario}: ${(e as Error).message}`);
      }
      c = simConfigFrom(doc, c);
    }
    const num = (name: string, v: string | undefined): number | undefined => {
      if (v === undefined) return undefined;
      const x = Number(v);
      if (v.trim() === "" || !Number.isFinite(x)) {
        throw new UserError(`--${name}: expected a number, got "${v}"`);
      }
      return x;
    };
    const set = <K extends keyof SimConfig>(k: K, v: SimConfig[K] | undefined) => {
      if (v !== undefined) c[k] = v;
    };
    set("validators", num("validators", f.validators));
    set("providers", num("providers", f.providers));
    set("tenants", num("tenants", f.tenants));
    set("heights", num("heights", f.heights));
    set("latencyMs", num("latency", f.latency));
    set("jitterMs", num("jitter", f.jitter));
    set("loss", num("loss", f.loss));
    set("txRate", num("tx-rate", f.txRate));
    set("seed", num("seed", f.seed));
    if (f.partition !== undefined) c.partitions = parsePartitions(f.partition);
    if (f.crash !== undefined) c.crashes = parseCrashes(f.crash);
    if (f.misbehave !== undefined) c.misbehave = parseMisbehave(f.misbehave);
    return checkSimConfig(c);
  } catch (e) {
    if (e instanceof SimConfigError) throw new UserError(e.message);
    throw e;
  }
}

/** One progress line: height, simulated time, speed-up over wall time, ETA. */
export function progressLine(p: SimProgress, wallMs: number): string {
  const speed = wallMs > 0 ? p.simulatedMs / wallMs : 0;
  const eta = p.height > 0 ? (wallMs / p.height) * (p.heights - p.height) / 1000 : 0;
  return `height ${p.height}/${p.heights}  simulated ${(p.simulatedMs / 1000).toFixed(1)} s  ` +
    `${speed.toFixed(2)}x real time  ETA ${eta.toFixed(0)} s`;
}

/** Registers `cirrus sim` on the program. */
export function addSimCommand(program: Command): void {
  program.command("sim")
    .description("simulate a whole network in one process on simulated time (deterministic per seed)")
    .option("--scenario <file>", "YAML scenario file (flags override its keys)")
    .option("--validators <n>", `validators (default ${SIM_DEFAULTS.validators})`)
    .option(
      "--providers <n>",
      "providers bidding with the real provider role and the sim cluster driver (default 0)",
    )
    .option("--tenants <n>", "tenants deploying, topping up and closing at --tx-rate (default 0)")
    .option("--heights <n>", `heights to commit (default ${SIM_DEFAULTS.heights})`)
    .option("--latency <ms>", `one-way link latency (default ${SIM_DEFAULTS.latencyMs})`)
    .option("--jitter <ms>", "extra random delay per message, [0, jitter) ms (default 0)")
    .option("--loss <p>", "probability that a gossip message is lost (default 0)")
    .option("--partition <spec>", 'partitions, "H1-H2:0,1|2,3" (several separated by ";")')
    .option(
      "--crash <spec>",
      'crashed validators "v3@H1-H2" or providers "p1@H1-H2" (several separated by ",")',
    )
    .option(
      "--misbehave <spec>",
      'byzantine validators, "v2=double-sign,v3=silent" (kinds of node/misbehave.ts but amnesia, duplicate-key)',
    )
    .option(
      "--tx-rate <r>",
      "txs per simulated second: bank transfers, or with --tenants the tenants' market txs (default 0)",
    )
    .option("--seed <s>", `seed (default ${SIM_DEFAULTS.seed})`)
    .addOption(new Option("--out <dir>", "output directory").default("sim-out"))
    .action(async (o: SimFlags, cmd: Command) => {
      const g = globals(cmd);
      const c = await simConfigOf(o);
      const quiet = g.output === "json";
      const t0 = performance.now();
      let last = 0;
      const m = await simulateMarket(c, {
        onProgress: (p) => {
          const now = performance.now();
          if (quiet || (now - last < 1000 && p.height < p.heights)) return;
          last = now;
          console.error(progressLine(p, now - t0));
        },
      });
      const wallSeconds = (performance.now() - t0) / 1000;
      const out = o.out ?? "sim-out";
      const files = await writeOutputs(out, m);
      const h = headline(m);
      const summary = {
        out,
        files,
        ...h,
        // Non-deterministic (wall clock): never written into metrics.json.
        wallSeconds: Math.round(wallSeconds * 1000) / 1000,
        speedup: wallSeconds > 0 ? Math.round((h.simulatedSeconds / wallSeconds) * 100) / 100 : 0,
      };
      if (quiet) console.log(JSON.stringify(summary));
      else {
        console.log(await Deno.readTextFile(`${out}/summary.txt`));
        console.log(
          `wall time ${summary.wallSeconds} s (${summary.speedup}x real time); wrote ${files.length} files in ${out}`,
        );
      }
      if (h.forks > 0 || !h.supplyConserved || h.violations > 0) {
        throw new UserError("a safety check failed (see summary.txt)");
      }
    });
}
