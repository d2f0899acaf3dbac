/**
 * Several hosts on one machine for fault tests: a bridge in the host namespace and N network namespaces,
 * each joined to the bridge by a veth pair, with addresses from a random /24 inside 198.18.0.0/15 (the
 * range set aside for benchmarking networks; nothing else is ever addressed). A link can be cut
 * (`ip link set DEV down`), healed, or slowed with `tc ... netem`. Needs root and iproute2;
 * {@link netnsAvailable} says whether they work here by creating and deleting a probe namespace.
 *
 * Host `i` (0-based) has the address `198.18.X.(i+1)` (or 198.19.X...); the bridge has `.254`, so the
 * test process reaches every host directly. `cleanup()` deletes everything it made and is idempotent.
 * @module
 */

/**
 * A userspace stand-in for netem, for kernels built without `sch_netem`: it takes the packets of an
 * NFQUEUE (netlink, no library needed) and accepts each after delay +- jitter (uniform), or drops it
 * with probability `loss`. Args: queue number, delay ms, jitter ms, loss (0..1). Prints "ready".
 */
const DELAYER_PY = String
  .raw`# Userspace netem stand-in: takes packets from an NFQUEUE and accepts each after delay +- jitter
# (uniform), or drops it with probability loss. Runs until SIGTERM or stdin closes.
import heapq, os, random, select, signal, socket, struct, sys, time
qnum, delay, jitter, loss = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
NFNL_SUBSYS_QUEUE = 3
MSG_PACKET, MSG_VERDICT, MSG_CONFIG = 0, 1, 2
NLM_F_REQUEST, NLM_F_ACK = 1, 4
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)  # NETLINK_NETFILTER
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind((0, 0))
seq = 0
def attr(t, payload):
    n = 4 + len(payload)
    return struct.pack("=HH", n, t) + payload + b"\0" * ((4 - n % 4) % 4)
def send(msg_type, attrs, flags=NLM_F_REQUEST):
    global seq
    seq += 1
    body = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(qnum)) + b"".join(attrs)
    s.send(struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg_type, flags, seq, 0) + body)
# bind to the queue, copy metadata only (the verdict needs the packet id)
send(MSG_CONFIG, [attr(1, struct.pack("!BBH", 1, 0, 0))], NLM_F_REQUEST | NLM_F_ACK)
send(MSG_CONFIG, [attr(2, struct.pack("!IB", 0, 1))], NLM_F_REQUEST | NLM_F_ACK)
running = True
def stop(*_):
    global running
    running = False
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
pending = []
sys.stdout.write("ready\n"); sys.stdout.flush()
while running:
    now = time.monotonic()
    while pending and pending[0][0] <= now:
        _, pid = heapq.heappop(pending)
        send(MSG_VERDICT, [attr(2, struct.pack("!II", 1, pid))])  # NF_ACCEPT
    timeout = max(0.0, pending[0][0] - now) if pending else 0.5
    try:
        r, _, _ = select.select([s], [], [], timeout)
    except InterruptedError:
        continue
    if not r:
        continue
    data = s.recv(1 << 20)
    off = 0
    while off + 16 <= len(data):
        ln, typ, _flags, _seq, _pid = struct.unpack_from("=IHHII", data, off)
        if ln < 16:
            break
        if typ == 2:  # NLMSG_ERROR (acks): a non-zero error is fatal
            err = struct.unpack_from("=i", data, off + 16)[0]
            if err != 0:
                sys.stderr.write(f"nfqueue config error {err}\n"); sys.exit(1)
        elif typ == (NFNL_SUBSYS_QUEUE << 8) | MSG_PACKET:
            a = off + 20
            end = off + ln
            while a + 4 <= end:
                alen, atype = struct.unpack_from("=HH", data, a)
                if alen < 4:
                    break
                if (atype & 0x7fff) == 1:  # NFQA_PACKET_HDR
                    pid = struct.unpack_from("!I", data, a + 4)[0]
                    if random.random() < loss:
                        send(MSG_VERDICT, [attr(2, struct.pack("!II", 0, pid))])  # NF_DROP
                    else:
                        d = max(0.0, delay + random.uniform(-jitter, jitter)) / 1000.0
                        heapq.heappush(pending, (time.monotonic() + d, pid))
                    break
                a += (alen + 3) & ~3
        off += (ln + 3) & ~3
# let what is held through before leaving
for _, pid in pending:
    send(MSG_VERDICT, [attr(2, struct.pack("!II", 1, pid))])
`;

