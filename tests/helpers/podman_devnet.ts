/**
 * The devnet the Podman end-to-end tests share: 4 validators and 2 provider nodes with the podman
 * driver, started in `test.before`, stopped in `test.after` with every pod, volume and provider store it
 * left behind removed (also after a failed run).
 */
import { join } from "node:path";
import { type Devnet, startDevnet } from "../../cli/devnet.ts";
import { runPodman } from "../../provider/cluster/podman.ts";

/** A started (or failed) devnet for one test file. */
export interface PodmanDevnet {
  /** The devnet; throws the start error when it did not start (uvu hides a failing `before`'s error). */
  net(): Devnet;
  /** The temp dir the devnet lives in (tests may write their SDL files there). */
  readonly dir: string;
  /** Stops the devnet and removes what its providers left (pods, volumes, stores) and the dir. */
  stop(): Promise<void>;
}

/** Starts the devnet in a new temp dir named `prefix...`; never throws (see {@link PodmanDevnet.net}). */
export async function startPodmanDevnet(prefix: string): Promise<PodmanDevnet> {
  const dir = await Deno.makeTempDir({ prefix });
  const basePort = 30000 + Math.floor(Math.random() * 300) * 100;
  let startError: unknown = null;
  const net = await startDevnet({
    validators: 4,
    dir,
    accounts: 0,
    providers: 2,
    driver: "podman",
    basePort,
    quiet: true,
    // Both providers bid on their own when they see the order; on a loaded machine one of them can
    // take over a second, so the window (~3 s) is long enough for both bids to land in it.
    marketParams: { bidWindowBlocks: 30 },
  }).catch((e) => {
    startError = e;
    return null;
  });
  return {
    dir,
    net() {
      if (!net) throw new Error(`the devnet did not start: ${(startError as Error)?.message ?? startError}`);
      return net;
    },
    async stop() {
      await net?.stop();
      // Leftover pods and volumes of this devnet's providers (a failed run): remove them by label.
      for (const p of net?.info.providers ?? []) {
        const label = `label=cirrus.network/provider=${p.address}`;
        const lines = async (args: string[]) =>
          (await runPodman({}, args)).stdout.split("\n").filter(Boolean);
        const pods = await lines(["pod", "ps", "-q", "--filter", label]);
        if (pods.length > 0) await runPodman({}, ["pod", "rm", "-f", ...pods]);
        const vols = await lines(["volume", "ls", "-q", "--filter", label]);
        if (vols.length > 0) await runPodman({}, ["volume", "rm", "-f", ...vols]);
        // The provider's own store of its leases.
        if (p.home) await Deno.remove(join(p.home, "provider"), { recursive: true }).catch(() => {});
      }
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
