/** checkManifestAgainstLease / checkLeaseAccess: who may run what on which lease, with clear refusals. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { manifestHash, parseSdl } from "../../auction/sdl/mod.ts";
import type { Group, Manifest } from "../../auction/sdl/types.ts";
import type { DeploymentDetail, LeaseInfo } from "../../auction/market/types.ts";
import { addressOf, generatePrivateKey, publicKeyOf } from "../../lib/crypto.ts";
import { checkLeaseAccess, checkManifestAgainstLease, type ManifestCheckInput } from "../../provider/mod.ts";
import { HELLO_SDL as HELLO } from "../helpers/sdl.ts";

const addr = () => addressOf(publicKeyOf(generatePrivateKey()));
const TENANT = addr();
const STRANGER = addr();
const PROVIDER = addr();
const OTHER_PROVIDER = addr();

function sdl(text: string): { manifest: Manifest; groups: Group[]; hash: string } {
  const r = parseSdl(text);
  if (!r.ok) throw new Error(r.errors.join("; "));
  return { manifest: r.manifest, groups: r.groups, hash: r.manifestHash };
}

function lease(over: Partial<LeaseInfo> = {}): LeaseInfo {
  const l = { owner: TENANT, dseq: 7, gseq: 1, oseq: 1, provider: PROVIDER, ...over };
  return {
    id: `${l.owner}/${l.dseq}/${l.gseq}/${l.oseq}/${l.provider}`,
    price: { denom: "ucrs", amount: "100" },
    state: "active",
    createdAt: 10,
    paid: "0",
    ...l,
  };
}

function deployment(groups: Group[], hash: string, over: Partial<DeploymentDetail> = {}): DeploymentDetail {
  return {
    id: `${TENANT}/7`,
    owner: TENANT,
    dseq: 7,
    state: "active",
    manifestHash: hash,
    createdAt: 10,
    updatedAt: 10,
    groups: groups.map((spec, i) => ({ gseq: i + 1, name: spec.name, state: "open", spec })),
    escrow: null,
    orders: [],
    bids: [],
    leases: [],
    ...over,
  };
}

function input(over: Partial<ManifestCheckInput> = {}): ManifestCheckInput {
  const h = sdl(HELLO);
  return {
    manifest: h.manifest,
    manifestHash: h.hash,
    signer: TENANT,
    lease: lease(),
    deployment: deployment(h.groups, h.hash),
    provider: PROVIDER,
    ...over,
  };
}

/** The hello manifest with `edit` applied, committed on chain (so only the over-ask check can refuse). */
function overAsk(edit: (m: Manifest) => void, editSpec?: (g: Group) => void): ManifestCheckInput {
  const h = sdl(HELLO);
  const m = structuredClone(h.manifest);
  edit(m);
  const spec = structuredClone(h.groups);
  if (editSpec) editSpec(spec[0]!);
  const hash = manifestHash(m);
  return input({ manifest: m, manifestHash: hash, deployment: deployment(spec, hash) });
}

function refused(i: ManifestCheckInput, code: string, re: RegExp): void {
  const r = checkManifestAgainstLease(i);
  if (r.ok) return assert.unreachable(`accepted, expected ${code} ${re}`);
  assert.is(r.code, code, r.error);
  assert.match(r.error, re);
}

test("accepts the tenant's manifest for its active lease and returns the lease's group", () => {
  const r = checkManifestAgainstLease(input());
  assert.ok(r.ok);
  if (r.ok) {
    assert.is(r.group.name, "dcloud");
    assert.equal(r.group.services.map((s) => s.name), ["web"]);
  }
});

test("a manifest signed by another key is forbidden and names both addresses", () => {
  refused(
    input({ signer: STRANGER }),
    "forbidden",
    new RegExp(`the manifest is signed by ${STRANGER}, the deployment belongs to ${TENANT}`),
  );
});

test("a manifest whose hash differs from the chain's is refused with both hashes", () => {
  const h = sdl(HELLO);
  const other = sdl(HELLO.replace("hello from cirrus", "hello again"));
  refused(
    input({ manifest: other.manifest, manifestHash: other.hash, deployment: deployment(h.groups, h.hash) }),
    "conflict",
    new RegExp(`manifest hash ${other.hash.slice(0, 12)}… differs from the chain's ${h.hash.slice(0, 12)}…`),
  );
});

