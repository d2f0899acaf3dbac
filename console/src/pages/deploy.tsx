/** @jsxImportSource preact */
/// <reference lib="dom" />
/**
 * Deploy: pick a template (examples/) or write SDL with live validation (the chain's own parser,
 * errors at their line), ask the providers whether they would bid and why not, create the
 * deployment (signed here), then watch the auction live: bids as they arrive, the countdown to the
 * bid window's end, the winner; the manifest goes to the winner, signed here, relayed by the node.
 * @module
 */
import { useEffect, useRef, useState } from "preact/hooks";
import type { DeploymentDetail } from "../../../auction/market/types.ts";
import { groupsForTx } from "../../../auction/market/validate.ts";
import { orderIdOfBid } from "../../../lib/ids.ts";
import { DENOM } from "../../../lib/units.ts";
import { eventsOf, get, post, sendManifests, sendTx, subscribe } from "../api.ts";
import { priceText } from "../format.ts";
import { saveSdl, SdlEditor, useSdl } from "../sdl_editor.tsx";
import { useKey, usePoll } from "../store.ts";
import { Addr, ErrorText, Link, NeedKey } from "../ui.tsx";

/** What `/api/console/screen` answers: per group, each provider's price or reasons. */
interface Screening {
  groups: {
    name: string;
    providers: (
      | { address: string; bid: true; price: { denom: string; amount: string } }
      | { address: string; bid: false; reasons: string[] }
    )[];
  }[];
}

interface Template {
  name: string;
  title: string;
  text: string;
}

interface AuctionBid {
  provider: string;
  price: string;
  denom: string;
  height: number;
}

interface Auction {
  owner: string;
  dseq: number;
  orders: { id: string; closesAt: number; maxPrice: string; denom: string }[];
  bids: AuctionBid[];
  lease: { id: string; provider: string; price: string; denom: string; height: number } | null;
  height: number;
  msPerBlock: number;
  manifest: "waiting" | "sending" | "sent" | string;
}

/** The deploy page. */
export function DeployPage() {
  const key = useKey();
  const templates = usePoll(() => get<{ templates: Template[] }>("/console/templates"), []);
  const [text, setText] = useState("");
  const [deposit, setDeposit] = useState("5000000");
  const [screening, setScreening] = useState<Screening | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState("");
  const [auction, setAuction] = useState<Auction | null>(null);
  useEffect(() => {
    const first = templates.data?.templates[0];
    if (text === "" && first) setText(first.text);
  }, [templates.data]);
  const parsed = useSdl(text);
  const screen = async () => {
    if (!parsed?.ok) return;
    setBusy("screening");
    setError(null);
    try {
      setScreening(await post<Screening>("/console/screen", { groups: groupsForTx(parsed.groups) }));
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy("");
    }
  };
  const create = async (e: Event) => {
    e.preventDefault();
    if (!parsed?.ok || !key) return;
    setBusy("creating");
    setError(null);
    try {
      if (!/^\d+$/.test(deposit)) throw new Error("the deposit is a whole number of ucrs");
      const r = await sendTx(key, "deployment.create", {
        groups: groupsForTx(parsed.groups),
        manifestHash: parsed.manifestHash,
        deposit: { denom: DENOM, amount: deposit },
      });
      const created = eventsOf(r, "deployment.created")[0];
      saveSdl(key.address, Number(created?.dseq ?? r.height), text);
      const orders = eventsOf(r, "order.opened").map((o) => ({
        id: o.order!,
        closesAt: Number(o.closesAt),
        maxPrice: o.maxPrice ?? "",
        denom: o.denom ?? DENOM,
      }));
      const blocks = await get<{ blocks: { time: number }[] }>("/console/blocks?limit=20");
      const b = blocks.blocks;
      const msPerBlock = b.length > 1 ? (b[0]!.time - b[b.length - 1]!.time) / (b.length - 1) : 1000;
      setAuction({
        owner: key.address,
        dseq: Number(created?.dseq ?? r.height),
        orders,
        bids: [],
        lease: null,
        height: r.height ?? 0,
        msPerBlock,
        manifest: "waiting",
      });
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy("");
    }
  };
  return (
    <section aria-labelledby="deploy-h">
      <h1 id="deploy-h">Deploy</h1>
      {!key && <NeedKey />}
      <div class="gallery" role="group" aria-label="Templates">
        {templates.data?.templates.map((t) => (
          <button
            type="button"
            key={t.name}
            class="template"
            onClick={() => setText(t.text)}
          >
            <strong>{t.name}</strong>
            <span>{t.title}</span>
          </button>
        ))}
      </div>
      <ErrorText error={templates.error} />
      <form onSubmit={create} class="deploy">
        <SdlEditor
          id="sdl"
          text={text}
          parsed={parsed}
          onInput={(t) => {
            setText(t);
            setScreening(null);
          }}
        />
        <div class="row">
          <label>
            Deposit (ucrs){" "}
            <input
              name="deposit"
              inputMode="numeric"
              value={deposit}
              onInput={(e) => setDeposit(e.currentTarget.value)}
            />
          </label>
          <button type="button" onClick={screen} disabled={!parsed?.ok || busy !== ""}>
            {busy === "screening" ? "Asking providers..." : "Screen providers"}
          </button>
          <button type="submit" disabled={!parsed?.ok || !key || busy !== ""}>
            {busy === "creating" ? "Creating..." : "Create deployment"}
          </button>
        </div>
      </form>
      <ErrorText error={error} />
      {screening && <ScreeningView s={screening} />}
      {auction && parsed?.ok && key && (
        <AuctionView
          auction={auction}
          setAuction={setAuction}
          onWinner={async (leaseId) => {
            await sendManifests(key, { dseq: auction.dseq, sdl: parsed, leaseIds: [leaseId] });
          }}
        />
      )}
    </section>
  );
}

