/**
 * The ids of the tenant -> provider stream protocols, their signature domains and the size limits of
 * what they carry.
 * @module
 */

/** The manifest protocol id. */
export const MANIFEST_PROTOCOL_ID = "/cirrus/manifest/1";
/** The manifest request's signature domain. */
export const MANIFEST_SIGN_DOMAIN = "cirrus/manifest/1";
/** The lease (tenant access) protocol id. */
export const LEASE_PROTOCOL_ID = "/cirrus/lease/1";
/** The lease request's signature domain. */
export const LEASE_SIGN_DOMAIN = "cirrus/lease/1";

/** Largest manifest request accepted, bytes. */
export const MANIFEST_REQUEST_MAX_BYTES = 1024 * 1024;
/** Largest lease request accepted, bytes. */
export const LEASE_REQUEST_MAX_BYTES = 4096;
/** Largest response accepted, bytes. */
export const RESPONSE_MAX_BYTES = 8 * 1024 * 1024;
/** Largest `tail` of a logs request. */
export const LOG_TAIL_MAX = 100_000;
/** Most containers a logs `cursor` names. */
export const LOG_CURSOR_ENTRIES_MAX = 64;
/** Nonce length, bytes (hex on the wire). */
export const NONCE_BYTES = 16;
/** Most arguments of a `shell` command (the program included). */
export const SHELL_ARGS_MAX = 64;
/** Longest argument of a `shell` command, characters (the whole request is also under the lease request max). */
export const SHELL_ARG_MAX = 2048;
/** Highest replica index a `shell` request may name. */
export const SHELL_REPLICA_MAX = 1000;
/** Most output kept of a `shell` command, per stream, bytes. */
export const SHELL_OUTPUT_MAX_BYTES = 1024 * 1024;
/** Most stdin bytes one `shell_io` request carries (the whole request stays under the lease request max). */
export const SHELL_STDIN_CHUNK_MAX_BYTES = 2048;
/** Highest terminal width or height a `shell` request may give. */
export const SHELL_TERMINAL_MAX = 1000;
/** Longest a `shell` command may run, ms (the lease protocol answers within 30 s). */
export const SHELL_TIMEOUT_MS = 25_000;
