/**
 * The marketplace's RPC queries (`GET /query/<name>/...`), declared by the `market` module and served
 * by the node's RPC over committed state (escrow settled lazily at the current height):
 * `deployments|orders|bids|leases?owner=&provider=&state=`, `deployment/OWNER/DSEQ`,
 * `escrow/OWNER/DSEQ`, `provider/ADDR`, `providers`, `order|bid|lease?id=ID` (or `/ID`).
 * @module
 */
import { isAddress } from "../../lib/crypto.ts";
import * as m from "../../auction/market/mod.ts";
import { type LedgerQuery, QueryError, type QueryRequest } from "./module.ts";
import type { LedgerState } from "./state.ts";

/** The filters every marketplace query reads (a bad `owner` or `provider` is a 400 for all of them). */
export interface MarketFilters {
  owner: string | undefined;
  provider: string | undefined;
  /** The non-empty query parameter `name`, checked by `check` (400 `"name: "v" is not <what>"`). */
  param(name: string, check?: (v: string) => boolean, what?: string): string | undefined;
}

/** Reads `owner` and `provider` (cirrus addresses when given) from a query request. */
export function marketFilters(req: QueryRequest): MarketFilters {
  const param = (name: string, check?: (v: string) => boolean, what = "a cirrus address") => {
    const v = req.params.get(name);
    if (v === null || v === "") return undefined;
    if (check && !check(v)) throw new QueryError(400, `${name}: "${v}" is not ${what}`);
    return v;
  };
  return { owner: param("owner", isAddress), provider: param("provider", isAddress), param };
}

function stateOf<T extends string>(f: MarketFilters, allowed: readonly T[]): T | undefined {
  return f.param(
    "state",
    (v) => (allowed as readonly string[]).includes(v),
    `one of ${allowed.join(", ")}`,
  ) as
    | T
    | undefined;
}

function dseqOf(v: string | undefined): number {
  const n = Number(v);
  if (!v || !Number.isSafeInteger(n) || n < 0) {
    throw new QueryError(400, `dseq must be a non-negative integer`);
  }
  return n;
}

function found<T>(v: T | null, what: string): T {
  if (v === null || v === undefined) throw new QueryError(404, `${what} not found`);
  return v;
}

/** The id of `order|bid|lease` queries: `?id=ID`, else the path after the query name. */
function idOf(req: QueryRequest): string {
  return req.params.get("id") ?? req.args.join("/");
}

/** OWNER/DSEQ path arguments of `deployment` and `escrow`. */
function ownerDseq(req: QueryRequest, kind: string): [string, number, string | undefined] {
  const [o, d] = [req.args[0] ?? "", req.args[1]];
  if (!isAddress(o)) {
    throw new QueryError(400, `"${o}" is not a cirrus address (want /query/${kind}/OWNER/DSEQ)`);
  }
  return [o, dseqOf(d), d];
}

/** The filters of a list query: `owner`, `provider` and `state` (checked against the allowed states). */
interface ListFilter<S extends string> {
  owner: string | undefined;
  provider: string | undefined;
  state: S | undefined;
}

/** A list query answering `{[key]: read(state, filter)}`; `state` must be one of `states`. */
function listQuery<S extends string>(
  key: string,
  states: readonly S[],
  read: (state: LedgerState, f: ListFilter<S>) => unknown,
): LedgerQuery {
  return (state, req) => {
    const f = marketFilters(req);
    return { [key]: read(state, { owner: f.owner, provider: f.provider, state: stateOf(f, states) }) };
  };
}

/** A query of one record by id (`?id=ID` or `/ID`); 404 `"<what> <id> not found"` when unknown. */
function byIdQuery(what: string, get: (state: LedgerState, id: string) => unknown): LedgerQuery {
  return (state, req) => {
    marketFilters(req);
    const id = idOf(req);
    return found(get(state, id), `${what} ${id}`);
  };
}

/** The marketplace queries by name, in the order the RPC lists them. */
export const marketQueries: Readonly<Record<string, LedgerQuery>> = {
  deployments: listQuery(
    "deployments",
    ["active", "closed"],
    (s, f) => m.listDeployments(s, { owner: f.owner, state: f.state }),
  ),
  deployment(state, req) {
    marketFilters(req);
    const [o, dseq, d] = ownerDseq(req, "deployment");
    return found(m.getDeployment(state, o, dseq), `deployment ${o}/${d}`);
  },
  orders: listQuery(
    "orders",
    ["open", "active", "closed"],
    (s, f) => m.listOrders(s, { owner: f.owner, state: f.state }),
  ),
  order: byIdQuery("order", m.getOrder),
  bids: listQuery("bids", ["open", "active", "lost", "closed"], m.listBids),
  bid: byIdQuery("bid", m.getBid),
  leases: listQuery("leases", ["active", "insufficient_funds", "closed"], m.listLeases),
  lease: byIdQuery("lease", (s, id) => m.getLease(s, id)),
  providers(state, req) {
    marketFilters(req);
    return { providers: m.listProviders(state) };
  },
  provider(state, req) {
    marketFilters(req);
    const addr = req.args[0] ?? "";
    if (!isAddress(addr)) throw new QueryError(400, `"${addr}" is not a cirrus address`);
    return found(m.getProvider(state, addr), `provider ${addr}`);
  },
  escrow(state, req) {
    marketFilters(req);
    const [o, dseq, d] = ownerDseq(req, "escrow");
    return found(m.escrowStatus(state, o, dseq), `escrow of deployment ${o}/${d}`);
  },
};
