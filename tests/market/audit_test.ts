/**
 * The audit module: `audit.attest` / `audit.revoke` (lifecycle, events, query, rejections), and
 * Akash's signedBy rule on bid.create (allOf / anyOf, attribute values, empty requirements, revoke),
 * including a real corpus SDL file that names an auditor.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { groupsForTx, listAttestations, listBids, signedByProblem } from "../../auction/market/mod.ts";
import { parseSdl } from "../../auction/sdl/mod.ts";
import type { Group } from "../../auction/sdl/types.ts";
import { cirrusLedger, signTx, totalSupply } from "../../node/ledger/mod.ts";
import { type TestKey } from "../helpers/ledger.ts";
import { deploymentBody, eventsOf, groupsOf, providerBody, sdl, TestChain } from "./helpers.ts";
import { sdlCorpus } from "../helpers/corpus.ts";

const ucrs = (amount: string) => ({ denom: "ucrs", amount });
const attrs = (m: Record<string, string>) => Object.entries(m).map(([key, value]) => ({ key, value }));
const AKASH_AUDITOR = "akash1365yvmc4s7awdyj3n2sav7xfx76adc6dnmlx63";
const corpus = sdlCorpus("the corpus signedBy test");
/** A real corpus file whose placement requires `host: akash` signed by Akash's auditor. */
const CORPUS_FILE = corpus.url("caddy.yaml");

/** Providers p0, p1 (us-west, host akash), p2 (eu); auditors a1, a2; tenant alice. */
async function market() {
  const c = new TestChain({ market: { bidWindowBlocks: 50 } });
  const [alice, p0, p1, p2, a1, a2, stranger] = c.keys;
  await c.add(p0!, "provider.create", providerBody({ region: "us-west", host: "akash" }));
  await c.add(p1!, "provider.create", providerBody({ region: "us-west", host: "akash" }));
  await c.add(p2!, "provider.create", providerBody({ region: "eu" }));
  c.block();
  return { c, alice: alice!, p0: p0!, p1: p1!, p2: p2!, a1: a1!, a2: a2!, stranger: stranger! };
}

/** The sdl() group (region us-west, max price 1000) with the given signedBy (and attributes). */
function signedGroup(allOf: string[], anyOf: string[], attributes?: { key: string; value: string }[]): Group {
  const g = groupsOf(sdl())[0]!;
  return {
    ...g,
    requirements: { attributes: attributes ?? g.requirements.attributes, signedBy: { allOf, anyOf } },
  };
}

/** Why a body is refused at decode time (stateless validation), or "ok". */
async function decodeReason(from: TestKey, type: string, body: Record<string, unknown>): Promise<string> {
  const bytes = await signTx(
    { chainId: "cirrus-test", type, from: from.address, nonce: 0n, fee: 1n, body },
    from.seed,
  );
  const r = cirrusLedger().decodeTx(bytes, { maxTxBytes: 1 << 20 });
  return r.ok ? "ok" : r.reason;
}

/** Opens a deployment of `groups` for `owner`; returns its first order id. */
async function deploy(c: TestChain, owner: TestKey, groups: Group[]): Promise<string> {
  const dseq = c.height + 1;
  await c.ok(owner, "deployment.create", deploymentBody(groups, "5000000", dseq));
  return `${owner.address}/${dseq}/1/1`;
}

test("attest, replace, list, revoke some keys, revoke all", async () => {
  const { c, p0, p1, a1, a2 } = await market();
  let ex = await c.ok(a1, "audit.attest", {
    provider: p0.address,
    attributes: attrs({ region: "us-west", host: "akash" }),
  });
  const h1 = c.height;
  const ev = eventsOf(ex).find((e) => e.type === "audit.attested");
  assert.equal(ev?.attrs, {
    provider: p0.address,
    auditor: a1.address,
    attributes: "host=akash,region=us-west",
  });
  assert.equal(listAttestations(c.state), [{
    provider: p0.address,
    auditor: a1.address,
    attributes: attrs({ host: "akash", region: "us-west" }),
    height: h1,
  }]);
  assert.ok(
    c.state.get(`mkt/audit/${p0.address}/${a1.address}`),
    "stored under mkt/audit/<provider>/<auditor>",
  );

  // a second attest replaces the first
  await c.ok(a1, "audit.attest", {
    provider: p0.address,
    attributes: attrs({ tier: "gold", region: "us-west" }),
  });
  assert.equal(
    listAttestations(c.state, { provider: p0.address })[0]!.attributes,
    attrs({
      region: "us-west",
      tier: "gold",
    }),
  );
  await c.ok(a2, "audit.attest", { provider: p0.address, attributes: attrs({ region: "us-west" }) });
  await c.ok(a2, "audit.attest", { provider: p1.address, attributes: attrs({ region: "us-west" }) });
  const pairs = (l: { provider: string; auditor: string }[]) => l.map((a) => [a.provider, a.auditor]);
  const sorted = [[p0.address, a1.address], [p0.address, a2.address], [p1.address, a2.address]].sort((x, y) =>
    x.join("/") < y.join("/") ? -1 : 1
  );
  assert.equal(pairs(listAttestations(c.state)), sorted);
  assert.equal(
    pairs(listAttestations(c.state, { auditor: a2.address })),
    sorted.filter((x) => x[1] === a2.address),
  );
  assert.equal(pairs(listAttestations(c.state, { provider: p1.address, auditor: a2.address })), [[
    p1.address,
    a2.address,
  ]]);
  assert.equal(listAttestations(c.state, { provider: p1.address, auditor: a1.address }), []);

  // revoke one key, then the rest
  ex = await c.ok(a1, "audit.revoke", { provider: p0.address, keys: ["tier"] });
  assert.equal(eventsOf(ex).find((e) => e.type === "audit.revoked")?.attrs, {
    provider: p0.address,
    auditor: a1.address,
    keys: "tier",
    remaining: "1",
  });
  assert.equal(
    listAttestations(c.state, { provider: p0.address, auditor: a1.address })[0],
    { provider: p0.address, auditor: a1.address, attributes: attrs({ region: "us-west" }), height: c.height },
  );
  await c.ok(a1, "audit.revoke", { provider: p0.address, keys: ["region"] });
  assert.is(c.state.get(`mkt/audit/${p0.address}/${a1.address}`), undefined, "empty attestation deleted");
  ex = await c.ok(a2, "audit.revoke", { provider: p0.address });
  assert.equal(eventsOf(ex).find((e) => e.type === "audit.revoked")?.attrs.keys, "region");
  assert.equal(pairs(listAttestations(c.state)), [[p1.address, a2.address]]);
  assert.is(totalSupply(c.state), c.state.supply);
});

