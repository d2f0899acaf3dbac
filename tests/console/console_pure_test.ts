/**
 * The console's pure parts, in Deno: the key vault (WebCrypto PBKDF2 + AES-GCM), SDL errors at their
 * line, the chart series, formatting, and the explorer's search.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type KeyValueStore, Vault } from "../../console/src/vault.ts";
import { messageLines } from "../../console/src/sdl_lines.ts";
import { blockSeries, leaseSeries } from "../../console/src/chart_data.ts";
import { decimalText, runwayText, withoutOwner } from "../../console/src/format.ts";
import { parseSdl } from "../../auction/sdl/parse.ts";
import { addressOf, publicKeyOf, toHex } from "../../lib/crypto.ts";
import { HELLO_SDL as SDL } from "../helpers/sdl.ts";

function memoryStore(): KeyValueStore & { data: Map<string, string> } {
  const data = new Map<string, string>();
  return { data, getItem: (k) => data.get(k) ?? null, setItem: (k, v) => void data.set(k, v) };
}

test("vault: a created key unlocks with its passphrase only, and the seed is never stored in clear", async () => {
  const store = memoryStore();
  const v = new Vault(store, 1000);
  const e = await v.create("alice", "correct horse");
  const k = await v.unlock("alice", "correct horse");
  assert.is(k.address, e.address);
  assert.is(addressOf(publicKeyOf(k.seed)), e.address);
  assert.not.ok([...store.data.values()].join().includes(toHex(k.seed)), "seed stored in clear");
  try {
    await v.unlock("alice", "wrong horse!");
    assert.unreachable("a wrong passphrase unlocked the key");
  } catch (err) {
    assert.is((err as Error).message, "wrong passphrase");
  }
});

test("vault: import keeps the address of a known seed; bad input is refused with a reason", async () => {
  const v = new Vault(memoryStore(), 1000);
  const seed = "11".repeat(32);
  const e = await v.import("bob", seed, "passphrase");
  assert.is(e.address, addressOf(publicKeyOf(new Uint8Array(32).fill(0x11))));
  const refused = async (fn: () => Promise<unknown>, re: RegExp) => {
    try {
      await fn();
      assert.unreachable("accepted");
    } catch (err) {
      assert.match((err as Error).message, re);
    }
  };
  await refused(() => v.import("bob", seed, "passphrase"), /exists already/);
  await refused(() => v.import("carol", "zz", "passphrase"), /64 hex/);
  await refused(() => v.create("dave", "short"), /at least 8/);
  await refused(() => v.create("bad name", "passphrase"), /Invalid key name/);
  v.remove("bob");
  assert.equal(v.list(), []);
});

test("sdl lines: the parser's errors point at the line of the field (or its parent when missing)", () => {
  for (
    const [from, to, re] of [["units: 0.1", "units: lots", /cpu/], [
      "count: 1",
      "count: -1",
      /count/,
    ]] as const
  ) {
    const bad = SDL.replace(from, to);
    const r = parseSdl(bad);
    assert.is(r.ok, false, to);
    if (r.ok) return;
    const line = messageLines(bad, r.errors).find((l) => re.test(l.message))?.line;
    assert.is(line, bad.split("\n").findIndex((l) => l.includes(to)) + 1, JSON.stringify(r.errors));
  }
  const missing = messageLines(SDL, ["services.web.image: required"]);
  assert.is(missing[0]!.line, 4);
  assert.is(messageLines(SDL, ["nowhere.at.all: x"])[0]!.line, 0);
});

test("chart series: block time and tx/s between consecutive blocks; active leases and prices by height", () => {
  const s = blockSeries([
    { height: 3, time: 4000, txs: 6 },
    { height: 1, time: 0, txs: 0 },
    { height: 2, time: 1000, txs: 2 },
  ]);
  assert.equal(s, { heights: [2, 3], blockSeconds: [1, 3], txPerSecond: [2, 2] });
  const l = leaseSeries(
    [
      { createdAt: 2, closedAt: 4, price: { amount: "10.5" } },
      { createdAt: 3, price: { amount: "7" } },
    ],
    1,
    5,
  );
  assert.equal(l, { heights: [1, 2, 3, 4, 5], active: [0, 1, 2, 1, 1], prices: [null, 10.5, 7, null, null] });
});

test("format: scaled decimals are shortened, runways in blocks and time", () => {
  assert.is(withoutOwner("cirrus1abc/7/1/2/cirrus1prov"), "7/1/2/cirrus1prov");
  assert.is(decimalText("100.000000000000000000"), "100");
  assert.is(decimalText("0.123456789", 4), "0.1234");
  assert.is(runwayText(null, 1000), "unbounded (no active lease)");
  assert.is(runwayText(120, 1000), "120 blocks (~2m)");
  assert.is(runwayText(5, null), "5 blocks");
});

test.run();
