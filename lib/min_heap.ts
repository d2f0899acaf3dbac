/**
 * A binary min-heap under a caller's order: the simulated clock's timers and the Twins runner's
 * events share it.
 * @module
 */

/** A binary min-heap; `before(a, b)` is true when `a` must come out before `b`. */
export class MinHeap<T> {
  readonly #items: T[] = [];

  /** @param before the strict order of the heap. */
  constructor(readonly before: (a: T, b: T) => boolean) {}

  /** How many items are in the heap. */
  get size(): number {
    return this.#items.length;
  }

  /** The first item, left in the heap. */
  peek(): T | undefined {
    return this.#items[0];
  }

  /** Add an item. */
  push(t: T): void {
    const a = this.#items;
    a.push(t);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }

  /** Remove and return the first item. */
  pop(): T | undefined {
    const a = this.#items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      let i = 0;
      while (true) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < a.length && this.before(a[l]!, a[m]!)) m = l;
        if (r < a.length && this.before(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}
