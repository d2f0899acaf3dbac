/**
 * The kubernetes driver's reading side against `KubeApiDouble`: a test double of the Kubernetes API
 * server (a local HTTP server with an in-memory object store answering get, list by label, pod logs,
 * nodes), for the pod states a fake-node cluster cannot produce (image pull errors, crash loops, log
 * streams). Deploy, server-side apply, watches, teardown, conflicts and RBAC are tested against a
 * real API server in tests/k8s/.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { stringify } from "yaml";
import { parseSdl } from "../../auction/sdl/mod.ts";
import type { ManifestGroup } from "../../auction/sdl/types.ts";
import { KubernetesDriver, leaseNamespace, leaseObjects, parseQuantity } from "../../provider/mod.ts";
import { leaseIdOf } from "../../lib/ids.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

interface Recorded {
  method: string;
  path: string;
  query: Record<string, string>;
  body?: Json;
  auth: string | null;
}

/** Test double of a Kubernetes API server (only what the driver uses). */
class KubeApiDouble {
  readonly requests: Recorded[] = [];
  readonly objects = new Map<string, Json>();
  logs = new Map<string, string>(); // "ns/pod/container" -> text
  /** follow=true log streams stay open until the client goes away, when set */
  holdFollow = false;
  /** set when the client went away from a held follow stream */
  held = { closed: false };
  /** make a request fail with this HTTP status */
  fail: (r: Recorded) => number | undefined = () => undefined;
  private closed = false;
  private rv = 1;
  private server: Deno.HttpServer<Deno.NetAddr>;
  readonly url: string;

