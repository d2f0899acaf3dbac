/**
 * The ledger a cirrus node runs: bank, market, audit and staking, in this order (the order of their
 * block steps).
 * @module
 */
import { audit } from "./audit_module.ts";
import { bank } from "./bank.ts";
import { createLedger, type Ledger } from "./ledger.ts";
import { market } from "./market_module.ts";
import type { LedgerModule } from "./module.ts";
import { staking } from "./staking.ts";

/** The modules of the cirrus chain, in block-step order. */
export const CIRRUS_MODULES: readonly LedgerModule[] = Object.freeze([bank, market, audit, staking]);

/** A ledger of {@link CIRRUS_MODULES}. */
export function cirrusLedger(): Ledger {
  return createLedger({ modules: CIRRUS_MODULES });
}
