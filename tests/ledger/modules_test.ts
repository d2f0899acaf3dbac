/**
 * A ledger is composed from an explicit list of modules: what is not listed does not exist (no tx
 * type, no block step, no supply counter, no query), whatever has been imported.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  audit,
  bank,
  checkTx,
  cirrusLedger,
  createLedger,
  executeBlock,
  LedgerState,
  market,
  type SignedTx,
  signTx,
  totalSupply,
} from "../../node/ledger/mod.ts";
import { testGenesis, type TestKey } from "../helpers/ledger.ts";
import { providerBody } from "../market/helpers.ts";

const { genesis, keys, validator } = testGenesis(2, "10000000");
const provider = keys[0]!;

async function tx(
  ledger: ReturnType<typeof createLedger>,
  from: TestKey,
  type: string,
  body: Record<string, unknown>,
) {
  const r = ledger.decodeTx(
    await signTx({ chainId: genesis.chainId, type, from: from.address, nonce: 0n, fee: 1n, body }, from.seed),
  );
  if (!r.ok) throw new Error(r.reason);
  return r.stx;
}

function run(state: LedgerState, stx: SignedTx) {
  return executeBlock(state, { height: state.height + 1, proposer: validator.address, time: 1, txs: [stx] });
}

test("a ledger without the market module rejects a market tx with a reason, and changes nothing", async () => {
  const ledger = createLedger({ modules: [bank, audit] });
  const state = LedgerState.fromGenesis(genesis, ledger);
  const stx = await tx(ledger, provider, "provider.create", providerBody());
  assert.equal(checkTx(state, stx), { ok: false, reason: "unknown tx type provider.create" });
  const ex = run(state, stx);
  assert.equal(ex.results.map((r) => [r.ok, r.reason]), [[false, "unknown tx type provider.create"]]);
  assert.is(ex.writes.size, 0);
  assert.equal(ledger.txTypes(), ["audit.attest", "audit.revoke", "bank.send"]);
  assert.is(ledger.query("providers"), undefined);
  assert.is(totalSupply(state), state.supply);
});

test("the same tx is accepted by a ledger composed with the market module", async () => {
  const ledger = createLedger({ modules: [bank, market, audit] });
  const state = LedgerState.fromGenesis(genesis, ledger);
  const stx = await tx(ledger, provider, "provider.create", providerBody());
  assert.equal(checkTx(state, stx), { ok: true });
  const ex = run(state, stx);
  assert.equal(ex.results.map((r) => r.ok), [true]);
  state.apply(ex.writes, 1, ex.appHash);
  const providers = ledger.query("providers")!(state, { args: [], params: new URLSearchParams() }) as {
    providers: { owner: string }[];
  };
  assert.equal(providers.providers.map((p) => p.owner), [provider.address]);
  assert.is(totalSupply(state), state.supply);
});

test("the body check of a tx type comes with its module: decodes without it, refused with it", async () => {
  const bytes = await signTx({
    chainId: genesis.chainId,
    type: "provider.create",
    from: provider.address,
    nonce: 0n,
    fee: 1n,
    body: { hostUri: "not a list" },
  }, provider.seed);
  assert.ok(createLedger({ modules: [bank] }).decodeTx(bytes).ok);
  const r = cirrusLedger().decodeTx(bytes);
  assert.is(r.ok, false);
});

test("block steps and queries follow the module list", () => {
  const ledger = cirrusLedger();
  assert.equal(ledger.moduleNames(), ["bank", "market", "audit", "staking"]);
  assert.equal(ledger.queryNames(), [
    "deployments",
    "deployment",
    "orders",
    "order",
    "bids",
    "bid",
    "leases",
    "lease",
    "providers",
    "provider",
    "escrow",
    "audits",
    "validators",
    "validator",
    "delegations",
    "rewards",
    "evidence",
  ]);
  assert.throws(
    () =>
      createLedger({
        modules: [market, {
          ...audit,
          name: "audit2",
          txTypes: {},
          queries: { providers: () => null },
        }],
      }),
    /query providers is declared by two modules/,
  );
});

test("scheduled work: a module's hook decides; without one nothing keeps the chain awake", () => {
  const state = LedgerState.fromGenesis(genesis, cirrusLedger());
  assert.not.ok(cirrusLedger().scheduledWork(state, 1), "a fresh market schedules nothing");
  const asked: number[] = [];
  const busy = createLedger({
    modules: [bank, { name: "clock", txTypes: {}, scheduledWork: (_s, h) => (asked.push(h), h % 2 === 0) }],
  });
  assert.ok(busy.scheduledWork(state, 4));
  assert.not.ok(busy.scheduledWork(state, 5));
  assert.equal(asked, [4, 5]);
  assert.not.ok(createLedger({ modules: [bank] }).scheduledWork(state, 4), "no hook, no work");
});

test.run();
