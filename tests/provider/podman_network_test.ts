/**
 * e2e with real Podman: services find each other by their SDL names inside their lease (a web
 * service fetches from `http://database:5432/` and serves what it got: HTTP 200 on its host port),
 * never from another tenant's lease (no name, no route by address); the lease network goes with the
 * lease; a database-like entrypoint that chowns as root starts (default capabilities kept); images are
 * played by their full names (`drupal` -> docker.io/library/drupal:latest; `localhost/busybox` runs).
 * Without a working podman every test is reported as skipped, with the reason.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseSdl } from "../../auction/sdl/mod.ts";
import type { ManifestGroup } from "../../auction/sdl/types.ts";
import {
  type LeaseId,
  leaseNamespace,
  type LeaseStatus,
  podmanAvailable,
  PodmanDriver,
  runPodman,
} from "../../provider/mod.ts";
import { leaseNetworkName } from "../../provider/cluster/podman_network.ts";
import { leaseIdOf } from "../../lib/ids.ts";

const avail = await podmanAvailable();
if (!avail.ok) console.log(`SKIP podman network e2e: ${avail.reason}`);
const t = avail.ok ? test : test.skip;

const RUN = `${Deno.pid}x${Date.now() % 100000}`;

/** web fetches from `database` by its SDL name, then serves what it got on 8080 (global). */
const TWO_SERVICES = `
version: "2.0"
services:
  database:
    image: localhost/busybox
    command: [sh, -c]
    args:
      - mkdir -p /db && echo db-ok > /db/index.html && chown 65534:65534 /db/index.html && exec busybox httpd -f -p 5432 -h /db
    expose:
      - port: 5432
        to:
          - service: web
  web:
    image: localhost/busybox:latest
    command: [sh, -c]
    args:
      - until wget -q -O /tmp/got http://database:5432/; do sleep 0.3; done; mkdir -p /www && cp /tmp/got /www/index.html && exec busybox httpd -f -p 8080 -h /www
    expose:
      - port: 8080
        as: 80
        to:
          - global: true
profiles:
  compute:
    small:
      resources: {cpu: {units: 0.1}, memory: {size: 64Mi}, storage: {size: 128Mi}}
  placement:
    dc:
      pricing:
        small: {denom: ucrs, amount: 100}
deployment:
  database:
    dc: {profile: small, count: 1}
  web:
    dc: {profile: small, count: 1}
`;

/** Another tenant's lease: one service that only waits. */
function single(name: string, image: string): string {
  return `
version: "2.0"
services:
  ${name}:
    image: ${image}
    command: [sh, -c]
    args: [exec sleep 3600]
profiles:
  compute:
    small:
      resources: {cpu: {units: 0.1}, memory: {size: 64Mi}, storage: {size: 128Mi}}
  placement:
    dc:
      pricing:
        small: {denom: ucrs, amount: 100}
deployment:
  ${name}:
    dc: {profile: small, count: 1}
`;
}

function group(sdl: string): ManifestGroup {
  const r = parseSdl(sdl);
  if (!r.ok) throw new Error(r.error);
  return r.manifest[0]!;
}

function lease(dseq: number, owner = `cirrus1net${RUN}`): LeaseId {
  return { owner, dseq, gseq: 1, oseq: 1, provider: "cirrus1podmannet" };
}

