/** Each validation rule users meet on Akash: bad input gives a clear reason naming the path. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { stringify } from "yaml";
import { parseSdl, validateReport } from "../../auction/sdl/mod.ts";

// deno-lint-ignore no-explicit-any
type Doc = any;

function base(): Doc {
  return {
    version: "2.0",
    services: {
      web: {
        image: "nginx:1.25",
        expose: [{ port: 80, as: 80, to: [{ global: true }] }],
      },
    },
    profiles: {
      compute: {
        web: { resources: { cpu: { units: 0.5 }, memory: { size: "512Mi" }, storage: { size: "1Gi" } } },
      },
      placement: { dcloud: { pricing: { web: { denom: "uakt", amount: 1000 } } } },
    },
    deployment: { web: { dcloud: { profile: "web", count: 1 } } },
  };
}

function errorsOf(mutate: (d: Doc) => void): string[] {
  const d = base();
  mutate(d);
  const r = parseSdl(stringify(d));
  if (r.ok) return [];
  assert.is(r.error, r.errors[0]);
  return r.errors;
}

/** Assert the mutated SDL is rejected with an error starting with `path: ` and containing `msg`. */
function rejects(mutate: (d: Doc) => void, path: string, msg: string): void {
  const errors = errorsOf(mutate);
  assert.ok(errors.length > 0, `accepted, want ${path}: ${msg}`);
  assert.ok(
    errors.some((e) => e.startsWith(`${path}: `) && e.includes(msg)),
    `want "${path}: ...${msg}...", got ${JSON.stringify(errors)}`,
  );
}

const gpuAttrs = { vendor: { nvidia: [{ model: "a100", ram: "80Gi", interface: "pcie" }] } };

test("the base SDL is valid", () => {
  assert.equal(errorsOf(() => {}), []);
});

test("every service must be deployed", () => {
  rejects((d) => (d.services.worker = { image: "busybox" }), "services.worker", "not deployed");
});

test("a deployment must name an existing service", () => {
  rejects(
    (d) => (d.deployment.ghost = { dcloud: { profile: "web" } }),
    "deployment.ghost",
    'no service named "ghost"',
  );
});

test("a deployment's compute profile must exist", () => {
  rejects(
    (d) => (d.deployment.web.dcloud.profile = "big"),
    "deployment.web.dcloud.profile",
    'no compute profile named "big"',
  );
});

test("a deployment's placement profile must exist", () => {
  rejects(
    (d) => (d.deployment.web = { nowhere: { profile: "web" } }),
    "deployment.web.nowhere",
    'no placement profile named "nowhere"',
  );
});

test("the placement must price the compute profile deployed in it", () => {
  rejects(
    (d) => (d.profiles.placement.dcloud.pricing = { other: { denom: "uakt", amount: 1 } }),
    "profiles.placement.dcloud.pricing.web",
    'compute profile "web"',
  );
});

test("a profile or price declared but invalid is reported once, at its own path, not again as missing", () => {
  assert.equal(errorsOf((d) => (d.profiles.compute.web.resources.memory.size = "lots")), [
    'profiles.compute.web.resources.memory.size: invalid size "lots" (use e.g. 512Mi, 1Gi, 1G or bytes)',
  ]);
  assert.equal(errorsOf((d) => (d.profiles.placement.dcloud = null)), [
    "profiles.placement.dcloud: required",
  ]);
  assert.equal(errorsOf((d) => (d.profiles.placement.dcloud.pricing.web = null)), [
    "profiles.placement.dcloud.pricing.web: required",
  ]);
  assert.equal(errorsOf((d) => (d.profiles.placement.dcloud.pricing.web.amount = "x")), [
    'profiles.placement.dcloud.pricing.web.amount: invalid amount "x" (want a decimal like 100 or 0.5)',
  ]);
  // a name that needs quoting in a path
  assert.equal(
    errorsOf((d) => {
      d.profiles.placement["d cloud"] = null;
      d.deployment.web = { "d cloud": { profile: "web" } };
    }),
    ['profiles.placement["d cloud"]: required'],
  );
});

