/**
 * A seeded pseudo-random number generator (mulberry32): the only source of randomness for tests,
 * fuzzers and the simulator, so that every run reproduces from its seed.
 * @module
 */

/** A function returning uniformly distributed floats in [0, 1). */
export type Rng = () => number;

/**
 * A deterministic generator from a 32-bit seed.
 * @example
 * ```ts
 * const r = seededRng(42);
 * const a = r(), b = r(); // the same two numbers on every run
 * ```
 */
export function seededRng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A generator seeded from the platform's cryptographic source: the product default wherever an
 * {@link Rng} is injectable (tests and the simulator pass {@link seededRng} instead).
 */
export function cryptoSeededRng(): Rng {
  return seededRng(crypto.getRandomValues(new Uint32Array(1))[0]!);
}

/** An integer in [0, n) drawn from `rng`. */
export function randomInt(rng: Rng, n: number): number {
  return Math.floor(rng() * n);
}
