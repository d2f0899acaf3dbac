/**
 * `lease shell`: the `shell` op of `/cirrus/lease/1` (tenant-signed, fresh, owner only), its wire
 * checks, and the provider's answer: with the podman driver `echo hi` prints `hi` and exit codes come
 * back; a non-owner is forbidden; a replayed request is refused; a closed lease has nothing to enter;
 * the sim driver says it cannot. The provider runs as cli/provider_role.ts composes it, over a real
 * libp2p host, on a state view that holds its registration and one lease.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { encode } from "cborg";
import { createP2P } from "../../node/p2p.ts";
import { addressOf, publicKeyOf } from "../../lib/crypto.ts";
import { leaseIdOf, parseLeaseId } from "../../lib/ids.ts";
import { parseSdl } from "../../auction/sdl/mod.ts";
import {
  type LeaseRecord,
  marketKeys,
  type MarketView,
  type ProviderRecord,
} from "../../auction/market/mod.ts";
import {
  advertisedAttributes,
  BidEngine,
  capacityFromConfig,
  type ClusterDriver,
  decodeLeaseRequest,
  decodeResponse,
  Inventory,
  leaseNamespace,
  newNonce,
  parseProviderConfig,
  podmanAvailable,
  PodmanDriver,
  ProtocolError,
  runPodman,
  signLeaseRequest,
  SimDriver,
} from "../../provider/mod.ts";
import { type ChainClient, LEASE_PROTOCOL, ProviderService } from "../../provider/service.ts";
import { runInteractiveShell } from "../../cli/lease_shell.ts";

const CHAIN = "cirrus-test";
const seed = (n: number) => new Uint8Array(32).fill(n);
const OWNER_SEED = seed(7);
const OWNER = addressOf(publicKeyOf(OWNER_SEED));
const STRANGER_SEED = seed(9);
const PROVIDER = addressOf(publicKeyOf(seed(11)));
const LEASE = `${OWNER}/${Date.now() % 1_000_000}/1/1/${PROVIDER}`;
const HELLO = await Deno.readTextFile(new URL("../../examples/hello.yaml", import.meta.url));

const CONFIG = `
key: provider
cluster: {driver: sim, hostPorts: [31000, 31099]}
capacity: {cpu: 4, memory: 4Gi, storage: {default: 10Gi}}
attributes: {region: us-west}
pricing: {cpu: "0.01", memory: "0", storage: {default: "0"}}
reservationTimeoutBlocks: 10
`;

type Answer = {
  ok: boolean;
  code?: string;
  error?: string;
  exitCode?: number;
  stdout?: string;
  stderr?: string;
  truncated?: boolean;
};

/** A provider service on its own libp2p host, over a view with its registration and LEASE. */
async function provider(driver: ClusterDriver) {
  const cfg = parseProviderConfig(CONFIG, "/tmp");
  const host = await createP2P({
    transport: "memory",
    listen: [`/memory/p-${crypto.randomUUID()}`],
    topics: [],
  });
  const tenant = await createP2P({
    transport: "memory",
    listen: [`/memory/t-${crypto.randomUUID()}`],
    topics: [],
  });
  const stateDir = await Deno.makeTempDir({ prefix: "cirrus-shell-test-" });
  const m = new Map<string, Uint8Array>();
  const rec: ProviderRecord = {
    hostUri: host.addrs(),
    attributes: advertisedAttributes(cfg).sort((a, b) => a.key.localeCompare(b.key)),
    info: {},
    createdAt: 1,
    updatedAt: 1,
  };
  m.set(marketKeys.provider(PROVIDER), encode(rec));
  const setLease = (state: LeaseRecord["state"]) => {
    const l: LeaseRecord = { state, denom: "ucrs", price: "1000000000000000000", createdAt: 2, paid: "0" };
    if (state !== "active") Object.assign(l, { closedAt: 3, reason: "owner" });
    m.set(marketKeys.lease(parseLeaseId(LEASE)!), encode(l));
  };
  setLease("active");
  const view: MarketView = {
    get: (k) => m.get(k),
    keys: (prefix) => [...m.keys()].filter((k) => k.startsWith(prefix)).sort(),
    height: 5,
  };
  const chain: ChainClient = {
    chainId: CHAIN,
    view: () => view,
    height: () => 5,
    onCommit: () => () => {},
    submit: () => Promise.resolve({ ok: false, error: "not in this test" }),
    addrs: () => host.addrs(),
    handle: (p, h) => host.handle(p, h),
    handleStream: (p, h) => host.handleStream(p, h),
  };
  const service = new ProviderService(
    { chain, driver, config: cfg, address: PROVIDER, stateDir },
    new BidEngine(cfg, new Inventory(capacityFromConfig(cfg))),
  );
  await service.start();
  await tenant.dial(host.addrs()[0]!);
  const send = async (bytes: Uint8Array): Promise<Answer> =>
    decodeResponse(await tenant.request(host.peerId, LEASE_PROTOCOL, bytes, { timeoutMs: 40_000 })) as Answer;
  const shell = (command: string[], extra: { service?: string; replica?: number } = {}, key = OWNER_SEED) =>
    signLeaseRequest({
      chainId: CHAIN,
      leaseId: LEASE,
      op: "shell",
      command,
      ...extra,
      timestamp: Date.now(),
      nonce: newNonce(),
    }, key);
  const stop = async () => {
    await service.stop();
    await tenant.stop();
    await host.stop();
    await Deno.remove(stateDir, { recursive: true }).catch(() => {});
  };
  return { send, shell, setLease, stop };
}

