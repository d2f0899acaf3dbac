/**
 * Misbehaving validators in the in-process harness (simulated time and network): one of four
 * double-signs, equivocates or stays silent; the three honest ones keep committing, agree on every
 * block, and (for double-sign) see the duplicate votes as evidence against the misbehaving one only.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { TestNet } from "../helpers/network.ts";
import type { Misbehaviour } from "../../node/misbehave.ts";

async function hashes(net: TestNet, i: number, upTo: number): Promise<string[]> {
  const out: string[] = [];
  for (let h = 1; h <= upTo; h++) out.push((await net.nodes[i]!.chain.store.getBlockHashAt(h)) ?? "");
  return out;
}

for (const kind of ["double-sign", "equivocate-proposal", "silent"] as Misbehaviour[]) {
  test(`${kind} on node3 of 4: nodes 0-2 commit 12 heights and agree`, async () => {
    const net = await TestNet.create({ validators: 4, misbehave: { 3: [kind] } });
    try {
      await net.startAll();
      await net.waitHeight(12, 120_000, [0, 1, 2]);
      const ref = await hashes(net, 0, 12);
      for (const i of [1, 2]) assert.equal(await hashes(net, i, 12), ref, `node${i} agrees with node0`);
      const evidence = [0, 1, 2].map((i) => net.nodes[i]!.driver.evidenceCount);
      if (kind === "double-sign") {
        assert.ok(evidence.every((n) => n > 0), `every honest node saw the double-sign: ${evidence}`);
      } else {
        assert.equal(evidence, [0, 0, 0], "no duplicate votes: honest nodes never double-sign");
      }
    } finally {
      await net.cleanup();
    }
  });
}

test.run();
