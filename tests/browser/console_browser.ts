/**
 * The web console in a real browser (Debian's Chromium, driven by playwright-core; never a
 * downloaded browser) against a devnet whose node0 serves the console: create a key, import the
 * devnet's keys, deploy examples/hello.yaml, watch the bids and the winner, see the lease, read the
 * logs, run `echo hi` in the shell, close; the explorer's pages load and search works.
 *
 * Run by `npm run test:browser` (scripts/test_browser.ts). Skipped, with the reason, where Chromium
 * is missing; the workload steps (logs, shell) need podman and are skipped without it.
 * `--screenshots DIR` saves the main pages as PNG files (docs/ keeps them for the README).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type Browser, chromium, type Page } from "playwright-core";
import { type Devnet, startDevnet } from "../../cli/devnet.ts";
import { ensureBusyboxImage, podmanAvailable } from "../../provider/cluster/podman.ts";

const CHROMIUM = Deno.env.get("CIRRUS_CHROMIUM") ?? "/usr/bin/chromium";
const shotsAt = Deno.args.indexOf("--screenshots");
const SHOTS_DIR = shotsAt >= 0 ? Deno.args[shotsAt + 1] ?? "docs" : null;
/** Longest wait for any one step (a deploy on a loaded 2-core machine included). */
const STEP_MS = Number(Deno.env.get("CIRRUS_BROWSER_STEP_MS") ?? 90_000);

const chromiumMissing = await Deno.stat(CHROMIUM).then(() => null, () => `${CHROMIUM} is not installed`);
const podman = await podmanAvailable();

async function shot(page: Page, name: string): Promise<void> {
  if (!SHOTS_DIR) return;
  await Deno.mkdir(SHOTS_DIR, { recursive: true });
  await page.screenshot({ path: `${SHOTS_DIR}/console-${name}.png`, fullPage: false });
}

