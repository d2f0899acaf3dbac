/**
 * End to end with real processes and real containers: a devnet (4 validators, 2 provider nodes with
 * the podman driver); the tenant deploys examples/hello.yaml with the CLI; the container answers HTTP
 * 200; logs reach the tenant; another key is forbidden; `lease shell -- echo hi` prints hi (bob: forbidden);
 * `deployment screen` lists each provider with a price or its reason (beta3 storage: bids; beta1: the
 * reason); `lease shell` without a command feeds piped stdin to sh; lease close removes the pod and
 * settles escrow. Persistent storage and logs that last: tenant_podman_test.ts.
 * Without podman on the machine the tests are reported as skipped, with the reason.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { cli, root } from "../helpers/cli.ts";
import { type PodmanDevnet, startPodmanDevnet } from "../helpers/podman_devnet.ts";
import { podmanAvailable, runPodman } from "../../provider/cluster/podman.ts";
import { leaseNamespace } from "../../provider/cluster/objects.ts";

const podman = await podmanAvailable();

if (!podman.ok) {
  console.log(
    `SKIP provider e2e: podman is not usable here (${podman.reason}); run scripts/install-podman.sh`,
  );
  test.skip("deploy hello with podman: HTTP 200, logs, forbidden, close removes the pod", () => {});
} else {
  let fx: PodmanDevnet | null = null;
  test.before(async () => {
    fx = await startPodmanDevnet("cirrus-provider-e2e-");
  });
  test.after(async () => {
    await fx?.stop();
  });

  test("deploy hello with podman: HTTP 200, logs, forbidden, close removes the pod", async () => {
    const net = fx!.net();
    const dir = fx!.dir;
    const info = net.info;
    const common = ["--home", info.home, "--node", info.nodes[0]!.rpc];
    const created = await cli(
      "deployment",
      "create",
      "examples/hello.yaml",
      "--deposit",
      "5000000",
      "--from",
      "alice",
      "--wait",
      "--timeout",
      "240",
      "--output",
      "json",
      ...common,
    );
    assert.is(created.code, 0, created.stderr);
    const r = JSON.parse(created.stdout);
    assert.type(r.dseq, "number");
    assert.match(r.lease.id, /^cirrus1\w+\/\d+\/1\/1\/cirrus1\w+$/);
    assert.is(r.lease.provider, info.providers[0]!.address, "provider1 (the cheaper) won");
    // --wait asked every provider first (both would bid) and says how long the deposit lasts.
    assert.equal(
      r.screening.groups[0].providers.map((p: { bid: boolean }) => p.bid),
      [true, true],
      JSON.stringify(r.screening),
    );
    assert.ok(
      r.runway.blocks > 0 && r.runway.msPerBlock > 0 && r.runway.seconds > 0,
      JSON.stringify(r.runway),
    );
    const uri = r.services[0].uris[0];
    assert.match(uri, /^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(uri);
    assert.is(res.status, 200);
    assert.match(await res.text(), /hello from cirrus/);

    const status = JSON.parse(
      (await cli("lease", "status", r.lease.id, "--from", "alice", "--output", "json", ...common)).stdout,
    );
    assert.equal(
      status.services.map((s: { name: string; ready: number; total: number }) => [s.name, s.ready, s.total]),
      [["web", 1, 1]],
    );
    assert.equal(status.services[0].uris, [uri]);

    const logs = await cli("lease", "logs", r.lease.id, "--from", "alice", ...common);
    assert.is(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /hello from cirrus, serving/);

    const forbidden = await cli("lease", "status", r.lease.id, "--from", "bob", ...common);
    assert.is(forbidden.code, 1);
    assert.match(forbidden.stderr, /forbidden/);

    // lease shell: the owner's command runs in the container, its exit code comes back; bob is forbidden.
    const hi = await cli("lease", "shell", r.lease.id, "--from", "alice", ...common, "--", "echo", "hi");
    assert.is(hi.code, 0, hi.stderr);
    assert.is(hi.stdout, "hi\n");
    const three = await cli(
      "lease",
      "shell",
      r.lease.id,
      "--from",
      "alice",
      ...common,
      "--",
      "sh",
      "-c",
      "exit 3",
    );
    assert.is(three.code, 3, three.stderr);
    // no command: an interactive shell; piped stdin goes to sh, its exit code comes back
    const piped = new Deno.Command(join(root, "cirrus"), {
      args: ["lease", "shell", r.lease.id, "--from", "alice", ...common],
      cwd: root,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const w = piped.stdin.getWriter();
    await w.write(new TextEncoder().encode("echo hi; exit 3\n"));
    await w.close();
    const pipedOut = await piped.output();
    assert.is(pipedOut.code, 3, new TextDecoder().decode(pipedOut.stderr));
    assert.is(new TextDecoder().decode(pipedOut.stdout), "hi\n");
    const bobShell = await cli("lease", "shell", r.lease.id, "--from", "bob", ...common, "--", "echo", "hi");
    assert.is(bobShell.code, 1);
    assert.match(bobShell.stderr, /forbidden/);

    // deployment screen: every provider answers, with a price or the bid engine's own reason.
    const screened = await cli("deployment", "screen", "examples/hello.yaml", "--output", "json", ...common);
    assert.is(screened.code, 0, screened.stderr);
    const hello = JSON.parse(screened.stdout);
    const addresses = info.providers.map((p) => p.address).sort();
    assert.equal(hello.groups.map((g: { name: string }) => g.name), ["dcloud"]);
    assert.equal(hello.groups[0].providers.map((p: { address: string }) => p.address), addresses);
    for (const p of hello.groups[0].providers) {
      assert.ok(p.bid === true && p.price.denom === "ucrs" && Number(p.price.amount) > 0, JSON.stringify(p));
    }
    // devnet providers offer default, beta2 and beta3: a beta3 volume gets bids; beta1 is declined with the reason
    const withClass = async (cls: string) => {
      const file = join(dir, `${cls}.yaml`);
      await Deno.writeTextFile(
        file,
        (await Deno.readTextFile(join(root, "examples", "hello.yaml")))
          .replace("    expose:", "    params:\n      storage:\n        data: {mount: /data}\n    expose:")
          .replace(
            "        storage:\n          size: 128Mi",
            `        storage:\n          - size: 128Mi\n          - {name: data, size: 1Gi, attributes: {persistent: true, class: ${cls}}}`,
          ),
      );
      return file;
    };
    const beta3 = JSON.parse(
      (await cli("deployment", "screen", await withClass("beta3"), "--output", "json", ...common)).stdout,
    );
    assert.equal(beta3.groups[0].providers.map((p: { address: string }) => p.address), addresses);
    for (const p of beta3.groups[0].providers) assert.is(p.bid, true, JSON.stringify(p));
    const beta1 = await withClass("beta1");
    const declined = JSON.parse(
      (await cli("deployment", "screen", beta1, "--output", "json", ...common)).stdout,
    );
    assert.equal(declined.groups[0].providers.map((p: { address: string }) => p.address), addresses);
    for (const p of declined.groups[0].providers) {
      assert.is(p.bid, false);
      assert.match(p.reasons[0], /storage class beta1 not offered \(offered: default, beta2, beta3\)/);
    }
    const screenText = await cli("deployment", "screen", beta1, ...common);
    assert.match(screenText.stdout, /group dcloud: 0 of 2 providers would bid/);

    const ns = (await runPodman({}, ["pod", "ps", "--format", "{{.Name}}"], 30_000)).stdout;
    assert.ok(ns.trim().length > 0, "a pod runs");

    // deployment update + send-manifest rolls the workload to the new version.
    const v2 = join(dir, "hello-v2.yaml");
    await Deno.writeTextFile(
      v2,
      (await Deno.readTextFile(join(root, "examples", "hello.yaml"))).replace(
        "echo hello from cirrus >",
        "echo hello v2 >",
      ),
    );
    const upd = await cli("deployment", "update", String(r.dseq), v2, "--from", "alice", ...common);
    assert.is(upd.code, 0, upd.stderr);
    const sent = await cli("lease", "send-manifest", String(r.dseq), v2, "--from", "alice", ...common);
    assert.is(sent.code, 0, sent.stderr);
    const body = async () => await fetch(uri).then((x) => x.text()).catch(() => "");
    let text = "";
    for (let i = 0; i < 100 && !text.includes("hello v2"); i++) {
      text = await body();
      if (!text.includes("hello v2")) await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(text, /hello v2/, "the new version serves on the same URL");
    // The old manifest is refused now (its hash is no longer the chain's).
    const old = await cli(
      "lease",
      "send-manifest",
      String(r.dseq),
      "examples/hello.yaml",
      "--from",
      "alice",
      ...common,
    );
    assert.is(old.code, 1);
    assert.match(old.stderr, /differs from/);

    // The provider restarts after its pod was lost: reconcile redeploys it from the stored manifest.
    const providerProc = info.nodes.length; // provider1 is the first process after the validators
    await net.kill(providerProc, "SIGKILL");
    // Remove only this lease's pods (by their namespace label), as a crash or an operator might.
    const pods = (await runPodman({}, [
      "pod",
      "ps",
      "-q",
      "--filter",
      `label=cirrus.network/namespace=${leaseNamespace(r.lease.id)}`,
    ], 30_000)).stdout.trim().split(/\s+/).filter(Boolean);
    assert.ok(pods.length > 0, "found the lease's pod");
    await runPodman({}, ["pod", "rm", "-f", ...pods], 60_000);
    assert.is(await body(), "", "the workload is gone");
    await net.respawn(providerProc);
    text = "";
    for (let i = 0; i < 300 && !text.includes("hello v2"); i++) {
      text = await body();
      if (!text.includes("hello v2")) await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(text, /hello v2/, "reconcile redeployed the active lease's workload");
    const open = JSON.parse(
      (await cli("query", "escrow", String(r.dseq), "--from", "alice", "--output", "json", ...common)).stdout,
    );
    assert.is(open.runway.blocks, open.blocksRemaining);
    assert.ok(open.runway.msPerBlock > 0 && open.runway.seconds > 0, JSON.stringify(open.runway));
    const statusText = await cli("deployment", "status", String(r.dseq), "--from", "alice", ...common);
    assert.match(statusText.stdout, /blocks left \(~[\dhmsd ]+ at \d+\.\d s\/block\)/);
    const closed = await cli("lease", "close", r.lease.id, "--from", "alice", ...common);
    assert.is(closed.code, 0, closed.stderr);
    let gone = false;
    for (let i = 0; i < 100 && !gone; i++) {
      await new Promise((r) => setTimeout(r, 100));
      gone = !(await fetch(uri).then((x) => x.body?.cancel().then(() => true)).catch(() => false));
    }
    assert.ok(gone, "the container stopped answering after lease close");
    const escrow = JSON.parse(
      (await cli("query", "escrow", String(r.dseq), "--from", "alice", "--output", "json", ...common)).stdout,
    );
    assert.is.not(escrow.state, "open", "escrow settled and closed");
    const lease = JSON.parse(
      (await cli("query", "leases", "--owner", info.accounts.alice!, "--output", "json", ...common)).stdout,
    );
    assert.is(lease.leases[0].state, "closed");
    assert.is(lease.leases[0].closeReason, "tenant_closed");

    // An image that does not exist: --wait says the lease is still billed and how to close it; the
    // provider closes it (workload_failed) after the devnet's grace window; the escrow stops paying.
    const nope = join(dir, "nope.yaml");
    await Deno.writeTextFile(
      nope,
      (await Deno.readTextFile(join(root, "examples", "hello.yaml"))).replace(
        "image: localhost/busybox:latest",
        "image: localhost/nope:latest",
      ),
    );
    const bad = await cli(
      "deployment",
      "create",
      nope,
      "--deposit",
      "5000000",
      "--from",
      "alice",
      "--wait",
      "--timeout",
      "240",
      ...common,
    );
    assert.is(bad.code, 1, bad.stdout);
    assert.match(bad.stderr, /failed: image not found/);
    assert.match(bad.stderr, /is still billed \(.+\/block\) until its provider closes it/);
    assert.match(bad.stderr, /cirrus deployment close \d+/);
    const badDseq = /deployment (\d+) created/.exec(bad.stdout)![1]!;
    let failed: { state: string; closeReason?: string } | undefined;
    for (let i = 0; i < 120 && failed?.closeReason === undefined; i++) {
      await new Promise((r) => setTimeout(r, 500));
      const ls = JSON.parse(
        (await cli("query", "leases", "--owner", info.accounts.alice!, "--output", "json", ...common)).stdout,
      );
      failed = ls.leases.find((x: { dseq: number }) => String(x.dseq) === badDseq);
    }
    assert.equal([failed?.state, failed?.closeReason], ["closed", "workload_failed"]);
    const badEscrow = JSON.parse(
      (await cli("query", "escrow", badDseq, "--from", "alice", "--output", "json", ...common)).stdout,
    );
    assert.is(badEscrow.state, "closed", "the escrow stopped paying and was refunded");
  });
}

test.run();