test("audit txs: rejections with clear reasons, nothing written", async () => {
  const { c, p0, a1, stranger } = await market();
  await c.rejects(
    a1,
    "audit.attest",
    { provider: stranger.address, attributes: attrs({ region: "us-west" }) },
    `provider ${stranger.address} is not registered`,
  );
  const refused = (type: string, body: Record<string, unknown>) => decodeReason(a1, type, body);
  assert.is(
    await refused("audit.attest", { provider: p0.address, attributes: [] }),
    "body.attributes: must not be empty (use audit.revoke to withdraw an attestation)",
  );
  const many = Array.from({ length: 65 }, (_, i) => ({ key: `k${i}`, value: "v" }));
  assert.is(
    await refused("audit.attest", { provider: p0.address, attributes: many }),
    "body.attributes: must be an array of at most 64 {key, value}",
  );
  assert.is(
    await refused("audit.attest", {
      provider: p0.address,
      attributes: [{ key: "a", value: "1" }, { key: "a", value: "2" }],
    }),
    "body.attributes[1].key: duplicate attribute a",
  );
  assert.is(
    await refused("audit.attest", { provider: "not-an-address", attributes: attrs({ region: "us-west" }) }),
    "body.provider: must be a bech32 address",
  );
  assert.is(await refused("audit.attest", { provider: p0.address }), "body.attributes: missing");
  assert.is(
    await refused("audit.revoke", { provider: p0.address, keys: [] }),
    "body.keys: must be an array of 1-64 attribute keys (omit it to revoke all)",
  );
  assert.is(
    await refused("audit.revoke", { provider: p0.address, keys: ["region", "region"] }),
    "body.keys[1]: duplicate key region",
  );
  assert.is(await refused("audit.revoke", { provider: p0.address, extra: 1 }), "body.extra: unknown field");
  await c.rejects(
    a1,
    "audit.revoke",
    { provider: p0.address },
    `auditor ${a1.address} has no attestation of provider ${p0.address}`,
  );
  await c.ok(a1, "audit.attest", { provider: p0.address, attributes: attrs({ region: "us-west" }) });
  await c.rejects(
    a1,
    "audit.revoke",
    { provider: p0.address, keys: ["tier"] },
    `auditor ${a1.address} has not attested tier of provider ${p0.address}`,
  );
});

corpus.test("a real corpus file with signedBy (denom -> ucrs) is accepted; bids need the named auditor", async () => {
  const { c, alice, p0, a1 } = await market();
  const text = (await Deno.readTextFile(CORPUS_FILE)).replaceAll(/\bua(kt|ct)\b/g, "ucrs");
  const r = parseSdl(text);
  assert.ok(r.ok, r.ok ? "" : r.errors.join("; "));
  if (!r.ok) return;
  const groups = groupsForTx(r.groups);
  assert.equal(groups[0]!.requirements.signedBy, { allOf: [], anyOf: [AKASH_AUDITOR] });
  const dseq = c.height + 1;
  await c.ok(alice, "deployment.create", {
    ...deploymentBody(groups, "5000000", dseq),
    manifestHash: r.manifestHash,
  });
  const order = `${alice.address}/${dseq}/1/1`;
  // p0 has host=akash but Akash's auditor has not signed it here
  await c.ok(a1, "audit.attest", { provider: p0.address, attributes: attrs({ host: "akash" }) });
  await c.rejects(
    p0,
    "bid.create",
    { order, price: ucrs("10") },
    `provider ${p0.address} lacks attestations from auditor ${AKASH_AUDITOR} for host=akash`,
  );

  // the same file naming a1 as its auditor: p0 can bid
  const r2 = parseSdl(text.replace(AKASH_AUDITOR, a1.address));
  assert.ok(r2.ok);
  if (!r2.ok) return;
  const order2 = await deploy(c, alice, groupsForTx(r2.groups));
  await c.ok(p0, "bid.create", { order: order2, price: ucrs("10") });
});

