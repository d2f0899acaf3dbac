/**
 * A test-only ledger module that decides the validator set (`LedgerModule.validators`), so that the
 * consensus side (set changes at H+2, sync across them, evidence) is tested without the staking
 * module: the tx `testvals.set` names the whole next set; the end of its block H schedules it for
 * H+2. It also records what blocks hand the ledger (`ApplyContext.signing`): the evidence seen per
 * validator and the last commit's signers. Not used by the node itself.
 *
 * State keys: `tvals/pending` (the set named by a tx of this block), `tvals/list/<h>` (the set from
 * height h on), `tvals/evidence/<address>` (pieces of evidence seen), `tvals/signers` (the last
 * block's `lastCommitSigners`, comma-joined).
 */
import { decode } from "cborg";
import { addressOf, fromHex, isHex } from "../../lib/crypto.ts";
import { canonicalEncode, exactKeysProblem } from "../../lib/cbor.ts";
import type { ActiveValidator, LedgerModule } from "../../node/ledger/module.ts";
import { padHeight } from "../../node/ledger/store.ts";
import type { LedgerState } from "../../node/ledger/state.ts";
import { createLedger, type Ledger } from "../../node/ledger/ledger.ts";
import { CIRRUS_MODULES } from "../../node/ledger/default_ledger.ts";

type Entry = { pubKey: string; power: string };

function decodeList(bytes: Uint8Array): ActiveValidator[] {
  return (decode(bytes) as Entry[]).map((e) => {
    const pubKey = fromHex(e.pubKey);
    return { address: addressOf(pubKey), pubKey, power: BigInt(e.power) };
  }).sort((a, b) => (a.address < b.address ? -1 : 1));
}

/** The module: `testvals.set {validators: [{pubKey: hex, power: "n"}]}`. */
export const testValidators: LedgerModule = {
  name: "testvals",
  txTypes: {
    "testvals.set": {
      validateBody(body) {
        const k = exactKeysProblem(body, ["validators"], "body");
        if (k) return k;
        if (!Array.isArray(body.validators) || body.validators.length === 0) return "body.validators: empty";
        for (const v of body.validators as Entry[]) {
          if (!isHex(v?.pubKey, 32) || !/^[1-9][0-9]{0,9}$/.test(String(v?.power))) {
            return "body.validators: bad";
          }
        }
        return null;
      },
      apply(ctx, stx) {
        ctx.set("tvals/pending", canonicalEncode(stx.tx.body.validators));
      },
    },
  },
  endBlock(ctx) {
    const pending = ctx.get("tvals/pending");
    if (pending) {
      ctx.set(`tvals/list/${padHeight(ctx.height + 2)}`, pending);
      ctx.delete("tvals/pending");
    }
    for (const ev of ctx.signing.evidence) {
      const key = `tvals/evidence/${ev.voteA.vote.validator}`;
      const n = Number(decode(ctx.get(key) ?? canonicalEncode(0)));
      ctx.set(key, canonicalEncode(n + 1));
    }
    if (ctx.height > 1) {
      ctx.set("tvals/signers", new TextEncoder().encode(ctx.signing.lastCommitSigners.join(",") || "-"));
    }
  },
  validators(state, height) {
    let found: Uint8Array | undefined;
    for (const [k, v] of state.entries("tvals/list/")) {
      if (Number(k.slice("tvals/list/".length)) <= height) found = v;
    }
    return found ? decodeList(found) : null;
  },
};

/** Pieces of evidence against `address` the ledger was handed in committed blocks. */
export function evidenceSeen(state: LedgerState, address: string): number {
  const v = state.get(`tvals/evidence/${address}`);
  return v ? Number(decode(v)) : 0;
}

/** The last block's `lastCommitSigners` as the ledger saw them. */
export function lastSigners(state: LedgerState): string[] {
  const v = state.get("tvals/signers");
  const s = v ? new TextDecoder().decode(v) : "-";
  return s === "-" ? [] : s.split(",");
}

/** The cirrus modules, without the one deciding the set (staking), plus {@link testValidators}. */
export function testValidatorsLedger(): Ledger {
  return createLedger({
    modules: [...CIRRUS_MODULES.filter((m) => m.validators === undefined), testValidators],
  });
}
