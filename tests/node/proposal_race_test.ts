/**
 * Gossip validation of a proposal that straddles a commit (node/consensus_gossip.ts): the signature
 * check awaits, and the chain may commit the proposal's height meanwhile. Such a proposal is stale
 * (ignored), never a wrong_proposer reject: a reject lowers the honest relaying peer's gossip score,
 * and under load (many validations straddling commits) honest peers were pushed below the gossip
 * threshold and the chain stalled (bench:tx).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { encode } from "cborg";
import { sign } from "../../lib/crypto.ts";
import { validateProposalMessage } from "../../node/consensus_gossip.ts";
import { type Chain, genesisValidators } from "../../node/chain.ts";
import { encodeSignedProposal, proposalSignBytes, ValidatorSet } from "../../consensus/mod.ts";
import type { Proposal } from "../../consensus/types.ts";
import { testGenesis } from "../helpers/driver.ts";

test("a proposal whose height is committed while its signature is checked is stale, not a wrong_proposer reject", async () => {
  const { keys, genesis } = testGenesis(4);
  const heightOne = new ValidatorSet(genesisValidators(genesis));
  const heightTwo = heightOne.advance(1);
  // a round whose proposer differs between heights 1 and 2
  let round = 0;
  while (heightOne.proposerForRound(round).address === heightTwo.proposerForRound(round).address) round++;
  const proposer = keys.find((k) => k.address === heightOne.proposerForRound(round).address)!;
  const p: Proposal = {
    chainId: genesis.chainId,
    height: 1,
    round,
    polRound: -1,
    blockHash: "ab".repeat(32),
    proposer: proposer.address,
  };
  const sp = encodeSignedProposal({
    proposal: p,
    signature: await sign(proposer.privKey, proposalSignBytes(p)),
  });
  const data = encode([sp, new Uint8Array([1, 2, 3]), 0]);
  // The chain as the validator finds it after the await: height 1 committed, height 2's set.
  const chain = {
    chainId: genesis.chainId,
    genesis,
    height: 0,
    validators: heightOne,
    // as Chain.validatorsFor: the last committed height's set and the next one's
    validatorsFor(h: number) {
      if (h === this.height + 1) return this.validators;
      if (h === this.height) return h === 1 ? heightOne : null;
      return null;
    },
  };
  let reads = 0;
  const ctx = {
    chain: chain as unknown as Chain,
    // the driver's height: 1 when the validation starts; the commit lands during the signature check
    height: () => {
      if (reads++ === 0) {
        queueMicrotask(() => {
          chain.height = 1;
          chain.validators = heightTwo;
        });
        return 1;
      }
      return chain.height + 1;
    },
    onBehind: () => {},
  };
  const r = await validateProposalMessage(data, ctx);
  assert.equal(r, { action: "ignore", reason: "stale_height" });
  // and at a height that is current, the round's proposer is still enforced
  const other = keys.find((k) => k.address !== heightTwo.proposerForRound(0).address)!;
  const q: Proposal = { ...p, height: 2, round: 0, proposer: other.address };
  const sq = encodeSignedProposal({
    proposal: q,
    signature: await sign(other.privKey, proposalSignBytes(q)),
  });
  const wrong = await validateProposalMessage(encode([sq, new Uint8Array([1, 2, 3]), 0]), ctx);
  assert.equal(wrong, { action: "reject", reason: "wrong_proposer" });
});

test.run();
