/**
 * Simulated time: a {@link Clock} whose `now` only moves when a test or the simulator drives it.
 * Timers fire in (time, key, insertion) order; the key (empty for `setTimeout`) lets concurrent
 * components order their simultaneous timers independently of real scheduling. Between two firings the driver lets the process settle:
 * pending promise chains run, and real asynchronous work that is still in flight (LevelDB, file
 * writes, WebCrypto) is waited for while anything registered with {@link SimClock.busyWhile} or
 * {@link SimClock.track} says it is busy. A whole in-process cluster then moves forward in virtual
 * time as fast as its real work allows, with no sleep.
 *
 * Every driving method is bounded: a most number of timer firings per call, a most number of event
 * loop turns per settle, and a virtual-time budget after which {@link SimClock.runUntil} throws a
 * {@link SimTimeoutError} naming what it waited for.
 * @module
 */
import type { Clock } from "./clock.ts";
import { MinHeap } from "./min_heap.ts";

/** Options of a {@link SimClock}. */
export interface SimClockOptions {
  /** Virtual time at start, ms since the epoch (default 0). */
  startMs?: number;
  /** Most timer firings in one `advance`/`runUntil` call (default 1 000 000). */
  firingsMax?: number;
  /** Most event loop turns one settle waits for busy work (default 100 000). */
  settleTurnsMax?: number;
  /** Consecutive turns without activity that count as settled (default 3). */
  quietTurns?: number;
  /**
   * Lookahead, ms (default 0): timers due within this much of the first due one fire together
   * before one settle. Safe for a cluster when it is at most the smallest link latency (no effect
   * of one event can reach another node inside the window); it lets real work overlap.
   */
  lookaheadMs?: number;
}

/** Options of {@link SimClock.runUntil}. */
export interface RunUntilOptions {
  /** Virtual time budget, ms (default 60 000). */
  maxMs?: number;
  /** What is waited for, for the error message. */
  label?: string;
}

/** The predicate of {@link SimClock.runUntil} did not hold within its virtual-time budget. */
export class SimTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SimTimeoutError";
  }
}

interface Timer {
  at: number;
  /** Orders timers due at the same time: by key, then by creation. */
  key: string;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/** Event loop turns a settle spins before it sleeps a real millisecond per turn. */
const FAST_TURNS = 200;

function before(x: Timer, y: Timer): boolean {
  if (x.at !== y.at) return x.at < y.at;
  if (x.key !== y.key) return x.key < y.key;
  return x.seq < y.seq;
}

/**
 * A virtual clock for tests and the simulator.
 * @example
 * ```ts
 * const clock = new SimClock();
 * let fired = false;
 * clock.setTimeout(() => fired = true, 1000);
 * await clock.advance(1000); // fired === true, clock.now() === 1000, no real second spent
 * ```
 */
export class SimClock implements Clock {
  #now: number;
  #seq = 0;
  readonly #heap = new MinHeap<Timer>(before);
  readonly #byHandle = new Map<number, Timer>();
  readonly #busy = new Set<() => boolean>();
  #inFlight = 0;
  #activity = 0;
  readonly #firingsMax: number;
  readonly #settleTurnsMax: number;
  readonly #quietTurns: number;
  readonly #lookaheadMs: number;
  #driving = false;
  /** Timers fired since creation. */
  firings = 0;
  /** Settles run, and event loop turns spent in them (for measurements). */
  settles = 0;
  turns = 0;
  /** Settles that gave up waiting for busy work after `settleTurnsMax` turns. */
  settleOverruns = 0;

