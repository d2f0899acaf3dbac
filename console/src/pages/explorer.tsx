/** @jsxImportSource preact */
/// <reference lib="dom" />
// deno-lint-ignore-file jsx-key -- elements inside <Fields rows=...> tuples are not a rendered list
/**
 * The explorer: search (height, tx id, address), blocks, a block, a tx, an account, validators,
 * providers (attributes, audited attributes, leases), orders and bids.
 * @module
 */
import { useEffect, useState } from "preact/hooks";
import type {
  AttestationInfo,
  BidInfo,
  LeaseInfo,
  OrderInfo,
  ProviderInfo,
} from "../../../auction/market/types.ts";
import { get } from "../api.ts";
import { priceText, shortId, withoutOwner } from "../format.ts";
import { usePoll } from "../store.ts";
import { Addr, ErrorText, Fields, Link, State } from "../ui.tsx";

interface BlockRow {
  height: number;
  hash: string;
  time: number;
  proposer: string;
  txs: number;
}

/** Where a search goes: a block height, a tx id, an address; null when it is none of these. */
export function searchTarget(q: string): string | null {
  const s = q.trim();
  if (/^\d+$/.test(s) && Number(s) > 0) return `/explorer/block/${Number(s)}`;
  if (/^[0-9a-fA-F]{64}$/.test(s)) return `/explorer/tx/${s.toLowerCase()}`;
  if (/^cirrus1[02-9ac-hj-np-z]{20,90}$/.test(s)) return `/explorer/account/${s}`;
  return null;
}

/** The search box. */
export function Search() {
  const [q, setQ] = useState("");
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const clear = () => setError(null);
    addEventListener("hashchange", clear);
    return () => removeEventListener("hashchange", clear);
  }, []);
  return (
    <form
      role="search"
      class="search"
      onSubmit={(e) => {
        e.preventDefault();
        const to = searchTarget(q);
        if (to) {
          setError(null);
          location.hash = to;
        } else setError(`"${q}" is not a block height, a tx id (64 hex) or a cirrus address`);
      }}
    >
      <label for="search-q" class="sr-only">Search by height, tx id or address</label>
      <input
        id="search-q"
        name="q"
        placeholder="height, tx id or address"
        value={q}
        onInput={(e) => setQ(e.currentTarget.value)}
      />
      <button type="submit">Search</button>
      <ErrorText error={error} />
    </form>
  );
}

