/**
 * The adapter between the marketplace (auction/market, pure, over a `MarketStore`) and the ledger's
 * tx context: the store view, the params, tx handlers and block steps that the `market` and `audit`
 * modules are made of.
 * @module
 */
import { decode } from "cborg";
import {
  applyMarketTx,
  bodyValidators,
  defaultMarketParams,
  MarketError,
  type MarketParams,
  type MarketStore,
  marketTxAddresses,
} from "../../auction/market/mod.ts";
import { PARAMS_KEY } from "./state.ts";
import { type ApplyContext, TxError, type TxHandler } from "./tx.ts";
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

/**
 * The ledger handler of marketplace tx type `type` (one of `bodyValidators`'): the body check, the
 * keeper's transition over the tx context ({@link MarketError} becomes a {@link TxError}), and the
 * addresses it concerns.
 */
export function marketTxHandler(type: string): TxHandler {
  const validateBody = bodyValidators[type];
  if (!validateBody) throw new Error(`${type} is not a marketplace tx type`);
  return {
    validateBody,
    apply(ctx, stx) {
      try {
        applyMarketTx(marketStoreOf(ctx), marketParamsOf(ctx), type, stx.tx.from, stx.tx.body);
      } catch (e) {
        if (e instanceof MarketError) throw new TxError(e.reason);
        throw e;
      }
    },
    addresses: (stx) => marketTxAddresses(type, stx.tx.body),
  };
}

/** Handlers of the marketplace tx types that `pick` selects, by type. */
export function marketTxHandlers(pick: (type: string) => boolean): Record<string, TxHandler> {
  const out: Record<string, TxHandler> = {};
  for (const type of Object.keys(bodyValidators).sort()) if (pick(type)) out[type] = marketTxHandler(type);
  return out;
}

/** A block step of the marketplace: never rejects; any error is a bug and fails the block loudly. */
export function marketBlockStep(step: (ctx: ApplyContext) => void): (ctx: ApplyContext) => void {
  return (ctx) => {
    try {
      step(ctx);
    } catch (e) {
      throw new Error(`marketplace block step at height ${ctx.height}: ${(e as Error).message}`);
    }
  };
}
