/** Errors of the Kubernetes API server (client-node), as one line naming the object. */

/** HTTP status of a client-node error (ApiException.code), or undefined. */
export function httpCode(e: unknown): number | undefined {
  const c = (e as { code?: unknown })?.code;
  return typeof c === "number" ? c : undefined;
}

/** The API server's message of a client-node error (its Status body), else the error's message. */
export function apiMessage(e: unknown): string {
  const body = (e as { body?: unknown })?.body;
  let parsed: unknown = body;
  if (typeof body === "string") {
    try {
      parsed = JSON.parse(body);
    } catch { /* not JSON */ }
  }
  const m = (parsed as { message?: unknown })?.message;
  if (typeof m === "string" && m !== "") return m;
  const msg = (e as Error)?.message ?? String(e);
  return msg.split("\n")[0]!;
}

/** An error the API server answered, as one line naming the object. */
export class KubernetesApiError extends Error {
  constructor(readonly code: number | undefined, what: string, reason: string) {
    super(`kubernetes refused ${what}${code ? ` (HTTP ${code})` : ""}: ${reason}`);
    this.name = "KubernetesApiError";
  }
}

/** The lease's namespace is being deleted (objects cannot be created in it until it is gone). */
export class NamespaceTerminating extends Error {
  override name = "NamespaceTerminating";
}
