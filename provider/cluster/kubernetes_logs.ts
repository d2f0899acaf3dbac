/**
 * A lease's logs on Kubernetes: every container of its managed pods (of one service with
 * `opts.service`), read once, or followed (one stream per container, lines merged as they come).
 * Each line is prefixed with its pod's name when there are several containers.
 */
import * as k8s from "@kubernetes/client-node";
import { PassThrough } from "node:stream";
import { type LogOptions, NotFoundError } from "./driver.ts";
import { dnsLabel, LABEL_MANAGED, LABEL_SERVICE, leaseNamespace } from "./objects.ts";
import { apiMessage, httpCode, KubernetesApiError } from "./kubernetes_api.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

const MANAGED = `${LABEL_MANAGED}=true`;

/** The lines of `leaseId`'s logs (`KubernetesDriver.logs`). */
export async function* leaseLogs(
  core: k8s.CoreV1Api,
  kc: k8s.KubeConfig,
  leaseId: string,
  opts: LogOptions = {},
): AsyncIterable<string> {
  const namespace = leaseNamespace(leaseId);
  const selector = opts.service ? `${MANAGED},${LABEL_SERVICE}=${dnsLabel(opts.service)}` : MANAGED;
  let pods: Json;
  try {
    pods = await core.listNamespacedPod({ namespace, labelSelector: selector });
  } catch (e) {
    if (httpCode(e) === 404) throw new NotFoundError(`lease ${leaseId}`);
    throw e;
  }
  const targets: { pod: string; container: string }[] = [];
  for (const p of pods.items ?? []) {
    for (const c of p.spec?.containers ?? []) targets.push({ pod: p.metadata.name, container: c.name });
  }
  targets.sort((a, b) => a.pod.localeCompare(b.pod));
  const prefix = (t: { pod: string }) => (targets.length > 1 ? `${t.pod} ` : "");
  if (!opts.follow) {
    for (const t of targets) {
      if (opts.signal?.aborted) return;
      let text: string;
      try {
        text = await core.readNamespacedPodLog({
          name: t.pod,
          namespace,
          container: t.container,
          tailLines: opts.tail,
        });
      } catch (e) {
        // e.g. a node without a kubelet to serve logs (KWOK): one line saying so
        throw new KubernetesApiError(httpCode(e), `logs of pod ${t.pod}`, apiMessage(e));
      }
      const lines = String(text ?? "").split("\n");
      if (lines[lines.length - 1] === "") lines.pop();
      for (const l of lines) yield prefix(t) + l;
    }
    return;
  }
  // follow: one stream per container, lines merged as they come
  const queue: (string | null)[] = [];
  let wake: (() => void) | undefined;
  const push = (v: string | null) => {
    queue.push(v);
    wake?.();
  };
  const log = new k8s.Log(kc);
  const controllers: AbortController[] = [];
  let open = 0;
  for (const t of targets) {
    const stream = new PassThrough();
    let buf = "";
    stream.on("data", (chunk: Uint8Array | string) => {
      buf += typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk);
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        push(prefix(t) + buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
    stream.on("end", () => {
      if (buf) push(prefix(t) + buf);
      push(null);
    });
    open++;
    try {
      controllers.push(
        await log.log(namespace, t.pod, t.container, stream, { follow: true, tailLines: opts.tail }),
      );
    } catch (e) {
      open--;
      stream.destroy();
      push(`${prefix(t)}[log error: ${(e as Error).message}]`);
    }
  }
  const abort = () => {
    for (const c of controllers) c.abort();
    wake?.();
  };
  opts.signal?.addEventListener("abort", abort, { once: true });
  try {
    while (open > 0 && !opts.signal?.aborted) {
      if (queue.length === 0) {
        await new Promise<void>((res) => (wake = res));
        wake = undefined;
        continue;
      }
      const v = queue.shift()!;
      if (v === null) open--;
      else yield v;
    }
    while (queue.length > 0 && !opts.signal?.aborted) {
      const v = queue.shift()!;
      if (v !== null) yield v;
    }
  } finally {
    opts.signal?.removeEventListener("abort", abort);
    for (const c of controllers) c.abort();
  }
}