async function setup() {
  const dir = await Deno.makeTempDir({ prefix: "cirrus-podman-net-test-" });
  const driver = new PodmanDriver({ stateDir: dir });
  const leases: LeaseId[] = [];
  const cleanup = async () => {
    for (const l of leases) {
      await driver.teardown(leaseIdOf(l)).catch(() => {});
      const ids = (await runPodman({}, [
        "pod",
        "ps",
        "-q",
        "--filter",
        `label=cirrus.network/namespace=${leaseNamespace(l)}`,
      ])).stdout.split("\n").filter(Boolean);
      if (ids.length > 0) await runPodman({}, ["pod", "rm", "-f", "-t", "0", ...ids]);
      await runPodman({}, ["network", "rm", "-f", leaseNetworkName(leaseNamespace(l))]);
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  return { dir, driver, leases, cleanup };
}

/** The app container of a lease's service. */
async function containerOf(l: LeaseId, service: string): Promise<string> {
  const r = await runPodman({}, [
    "ps",
    "--format",
    "{{.Names}}",
    "--filter",
    `label=cirrus.network/namespace=${leaseNamespace(l)}`,
    "--filter",
    `label=cirrus.network/service=${service}`,
  ]);
  const name = r.stdout.split("\n").filter(Boolean)[0];
  if (!name) throw new Error(`no running container for ${service}`);
  return name;
}

async function waitHttp(url: string, timeoutMs = 30_000): Promise<string> {
  const t0 = performance.now();
  let last = "";
  while (performance.now() - t0 < timeoutMs) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      const body = await res.text();
      if (res.status === 200) return body;
      last = `status ${res.status}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url}: no HTTP 200 within ${timeoutMs} ms (${last})`);
}

async function waitRunning(d: PodmanDriver, id: string, timeoutMs = 30_000): Promise<LeaseStatus> {
  const t0 = performance.now();
  let st = await d.status(id);
  while (performance.now() - t0 < timeoutMs) {
    if (st.services.every((s) => s.state === "running")) return st;
    await new Promise((r) => setTimeout(r, 200));
    st = await d.status(id);
  }
  throw new Error(`not running: ${JSON.stringify(st.services)}`);
}

t(
  "a web service reaches its database by the SDL name; another tenant's lease reaches neither name nor address",
  async () => {
    const { driver, leases, cleanup } = await setup();
    try {
      const a = lease(1), b = lease(2, `cirrus1other${RUN}`);
      leases.push(a, b);
      await driver.deploy(a, group(TWO_SERVICES));
      await driver.deploy(b, group(single("probe", "localhost/busybox:latest")));
      const st = await waitRunning(driver, leaseIdOf(a));
      const web = st.services.find((s) => s.name === "web")!;
      assert.is(web.uris.length, 1);
      // HTTP 200 from web, with what it fetched from http://database:5432/ (the database chowned its
      // file as root first: the default capabilities are kept)
      assert.is((await waitHttp(web.uris[0]!)).trim(), "db-ok");
      assert.is((await waitRunning(driver, leaseIdOf(b))).services[0]!.state, "running");

      // The other tenant's container: no `database` name, and no route to its address.
      const db = await containerOf(a, "database");
      const nets = JSON.parse(
        (await runPodman({}, ["container", "inspect", db, "--format", "{{json .NetworkSettings.Networks}}"]))
          .stdout,
      );
      const ip: string = nets[leaseNetworkName(leaseNamespace(a))].IPAddress;
      assert.match(ip, /^\d+\.\d+\.\d+\.\d+$/);
      const probe = await containerOf(b, "probe");
      const lookup = await runPodman({}, ["exec", probe, "nslookup", "database"]);
      assert.not.match(
        lookup.stdout,
        new RegExp(ip.replaceAll(".", "\\.")),
        "the name does not resolve there",
      );
      const dial = await runPodman({}, ["exec", probe, "sh", "-c", `echo | nc -w 2 ${ip} 5432`], 20_000);
      assert.is.not(dial.code, 0, `no route from another lease to ${ip}:5432`);
      // ...while inside the lease the same address and name answer.
      const inside = await runPodman(
        {},
        ["exec", await containerOf(a, "web"), "wget", "-q", "-O", "-", "http://database:5432/"],
        20_000,
      );
      assert.is(inside.stdout.trim(), "db-ok");

      await driver.teardown(leaseIdOf(a));
      const gone = await runPodman({}, ["network", "exists", leaseNetworkName(leaseNamespace(a))]);
      assert.is.not(gone.code, 0, "the lease network is removed with the lease");
    } finally {
      await cleanup();
    }
  },
);

t(
  "images are played by their full names: `drupal` is docker.io/library/drupal:latest, never a short name",
  async () => {
    const { driver, leases, cleanup, dir } = await setup();
    try {
      const l = lease(3);
      leases.push(l);
      await driver.deploy(l, group(single("site", "drupal")));
      const st = (await driver.status(leaseIdOf(l))).services[0]!;
      assert.is(st.state, "failed: image not found");
      assert.is(st.image, "drupal", "status shows the SDL's name");
      assert.not.match(st.message ?? "", /short-name/);
      const played = await Deno.readTextFile(`${dir}/leases/${leaseNamespace(l)}/site.yaml`);
      assert.match(played, /image: docker\.io\/library\/drupal:latest/);
    } finally {
      await cleanup();
    }
  },
);

test.run();
