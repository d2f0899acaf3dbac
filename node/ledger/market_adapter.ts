/**
 * Plugs the marketplace (auction/market, pure) into the ledger: registers its tx types, its block
 * hooks (escrow exhaustion at the start of a block, bid windows at the end) and its supply counter
 * (escrow balances and bid deposits count toward the total supply).
 * @module
 */
import { decode } from "cborg";
import {
  applyMarketTx,
  bodyValidators,
  defaultMarketParams,
  marketBeginBlock,
  marketEndBlock,
  MarketError,
  marketHeldFunds,
  type MarketParams,
  type MarketStore,
  marketTxAddresses,
} from "../../auction/market/mod.ts";
import { PARAMS_KEY, registerBlockHook, registerSupplyCounter } from "./state.ts";
import { type ApplyContext, registerTxType, TxError } from "./tx.ts";
import { DENOM } from "../../lib/units.ts";

/** The marketplace params of the state `ctx` runs on (defaults when the stored params predate them). */
export function marketParamsOf(ctx: { get(key: string): Uint8Array | undefined }): MarketParams {
  const raw = ctx.get(PARAMS_KEY);
  const p = raw ? (decode(raw) as { market?: MarketParams }) : {};
  return p.market ?? defaultMarketParams();
}

/** A {@link MarketStore} over a tx (or block hook) context. */
export function marketStoreOf(ctx: ApplyContext): MarketStore {
  return {
    height: ctx.height,
    baseDenom: DENOM,
    get: (k) => ctx.get(k),
    set: (k, v) => ctx.set(k, v),
    delete: (k) => ctx.delete(k),
    balance: (a) => ctx.account(a)?.balance ?? 0n,
    debit(address, amount) {
      if (amount < 0n) throw new Error("negative debit");
      const acct = ctx.account(address);
      const have = acct?.balance ?? 0n;
      if (!acct || have < amount) {
        throw new MarketError(
          `insufficient funds: ${address} has ${have} ${DENOM}, needs ${amount} ${DENOM}`,
        );
      }
      ctx.setAccount({ ...acct, balance: acct.balance - amount });
    },
    credit(address, amount) {
      if (amount < 0n) throw new Error("negative credit");
      const acct = ctx.account(address) ?? { address, balance: 0n, nonce: 0n };
      ctx.setAccount({ ...acct, balance: acct.balance + amount });
    },
    emit: (type, attrs) => ctx.emit(type, attrs),
  };
}

for (const type of Object.keys(bodyValidators)) {
  registerTxType(type, {
    validateBody: bodyValidators[type]!,
    apply(ctx, stx) {
      try {
        applyMarketTx(marketStoreOf(ctx), marketParamsOf(ctx), type, stx.tx.from, stx.tx.body);
      } catch (e) {
        if (e instanceof MarketError) throw new TxError(e.reason);
        throw e;
      }
    },
    addresses: (stx) => marketTxAddresses(type, stx.tx.body),
  });
}

function inBlock(step: (ctx: ApplyContext) => void): (ctx: ApplyContext) => void {
  return (ctx) => {
    try {
      step(ctx);
    } catch (e) {
      // A block step never rejects: any error is a bug, and the block must fail loudly.
      throw new Error(`marketplace block step at height ${ctx.height}: ${(e as Error).message}`);
    }
  };
}

registerBlockHook({
  beginBlock: inBlock((ctx) => marketBeginBlock(marketStoreOf(ctx))),
  endBlock: inBlock((ctx) => marketEndBlock(marketStoreOf(ctx))),
});

registerSupplyCounter("market", (state) => marketHeldFunds(state));