test("a missing profile or price is reported even when a declared one whose name extends it failed", () => {
  const badWebx = { resources: { cpu: { units: 0.5 }, memory: { size: "lots" }, storage: { size: "1Gi" } } };
  assert.equal(
    errorsOf((d) => {
      d.profiles.compute = { webx: badWebx };
    }),
    [
      'profiles.compute.webx.resources.memory.size: invalid size "lots" (use e.g. 512Mi, 1Gi, 1G or bytes)',
      'deployment.web.dcloud.profile: no compute profile named "web" in profiles.compute',
    ],
  );
  assert.equal(
    errorsOf((d) => {
      d.profiles.placement = { dcloudx: null };
    }),
    [
      "profiles.placement.dcloudx: required",
      'deployment.web.dcloud: no placement profile named "dcloud" in profiles.placement',
    ],
  );
  assert.equal(
    errorsOf((d) => (d.profiles.placement.dcloud.pricing = { webx: { denom: "uakt", amount: "x" } })),
    [
      'profiles.placement.dcloud.pricing.webx.amount: invalid amount "x" (want a decimal like 100 or 0.5)',
      'profiles.placement.dcloud.pricing.web: required: deployment.web.dcloud uses compute profile "web" (no price for it)',
    ],
  );
});

test("gpu attributes are required when gpu units > 0", () => {
  rejects(
    (d) => (d.profiles.compute.web.resources.gpu = { units: 1 }),
    "profiles.compute.web.resources.gpu.attributes",
    "required when gpu units > 0",
  );
});

test("gpu attributes are not allowed when gpu units is 0", () => {
  rejects(
    (d) => (d.profiles.compute.web.resources.gpu = { units: 0, attributes: gpuAttrs }),
    "profiles.compute.web.resources.gpu.attributes",
    "not allowed when gpu units is 0",
  );
});

test("gpu interface must be pcie or sxm, vendor nvidia or amd", () => {
  rejects(
    (
      d,
    ) => (d.profiles.compute.web.resources.gpu = {
      units: 1,
      attributes: { vendor: { nvidia: [{ model: "a100", interface: "usb" }] } },
    }),
    "profiles.compute.web.resources.gpu.attributes.vendor.nvidia[0].interface",
    "must be pcie or sxm",
  );
  rejects(
    (d) => (d.profiles.compute.web.resources.gpu = { units: 1, attributes: { vendor: { intel: null } } }),
    "profiles.compute.web.resources.gpu.attributes.vendor.intel",
    "unsupported gpu vendor",
  );
});

test("ram storage cannot be persistent", () => {
  rejects(
    (d) => (d.profiles.compute.web.resources.storage = [
      { size: "1Gi" },
      { name: "shm", size: "1Gi", attributes: { class: "ram", persistent: true } },
    ]),
    "profiles.compute.web.resources.storage[1].attributes.persistent",
    'storage class "ram" cannot be persistent',
  );
});

test("ephemeral storage cannot set a class other than ram", () => {
  rejects(
    (d) => (d.profiles.compute.web.resources.storage = { size: "1Gi", attributes: { class: "beta2" } }),
    "profiles.compute.web.resources.storage.attributes.class",
    "ephemeral storage cannot set class",
  );
});

test("storage class must be a known class", () => {
  rejects(
    (
      d,
    ) => (d.profiles.compute.web.resources.storage = [{ size: "1Gi" }, {
      name: "d",
      size: "1Gi",
      attributes: { persistent: true, class: "ssd" },
    }]),
    "profiles.compute.web.resources.storage[1].attributes.class",
    "must be one of default, beta1, beta2, beta3, ram",
  );
});

test("only one root ephemeral volume", () => {
  rejects(
    (d) => (d.profiles.compute.web.resources.storage = [{ size: "1Gi" }, { name: "scratch", size: "1Gi" }]),
    "profiles.compute.web.resources.storage[1]",
    'only one root ephemeral volume is allowed (already "default")',
  );
});

test('no duplicate volume names (two unnamed volumes are both "default")', () => {
  rejects(
    (d) => (d.profiles.compute.web.resources.storage = [{ size: "1Gi" }, { size: "2Gi" }]),
    "profiles.compute.web.resources.storage[1].name",
    'duplicate volume name "default"',
  );
  rejects(
    (d) => {
      d.profiles.compute.web.resources.storage = [
        { size: "1Gi" },
        { name: "data", size: "1Gi", attributes: { persistent: true } },
        { name: "data", size: "2Gi", attributes: { persistent: true } },
      ];
      d.services.web.params = { storage: { data: { mount: "/data" } } };
    },
    "profiles.compute.web.resources.storage[2].name",
    'duplicate volume name "data"',
  );
});

