/**
 * The one wall-clock wait of the test tree, for tests that exercise real time on purpose (real
 * libp2p hosts in tests/p2p, real processes in tests/e2e, RPC over HTTP). In-process networks of
 * nodes run on simulated time instead (`node/sim/`, `tests/helpers/network.ts`).
 */

/** Resolves after `ms` milliseconds of wall time. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `cond` every `everyMs` until it is true; throws after `timeoutMs`. Resolves with the time it
 * took (ms). Leaves no timer behind.
 */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  label = "condition",
  everyMs = 20,
): Promise<number> {
  const t0 = performance.now();
  while (true) {
    if (await cond()) return performance.now() - t0;
    if (performance.now() - t0 > timeoutMs) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${label}`);
    }
    await sleep(everyMs);
  }
}