  constructor() {
    this.server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => this.handle(req));
    this.url = `http://127.0.0.1:${this.server.addr.port}`;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.server.shutdown();
  }

  /** requests as "METHOD path" (after `from`) */
  calls(from = 0): string[] {
    return this.requests.slice(from).map((r) => `${r.method} ${r.path}`);
  }

  key(resource: string, ns: string, name: string): string {
    return `${resource}/${ns}/${name}`;
  }

  put(resource: string, ns: string, obj: Json): void {
    this.objects.set(this.key(resource, ns, obj.metadata.name), obj);
  }

  get(resource: string, ns: string, name: string): Json {
    return this.objects.get(this.key(resource, ns, name));
  }

  private json(code: number, body: unknown): Response {
    return new Response(JSON.stringify(body), {
      status: code,
      headers: { "content-type": "application/json" },
    });
  }

  private status(code: number, reason: string, message: string): Response {
    return this.json(code, { kind: "Status", apiVersion: "v1", status: "Failure", code, reason, message });
  }

  private async handle(req: Request): Promise<Response> {
    const u = new URL(req.url);
    const text = req.method === "GET" || req.method === "DELETE" ? "" : await req.text();
    const body = text ? JSON.parse(text) : undefined;
    this.requests.push({
      method: req.method,
      path: u.pathname,
      query: Object.fromEntries(u.searchParams),
      body,
      auth: req.headers.get("authorization"),
    });
    const failWith = this.fail(this.requests.at(-1)!);
    if (failWith) return this.status(failWith, "InternalError", "injected failure");
    const m = /^\/(?:api\/v1|apis\/apps\/v1)\/(.*)$/.exec(u.pathname);
    if (!m) return this.status(404, "NotFound", `no route ${u.pathname}`);
    const segs = m[1]!.split("/");
    let ns = "", resource: string, name: string | undefined, sub: string | undefined;
    if (segs[0] === "namespaces" && segs.length >= 3) {
      ns = segs[1]!;
      resource = segs[2]!;
      name = segs[3];
      sub = segs[4];
    } else {
      resource = segs[0]!;
      name = segs[1];
    }
    if (resource === "namespaces" && name) ns = "";
    if (resource === "pods" && name && sub === "log") return this.podLog(ns, name, u.searchParams);

    if (!name && req.method === "GET") {
      const sel = (u.searchParams.get("labelSelector") ?? "").split(",").filter(Boolean).map((s) =>
        s.split("=")
      );
      const items = [...this.objects.entries()]
        .filter(([k]) => k.startsWith(`${resource}/`) && (ns === "" || k.split("/")[1] === ns))
        .map(([, v]) => v)
        .filter((o) => sel.every(([k, v]) => o.metadata?.labels?.[k!] === v));
      return this.json(200, {
        kind: "List",
        apiVersion: "v1",
        metadata: { resourceVersion: String(this.rv) },
        items,
      });
    }
    if (!name && req.method === "POST") {
      const n = body.metadata.name;
      const k = this.key(resource, resource === "namespaces" ? "" : ns, n);
      if (this.objects.has(k)) return this.status(409, "AlreadyExists", `${resource} "${n}" already exists`);
      if (resource !== "namespaces" && !this.objects.has(this.key("namespaces", "", ns))) {
        return this.status(404, "NotFound", `namespaces "${ns}" not found`);
      }
      const obj = structuredClone(body);
      obj.metadata.resourceVersion = String(++this.rv);
      obj.metadata.uid = crypto.randomUUID();
      if (resource === "namespaces") obj.status = { phase: "Active" };
      if (resource === "services") obj.spec.clusterIP = `10.96.0.${this.rv % 250}`;
      if (resource === "deployments") obj.status = { replicas: 0, readyReplicas: 0 };
      this.objects.set(k, obj);
      return this.json(201, obj);
    }
    const k = this.key(resource, ns, name!);
    const cur = this.objects.get(k);
    if (!cur) return this.status(404, "NotFound", `${resource} "${name}" not found`);
    if (req.method === "GET") return this.json(200, cur);
    if (req.method === "PUT") {
      if (resource === "services" && body.spec?.clusterIP !== cur.spec.clusterIP) {
        return this.status(422, "Invalid", "spec.clusterIP: Invalid value: field is immutable");
      }
      if (body.metadata.resourceVersion && body.metadata.resourceVersion !== cur.metadata.resourceVersion) {
        return this.status(409, "Conflict", "the object has been modified");
      }
      const obj = structuredClone(body);
      obj.metadata.resourceVersion = String(++this.rv);
      obj.metadata.uid = cur.metadata.uid;
      obj.status = cur.status;
      this.objects.set(k, obj);
      return this.json(200, obj);
    }
    if (req.method === "DELETE") {
      this.objects.delete(k);
      if (resource === "namespaces") {
        for (const key of [...this.objects.keys()]) if (key.split("/")[1] === name) this.objects.delete(key);
      }
      return this.json(200, { kind: "Status", apiVersion: "v1", status: "Success", code: 200 });
    }
    return this.status(405, "MethodNotAllowed", req.method);
  }

  private podLog(ns: string, pod: string, q: URLSearchParams): Response {
    const container = q.get("container") ?? "";
    const text = this.logs.get(`${ns}/${pod}/${container}`);
    if (text === undefined) return this.status(404, "NotFound", `pods "${pod}" not found`);
    let lines = text.split("\n");
    if (lines[lines.length - 1] === "") lines.pop();
    const tail = q.get("tailLines");
    if (tail) lines = lines.slice(-Number(tail));
    const out = lines.map((l) => l + "\n").join("");
    if (q.get("follow") !== "true") return new Response(out, { headers: { "content-type": "text/plain" } });
    const hold = this.holdFollow;
    const held = this.held;
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode(out));
        if (!hold) {
          setTimeout(() => {
            c.enqueue(new TextEncoder().encode("followed line\n"));
            c.close();
          }, 30);
        } // held: open until the client cancels
      },
      cancel() {
        held.closed = true;
      },
    });
    return new Response(stream, { headers: { "content-type": "text/plain" } });
  }
}

const HELLO = await Deno.readTextFile(new URL("../../examples/hello.yaml", import.meta.url));
const LEASE = { owner: "cirrus1tenant", dseq: 42, gseq: 1, oseq: 1, provider: "cirrus1provider" };
const ID = leaseIdOf(LEASE);
const NS = leaseNamespace(LEASE);

function group(sdl: string): ManifestGroup {
  const r = parseSdl(sdl);
  if (!r.ok) throw new Error(r.errors.join("; "));
  return r.manifest[0]!;
}

