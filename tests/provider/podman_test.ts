/**
 * e2e with real Podman: examples/hello.yaml played by the podman driver answers HTTP 200 on its host
 * port, rolls to a new version, and is gone after teardown; an unreachable image and a container
 * that exits at once get clear states while another lease keeps serving; a restarted provider
 * reconciles. Without a working podman every test is reported as skipped, with the reason.
 * Every test removes its pods and files, also when it fails.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseSdl } from "../../auction/sdl/mod.ts";
import type { ManifestGroup } from "../../auction/sdl/types.ts";
import {
  ensureBusyboxImage,
  type LeaseId,
  leaseNamespace,
  type LeaseStatus,
  podmanAvailable,
  PodmanDriver,
  reconcile,
  runPodman,
} from "../../provider/mod.ts";
import { leaseIdOf } from "../../lib/ids.ts";
import { LeaseLogs } from "../../provider/log_keeper.ts";
import { startAuthRegistry } from "../helpers/auth_registry.ts";

const avail = await podmanAvailable();
if (!avail.ok) console.log(`SKIP podman e2e: ${avail.reason}`);
const t = avail.ok ? test : test.skip;

const HELLO = await Deno.readTextFile(new URL("../../examples/hello.yaml", import.meta.url));
const PERSISTENT = await Deno.readTextFile(new URL("../../examples/persistent.yaml", import.meta.url));
const RUN = `${Deno.pid}x${Date.now() % 100000}`;

function group(sdl: string): ManifestGroup {
  const r = parseSdl(sdl);
  if (!r.ok) throw new Error(r.errors.join("; "));
  return r.manifest[0]!;
}

function lease(dseq: number): LeaseId {
  return { owner: `cirrus1test${RUN}`, dseq, gseq: 1, oseq: 1, provider: "cirrus1podmantest" };
}

/** A driver on a fresh state dir; `cleanup` removes every pod of `leases` and the dir. */
async function setup(): Promise<
  { dir: string; driver: PodmanDriver; leases: LeaseId[]; cleanup: () => Promise<void> }
