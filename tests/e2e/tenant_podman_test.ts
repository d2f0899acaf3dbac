/**
 * End to end with real processes and real containers, what lasts for a tenant: a devnet (4
 * validators, 2 provider nodes with the podman driver); a persistent volume (examples/persistent.yaml,
 * class beta3) keeps a file across a container restart and goes with the lease; `lease logs --follow`
 * cut by a provider restart (the libp2p stream drops for real) resumes with every line once.
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
  test.skip("persistent storage and logs that last with podman", () => {});
} else {
  let fx: PodmanDevnet | null = null;
  test.before(async () => {
    fx = await startPodmanDevnet("cirrus-tenant-e2e-");
  });
  test.after(async () => {
    await fx?.stop();
  });

  test("persistent storage keeps a file across a container restart; logs --follow survives a provider restart", async () => {
    const net = fx!.net();
    const dir = fx!.dir;
    const info = net.info;
    const common = ["--home", info.home, "--node", info.nodes[0]!.rpc];
    const providerProc = info.nodes.length;
    const create = async (file: string) => {
      const c = await cli(
        "deployment",
        "create",
        file,
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
      assert.is(c.code, 0, c.stderr);
      return JSON.parse(c.stdout);
    };
    const shell = (lease: string, ...command: string[]) =>
      cli("lease", "shell", lease, "--from", "alice", ...common, "--", ...command);

    // persistent storage (beta3): a file written through `lease shell` survives a container restart
    const p = await create(join(root, "examples", "persistent.yaml"));
    const uri = p.services[0].uris[0];
    const starts = async () => (await (await fetch(uri)).text()).trim().split("\n").length;
    assert.is(await starts(), 1);
    const put = await shell(p.lease.id, "sh", "-c", "echo kept > /data/note.txt");
    assert.is(put.code, 0, put.stderr);
    const ns = leaseNamespace(p.lease.id);
    // the container exits and its restart policy starts it again (as after a crash)
    assert.is((await shell(p.lease.id, "touch", "/tmp/restart")).code, 0);
    let n = 0;
    for (let i = 0; i < 100 && n < 2; i++) {
      n = await starts().catch(() => 0);
      if (n < 2) await new Promise((r) => setTimeout(r, 200));
    }
    assert.is(n, 2, "the container started a second time");
    const got = await shell(p.lease.id, "cat", "/data/note.txt");
    assert.is(got.stdout, "kept\n", got.stderr);
    const volumes = async () =>
      (await runPodman({}, ["volume", "ls", "-q", "--filter", `label=cirrus.network/namespace=${ns}`])).stdout
        .trim();
    assert.ok((await volumes()).length > 0, "the lease has its volume");
    assert.is((await cli("deployment", "close", String(p.dseq), "--from", "alice", ...common)).code, 0);
    let left = "x";
    for (let i = 0; i < 100 && left !== ""; i++) {
      await new Promise((r) => setTimeout(r, 200));
      left = await volumes();
    }
    assert.is(left, "", "the volume is removed with the lease");

    // logs that last: a follow cut by a provider restart resumes with no line lost or repeated
    const counter = join(dir, "counter.yaml");
    await Deno.writeTextFile(
      counter,
      (await Deno.readTextFile(join(root, "examples", "hello.yaml"))).replace(
        /args:\n\s+- .*\n/,
        "args:\n      - i=0; while [ $i -lt 60 ]; do i=$((i+1)); echo n$i; sleep 0.25; done; exec sleep 100000\n",
      ),
    );
    const c = await create(counter);
    const follow = new Deno.Command(join(root, "cirrus"), {
      args: ["lease", "logs", c.lease.id, "--follow", "--from", "alice", ...common],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const lines: string[] = [];
    const reader = follow.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const errText = new Response(follow.stderr).text();
    let buf = "";
    let restarted = false;
    const deadline = Date.now() + 180_000;
    try {
      while (!lines.includes("n60") && Date.now() < deadline) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        const parts = buf.split("\n");
        buf = parts.pop()!;
        lines.push(...parts);
        if (!restarted && lines.includes("n8")) {
          restarted = true;
          await net.restart(providerProc); // the libp2p stream drops for real
        }
      }
    } finally {
      try {
        follow.kill("SIGINT");
      } catch { /* ended */ }
      await reader.cancel().catch(() => {});
      await follow.status;
    }
    const stderr = await errText;
    assert.ok(restarted, `never saw n8: ${JSON.stringify(lines)} ${stderr}`);
    assert.equal(lines, Array.from({ length: 60 }, (_, i) => `n${i + 1}`), stderr);
    assert.match(stderr, /log stream dropped: .*reconnecting in/);
    assert.is((await cli("deployment", "close", String(c.dseq), "--from", "alice", ...common)).code, 0);
  });
}

test.run();
