/**
 * The kubernetes driver end to end against a real control plane (kube-apiserver, controller-manager,
 * scheduler, etcd, KWOK nodes; see cluster.ts), running as the least-privilege ServiceAccount of
 * examples/k8s-provider-rbac.yaml: deploy (server-side apply), readiness by watch, GPU model on the GPU
 * node, persistent volume as a bound claim, redeploy and prune, NodePorts clear of the cluster's,
 * terminating namespaces, refusals as one line, teardown that waits, reconcile after a restart,
 * inventory from the cluster, and what the provider must not do refused by the API server.
 * Skipped with the reason when there is no control plane (no Go, binaries not built).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import * as k8s from "@kubernetes/client-node";
import { parseSdl } from "../../auction/sdl/mod.ts";
import type { ManifestGroup } from "../../auction/sdl/types.ts";
import { HostPortAllocator, reconcile } from "../../provider/cluster/driver.ts";
import { KubernetesDriver } from "../../provider/cluster/kubernetes.ts";
import { type LeaseId, leaseIdOf } from "../../lib/ids.ts";
import { leaseNamespace } from "../../provider/cluster/objects.ts";
import { renderLeaseId } from "../../provider/cluster/render.ts";
import { type Cluster, startCluster } from "./cluster.ts";

const RBAC = new URL("../../examples/k8s-provider-rbac.yaml", import.meta.url).pathname;

const SDL = `version: "2.0"
services:
  web:
    image: localhost/busybox:latest
    env: [MODE=test]
    expose:
      - port: 8080
        as: 80
        accept: [web.example.com]
        to: [{global: true}]
  train:
    image: localhost/trainer:1
    expose:
      - port: 9000
        to: [{service: web}]
  db:
    image: localhost/db:1
    params:
      storage:
        data: {mount: /var/lib/db}
profiles:
  compute:
    small:
      resources:
        cpu: {units: 0.1}
        memory: {size: 64Mi}
        storage: {size: 128Mi}
    gpu:
      resources:
        cpu: {units: 1}
        memory: {size: 1Gi}
        storage: {size: 1Gi}
        gpu:
          units: 2
          attributes:
            vendor:
              nvidia:
                - model: a100
    db:
      resources:
        cpu: {units: 0.2}
        memory: {size: 128Mi}
        storage:
          - size: 128Mi
          - name: data
            size: 1Gi
            attributes: {persistent: true, class: beta2}
  placement:
    dc:
      pricing:
        small: {denom: ucrs, amount: 10}
        gpu: {denom: ucrs, amount: 100}
        db: {denom: ucrs, amount: 10}
deployment:
  web: {dc: {profile: small, count: 2}}
  train: {dc: {profile: gpu, count: 1}}
  db: {dc: {profile: db, count: 1}}
`;

function group(sdl: string): ManifestGroup {
  const r = parseSdl(sdl);
  if (!r.ok) throw new Error(r.errors.join("; "));
  return r.manifest[0]!;
}

const run = Date.now().toString(36);
const lease = (dseq: number): LeaseId => ({
  owner: `cirrus1t${run}`,
  dseq,
  gseq: 1,
  oseq: 1,
  provider: "cirrus1provider",
});

/** Every test is bounded: a hang fails with its name instead of stalling the file. */
function bounded(name: string, ms: number, f: () => Promise<void>): () => Promise<void> {
  return async () => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`"${name}" did not finish in ${ms / 1000} s`)), ms);
    });
    try {
      await Promise.race([f(), limit]);
    } finally {
      clearTimeout(timer);
    }
  };
}

const t = (name: string, f: () => Promise<void>) => test(name, bounded(name, 150_000, f));

const cluster = await startCluster({ nodes: 3, gpuNodes: 1 });