function twoVolumes(d: Doc): void {
  d.profiles.compute.web.resources.storage = [
    { size: "1Gi" },
    { name: "a", size: "1Gi", attributes: { persistent: true } },
    { name: "b", size: "1Gi", attributes: { persistent: true, class: "beta3" } },
  ];
}

test("no two volumes on the same mount point", () => {
  rejects(
    (d) => {
      twoVolumes(d);
      d.services.web.params = { storage: { a: { mount: "/data" }, b: { mount: "/data" } } };
    },
    "services.web.params.storage.b.mount",
    'mount point "/data" already used by volume "a"',
  );
});

test("mounts must be absolute paths", () => {
  rejects(
    (d) => {
      twoVolumes(d);
      d.services.web.params = { storage: { a: { mount: "data" }, b: { mount: "/b" } } };
    },
    "services.web.params.storage.a.mount",
    'must be an absolute path, got "data"',
  );
});

test("persistent volumes must be mounted", () => {
  rejects(
    (d) => {
      twoVolumes(d);
      d.services.web.params = { storage: { a: { mount: "/a" } } };
    },
    "services.web.params.storage.b.mount",
    'volume "b" of profiles.compute.web is persistent and must be mounted',
  );
});

test("storage params must name a volume of the compute profile", () => {
  rejects(
    (d) => (d.services.web.params = { storage: { cache: { mount: "/cache" } } }),
    "services.web.params.storage.cache",
    'no volume named "cache" in profiles.compute.web.resources.storage',
  );
});

test("ram volumes cannot be mounted read-only", () => {
  rejects(
    (d) => {
      d.profiles.compute.web.resources.storage = [{ size: "1Gi" }, {
        name: "shm",
        size: "1Gi",
        attributes: { class: "ram" },
      }];
      d.services.web.params = { storage: { shm: { mount: "/dev/shm", readOnly: true } } };
    },
    "services.web.params.storage.shm.readOnly",
    'not allowed for storage class "ram"',
  );
});

test("an ip expose must be global", () => {
  rejects(
    (d) => {
      d.endpoints = { myip: { kind: "ip" } };
      d.services.web.expose[0].to = [{ ip: "myip" }];
    },
    "services.web.expose[0].to[0].ip",
    "an ip endpoint requires global: true",
  );
});

test("an ip expose must name a declared endpoint", () => {
  rejects(
    (d) => (d.services.web.expose[0].to = [{ global: true, ip: "myip" }]),
    "services.web.expose[0].to[0].ip",
    'no endpoint named "myip" declared in endpoints',
  );
});

test("declared endpoints must be used, have kind ip and a valid name", () => {
  rejects((d) => (d.endpoints = { myip: { kind: "ip" } }), "endpoints.myip", "declared but never used");
  rejects(
    (d) => (d.endpoints = { myip: { kind: "dns" } }),
    "endpoints.myip.kind",
    'unknown endpoint kind "dns"',
  );
  rejects((d) => (d.endpoints = { "My-IP": { kind: "ip" } }), "endpoints.My-IP", "invalid endpoint name");
});

test("two services cannot take the same port on one ip endpoint", () => {
  rejects(
    (d) => {
      d.endpoints = { myip: { kind: "ip" } };
      d.services.web.expose[0].to = [{ global: true, ip: "myip" }];
      d.services.api = { image: "api", expose: [{ port: 80, to: [{ global: true, ip: "myip" }] }] };
      d.deployment.api = { dcloud: { profile: "web" } };
    },
    "services.api.expose[0].to[0]",
    'ip endpoint "myip" port 80/tcp already used by service "web"',
  );
});