function kubeconfig(api: KubeApiDouble) {
  return {
    clusters: [{ name: "double", server: api.url, skipTLSVerify: true }],
    users: [{ name: "provider", token: "test-token" }],
    contexts: [{ name: "double", cluster: "double", user: "provider" }],
    currentContext: "double",
  };
}

/** The lease's objects in the double, as the driver would have applied them. */
function seed(api: KubeApiDouble, lease: typeof LEASE, g: ManifestGroup): void {
  let port = 30000;
  const { objects } = leaseObjects(lease, g, { hostPorts: () => port++, containerHostPorts: false });
  const plural: Record<string, string> = {
    Namespace: "namespaces",
    Deployment: "deployments",
    Service: "services",
    Ingress: "ingresses",
    PersistentVolumeClaim: "persistentvolumeclaims",
  };
  for (const o of objects) {
    const obj: Json = structuredClone(o);
    if (o.kind === "Namespace") obj.status = { phase: "Active" };
    api.put(plural[o.kind]!, o.metadata.namespace ?? "", obj);
  }
}

async function withApi(f: (api: KubeApiDouble, d: KubernetesDriver) => Promise<void>): Promise<void> {
  const api = new KubeApiDouble();
  try {
    const d = new KubernetesDriver({
      kubeconfigOptions: kubeconfig(api),
      hostPortRange: { min: 30000, max: 30999 },
    });
    await f(api, d);
  } finally {
    await api.close();
  }
}

test("status: running, failed: image not found, crashloop: exited with code 1 (pod status)", () =>
  withApi(async (api, d) => {
    const sdl = HELLO.replace(
      "services:\n  web:",
      "services:\n  bad:\n    image: localhost/nope:latest\n  crash:\n    image: localhost/busybox:latest\n    command: [sh, -c, 'exit 1']\n  web:",
    ).replace(
      "deployment:\n",
      "deployment:\n  bad:\n    dcloud: {profile: web, count: 1}\n  crash:\n    dcloud: {profile: web, count: 1}\n",
    );
    seed(api, LEASE, group(sdl));
    api.get("deployments", NS, "web").status = { replicas: 1, readyReplicas: 1 };
    const pod = (svc: string, cs: Json) => ({
      metadata: {
        name: `${svc}-abc`,
        namespace: NS,
        labels: { "cirrus.network/managed": "true", "cirrus.network/service": svc },
      },
      spec: { containers: [{ name: svc, image: "x" }] },
      status: {
        phase: "Running",
        containerStatuses: [{ name: svc, image: "x", ready: false, restartCount: 0, ...cs }],
      },
    });
    api.put("pods", NS, pod("web", { ready: true, state: { running: {} } }));
    api.put(
      "pods",
      NS,
      pod("bad", {
        image: "localhost/nope:latest",
        state: { waiting: { reason: "ErrImagePull", message: "pull failed" } },
      }),
    );
    api.put(
      "pods",
      NS,
      pod("crash", {
        restartCount: 4,
        state: { waiting: { reason: "CrashLoopBackOff" } },
        lastState: { terminated: { exitCode: 1, reason: "Error" } },
      }),
    );
    const st = await d.status(ID);
    assert.is(st.namespace, NS);
    const by = new Map(st.services.map((s) => [s.name, s]));
    const web = by.get("web")!;
    assert.equal([web.ready, web.total, web.state, web.image], [1, 1, "running", "localhost/busybox:latest"]);
    const np = api.get("services", NS, "web-8080").spec.ports[0].nodePort;
    assert.equal(web.uris, [`http://127.0.0.1:${np}`]);
    assert.is(by.get("bad")!.state, "failed: image not found");
    assert.match(by.get("bad")!.message!, /localhost\/nope:latest: ErrImagePull/);
    assert.is(by.get("crash")!.state, "crashloop: exited with code 1");
    assert.match(by.get("crash")!.message!, /restarts: 4/);
    assert.equal(by.get("crash")!.uris, []);
  }));

