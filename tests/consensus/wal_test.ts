import { test } from "uvu";
import * as assert from "uvu/assert";
import { crc32, Wal, WAL_HEADER_BYTES } from "../../consensus/wal.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

test("crc32 matches the standard check value", () => {
  assert.is(crc32(enc("123456789")), 0xcbf43926);
  assert.is(crc32(new Uint8Array()), 0);
});

test("append then readAll returns the records in order, across reopen", () =>
  withDir(async (dir) => {
    const path = `${dir}/cs.wal`;
    const wal = await Wal.open(path);
    await wal.append(enc("one"), { sync: false });
    await wal.append(new Uint8Array(), { sync: false });
    await wal.append(enc("three"), { sync: true });
    wal.close();
    const again = await Wal.open(path);
    const { records, droppedBytes } = await again.readAll();
    assert.equal(records.map(dec), ["one", "", "three"]);
    assert.is(droppedBytes, 0);
    await again.append(enc("four"), { sync: true });
    assert.equal((await again.readAll()).records.map(dec), ["one", "", "three", "four"]);
    again.close();
  }));

test("a torn tail is truncated and later appends follow the last good record", () =>
  withDir(async (dir) => {
    const path = `${dir}/cs.wal`;
    const wal = await Wal.open(path);
    await wal.append(enc("good"), { sync: true });
    await wal.append(enc("torn-record"), { sync: true });
    wal.close();
    const full = await Deno.readFile(path);
    await Deno.writeFile(path, full.subarray(0, full.length - 3)); // crash mid-write
    const reopened = await Wal.open(path);
    const replay = await reopened.readAll();
    assert.equal(replay.records.map(dec), ["good"]);
    assert.is(replay.droppedBytes, WAL_HEADER_BYTES + "torn-record".length - 3);
    assert.is((await Deno.stat(path)).size, WAL_HEADER_BYTES + 4);
    await reopened.append(enc("after"), { sync: true });
    assert.equal((await reopened.readAll()).records.map(dec), ["good", "after"]);
    reopened.close();
  }));

test("a torn header (fewer than 8 bytes) is dropped", () =>
  withDir(async (dir) => {
    const path = `${dir}/cs.wal`;
    const wal = await Wal.open(path);
    await wal.append(enc("x"), { sync: true });
    wal.close();
    const full = await Deno.readFile(path);
    await Deno.writeFile(path, new Uint8Array([...full, 0, 0, 0]));
    const reopened = await Wal.open(path);
    const replay = await reopened.readAll();
    assert.equal(replay.records.map(dec), ["x"]);
    assert.is(replay.droppedBytes, 3);
    reopened.close();
  }));

test("a corrupted CRC stops replay there and drops everything after it", () =>
  withDir(async (dir) => {
    const path = `${dir}/cs.wal`;
    const wal = await Wal.open(path);
    for (const s of ["a", "bb", "ccc"]) await wal.append(enc(s), { sync: false });
    wal.close();
    const bytes = await Deno.readFile(path);
    const secondPayload = WAL_HEADER_BYTES + 1 + WAL_HEADER_BYTES;
    bytes[secondPayload]! ^= 0xff;
    await Deno.writeFile(path, bytes);
    const reopened = await Wal.open(path);
    const replay = await reopened.readAll();
    assert.equal(replay.records.map(dec), ["a"]);
    assert.is(replay.droppedBytes, bytes.length - (WAL_HEADER_BYTES + 1));
    reopened.close();
  }));

test("an absurd length field is treated as corruption", () =>
  withDir(async (dir) => {
    const path = `${dir}/cs.wal`;
    await Deno.writeFile(path, new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1, 2, 3]));
    const wal = await Wal.open(path);
    const replay = await wal.readAll();
    assert.equal(replay.records, []);
    assert.is(replay.droppedBytes, 11);
    wal.close();
  }));

test("reset empties the log after a commit", () =>
  withDir(async (dir) => {
    const path = `${dir}/cs.wal`;
    const wal = await Wal.open(path);
    await wal.append(enc("h1"), { sync: true });
    await wal.reset();
    assert.is((await Deno.stat(path)).size, 0);
    await wal.append(enc("h2"), { sync: true });
    assert.equal((await wal.readAll()).records.map(dec), ["h2"]);
    wal.close();
    let threw = false;
    try {
      await wal.append(enc("x"), { sync: false });
    } catch (error) {
      threw = /closed/.test(String(error));
    }
    assert.ok(threw, "append after close throws");
  }));

test.run();
