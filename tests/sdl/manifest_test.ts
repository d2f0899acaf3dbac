/** Groups, manifest, hash and the `deployment validate --output json` report. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseSdl, validateReport } from "../../auction/sdl/mod.ts";

const HELLO = new URL("../../examples/hello.yaml", import.meta.url);

const TWO = `
version: "2.0"
services:
  web:
    image: nginx:1.25
    env: [A=1, B=2]
    expose:
      - port: 80
        as: 80
        to: [{global: true}]
      - port: 9000
        to: [{service: api}]
    params:
      storage:
        data: {mount: /data}
  api:
    image: api:1
    command: [node]
    args: [server.js]
    params:
      storage:
        data: {mount: /var/lib/api, readOnly: true}
profiles:
  compute:
    small:
      resources:
        cpu: {units: 0.5}
        memory: {size: 512Mi}
        storage:
          - size: 1Gi
          - name: data
            size: 10Gi
            attributes: {persistent: true, class: beta3}
  placement:
    west:
      attributes: {region: us-west, tier: community}
      signedBy: {anyOf: [auditor1]}
      pricing:
        small: {denom: uakt, amount: "1.5"}
deployment:
  web:
    west: {profile: small, count: 2}
  api:
    west: {profile: small}
`;

/** The same SDL with every mapping's keys in a different order (and other formatting). */
const TWO_REORDERED = `
deployment:
  api:
    west:
      profile: small
  web:
    west:
      count: 2
      profile: small
profiles:
  placement:
    west:
      pricing:
        small:
          amount: "1.5"
          denom: uakt
      signedBy:
        anyOf: [auditor1]
      attributes:
        tier: community
        region: us-west
  compute:
    small:
      resources:
        storage:
          - size: 1Gi
          - attributes: {class: beta3, persistent: true}
            size: 10Gi
            name: data
        memory: {size: 512Mi}
        cpu: {units: 0.5}
services:
  api:
    params:
      storage:
        data: {readOnly: true, mount: /var/lib/api}
    args: [server.js]
    command: [node]
    image: api:1
  web:
    params:
      storage:
        data: {mount: /data}
    expose:
      - as: 80
        port: 80
        to: [{global: true}]
      - to: [{service: api}]
        port: 9000
    env: [A=1, B=2]
    image: nginx:1.25
version: "2.0"
`;

function ok(text: string) {
  const r = parseSdl(text);
  if (!r.ok) throw new Error(r.error);
  return r;
}

test("hello example: valid, one group, one unit of 100m cpu / 64Mi / 128Mi at 100ucrs", () => {
  const rep = validateReport(Deno.readTextFileSync(HELLO));
  assert.is(rep.valid, true);
  assert.equal(rep.groups, [{
    name: "dcloud",
    units: [{
      cpu: 100,
      memory: 64 * 1024 ** 2,
      storage: 128 * 1024 ** 2,
      gpu: 0,
      count: 1,
      price: { denom: "ucrs", amount: "100" },
    }],
  }]);
  assert.match(rep.manifestHash ?? "", /^[0-9a-f]{64}$/);
  assert.is(rep.error, undefined);
  const r = ok(Deno.readTextFileSync(HELLO));
  const svc = r.manifest[0]?.services[0];
  assert.is(svc?.image, "localhost/busybox:latest");
  assert.equal(svc?.command, ["sh", "-c"]);
  assert.match(svc?.args[0] ?? "", "busybox httpd -f -v -p 8080 -h /www");
  assert.equal(svc?.expose.map((x) => [x.port, x.externalPort, x.global]), [[8080, 80, true]]);
});

test("groups: one per placement with requirements; v2.0 keeps one unit per service", () => {
  const r = ok(TWO);
  assert.is(r.groups.length, 1);
  const g = r.groups[0]!;
  assert.is(g.name, "west");
  assert.equal(g.requirements, {
    attributes: [{ key: "region", value: "us-west" }, { key: "tier", value: "community" }],
    signedBy: { allOf: [], anyOf: ["auditor1"] },
  });
  assert.equal(g.units.map((u) => [u.id, u.services, u.count]), [[1, ["api"], 1], [2, ["web"], 2]]);
  const u = g.units[1]!;
  assert.is(u.cpu, 500);
  assert.is(u.memory, 512 * 1024 ** 2);
  assert.equal(u.storage, [
    { name: "default", size: 1024 ** 3, persistent: false },
    { name: "data", size: 10 * 1024 ** 3, persistent: true, class: "beta3" },
  ]);
  assert.is(u.storageBytes, 11 * 1024 ** 3);
  assert.equal(u.price, { denom: "uakt", amount: "1.5" });
  assert.equal(u.endpoints, [{ kind: "shared_http", sequenceNumber: 0 }]);
});

