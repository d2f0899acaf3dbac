/**
 * The kubernetes driver against `KubeApiDouble`: a test double of the Kubernetes API server (a local
 * HTTP server with an in-memory object store that answers the calls the driver makes: create,
 * replace, get, list by label, delete, pod logs, nodes). Asserts the requests it receives.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { stringify } from "yaml";
import { parseSdl } from "../../auction/sdl/mod.ts";
import type { ManifestGroup } from "../../auction/sdl/types.ts";
import {
  KubernetesDriver,
  leaseNamespace,
  leaseObjects,
  parseQuantity,
  reconcile,
} from "../../provider/mod.ts";
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

test("deploy: creates Namespace, Deployment, Service with the generated objects (bearer token sent)", () =>
  withApi(async (api, d) => {
    const g = group(HELLO);
    await d.deploy(LEASE, g);
    const writes = api.requests.filter((r) => r.method !== "GET");
    assert.equal(writes.map((r) => `${r.method} ${r.path}`), [
      "POST /api/v1/namespaces",
      `POST /apis/apps/v1/namespaces/${NS}/deployments`,
      `POST /api/v1/namespaces/${NS}/services`,
    ]);
    for (const r of api.requests) assert.is(r.auth, "Bearer test-token");
    // allocator state comes from the cluster first: managed namespaces and services, by label
    assert.equal(api.calls().slice(0, 2), ["GET /api/v1/namespaces", "GET /api/v1/services"]);
    assert.is(api.requests[0]!.query.labelSelector, "cirrus.network/managed=true");
    const port = writes[2]!.body.spec.ports[0].nodePort as number;
    assert.ok(port >= 30000 && port <= 30999);
    const want = leaseObjects(LEASE, g, {
      hostPorts: new Map([["web:8080/tcp", port]]),
      containerHostPorts: false,
    });
    assert.equal(writes.map((r) => r.body), want.objects);
    assert.is(writes[1]!.body.spec.template.spec.containers[0].ports[0].hostPort, undefined);
    assert.equal(await d.list(), [ID]);
  }));

test("redeploy: 409 -> replace; Service keeps its clusterIP; dropped services are deleted; ports kept", () =>
  withApi(async (api, d) => {
    const two = HELLO.replace(
      "services:\n  web:",
      "services:\n  side:\n    image: localhost/busybox:latest\n    expose:\n      - port: 9000\n        to: [{service: web}]\n  web:",
    ).replace("deployment:\n", "deployment:\n  side:\n    dcloud: {profile: web, count: 1}\n");
    await d.deploy(LEASE, group(two));
    const ip = api.get("services", NS, "web-8080").spec.clusterIP;
    const np = api.get("services", NS, "web-8080").spec.ports[0].nodePort;
    assert.ok(api.get("deployments", NS, "side"));
    const from = api.requests.length;
    const v2 = group(HELLO.replace("hello from cirrus", "hello v2").replace("count: 1", "count: 2"));
    await d.deploy(LEASE, v2);
    const writes = api.calls(from).filter((c) => !c.startsWith("GET"));
    assert.equal(writes, [
      "POST /api/v1/namespaces",
      `PUT /api/v1/namespaces/${NS}`,
      `POST /apis/apps/v1/namespaces/${NS}/deployments`,
      `PUT /apis/apps/v1/namespaces/${NS}/deployments/web`,
      `POST /api/v1/namespaces/${NS}/services`,
      `PUT /api/v1/namespaces/${NS}/services/web-8080`,
      `DELETE /apis/apps/v1/namespaces/${NS}/deployments/side`,
      `DELETE /api/v1/namespaces/${NS}/services/side-9000`,
    ]);
    const dep = api.get("deployments", NS, "web");
    assert.is(dep.spec.replicas, 2);
    assert.match(dep.spec.template.spec.containers[0].args[0], /hello v2/);
    const svc = api.get("services", NS, "web-8080");
    assert.is(svc.spec.clusterIP, ip);
    assert.is(svc.spec.ports[0].nodePort, np);
    assert.is(api.get("deployments", NS, "side"), undefined);
    // a restarted provider (new driver) rebuilds its ports from the cluster: same port again
    const d2 = new KubernetesDriver({
      kubeconfigOptions: kubeconfig(api),
      hostPortRange: { min: 30000, max: 30999 },
    });
    await d2.deploy(LEASE, v2);
    assert.is(api.get("services", NS, "web-8080").spec.ports[0].nodePort, np);
  }));

test("host ports differ across leases", () =>
  withApi(async (api, d) => {
    const g = group(HELLO);
    const ports = new Set<number>();
    for (let dseq = 1; dseq <= 20; dseq++) {
      const l = { ...LEASE, dseq };
      await d.deploy(l, g);
      ports.add(api.get("services", leaseNamespace(l), "web-8080").spec.ports[0].nodePort);
    }
    assert.is(ports.size, 20);
  }));

test("status: running, failed: image not found, crashloop: exited with code 1 (pod status)", () =>
  withApi(async (api, d) => {
    const sdl = HELLO.replace(
      "services:\n  web:",
      "services:\n  bad:\n    image: localhost/nope:latest\n  crash:\n    image: localhost/busybox:latest\n    command: [sh, -c, 'exit 1']\n  web:",
    ).replace(
      "deployment:\n",
      "deployment:\n  bad:\n    dcloud: {profile: web, count: 1}\n  crash:\n    dcloud: {profile: web, count: 1}\n",
    );
    await d.deploy(LEASE, group(sdl));
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
    await d.deploy(LEASE, group(HELLO));
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

test("teardown deletes the namespace; list, reconcile and status after it", () =>
  withApi(async (api, d) => {
    const g = group(HELLO);
    const other = { ...LEASE, dseq: 7 };
    await d.deploy(LEASE, g);
    await d.deploy(other, g);
    assert.equal(await d.list(), [leaseIdOf(LEASE), leaseIdOf(other)].sort());
    const from = api.requests.length;
    const res = await reconcile(d, [{ lease: LEASE, group: g }]);
    assert.equal(res.removed, [leaseIdOf(other)]);
    assert.ok(api.calls(from).includes(`DELETE /api/v1/namespaces/${leaseNamespace(other)}`));
    await d.teardown(ID);
    await d.teardown(ID); // nothing there: no error
    assert.equal(await d.list(), []);
    try {
      await d.status(ID);
      assert.unreachable();
    } catch (e) {
      assert.is((e as Error).name, "NotFoundError");
    }
    // and reconcile redeploys an active lease whose namespace is gone
    const r2 = await reconcile(d, [{ lease: LEASE, group: g }]);
    assert.equal(r2.redeployed, [ID]);
    assert.ok(api.get("deployments", NS, "web"));
  }));

test("probeCapacity: node allocatable minus pod requests", () =>
  withApi(async (api, d) => {
    api.put("nodes", "", {
      metadata: { name: "n1" },
      status: {
        allocatable: { cpu: "4", memory: "8Gi", "ephemeral-storage": "100Gi", "nvidia.com/gpu": "2" },
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

test("an API error is an error, not a crash; the driver keeps serving other leases", () =>
  withApi(async (api, d) => {
    const g = group(HELLO);
    const bad = { ...LEASE, owner: "cirrus1bad" };
    api.fail = (r) =>
      r.method === "POST" && r.body?.metadata?.namespace === leaseNamespace(bad) ? 500 : undefined;
    try {
      await d.deploy(bad, g);
      assert.unreachable("deploy should fail");
    } catch (e) {
      assert.is((e as { code?: number }).code, 500);
    }
    await d.deploy(LEASE, g);
    assert.ok(api.get("deployments", NS, "web"));
    await api.close();
    let err: unknown;
    try {
      await d.status(ID);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof Error, "an unreachable API server is an Error");
  }));

test.run();
