/**
 * The `audit` ledger module: auditors attest (`audit.attest`) and withdraw (`audit.revoke`) provider
 * attributes, which placements with `signedBy` require; and the `audits` query. Its records live in
 * the marketplace's key space (`mkt/audit/...`), where the `market` module's placement check reads them.
 * @module
 */
import { listAttestations } from "../../auction/market/mod.ts";
import { marketTxHandlers } from "./market_adapter.ts";
import { marketFilters } from "./market_queries.ts";
import type { LedgerModule } from "./module.ts";

/** The audit module: `audit.attest`, `audit.revoke`; `GET /query/audits?provider=&auditor=`. */
export const audit: LedgerModule = {
  name: "audit",
  txTypes: marketTxHandlers((type) => type.startsWith("audit.")),
  queries: {
    audits(state, req) {
      const f = marketFilters(req);
      return { audits: listAttestations(state, { provider: f.provider, auditor: f.param("auditor") }) };
    },
  },
};
