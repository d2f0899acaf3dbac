/**
 * Devnet providers offer persistent storage: their configs (podman and sim) parse, offer the
 * classes `default`, `beta2` and `beta3`, and advertise them so that the chain's placement check
 * accepts a group with a `beta3` persistent volume (examples/persistent.yaml) and the bid engine
 * would bid on it; a provider without the class declines with the reason.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { placementProblem } from "../../auction/market/mod.ts";
import type { OrderInfo } from "../../auction/market/types.ts";
import { parseSdl } from "../../auction/sdl/mod.ts";
import { providerYaml } from "../../cli/devnet_layout.ts";
import {
  advertisedAttributes,
  BidEngine,
  capacityFromConfig,
  parseProviderConfig,
} from "../../provider/mod.ts";

const PERSISTENT = await Deno.readTextFile(new URL("../../examples/persistent.yaml", import.meta.url));

const sdl = parseSdl(PERSISTENT);
if (!sdl.ok) throw new Error(sdl.errors.join("; "));
const order: OrderInfo = {
  id: "cirrus1tenant/1/1/1",
  owner: "cirrus1tenant",
  dseq: 1,
  gseq: 1,
  oseq: 1,
  state: "open",
  maxPrice: { denom: "ucrs", amount: "100" },
  bids: 0,
  createdAt: 1,
  closesAt: 100,
  group: sdl.groups[0]!,
};

test("devnet provider configs offer default, beta2 and beta3; a beta3 volume passes placement", () => {
  const r = sdl;
  for (const driver of ["podman", "sim"]) {
    const cfg = parseProviderConfig(providerYaml("provider1", 0, driver), "/tmp");
    assert.equal(cfg.storageClasses, ["default", "beta2", "beta3"], driver);
    // devnet: a lease without its manifest, or with a workload that cannot start, is closed soon
    assert.equal([cfg.manifestTimeoutBlocks, cfg.workloadGraceSeconds], [300, 20], driver);
    const cap = capacityFromConfig(cfg, { cpu: 4000, memory: 8 * 2 ** 30, storage: 100 * 2 ** 30, gpu: 0 });
    assert.equal(Object.keys(cap.storage).sort(), ["beta2", "beta3", "default"], driver);
    assert.ok(Object.values(cap.storage).every((b) => b > 0), driver);
    const rec = { hostUri: [], attributes: advertisedAttributes(cfg), info: {}, createdAt: 0, updatedAt: 0 };
    assert.is(placementProblem("p", rec, r.groups[0]!), null, driver);
    const engine = BidEngine.fromConfig(cfg, cap);
    assert.is(engine.check(order, r.groups[0]!, { address: "p", attributes: rec.attributes }), null, driver);
  }
  const old = parseProviderConfig(
    providerYaml("provider1", 0, "sim").replace(/^storageClasses: .*$/m, "storageClasses: [default, beta2]"),
    "/tmp",
  );
  const engine = BidEngine.fromConfig(old, capacityFromConfig(old));
  assert.match(
    engine.check(order, r.groups[0]!, { address: "p", attributes: advertisedAttributes(old) }) ?? "",
    /volume data: storage class beta3 not offered \(offered: default, beta2\)/,
  );
});

test.run();
