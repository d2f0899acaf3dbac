/**
 * Replay protection of the tenant protocols: {@link FreshnessGuard} (a timestamp window and the
 * nonces seen in it) and {@link ManifestVersions} (the last accepted manifest version per deployment).
 * @module
 */

/** "90s", "5m", "3h", "2d": a short human duration. */
export function formatDuration(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  if (s < 120) return `${s}s`;
  if (s < 2 * 3600) return `${Math.round(s / 60)}m`;
  if (s < 2 * 86400) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

/** Options of a {@link FreshnessGuard}. */
export interface FreshnessOptions {
  /** Accepted clock skew each way, ms (default 60 000). */
  windowMs?: number;
  /** Most nonces remembered at once (default 100 000). */
  maxNonces?: number;
}

/**
 * Refuses requests whose timestamp is outside `now ± windowMs` and nonces already seen. A nonce is
 * remembered until its request's timestamp has left the window (after that, the timestamp alone
 * refuses a replay), so memory is bounded by the requests of one window and by `maxNonces`. When
 * full of live nonces it refuses new requests ("busy") rather than forget a live nonce.
 */
export class FreshnessGuard {
  readonly windowMs: number;
  readonly maxNonces: number;
  /** nonce -> time after which it can be forgotten */
  #seen = new Map<string, number>();
  #nextSweep = -Infinity;
  /** Earliest expiry among the remembered nonces as of the last sweep. */
  #minExpiry = Infinity;

  constructor(opts: FreshnessOptions = {}) {
    this.windowMs = opts.windowMs ?? 60_000;
    this.maxNonces = opts.maxNonces ?? 100_000;
    if (!(this.windowMs > 0) || !(this.maxNonces > 0)) throw new Error("windowMs and maxNonces must be > 0");
  }

  /** Nonces remembered now. */
  get size(): number {
    return this.#seen.size;
  }

  /** null when fresh (the nonce is then remembered), else why not. */
  check(timestamp: number, nonce: string, nowMs: number): string | null {
    if (typeof timestamp !== "number" || !Number.isFinite(timestamp)) {
      return "request timestamp is not a number";
    }
    if (typeof nonce !== "string" || nonce.length === 0 || nonce.length > 128) {
      return "request nonce is invalid";
    }
    const window = formatDuration(this.windowMs);
    if (timestamp < nowMs - this.windowMs) {
      return `request is stale: timestamp ${formatDuration(nowMs - timestamp)} ago, the window is ${window}`;
    }
    if (timestamp > nowMs + this.windowMs) {
      return `request timestamp is ${
        formatDuration(timestamp - nowMs)
      } in the future, the window is ${window} (check the clock)`;
    }
    this.#maybeSweep(nowMs);
    const until = this.#seen.get(nonce);
    if (until !== undefined && until >= nowMs) return "replayed request: this nonce was already used";
    if (this.#seen.size >= this.maxNonces) {
      return `too many requests: ${this.maxNonces} in the last ${window}; try again in ${
        formatDuration(this.#minExpiry - nowMs)
      }`;
    }
    const expiry = timestamp + this.windowMs;
    this.#seen.set(nonce, expiry);
    if (expiry < this.#minExpiry) this.#minExpiry = expiry;
    return null;
  }

  #maybeSweep(nowMs: number): void {
    const full = this.#seen.size >= this.maxNonces;
    if (!(nowMs >= this.#nextSweep || (full && nowMs > this.#minExpiry))) return;
    let min = Infinity;
    for (const [n, until] of this.#seen) {
      if (until < nowMs) this.#seen.delete(n);
      else if (until < min) min = until;
    }
    this.#minExpiry = min;
    this.#nextSweep = nowMs + this.windowMs / 4;
  }
}

/**
 * The last accepted manifest version of each deployment (`owner/dseq`). A lower version is a replay;
 * the same version with the same hash is an idempotent resend; the same version with another hash is
 * a conflict. `check` only reads; call `accept` once the manifest is deployed. Bounded: past
 * `entriesMax` the least recently accepted deployment is forgotten.
 */
export class ManifestVersions {
  #m = new Map<string, { version: number; hash: string }>();
  constructor(readonly entriesMax = 100_000) {}

  /** null when `version` may be deployed, else why not (a conflict). */
  check(deploymentId: string, version: number, hash: string): string | null {
    const cur = this.#m.get(deploymentId);
    if (!cur) return null;
    if (version < cur.version) {
      return `replayed manifest: version ${version}, accepted ${cur.version}`;
    }
    if (version === cur.version && hash !== cur.hash) {
      return `manifest version ${version} was already accepted with hash ${cur.hash.slice(0, 12)}…; ` +
        `send a different manifest with a higher version`;
    }
    return null;
  }

  /** Records `version` as deployed (never lowers the recorded version). */
  accept(deploymentId: string, version: number, hash: string): void {
    const cur = this.#m.get(deploymentId);
    if (cur && cur.version > version) return;
    this.#m.delete(deploymentId);
    if (this.#m.size >= this.entriesMax) {
      const oldest = this.#m.keys().next();
      if (!oldest.done) this.#m.delete(oldest.value);
    }
    this.#m.set(deploymentId, { version, hash });
  }

  /** The accepted version and hash, if any. */
  get(deploymentId: string): { version: number; hash: string } | undefined {
    const cur = this.#m.get(deploymentId);
    return cur ? { ...cur } : undefined;
  }

  /** Forget a deployment (closed). */
  forget(deploymentId: string): void {
    this.#m.delete(deploymentId);
  }

  /** Deployments remembered now. */
  get size(): number {
    return this.#m.size;
  }
}