if (chromiumMissing) {
  console.log(`SKIP console browser tests: ${chromiumMissing} (apt-get install -y chromium)`);
  test.skip("the console in Chromium: keys, deploy, auction, lease, logs, shell, close, explorer", () => {});
} else {
  let net: Devnet | null = null;
  let dir = "";
  let browser: Browser | null = null;
  let page: Page;
  let startError: unknown = null;

  test.before(async () => {
    dir = await Deno.makeTempDir({ prefix: "cirrus-console-" });
    try {
      if (podman.ok) await ensureBusyboxImage();
      // A running devnet (`cirrus devnet --dir DIR`) instead of a fresh one: for working on the console.
      const reuse = Deno.env.get("CIRRUS_BROWSER_DEVNET");
      net = reuse
        ? {
          info: JSON.parse(await Deno.readTextFile(`${reuse}/devnet.json`)),
          stop: async () => {},
        } as Devnet
        : await startDevnet({
          validators: 1,
          dir,
          accounts: 0,
          providers: 1,
          driver: podman.ok ? "podman" : "sim",
          basePort: 30000 + Math.floor(Math.random() * 300) * 100,
          quiet: true,
          detach: true,
          console: true,
          marketParams: { bidWindowBlocks: 6 },
          consensusParams: { createEmptyBlocksIntervalMs: 500 },
        });
      browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
      page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      page.setDefaultTimeout(STEP_MS);
      page.on("pageerror", (e) => console.error(`page error: ${e.message}`));
    } catch (e) {
      startError = e;
    }
  });

  test.after(async () => {
    await browser?.close().catch(() => {});
    await net?.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  });

  /** A test whose failure message carries what the page showed. */
  const step = (name: string, fn: () => Promise<void>) =>
    test(name, async () => {
      try {
        await fn();
      } catch (e) {
        const shown = await page?.locator("main").innerText({ timeout: 2_000 }).catch(() => "") ?? "";
        throw new Error(`${(e as Error).message}\n--- the page showed:\n${shown.slice(0, 3000)}`);
      }
    });

  const started = () => {
    if (startError) throw new Error(`setup failed: ${(startError as Error).message ?? startError}`);
    return net!;
  };

  step("devnet.json names the console, which serves the page and the node's RPC", async () => {
    const n = started();
    assert.match(n.info.console ?? "", /^http:\/\/127\.0\.0\.1:\d+$/);
    const info = JSON.parse(
      await Deno.readTextFile(`${Deno.env.get("CIRRUS_BROWSER_DEVNET") ?? dir}/devnet.json`),
    );
    assert.is(info.console, n.info.console);
    await page.goto(n.info.console!);
    await page.getByRole("heading", { name: "Network" }).waitFor();
    await page.locator(".chart").first().waitFor();
    await shot(page, "network");
  });

  step(
    "keys: a new key is created encrypted and unlocked; the devnet's keys import; alice unlocks",
    async () => {
      started();
      await page.getByRole("link", { name: "Keys" }).click();
      await page.getByLabel("Name").fill("tester");
      await page.getByLabel("Passphrase (8+ characters)").fill("tester passphrase");
      await page.getByRole("button", { name: "Save key" }).click();
      await page.getByText("Unlocked: tester").waitFor();
      const stored = await page.evaluate(() => localStorage.getItem("cirrus.vault.v1") ?? "");
      assert.match(stored, /"ciphertext"/);
      assert.not.match(stored, /"seed"/);
      await page.getByLabel("Passphrase (8+ characters)").fill("devnet passphrase");
      await page.getByRole("button", { name: "Import the devnet's keys" }).click();
      await page.getByLabel("alice", { exact: true }).check();
      await page.getByLabel("Passphrase", { exact: true }).fill("wrong passphrase");
      await page.getByRole("button", { name: "Unlock" }).click();
      await page.getByRole("alert").filter({ hasText: "wrong passphrase" }).waitFor();
      await page.getByLabel("Passphrase", { exact: true }).fill("devnet passphrase");
      await page.getByRole("button", { name: "Unlock" }).click();
      await page.getByText("Unlocked: alice").waitFor();
      await shot(page, "keys");
    },
  );

  let dseq = 0;
  step(
    "deploy hello.yaml: SDL errors at their line, screening, live bids, the winner, the manifest sent",
    async () => {
      started();
      await page.getByRole("link", { name: "Deploy", exact: true }).click();
      await page.getByRole("button", { name: /hello\.yaml/ }).click();
      const editor = page.getByLabel("SDL (YAML, Akash SDL 2.0/2.1)");
      await page.getByText(/^Valid: 1 group/).waitFor();
      const good = await editor.inputValue();
      await editor.fill(good.replace("units: 0.1", "units: lots"));
      const line = good.split("\n").findIndex((l) => l.includes("units: 0.1")) + 1;
      await page.getByRole("list", { name: "SDL errors" }).getByText(`line ${line}`).waitFor();
      await editor.fill(good);
      await page.getByRole("button", { name: "Screen providers" }).click();
      await page.getByText(/Group dcloud: 1 of 1 providers would bid/).waitFor();
      await page.getByRole("button", { name: "Create deployment" }).click();
      await page.getByRole("heading", { name: /Auction of deployment \d+/ }).waitFor();
      dseq = Number(
        /deployment (\d+)/.exec(await page.getByRole("heading", { name: /Auction of/ }).innerText())![1],
      );
      await page.locator("tbody.bids tr").first().waitFor();
      await page.getByRole("heading", { name: /Auction of/ }).scrollIntoViewIfNeeded();
      await shot(page, "auction");
      await page.getByText(/^Winner:/).waitFor();
      await page.getByText(/Manifest: sent\./).waitFor();
      await page.getByRole("heading", { name: /Auction of/ }).scrollIntoViewIfNeeded();
      assert.ok(dseq > 0);
      await shot(page, "deploy");
    },
  );

  if (!podman.ok) console.log(`SKIP lease workload steps: podman is not usable here (${podman.reason})`);
  (podman.ok ? step : test.skip)(
    "the lease: status ready, logs followed, `echo hi` in the shell",
    async () => {
      started();
      await page.getByRole("link", { name: "Open the deployment" }).click();
      await page.getByRole("heading", { name: `Deployment ${dseq}` }).waitFor();
      await page.getByRole("cell", { name: "1/1" }).waitFor();
      await page.getByRole("tab", { name: "logs" }).click();
      await page.getByLabel("Logs").getByText(/hello from cirrus/).first().waitFor();
      await shot(page, "lease-logs");
      await page.getByRole("tab", { name: "shell" }).click();
      const term = page.getByRole("region", { name: "Shell terminal" });
      await term.click();
      await page.keyboard.type("echo hi");
      await page.keyboard.press("Enter");
      await term.locator(".xterm-rows").getByText(/^hi\s*$/).waitFor();
      await shot(page, "shell");
    },
  );

  step("update: a new SDL goes on chain and its manifest to the provider", async () => {
    started();
    await page.goto(`${net!.info.console}/#/deployments/${dseq}`);
    await page.getByRole("button", { name: "Update deployment..." }).click();
    const editor = page.getByLabel("SDL (YAML, Akash SDL 2.0/2.1)");
    const text = await editor.inputValue();
    assert.match(text, /hello from cirrus/, "the SDL the deployment was created with is kept in the browser");
    await editor.fill(text.replaceAll("hello from cirrus", "hello again from cirrus"));
    await page.getByRole("button", { name: "Update", exact: true }).click();
    await page.getByText(/^updated in block \d+; manifest sent to 1 lease\(s\)$/).waitFor();
  });

  step("close: the deployment and its lease close, with the reason shown", async () => {
    started();
    await page.goto(`${net!.info.console}/#/deployments/${dseq}`);
    await page.getByRole("button", { name: "Close deployment" }).click();
    await page.getByText(/closed: deployment_closed/).waitFor();
  });

  step(
    "explorer: blocks, block, tx, account, validators, providers, orders; search by height, id, address",
    async () => {
      const n = started();
      await page.getByRole("link", { name: "Blocks" }).click();
      await page.getByRole("heading", { name: "Blocks" }).waitFor();
      await page.locator("tbody tr").first().waitFor();
      await shot(page, "blocks");
      const search = async (q: string) => {
        await page.getByLabel("Search by height, tx id or address").fill(q);
        await page.getByRole("button", { name: "Search" }).click();
      };
      await search("2");
      await page.getByRole("heading", { name: "Block 2" }).waitFor();
      await search(n.info.accounts.alice!);
      await page.getByRole("heading", { name: "Account" }).waitFor();
      const txLink = page.locator("ul.txs a[href^='#/explorer/tx/']").first();
      await txLink.waitFor();
      const txId = (await txLink.getAttribute("href"))!.split("/").pop()!;
      await search(txId);
      await page.getByRole("heading", { name: "Transaction" }).waitFor();
      await page.getByText(/^(deployment|lease|bank)\.[a-z_]+$/).first().waitFor();
      await search("not a thing");
      await page.getByRole("alert").filter({ hasText: "is not a block height" }).waitFor();
      await page.getByRole("link", { name: "Validators" }).click();
      await page.getByRole("cell", { name: /%$/ }).first().waitFor();
      await shot(page, "validators");
      await page.getByRole("link", { name: "Providers" }).click();
      await page.getByRole("cell", { name: /region=/ }).first().waitFor();
      await shot(page, "providers");
      await page.getByRole("link", { name: "Orders" }).click();
      await page.getByRole("heading", { name: "Orders and bids" }).waitFor();
      await page.locator("tbody tr").first().waitFor();
    },
  );
}

test.run();
