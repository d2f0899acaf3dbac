import { test } from "uvu";
import * as assert from "uvu/assert";
import { checkSign, signBytesHash, SignerState, type SignRecord } from "../../consensus/signer_guard.ts";

const H1 = "11".repeat(32), H2 = "22".repeat(32);
const rec = (height: number, round: number, step: SignRecord["step"], hash = H1): SignRecord => ({
  height,
  round,
  step,
  signBytesHash: hash,
});

test("allows anything when nothing was signed yet", () => {
  assert.equal(checkSign(null, rec(1, 0, "propose")), { ok: true, resign: false });
});

test("allows strictly higher height, round or step", () => {
  const last = rec(5, 2, "prevote");
  assert.ok(checkSign(last, rec(6, 0, "propose")).ok);
  assert.ok(checkSign(last, rec(5, 3, "propose")).ok);
  assert.ok(checkSign(last, rec(5, 2, "precommit")).ok);
});

test("refuses a lower height, round or step", () => {
  const last = rec(5, 2, "prevote");
  const h = checkSign(last, rec(4, 9, "precommit"));
  assert.ok(!h.ok && /height regression/.test(h.reason));
  const r = checkSign(last, rec(5, 1, "precommit"));
  assert.ok(!r.ok && /round regression/.test(r.reason));
  const s = checkSign(last, rec(5, 2, "propose"));
  assert.ok(!s.ok && /step regression/.test(s.reason));
});

test("same height/round/step: identical bytes may be re-signed, different bytes are refused", () => {
  const last = rec(5, 2, "precommit", H1);
  assert.equal(checkSign(last, rec(5, 2, "precommit", H1)), { ok: true, resign: true });
  const conflict = checkSign(last, rec(5, 2, "precommit", H2));
  assert.ok(!conflict.ok && /double-sign/.test(conflict.reason));
});

test("SignerState persists across reloads and refuses regressions after a restart", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/signer.json`;
  try {
    const signer = await SignerState.load(path);
    assert.is(signer.last, null);
    const bytes = new TextEncoder().encode("vote h3 r0 prevote A");
    assert.equal(await signer.authorize({ height: 3, round: 0, step: "prevote" }, bytes), {
      ok: true,
      resign: false,
    });
    const reloaded = await SignerState.load(path);
    assert.equal(reloaded.last, {
      height: 3,
      round: 0,
      step: "prevote",
      signBytesHash: signBytesHash(bytes),
    });
    const other = new TextEncoder().encode("vote h3 r0 prevote B");
    assert.not.ok((await reloaded.authorize({ height: 3, round: 0, step: "prevote" }, other)).ok);
    assert.equal(await reloaded.authorize({ height: 3, round: 0, step: "prevote" }, bytes), {
      ok: true,
      resign: true,
    });
    assert.not.ok((await reloaded.authorize({ height: 2, round: 7, step: "precommit" }, other)).ok);
    assert.ok((await reloaded.authorize({ height: 3, round: 0, step: "precommit" }, other)).ok);
    assert.is((await SignerState.load(path)).last?.step, "precommit");
    const leftovers = [...Deno.readDirSync(dir)].map((e) => e.name);
    assert.equal(leftovers, ["signer.json"], "no temp file left behind");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("SignerState refuses to load a corrupt file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/bad.json`, "{not json");
    let threw = false;
    try {
      await SignerState.load(`${dir}/bad.json`);
    } catch (error) {
      threw = error instanceof SyntaxError;
    }
    assert.ok(threw);
    await Deno.writeTextFile(`${dir}/fields.json`, JSON.stringify({ height: "1", round: 0, step: "x" }));
    threw = false;
    try {
      await SignerState.load(`${dir}/fields.json`);
    } catch (error) {
      threw = error instanceof SyntaxError;
    }
    assert.ok(threw);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test.run();