test("bid.create: allOf satisfied / one auditor missing / value mismatch; anyOf by one", async () => {
  const { c, alice, p0, p1, p2, a1, a2 } = await market();
  const both = await deploy(c, alice, [signedGroup([a1.address, a2.address], [])]);
  await c.ok(a1, "audit.attest", {
    provider: p0.address,
    attributes: attrs({ region: "us-west", tier: "x" }),
  });
  await c.ok(a2, "audit.attest", { provider: p0.address, attributes: attrs({ region: "us-west" }) });
  await c.ok(a1, "audit.attest", { provider: p1.address, attributes: attrs({ region: "us-west" }) });
  // p0: both auditors signed region=us-west
  await c.ok(p0, "bid.create", { order: both, price: ucrs("10") });
  // p1: only a1 signed
  await c.rejects(
    p1,
    "bid.create",
    { order: both, price: ucrs("10") },
    `provider ${p1.address} lacks attestations from auditor ${a2.address} for region=us-west`,
  );
  // p1: a2 signed, but another value
  await c.ok(a2, "audit.attest", { provider: p1.address, attributes: attrs({ region: "eu" }) });
  await c.rejects(
    p1,
    "bid.create",
    { order: both, price: ucrs("10") },
    `provider ${p1.address} lacks attestations from auditor ${a2.address} for region=us-west`,
  );
  // p2's own attributes fail first: the placement reason comes before the signedBy one
  await c.rejects(p2, "bid.create", { order: both, price: ucrs("10") }, /requires region=us-west/);

  // anyOf: one of the two auditors is enough (p1: a1 signed region=us-west, a2 signed region=eu)
  const any = await deploy(c, alice, [signedGroup([], [a2.address, a1.address])]);
  await c.ok(p1, "bid.create", { order: any, price: ucrs("10") });
  const eu = await deploy(c, alice, [signedGroup([], [a1.address, a2.address], attrs({ region: "eu" }))]);
  await c.rejects(
    p0,
    "bid.create",
    { order: eu, price: ucrs("10") },
    /requires region=eu \(provider has region=us-west\)/,
  );
  await c.rejects(
    p2,
    "bid.create",
    { order: eu, price: ucrs("10") },
    `provider ${p2.address} lacks attestations from any of auditors ${a1.address}, ${a2.address} for region=eu`,
  );
  // with no required attributes any attestation counts; none does not
  const bare = await deploy(c, alice, [signedGroup([a2.address], [], [])]);
  await c.ok(p1, "bid.create", { order: bare, price: ucrs("10") });
  await c.rejects(
    p2,
    "bid.create",
    { order: bare, price: ucrs("10") },
    `provider ${p2.address} lacks attestations from auditor ${a2.address} for any attribute`,
  );
  // the rule itself, pure over the state
  const req = signedGroup([a1.address], [a2.address]).requirements;
  assert.is(signedByProblem(c.state, p0.address, req), null);
  assert.is(
    signedByProblem(c.state, p2.address, req),
    `provider ${p2.address} lacks attestations from auditor ${a1.address} for region=us-west`,
  );
  assert.equal(
    listBids(c.state, { owner: alice.address }).map((b) => b.provider).sort(),
    [
      p0.address,
      p1.address,
      p1.address,
    ].sort(),
  );
  assert.is(totalSupply(c.state), c.state.supply);
});

test("a revoked attestation makes a later bid fail; leases and supply are unaffected", async () => {
  const { c, alice, p0, a1 } = await market();
  await c.ok(a1, "audit.attest", { provider: p0.address, attributes: attrs({ region: "us-west" }) });
  const first = await deploy(c, alice, [signedGroup([a1.address], [])]);
  await c.ok(p0, "bid.create", { order: first, price: ucrs("10") });
  await c.ok(a1, "audit.revoke", { provider: p0.address });
  const second = await deploy(c, alice, [signedGroup([a1.address], [])]);
  await c.rejects(
    p0,
    "bid.create",
    { order: second, price: ucrs("10") },
    `provider ${p0.address} lacks attestations from auditor ${a1.address} for region=us-west`,
  );
  // the earlier bid still wins its order at the end of the bid window (attestations gate bidding only)
  c.advanceTo(c.height + 50);
  assert.equal(
    listBids(c.state, { owner: alice.address }).map((b) => [b.id, b.state]),
    [[`${first}/${p0.address}`, "active"]],
  );
  assert.is(totalSupply(c.state), c.state.supply);
});

test.run();
