/** @jsxImportSource preact */
/// <reference lib="dom" />
/**
 * Small shared pieces of markup: links, errors, key/value tables, the "unlock a key first" notice.
 * @module
 */
import type { ComponentChildren } from "preact";
import { shortId } from "./format.ts";

/** A link to an explorer page of an address, tx, block... */
export function Link(p: { to: string; children: ComponentChildren }) {
  return <a href={`#${p.to}`}>{p.children}</a>;
}

/** An address, linked to its account page. */
export function Addr(p: { a: string | undefined | null }) {
  if (!p.a) return <span>-</span>;
  return (
    <Link to={`/explorer/account/${p.a}`}>
      <code title={p.a}>{shortId(p.a)}</code>
    </Link>
  );
}

/** An error message, announced to screen readers. */
export function ErrorText(p: { error: string | null | undefined }) {
  return p.error ? <p class="error" role="alert">{p.error}</p> : null;
}

/** A definition list of label/value rows. */
export function Fields(p: { rows: [string, ComponentChildren][] }) {
  return (
    <dl class="fields">
      {p.rows.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}

/** Shown where a page needs an unlocked key. */
export function NeedKey() {
  return (
    <p class="notice">
      Unlock or create a key first: <Link to="/keys">Keys</Link>. Keys stay in this browser, encrypted.
    </p>
  );
}

/** A state as a coloured badge ("active", "closed"...). */
export function State(p: { s: string | undefined }) {
  return <span class={`state state-${p.s ?? "unknown"}`}>{p.s ?? "?"}</span>;
}
