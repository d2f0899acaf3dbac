/** @jsxImportSource preact */
/// <reference lib="dom" />
// deno-lint-ignore-file jsx-key -- elements inside <Fields rows=...> tuples are not a rendered list
/**
 * The tenant's deployments: state, escrow runway, deposit, close; each lease with its state and
 * close reason, the provider's status, logs (follow), events and a shell.
 * @module
 */
import { useEffect, useState } from "preact/hooks";
import type { DeploymentDetail, DeploymentInfo, LeaseInfo } from "../../../auction/market/types.ts";
import { followLogs, get, leaseCall, sendManifests, sendTx } from "../api.ts";
import { groupsForTx } from "../../../auction/market/validate.ts";
import { savedSdl, saveSdl, SdlEditor, useSdl } from "../sdl_editor.tsx";
import { priceText, runwayText, withoutOwner } from "../format.ts";
import { useKey, usePoll } from "../store.ts";
import { ShellTerminal } from "../terminal.tsx";
import { Addr, ErrorText, Fields, Link, NeedKey, State } from "../ui.tsx";
import type { UnlockedKey } from "../vault.ts";
import type { ServiceView } from "../../../provider/protocol/mod.ts";

/** The deployments list. */
export function DeploymentsPage() {
  const key = useKey();
  const list = usePoll(
    () =>
      key
        ? get<{ deployments: DeploymentInfo[] }>(`/query/deployments?owner=${key.address}`)
        : Promise.resolve(null),
    [key?.address],
    4000,
  );
  if (!key) return <NeedKey />;
  const deps = [...(list.data?.deployments ?? [])].sort((a, b) => b.dseq - a.dseq);
  return (
    <section aria-labelledby="deps-h">
      <h1 id="deps-h">Deployments of {key.name}</h1>
      <ErrorText error={list.error} />
      <table>
        <thead>
          <tr>
            <th scope="col">Dseq</th>
            <th scope="col">State</th>
            <th scope="col">Created</th>
            <th scope="col">Escrow balance</th>
            <th scope="col">Runway</th>
          </tr>
        </thead>
        <tbody>
          {deps.map((d) => (
            <tr key={d.dseq}>
              <td>
                <Link to={`/deployments/${d.dseq}`}>{d.dseq}</Link>
              </td>
              <td>
                <State s={d.state} />
                {d.reason ? ` (${d.reason})` : ""}
              </td>
              <td>block {d.createdAt}</td>
              <td>{d.escrow ? `${d.escrow.balance} ${d.escrow.denom}` : "-"}</td>
              <td>{d.escrow ? runwayText(d.escrow.blocksRemaining, null) : "-"}</td>
            </tr>
          ))}
          {deps.length === 0 && (
            <tr>
              <td colSpan={5}>
                No deployments yet: <Link to="/deploy">deploy</Link>.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}

/** One deployment. */
export function DeploymentPage(p: { dseq: number }) {
  const key = useKey();
  const [error, setError] = useState<string | null>(null);
  const [amount, setAmount] = useState("1000000");
  const [busy, setBusy] = useState("");
  const dep = usePoll(
    () => key ? get<DeploymentDetail>(`/query/deployment/${key.address}/${p.dseq}`) : Promise.resolve(null),
    [key?.address, p.dseq],
    3000,
  );
  const rate = usePoll(() => get<{ blocks: { time: number }[] }>("/console/blocks?limit=20"), [], 30000);
  if (!key) return <NeedKey />;
  const d = dep.data;
  const b = rate.data?.blocks ?? [];
  const msPerBlock = b.length > 1 ? (b[0]!.time - b[b.length - 1]!.time) / (b.length - 1) : null;
  const act = async (what: string, fn: () => Promise<unknown>) => {
    setBusy(what);
    setError(null);
    try {
      await fn();
      dep.reload();
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy("");
    }
  };
  return (
    <section aria-labelledby="dep-h">
      <h1 id="dep-h">Deployment {p.dseq}</h1>
      <ErrorText error={dep.error ?? error} />
      {d && (
        <>
          <Fields
            rows={[
              [
                "State",
                <>
                  <State s={d.state} />
                  {d.reason ? ` (${d.reason})` : ""}
                </>,
              ],
              ["Owner", <Addr a={d.owner} />],
              ["Manifest hash", <code>{d.manifestHash}</code>],
              ["Created", `block ${d.createdAt}`],
              [
                "Escrow",
                d.escrow ? `${d.escrow.balance} ${d.escrow.denom} left, ${d.escrow.ratePerBlock}/block` : "-",
              ],
              ["Runway", d.escrow ? runwayText(d.escrow.blocksRemaining, msPerBlock) : "-"],
            ]}
          />
          {d.state === "active" && (
            <form
              class="row"
              onSubmit={(e) => {
                e.preventDefault();
                void act("deposit", () => sendTx(key, "deployment.deposit", { dseq: p.dseq, amount }));
              }}
            >
              <label>
                Deposit (ucrs){" "}
                <input
                  name="deposit-amount"
                  inputMode="numeric"
                  value={amount}
                  onInput={(e) => setAmount(e.currentTarget.value)}
                />
              </label>
              <button type="submit" disabled={busy !== ""}>
                {busy === "deposit" ? "Depositing..." : "Deposit"}
              </button>
              <button
                type="button"
                class="danger"
                disabled={busy !== ""}
                onClick={() => void act("close", () => sendTx(key, "deployment.close", { dseq: p.dseq }))}
              >
                {busy === "close" ? "Closing..." : "Close deployment"}
              </button>
            </form>
          )}
          {d.state === "active" && <UpdateCard keyRef={key} dseq={p.dseq} onDone={dep.reload} />}
          <h2>Orders and bids</h2>
          <table>
            <thead>
              <tr>
                <th scope="col">Order</th>
                <th scope="col">State</th>
                <th scope="col">Window ends</th>
                <th scope="col">Bids</th>
              </tr>
            </thead>
            <tbody>
              {d.orders.map((o) => (
                <tr key={o.id}>
                  <td>
                    <code>{withoutOwner(o.id)}</code>
                  </td>
                  <td>
                    <State s={o.state} />
                  </td>
                  <td>{o.closesAt > 0 ? `block ${o.closesAt}` : "at the next bid"}</td>
                  <td>
                    {d.bids.filter((x) => x.id.startsWith(o.id + "/")).map((x) => (
                      <div key={x.id}>
                        <Addr a={x.provider} /> {priceText(x.price)} <State s={x.state} />
                      </div>
                    ))}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <h2>Leases</h2>
          {d.leases.length === 0 && <p>No lease yet.</p>}
          {d.leases.map((l) => <LeasePanel key={l.id} lease={l} keyRef={key} />)}
        </>
      )}
    </section>
  );
}

/** One lease: chain state and close reason; provider status, logs, events, shell. */
function LeasePanel(p: { lease: LeaseInfo; keyRef: UnlockedKey }) {
  const l = p.lease;
  const active = l.state === "active";
  const [tab, setTab] = useState<"status" | "logs" | "events" | "shell">("status");
  const status = usePoll(
    () =>
      active
        ? leaseCall<{ services: ServiceView[]; message?: string }>(p.keyRef, l.id, "status")
        : Promise.resolve(null),
    [l.id, active],
    active ? 5000 : 0,
  );
  const tabs = ["status", "logs", "events", "shell"] as const;
  return (
    <article class="card lease" aria-label={`Lease ${l.id}`}>
      <Fields
        rows={[
          ["Lease", <code>{l.id}</code>],
          ["Provider", <Addr a={l.provider} />],
          [
            "State",
            <>
              <State s={l.state} />
              {l.closeReason ? ` - closed: ${l.closeReason}` : ""}
            </>,
          ],
          ["Price", priceText(l.price)],
          ["Paid", `${l.paid} ${l.price.denom}`],
          ["Since", `block ${l.createdAt}${l.closedAt ? `, closed at block ${l.closedAt}` : ""}`],
        ]}
      />
      {active && (
        <>
          <div role="tablist" aria-label="Lease views" class="tabs">
            {tabs.map((t) => (
              <button
                type="button"
                role="tab"
                key={t}
                id={`tab-${t}`}
                aria-selected={tab === t}
                aria-controls={`panel-${t}`}
                tabIndex={tab === t ? 0 : -1}
                onClick={() => setTab(t)}
                onKeyDown={(e) => {
                  const i = tabs.indexOf(t);
                  const next = e.key === "ArrowRight"
                    ? tabs[(i + 1) % tabs.length]
                    : e.key === "ArrowLeft"
                    ? tabs[(i + tabs.length - 1) % tabs.length]
                    : null;
                  if (next) {
                    setTab(next);
                    (e.currentTarget.parentElement?.querySelector(`#tab-${next}`) as HTMLElement | null)
                      ?.focus();
                  }
                }}
              >
                {t}
              </button>
            ))}
          </div>
          <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`}>
            {tab === "status" && (
              <>
                <ErrorText error={status.error} />
                {status.data?.message && <p>{status.data.message}</p>}
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Service</th>
                      <th scope="col">Image</th>
                      <th scope="col">Ready</th>
                      <th scope="col">State</th>
                      <th scope="col">URIs</th>
                    </tr>
                  </thead>
                  <tbody>
                    {status.data?.services.map((s) => (
                      <tr key={s.name}>
                        <td>{s.name}</td>
                        <td>{s.image ?? ""}</td>
                        <td>{s.ready}/{s.total}</td>
                        <td>{s.state ?? ""}{s.message ? ` (${s.message})` : ""}</td>
                        <td>{s.uris.map((u) => <a key={u} href={u}>{u}</a>)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </>
            )}
            {tab === "logs" && <Logs keyRef={p.keyRef} leaseId={l.id} />}
            {tab === "events" && <Events keyRef={p.keyRef} leaseId={l.id} />}
            {tab === "shell" && <ShellTerminal keyRef={p.keyRef} leaseId={l.id} />}
          </div>
        </>
      )}
    </article>
  );
}

/** Lines of logs kept on the page. */
const LOG_LINES_MAX = 2000;
/** Times a followed log stream is opened again after it ends. */
const LOG_ATTEMPTS = 5;

/** A lease's logs, followed while shown. */
function Logs(p: { keyRef: UnlockedKey; leaseId: string }) {
  const [lines, setLines] = useState<string[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [following, setFollowing] = useState(true);
  useEffect(() => {
    if (!following) return;
    const ac = new AbortController();
    // A stream that ends or fails (the provider restarting the workload, a lease its node does not see
    // yet) is opened again, a few times, each from the last lines.
    void (async () => {
      for (let attempt = 1; attempt <= LOG_ATTEMPTS && !ac.signal.aborted; attempt++) {
        const fresh: string[] = [];
        try {
          await followLogs(p.keyRef, p.leaseId, { tail: 200 }, (line) => {
            fresh.push(line);
            if (fresh.length > 2 * LOG_LINES_MAX) fresh.splice(0, fresh.length - LOG_LINES_MAX);
            setLines(fresh.slice(-LOG_LINES_MAX));
          }, ac.signal);
          setError(null);
        } catch (e) {
          setError((e as Error).message);
        }
        await new Promise((r) => setTimeout(r, 2000));
      }
    })();
    return () => ac.abort();
  }, [p.leaseId, following]);
  return (
    <div>
      <label>
        <input type="checkbox" checked={following} onChange={(e) => setFollowing(e.currentTarget.checked)} />
        {" "}
        Follow
      </label>
      <ErrorText error={error} />
      <pre class="logs" tabIndex={0} aria-label="Logs" aria-live="polite">{lines.join("\n")}</pre>
    </div>
  );
}

/** What the provider did with a lease. */
function Events(p: { keyRef: UnlockedKey; leaseId: string }) {
  const ev = usePoll(
    () =>
      leaseCall<{ events: { height: number; time: string; type: string; message: string }[] }>(
        p.keyRef,
        p.leaseId,
        "events",
      ),
    [p.leaseId],
    5000,
  );
  return (
    <div>
      <ErrorText error={ev.error} />
      <table>
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Block</th>
            <th scope="col">Type</th>
            <th scope="col">Message</th>
          </tr>
        </thead>
        <tbody>
          {ev.data?.events.map((e, i) => (
            <tr key={i}>
              <td>{e.time}</td>
              <td>{e.height}</td>
              <td>{e.type}</td>
              <td>{e.message}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Update a deployment: a new SDL (same resources), its manifest hash on chain, the manifest to the providers. */
function UpdateCard(p: { keyRef: UnlockedKey; dseq: number; onDone: () => void }) {
  const [open, setOpen] = useState(false);
  const [text, setText] = useState(() => savedSdl(p.keyRef.address, p.dseq));
  const [note, setNote] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const parsed = useSdl(text);
  if (!open) {
    return (
      <p>
        <button type="button" aria-expanded={false} onClick={() => setOpen(true)}>
          Update deployment...
        </button>
      </p>
    );
  }
  const update = async (e: Event) => {
    e.preventDefault();
    if (!parsed?.ok) return;
    setBusy(true);
    setError(null);
    setNote(null);
    try {
      const r = await sendTx(p.keyRef, "deployment.update", {
        dseq: p.dseq,
        manifestHash: parsed.manifestHash,
        groups: groupsForTx(parsed.groups),
      });
      saveSdl(p.keyRef.address, p.dseq, text);
      const sent = await sendManifests(p.keyRef, { dseq: p.dseq, sdl: parsed });
      setNote(`updated in block ${r.height}; manifest sent to ${sent.length} lease(s)`);
      p.onDone();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="card" onSubmit={update} aria-labelledby="update-h">
      <h2 id="update-h">Update deployment {p.dseq}</h2>
      <p class="hint">
        A new image, command or environment; the resources stay as leased. The chain records the new manifest
        hash, then the manifest goes to the providers.
      </p>
      <SdlEditor id="update-sdl" text={text} parsed={parsed} onInput={setText} />
      <div class="row">
        <button type="submit" disabled={!parsed?.ok || busy}>{busy ? "Updating..." : "Update"}</button>
        <button type="button" aria-expanded onClick={() => setOpen(false)}>Cancel</button>
      </div>
      {note && <p role="status">{note}</p>}
      <ErrorText error={error} />
    </form>
  );
}
