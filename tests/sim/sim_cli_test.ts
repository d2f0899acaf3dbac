/**
 * `cirrus sim` as a command: flags over a scenario file, clear errors for bad input, the shipped
 * scenarios parse, and a run writes metrics, summary and plots with a JSON summary on stdout.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { simConfigOf } from "../../cli/sim.ts";
import { UserError } from "../../cli/util.ts";
import { histogram, lineChart, ticks } from "../../cli/svg_plot.ts";
import { cli } from "../helpers/cli.ts";

test("flags override the scenario file; fault specs parse", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = join(dir, "s.yaml");
    await Deno.writeTextFile(file, "validators: 7\nheights: 30\nlatency: 80\npartition: '10-20:0,1|2,3'\n");
    const c = await simConfigOf({ scenario: file, heights: "12", crash: "v3@2-5" });
    assert.is(c.validators, 7);
    assert.is(c.heights, 12, "the flag wins");
    assert.is(c.latencyMs, 80);
    assert.equal(c.partitions, [{ fromHeight: 10, toHeight: 20, groups: [[0, 1], [2, 3]] }]);
    assert.equal(c.crashes, [{ node: 3, fromHeight: 2, toHeight: 5 }]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("bad flags and scenario files are user errors naming what is wrong", async () => {
  const cases: [Parameters<typeof simConfigOf>[0], RegExp][] = [
    [{ validators: "many" }, /--validators/],
    [{ partition: "10:0|1" }, /partition/],
    [{ crash: "v1@9-3" }, /H1 < H2/],
    [{ misbehave: "v1=lie" }, /misbehave/],
    [{ misbehave: "v1=amnesia" }, /not simulated/],
    [{ misbehave: "v9=silent" }, /misbehave node/],
    [{ scenario: "/nonexistent/x.yaml" }, /Cannot read scenario/],
    [{ crash: "p0@2-4" }, /no providers/],
    [{ providers: "2", crash: "p2@2-4" }, /crash provider/],
    [{ crash: "x1@2-4" }, /p1@H1-H2/],
    [{ tenants: "2" }, /tx-rate > 0/],
  ];
  for (const [flags, re] of cases) {
    try {
      await simConfigOf(flags);
      assert.unreachable(JSON.stringify(flags));
    } catch (e) {
      assert.instance(e, UserError, JSON.stringify(flags));
      assert.match((e as Error).message, re);
    }
  }
  const dir = await Deno.makeTempDir();
  try {
    for (
      const [text, re] of [
        ["colour: blue\n", /unknown key "colour"/],
        ["- 1\n", /mapping/],
        [
          "market: {deposit: [5, 1]}\n",
          /market.deposit/,
        ],
        ["market: {actions: {steal: 1}}\n", /unknown action/],
        ["market: {providerPrice: [2, 1]}\n", /above max/],
        [
          "a: [\n",
          /parse/,
        ],
      ]
    ) {
      const f = join(dir, "bad.yaml");
      await Deno.writeTextFile(f, text as string);
      try {
        await simConfigOf({ scenario: f });
        assert.unreachable(text as string);
      } catch (e) {
        assert.instance(e, UserError);
        assert.match((e as Error).message, re as RegExp);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("every shipped scenario parses", async () => {
  const dir = new URL("../../scripts/sim/", import.meta.url).pathname;
  let n = 0;
  for await (const e of Deno.readDir(dir)) {
    if (!e.name.endsWith(".yaml")) continue;
    const c = await simConfigOf({ scenario: join(dir, e.name) });
    assert.ok(c.validators >= 1 && c.heights >= 1, e.name);
    n++;
  }
  assert.ok(n >= 5, `${n} scenarios`);
});

test("plots: a chart without data says so; text is escaped", () => {
  const t = { title: "a <b> & c", xLabel: "height", yLabel: "ms" };
  assert.match(lineChart(t, []), /no data/);
  assert.match(histogram(t, "orders", []), /no data/);
  const svg = lineChart(t, [{ name: "s", points: [[1, 2], [2, 3]] }]);
  assert.not.match(svg, /no data/);
  assert.match(svg, /a &lt;b&gt; &amp; c/);
  assert.match(svg, /<path d="M/);
});

test("a histogram of whole numbers has one bar per number (blocks to lease), of fractions ten bins", () => {
  const t = { title: "Time to lease", xLabel: "blocks", yLabel: "orders" };
  const svg = histogram(t, "orders", [2, 2, 3, 5]);
  const labels = [...svg.matchAll(/>(\d+)<\/text>/g)].map((m) => m[1]);
  for (const n of ["2", "3", "4", "5"]) assert.ok(labels.includes(n), `a bar labelled ${n}: ${labels}`);
  assert.not.ok(svg.includes(">2.1<"), "no fractional bins for whole numbers");
  // Bars: every rect but the background and the legend's swatch.
  assert.is((svg.match(/<rect /g) ?? []).length - 2, 4, "one bar per number from 2 to 5");
  assert.match(histogram(t, "leases", [0.5, 0.55, 0.9]), />0\.5</);
});

test("axis ticks are round numbers covering the range", () => {
  assert.equal(ticks(0, 10), [0, 2, 4, 6, 8, 10]);
  assert.equal(ticks(0, 0.9), [0, 0.2, 0.4, 0.6, 0.8, 1]);
});

test("cirrus sim --output json: one JSON line on stdout; metrics, summary and six plots in --out", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await cli(
      "sim",
      "--validators",
      "4",
      "--heights",
      "5",
      "--seed",
      "7",
      "--out",
      dir,
      "--output",
      "json",
    );
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stderr.trim(), "", "quiet");
    const s = JSON.parse(r.stdout);
    assert.is(s.heights, 5);
    assert.is(s.forks, 0);
    assert.ok(typeof s.wallSeconds === "number");
    const files = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.equal(files.filter((f) => f.endsWith(".svg")).length, 6);
    assert.ok(files.includes("metrics.json") && files.includes("summary.txt"));
    const svg = await Deno.readTextFile(join(dir, "commit_latency.svg"));
    assert.match(svg, /latency \(simulated ms\)/, "the y axis has a label with its unit");
    assert.not.match(await Deno.readTextFile(join(dir, "metrics.json")), /wall/i, "no wall time inside");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("cirrus sim --providers 1 --tenants 1: the market runs from the command line; its tables in summary.txt", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await cli(
      "sim",
      ...["--providers", "1", "--tenants", "1", "--tx-rate", "3", "--heights", "12", "--seed", "4"],
      ...["--out", dir, "--output", "json"],
    );
    assert.is(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.ok(s.orders >= 1, `orders: ${s.orders}`);
    assert.is(s.violations, 0);
    const summary = await Deno.readTextFile(join(dir, "summary.txt"));
    assert.match(summary, /providers\n\s+provider\s+cpu \(m\)\s+bids\s+leases/);
    assert.match(summary, /market counts/);
    const m = JSON.parse(await Deno.readTextFile(join(dir, "metrics.json")));
    assert.is(m.providers.length, 1);
    assert.ok(m.providers[0].utilisation.length > 0, "utilisation sampled every height");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test.run();
