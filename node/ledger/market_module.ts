/**
 * The `market` ledger module: providers, deployments, orders, bids, leases and escrow (auction/market),
 * with its block steps (escrow exhaustion at the start of a block, bid windows closing at the end),
 * its held funds (escrow balances and bid deposits count toward the total supply), its scheduled work
 * (open bid windows and paying escrows keep blocks coming, see `marketScheduledWork`) and its queries.
 * @module
 */
import {
  marketBeginBlock,
  marketEndBlock,
  marketHeldFunds,
  marketScheduledWork,
} from "../../auction/market/mod.ts";
import { marketBlockStep, marketStoreOf, marketTxHandlers } from "./market_adapter.ts";
import { marketQueries } from "./market_queries.ts";
import type { LedgerModule } from "./module.ts";

const beginBlock = marketBlockStep((ctx) => marketBeginBlock(marketStoreOf(ctx)));
const endBlock = marketBlockStep((ctx) => marketEndBlock(marketStoreOf(ctx)));

/** The marketplace module: every marketplace tx type except `audit.*` (the `audit` module's). */
export const market: LedgerModule = {
  name: "market",
  txTypes: marketTxHandlers((type) => !type.startsWith("audit.")),
  beginBlock,
  endBlock,
  heldFunds: (state) => marketHeldFunds(state),
  scheduledWork: (state, height) => marketScheduledWork(state, height),
  queries: marketQueries,
};