test("expose ports must be 1..65535 and proto tcp or udp", () => {
  rejects((d) => (d.services.web.expose[0].port = 70000), "services.web.expose[0].port", "must be 1..65535");
  rejects((d) => (d.services.web.expose[0].port = 0), "services.web.expose[0].port", "must be 1..65535");
  rejects((d) => (d.services.web.expose[0].as = 65536), "services.web.expose[0].as", "must be 1..65535");
  rejects((d) => delete d.services.web.expose[0].port, "services.web.expose[0].port", "required (1..65535)");
  rejects(
    (d) => (d.services.web.expose[0].proto = "http"),
    "services.web.expose[0].proto",
    "must be tcp or udp",
  );
});

test("expose targets must be a list and name existing services", () => {
  rejects(
    (d) => (d.services.web.expose[0].to = { global: true }),
    "services.web.expose[0].to",
    "must be a list",
  );
  rejects(
    (d) => (d.services.web.expose[0].to = [{ service: "db" }]),
    "services.web.expose[0].to[0].service",
    'no service named "db"',
  );
});

test("accept hostnames and http_options are checked", () => {
  rejects(
    (d) => (d.services.web.expose[0].accept = ["a b.com"]),
    "services.web.expose[0].accept[0]",
    "invalid hostname",
  );
  rejects(
    (d) => (d.services.web.expose[0].http_options = { max_body_size: 104857601 }),
    "services.web.expose[0].http_options.max_body_size",
    "must be 0..104857600",
  );
  rejects(
    (d) => (d.services.web.expose[0].http_options = { next_cases: ["off", "error"] }),
    "services.web.expose[0].http_options.next_cases",
    '"off" must be the only next case',
  );
});

test("depends_on must name existing services", () => {
  rejects((d) => (d.services.web.depends_on = ["db"]), "services.web.depends_on", 'no service named "db"');
});

test("credentials need host, username and password", () => {
  rejects(
    (d) => (d.services.web.credentials = { host: "ghcr.io", username: "me" }),
    "services.web.credentials.password",
    "required",
  );
});

test("a service needs an image and a valid name; env entries are NAME=VALUE", () => {
  rejects((d) => delete d.services.web.image, "services.web.image", "required");
  rejects(
    (d) => {
      d.services.Web = d.services.web;
      delete d.services.web;
      d.deployment.Web = d.deployment.web;
      delete d.deployment.web;
    },
    "services.Web",
    "invalid service name",
  );
  rejects((d) => (d.services.web.env = ["=x"]), "services.web.env[0]", "must be NAME=VALUE");
  rejects((d) => (d.services.web.env = "A=1"), "services.web.env", "must be a list of strings");
});

test("limits: cpu per unit", () => {
  rejects(
    (d) => (d.profiles.compute.web.resources.cpu.units = 400),
    "profiles.compute.web.resources.cpu.units",
    "must be 10m..384 cpus",
  );
  rejects(
    (d) => (d.profiles.compute.web.resources.cpu.units = "5m"),
    "profiles.compute.web.resources.cpu.units",
    "must be 10m..384 cpus",
  );
  rejects(
    (d) => (d.profiles.compute.web.resources.cpu.units = "lots"),
    "profiles.compute.web.resources.cpu.units",
    "invalid cpu quantity",
  );
});

test("limits: memory per unit", () => {
  rejects(
    (d) => (d.profiles.compute.web.resources.memory.size = "3Ti"),
    "profiles.compute.web.resources.memory.size",
    "must be 1Mi..2Ti",
  );
  rejects(
    (d) => (d.profiles.compute.web.resources.memory.size = "512Ki"),
    "profiles.compute.web.resources.memory.size",
    "must be 1Mi..2Ti",
  );
});

test("limits: storage per volume", () => {
  rejects(
    (d) => (d.profiles.compute.web.resources.storage.size = "33Ti"),
    "profiles.compute.web.resources.storage.size",
    "must be 5Mi..32Ti",
  );
  rejects(
    (d) => (d.profiles.compute.web.resources.storage.size = "1Mi"),
    "profiles.compute.web.resources.storage.size",
    "must be 5Mi..32Ti",
  );
});

test("limits: gpu per unit", () => {
  rejects(
    (d) => (d.profiles.compute.web.resources.gpu = { units: 25, attributes: gpuAttrs }),
    "profiles.compute.web.resources.gpu.units",
    "must be 0..24",
  );
});

