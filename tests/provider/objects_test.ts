/** Golden tests of the Kubernetes objects of a lease; namespace, labels, host ports; sim driver; reconcile. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { stringify } from "yaml";
import { parseSdl } from "../../auction/sdl/mod.ts";
import type { ManifestGroup } from "../../auction/sdl/types.ts";
import {
  DNS1035_LABEL,
  envNameError,
  globalPortKeys,
  groupResources,
  HostPortAllocator,
  ingressHost,
  type KubeObject,
  labelValue,
  leaseNamespace,
  leaseObjects,
  reconcile,
  registryAuthJson,
  serviceObjectName,
  SimDriver,
} from "../../provider/mod.ts";
import { leaseIdOf, parseLeaseId } from "../../lib/ids.ts";

const HELLO = await Deno.readTextFile(new URL("../../examples/hello.yaml", import.meta.url));
const LEASE = { owner: "cirrus1tenant", dseq: 42, gseq: 1, oseq: 1, provider: "cirrus1provider" };

function group(sdl: string): ManifestGroup {
  const r = parseSdl(sdl);
  if (!r.ok) throw new Error(r.errors.join("; "));
  return r.manifest[0]!;
}

const HELLO_GOLDEN = `apiVersion: v1
kind: Namespace
metadata:
  name: l-6abdb2f808931da50568894cf25042
  labels:
    cirrus.network/managed: "true"
    cirrus.network/owner: cirrus1tenant
    cirrus.network/dseq: "42"
    cirrus.network/gseq: "1"
    cirrus.network/oseq: "1"
    cirrus.network/provider: cirrus1provider
    cirrus.network/namespace: l-6abdb2f808931da50568894cf25042
  annotations:
    cirrus.network/lease-id: cirrus1tenant/42/1/1/cirrus1provider
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: l-6abdb2f808931da50568894cf25042
  labels:
    cirrus.network/managed: "true"
    cirrus.network/owner: cirrus1tenant
    cirrus.network/dseq: "42"
    cirrus.network/gseq: "1"
    cirrus.network/oseq: "1"
    cirrus.network/provider: cirrus1provider
    cirrus.network/namespace: l-6abdb2f808931da50568894cf25042
    cirrus.network/service: web
spec:
  replicas: 1
  selector:
    matchLabels:
      cirrus.network/service: web
  strategy:
    type: RollingUpdate
  template:
    metadata:
      labels:
        cirrus.network/managed: "true"
        cirrus.network/owner: cirrus1tenant
        cirrus.network/dseq: "42"
        cirrus.network/gseq: "1"
        cirrus.network/oseq: "1"
        cirrus.network/provider: cirrus1provider
        cirrus.network/namespace: l-6abdb2f808931da50568894cf25042
        cirrus.network/service: web
    spec:
      automountServiceAccountToken: false
      enableServiceLinks: false
      securityContext:
        sysctls:
          - name: net.ipv4.ip_unprivileged_port_start
            value: "0"
      containers:
        - name: web
          image: localhost/busybox:latest
          imagePullPolicy: IfNotPresent
          command:
            - sh
            - -c
          args:
            - mkdir -p /www && echo hello from cirrus > /www/index.html && echo hello from cirrus, serving /www on port 8080 && exec busybox httpd -f -v -p 8080 -h /www
          ports:
            - containerPort: 8080
              protocol: TCP
              hostPort: 30080
          resources:
            requests:
              cpu: 100m
              memory: "67108864"
              ephemeral-storage: "134217728"
            limits:
              cpu: 100m
              memory: "67108864"
              ephemeral-storage: "134217728"
          securityContext:
            allowPrivilegeEscalation: false
            privileged: false
            capabilities:
              drop:
                - NET_RAW
                - MKNOD
                - AUDIT_WRITE
---
apiVersion: v1
kind: Service
metadata:
  name: web-8080
  namespace: l-6abdb2f808931da50568894cf25042
  labels:
    cirrus.network/managed: "true"
    cirrus.network/owner: cirrus1tenant
    cirrus.network/dseq: "42"
    cirrus.network/gseq: "1"
    cirrus.network/oseq: "1"
    cirrus.network/provider: cirrus1provider
    cirrus.network/namespace: l-6abdb2f808931da50568894cf25042
    cirrus.network/service: web
spec:
  type: NodePort
  selector:
    cirrus.network/service: web
  ports:
    - name: tcp-8080
      port: 80
      targetPort: 8080
      protocol: TCP
      nodePort: 30080
`;

test("golden: examples/hello.yaml -> Namespace, Deployment, NodePort Service (byte for byte)", () => {
  const { namespace, objects } = leaseObjects(LEASE, group(HELLO), {
    hostPorts: new Map([["web:8080/tcp", 30080]]),
  });
  assert.is(namespace, "l-6abdb2f808931da50568894cf25042"); // sha256("cirrus1tenant/42/1/1/cirrus1provider")[:30]
  assert.is(objects.map((o) => stringify(o, { lineWidth: 0 })).join("---\n"), HELLO_GOLDEN);
});

const RICH = `
version: "2.0"
services:
  api:
    image: ghcr.io/acme/api:1.2
    command: [node]
    args: [server.js, --port=9000]
    env: [MODE=prod, "DSN=postgres://db:5432/x?a=b", EMPTY=]
    expose:
      - port: 9000
        to: [{service: web}]
      - port: 53
        proto: udp
        to: [{global: true}]
    params:
      storage:
        shm: {mount: /dev/shm}
        data: {mount: /data, readOnly: true}
  web:
    image: nginx:1.25
    expose:
      - port: 80
        as: 8080
        to: [{global: true}, {service: api}]
      - port: 443
        to: [{global: true}]
profiles:
  compute:
    api:
      resources:
        cpu: {units: 2}
        memory: {size: 4Gi}
        storage:
          - size: 10Gi
          - name: shm
            size: 1Gi
            attributes: {class: ram, persistent: false}
          - name: data
            size: 20Gi
            attributes: {persistent: true, class: beta3}
        gpu:
          units: 2
          attributes:
            vendor:
              nvidia:
                - model: a100
    web:
      resources:
        cpu: {units: 250m}
        memory: {size: 128Mi}
        storage: {size: 512Mi}
        gpu:
          units: 1
          attributes:
            vendor:
              amd:
                - model: mi100
  placement:
    dc:
      pricing:
        api: {denom: ucrs, amount: 1000}
        web: {denom: ucrs, amount: 10}
deployment:
  api:
    dc: {profile: api, count: 1}
  web:
    dc: {profile: web, count: 3}
`;

const PORTS = new Map([["api:53/udp", 30053], ["web:80/tcp", 30080], ["web:443/tcp", 30443]]);

function byKindName(objects: KubeObject[]): Map<string, KubeObject> {
  return new Map(objects.map((o) => [`${o.kind}/${o.metadata.name}`, o]));
}

test("golden: cpu, memory, storage, GPU (nvidia and amd), count, env, volumes", () => {
  const { objects } = leaseObjects(LEASE, group(RICH), { hostPorts: PORTS });
  assert.equal(objects.map((o) => `${o.kind}/${o.metadata.name}`), [
    "Namespace/l-6abdb2f808931da50568894cf25042",
    "PersistentVolumeClaim/api-data",
    "Deployment/api",
    "Service/api-9000",
    "Service/api-53-udp",
    "Deployment/web",
    "Service/web-80",
    "Service/web-443",
  ]);
  const m = byKindName(objects);
  const api = m.get("Deployment/api")!.spec;
  const web = m.get("Deployment/web")!.spec;
  assert.is(api.replicas, 1);
  assert.is(web.replicas, 3);
  const a = api.template.spec.containers[0];
  const apiQ = {
    cpu: "2000m",
    memory: String(4 * 2 ** 30),
    "ephemeral-storage": String(10 * 2 ** 30), // 10Gi root; data is a claim, ram is memory
    "nvidia.com/gpu": "2",
  };
  assert.equal(a.resources, { requests: apiQ, limits: apiQ });
  assert.equal(a.command, ["node"]);
  assert.equal(a.args, ["server.js", "--port=9000"]);
  assert.equal(a.env, [
    { name: "MODE", value: "prod" },
    { name: "DSN", value: "postgres://db:5432/x?a=b" },
    { name: "EMPTY", value: "" },
  ]);
  assert.equal(a.volumeMounts, [
    { name: "vol-data", mountPath: "/data", readOnly: true },
    { name: "vol-shm", mountPath: "/dev/shm", readOnly: false },
  ]);
  assert.equal(api.template.spec.volumes, [
    { name: "vol-data", persistentVolumeClaim: { claimName: "api-data" } },
    { name: "vol-shm", emptyDir: { medium: "Memory", sizeLimit: String(2 ** 30) } },
  ]);
  // a persistent volume is a claim of its class, not ephemeral storage; the pod cannot roll onto it
  assert.equal(m.get("PersistentVolumeClaim/api-data")!.spec, {
    accessModes: ["ReadWriteOnce"],
    storageClassName: "beta3",
    resources: { requests: { storage: String(20 * 2 ** 30) } },
  });
  assert.is(api.strategy.type, "Recreate");
  assert.is(web.strategy.type, "RollingUpdate");
  // a gpu model asked for is a required node affinity on the gpu labels of nodes
  assert.equal(api.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution, {
    nodeSelectorTerms: [{
      matchExpressions: [
        { key: "cirrus.network/gpu.vendor", operator: "In", values: ["nvidia"] },
        { key: "cirrus.network/gpu.model", operator: "In", values: ["a100"] },
      ],
    }],
  });
  const w = web.template.spec.containers[0];
  const webQ = {
    cpu: "250m",
    memory: String(128 * 2 ** 20),
    "ephemeral-storage": String(512 * 2 ** 20),
    "amd.com/gpu": "1",
  };
  assert.equal(w.resources, { requests: webQ, limits: webQ });
  assert.is(w.command, undefined);
  assert.is(w.args, undefined);
  assert.is(w.env, undefined);
  for (const d of [api, web]) {
    const c = d.template.spec.containers[0];
    assert.equal(c.securityContext, {
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ["NET_RAW", "MKNOD", "AUDIT_WRITE"] },
    });
    assert.is(d.template.spec.automountServiceAccountToken, false);
    assert.is(c.imagePullPolicy, "IfNotPresent");
    assert.equal(d.selector.matchLabels, { "cirrus.network/service": c.name });
    for (const [k, v] of Object.entries(d.selector.matchLabels)) assert.is(d.template.metadata.labels[k], v);
  }
  assert.equal(groupResources(group(RICH)), {
    cpu: 2000 + 3 * 250,
    memory: 4 * 2 ** 30 + 3 * 128 * 2 ** 20,
    storage: 31 * 2 ** 30 + 3 * 512 * 2 ** 20,
    gpu: 2 + 3,
  });
});

test("golden: exposes -> container ports, host ports, one Service per exposed port", () => {
  const { objects } = leaseObjects(LEASE, group(RICH), { hostPorts: PORTS });
  const m = byKindName(objects);
  assert.equal(m.get("Deployment/api")!.spec.template.spec.containers[0].ports, [
    { containerPort: 9000, protocol: "TCP" },
    { containerPort: 53, protocol: "UDP", hostPort: 30053 },
  ]);
  // port 80 is exposed twice (global and to api): one container port, global wins
  assert.equal(m.get("Deployment/web")!.spec.template.spec.containers[0].ports, [
    { containerPort: 80, protocol: "TCP", hostPort: 30080 },
    { containerPort: 443, protocol: "TCP", hostPort: 30443 },
  ]);
  assert.equal(m.get("Service/api-9000")!.spec, {
    type: "ClusterIP",
    selector: { "cirrus.network/service": "api" },
    ports: [{ name: "tcp-9000", port: 9000, targetPort: 9000, protocol: "TCP" }],
  });
  assert.equal(m.get("Service/api-53-udp")!.spec.ports, [
    { name: "udp-53", port: 53, targetPort: 53, protocol: "UDP", nodePort: 30053 },
  ]);
  assert.equal(m.get("Service/web-80")!.spec, {
    type: "NodePort",
    selector: { "cirrus.network/service": "web" },
    ports: [{ name: "tcp-80", port: 8080, targetPort: 80, protocol: "TCP", nodePort: 30080 }],
  });
  assert.equal(globalPortKeys(group(RICH)), ["api:53/udp", "web:80/tcp", "web:443/tcp"]);
  // kubernetes: no hostPort on containers (the NodePort Service is the way in)
  const k = leaseObjects(LEASE, group(RICH), { hostPorts: PORTS, containerHostPorts: false });
  for (const o of k.objects) {
    for (const c of o.spec?.template?.spec?.containers ?? []) {
      for (const p of c.ports ?? []) assert.is(p.hostPort, undefined);
    }
  }
  assert.throws(
    () => leaseObjects(LEASE, group(RICH), { hostPorts: new Map() }),
    /no host port for api:53\/udp/,
  );
});

test("credentials: a dockerconfigjson Secret for the image's registry, named in imagePullSecrets; none without", () => {
  const g = group(HELLO);
  const svc = g.services[0]!;
  svc.image = "ghcr.io/acme/app:1";
  svc.credentials = { host: "https://GHCR.io/", username: "bot", password: "s3cret!", email: "b@x.io" };
  const { objects } = leaseObjects(LEASE, g, { hostPorts: new Map([["web:8080/tcp", 30080]]) });
  assert.equal(objects.map((o) => o.kind), ["Namespace", "Secret", "Deployment", "Service"]);
  const secret = objects[1]!;
  assert.is(secret.metadata.name, "web-pull");
  assert.is(secret.type, "kubernetes.io/dockerconfigjson");
  const data = (secret.data as Record<string, string>)[".dockerconfigjson"]!;
  assert.equal(JSON.parse(atob(data)), {
    auths: {
      "ghcr.io": { username: "bot", password: "s3cret!", auth: btoa("bot:s3cret!"), email: "b@x.io" },
    },
  });
  const pod = objects[2]!.spec.template.spec;
  assert.equal(pod.imagePullSecrets, [{ name: "web-pull" }]);
  // the password is in the Secret only (base64), nowhere else in the objects
  assert.not.match(JSON.stringify(objects.filter((o) => o.kind !== "Secret")), /s3cret|czNjcmV0/);
  // Docker Hub: also under its legacy key
  assert.equal(
    Object.keys(JSON.parse(registryAuthJson({ host: "docker.io", username: "u", password: "p" })).auths),
    ["docker.io", "https://index.docker.io/v1/"],
  );
  const plain = leaseObjects(LEASE, group(HELLO), { hostPorts: new Map([["web:8080/tcp", 30080]]) }).objects;
  assert.not.ok(plain.some((o) => o.kind === "Secret"));
  assert.is(plain[1]!.spec.template.spec.imagePullSecrets, undefined);
});

test("namespace: deterministic, DNS-1123, <= 63 chars, distinct per lease; labels and lease id round trip", () => {
  const seen = new Set<string>();
  for (let dseq = 1; dseq <= 200; dseq++) {
    for (const oseq of [1, 2]) {
      const l = { ...LEASE, dseq: dseq * 1_000_000_000_000, oseq, provider: "cirrus1prvdrx" };
      const ns = leaseNamespace(l);
      assert.ok(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(ns) && ns.length <= 63, ns);
      assert.is(leaseNamespace(leaseIdOf(l)), ns);
      assert.equal(parseLeaseId(leaseIdOf(l)), l);
      seen.add(ns);
    }
  }
  assert.is(seen.size, 400);
  const { objects } = leaseObjects(LEASE, group(HELLO), { hostPorts: () => 30000 });
  const labels = objects[0]!.metadata.labels!;
  assert.is(labels["cirrus.network/owner"], "cirrus1tenant");
  assert.is(labels["cirrus.network/dseq"], "42");
  assert.is(labels["cirrus.network/gseq"], "1");
  assert.is(labels["cirrus.network/oseq"], "1");
  assert.is(labels["cirrus.network/provider"], "cirrus1provider");
  assert.is(
    objects[0]!.metadata.annotations!["cirrus.network/lease-id"],
    "cirrus1tenant/42/1/1/cirrus1provider",
  );
  // a value a label cannot hold is hashed (the annotation keeps the whole id)
  const long = "cirrus1" + "q".repeat(70);
  assert.ok(/^h-[0-9a-f]{40}$/.test(labelValue(long)));
  assert.is(parseLeaseId("a/b/c"), null);
});

test("host ports: deterministic, collision-free across leases, kept on redeploy, released on teardown", () => {
  const keys = ["web:80/tcp", "web:443/tcp", "dns:53/udp"];
  const a1 = new HostPortAllocator({ min: 31000, max: 31009 });
  const a2 = new HostPortAllocator({ min: 31000, max: 31009 });
  const leases = ["t/1/1/1/p", "t/2/1/1/p", "t/3/1/1/p"];
  const got1 = leases.map((l) => a1.allocate(l, keys));
  const got2 = leases.map((l) => a2.allocate(l, keys));
  assert.equal(got1.map((m) => [...m]), got2.map((m) => [...m])); // same order, same ports
  const all = got1.flatMap((m) => [...m.values()]);
  assert.is(new Set(all).size, 9);
  for (const p of all) assert.ok(p >= 31000 && p <= 31009);
  // full: a 4th lease needing 3 ports gets the one port left, then fails
  assert.throws(() => a1.allocate("t/4/1/1/p", keys), /no free host port/);
  // redeploy with one more key keeps the old ones
  a1.release("t/4/1/1/p");
  const again = a1.allocate(leases[0]!, [...keys.slice(0, 2)]);
  assert.is(again.get("web:80/tcp"), got1[0]!.get("web:80/tcp"));
  // state survives a restart
  const restored = new HostPortAllocator({ min: 31000, max: 31009 }, JSON.parse(JSON.stringify(a1.toJSON())));
  assert.equal([...restored.get(leases[1]!)], [...got1[1]!]);
  restored.release(leases[1]!);
  assert.is(restored.get(leases[1]!).size, 0);
  const reuse = restored.allocate("t/9/1/1/p", keys, (p) => p !== got1[1]!.get("web:80/tcp"));
  assert.ok(![...reuse.values()].includes(got1[1]!.get("web:80/tcp")!)); // isFree veto respected
});

test("sim driver: capacity accounting, refuses what does not fit, status and list", async () => {
  const d = new SimDriver({ capacity: { cpu: 4000, memory: 8 * 2 ** 30, storage: 100 * 2 ** 30, gpu: 5 } });
  const rich = group(RICH);
  await d.deploy(LEASE, rich);
  const cap = await d.probeCapacity();
  assert.equal(cap.used, groupResources(rich));
  assert.is(cap.free.cpu, 4000 - 2750);
  const other = { ...LEASE, dseq: 43 };
  try {
    await d.deploy(other, rich);
    assert.unreachable("should not fit");
  } catch (e) {
    assert.match((e as Error).message, /insufficient capacity: cpu/);
  }
  // redeploying the same lease replaces, it does not add
  await d.deploy(LEASE, rich);
  assert.equal((await d.probeCapacity()).used, groupResources(rich));
  const st = await d.status(leaseIdOf(LEASE));
  assert.equal(st.services.map((s) => [s.name, s.ready, s.total, s.state, s.uris.length]), [
    ["api", 1, 1, "running", 0],
    ["web", 3, 3, "running", 2],
  ]);
  assert.equal(await d.list(), [leaseIdOf(LEASE)]);
  await d.teardown(leaseIdOf(LEASE));
  assert.equal((await d.probeCapacity()).used, { cpu: 0, memory: 0, storage: 0, gpu: 0 });
  try {
    await d.status(leaseIdOf(LEASE));
    assert.unreachable();
  } catch (e) {
    assert.is((e as Error).name, "NotFoundError");
  }
});

test("reconcile: removes workloads without an active lease, redeploys active leases without one", async () => {
  const d = new SimDriver({ capacity: { cpu: 100_000, memory: 2 ** 40, storage: 2 ** 45, gpu: 0 } });
  const g = group(HELLO);
  const l1 = { ...LEASE, dseq: 1 },
    l2 = { ...LEASE, dseq: 2 },
    l3 = { ...LEASE, dseq: 3 },
    l4 = { ...LEASE, dseq: 4 };
  await d.deploy(l1, g);
  await d.deploy(l2, g);
  const res = await reconcile(d, [{ lease: l1, group: g }, { lease: l3, group: g }, { lease: l4 }]);
  assert.equal(res, { removed: [leaseIdOf(l2)], redeployed: [leaseIdOf(l3)], errors: [] });
  assert.equal(await d.list(), [leaseIdOf(l1), leaseIdOf(l3)].sort());
  // a failing deploy is reported, the others still happen
  const tiny = new SimDriver({ capacity: { cpu: 150, memory: 2 ** 30, storage: 2 ** 30, gpu: 0 } });
  const r2 = await reconcile(tiny, [{ lease: l1, group: g }, { lease: l2, group: g }]);
  assert.equal(r2.redeployed, [leaseIdOf(l1)]);
  assert.is(r2.errors.length, 1);
  assert.match(r2.errors[0]!.error, /insufficient capacity/);
});

test("Service names: <service>-<port>[-udp] cut with a hash to a DNS-1035 label of <= 63 chars", () => {
  assert.is(serviceObjectName("web", 8080, "tcp"), "web-8080");
  assert.is(serviceObjectName("dns", 53, "udp"), "dns-53-udp");
  assert.is(serviceObjectName("1st", 80, "tcp"), "s-1st-80");
  const long = "a".repeat(60);
  const names = [
    serviceObjectName(long, 8080, "tcp"),
    serviceObjectName(long, 65535, "udp"),
    serviceObjectName("a".repeat(59) + "b", 8080, "tcp"),
    serviceObjectName("9" + "x".repeat(62), 1, "tcp"),
  ];
  for (const n of names) assert.ok(DNS1035_LABEL.test(n) && n.length <= 63, n);
  assert.ok(names[0]!.endsWith("-8080") && names[1]!.endsWith("-65535-udp"));
  assert.is.not(names[0], names[2]); // same cut prefix, different services: the hash tells them apart
  const sdl = HELLO.replaceAll(/\bweb\b/g, long);
  const svc = leaseObjects(LEASE, group(sdl), { hostPorts: () => 30000 }).objects.find((o) =>
    o.kind === "Service"
  )!;
  assert.is(svc.metadata.name, names[0]);
});

test("env names the API server refuses: the SDL parser says which, the object builder refuses too", () => {
  const bad = HELLO.replace("    image:", "    env: [ÜBER=1]\n    image:");
  const r = parseSdl(bad);
  assert.ok(!r.ok);
  assert.match(r.errors.join("\n"), /env name must be printable ASCII, got "ÜBER"/);
  assert.ok(parseSdl(HELLO.replace("    image:", "    env: [my.var-1=ok, 'WITH SPACE=1']\n    image:")).ok);
  assert.is(envNameError("MY_VAR"), undefined);
  assert.match(envNameError("ÜBER")!, /printable ASCII/);
  const g = group(HELLO);
  g.services[0]!.env = ["ÜBER=1"];
  assert.throws(() => leaseObjects(LEASE, g, { hostPorts: () => 30000 }), /service web: env name "ÜBER"/);
});

test("accept hostnames -> an Ingress to the port's Service; a host an Ingress cannot hold is refused", () => {
  const sdl = HELLO.replace(
    "        to:\n          - global: true",
    "        accept: [Example.COM, '*.apps.example.org']\n        to:\n          - global: true",
  );
  const { objects } = leaseObjects(LEASE, group(sdl), { hostPorts: () => 30000, ingressClassName: "nginx" });
  const ing = objects.find((o) => o.kind === "Ingress")!;
  assert.ok(ing, "an Ingress");
  const svc = objects.find((o) => o.kind === "Service")!;
  assert.is(ing.metadata.name, svc.metadata.name);
  assert.is(ing.spec.ingressClassName, "nginx");
  assert.equal(ing.spec.rules.map((r: { host: string }) => r.host), ["example.com", "*.apps.example.org"]);
  assert.equal(ing.spec.rules[0].http.paths[0].backend.service, {
    name: svc.metadata.name,
    port: { number: svc.spec.ports[0].port },
  });
  assert.is(
    leaseObjects(LEASE, group(HELLO), { hostPorts: () => 30000 }).objects.some((o) => o.kind === "Ingress"),
    false,
  );
  assert.throws(() => ingressHost("under_score.example.com"), /not a DNS name an Ingress takes/);
});
test.run();
