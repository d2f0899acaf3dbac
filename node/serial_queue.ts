/**
 * One serial queue of async tasks: each runs alone, in order (the consensus driver feeds every input
 * through one, so its core never sees two inputs at once). A failing task is logged and the next runs.
 * @module
 */
import type { Logger } from "../lib/log.ts";

/** A serial queue of async tasks. */
export class SerialQueue {
  #queue: (() => Promise<void>)[] = [];
  #running = false;
  /** The drain loop in progress (resolved when the queue is empty). */
  #draining: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(readonly log: Logger) {}

  /** True when no task is queued or running. */
  get idle(): boolean {
    return !this.#running && this.#queue.length === 0;
  }

  /** Queue `task` (dropped once stopped). */
  enqueue(task: () => Promise<void>): void {
    if (this.#stopped) return;
    this.#queue.push(task);
    if (!this.#running) this.#draining = this.#drain();
  }

  /** Queue `task` and resolve once it ran (or failed). */
  async run(task: () => Promise<void>): Promise<void> {
    await new Promise<void>((resolve) => {
      this.enqueue(async () => {
        try {
          await task();
        } finally {
          resolve();
        }
      });
    });
  }

  /** Drop queued tasks, refuse new ones, and wait for the running one. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#queue = [];
    await this.#draining;
  }

  async #drain(): Promise<void> {
    this.#running = true;
    try {
      while (this.#queue.length > 0 && !this.#stopped) {
        const task = this.#queue.shift()!;
        try {
          await task();
        } catch (e) {
          this.log("error", "consensus task failed", { error: String((e as Error)?.stack ?? e) });
        }
      }
    } finally {
      this.#running = false;
    }
  }
}