test("limits: count per service and per merged v2.1 unit", () => {
  rejects((d) => (d.deployment.web.dcloud.count = 51), "deployment.web.dcloud.count", "must be 1..50");
  rejects((d) => (d.deployment.web.dcloud.count = 0), "deployment.web.dcloud.count", "must be 1..50");
  rejects(
    (d) => {
      d.version = "2.1";
      d.deployment.web.dcloud.count = 30;
      d.services.api = { image: "api" };
      d.deployment.api = { dcloud: { profile: "web", count: 30 } };
    },
    "deployment.api.dcloud",
    "total count 60 exceeds 50",
  );
});

test("limits: at most 20 groups and 20 units per group", () => {
  rejects(
    (d) => {
      for (let i = 0; i < 21; i++) {
        d.profiles.placement[`p${i}`] = { pricing: { web: { denom: "uakt", amount: 1 } } };
      }
      d.deployment.web = Object.fromEntries(
        Array.from({ length: 21 }, (_, i) => [`p${i}`, { profile: "web" }]),
      );
    },
    "profiles.placement",
    "at most 20 placement groups per deployment, got 21",
  );
  rejects(
    (d) => {
      for (let i = 0; i < 21; i++) {
        d.services[`s${i}`] = { image: "x" };
        d.deployment[`s${i}`] = { dcloud: { profile: "web" } };
      }
    },
    "profiles.placement.dcloud",
    "at most 20 resource units per group, got 22",
  );
});

test("prices: positive decimal amounts and valid denoms", () => {
  rejects(
    (d) => (d.profiles.placement.dcloud.pricing.web.amount = 0),
    "profiles.placement.dcloud.pricing.web.amount",
    "amount is zero",
  );
  rejects(
    (d) => (d.profiles.placement.dcloud.pricing.web.amount = -5),
    "profiles.placement.dcloud.pricing.web.amount",
    "negative",
  );
  rejects(
    (d) => (d.profiles.placement.dcloud.pricing.web.amount = "ten"),
    "profiles.placement.dcloud.pricing.web.amount",
    "invalid amount",
  );
  rejects(
    (d) => (d.profiles.placement.dcloud.pricing.web.denom = "$"),
    "profiles.placement.dcloud.pricing.web.denom",
    "invalid denom",
  );
});

test("version must be 2.0 or 2.1", () => {
  rejects((d) => (d.version = "3.0"), "version", 'unsupported version "3.0"');
  rejects((d) => delete d.version, "version", "required");
});

test("unknown top-level fields are errors; unknown service fields are warnings", () => {
  rejects((d) => (d.extras = 1), "extras", "unexpected top-level field");
  const d = base();
  d.services.web.restart = "always";
  const r = parseSdl(stringify(d));
  assert.ok(r.ok);
  assert.equal(r.warnings, ["services.web.restart: unknown field, ignored"]);
});

test("null attributes and null signedBy are accepted, as Akash's Go parser does", () => {
  const d = base();
  d.profiles.placement.dcloud.attributes = null;
  d.profiles.placement.dcloud.signedBy = null;
  assert.ok(parseSdl(stringify(d)).ok);
});

test("yaml syntax errors, non-mappings, huge input and alias bombs are rejected, never thrown", () => {
  const cases: [string, string][] = [
    ["version: '2.0\nservices: {", "yaml: "],
    ["- a\n- b\n", "(root): must be a mapping"],
    ["", "(root): must be a mapping"],
    [`version: "2.0"\n#${"x".repeat(1024 * 1024)}\n`, "sdl: input too large"],
    [
      'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n' +
      "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n",
      "yaml: ",
    ],
    ["version: '2.0'\nversion: '2.1'\n", "yaml: "],
  ];
  for (const [text, want] of cases) {
    const r = parseSdl(text);
    assert.ok(!r.ok, `accepted ${text.slice(0, 40)}`);
    if (!r.ok) assert.ok(r.error.startsWith(want), `${JSON.stringify(r.error)} does not start with ${want}`);
  }
});

test("validateReport: invalid input gives valid false, the first error, and no groups", () => {
  const d = base();
  d.services.web.expose[0].port = 70000;
  const rep = validateReport(stringify(d));
  assert.equal(rep, {
    valid: false,
    error: "services.web.expose[0].port: must be 1..65535, got 70000",
    groups: [],
  });
});

test.run();
