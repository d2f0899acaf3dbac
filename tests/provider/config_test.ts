/**
 * The provider config file: a full example parses to exact values, a minimal one gets the defaults,
 * every error names its path, capacity comes from the config or the probe with caps applied, and the
 * advertised attributes satisfy the chain's placement check for the configured gpus.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { placementProblem, PRICE_SCALE } from "../../auction/market/mod.ts";
import { parseSdl } from "../../auction/sdl/mod.ts";
import {
  advertisedAttributes,
  capacityFromConfig,
  loadProviderConfig,
  parseProviderConfig,
  PROVIDER_CONFIG_DEFAULTS,
  ProviderConfigError,
} from "../../provider/mod.ts";

const Gi = 1024 ** 3;
const dec = (int: bigint, frac = 0n, digits = 0) => int * PRICE_SCALE + frac * 10n ** BigInt(18 - digits);

const FULL = `
key: provider1
cluster:
  driver: kubernetes
  kubeconfig: ./kube/config
  context: my-context
  hostPorts: [32000, 32099]
  publicHost: provider.example.com
capacity: {cpu: "8", memory: 16Gi, storage: {default: 100Gi, beta2: 50Gi}}
capacityCap: {cpu: 4, memory: 8Gi, storage: 50Gi}
gpus: [{vendor: nvidia, model: h100, ram: 80Gi, interface: sxm, count: 8}]
storageClasses: [default, beta2]
attributes: {region: us-west, host: akash, tier: community}
pricing:
  cpu: "0.05"
  memory: 0.0001
  storage: {default: "0.00005", beta2: "0.0001"}
  gpu: {default: "100", h100: "400"}
  script: ./price.sh
  minimum: "1"
bidDeposit: "500000"
reservationTimeoutBlocks: 30
logLinesMax: 5000
`;

test("a full config parses to exact values (paths resolved against the config's dir)", () => {
  const c = parseProviderConfig(FULL, "/etc/cirrus");
  assert.is(c.key, "provider1");
  assert.equal(c.cluster, {
    driver: "kubernetes",
    kubeconfig: "/etc/cirrus/kube/config",
    context: "my-context",
    hostPorts: [32000, 32099],
    publicHost: "provider.example.com",
  });
  assert.equal(c.capacity, { cpu: 8000, memory: 16 * Gi, storage: { beta2: 50 * Gi, default: 100 * Gi } });
  assert.equal(c.capacityCap, { cpu: 4000, memory: 8 * Gi, storage: { "*": 50 * Gi } });
  assert.equal(c.gpus, [{ vendor: "nvidia", model: "h100", ram: "80Gi", interface: "sxm", count: 8 }]);
  assert.equal(c.storageClasses, ["default", "beta2"]);
  assert.equal(c.attributes, { host: "akash", region: "us-west", tier: "community" });
  assert.equal(c.denoms, ["ucrs"]);
  assert.equal(c.pricing, {
    cpu: dec(0n, 5n, 2),
    memory: dec(0n, 1n, 4),
    storage: { beta2: dec(0n, 1n, 4), default: dec(0n, 5n, 5) },
    gpu: { default: dec(100n), h100: dec(400n) },
    script: "/etc/cirrus/price.sh",
    scriptTimeoutMs: 5000,
    minimum: dec(1n),
  });
  assert.is(c.bidDeposit, "500000");
  assert.is(c.reservationTimeoutBlocks, 30);
  assert.is(c.logLinesMax, 5000);
  // caps apply to the explicit capacity too
  assert.equal(capacityFromConfig(c), {
    cpu: 4000,
    memory: 8 * Gi,
    storage: { default: 50 * Gi, beta2: 50 * Gi },
    gpus: [{ vendor: "nvidia", model: "h100", ram: "80Gi", interface: "sxm", count: 8 }],
  });
});

test("a minimal config gets the defaults", () => {
  const c = parseProviderConfig("key: p\ncluster: {driver: sim}\ncapacity: probe\n", "/x");
  const D = PROVIDER_CONFIG_DEFAULTS;
  assert.equal(c, {
    key: "p",
    cluster: { driver: "sim", hostPorts: [31000, 31999], publicHost: "127.0.0.1" },
    capacity: "probe",
    gpus: [],
    storageClasses: ["default"],
    attributes: {},
    denoms: ["ucrs"],
    pricing: {
      cpu: dec(0n, 5n, 2),
      memory: dec(0n, 1n, 4),
      storage: { default: dec(0n, 5n, 5) },
      gpu: { default: dec(100n) },
      scriptTimeoutMs: 5000,
      minimum: 0n,
    },
    reservationTimeoutBlocks: 30,
    manifestTimeoutBlocks: 600,
    workloadGraceSeconds: 300,
    workloadCheckSeconds: 10,
    logLinesMax: 1000,
  });
  assert.equal(D.hostPorts, [31000, 31999]);
  // kubernetes: kubeconfig defaults to ~/.kube/config under $HOME
  const k = parseProviderConfig("key: p\ncluster: {driver: kubernetes}\ncapacity: probe\n", "/x");
  assert.is(k.cluster.kubeconfig, `${Deno.env.get("HOME")}/.kube/config`);
  assert.is(k.cluster.context, undefined);
});

test("probe capacity: the probed totals, every offered pool gets the probed storage, caps applied", () => {
  const c = parseProviderConfig(
    `key: p
cluster: {driver: podman}
capacity: probe
capacityCap: {cpu: 2, storage: {beta2: 10Gi}}
storageClasses: [default, beta2, ram]
gpus: [{vendor: amd, model: mi300x, count: 2}]
`,
    "/x",
  );
  assert.equal(capacityFromConfig(c, { cpu: 16000, memory: 64 * Gi, storage: 500 * Gi, gpu: 0 }), {
    cpu: 2000,
    memory: 64 * Gi,
    storage: { default: 500 * Gi, beta2: 10 * Gi },
    gpus: [{ vendor: "amd", model: "mi300x", count: 2 }],
  });
  assert.throws(() => capacityFromConfig(c), /capacity is "probe" but no probe result/);
});

test("config errors name their path", () => {
  const base = "key: p\ncluster: {driver: sim}\ncapacity: probe\n";
  const table: [string, RegExp][] = [
    ["cluster: {driver: sim}\ncapacity: probe\n", /^key: required/],
    ["key: p\ncapacity: probe\n", /^cluster: required/],
    [
      "key: p\ncluster: {driver: docker}\ncapacity: probe\n",
      /^cluster\.driver: must be kubernetes, podman or sim, got "docker"$/,
    ],
    ["key: p\ncluster: {driver: sim}\n", /^capacity: required/],
    [base + "pricing: {cpu: abc}\n", /^pricing\.cpu: must be a decimal string \("0\.05"\), got "abc"$/],
    [base + 'pricing: {cpu: "-1"}\n', /^pricing\.cpu: must be a decimal string/],
    [base + 'pricing: {cpu: "0.0000000000000000001"}\n', /^pricing\.cpu: must be a decimal string/],
    [base + 'pricing: {storage: {beta9: "1"}}\n', /^pricing\.storage\.beta9: unknown storage class$/],
    [base + 'pricing: {storage: {beta2: "1"}}\n', /^pricing\.storage\.default: required/],
    [
      base + 'pricing: {gpu: {a100: "1"}}\ngpus: [{vendor: nvidia, model: h100, count: 1}]\n',
      /^pricing\.gpu: no price for gpu model h100/,
    ],
    [base + "pricing: {colour: red}\n", /^pricing\.colour: unknown key \(known: cpu, memory/],
    [base + "foo: 1\n", /^foo: unknown key \(known: key, cluster/],
    [
      "key: p\ncluster: {driver: sim}\ncapacity: {cpu: 8, memory: lots, storage: 1Gi}\n",
      /^capacity\.memory: invalid size "lots"/,
    ],
    ["key: p\ncluster: {driver: sim}\ncapacity: {memory: 1Gi, storage: 1Gi}\n", /^capacity\.cpu: required$/],
    [
      "key: p\ncluster: {driver: sim}\ncapacity: {cpu: -1, memory: 1Gi, storage: 1Gi}\n",
      /^capacity\.cpu: invalid cpu quantity "-1": negative$/,
    ],
    [
      "key: p\ncluster: {driver: sim}\nstorageClasses: [default, beta2]\ncapacity: {cpu: 1, memory: 1Gi, storage: 1Gi}\n",
      /^capacity\.storage\.beta2: required \(beta2 is in storageClasses\)$/,
    ],
    [
      "key: p\ncluster: {driver: sim}\ncapacity: {cpu: 1, memory: 1Gi, storage: {ram: 1Gi}}\n",
      /^capacity\.storage\.ram: unknown storage pool/,
    ],
    [base + "capacityCap: {cpu: lots}\n", /^capacityCap\.cpu: invalid cpu quantity/],
    [
      "key: p\ncluster: {driver: podman, kubeconfig: /k}\ncapacity: probe\n",
      /^cluster\.kubeconfig: only for driver kubernetes \(driver is podman\)$/,
    ],
    [
      "key: p\ncluster: {driver: sim, hostPorts: [32000, 31000]}\ncapacity: probe\n",
      /^cluster\.hostPorts: first port 32000 is above last port 31000$/,
    ],
    [
      "key: p\ncluster: {driver: sim, hostPorts: [0, 31000]}\ncapacity: probe\n",
      /^cluster\.hostPorts\[0\]: must be an integer from 1 to 65535$/,
    ],
    [base + "gpus: [{vendor: intel, model: arc, count: 1}]\n", /^gpus\[0\]\.vendor: must be nvidia or amd$/],
    [
      base + "gpus: [{vendor: nvidia, model: h100, interface: nvlink, count: 1}]\n",
      /^gpus\[0\]\.interface: must be pcie or sxm$/,
    ],
    [base + "gpus: [{vendor: nvidia, model: h100}]\n", /^gpus\[0\]\.count: must be an integer/],
    [base + "gpus: [{vendor: nvidia, model: h100, ram: 80Gx, count: 1}]\n", /^gpus\[0\]\.ram: invalid size/],
    [
      base + "gpus: [{vendor: nvidia, model: h100, count: 1}, {vendor: nvidia, model: h100, count: 2}]\n",
      /^gpus\[1\]: duplicate gpu/,
    ],
    [base + "storageClasses: [ram]\n", /^storageClasses: persistent storage requires a non-ram class/],
    [base + "storageClasses: [default, fast]\n", /^storageClasses\[1\]: must be one of default, beta1/],
    [
      base + "attributes: {capabilities/gpu/vendor/nvidia/model/h100: true}\n",
      /^attributes\.capabilities\/gpu\/vendor\/nvidia\/model\/h100: gpu capabilities are derived/,
    ],
    [base + "attributes: {9lives: x}\n", /^attributes\.9lives: key must be/],
    [base + "denoms: [x]\n", /^denoms\[0\]: invalid denom$/],
    [base + 'bidDeposit: "1.5"\n', /^bidDeposit: must be a positive integer/],
    [base + "reservationTimeoutBlocks: 0\n", /^reservationTimeoutBlocks: must be an integer from 1/],
    ["key: [unclosed\n", /^provider config: invalid YAML:/],
    ["- a\n- b\n", /^must be a map with keys key, cluster/],
  ];
  for (const [yaml, want] of table) {
    try {
      parseProviderConfig(yaml, "/x");
      assert.unreachable(`accepted:\n${yaml}`);
    } catch (e) {
      assert.instance(e, ProviderConfigError, yaml);
      assert.match((e as Error).message, want, yaml);
    }
  }
});

test("advertised attributes: sorted, gpu capabilities the chain's placement check accepts", () => {
  const c = parseProviderConfig(FULL, "/etc/cirrus");
  const attrs = advertisedAttributes(c);
  assert.equal(attrs, [
    { key: "capabilities/gpu/vendor/nvidia/model/h100/ram/80Gi/interface/sxm", value: "true" },
    { key: "capabilities/storage/1/class", value: "default" },
    { key: "capabilities/storage/1/persistent", value: "true" },
    { key: "capabilities/storage/2/class", value: "beta2" },
    { key: "capabilities/storage/2/persistent", value: "true" },
    { key: "host", value: "akash" },
    { key: "region", value: "us-west" },
    { key: "tier", value: "community" },
  ]);
  const sdl = (gpu: string) => `
version: "2.0"
services: {web: {image: nginx, expose: [{port: 80, to: [{global: true}]}]}}
profiles:
  compute:
    web:
      resources:
        cpu: {units: 1}
        memory: {size: 1Gi}
        storage: {size: 1Gi}
        gpu: {units: 1, attributes: {vendor: {nvidia: [${gpu}]}}}
  placement:
    dc:
      attributes: {region: us-west}
      pricing: {web: {denom: ucrs, amount: 1000}}
deployment: {web: {dc: {profile: web, count: 1}}}
`;
  const rec = { hostUri: [], attributes: attrs, info: {}, createdAt: 0, updatedAt: 0 };
  for (
    const [gpu, ok] of [
      ["{model: h100}", true],
      ["{model: h100, ram: 80Gi, interface: sxm}", true],
      ["{model: h100, interface: pcie}", false],
      ["{model: a100}", false],
    ] as const
  ) {
    const r = parseSdl(sdl(gpu));
    if (!r.ok) throw new Error(r.errors.join("; "));
    assert.is(placementProblem("p", rec, r.groups[0]!) === null, ok, gpu);
  }
});

test("loadProviderConfig reads a file; relative paths resolve against its directory", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cirrus-provcfg-" });
  try {
    await Deno.writeTextFile(
      `${dir}/p.yaml`,
      "key: p\ncluster: {driver: sim}\ncapacity: probe\npricing: {script: price.sh}\n",
    );
    const c = await loadProviderConfig(`${dir}/p.yaml`);
    assert.is(c.pricing.script, `${dir}/price.sh`);
    try {
      await loadProviderConfig(`${dir}/missing.yaml`);
      assert.unreachable();
    } catch (e) {
      assert.match((e as Error).message, /^cannot read provider config .*missing\.yaml/);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("examples/provider.yaml parses with the documented values", async () => {
  const url = new URL("../../examples/provider.yaml", import.meta.url);
  const cfg = parseProviderConfig(await Deno.readTextFile(url), new URL(".", url).pathname);
  assert.is(cfg.key, "provider");
  assert.is(cfg.cluster.driver, "podman");
  assert.equal(cfg.cluster.hostPorts, [31000, 31999]);
  assert.is(cfg.capacity, "probe");
  assert.equal(cfg.attributes, { region: "us-west", host: "akash", tier: "community" });
});

test.run();