test("a request whose named hash is not the manifest's hash is refused", () => {
  const h = sdl(HELLO);
  refused(input({ manifestHash: "00".repeat(32) }), "bad_request", /differs from the hash the request names/);
  assert.ok(h.hash !== "00".repeat(32));
});

test("a lease with another provider is refused and names that provider", () => {
  refused(
    input({ lease: lease({ provider: OTHER_PROVIDER }) }),
    "not_found",
    new RegExp(`belongs to provider ${OTHER_PROVIDER}, not to this provider`),
  );
});

test("a closed lease is refused with the reason it closed", () => {
  refused(
    input({ lease: { ...lease(), state: "closed", reason: "insufficient_funds", closedAt: 20 } }),
    "conflict",
    /lease .* is closed \(insufficient_funds\)/,
  );
  refused(
    input({ lease: { ...lease(), state: "insufficient_funds" } }),
    "conflict",
    /is closed \(insufficient_funds\)/,
  );
});

test("a lease of another deployment is refused", () => {
  refused(input({ lease: lease({ dseq: 8 }) }), "bad_request", /is not a lease of deployment/);
});

test("asking more cpu than leased names the service and the resource", () => {
  refused(
    overAsk((m) => (m[0]!.services[0]!.resources.cpu = 2000)),
    "bad_request",
    /service web asks 2 cpu per replica, the lease has 100m/,
  );
});

test("asking more memory than leased names the service and the resource", () => {
  refused(
    overAsk((m) => (m[0]!.services[0]!.resources.memory = 128 * 1024 ** 2)),
    "bad_request",
    /service web asks 128Mi memory per replica, the lease has 64Mi/,
  );
});

test("asking more storage than leased names the service and the resource", () => {
  refused(
    overAsk((m) => (m[0]!.services[0]!.resources.storage[0]!.size = 1024 ** 3)),
    "bad_request",
    /service web asks 1Gi storage per replica, the lease has 128Mi/,
  );
});

test("asking more gpus than leased names the service and the resource", () => {
  refused(
    overAsk((m) => {
      m[0]!.services[0]!.resources.gpu = { units: 2, attributes: [{ vendor: "nvidia", model: "h100" }] };
    }),
    "bad_request",
    /service web asks 2 gpus per replica, the lease has 0/,
  );
});

test("asking another gpu model than leased is refused", () => {
  refused(
    overAsk(
      (
        m,
      ) => (m[0]!.services[0]!.resources.gpu = {
        units: 1,
        attributes: [{ vendor: "nvidia", model: "a100" }],
      }),
      (g) => (g.units[0]!.gpu = { units: 1, attributes: [{ vendor: "nvidia", model: "h100" }] }),
    ),
    "bad_request",
    /service web asks gpu nvidia\/a100, the lease has nvidia\/h100/,
  );
  // a wildcard model in the lease admits any model of that vendor
  const r = checkManifestAgainstLease(overAsk(
    (
      m,
    ) => (m[0]!.services[0]!.resources.gpu = { units: 1, attributes: [{ vendor: "nvidia", model: "a100" }] }),
    (g) => (g.units[0]!.gpu = { units: 1, attributes: [{ vendor: "nvidia", model: "*" }] }),
  ));
  assert.ok(r.ok);
});

test("asking more replicas than leased names the service and the counts", () => {
  refused(
    overAsk((m) => (m[0]!.services[0]!.count = 3)),
    "bad_request",
    /service web asks 3 replicas, the lease has 1/,
  );
});

test("services sharing a unit may not ask more replicas in total than the unit has", () => {
  refused(
    overAsk((m) => {
      const web = m[0]!.services[0]!;
      m[0]!.services.push({ ...structuredClone(web), name: "api" });
    }),
    "bad_request",
    /services web, api ask 2 replicas in total, the lease's unit 1 has 1/,
  );
});

test("a service on a resource unit the lease does not have is refused", () => {
  refused(
    overAsk((m) => (m[0]!.services[0]!.resources.id = 2)),
    "bad_request",
    /service web uses resource unit 2, the lease has units 1/,
  );
});

test("asking less than leased is accepted", () => {
  const r = checkManifestAgainstLease(overAsk((m) => (m[0]!.services[0]!.resources.memory = 32 * 1024 ** 2)));
  assert.ok(r.ok);
});

test("a manifest without the lease's group is refused", () => {
  refused(
    overAsk((m) => (m[0]!.name = "elsewhere")),
    "bad_request",
    /the manifest has no group dcloud \(group 1 of the lease\)/,
  );
});

