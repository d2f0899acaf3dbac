/**
 * `nextValidatorSet`: the set of the next height from the ledger's decision, priorities carried over;
 * a ledger answer that is no valid set (empty, duplicates, zero power) keeps the members, so the chain
 * never halts on it.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { nextValidatorSet } from "../../node/chain.ts";
import { createLedger } from "../../node/ledger/ledger.ts";
import { CIRRUS_MODULES } from "../../node/ledger/default_ledger.ts";
import type { ActiveValidator, LedgerModule } from "../../node/ledger/module.ts";
import type { Genesis } from "../../node/ledger/genesis.ts";
import { LedgerState } from "../../node/ledger/state.ts";
import { testKey, testValidatorsGenesis } from "../helpers/ledger.ts";

const keys = [0, 1, 2].map((i) => testKey(`val${i}`));
const genesis: Genesis = testValidatorsGenesis(keys);

function stateDeciding(answer: ActiveValidator[] | null): LedgerState {
  const decider: LedgerModule = { name: "decider", txTypes: {}, validators: () => answer };
  return LedgerState.fromGenesis(
    genesis,
    createLedger({ modules: [...CIRRUS_MODULES.filter((m) => m.validators === undefined), decider] }),
  );
}

const member = (i: number, power: bigint): ActiveValidator => ({
  address: keys[i]!.address,
  pubKey: keys[i]!.pubKey,
  power,
});

test("height 1 is a fresh set of the ledger's members; later heights carry priorities over", () => {
  const first = nextValidatorSet(null, stateDeciding(null), 1);
  assert.equal(first.validators.map((v) => v.address).sort(), keys.map((k) => k.address).sort());
  const changed = nextValidatorSet(first, stateDeciding([member(0, 10n), member(1, 30n)]), 2);
  assert.equal(changed.toJSON(), first.withValidators([member(0, 10n), member(1, 30n)]).advance(1).toJSON());
  assert.is(changed.totalPower, 40n);
  const same = nextValidatorSet(first, stateDeciding(null), 2);
  assert.equal(same.toJSON(), first.advance(1).toJSON(), "no decision: the genesis members, advanced once");
});

test("an invalid decision (empty, duplicate, zero power) keeps the members and advances", () => {
  const first = nextValidatorSet(null, stateDeciding(null), 1);
  for (const bad of [[], [member(0, 10n), member(0, 10n)], [member(1, 0n)]]) {
    assert.equal(nextValidatorSet(first, stateDeciding(bad), 2).toJSON(), first.advance(1).toJSON());
  }
});

test.run();