test("the shell op on the wire: command required, replica and command only with shell, bounded", async () => {
  const base = { chainId: CHAIN, leaseId: LEASE, timestamp: Date.now(), pubKey: undefined };
  const sign = (r: Record<string, unknown>) =>
    signLeaseRequest(
      { ...base, nonce: newNonce(), ...r } as Parameters<typeof signLeaseRequest>[0],
      OWNER_SEED,
    );
  const ok = decodeLeaseRequest(
    await sign({ op: "shell", command: ["echo", "hi"], service: "web", replica: 1 }),
  );
  assert.equal(ok.request.command, ["echo", "hi"]);
  assert.is(ok.request.replica, 1);
  const refused: [Record<string, unknown>, RegExp][] = [
    [{ op: "shell" }, /command: missing \(op "shell" runs a command\)/],
    [{ op: "shell", command: [] }, /command: must have 1-64 entries/],
    [{ op: "shell", command: [""] }, /command\[0\]: must be 1-2048 characters/],
    [{ op: "shell", command: ["x"], tail: 3 }, /tail: only allowed with op "logs"/],
    [{ op: "logs", replica: 1 }, /replica: only allowed with op "shell"/],
    [{ op: "status", service: "web" }, /service: only allowed with op "logs" or "shell"/],
    [{ op: "shell", command: ["x"], replica: -1 }, /replica: must be an integer/],
    [{ op: "shell_io" }, /session: missing \(op "shell_io" talks to an open session\)/],
    [{ op: "shell_io", session: "ab" }, /session: must be 16 bytes of lower-case hex/],
    [
      { op: "shell_io", session: "0".repeat(32), stdin: "x".repeat(4000) },
      /stdin: must be base64 of at most 2048 bytes/,
    ],
    [{ op: "shell_io", session: "0".repeat(32), command: ["x"] }, /command: only allowed with op "shell"/],
    [{ op: "shell", command: ["sh"], tty: true, cols: 0 }, /cols: must be an integer/],
  ];
  for (const [r, want] of refused) {
    let err: unknown;
    try {
      await sign(r);
    } catch (e) {
      err = e;
    }
    assert.instance(err, ProtocolError, `${JSON.stringify(r)} refused`);
    assert.match((err as Error).message, want);
  }
});

