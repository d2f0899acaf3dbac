/**
 * The bank module: `bank.send`. (Accounts, nonces and fees are the ledger's own, in state.ts.)
 * @module
 */
import { isAddress } from "../../lib/crypto.ts";
import { exactKeysProblem } from "../../lib/cbor.ts";
import { DENOM, uintProblem } from "../../lib/units.ts";
import type { LedgerModule } from "./module.ts";

/** Body of `bank.send`: `{to: address, amount: "decimal ucrs, > 0"}`. */
export interface BankSendBody {
  to: string;
  amount: string;
}

/** The bank module: moves funds between accounts with `bank.send`. */
export const bank: LedgerModule = {
  name: "bank",
  txTypes: {
    "bank.send": {
      validateBody(body) {
        const keys = exactKeysProblem(body, ["to", "amount"], "body");
        if (keys) return keys;
        if (!isAddress(body.to)) return "body.to: must be a cirrus address";
        return uintProblem(body.amount, "body.amount", true);
      },
      apply(ctx, stx) {
        const body = stx.tx.body as unknown as BankSendBody;
        const amount = BigInt(body.amount);
        ctx.transfer(stx.tx.from, body.to, amount);
        ctx.emit("transfer", { from: stx.tx.from, to: body.to, amount: body.amount, denom: DENOM });
      },
      addresses(stx) {
        return [String(stx.tx.body.to)];
      },
    },
  },
};