  constructor(opts: SimClockOptions = {}) {
    this.#now = opts.startMs ?? 0;
    if (!Number.isSafeInteger(this.#now)) {
      throw new RangeError(`Cannot start at ${this.#now}: not a whole ms`);
    }
    this.#firingsMax = opts.firingsMax ?? 1_000_000;
    this.#settleTurnsMax = opts.settleTurnsMax ?? 100_000;
    this.#quietTurns = opts.quietTurns ?? 3;
    this.#lookaheadMs = opts.lookaheadMs ?? 0;
  }

  /** Virtual milliseconds since the epoch. */
  now(): number {
    return this.#now;
  }

  /**
   * Schedules `fn` at `now + ms`, `ms` rounded up to a whole millisecond (negative or NaN delays
   * count as 0), so that `now()` stays a whole number of milliseconds, as `Date.now()` is.
   */
  setTimeout(fn: () => void, ms: number): number {
    return this.schedule(fn, ms, "");
  }

  /**
   * {@link SimClock.setTimeout} with an ordering key: timers due at the same time fire by key, then
   * in creation order. Components that run concurrently (nodes of a cluster, links of a network)
   * give their timers distinct keys, so that what fires first at one instant does not depend on
   * which of them happened to schedule first in real time.
   */
  schedule(fn: () => void, ms: number, key: string): number {
    const at = this.#now + (Number.isFinite(ms) && ms > 0 ? Math.ceil(ms) : 0);
    const t: Timer = { at, key, seq: ++this.#seq, fn, cancelled: false };
    this.#heap.push(t);
    this.#byHandle.set(t.seq, t);
    this.#activity++;
    return t.seq;
  }

  /** Cancels a timer; a no-op for a fired or unknown handle. */
  clearTimeout(handle: unknown): void {
    if (typeof handle !== "number") return;
    const t = this.#byHandle.get(handle);
    if (!t) return;
    t.cancelled = true;
    this.#byHandle.delete(handle);
    this.#activity++;
  }

  /** A {@link Clock} on this clock whose timers carry `key` (see {@link SimClock.schedule}). */
  view(key: string): Clock {
    return {
      now: () => this.now(),
      setTimeout: (fn, ms) => this.schedule(fn, ms, key),
      clearTimeout: (handle) => this.clearTimeout(handle),
    };
  }

  /** Timers scheduled and not yet fired or cancelled. */
  get pendingTimers(): number {
    return this.#byHandle.size;
  }

  /** The virtual time of the next timer, or null when none is pending. */
  nextTimerAt(): number | null {
    this.#dropCancelled();
    return this.#heap.peek()?.at ?? null;
  }

  /** Records activity (a message sent, a reply delivered): a settle waits for quiet turns again. */
  touch(): void {
    this.#activity++;
  }

  /**
   * Registers a predicate that says real work is still in flight (e.g. a node's consensus queue
   * draining through its WAL): settles wait while it returns true. Returns the unregister function.
   */
  busyWhile(check: () => boolean): () => void {
    this.#busy.add(check);
    return () => this.#busy.delete(check);
  }

  /** Counts `p` as in-flight work until it settles; returns `p`. */
  track<T>(p: Promise<T>): Promise<T> {
    this.#inFlight++;
    this.#activity++;
    const done = () => {
      this.#inFlight--;
      this.#activity++;
    };
    p.then(done, done);
    return p;
  }

  /**
   * Lets pending promise chains and tracked real work run, without moving virtual time: returns
   * after `quietTurns` event loop turns with no activity, nothing tracked in flight and no busy
   * predicate true (or after `settleTurnsMax` turns, counted in {@link SimClock.settleOverruns}).
   */
  async settle(): Promise<void> {
    const channel = new MessageChannel();
    let wake: (() => void) | null = null;
    channel.port1.onmessage = () => wake?.();
    const turn = () =>
      new Promise<void>((resolve) => {
        wake = resolve;
        channel.port2.postMessage(0);
      });
    try {
      let quiet = 0;
      this.settles++;
      for (let i = 0; i < this.#settleTurnsMax; i++) {
        this.turns++;
        const mark = this.#activity;
        // Fast turns first; a long wait for real I/O sleeps a real millisecond per turn instead of
        // spinning (the CPU is the I/O's).
        if (quiet === 0 && i >= FAST_TURNS) await new Promise((r) => setTimeout(r, 1));
        else await turn();
        const busy = this.#inFlight > 0 || [...this.#busy].some((check) => check());
        if (busy || mark !== this.#activity) quiet = 0;
        else if (++quiet >= this.#quietTurns) return;
      }
      this.settleOverruns++;
    } finally {
      channel.port1.close();
    }
  }

  /** Settles, then fires every timer due up to `now + ms` in order (settling after each). */
  advance(ms: number): Promise<void> {
    if (!Number.isSafeInteger(ms) || ms < 0) {
      return Promise.reject(new RangeError(`Cannot advance by ${ms} ms: not a whole number >= 0`));
    }
    return this.#drive(() => this.#advance(ms));
  }

  async #advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    await this.settle();
    let fired = 0;
    while (true) {
      const at = this.nextTimerAt();
      if (at === null || at > target) break;
      fired += this.#fireDue(target);
      if (fired > this.#firingsMax) {
        throw new SimTimeoutError(`more than ${this.#firingsMax} timer firings in one advance(${ms})`);
      }
      await this.settle();
    }
    this.#now = target;
  }

  /**
   * Settles, then fires timers in order until `predicate` holds; throws a {@link SimTimeoutError}
   * when it still does not hold after `maxMs` of virtual time, or when no timer is left.
   * Resolves with the virtual time spent.
   */
  runUntil(predicate: () => boolean, opts: RunUntilOptions = {}): Promise<number> {
    return this.#drive(() => this.#runUntil(predicate, opts));
  }

  async #runUntil(predicate: () => boolean, opts: RunUntilOptions): Promise<number> {
    const maxMs = opts.maxMs ?? 60_000;
    const label = opts.label ?? "condition";
    const start = this.#now;
    const deadline = start + maxMs;
    await this.settle();
    let fired = 0;
    while (!predicate()) {
      const at = this.nextTimerAt();
      if (at === null) {
        throw new SimTimeoutError(`${label} never holds: no timer left at ${this.#now - start} ms`);
      }
      if (at > deadline) {
        this.#now = deadline;
        throw new SimTimeoutError(`${label} did not hold within ${maxMs} ms of simulated time`);
      }
      fired += this.#fireDue(deadline);
      if (fired > this.#firingsMax) {
        throw new SimTimeoutError(`${label}: more than ${this.#firingsMax} timer firings`);
      }
      await this.settle();
    }
    return this.#now - start;
  }

  /**
   * Runs the clock until `p` resolves (or rejects), within `maxMs` of virtual time; resolves with
   * its value.
   */
  async runFor<T>(p: Promise<T>, opts: RunUntilOptions = {}): Promise<T> {
    let outcome: { value: T } | { error: unknown } | null = null;
    p.then((value) => outcome = { value }, (error) => outcome = { error });
    await this.runUntil(() => outcome !== null, opts);
    const o = outcome as { value: T } | { error: unknown } | null;
    if (o === null || "error" in o) throw o?.error;
    return o.value;
  }

  /** One driver at a time: two loops firing the same clock would break the settle between firings. */
  async #drive<T>(run: () => Promise<T>): Promise<T> {
    if (this.#driving) {
      throw new Error("SimClock is already being driven (await the other advance/runUntil first)");
    }
    this.#driving = true;
    try {
      return await run();
    } finally {
      this.#driving = false;
    }
  }

  #dropCancelled(): void {
    while (this.#heap.peek()?.cancelled) this.#heap.pop();
  }

  /**
   * Fires, in order, the next timer and every other timer due up to `lookaheadMs` after it (and
   * never after `limit`), timers they schedule in that window included; returns how many fired.
   * One settle then follows for the whole window, so the real work of near-simultaneous events
   * overlaps.
   */
  #fireDue(limit = Infinity): number {
    this.#dropCancelled();
    const first = this.#heap.peek();
    if (!first) return 0;
    const end = Math.min(first.at + this.#lookaheadMs, limit);
    let n = 0;
    while (true) {
      this.#dropCancelled();
      const t = this.#heap.peek();
      if (!t || t.at > end || n >= this.#firingsMax) return n;
      this.#heap.pop();
      this.#byHandle.delete(t.seq);
      if (t.at > this.#now) this.#now = t.at;
      this.firings++;
      this.#activity++;
      n++;
      t.fn();
    }
  }
}