test("logs: per pod and container with tailLines; follow streams until the end or abort", () =>
  withApi(async (api, d) => {
    seed(api, LEASE, group(HELLO));
    api.put("pods", NS, {
      metadata: {
        name: "web-1",
        namespace: NS,
        labels: { "cirrus.network/managed": "true", "cirrus.network/service": "web" },
      },
      spec: { containers: [{ name: "web", image: "x" }] },
    });
    api.logs.set(`${NS}/web-1/web`, "one\ntwo\nthree\n");
    const from = api.requests.length;
    const lines: string[] = [];
    for await (const l of d.logs(ID, { service: "web", tail: 2 })) lines.push(l);
    assert.equal(lines, ["two", "three"]);
    const req = api.requests.slice(from);
    assert.is(req[0]!.query.labelSelector, "cirrus.network/managed=true,cirrus.network/service=web");
    assert.is(req[1]!.path, `/api/v1/namespaces/${NS}/pods/web-1/log`);
    assert.equal([req[1]!.query.container, req[1]!.query.tailLines], ["web", "2"]);

    const followed: string[] = [];
    for await (const l of d.logs(ID, { follow: true })) followed.push(l);
    assert.equal(followed, ["one", "two", "three", "followed line"]);
    assert.is(api.requests.at(-1)!.query.follow, "true");

    api.holdFollow = true;
    const ac = new AbortController();
    const got: string[] = [];
    for await (const l of d.logs(ID, { follow: true, tail: 1, signal: ac.signal })) {
      got.push(l);
      ac.abort();
    }
    assert.equal(got, ["three"]);
    for (let i = 0; i < 50 && !api.held.closed; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(api.held.closed, "the follow request was cancelled on abort");
  }));

test("probeCapacity: node allocatable minus pod requests", () =>
  withApi(async (api, d) => {
    api.put("nodes", "", {
      metadata: {
        name: "n1",
        labels: { "cirrus.network/gpu.vendor": "nvidia", "cirrus.network/gpu.model": "a100" },
      },
      status: {
        allocatable: { cpu: "4", memory: "8Gi", "ephemeral-storage": "100Gi", "nvidia.com/gpu": "2" },
        conditions: [{ type: "Ready", status: "True" }],
      },
    });
    api.put("nodes", "", {
      metadata: { name: "n2" },
      spec: { unschedulable: true },
      status: { allocatable: { cpu: "8" } },
    });
    api.put("pods", "kube-system", {
      metadata: { name: "p", namespace: "kube-system" },
      spec: {
        nodeName: "n1",
        containers: [{
          name: "c",
          resources: { requests: { cpu: "250m", memory: "1Gi", "nvidia.com/gpu": "1" } },
        }],
      },
    });
    const cap = await d.probeCapacity();
    assert.equal(cap.total, { cpu: 4000, memory: 8 * 2 ** 30, storage: 100 * 2 ** 30, gpu: 2 });
    assert.equal(cap.used, { cpu: 250, memory: 2 ** 30, storage: 0, gpu: 1 });
    assert.equal(cap.free, { cpu: 3750, memory: 7 * 2 ** 30, storage: 100 * 2 ** 30, gpu: 1 });
    assert.equal(cap.gpus, [{ vendor: "nvidia", model: "a100", count: 1 }]); // by model, from node labels
    assert.is(api.requests.at(-1)!.query.fieldSelector, "status.phase!=Succeeded,status.phase!=Failed");
    assert.is(parseQuantity("1.5Gi"), 1.5 * 2 ** 30);
    assert.is(parseQuantity("100m"), 0.1);
    assert.is(parseQuantity("2k"), 2000);
  }));

test("kubeconfig file (KubeConfig.loadFromFile) reaches the same server", async () => {
  const api = new KubeApiDouble();
  const dir = await Deno.makeTempDir({ prefix: "cirrus-kubeconfig-" });
  try {
    const file = `${dir}/config`;
    await Deno.writeTextFile(
      file,
      stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "double", cluster: { server: api.url, "insecure-skip-tls-verify": true } }],
        users: [{ name: "provider", user: { token: "file-token" } }],
        contexts: [{ name: "double", context: { cluster: "double", user: "provider" } }],
        "current-context": "double",
      }),
    );
    const d = new KubernetesDriver({ kubeconfig: file });
    assert.equal(await d.list(), []);
    assert.is(api.requests[0]!.auth, "Bearer file-token");
  } finally {
    await api.close();
    await Deno.remove(dir, { recursive: true });
  }
});

test.run();