if (typeof cluster === "string") {
  console.log(`skip: ${cluster}`);
  test.skip(`kubernetes driver against a real control plane (${cluster})`, () => {});
} else {
  const c: Cluster = cluster;
  let token = "";
  const adminKc = new k8s.KubeConfig();
  adminKc.loadFromFile(c.kubeconfig);
  const admin = adminKc.makeApiClient(k8s.CoreV1Api);
  const adminApps = adminKc.makeApiClient(k8s.AppsV1Api);

  /** A driver authenticated as the provider's ServiceAccount (least privilege). */
  const providerDriver = (opts: { hostPortRange?: { min: number; max: number } } = {}) => {
    const cl = adminKc.getCurrentCluster()!;
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "c", server: cl.server, caFile: cl.caFile, skipTLSVerify: false }],
      users: [{ name: "provider", token }],
      contexts: [{ name: "c", cluster: "c", user: "provider" }],
      currentContext: "c",
    });
    return new KubernetesDriver({ kubeConfig: kc, teardownTimeoutMs: 60_000, ...opts });
  };
  const forbidden = async (what: string, p: Promise<unknown>) => {
    try {
      await p;
    } catch (e) {
      const code = (e as { code?: number }).code;
      assert.is(code, 403, `${what}: ${(e as Error).message}`);
      return;
    }
    assert.unreachable(`${what} was allowed`);
  };

  test.before(async () => {
    const r = await c.kubectl(["apply", "-f", RBAC]);
    assert.is(r.code, 0, r.stderr);
    const t = await c.kubectl(["-n", "cirrus-system", "create", "token", "cirrus-provider", "--duration=2h"]);
    assert.is(t.code, 0, t.stderr);
    token = t.stdout.trim();
    // a volume for the beta2 claim to bind to (no provisioner on fake nodes)
    const pv = {
      apiVersion: "v1",
      kind: "PersistentVolume",
      metadata: { name: `pv-beta2-${run}` },
      spec: {
        capacity: { storage: "2Gi" },
        accessModes: ["ReadWriteOnce"],
        storageClassName: "beta2",
        hostPath: { path: `/tmp/pv-${run}` },
      },
    };
    const p = await c.kubectl(["apply", "-f", "-"], JSON.stringify(pv));
    assert.is(p.code, 0, p.stderr);
  });

  t(
    "deploy as the provider account: SSA objects, ready by watch, GPU model on its node, claim bound",
    async () => {
      const d = providerDriver();
      const l = lease(1);
      const ns = leaseNamespace(l);
      const t0 = performance.now();
      await d.deploy(l, group(SDL));
      await d.waitReady([leaseIdOf(l)], { timeoutMs: 90_000 });
      console.log(`deploy + ready: ${Math.round(performance.now() - t0)} ms`);
      const dep = await adminApps.readNamespacedDeployment({ name: "web", namespace: ns });
      assert.ok(
        dep.metadata?.managedFields?.some((f) => f.manager === "cirrus-provider" && f.operation === "Apply"),
      );
      assert.is(dep.status?.readyReplicas, 2);
      const pods = await admin.listNamespacedPod({ namespace: ns });
      assert.is(pods.items.length, 4);
      for (const p of pods.items) assert.is(p.status?.phase, "Running", p.metadata?.name);
      const train = pods.items.find((p) => p.metadata?.labels?.["cirrus.network/service"] === "train")!;
      const node = await admin.readNode({ name: train.spec!.nodeName! });
      assert.is(node.metadata?.labels?.["cirrus.network/gpu.model"], "a100");
      const pvc = await admin.readNamespacedPersistentVolumeClaim({ name: "db-data", namespace: ns });
      assert.is(pvc.spec?.storageClassName, "beta2");
      assert.is(pvc.status?.phase, "Bound");
      const st = await d.status(leaseIdOf(l));
      const web = st.services.find((s) => s.name === "web")!;
      assert.equal([web.ready, web.total, web.state], [2, 2, "running"]);
      assert.match(web.uris[0]!, /^http:\/\/127\.0\.0\.1:3\d{4}$/);
      const ing = await c.kubectl([
        "-n",
        ns,
        "get",
        "ingress",
        "web-8080",
        "-o",
        "jsonpath={.spec.rules[0].host}",
      ]);
      assert.is(ing.stdout, "web.example.com");
      // inventory from the cluster: the gpus this lease took are gone from the a100 count
      const cap = await d.probeCapacity();
      assert.equal(cap.gpus, [{ vendor: "nvidia", model: "a100", ram: "80Gi", interface: "sxm", count: 6 }]);
      assert.is(cap.total.cpu, 3 * 16000);
      assert.ok(cap.used.cpu >= 2 * 100 + 1000 + 200);
      // logs: the fake nodes have no kubelet; the answer is one line, not a crash
      try {
        for await (const _ of d.logs(leaseIdOf(l), { service: "web", tail: 1 })) break;
      } catch (e) {
        assert.match((e as Error).message, /^kubernetes refused logs of pod web-/);
        assert.not.match((e as Error).message, /\n/);
      }
    },
  );

  t("redeploy: rolls, prunes what the manifest dropped, keeps its NodePort", async () => {
    const d = providerDriver();
    const l = lease(1);
    const ns = leaseNamespace(l);
    const before =
      (await admin.readNamespacedService({ name: "web-8080", namespace: ns })).spec!.ports![0]!.nodePort;
    const g = group(SDL);
    g.services = g.services.filter((s) => s.name !== "train");
    g.services.find((s) => s.name === "web")!.count = 3;
    await d.deploy(l, g);
    await d.waitReady([leaseIdOf(l)], { timeoutMs: 90_000 });
    const deps = await adminApps.listNamespacedDeployment({ namespace: ns });
    assert.equal(deps.items.map((x) => x.metadata?.name).sort(), ["db", "web"]);
    const svcs = await admin.listNamespacedService({ namespace: ns });
    assert.equal(svcs.items.map((x) => x.metadata?.name).sort(), ["web-8080"]);
    assert.is(svcs.items[0]!.spec!.ports![0]!.nodePort, before);
    assert.is((await d.status(leaseIdOf(l))).services.find((s) => s.name === "web")!.ready, 3);
  });

  t(
    "NodePorts: clear of other Services of the cluster; a port taken meanwhile (422) is retried",
    async () => {
      const range = { min: 32700, max: 32704 };
      // a foreign Service (not the provider's) holds 32700
      const foreign = (name: string, port: number) =>
        c.kubectl(
          ["apply", "-f", "-"],
          JSON.stringify({
            apiVersion: "v1",
            kind: "Service",
            metadata: { name, namespace: "default" },
            spec: { type: "NodePort", selector: { app: name }, ports: [{ port: 80, nodePort: port }] },
          }),
        );
      assert.is((await foreign(`other-${run}`, 32700)).code, 0);
      const d = providerDriver({ hostPortRange: range });
      const l2 = lease(2);
      const hello = group(SDL);
      hello.services = hello.services.filter((s) => s.name === "web");
      // rendering loads the driver's view of the cluster's ports (and holds one port for lease 99)
      const r99 = await d.render(lease(99), hello);
      const p99: number = r99.objects.find((o) => o.kind === "Service")!.spec.ports[0].nodePort;
      assert.ok(p99 !== 32700, "the foreign port is not chosen");
      // the port the driver will choose for lease 2 (the allocator is deterministic) ...
      const sim = new HostPortAllocator(range, { [leaseIdOf(lease(99))]: { "web:8080/tcp": p99 } });
      const taken = sim.allocate(leaseIdOf(l2), ["web:8080/tcp"], (p) => p !== 32700).get("web:8080/tcp")!;
      // ... is taken by someone else after the driver looked: the API server answers 422, the driver
      // learns the cluster's ports again and takes another
      assert.is((await foreign(`late-${run}`, taken)).code, 0);
      await d.deploy(l2, hello);
      const svc = await admin.readNamespacedService({ name: "web-8080", namespace: leaseNamespace(l2) });
      const got = svc.spec!.ports![0]!.nodePort!;
      assert.ok(got !== 32700 && got !== taken && got >= range.min && got <= range.max, `port ${got}`);
      await d.teardown(leaseIdOf(l2));
      await c.kubectl(["-n", "default", "delete", "service", `other-${run}`, `late-${run}`]);
    },
  );

  t(
    "refusals are one line; a terminating namespace is waited for; teardown waits until it is gone",
    async () => {
      const d = providerDriver();
      const l3 = lease(3);
      const bad = group(SDL);
      bad.services = bad.services.filter((s) => s.name === "web");
      bad.services[0]!.image = ""; // a Deployment needs an image
      try {
        await d.deploy(l3, bad);
        assert.unreachable("an empty image was accepted");
      } catch (e) {
        const m = (e as Error).message;
        assert.match(m, /^kubernetes refused Deployment l-[0-9a-f]+\/web \(HTTP 422\): .*image/);
        assert.not.match(m, /\n/);
      }
      const ok = group(SDL);
      ok.services = ok.services.filter((s) => s.name === "web");
      await d.deploy(l3, ok);
      // delete the namespace behind the driver's back, deploy at once: it waits for the old one to go
      await admin.deleteNamespace({ name: leaseNamespace(l3) });
      await d.deploy(l3, ok);
      await d.waitReady([leaseIdOf(l3)], { timeoutMs: 90_000 });
      const t0 = performance.now();
      await d.teardown(leaseIdOf(l3));
      console.log(`teardown (namespace gone): ${Math.round(performance.now() - t0)} ms`);
      try {
        await admin.readNamespace({ name: leaseNamespace(l3) });
        assert.unreachable("namespace still there after teardown");
      } catch (e) {
        assert.is((e as { code?: number }).code, 404);
      }
    },
  );

  t("restart: a new driver finds the leases in the cluster and reconciles them with the chain", async () => {
    const d1 = providerDriver();
    const g = group(SDL);
    g.services = g.services.filter((s) => s.name === "web");
    await d1.deploy(lease(4), g);
    const d2 = providerDriver(); // the provider restarted: nothing in memory
    const mine = (await d2.list()).filter((id) => id.startsWith(`cirrus1t${run}/`));
    assert.equal(mine, [leaseIdOf(lease(1)), leaseIdOf(lease(4))]);
    // the chain says: lease 1 closed, lease 4 and 5 active (5 not deployed yet)
    // (leases of others in a shared cluster stay active: reconcile must not touch them)
    const others = (await d2.list()).filter((id) => !id.startsWith(`cirrus1t${run}/`));
    const res = await reconcile(d2, [
      { lease: lease(4), group: g },
      { lease: lease(5), group: g },
      ...others.map((id) => ({ lease: renderLeaseId(id) })),
    ]);
    assert.equal(res.errors, []);
    assert.equal(res.removed, [leaseIdOf(lease(1))]);
    assert.equal(res.redeployed, [leaseIdOf(lease(5))]);
    await d2.waitReady([leaseIdOf(lease(4)), leaseIdOf(lease(5))], { timeoutMs: 90_000 });
    for (const n of [4, 5]) await d2.teardown(leaseIdOf(lease(n)));
  });

  t(
    "pull credentials: a dockerconfigjson Secret in the lease namespace, named by the pod; the provider cannot read it back",
    async () => {
      const d = providerDriver();
      const l = lease(40);
      const ns = leaseNamespace(l);
      const g = group(SDL);
      const web = g.services.find((s) => s.name === "web")!;
      web.image = "ghcr.io/acme/web:1";
      web.credentials = { host: "ghcr.io", username: "bot", password: "pa55-word" };
      g.services = [web];
      await d.deploy(l, g);
      const secret = await admin.readNamespacedSecret({ name: "web-pull", namespace: ns });
      assert.is(secret.type, "kubernetes.io/dockerconfigjson");
      const auth = JSON.parse(atob(secret.data![".dockerconfigjson"]!));
      assert.equal(Object.keys(auth.auths), ["ghcr.io"]);
      assert.is(auth.auths["ghcr.io"].password, "pa55-word");
      const dep = await adminApps.readNamespacedDeployment({ name: "web", namespace: ns });
      assert.equal(dep.spec?.template.spec?.imagePullSecrets?.map((r) => r.name), ["web-pull"]);
      // the provider's account may write the Secret but not read it, here or anywhere
      const cl = adminKc.getCurrentCluster()!;
      const kc = new k8s.KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: "c", server: cl.server, caFile: cl.caFile }],
        users: [{ name: "provider", token }],
        contexts: [{ name: "c", cluster: "c", user: "provider" }],
        currentContext: "c",
      });
      const core = kc.makeApiClient(k8s.CoreV1Api);
      await forbidden(
        "read the pull Secret back",
        core.readNamespacedSecret({ name: "web-pull", namespace: ns }),
      );
      await forbidden(
        "create a Secret in kube-system",
        core.createNamespacedSecret({
          namespace: "kube-system",
          body: { metadata: { name: `intruder-${run}` }, stringData: { a: "b" } },
        }),
      );
      // the status never carries the password
      assert.not.match(JSON.stringify(await d.status(leaseIdOf(l))), /pa55-word/);
      await d.teardown(leaseIdOf(l));
    },
  );

  t(
    "least privilege: secrets elsewhere, kube-system, other namespaces are refused by the API server",
    async () => {
      const cl = adminKc.getCurrentCluster()!;
      const kc = new k8s.KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: "c", server: cl.server, caFile: cl.caFile }],
        users: [{ name: "provider", token }],
        contexts: [{ name: "c", cluster: "c", user: "provider" }],
        currentContext: "c",
      });
      const core = kc.makeApiClient(k8s.CoreV1Api);
      const apps = kc.makeApiClient(k8s.AppsV1Api);
      await forbidden("list secrets in kube-system", core.listNamespacedSecret({ namespace: "kube-system" }));
      await forbidden("list secrets cluster-wide", core.listSecretForAllNamespaces());
      await forbidden("read configmaps in default", core.listNamespacedConfigMap({ namespace: "default" }));
      const dep = {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: "intruder", namespace: "kube-system" },
        spec: {
          selector: { matchLabels: { a: "b" } },
          template: { metadata: { labels: { a: "b" } }, spec: { containers: [{ name: "c", image: "x" }] } },
        },
      };
      await forbidden(
        "create a Deployment in kube-system",
        apps.createNamespacedDeployment({ namespace: "kube-system", body: dep }),
      );
      await forbidden("delete namespace kube-system", core.deleteNamespace({ name: "kube-system" }));
      await forbidden(
        "label kube-system as a lease namespace",
        core.patchNamespace({
          name: "kube-system",
          body: [{ op: "add", path: "/metadata/labels/cirrus.network~1managed", value: "true" }],
        }),
      );
      await forbidden(
        "create a ServiceAccount token",
        core.createNamespacedServiceAccountToken({
          name: "default",
          namespace: "kube-system",
          body: { spec: { audiences: [] } },
        }),
      );
      // and kubectl with the same token (and nothing else) says the same
      const r = await c.kubectl([
        "--kubeconfig=/dev/null",
        `--server=${cl.server}`,
        `--certificate-authority=${cl.caFile}`,
        `--token=${token}`,
        "-n",
        "kube-system",
        "get",
        "secrets",
      ]);
      assert.is.not(r.code, 0);
      assert.match(r.stderr, /forbidden/);
    },
  );

  test.after(async () => {
    // leases of this run, if a test failed half way
    const left = await admin.listNamespace({ labelSelector: `cirrus.network/owner=cirrus1t${run}` });
    for (const ns of left.items) await admin.deleteNamespace({ name: ns.metadata!.name! }).catch(() => {});
    await c.kubectl(["delete", "pv", `pv-beta2-${run}`, "--wait=false"]);
    await c.stop();
  });
}

test.run();
