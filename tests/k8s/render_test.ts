/**
 * `provider render` over every SDL file of ../shared/sdl-corpus: every object passes the Kubernetes
 * OpenAPI schema (kubernetes-models) and the name rules the schema cannot express; where a control
 * plane runs (see cluster.ts), the API server itself takes them (`kubectl apply --dry-run=server`).
 * Skipped, with the reason, when the corpus (a clone outside this repo) is absent.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { Service } from "kubernetes-models/v1/Service";
import { PersistentVolumeClaim } from "kubernetes-models/v1/PersistentVolumeClaim";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { Ingress } from "kubernetes-models/networking.k8s.io/v1/Ingress";
import { parseSdl } from "../../auction/sdl/mod.ts";
import { renderSdl } from "../../provider/cluster/render.ts";
import { DNS1035_LABEL, envNameError, type KubeObject } from "../../provider/cluster/objects.ts";
import { startCluster } from "./cluster.ts";

const ROOT = new URL("../..", import.meta.url).pathname;
const CORPUS = join(ROOT, "../shared/sdl-corpus");

async function corpus(): Promise<{ name: string; text: string }[] | undefined> {
  try {
    const files = [...Deno.readDirSync(CORPUS)].filter((e) => /\.ya?ml$/.test(e.name)).map((e) => e.name)
      .sort();
    return await Promise.all(
      files.map(async (name) => ({ name, text: await Deno.readTextFile(join(CORPUS, name)) })),
    );
  } catch {
    return undefined;
  }
}

const files = await corpus();
const NO_CORPUS = `no SDL corpus at ${CORPUS} (a clone outside this workspace)`;

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;

const MODELS: Record<string, (o: KubeObject) => { validate(): void }> = {
  Namespace: (o) => new Namespace(o as never),
  Deployment: (o) => new Deployment(o as never),
  Service: (o) => new Service(o as never),
  PersistentVolumeClaim: (o) => new PersistentVolumeClaim(o as never),
  Ingress: (o) => new Ingress(o as never),
};

/** What the OpenAPI schema does not check but the API server does (names, label values, env names). */
function nameProblems(o: KubeObject): string[] {
  const out: string[] = [];
  const name = o.metadata.name;
  if (o.kind === "Service" ? !DNS1035_LABEL.test(name) : !DNS1123_LABEL.test(name)) {
    out.push(`${o.kind} name ${JSON.stringify(name)}`);
  }
  for (const [k, v] of Object.entries(o.metadata.labels ?? {})) {
    if (!LABEL_VALUE.test(v)) out.push(`label ${k}=${v}`);
  }
  for (const c of o.spec?.template?.spec?.containers ?? []) {
    if (!DNS1123_LABEL.test(c.name)) out.push(`container name ${c.name}`);
    for (const e of c.env ?? []) {
      const why = envNameError(e.name);
      if (why) out.push(why);
    }
    for (const p of c.ports ?? []) if (p.name && p.name.length > 15) out.push(`port name ${p.name}`);
  }
  for (const p of o.spec?.ports ?? []) if (p.name && p.name.length > 15) out.push(`port name ${p.name}`);
  return out;
}

interface Rendered {
  file: string;
  objects: KubeObject[];
}

const rendered: Rendered[] = [];

if (!files) {
  console.log(`skip: ${NO_CORPUS}`);
  test.skip(`corpus: every object passes the OpenAPI schema and the name rules (${NO_CORPUS})`, () => {});
} else {
  test("corpus: every file renders; every object passes the OpenAPI schema and the name rules", async () => {
    const refused: string[] = [];
    const invalid: string[] = [];
    let parsed = 0;
    let objects = 0;
    const kinds = new Map<string, number>();
    for (const f of files) {
      if (!parseSdl(f.text).ok) continue; // the parser's own tests cover the files it refuses
      parsed++;
      let objs: KubeObject[];
      try {
        objs = await renderSdl(f.text);
      } catch (e) {
        refused.push(`${f.name}: ${(e as Error).message}`);
        continue;
      }
      rendered.push({ file: f.name, objects: objs });
      for (const o of objs) {
        objects++;
        kinds.set(o.kind, (kinds.get(o.kind) ?? 0) + 1);
        const model = MODELS[o.kind];
        if (!model) {
          invalid.push(`${f.name}: no schema for kind ${o.kind}`);
          continue;
        }
        try {
          model(o).validate();
        } catch (e) {
          invalid.push(`${f.name}: ${o.kind} ${o.metadata.name}: ${(e as Error).message}`);
        }
        for (const p of nameProblems(o)) invalid.push(`${f.name}: ${o.kind} ${o.metadata.name}: ${p}`);
      }
    }
    console.log(
      `corpus: ${files.length} files, ${parsed} parsed, ${objects} objects (${
        [...kinds].map(([k, n]) => `${n} ${k}`).join(", ")
      })`,
    );
    assert.equal(refused, [], "the object builder refused files the SDL parser took");
    assert.equal(invalid.slice(0, 20), []);
    assert.ok(parsed > 200 && objects > 1000, `${parsed} files, ${objects} objects`);
    // what the issue asked for shows up in the corpus: claims of their class, Ingresses, affinity
    assert.ok((kinds.get("PersistentVolumeClaim") ?? 0) > 0, "persistent volumes are claims");
  });
}

const cluster = files ? await startCluster() : NO_CORPUS;
if (typeof cluster === "string") {
  console.log(`skip server dry-run: ${cluster}`);
  test.skip(`corpus: the API server takes every object (kubectl apply --dry-run=server) (${cluster})`, () => {});
} else {
  test("corpus: the API server takes every object (kubectl apply --dry-run=server)", async () => {
    assert.ok(rendered.length > 200, "rendered by the test before");
    const ns = `render-dry-run-${Date.now().toString(36)}`;
    const mk = await cluster.kubectl(["create", "namespace", ns]);
    assert.is(mk.code, 0, mk.stderr);
    try {
      // one namespace for all (dry-run persists nothing, so objects of different files may share
      // names); batches keep each kubectl call short
      const batch = 40;
      const failures: string[] = [];
      let sent = 0;
      for (let i = 0; i < rendered.length; i += batch) {
        const items = rendered.slice(i, i + batch).flatMap((r) =>
          r.objects.filter((o) => o.kind !== "Namespace").map((o) => ({
            ...o,
            metadata: { ...o.metadata, namespace: ns },
          }))
        );
        sent += items.length;
        const r = await cluster.kubectl(
          ["apply", "--dry-run=server", "-f", "-"],
          JSON.stringify({ apiVersion: "v1", kind: "List", items }),
        );
        if (r.code !== 0) failures.push(...r.stderr.trim().split("\n").slice(0, 5));
      }
      console.log(`dry-run: ${sent} objects of ${rendered.length} files sent to the API server`);
      assert.equal(failures, []);
    } finally {
      await cluster.kubectl(["delete", "namespace", ns, "--wait=false"]);
    }
  });
  test.after(async () => {
    await cluster.stop();
  });
}

test.run();
