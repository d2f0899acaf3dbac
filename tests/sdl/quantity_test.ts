/** Quantity parsing: cpu units, byte sizes and price amounts, as tables. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseAmount, parseByteSize, parseCpuUnits } from "../../auction/sdl/mod.ts";

const Ki = 1024, Mi = 1024 ** 2, Gi = 1024 ** 3, Ti = 1024 ** 4;

test("cpu units: numbers, decimal strings and millicores -> millicores", () => {
  const table: [unknown, number][] = [
    [1, 1000],
    [1n, 1000],
    ["1", 1000],
    [0.5, 500],
    ["0.5", 500],
    ["500m", 500],
    ["100m", 100],
    [0.1, 100],
    ["0.10", 100],
    ["1.0", 1000],
    [1.005, 1005], // exact decimal arithmetic (float would give 1004.999...)
    [0.29, 290],
    ["2.5", 2500],
    [384, 384000],
    ["0.0005", 0], // below a millicore: truncated, as Go does (then rejected by the min limit)
  ];
  for (const [input, want] of table) {
    const r = parseCpuUnits(input);
    assert.ok(r.ok, `${String(input)}: ${JSON.stringify(r)}`);
    if (r.ok) assert.is(r.value, want, String(input));
  }
});

test("cpu units: invalid inputs are rejected with a reason", () => {
  for (const input of ["abc", "-1", "1x", "", "m", true, [16], { units: 1 }, null, undefined]) {
    const r = parseCpuUnits(input);
    assert.not.ok(r.ok, JSON.stringify(input));
    if (!r.ok) assert.ok(r.error.length > 0);
  }
});

test("byte sizes: binary, decimal, lowercase and b-suffixed forms -> bytes", () => {
  const table: [unknown, number][] = [
    ["512Mi", 512 * Mi],
    ["1Gi", Gi],
    ["1G", 1e9],
    ["1gi", Gi],
    ["16gi", 16 * Gi],
    ["1GB", 1e9],
    ["8gb", 8e9],
    ["512Mb", 512e6],
    ["1GiB", Gi],
    ["1k", 1000],
    ["1K", 1000],
    ["1Ki", Ki],
    ["1M", 1e6],
    ["1m", 1e6], // lowercase m is mega for sizes (like Akash's TS SDK), never milli
    ["1Ti", Ti],
    ["2T", 2e12],
    ["1Pi", 1024 ** 5],
    ["1.5Gi", 1.5 * Gi],
    ["4.75Gi", 4.75 * Gi],
    ["0.5Ki", 512],
    ["1.5", 1], // fractions of a byte truncated (Go semantics)
    ["1073741824", Gi],
    [1073741824, Gi],
    [1073741824n, Gi],
    ["1e3", 1000],
    [" 2Gi ", 2 * Gi],
    ["100 Mi", 100 * Mi],
  ];
  for (const [input, want] of table) {
    const r = parseByteSize(input);
    assert.ok(r.ok, `${String(input)}: ${JSON.stringify(r)}`);
    if (r.ok) assert.is(r.value, want, String(input));
  }
});

test("byte sizes: invalid inputs are rejected with a reason", () => {
  for (
    const input of [
      "abc",
      "-1Gi",
      "1Xi",
      "",
      "Gi",
      "1Gii",
      "1..5Gi",
      true,
      ["1Gi"],
      null,
      "1" + "0".repeat(100),
    ]
  ) {
    const r = parseByteSize(input);
    assert.not.ok(r.ok, JSON.stringify(input));
  }
  const huge = parseByteSize("100Ei");
  assert.not.ok(huge.ok);
  if (!huge.ok) assert.match(huge.error, "too large");
});

test("price amounts: positive decimals, normalized", () => {
  const table: [unknown, string][] = [
    ["100", "100"],
    [100n, "100"],
    [1000, "1000"],
    [0.5, "0.5"],
    ["0.5", "0.5"],
    ["0.0001", "0.0001"],
    ["100.50", "100.5"],
    ["100.0", "100"],
    ["007", "7"],
    [1e-7, "0.0000001"],
    ["123456789012345678901234567890", "123456789012345678901234567890"],
    ["0.000000000000000001", "0.000000000000000001"],
  ];
  for (const [input, want] of table) {
    const r = parseAmount(input);
    assert.ok(r.ok, `${String(input)}: ${JSON.stringify(r)}`);
    if (r.ok) assert.is(r.value, want, String(input));
  }
});

test("price amounts: zero, negative, non-numeric and over-precise amounts are rejected", () => {
  const table: [unknown, string][] = [
    ["0", "zero"],
    [0, "zero"],
    ["-1", "negative"],
    ["ten", "invalid amount"],
    ["1e5", "invalid amount"],
    ["0.0000000000000000001", "more than 18 decimals"],
    [null, "required"],
    [true, "decimal"],
  ];
  for (const [input, want] of table) {
    const r = parseAmount(input);
    assert.not.ok(r.ok, String(input));
    if (!r.ok) assert.match(r.error, want);
  }
});

test.run();
