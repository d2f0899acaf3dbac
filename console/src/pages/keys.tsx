/** @jsxImportSource preact */
/// <reference lib="dom" />
/**
 * Keys: create, import, unlock, lock, remove; on a devnet, import the devnet's funded keys. Keys are
 * stored encrypted with a passphrase (vault.ts) and never leave the page.
 * @module
 */
import { useState } from "preact/hooks";
import { get } from "../api.ts";
import { setKey, useKey, usePoll, vault } from "../store.ts";
import { Addr, ErrorText } from "../ui.tsx";
import { fromHex } from "../../../lib/crypto.ts";

/** The keys page. */
export function KeysPage() {
  const key = useKey();
  const [, rerender] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState("");
  const [name, setName] = useState("");
  const [seed, setSeed] = useState("");
  const [pass, setPass] = useState("");
  const [unlockPass, setUnlockPass] = useState("");
  const entries = vault.list();
  const [selected, setSelected] = useState(entries[0]?.name ?? "");
  const balances = usePoll(
    () =>
      Promise.all(
        entries.map((e) =>
          get<{ balance: string }>(`/query/account/${e.address}`).then((a) => a.balance, () => "0")
        ),
      ),
    [entries.length],
    5000,
  );
  const run = async (what: string, fn: () => Promise<void>) => {
    setBusy(what);
    setError(null);
    try {
      await fn();
      rerender((n) => n + 1);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy("");
    }
  };
  const create = (e: Event) => {
    e.preventDefault();
    void run("saving", async () => {
      const entry = seed.trim() ? await vault.import(name, seed, pass) : await vault.create(name, pass);
      setKey(await vault.unlock(entry.name, pass));
      setSelected(entry.name);
      setName("");
      setSeed("");
      setPass("");
    });
  };
  const unlock = (e: Event) => {
    e.preventDefault();
    void run("unlocking", async () => {
      setKey(await vault.unlock(selected, unlockPass));
      setUnlockPass("");
    });
  };
  const importDevnet = () =>
    void run("importing", async () => {
      if (pass.length < 8) {
        throw new Error("type a passphrase (8+ characters) to encrypt the devnet keys with");
      }
      const { keys } = await get<{ keys: { name: string; seed: string }[] }>("/console/devnet-keys");
      const have = new Set(vault.list().map((e) => e.name));
      for (const k of keys) if (!have.has(k.name)) await vault.add(k.name, fromHex(k.seed), pass);
      setPass("");
    });
  return (
    <section aria-labelledby="keys-h">
      <h1 id="keys-h">Keys</h1>
      <p>
        Keys are kept in this browser only, encrypted with your passphrase (PBKDF2 + AES-GCM). Transactions
        and provider requests are signed here; no private key is ever sent.
      </p>
      {key
        ? (
          <p class="notice" role="status">
            Unlocked: <strong>{key.name}</strong> <Addr a={key.address} />{" "}
            <button type="button" onClick={() => setKey(null)}>Lock</button>
          </p>
        )
        : <p class="notice" role="status">No key unlocked.</p>}
      <ErrorText error={error} />
      {entries.length > 0 && (
        <form onSubmit={unlock} class="card" aria-labelledby="unlock-h">
          <h2 id="unlock-h">Unlock a key</h2>
          <table>
            <caption class="sr-only">Stored keys</caption>
            <thead>
              <tr>
                <th scope="col">Use</th>
                <th scope="col">Name</th>
                <th scope="col">Address</th>
                <th scope="col">Balance</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {entries.map((e, i) => (
                <tr key={e.name}>
                  <td>
                    <input
                      type="radio"
                      name="key"
                      id={`key-${e.name}`}
                      checked={selected === e.name}
                      onChange={() => setSelected(e.name)}
                    />
                  </td>
                  <td>
                    <label for={`key-${e.name}`}>{e.name}</label>
                  </td>
                  <td>
                    <Addr a={e.address} />
                  </td>
                  <td>{balances.data?.[i] ?? "..."}</td>
                  <td>
                    <button
                      type="button"
                      onClick={() => {
                        if (confirm(`Remove key ${e.name} from this browser? Without a backup it is lost.`)) {
                          vault.remove(e.name);
                          if (key?.name === e.name) setKey(null);
                          rerender((n) => n + 1);
                        }
                      }}
                    >
                      Remove
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <label>
            Passphrase{" "}
            <input
              type="password"
              name="unlock-passphrase"
              autocomplete="current-password"
              value={unlockPass}
              onInput={(e) => setUnlockPass(e.currentTarget.value)}
              required
            />
          </label>{" "}
          <button type="submit" disabled={busy !== "" || !selected}>
            {busy === "unlocking" ? "Unlocking..." : "Unlock"}
          </button>
        </form>
      )}
      <form onSubmit={create} class="card" aria-labelledby="new-h">
        <h2 id="new-h">New key</h2>
        <label>
          Name <input name="key-name" value={name} onInput={(e) => setName(e.currentTarget.value)} required />
        </label>
        <label>
          Private key to import (64 hex characters; empty: create a new one){" "}
          <input
            name="key-seed"
            value={seed}
            autocomplete="off"
            spellcheck={false}
            onInput={(e) => setSeed(e.currentTarget.value)}
          />
        </label>
        <label>
          Passphrase (8+ characters){" "}
          <input
            type="password"
            name="new-passphrase"
            autocomplete="new-password"
            value={pass}
            onInput={(e) => setPass(e.currentTarget.value)}
          />
        </label>
        <div class="row">
          <button type="submit" disabled={busy !== ""}>
            {busy === "saving" ? "Encrypting..." : "Save key"}
          </button>
          <button type="button" onClick={importDevnet} disabled={busy !== ""}>
            {busy === "importing" ? "Importing..." : "Import the devnet's keys"}
          </button>
        </div>
        <p class="hint">
          The devnet import works only on a devnet chain, from the node `cirrus devnet` started.
        </p>
      </form>
    </section>
  );
}
