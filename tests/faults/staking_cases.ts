/**
 * The staking fault cases (issue 9): written once the staking module is on main.
 * @module
 */
import type { FaultCase } from "./steps.ts";

/** The staking cases, in running order. */
export const STAKING_CASES: FaultCase[] = [];
