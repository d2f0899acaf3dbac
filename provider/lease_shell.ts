/**
 * The provider's answer to a tenant's `shell` request (`/cirrus/lease/1`, op `shell`, already
 * authorized as the lease owner's): the command runs in the lease's container through the cluster
 * driver's `exec`, within {@link SHELL_TIMEOUT_MS}, keeping at most {@link SHELL_OUTPUT_MAX_BYTES} of
 * each output stream; the exit code goes back. A driver without `exec` (sim) says so.
 * @module
 */
import type { LeaseInfo } from "../auction/market/types.ts";
import { type ClusterDriver, NotFoundError } from "./cluster/driver.ts";
import {
  errorResponse,
  type LeaseResponse,
  SHELL_OUTPUT_MAX_BYTES,
  SHELL_TIMEOUT_MS,
} from "./protocol/mod.ts";

/** What a shell request asks (the authorized fields of the lease request). */
export interface ShellAsk {
  service?: string;
  replica?: number;
  command: string[];
}

/**
 * Runs a tenant's command in its lease's container; never throws (a failure is an error response).
 * @param driver the cluster driver of the provider
 * @param lease the lease (its state is checked: only an active lease has a workload to enter)
 * @param ask what to run and where
 * @returns the response to send: `{ok: true, exitCode, stdout, stderr, truncated}` or an error
 */
export async function answerShell(
  driver: ClusterDriver,
  lease: LeaseInfo,
  ask: ShellAsk,
): Promise<LeaseResponse> {
  if (lease.state !== "active") {
    return errorResponse(
      "conflict",
      `lease ${lease.id} is ${lease.state}: there is no workload to run a command in`,
    );
  }
  if (!driver.exec) {
    return errorResponse("unsupported", `lease shell is not supported by the ${driver.kind} driver`);
  }
  try {
    const r = await driver.exec(lease.id, {
      ...(ask.service !== undefined ? { service: ask.service } : {}),
      ...(ask.replica !== undefined ? { replica: ask.replica } : {}),
      command: ask.command,
      timeoutMs: SHELL_TIMEOUT_MS,
      outputMaxBytes: SHELL_OUTPUT_MAX_BYTES,
    });
    return { ok: true, exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr, truncated: r.truncated };
  } catch (e) {
    if (e instanceof NotFoundError) return errorResponse("not_found", e.message);
    return errorResponse("internal", `lease shell failed: ${(e as Error).message}`);
  }
}