/** Which providers would bid on each group, at what price, or why not. */
function ScreeningView(p: { s: Screening }) {
  return (
    <section class="card" aria-labelledby="screen-h">
      <h2 id="screen-h">Screening</h2>
      {p.s.groups.map((g) => (
        <table key={g.name}>
          <caption>
            Group {g.name}: {g.providers.filter((x) => x.bid).length} of {g.providers.length}{" "}
            providers would bid
          </caption>
          <thead>
            <tr>
              <th scope="col">Provider</th>
              <th scope="col">Would bid</th>
              <th scope="col">Price or reasons</th>
            </tr>
          </thead>
          <tbody>
            {g.providers.map((x) => (
              <tr key={x.address}>
                <td>
                  <Addr a={x.address} />
                </td>
                <td>{x.bid ? "yes" : "no"}</td>
                <td>{x.bid ? priceText(x.price) : x.reasons.join("; ")}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ))}
    </section>
  );
}

/** The auction of a new deployment, live from the node's events. */
function AuctionView(p: {
  auction: Auction;
  setAuction: (f: (a: Auction | null) => Auction | null) => void;
  onWinner: (leaseId: string) => Promise<void>;
}) {
  const a = p.auction;
  const manifestStarted = useRef(false);
  useEffect(() => {
    const orderIds = new Set(a.orders.map((o) => o.id));
    const orderOf = (id: string) => orderIdOfBid(id) ?? "";
    let live = true;
    let running = false;
    let again = false;
    // The chain's state is the truth: the events say when to read it again, so an event that came
    // before the subscription opened (a fast provider, a short window) is never missed.
    const reconcile = async () => {
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        do {
          again = false;
          const d = await get<DeploymentDetail>(`/query/deployment/${a.owner}/${a.dseq}`);
          if (!live) return;
          const bids = d.bids.filter((b) => orderIds.has(orderOf(b.id)))
            .sort((x, y) => x.createdAt - y.createdAt)
            .map((b) => ({
              provider: b.provider,
              price: b.price.amount,
              denom: b.price.denom,
              height: b.createdAt,
            }));
          const lease = d.leases.find((l) => orderIds.has(orderOf(l.id)));
          const start = lease !== undefined && lease.state === "active" && !manifestStarted.current;
          if (start) manifestStarted.current = true;
          p.setAuction((x) =>
            x && {
              ...x,
              bids,
              orders: x.orders.map((o) => {
                const q = d.orders.find((z) => z.id === o.id);
                return q ? { ...o, closesAt: q.closesAt } : o;
              }),
              lease: lease
                ? {
                  id: lease.id,
                  provider: lease.provider,
                  price: lease.price.amount,
                  denom: lease.price.denom,
                  height: lease.createdAt,
                }
                : x.lease,
              manifest: start ? "sending" : x.manifest,
            }
          );
          if (start) {
            p.onWinner(lease.id).then(
              () => p.setAuction((x) => x && { ...x, manifest: "sent" }),
              (e) => p.setAuction((x) => x && { ...x, manifest: `not sent: ${(e as Error).message}` }),
            );
          }
        } while (again && live);
      } catch {
        /* the next block or event reads again */
      } finally {
        running = false;
      }
    };
    void reconcile();
    const unsubscribe = subscribe(["block", "event"], (kind, d) => {
      if (kind === "block") {
        p.setAuction((x) => x && { ...x, height: Number(d.height) });
        if (!manifestStarted.current) void reconcile();
        return;
      }
      const attrs = d.attrs as Record<string, string>;
      if (attrs.owner === a.owner) void reconcile();
    });
    return () => {
      live = false;
      unsubscribe();
    };
  }, [a.dseq]);
  const order = a.orders[0];
  const left = order && order.closesAt > 0 ? Math.max(0, order.closesAt - a.height) : null;
  return (
    <section class="card" aria-labelledby="auction-h" aria-live="polite">
      <h2 id="auction-h">Auction of deployment {a.dseq}</h2>
      {a.orders.map((o) => (
        <p key={o.id}>
          Order <code>{o.id}</code>, max {o.maxPrice} {o.denom}/block; {o.closesAt === 0
            ? "no bids in its window: the next bid opens a new one"
            : `window ends at block ${o.closesAt}`}
        </p>
      ))}
      {a.lease === null && left !== null && (
        <p class="countdown">
          Bid window: <strong>{left}</strong> block(s) left (about {Math.ceil((left * a.msPerBlock) / 1000)}
          {" "}
          s), now at block {a.height}
        </p>
      )}
      <table>
        <caption>Bids ({a.bids.length})</caption>
        <thead>
          <tr>
            <th scope="col">Block</th>
            <th scope="col">Provider</th>
            <th scope="col">Price</th>
          </tr>
        </thead>
        <tbody class="bids">
          {a.bids.map((b) => (
            <tr key={b.provider} class={a.lease?.provider === b.provider ? "winner" : ""}>
              <td>{b.height}</td>
              <td>
                <Addr a={b.provider} />
              </td>
              <td>{priceText({ amount: b.price, denom: b.denom })}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {a.lease && (
        <p class="winner-line">
          Winner: <Addr a={a.lease.provider} /> at{" "}
          {priceText({ amount: a.lease.price, denom: a.lease.denom })}, lease <code>{a.lease.id}</code> (block
          {" "}
          {a.lease.height}). Manifest: {a.manifest}.{" "}
          <Link to={`/deployments/${a.dseq}`}>Open the deployment</Link>
        </p>
      )}
    </section>
  );
}