/** The result of one `ip` / `tc` command. */
export interface CmdResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a command; never throws for a non-zero exit (the caller decides). */
export async function run(cmd: string, args: string[]): Promise<CmdResult> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped", stdin: "null" })
      .output();
    return {
      code: out.code,
      stdout: new TextDecoder().decode(out.stdout),
      stderr: new TextDecoder().decode(out.stderr),
    };
  } catch (e) {
    return { code: 127, stdout: "", stderr: (e as Error).message };
  }
}

async function must(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (exit ${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

function randomTag(): string {
  const b = crypto.getRandomValues(new Uint8Array(2));
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

/** Whether network namespaces can be made here: creates and deletes a probe namespace. */
export async function netnsAvailable(): Promise<{ ok: true } | { ok: false; reason: string }> {
  const name = `cirrus-probe-${randomTag()}`;
  const add = await run("ip", ["netns", "add", name]);
  if (add.code !== 0) {
    return { ok: false, reason: `\`ip netns add\` failed: ${add.stderr.trim() || `exit ${add.code}`}` };
  }
  const del = await run("ip", ["netns", "del", name]);
  if (del.code !== 0) return { ok: false, reason: `\`ip netns del\` failed: ${del.stderr.trim()}` };
  const tc = await run("tc", ["-V"]);
  if (tc.code !== 0) return { ok: false, reason: `tc is not usable: ${tc.stderr.trim()}` };
  return { ok: true };
}

/** One host of a {@link Lab}. */
export interface LabHost {
  /** The namespace name, `cirrus-<tag>-<i>`. */
  ns: string;
  /** The host-side end of the veth pair (on the bridge). */
  hostVeth: string;
  /** The end inside the namespace. */
  nsVeth: string;
  /** This host's address, e.g. 198.18.37.1. */
  ip: string;
}

/** N namespaces on one bridge. */
export interface Lab {
  tag: string;
  bridge: string;
  /** e.g. "198.18.37" (the /24's first three octets). */
  prefix: string;
  /** The bridge's address (the test process's address on the lab network). */
  bridgeIp: string;
  hosts: LabHost[];
  /** Take host i's link down (host-side veth): nothing reaches it, nothing leaves it. */
  cut(i: number): Promise<void>;
  /** Bring host i's link back up. */
  heal(i: number): Promise<void>;
  /**
   * Shape the traffic towards host i, e.g. `"delay 50ms 10ms loss 1%"`: with `tc qdisc replace ... netem`
   * on the host-side veth, or, where the kernel has no netem, with an NFQUEUE delayer inside the
   * namespace (same delay, jitter and loss on every packet host i receives). Returns which was used.
   */
  netem(i: number, spec: string): Promise<"netem" | "nfqueue">;
  /** Remove the shaping of host i's link. */
  clearNetem(i: number): Promise<void>;
  /** argv prefix that runs a command inside host i's namespace. */
  execPrefix(i: number): string[];
  /** Run a command inside host i's namespace. */
  exec(i: number, cmd: string, args: string[]): Promise<CmdResult>;
  /** Delete the namespaces, veths and the bridge; idempotent, never throws. */
  cleanup(): Promise<void>;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. Never throws. */
export async function stopProcess(child: Deno.ChildProcess, graceMs = 5_000): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch { /* already gone */ }
  const t = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, graceMs);
  await child.status.catch(() => {});
  clearTimeout(t);
}

/** `delay 50ms [10ms] loss 1%` -> numbers (other netem words are refused). */
export function parseNetem(spec: string): { delayMs: number; jitterMs: number; loss: number } {
  const out = { delayMs: 0, jitterMs: 0, loss: 0 };
  const w = spec.trim().split(/\s+/);
  const ms = (s: string | undefined) => {
    const m = /^(\d+(?:\.\d+)?)(ms|s|us)?$/.exec(s ?? "");
    if (!m) return null;
    const v = Number(m[1]);
    return m[2] === "s" ? v * 1000 : m[2] === "us" ? v / 1000 : v;
  };
  for (let k = 0; k < w.length; k++) {
    if (w[k] === "delay") {
      const d = ms(w[k + 1]);
      if (d === null) throw new Error(`netem spec "${spec}": delay needs a time`);
      out.delayMs = d;
      k++;
      const j = ms(w[k + 1]);
      if (j !== null) {
        out.jitterMs = j;
        k++;
      }
    } else if (w[k] === "loss") {
      const m = /^(\d+(?:\.\d+)?)%$/.exec(w[k + 1] ?? "");
      if (!m) throw new Error(`netem spec "${spec}": loss needs a percentage`);
      out.loss = Number(m[1]) / 100;
      k++;
    } else {
      throw new Error(`netem spec "${spec}": only "delay T [J]" and "loss P%" are supported here`);
    }
  }
  return out;
}

/** A /24 inside 198.18.0.0/15 that no address or route on this machine uses. */
async function freePrefix(): Promise<string> {
  const used = (await run("ip", ["-4", "addr"])).stdout + (await run("ip", ["-4", "route"])).stdout;
  for (let attempt = 0; attempt < 64; attempt++) {
    const [a, b] = crypto.getRandomValues(new Uint8Array(2));
    const prefix = `198.${18 + (a! & 1)}.${b}`;
    if (!used.includes(`${prefix}.`)) return prefix;
  }
  throw new Error("no free /24 found in 198.18.0.0/15");
}

/** Create `n` namespaces on a fresh bridge. On any failure, what was made is deleted and the error thrown. */
export async function createLab(n: number): Promise<Lab> {
  if (n < 1 || n > 200) throw new Error(`createLab: n must be 1..200, got ${n}`);
  const tag = randomTag();
  const bridge = `cirrusbr${tag}`;
  const prefix = await freePrefix();
  const bridgeIp = `${prefix}.254`;
  const hosts: LabHost[] = Array.from({ length: n }, (_, i) => ({
    ns: `cirrus-${tag}-${i}`,
    hostVeth: `cr${tag}h${i}`,
    nsVeth: `cr${tag}n${i}`,
    ip: `${prefix}.${i + 1}`,
  }));
  let pyFile = "";
  const delayers = new Map<number, Deno.ChildProcess>();
  const stopDelayer = async (i: number) => {
    const child = delayers.get(i);
    if (!child) return;
    delayers.delete(i);
    await stopProcess(child);
  };
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    for (const i of [...delayers.keys()]) await stopDelayer(i);
    if (pyFile) await Deno.remove(pyFile).catch(() => {});
    for (const h of hosts) {
      // Deleting the namespace deletes the veth end in it, and with it the pair.
      await run("ip", ["netns", "del", h.ns]);
      await run("ip", ["link", "del", h.hostVeth]);
    }
    await run("ip", ["link", "del", bridge]);
  };
  const hostAt = (i: number) => {
    const h = hosts[i];
    if (!h) throw new Error(`no host ${i} (have ${hosts.length})`);
    return h;
  };
  const execPrefix = (i: number) => ["ip", "netns", "exec", hostAt(i).ns];
  try {
    await must("ip", ["link", "add", bridge, "type", "bridge"]);
    await must("ip", ["addr", "add", `${bridgeIp}/24`, "dev", bridge]);
    await must("ip", ["link", "set", bridge, "up"]);
    for (const h of hosts) {
      await must("ip", ["netns", "add", h.ns]);
      await must("ip", ["link", "add", h.hostVeth, "type", "veth", "peer", "name", h.nsVeth]);
      await must("ip", ["link", "set", h.nsVeth, "netns", h.ns]);
      await must("ip", ["link", "set", h.hostVeth, "master", bridge]);
      await must("ip", ["link", "set", h.hostVeth, "up"]);
      await must("ip", ["-n", h.ns, "link", "set", "lo", "up"]);
      await must("ip", ["-n", h.ns, "addr", "add", `${h.ip}/24`, "dev", h.nsVeth]);
      await must("ip", ["-n", h.ns, "link", "set", h.nsVeth, "up"]);
    }
  } catch (e) {
    await cleanup();
    throw e;
  }
  return {
    tag,
    bridge,
    prefix,
    bridgeIp,
    hosts,
    async cut(i) {
      await must("ip", ["link", "set", hostAt(i).hostVeth, "down"]);
    },
    async heal(i) {
      await must("ip", ["link", "set", hostAt(i).hostVeth, "up"]);
    },
    async netem(i, spec) {
      const h = hostAt(i);
      const words = spec.trim().split(/\s+/);
      const r = await run("tc", ["qdisc", "replace", "dev", h.hostVeth, "root", "netem", ...words]);
      if (r.code === 0) return "netem";
      if (!/unknown/i.test(r.stderr)) {
        throw new Error(`tc qdisc replace dev ${h.hostVeth} root netem ${spec}: ${r.stderr.trim()}`);
      }
      // No sch_netem in this kernel: the NFQUEUE delayer in the namespace.
      const p = parseNetem(spec);
      await stopDelayer(i);
      if (!pyFile) {
        pyFile = await Deno.makeTempFile({ prefix: `cirrus-delayer-${tag}-`, suffix: ".py" });
        await Deno.writeTextFile(pyFile, DELAYER_PY);
      }
      const child = new Deno.Command("ip", {
        args: [
          ...execPrefix(i).slice(1),
          "python3",
          pyFile,
          "0",
          String(p.delayMs),
          String(p.jitterMs),
          String(p.loss),
        ],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      delayers.set(i, child);
      const reader = child.stdout.getReader();
      const first = await Promise.race([
        reader.read().then((c) => new TextDecoder().decode(c.value ?? new Uint8Array())),
        new Promise<string>((res) => setTimeout(() => res("timeout"), 10_000)),
      ]);
      reader.releaseLock();
      if (!first.startsWith("ready")) {
        await stopDelayer(i);
        throw new Error(`the NFQUEUE delayer in ${h.ns} did not start (${first.trim() || "no output"})`);
      }
      void child.stdout.cancel().catch(() => {});
      void child.stderr.cancel().catch(() => {});
      // --queue-bypass: should the delayer die, packets pass instead of being dropped.
      await run("ip", [
        ...execPrefix(i).slice(1),
        "iptables",
        "-D",
        "INPUT",
        "-i",
        h.nsVeth,
        "-j",
        "NFQUEUE",
        "--queue-num",
        "0",
        "--queue-bypass",
      ]);
      await must("ip", [
        ...execPrefix(i).slice(1),
        "iptables",
        "-A",
        "INPUT",
        "-i",
        h.nsVeth,
        "-j",
        "NFQUEUE",
        "--queue-num",
        "0",
        "--queue-bypass",
      ]);
      return "nfqueue";
    },
    async clearNetem(i) {
      const h = hostAt(i);
      // An error when there is none: fine.
      await run("tc", ["qdisc", "del", "dev", h.hostVeth, "root"]);
      await run("ip", [
        ...execPrefix(i).slice(1),
        "iptables",
        "-D",
        "INPUT",
        "-i",
        h.nsVeth,
        "-j",
        "NFQUEUE",
        "--queue-num",
        "0",
        "--queue-bypass",
      ]);
      await stopDelayer(i);
    },
    execPrefix,
    exec(i, cmd, args) {
      return run("ip", [...execPrefix(i).slice(1), cmd, ...args]);
    },
    cleanup,
  };
}

/** Names of namespaces and links on this machine that a lab with `tag` made (for leak checks). */
export async function leftovers(tag: string): Promise<string[]> {
  const ns = (await run("ip", ["netns", "list"])).stdout;
  const links = (await run("ip", ["-br", "link"])).stdout;
  return [...ns.split("\n"), ...links.split("\n")]
    .map((l) => l.trim().split(/[\s@]/)[0] ?? "")
    .filter((name) => name.includes(tag));
}
