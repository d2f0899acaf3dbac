/**
 * Issue 8, finding 4: a block the network cannot carry. The proposer builds within `maxBlockBytes`,
 * genesis's limits fit one gossip message, and a proposal that cannot leave is logged as an error.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { decode } from "cborg";
import type { Logger, LogLevel } from "../../lib/log.ts";
import { defaultParams, PROPOSAL_ENVELOPE_BYTES_MAX, validateGenesis } from "../../node/ledger/mod.ts";
import { makeSend, testKey } from "../helpers/ledger.ts";
import { GOSSIP_BYTES_MAX } from "../../node/p2p.ts";
import { openDriver, testGenesis, until } from "../helpers/driver.ts";

const SLOW = { timeoutProposeMs: 600_000, timeoutPrevoteMs: 600_000, timeoutPrecommitMs: 600_000 };

test("finding 4: the default block limit and its proposal envelope fit in one gossip message", () => {
  const p = defaultParams();
  assert.ok(
    p.consensus.maxBlockBytes + PROPOSAL_ENVELOPE_BYTES_MAX <= GOSSIP_BYTES_MAX,
    `${p.consensus.maxBlockBytes} + ${PROPOSAL_ENVELOPE_BYTES_MAX} <= ${GOSSIP_BYTES_MAX}`,
  );
  // What genesis accepts at most fits too.
  const { genesis } = testGenesis(1);
  const g = JSON.parse(JSON.stringify(genesis));
  g.params.consensus.maxBlockBytes = GOSSIP_BYTES_MAX - PROPOSAL_ENVELOPE_BYTES_MAX;
  assert.is(
    validateGenesis(g).params.consensus.maxBlockBytes,
    GOSSIP_BYTES_MAX - PROPOSAL_ENVELOPE_BYTES_MAX,
  );
  g.params.consensus.maxBlockBytes += 1;
  assert.throws(() => validateGenesis(g), /maxBlockBytes/);
});

test("finding 4: a full mempool gives a proposal within maxBlockBytes (header and commit included)", async () => {
  const maxBlockBytes = 32 * 1024;
  const senders = Array.from({ length: 8 }, (_, i) => testKey(`sender${i}`));
  const { keys, genesis } = testGenesis(
    1,
    { ...SLOW, maxBlockBytes, maxBlockTxs: 100_000 },
    senders.map((k) => ({ address: k.address, balance: "1000000" })),
  );
  const h = await openDriver({
    genesis,
    self: keys[0]!,
    async beforeStart(mempool, chain) {
      // Well over maxBlockBytes of txs (each about 250 bytes).
      for (let n = 0n; n < 40n; n++) {
        for (const from of senders) {
          const stx = await makeSend(from, keys[0]!.address, "1", n);
          const r = mempool.add(stx, chain.state);
          assert.ok(r.ok, r.ok ? "" : r.reason);
        }
      }
      assert.ok(mempool.bytes > 2 * maxBlockBytes);
    },
  });
  try {
    // A single validator proposes, decides and commits height 1 at once.
    await until(() => h.chain.height >= 1, 10_000, "height 1");
    const sent = h.p2p.published.filter((m) => m.topic === h.topics.proposal);
    assert.ok(sent.length >= 1, "the proposal was published");
    const [, blockBytes] = decode(sent[0]!.data) as [Uint8Array, Uint8Array, number];
    assert.ok(blockBytes.length <= maxBlockBytes, `block of ${blockBytes.length} bytes <= ${maxBlockBytes}`);
    assert.ok(blockBytes.length > maxBlockBytes - 1024, "and the block is (nearly) full");
    assert.ok(sent[0]!.data.length <= maxBlockBytes + PROPOSAL_ENVELOPE_BYTES_MAX);
  } finally {
    await h.close();
  }
});

test("finding 4: a proposal the transport refuses is logged as an error", async () => {
  const { keys, genesis } = testGenesis(1, SLOW);
  const logged: { level: LogLevel; msg: string }[] = [];
  const logger: Logger = (level, msg) => logged.push({ level, msg });
  const h = await openDriver({
    genesis,
    self: keys[0]!,
    logger,
    p2pSetup: (p2p) => p2p.publishError = new Error("frame too large"),
  });
  try {
    await until(
      () => logged.some((l) => l.level === "error" && /publish failed/.test(l.msg)),
      5_000,
      "error",
    );
  } finally {
    await h.close();
  }
});

test.run();