test("the sim driver says lease shell is not supported; a non-owner is forbidden; a replay is refused", async () => {
  const p = await provider(
    new SimDriver({ capacity: { cpu: 4000, memory: 2 ** 32, storage: 2 ** 34, gpu: 0 } }),
  );
  try {
    const r = await p.send(await p.shell(["echo", "hi"]));
    assert.equal([r.ok, r.code, r.error], [
      false,
      "unsupported",
      "lease shell is not supported by the sim driver",
    ]);
    const stranger = await p.send(await p.shell(["echo", "hi"], {}, STRANGER_SEED));
    assert.equal([stranger.ok, stranger.code], [false, "forbidden"]);
    assert.match(stranger.error!, /forbidden: only the deployment's owner may ask/);
    const bytes = await p.shell(["echo", "hi"]);
    await p.send(bytes);
    const again = await p.send(bytes);
    assert.equal([again.ok, again.code], [false, "forbidden"]);
    assert.match(again.error!, /replayed request/);
    p.setLease("closed");
    const closed = await p.send(await p.shell(["echo", "hi"]));
    assert.equal([closed.ok, closed.code], [false, "conflict"]);
    assert.match(closed.error!, /is closed: there is no workload/);
  } finally {
    await p.stop();
  }
});

const avail = await podmanAvailable();
if (!avail.ok) console.log(`SKIP podman lease shell: ${avail.reason}`);

(avail.ok ? test : test.skip)(
  "podman: `echo hi` prints hi, exit codes come back, unknown service/replica are not found, non-owner forbidden",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "cirrus-shell-podman-" });
    const driver = new PodmanDriver({ stateDir: dir });
    const sdl = parseSdl(HELLO);
    if (!sdl.ok) throw new Error(sdl.error);
    const p = await provider(driver);
    try {
      await driver.deploy(parseLeaseId(LEASE)!, sdl.manifest[0]!);
      let hi: Answer = { ok: false };
      for (let i = 0; i < 50 && !(hi.ok && hi.exitCode === 0); i++) {
        hi = await p.send(await p.shell(["echo", "hi"]));
        if (!hi.ok || hi.exitCode !== 0) await new Promise((r) => setTimeout(r, 200));
      }
      assert.equal(hi, { ok: true, exitCode: 0, stdout: "hi\n", stderr: "", truncated: false });
      const three = await p.send(
        await p.shell(["sh", "-c", "echo out; echo err >&2; exit 3"], { service: "web" }),
      );
      assert.equal([three.exitCode, three.stdout, three.stderr], [3, "out\n", "err\n"]);
      const missing = await p.send(await p.shell(["true"], { service: "db" }));
      assert.equal([missing.ok, missing.code], [false, "not_found"]);
      assert.match(missing.error!, /service db in this lease \(services: web\)/);
      const replica = await p.send(await p.shell(["true"], { replica: 3 }));
      assert.match(replica.error!, /replica 3 of service web \(running replicas: 1\)/);
      const stranger = await p.send(await p.shell(["echo", "hi"], {}, STRANGER_SEED));
      assert.equal([stranger.ok, stranger.code], [false, "forbidden"]);

      // interactive: stdin streamed through shell_io requests, output back, the exit code at the end
      const sessions: string[] = [];
      const session = (script: string, tty: boolean) => {
        const out: Uint8Array[] = [];
        const code = runInteractiveShell({
          request: async (op, fields) => {
            const req = await signLeaseRequest({
              chainId: CHAIN,
              leaseId: LEASE,
              op,
              ...fields,
              timestamp: Date.now(),
              nonce: newNonce(),
            }, OWNER_SEED);
            const r = await p.send(req) as unknown as Record<string, unknown>;
            if (!r.ok) throw new Error(`${r.code}: ${r.error}`);
            if (typeof r.session === "string") sessions.push(r.session);
            return r;
          },
          stdin: new Blob([script]).stream(),
          write: (b) => {
            out.push(b);
            return Promise.resolve();
          },
          open: { command: ["sh"], tty, cols: 100, rows: 30 },
        });
        return code.then((c) => ({
          code: c,
          text: new TextDecoder().decode(new Uint8Array(out.flatMap((b) => [...b]))),
        }));
      };
      const piped = await session("echo hi; exit 3\n", false);
      assert.equal(piped, { code: 3, text: "hi\n" });
      const tty = await session("tty; echo $COLUMNS $TERM; exit 4\n", true);
      assert.is(tty.code, 4);
      assert.match(tty.text, /\/dev\/pts\/\d+/);
      assert.match(tty.text, /100 xterm/);
      // a session is its owner's and ends with its process
      const gone = await p.send(
        await signLeaseRequest({
          chainId: CHAIN,
          leaseId: LEASE,
          op: "shell_io",
          session: sessions[0]!,
          timestamp: Date.now(),
          nonce: newNonce(),
        }, OWNER_SEED),
      );
      assert.equal([gone.ok, gone.code], [false, "not_found"]);
      const strangerIo = await p.send(
        await signLeaseRequest({
          chainId: CHAIN,
          leaseId: LEASE,
          op: "shell_io",
          session: sessions[1]!,
          timestamp: Date.now(),
          nonce: newNonce(),
        }, STRANGER_SEED),
      );
      assert.equal([strangerIo.ok, strangerIo.code], [false, "forbidden"]);
    } finally {
      await p.stop();
      await driver.teardown(leaseIdOf(parseLeaseId(LEASE)!)).catch(() => {});
      const left = await runPodman({}, [
        "pod",
        "ps",
        "-q",
        "--filter",
        `label=cirrus.network/namespace=${leaseNamespace(LEASE)}`,
      ]);
      const ids = left.stdout.split("\n").filter(Boolean);
      if (ids.length > 0) await runPodman({}, ["pod", "rm", "-f", "-t", "0", ...ids]);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);

test.run();
