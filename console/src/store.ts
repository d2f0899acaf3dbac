/**
 * The page's shared state: the unlocked key (in memory only) and the vault. A tiny observable with a
 * Preact hook, so every page re-renders when the key changes.
 * @module
 */
import { useEffect, useState } from "preact/hooks";
import { Vault } from "./vault.ts";
import type { UnlockedKey } from "./vault.ts";

/** The vault over the browser's localStorage. */
export const vault: Vault = new Vault(globalThis.localStorage);

let current: UnlockedKey | null = null;
const listeners = new Set<() => void>();

/** Sets (or clears) the unlocked key. */
export function setKey(k: UnlockedKey | null): void {
  current = k;
  for (const l of listeners) l();
}

/** The unlocked key, re-rendering the component when it changes. */
export function useKey(): UnlockedKey | null {
  const [, tick] = useState(0);
  useEffect(() => {
    const l = () => tick((n) => n + 1);
    listeners.add(l);
    return () => listeners.delete(l);
  }, []);
  return current;
}

/** Runs `load` on mount and whenever `deps` change, and every `everyMs` when given. */
export function usePoll<T>(load: () => Promise<T>, deps: unknown[], everyMs = 0): {
  data: T | null;
  error: string | null;
  reload: () => void;
} {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    const run = () =>
      load().then((d) => {
        if (live) {
          setData(d);
          setError(null);
        }
      }).catch((e) => live && setError((e as Error).message));
    run();
    const t = everyMs > 0 ? setInterval(run, everyMs) : null;
    return () => {
      live = false;
      if (t !== null) clearInterval(t);
    };
  }, [...deps, n]);
  return { data, error, reload: () => setN((x) => x + 1) };
}