test("the group is picked by the lease's gseq in a two-group deployment", () => {
  const two = HELLO.replace(
    "deployment:\n  web:\n    dcloud:\n      profile: web\n      count: 1",
    "deployment:\n  web:\n    dcloud:\n      profile: web\n      count: 1\n    other:\n      profile: web\n      count: 2",
  ).replace(
    "  placement:\n    dcloud:",
    "  placement:\n    other:\n      pricing:\n        web:\n          denom: ucrs\n          amount: 100\n    dcloud:",
  );
  const h = sdl(two);
  assert.is(h.groups.length, 2);
  for (const [gseq, g] of h.groups.entries()) {
    const r = checkManifestAgainstLease(
      input({
        manifest: h.manifest,
        manifestHash: h.hash,
        lease: lease({ gseq: gseq + 1 }),
        deployment: deployment(h.groups, h.hash),
      }),
    );
    assert.ok(r.ok);
    if (r.ok) assert.is(r.group.name, g.name);
  }
});

test("after deployment update the new manifest is accepted and the old one refused", () => {
  const v1 = sdl(HELLO);
  const v2 = sdl(HELLO.replace("hello from cirrus", "hello v2"));
  const updated = deployment(v2.groups, v2.hash, { updatedAt: 20 });
  assert.ok(
    checkManifestAgainstLease(input({ manifest: v2.manifest, manifestHash: v2.hash, deployment: updated }))
      .ok,
  );
  refused(
    input({ manifest: v1.manifest, manifestHash: v1.hash, deployment: updated }),
    "conflict",
    /differs from the chain's/,
  );
});

test("credentials whose host is not the image's registry are refused with both; matching ones are accepted", () => {
  const withCreds = (image: string, host: string) =>
    overAsk((m) => {
      const svc = m[0]!.services[0]!;
      svc.image = image;
      svc.credentials = { host, username: "u", password: "hunter22" };
    });
  refused(
    withCreds("ghcr.io/acme/app:1", "docker.io"),
    "bad_request",
    /service web: credentials are for registry docker\.io, but the image ghcr\.io\/acme\/app:1 pulls from ghcr\.io/,
  );
  refused(
    withCreds("drupal", "evil.example.com"),
    "bad_request",
    /credentials are for registry evil\.example\.com/,
  );
  refused(withCreds("drupal", " "), "bad_request", /credentials\.host is empty/);
  for (
    const [image, host] of [
      ["drupal", "https://index.docker.io/v1/"],
      ["user/app", "docker.io"],
      ["ghcr.io/acme/app:1", "GHCR.io"],
      ["127.0.0.1:5000/x/y", "http://127.0.0.1:5000"],
    ]
  ) {
    const r = checkManifestAgainstLease(withCreds(image!, host!));
    assert.ok(r.ok, `${image} ${host}: ${r.ok ? "" : r.error}`);
  }
  // a refusal never repeats the password
  const r = checkManifestAgainstLease(withCreds("quay.io/a/b", "docker.io"));
  assert.not.ok(r.ok);
  assert.not.match(JSON.stringify(r), /hunter22/);
});

test("lease access: the owner gets the lease, anyone else is forbidden", () => {
  const l = lease();
  const ok = checkLeaseAccess({ signer: TENANT, lease: l, leaseId: l.id, provider: PROVIDER });
  assert.ok(ok.ok);
  const no = checkLeaseAccess({ signer: STRANGER, lease: l, leaseId: l.id, provider: PROVIDER });
  assert.not.ok(no.ok);
  if (!no.ok) {
    assert.is(no.code, "forbidden");
    assert.match(no.error, /^forbidden/);
  }
  // a stranger learns nothing, not even whether the lease exists
  const gone = checkLeaseAccess({ signer: STRANGER, lease: null, leaseId: l.id, provider: PROVIDER });
  assert.is(!gone.ok && gone.code, "forbidden");
});

test("lease access: unknown lease or another provider's lease is not found", () => {
  const l = lease({ provider: OTHER_PROVIDER });
  const r = checkLeaseAccess({ signer: TENANT, lease: l, leaseId: l.id, provider: PROVIDER });
  assert.is(!r.ok && r.code, "not_found");
  const n = checkLeaseAccess({ signer: TENANT, lease: null, leaseId: l.id, provider: PROVIDER });
  assert.is(!n.ok && n.code, "not_found");
});

test.run();