test("groups: v2.1 merges services sharing a compute profile within a placement", () => {
  const r = ok(TWO.replace('version: "2.0"', 'version: "2.1"'));
  const units = r.groups[0]!.units;
  assert.is(units.length, 1);
  assert.equal(units[0]!.services, ["api", "web"]);
  assert.is(units[0]!.count, 3);
  const rep = validateReport(TWO.replace('version: "2.0"', 'version: "2.1"'));
  assert.equal(rep.groups[0]?.units.map((x) => x.count), [3]);
  // every manifest service points at the merged unit
  assert.equal(r.manifest[0]!.services.map((s) => [s.name, s.resources.id, s.count]), [["api", 1, 1], [
    "web",
    1,
    2,
  ]]);
});

test("manifest: services sorted by name with everything the provider needs", () => {
  const r = ok(TWO);
  const web = r.manifest[0]!.services.find((s) => s.name === "web")!;
  assert.equal(web.env, ["A=1", "B=2"]);
  assert.equal(web.params.storage, [{ name: "data", mount: "/data", readOnly: false }]);
  assert.equal(web.expose.map((x) => [x.port, x.externalPort, x.service, x.global]), [[80, 80, "", true], [
    9000,
    0,
    "api",
    false,
  ]]);
  assert.is(web.expose[0]!.httpOptions.maxBodySize, 1048576);
  assert.equal(web.expose[0]!.httpOptions.nextCases, ["error", "timeout"]);
  assert.is(web.count, 2);
  assert.is(web.resources.cpu, 500);
});

test("manifest hash: stable across key reordering and formatting in YAML", () => {
  const a = ok(TWO), b = ok(TWO_REORDERED);
  assert.is(a.manifestHash, b.manifestHash);
  assert.equal(validateReport(TWO), validateReport(TWO_REORDERED));
});

test("manifest hash: changes when the image, env order, count or a mount changes", () => {
  const h = ok(TWO).manifestHash;
  const variants = [
    TWO.replace("image: nginx:1.25", "image: nginx:1.26"),
    TWO.replace("env: [A=1, B=2]", "env: [B=2, A=1]"),
    TWO.replace("count: 2", "count: 3"),
    TWO.replace("mount: /data", "mount: /srv"),
    TWO.replace("args: [server.js]", "args: [server.js, --verbose]"),
  ];
  for (const v of variants) assert.is.not(ok(v).manifestHash, h, v);
});

test("manifest hash: pricing and placement attributes are not part of the manifest", () => {
  const h = ok(TWO).manifestHash;
  assert.is(ok(TWO.replace('amount: "1.5"', 'amount: "2"')).manifestHash, h);
  assert.is(ok(TWO.replace("tier: community", "tier: premium")).manifestHash, h);
});

test("gpu attributes: vendor models with ram and interface; an empty vendor means any model", () => {
  const text = TWO.replace(
    "cpu: {units: 0.5}",
    "cpu: {units: 0.5}\n        gpu:\n          units: 2\n          attributes:\n            vendor:\n              nvidia:\n                - model: a100\n                  ram: 80Gi\n                  interface: sxm\n                - model: h100\n              amd:\n",
  );
  const u = ok(text).groups[0]!.units[0]!;
  assert.is(u.gpu.units, 2);
  assert.equal(u.gpu.attributes, [
    { vendor: "nvidia", model: "a100", ram: "80Gi", interface: "sxm" },
    { vendor: "nvidia", model: "h100" },
    { vendor: "amd", model: "*" },
  ]);
  assert.is(validateReport(text).groups[0]?.units[0]?.gpu, 2);
});

test("quoted strings continued on under-indented lines are accepted with a warning (libyaml leniency)", () => {
  const text = TWO.replace("args: [server.js]", "args:\n      - 'node server.js\n      --verbose'");
  const r = ok(text);
  assert.equal(r.sdl.services["api"]?.args, ["node server.js --verbose"]);
  assert.ok(r.warnings.some((w) => w.includes("quoted string continues")));
});

test("the report is plain JSON (no bigint), round-trips through JSON.stringify", () => {
  const rep = validateReport(TWO);
  assert.equal(JSON.parse(JSON.stringify(rep)), rep);
});

test.run();