> {
  const dir = await Deno.makeTempDir({ prefix: "cirrus-podman-test-" });
  const leases: LeaseId[] = [];
  const driver = new PodmanDriver({ stateDir: dir });
  const cleanup = async () => {
    for (const l of leases) {
      try {
        await driver.teardown(leaseIdOf(l));
      } catch { /* below */ }
      const r = await runPodman({}, [
        "pod",
        "ps",
        "-q",
        "--filter",
        `label=cirrus.network/namespace=${leaseNamespace(l)}`,
      ]);
      const ids = r.stdout.split("\n").filter(Boolean);
      if (ids.length > 0) {
        await runPodman({}, ["pod", "stop", "-t", "0", ...ids]);
        await runPodman({}, ["pod", "rm", "-f", ...ids]);
      }
      const vols = await volumesOf(l);
      if (vols.length > 0) await runPodman({}, ["volume", "rm", "-f", ...vols]);
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  return { dir, driver, leases, cleanup };
}

async function podsOf(l: LeaseId): Promise<string[]> {
  const r = await runPodman({}, [
    "pod",
    "ps",
    "--format",
    "{{.Name}}",
    "--filter",
    `label=cirrus.network/namespace=${leaseNamespace(l)}`,
  ]);
  return r.stdout.split("\n").filter(Boolean);
}

/** Names of the podman volumes labelled with a lease's namespace. */
async function volumesOf(l: LeaseId): Promise<string[]> {
  const r = await runPodman({}, [
    "volume",
    "ls",
    "-q",
    "--filter",
    `label=cirrus.network/namespace=${leaseNamespace(l)}`,
  ]);
  return r.stdout.split("\n").filter(Boolean);
}

/** GET until 200 (or timeout); returns body and ms waited. */
async function waitHttp(
  url: string,
  timeoutMs = 20_000,
): Promise<{ status: number; body: string; ms: number }> {
  const t0 = performance.now();
  let last = "";
  while (performance.now() - t0 < timeoutMs) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      const body = await res.text();
      if (res.status === 200) return { status: 200, body, ms: performance.now() - t0 };
      last = `status ${res.status}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url}: no HTTP 200 within ${timeoutMs} ms (${last})`);
}

async function waitState(
  d: PodmanDriver,
  id: string,
  service: string,
  re: RegExp,
  timeoutMs = 20_000,
): Promise<LeaseStatus> {
  const t0 = performance.now();
  let st = await d.status(id);
  while (performance.now() - t0 < timeoutMs) {
    if (re.test(st.services.find((s) => s.name === service)?.state ?? "")) return st;
    await new Promise((r) => setTimeout(r, 200));
    st = await d.status(id);
  }
  throw new Error(`${service}: state never matched ${re}: ${JSON.stringify(st.services)}`);
}

t(
  "hello: kube play -> HTTP 200 on the host port, unprivileged, rolls to v2, teardown removes the pod",
  async () => {
    const { driver, leases, cleanup, dir } = await setup();
    try {
      const l = lease(1);
      leases.push(l);
      const id = leaseIdOf(l);
      const t0 = performance.now();
      await driver.deploy(l, group(HELLO));
      const playMs = performance.now() - t0;
      const st = await driver.status(id);
      const web = st.services[0]!;
      assert.is(web.name, "web");
      assert.is(web.uris.length, 1);
      assert.match(web.uris[0]!, /^http:\/\/127\.0\.0\.1:\d+$/);
      const got = await waitHttp(web.uris[0]!);
      assert.is(got.status, 200);
      assert.is(got.body.trim(), "hello from cirrus");
      const st2 = await waitState(driver, id, "web", /^running$/);
      assert.equal([st2.services[0]!.ready, st2.services[0]!.total], [1, 1]);
      console.log(
        `  podman: kube play ${playMs.toFixed(0)} ms, HTTP 200 after ${(playMs + got.ms).toFixed(0)} ms`,
      );
      assert.equal(await driver.list(), [id]);

      // the container keeps the runtime's default capabilities (chown, setuid... as postgres needs)
      // less NET_RAW, MKNOD, AUDIT_WRITE; no-new-privileges; the memory limit
      const [pod] = await podsOf(l);
      const ins = await runPodman({}, ["container", "inspect", `${pod}-web`]);
      const c = JSON.parse(ins.stdout)[0];
      const caps: string[] = c.EffectiveCaps ?? [];
      for (const want of ["CAP_CHOWN", "CAP_SETUID", "CAP_SETGID", "CAP_FOWNER", "CAP_DAC_OVERRIDE"]) {
        assert.ok(caps.includes(want), `${want} in ${caps}`);
      }
      for (const never of ["CAP_NET_RAW", "CAP_MKNOD", "CAP_AUDIT_WRITE", "CAP_SYS_ADMIN", "CAP_NET_ADMIN"]) {
        assert.not.ok(caps.includes(never), `${never} not in ${caps}`);
      }
      assert.ok((c.HostConfig.SecurityOpt ?? []).includes("no-new-privileges"));
      assert.is(c.HostConfig.Memory, 64 * 2 ** 20);

      // redeploy = roll to the new version, same host port
      await driver.deploy(l, group(HELLO.replace("hello from cirrus", "hello v2")));
      const st3 = await driver.status(id);
      assert.equal(st3.services[0]!.uris, web.uris);
      assert.is((await waitHttp(web.uris[0]!)).body.trim(), "hello v2");

      const t1 = performance.now();
      await driver.teardown(id);
      console.log(`  podman: teardown ${(performance.now() - t1).toFixed(0)} ms`);
      assert.equal(await podsOf(l), []);
      assert.equal(await driver.list(), []);
      const left = [...Deno.readDirSync(`${dir}/leases`)].map((e) => e.name);
      assert.equal(left, []);
      let refused = false;
      try {
        await fetch(web.uris[0]!, { signal: AbortSignal.timeout(2000) }).then((r) => r.body?.cancel());
      } catch {
        refused = true;
      }
      assert.ok(refused, "nothing answers on the host port after teardown");
    } finally {
      await cleanup();
    }
  },
);

t(
  "bad input: unreachable image and a container that exits at once get clear states; other leases keep serving",
  async () => {
    const { driver, leases, cleanup } = await setup();
    try {
      const good = lease(10), noImage = lease(11), crash = lease(12);
      leases.push(good, noImage, crash);
      const badSdl = HELLO.replace("image: localhost/busybox:latest", "image: localhost/nope:latest");
      const crashSdl = HELLO.replace(/args:\n\s+- .*\n/, "args:\n      - echo starting; exit 1\n");
      await driver.deploy(good, group(HELLO.replace("count: 1", "count: 2")));
      await driver.deploy(noImage, group(badSdl)); // resolves: the failure is a state, not an exception
      await driver.deploy(crash, group(crashSdl));

      const bad = (await driver.status(leaseIdOf(noImage))).services[0]!;
      assert.is(bad.state, "failed: image not found");
      assert.match(bad.message!, /localhost\/nope:latest/);
      assert.is(bad.ready, 0);
      assert.equal(await podsOf(noImage), [], "no half-made pod left behind");

      const st = await waitState(driver, leaseIdOf(crash), "web", /^crashloop: /);
      assert.is(st.services[0]!.state, "crashloop: exited with code 1");
      assert.is(st.services[0]!.ready, 0);
      const lines: string[] = [];
      for await (const line of driver.logs(leaseIdOf(crash), { tail: 3 })) lines.push(line);
      assert.ok(lines.includes("starting"), `logs: ${JSON.stringify(lines)}`);

      // follow: streams until aborted
      const ac = new AbortController();
      const followed: string[] = [];
      for await (const line of driver.logs(leaseIdOf(crash), { follow: true, tail: 1, signal: ac.signal })) {
        followed.push(line);
        ac.abort();
      }
      assert.equal(followed, ["starting"]);

      // count 2 with a host port: one replica holds the port, the other runs beside it
      const gst = await waitState(driver, leaseIdOf(good), "web", /^running$/);
      assert.equal([gst.services[0]!.ready, gst.services[0]!.total], [2, 2]);
      assert.is((await podsOf(good)).length, 2);
      const uri = gst.services[0]!.uris[0]!;
      assert.is((await waitHttp(uri)).status, 200);
      assert.equal((await driver.list()).sort(), [good, noImage, crash].map(leaseIdOf).sort());
      for (const l of [noImage, crash]) await driver.teardown(leaseIdOf(l));
      assert.is((await waitHttp(uri)).status, 200);
      assert.equal(await podsOf(crash), []);
    } finally {
      await cleanup();
    }
  },
);

t(
  "restart: reconcile removes workloads without a lease and redeploys missing ones from the stored manifest",
  async () => {
    const { driver, leases, cleanup, dir } = await setup();
    try {
      const keep = lease(20), closed = lease(21), lost = lease(22);
      leases.push(keep, closed, lost);
      const g = group(HELLO);
      for (const l of [keep, closed, lost]) await driver.deploy(l, g);
      const lostUri = (await driver.status(leaseIdOf(lost))).services[0]!.uris[0]!;
      // the host "rebooted" for `lost`: its pod is gone, its stored state is not
      const ids = await podsOf(lost);
      await runPodman({}, ["pod", "stop", "-t", "0", ...ids]);
      await runPodman({}, ["pod", "rm", "-f", ...ids]);
      assert.equal(await podsOf(lost), []);

      const restarted = new PodmanDriver({ stateDir: dir });
      const res = await reconcile(restarted, [{ lease: keep, group: g }, { lease: lost, group: g }]);
      assert.equal(res, { removed: [leaseIdOf(closed)], redeployed: [leaseIdOf(lost)], errors: [] });
      assert.equal(await podsOf(closed), []);
      assert.is((await restarted.status(leaseIdOf(lost))).services[0]!.uris[0], lostUri, "same host port");
      assert.is((await waitHttp(lostUri)).status, 200);
      assert.equal(await restarted.list(), [keep, lost].map(leaseIdOf).sort());
    } finally {
      await cleanup();
    }
  },
);

t(
  "pods without state are adopted only by their own provider: another provider (or test) on the machine never lists them",
  async () => {
    const { driver, leases, cleanup } = await setup();
    const other = await Deno.makeTempDir({ prefix: "cirrus-podman-other-" });
    const lost = await Deno.makeTempDir({ prefix: "cirrus-podman-lost-" });
    try {
      const l = lease(30);
      leases.push(l);
      await driver.deploy(l, group(HELLO));
      assert.ok((await driver.list()).includes(leaseIdOf(l)));
      // another provider on this machine, with its own state dir: the pod is not its business
      const foreign = new PodmanDriver({ stateDir: other, provider: "cirrus1otherprovider" });
      assert.not.ok((await foreign.list()).includes(leaseIdOf(l)));
      // without its provider address a driver adopts no stateless pod at all
      assert.not.ok((await new PodmanDriver({ stateDir: other }).list()).includes(leaseIdOf(l)));
      // the same provider whose state dir was lost recovers the lease from the pod's labels
      const recovered = new PodmanDriver({ stateDir: lost, provider: "cirrus1podmantest" });
      assert.ok((await recovered.list()).includes(leaseIdOf(l)));
    } finally {
      await cleanup();
      await Deno.remove(other, { recursive: true }).catch(() => {});
      await Deno.remove(lost, { recursive: true }).catch(() => {});
    }
  },
);

t(
  "persistent volume: a file survives a container restart, a redeploy and a provider restart; teardown removes the volume",
  async () => {
    const { driver, leases, cleanup, dir } = await setup();
    try {
      const l = lease(40);
      leases.push(l);
      const id = leaseIdOf(l);
      const g = group(PERSISTENT);
      await driver.deploy(l, g);
      const vols = await volumesOf(l);
      assert.is(vols.length, 1, `one volume: ${vols}`);
      const ins = JSON.parse((await runPodman({}, ["volume", "inspect", vols[0]!])).stdout)[0];
      assert.is(ins.Labels["cirrus.network/storage-class"], "beta3");
      assert.is(ins.Labels["cirrus.network/provider"], "cirrus1podmantest");
      const uri = (await waitState(driver, id, "web", /^running$/)).services[0]!.uris[0]!;
      assert.is((await waitHttp(uri)).body.trim().split("\n").length, 1, "one start so far");
      const put = await driver.exec(id, {
        command: ["sh", "-c", "echo kept > /data/note.txt"],
        timeoutMs: 10_000,
        outputMaxBytes: 1000,
      });
      assert.is(put.exitCode, 0, put.stderr);
      const read = () =>
        driver.exec(id, { command: ["cat", "/data/note.txt"], timeoutMs: 10_000, outputMaxBytes: 1000 });

      // the container exits (code 1) and its restart policy starts it again, as after a crash (same
      // container, a new process): the file and the first start's line are still there
      const [pod] = await podsOf(l);
      const crash = await driver.exec(id, {
        command: ["touch", "/tmp/restart"],
        timeoutMs: 10_000,
        outputMaxBytes: 100,
      });
      assert.is(crash.exitCode, 0, crash.stderr);
      const t0 = performance.now();
      let restarts = 0;
      while (performance.now() - t0 < 20_000 && restarts < 1) {
        await new Promise((r) => setTimeout(r, 200));
        restarts =
          JSON.parse((await runPodman({}, ["container", "inspect", `${pod}-web`])).stdout)[0].RestartCount;
      }
      assert.is(restarts, 1, "restarted once");
      await waitState(driver, id, "web", /^running$/);
      assert.is((await read()).stdout, "kept\n");
      assert.is((await waitHttp(uri)).body.trim().split("\n").length, 2, "two starts");

      // the provider restarts: reconcile adopts the running lease (nothing redeployed, nothing removed)
      const restarted = new PodmanDriver({ stateDir: dir, provider: "cirrus1podmantest" });
      assert.equal(await reconcile(restarted, [{ lease: l, group: g }]), {
        removed: [],
        redeployed: [],
        errors: [],
      });
      // a redeploy (new pod, new container) mounts the same volume
      await restarted.deploy(l, g);
      await waitState(restarted, id, "web", /^running$/);
      assert.is((await read()).stdout, "kept\n");
      assert.is((await waitHttp(uri)).body.trim().split("\n").length, 3, "three starts");
      assert.equal(await volumesOf(l), vols, "the same volume");

      // a provider whose state dir was lost still knows the lease from the volume's labels
      const lost = await Deno.makeTempDir({ prefix: "cirrus-podman-lost-" });
      try {
        assert.ok(
          (await new PodmanDriver({ stateDir: lost, provider: "cirrus1podmantest" }).known()).includes(id),
        );
        assert.not.ok(
          (await new PodmanDriver({ stateDir: lost, provider: "cirrus1other" }).known()).includes(id),
        );
      } finally {
        await Deno.remove(lost, { recursive: true });
      }

      // the lease closes: pods and volume are gone
      await restarted.teardown(id);
      assert.equal(await podsOf(l), []);
      assert.equal(await volumesOf(l), []);
    } finally {
      await cleanup();
    }
  },
);

t(
  "kept logs: lines read incrementally (ties of one timestamp included) are numbered once, kept across a container restart, and the oldest dropped past linesMax",
  async () => {
    const { driver, leases, cleanup } = await setup();
    try {
      const l = lease(50);
      leases.push(l);
      const id = leaseIdOf(l);
      // 50 lines at once (podman stamps many with one time), then the container exits and is restarted
      // once (the second run stays up)
      const sdl = HELLO.replace(
        /args:\n\s+- .*\n/,
        "args:\n      - for i in $(seq 1 50); do echo l$i; done; sleep 1; echo done; [ -e /tmp/ran ] && exec sleep 1000; touch /tmp/ran; sleep 1; exit 1\n",
      );
      await driver.deploy(l, group(sdl));
      const logs = new LeaseLogs(driver, { linesMax: 80 });
      const want = [...Array.from({ length: 50 }, (_, i) => `l${i + 1}`), "done"];
      const t0 = performance.now();
      let got: string[] = [];
      let reads = 0;
      while (performance.now() - t0 < 30_000) {
        await logs.refresh(id);
        reads++;
        const r = logs.keeper.read(id, { tail: 1000 });
        got = r.lines.map((x) => x.line);
        if (Object.values(r.next)[0] === 2 * want.length) break;
        await new Promise((r) => setTimeout(r, 150));
      }
      assert.ok(reads > 3, `read ${reads} times`);
      // 102 lines were written over two runs of the container; the last 80 are kept, in order, once each
      const all = [...want, ...want];
      assert.equal(got, all.slice(-80));
      const r = logs.keeper.read(id, { cursor: {} });
      assert.equal(r.dropped.map((d) => d.lines), [22]);
      assert.equal(r.lines.map((x) => x.seq), Array.from({ length: 80 }, (_, i) => 22 + i));
      // resume from the middle: exactly the rest
      const mid = r.lines[40]!;
      const rest = logs.keeper.read(id, { cursor: { [mid.id]: mid.seq + 1 } });
      assert.equal(rest.lines.map((x) => x.line), all.slice(-39));
      assert.equal(rest.dropped, []);
    } finally {
      await cleanup();
    }
  },
);

t(
  "credentials: the image is pulled with them (auth file removed after), wrong ones fail with a clear state; the password is in no status, file played or message",
  async () => {
    const password = "s3cret-pw-42";
    const reg = await startAuthRegistry("localhost/busybox:latest", "tenant", password);
    const dir = await Deno.makeTempDir({ prefix: "cirrus-podman-test-" });
    const driver = new PodmanDriver({ stateDir: dir, insecureRegistries: [reg.host] });
    const good = lease(60), bad = lease(61);
    const authFiles = async () => {
      const out: string[] = [];
      for await (const e of Deno.readDir(await Deno.realPath(Deno.env.get("TMPDIR") ?? "/tmp"))) {
        if (e.name.startsWith("cirrus-auth-")) out.push(e.name);
      }
      return out;
    };
    const before = await authFiles();
    try {
      const withCreds = (pw: string) => {
        const g = group(HELLO);
        g.services[0]!.image = reg.image;
        g.services[0]!.credentials = { host: `http://${reg.host}`, username: "tenant", password: pw };
        return g;
      };
      await driver.deploy(good, withCreds(password));
      const st = await waitState(driver, leaseIdOf(good), "web", /^running$/);
      assert.is((await waitHttp(st.services[0]!.uris[0]!)).status, 200);
      assert.ok(
        reg.requests.some((r) => r.authorized && r.path.includes("/manifests/")),
        "pulled with the credentials",
      );
      assert.ok(reg.requests.some((r) => !r.authorized), "the registry did ask for them");

      await driver.deploy(bad, withCreds("wrong-password"));
      const failed = (await driver.status(leaseIdOf(bad))).services[0]!;
      assert.is(failed.state, "failed: image not found");
      assert.match(failed.message!, new RegExp(reg.image.replace(/[.]/g, "\\.")));

      // the password is in no status, no played file, no auth file left behind
      const seen = JSON.stringify([await driver.status(leaseIdOf(good)), failed]);
      assert.not.match(seen, /s3cret|wrong-password/);
      for await (const e of Deno.readDir(`${dir}/leases/${leaseNamespace(good)}`)) {
        if (e.name.endsWith(".yaml")) {
          assert.not.match(
            await Deno.readTextFile(`${dir}/leases/${leaseNamespace(good)}/${e.name}`),
            /s3cret/,
          );
        }
      }
      const mode = (await Deno.stat(`${dir}/leases/${leaseNamespace(good)}/lease.json`)).mode! & 0o777;
      assert.is(mode, 0o600, "the stored manifest (with the credentials) is the provider's only");
      assert.equal(await authFiles(), before);
    } finally {
      for (const l of [good, bad]) await driver.teardown(leaseIdOf(l)).catch(() => {});
      await runPodman({}, ["rmi", "-f", reg.image]);
      await reg.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);

t("ensureBusyboxImage builds a working image from busybox-static once (idempotent)", async () => {
  const image = `localhost/cirrus-test-busybox:${RUN}`;
  try {
    assert.is(await ensureBusyboxImage({ image }), true);
    assert.is(await ensureBusyboxImage({ image }), false);
    const r = await runPodman({}, [
      "run",
      "--rm",
      image,
      "sh",
      "-c",
      "echo $PATH; wget --help 2>&1 | head -1",
    ]);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\/bin\n/);
  } finally {
    await runPodman({}, ["rmi", "-f", image]);
  }
});

test.run();
