/**
 * Deliberately broken rules ("mutants") that prove the simulator's Twins checker catches real bugs
 * (issue 10, item 5). Each names one rule of the core that it breaks; the correct behaviour is the
 * default everywhere, and only the simulator (`node/sim/twins*.ts`) ever passes one: no CLI flag of
 * `node start`, no config or genesis field reaches these parameters, so a real node cannot run one.
 * @module
 */

/**
 * The mutants:
 * - `skip-lock-check`: L23 prevotes a fresh proposal's value despite a lock on another value.
 * - `count-duplicate-votes`: the vote set counts a validator's repeated vote again (each copy adds
 *   its power).
 * - `accept-stale-pol`: L28-29 accept any proof-of-lock round (vr >= round_p, and vr older than the
 *   lock, are not refused).
 * - `forget-lock-on-restart`: a restarted node does not rebuild its lock (the simulator's restart
 *   replays only its own messages, not its peers' prevotes).
 * - `precommit-without-quorum`: L36 locks and precommits a value on any prevote for it, not 2f+1.
 */
export type Mutant =
  | "skip-lock-check"
  | "count-duplicate-votes"
  | "accept-stale-pol"
  | "forget-lock-on-restart"
  | "precommit-without-quorum";

/** Every mutant, in a stable order. */
export const MUTANTS: readonly Mutant[] = Object.freeze([
  "skip-lock-check",
  "count-duplicate-votes",
  "accept-stale-pol",
  "forget-lock-on-restart",
  "precommit-without-quorum",
]);

/**
 * @param name a candidate mutant name.
 * @returns whether it names a {@link Mutant}.
 * @example
 * ```ts
 * isMutant("skip-lock-check"); // true
 * ```
 */
export function isMutant(name: string): name is Mutant {
  return (MUTANTS as readonly string[]).includes(name);
}