/** Recent blocks, newest first. */
export function BlocksPage() {
  const [before, setBefore] = useState<number | null>(null);
  const blocks = usePoll(
    () =>
      get<{ height: number; blocks: BlockRow[] }>(
        `/console/blocks?limit=25${before ? `&before=${before}` : ""}`,
      ),
    [before],
    before === null ? 3000 : 0,
  );
  const rows = blocks.data?.blocks ?? [];
  return (
    <section aria-labelledby="blocks-h">
      <h1 id="blocks-h">Blocks</h1>
      <ErrorText error={blocks.error} />
      <table>
        <thead>
          <tr>
            <th scope="col">Height</th>
            <th scope="col">Time</th>
            <th scope="col">Txs</th>
            <th scope="col">Proposer</th>
            <th scope="col">Hash</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((b) => (
            <tr key={b.height}>
              <td>
                <Link to={`/explorer/block/${b.height}`}>{b.height}</Link>
              </td>
              <td>{new Date(b.time).toLocaleTimeString()}</td>
              <td>{b.txs}</td>
              <td>
                <Addr a={b.proposer} />
              </td>
              <td>
                <code>{shortId(b.hash)}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <div class="row">
        {before !== null && <button type="button" onClick={() => setBefore(null)}>Newest</button>}
        {rows.length > 0 && rows[rows.length - 1]!.height > 1 && (
          <button
            type="button"
            onClick={() => setBefore(rows[rows.length - 1]!.height)}
          >
            Older
          </button>
        )}
      </div>
    </section>
  );
}

/** One block. */
export function BlockPage(p: { height: string }) {
  const b = usePoll(
    () =>
      get<
        {
          height: number;
          hash: string;
          time: number;
          proposer: string;
          prevHash: string;
          appHash: string;
          txs: string[];
          commit: { round: number; signatures: string[] } | null;
        }
      >(
        `/query/block/${p.height}`,
      ),
    [p.height],
  );
  const d = b.data;
  return (
    <section aria-labelledby="block-h">
      <h1 id="block-h">Block {p.height}</h1>
      <ErrorText error={b.error} />
      {d && (
        <>
          <Fields
            rows={[
              ["Hash", <code>{d.hash}</code>],
              ["Time", new Date(d.time).toISOString()],
              ["Proposer", <Addr a={d.proposer} />],
              [
                "Previous",
                d.height > 1 ? <Link to={`/explorer/block/${d.height - 1}`}>{d.height - 1}</Link> : "-",
              ],
              ["App hash", <code>{d.appHash}</code>],
              [
                "Commit",
                d.commit ? `round ${d.commit.round}, ${d.commit.signatures.length} signatures` : "not yet",
              ],
            ]}
          />
          <h2>Transactions ({d.txs.length})</h2>
          <ul>
            {d.txs.map((t) => (
              <li key={t}>
                <Link to={`/explorer/tx/${t}`}>
                  <code>{t}</code>
                </Link>
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}

/** One transaction. */
export function TxPage(p: { id: string }) {
  const t = usePoll(
    () =>
      get<
        {
          txId: string;
          height: number;
          index: number;
          ok: boolean;
          reason?: string;
          type?: string;
          from?: string;
          nonce?: string;
          fee?: string;
          body?: unknown;
          pending?: boolean;
        }
      >(
        `/query/tx/${p.id}`,
      ),
    [p.id],
  );
  const d = t.data;
  return (
    <section aria-labelledby="tx-h">
      <h1 id="tx-h">Transaction</h1>
      <p>
        <code>{p.id}</code>
      </p>
      <ErrorText error={t.error} />
      {d?.pending && <p>Pending in the mempool.</p>}
      {d && !d.pending && (
        <>
          <Fields
            rows={[
              ["Type", d.type ?? "?"],
              ["Result", d.ok ? "ok" : `rejected: ${d.reason}`],
              ["Block", <Link to={`/explorer/block/${d.height}`}>{d.height}</Link>],
              ["From", <Addr a={d.from} />],
              ["Nonce", d.nonce ?? ""],
              ["Fee", d.fee ?? ""],
            ]}
          />
          <h2>Body</h2>
          <pre tabIndex={0}>{JSON.stringify(d.body, null, 2)}</pre>
        </>
      )}
    </section>
  );
}

/** One account: balance, txs, and its deployments and leases. */
export function AccountPage(p: { address: string }) {
  const acct = usePoll(
    () => get<{ balance: string; nonce: string; denom: string }>(`/query/account/${p.address}`),
    [p.address],
  );
  const txs = usePoll(
    () =>
      get<{ txs: { id: string; height: number; type?: string }[] }>(
        `/query/txs?address=${p.address}&limit=50`,
      ),
    [p.address],
  );
  const provider = usePoll(() => get<ProviderInfo>(`/query/provider/${p.address}`).catch(() => null), [
    p.address,
  ]);
  return (
    <section aria-labelledby="acct-h">
      <h1 id="acct-h">Account</h1>
      <p>
        <code>{p.address}</code>
      </p>
      <ErrorText error={acct.error} />
      {acct.data && (
        <Fields rows={[["Balance", `${acct.data.balance} ${acct.data.denom}`], ["Nonce", acct.data.nonce]]} />
      )}
      {provider.data && (
        <p>
          This account is a provider: <Link to={`/explorer/provider/${p.address}`}>provider page</Link>.
        </p>
      )}
      <h2>Transactions</h2>
      <ErrorText error={txs.error} />
      <ul class="txs">
        {txs.data?.txs.map((t) => (
          <li key={t.id}>
            block <Link to={`/explorer/block/${t.height}`}>{t.height}</Link>:{" "}
            <Link to={`/explorer/tx/${t.id}`}>
              <code>{shortId(t.id)}</code>
            </Link>{" "}
            {t.type ?? ""}
          </li>
        ))}
      </ul>
    </section>
  );
}

/** The validator set: power, proposer priority, signed share of the last blocks. */
export function ValidatorsPage() {
  const v = usePoll(
    () =>
      get<
        {
          height: number;
          totalPower: string;
          proposer: string;
          windowBlocks: number;
          validators: {
            address: string;
            power: string;
            priority: string | null;
            signed: number;
            uptime: number | null;
            moniker?: string;
            status?: string;
          }[];
        }
      >(
        "/console/validators",
      ),
    [],
    5000,
  );
  const d = v.data;
  return (
    <section aria-labelledby="vals-h">
      <h1 id="vals-h">Validators</h1>
      <ErrorText error={v.error} />
      {d && (
        <table>
          <caption>
            At height {d.height}; uptime: share of the last {d.windowBlocks} commits signed; total power{" "}
            {d.totalPower}
          </caption>
          <thead>
            <tr>
              <th scope="col">Address</th>
              <th scope="col">Moniker</th>
              <th scope="col">Status</th>
              <th scope="col">Power</th>
              <th scope="col">Priority</th>
              <th scope="col">Uptime</th>
              <th scope="col">Next proposer</th>
            </tr>
          </thead>
          <tbody>
            {d.validators.map((x) => (
              <tr key={x.address}>
                <td>
                  <Addr a={x.address} />
                </td>
                <td>{x.moniker ?? ""}</td>
                <td>{x.status ? <State s={x.status} /> : "-"}</td>
                <td>{x.power}</td>
                <td>{x.priority ?? "-"}</td>
                <td>{x.uptime === null ? "-" : `${Math.round(x.uptime * 100)}%`}</td>
                <td>{x.address === d.proposer ? "yes" : ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** Every provider with its attributes and active leases. */
export function ProvidersPage() {
  const p = usePoll(() => get<{ providers: ProviderInfo[] }>("/query/providers"), [], 10000);
  const leases = usePoll(() => get<{ leases: LeaseInfo[] }>("/query/leases?state=active"), [], 10000);
  return (
    <section aria-labelledby="provs-h">
      <h1 id="provs-h">Providers</h1>
      <ErrorText error={p.error} />
      <table>
        <thead>
          <tr>
            <th scope="col">Provider</th>
            <th scope="col">Attributes</th>
            <th scope="col">Active leases</th>
            <th scope="col">Host</th>
          </tr>
        </thead>
        <tbody>
          {p.data?.providers.map((x) => (
            <tr key={x.owner}>
              <td>
                <Link to={`/explorer/provider/${x.owner}`}>
                  <code>{shortId(x.owner)}</code>
                </Link>
              </td>
              <td>{x.attributes.map((a) => `${a.key}=${a.value}`).join(", ")}</td>
              <td>{leases.data?.leases.filter((l) => l.provider === x.owner).length ?? "..."}</td>
              <td>
                <code>{x.hostUri[0] ? shortId(x.hostUri[0], 24) : "-"}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** One provider: attributes, audited attributes, leases. */
export function ProviderPage(p: { address: string }) {
  const info = usePoll(() => get<ProviderInfo>(`/query/provider/${p.address}`), [p.address]);
  const audits = usePoll(() => get<{ audits: AttestationInfo[] }>(`/query/audits?provider=${p.address}`), [
    p.address,
  ]);
  const leases = usePoll(() => get<{ leases: LeaseInfo[] }>(`/query/leases?provider=${p.address}`), [
    p.address,
  ], 10000);
  const d = info.data;
  return (
    <section aria-labelledby="prov-h">
      <h1 id="prov-h">Provider</h1>
      <p>
        <Addr a={p.address} />
      </p>
      <ErrorText error={info.error} />
      {d && (
        <Fields
          rows={[
            ["Attributes", d.attributes.map((a) => `${a.key}=${a.value}`).join(", ") || "-"],
            ["Host", d.hostUri.join(", ")],
            ["Registered", `block ${d.createdAt}`],
            [
              "Audited",
              (audits.data?.audits ?? []).map((a) => (
                <div key={a.auditor}>
                  by <Addr a={a.auditor} />: {a.attributes.map((x) => `${x.key}=${x.value}`).join(", ")}
                </div>
              )),
            ],
          ]}
        />
      )}
      <h2>Leases</h2>
      <LeaseTable leases={leases.data?.leases ?? []} />
    </section>
  );
}

function LeaseTable(p: { leases: LeaseInfo[] }) {
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">Lease</th>
          <th scope="col">State</th>
          <th scope="col">Close reason</th>
          <th scope="col">Price</th>
          <th scope="col">Since</th>
        </tr>
      </thead>
      <tbody>
        {p.leases.map((l) => (
          <tr key={l.id}>
            <td>
              <code>{shortId(l.id, 16)}</code>
            </td>
            <td>
              <State s={l.state} />
            </td>
            <td>{l.closeReason ?? ""}</td>
            <td>{priceText(l.price)}</td>
            <td>block {l.createdAt}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Open and recent orders with their bids. */
export function OrdersPage() {
  const orders = usePoll(() => get<{ orders: OrderInfo[] }>("/query/orders"), [], 5000);
  const bids = usePoll(() => get<{ bids: BidInfo[] }>("/query/bids"), [], 5000);
  const list = [...(orders.data?.orders ?? [])].sort((a, b) => b.createdAt - a.createdAt).slice(0, 100);
  return (
    <section aria-labelledby="orders-h">
      <h1 id="orders-h">Orders and bids</h1>
      <ErrorText error={orders.error ?? bids.error} />
      <table>
        <thead>
          <tr>
            <th scope="col">Order</th>
            <th scope="col">State</th>
            <th scope="col">Max price</th>
            <th scope="col">Bids</th>
          </tr>
        </thead>
        <tbody>
          {list.map((o) => (
            <tr key={o.id}>
              <td>
                <Addr a={o.owner} /> <code>{withoutOwner(o.id)}</code>
              </td>
              <td>
                <State s={o.state} />
              </td>
              <td>{priceText(o.maxPrice)}</td>
              <td>
                {bids.data?.bids.filter((b) => b.id.startsWith(o.id + "/")).map((b) => (
                  <div key={b.id}>
                    <Addr a={b.provider} /> {priceText(b.price)} <State s={b.state} />
                  </div>
                ))}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
