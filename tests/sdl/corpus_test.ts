/**
 * The real-world SDL corpus (../shared/sdl-corpus, 262 files; skipped with the reason when absent): at least 98% validate; every file that
 * does not is listed here with its defect; and for every file that Akash's own TS SDL (chain-sdk, used
 * only here as an oracle) also accepts, our groups match its groups unit by unit.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { SDL } from "@akashnetwork/chain-sdk";
import { gpuAttributeKey, parseSdl } from "../../auction/sdl/mod.ts";
import { sdlCorpus } from "../helpers/corpus.ts";

const corpus = sdlCorpus("sdl corpus tests");
const files = corpus.files(/\.ya?ml$/);
const read = corpus.read;

/** Files with a real defect: name -> expected error (substring) of parseSdl. */
const EXPECTED_INVALID: Record<string, string> = {
  // cpu.units is written as a YAML list (`- 16`) instead of a number; Akash's Go parser rejects it too.
  "Venice-ElizaOS.yaml": "profiles.compute.service-1.resources.cpu.units: must be a number of cpus",
  // `to:` is a mapping (`global: true`) instead of a list of targets; Go cannot decode it either.
  "minio.yaml": "services.minio.expose[0].to: must be a list",
  // typo `service: ray-worker,` (trailing comma): the port is exposed to a service that does not exist.
  "ray--ray-nightly-py310-gpu.yaml":
    'services.ray-head.expose[2].to[0].service: no service named "ray-worker,"',
  // `port:` left empty: there is no container port to expose.
  "steamcmd.yaml": "services.steamcmd.expose[0].port: required (1..65535)",
  // first line is `--` (meant `---`), which makes the document invalid YAML.
  "teamspeak.yaml": "yaml: Implicit keys need to be on a single line at line 1",
};

corpus.test("corpus: the corpus is where we expect it and holds the 262 files", () => {
  assert.is(files.length, 262);
});

corpus.test("corpus: at least 98% of the files validate, and exactly the listed defective ones do not", () => {
  const invalid: Record<string, string> = {};
  for (const name of files) {
    const r = parseSdl(read(name));
    if (!r.ok) invalid[name] = r.error;
  }
  const valid = files.length - Object.keys(invalid).length;
  assert.ok(valid / files.length >= 0.98, `only ${valid}/${files.length} valid`);
  for (const [name, err] of Object.entries(invalid)) {
    const expected = EXPECTED_INVALID[name];
    assert.ok(expected !== undefined, `${name} unexpectedly invalid: ${err}`);
    assert.ok(
      err.includes(expected!),
      `${name}: got ${JSON.stringify(err)}, want ${JSON.stringify(expected)}`,
    );
  }
  for (const name of Object.keys(EXPECTED_INVALID)) {
    assert.ok(invalid[name] !== undefined, `${name} is listed as defective but validates`);
  }
});

corpus.test("corpus: every valid file has groups, units and a sha256 manifest hash", () => {
  for (const name of files) {
    const r = parseSdl(read(name));
    if (!r.ok) continue;
    assert.ok(r.groups.length > 0, name);
    assert.ok(r.groups.every((g) => g.units.length > 0), name);
    assert.match(r.manifestHash, /^[0-9a-f]{64}$/);
    assert.is(r.manifest.length, r.groups.length, name);
  }
});

const decode = (v: unknown): string => v instanceof Uint8Array ? new TextDecoder().decode(v) : String(v);
const normAmount = (s: string) => s.includes(".") ? s.replace(/0+$/, "").replace(/\.$/, "") : s;

// deno-lint-ignore no-explicit-any
function oracleGroups(groups: any[]): unknown {
  // deno-lint-ignore no-explicit-any
  return groups.map((g: any) => ({
    name: g.name,
    // deno-lint-ignore no-explicit-any
    units: g.resources.map((u: any) => ({
      cpu: Math.floor(Number(decode(u.resource.cpu.units.val))),
      memory: Number(decode(u.resource.memory.quantity.val)),
      // deno-lint-ignore no-explicit-any
      storage: u.resource.storage.map((v: any) => `${v.name}:${decode(v.quantity.val)}`).sort(),
      gpu: Number(decode(u.resource.gpu.units.val)),
      // deno-lint-ignore no-explicit-any
      gpuAttributes: (u.resource.gpu.attributes ?? []).map((a: any) => a.key).sort(),
      count: u.count,
      price: { denom: u.price.denom, amount: normAmount(String(u.price.amount)) },
    })),
    // deno-lint-ignore no-explicit-any
    attributes: (g.requirements.attributes ?? []).map((a: any) => `${a.key}=${a.value}`),
    signedBy: { allOf: g.requirements.signedBy?.allOf ?? [], anyOf: g.requirements.signedBy?.anyOf ?? [] },
  }));
}

corpus.test("corpus: parity with Akash's chain-sdk SDL on every file both accept (groups, units, prices)", () => {
  // Known oracle differences (files it rejects are not compared): chain-sdk's JSON schema rejects
  // `attributes:` left null and unknown service keys (depends_on, restart, ...), which Akash's Go parser
  // accepts, and it crashes ("flatMap") on some services without `expose`. Where both accept, there is
  // no known difference: byte sizes, millicores, gpu attribute keys and prices all match.
  let both = 0;
  const mismatches: string[] = [];
  for (const name of files) {
    const text = read(name);
    let theirs: unknown;
    try {
      theirs = oracleGroups(SDL.fromString(text, "beta3").groups());
    } catch {
      continue;
    }
    const r = parseSdl(text);
    if (!r.ok) {
      assert.ok(EXPECTED_INVALID[name] !== undefined, `${name}: oracle accepts, we reject: ${r.error}`);
      continue;
    }
    both++;
    const ours = r.groups.map((g) => ({
      name: g.name,
      units: g.units.map((u) => ({
        cpu: u.cpu,
        memory: u.memory,
        storage: u.storage.map((v) => `${v.name}:${v.size}`).sort(),
        gpu: u.gpu.units,
        gpuAttributes: u.gpu.attributes.map(gpuAttributeKey).sort(),
        count: u.count,
        price: { denom: u.price.denom, amount: u.price.amount },
      })),
      attributes: g.requirements.attributes.map((a) => `${a.key}=${a.value}`),
      signedBy: g.requirements.signedBy,
    }));
    if (JSON.stringify(ours) !== JSON.stringify(theirs)) mismatches.push(name);
  }
  assert.ok(both >= 200, `only ${both} files accepted by both`);
  assert.equal(mismatches, [], `groups differ from chain-sdk for: ${mismatches.join(", ")}`);
  console.log(`parity: ${both}/${both} files accepted by both match chain-sdk`);
});

test.run();
