/**
 * The structured logger every component takes: a level, a message, and fields.
 * @module
 */

/** Log levels, least severe first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** A structured logger. */
export type Logger = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

/** A logger that drops everything (the default where none is given). */
export const silentLogger: Logger = () => {};

/** The message of a thrown value (an `Error`'s message, anything else as text), for a log field. */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
