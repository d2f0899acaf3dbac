/**
 * The `cirrus` command tree.
 * @module
 */
import { Command, CommanderError, Option } from "commander";
import { Keystore, KeystoreError } from "../node/keystore.ts";
import { ConfigError, initHome } from "../node/config.ts";
import { isAddress } from "../lib/crypto.ts";
import { emit, ExitCode, globals, parseAmount, readTextArg, rpc, sendTx, UserError } from "./util.ts";
import { runNode } from "./node_cmd.ts";
import { initJoinAction, peerLimitOptions } from "./node_join.ts";
import { runDevnet } from "./devnet.ts";
import { addAuditCommands, addEventsCommand, addMarketCommands, addMarketQueries } from "./market.ts";
import { addStakingCommands, addStakingQueries } from "./staking.ts";
import { addLeaseCommands } from "./lease.ts";
import { addSimCommand } from "./sim.ts";
import { addSimTwinsCommand } from "./sim_twins.ts";
import { addScreenCommand } from "./screen.ts";
import { addProviderCommands } from "./provider_cmd.ts";
import { validateReport } from "../auction/sdl/mod.ts";
import {
  type Misbehaviour,
  MISBEHAVIOURS,
  parseMisbehaviours,
  parseNamedMisbehaviours,
} from "../node/misbehave.ts";

/** `--misbehave` of `node start`: KIND[,KIND...]. */
function misbehaviourList(spec: string): Misbehaviour[] {
  try {
    return parseMisbehaviours(spec);
  } catch (e) {
    throw new UserError(`--misbehave: ${(e as Error).message}`);
  }
}

/** `--misbehave` of `devnet`: NAME=KIND[,NAME=KIND...]. */
function namedMisbehaviours(spec: string): Map<string, Misbehaviour[]> {
  try {
    return parseNamedMisbehaviours(spec);
  } catch (e) {
    throw new UserError(`--misbehave: ${(e as Error).message}`);
  }
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

/** Build the command tree. */
export function buildProgram(): Command {
  const program = new Command("cirrus")
    .description("cirrus: a decentralized cloud. Run a node, send transactions, query the chain.")
    .option(
      "--node <url>",
      "RPC URL of the node to talk to (env CIRRUS_NODE, default http://127.0.0.1:26657)",
      undefined,
    )
    .option("--home <dir>", "home directory: keystore and node files (env CIRRUS_HOME, default ~/.cirrus)")
    .addOption(
      new Option("--output <format>", "output format (yaml: provider render only)").choices([
        "text",
        "json",
        "yaml",
      ])
        .default("text"),
    )
    .showHelpAfterError("(add --help for usage)")
    .configureOutput({ outputError: (str, write) => write(str) });

  // ---- keys ----
  const keys = program.command("keys").description("manage the keys in the keystore (<home>/keys)");
  keys.command("add <name>").description("create a new ed25519 key").action(async (name: string, _o, cmd) => {
    const g = globals(cmd);
    const k = await new Keystore(g.home).add(name);
    emit(g, { name: k.name, address: k.address }, () => `created key "${k.name}": ${k.address}`);
  });
  keys.command("list").description("list keys").action(async (_o, cmd) => {
    const g = globals(cmd);
    const list = await new Keystore(g.home).list();
    emit(
      g,
      { keys: list.map((k) => ({ name: k.name, address: k.address })) },
      () =>
        list.length === 0
          ? `no keys in ${g.home}/keys`
          : list.map((k) => `${k.name}\t${k.address}`).join("\n"),
    );
  });
  keys.command("show <name>").description("show a key's address and public key")
    .option("--address", "print only the address")
    .action(async (name: string, o: { address?: boolean }, cmd) => {
      const g = globals(cmd);
      const k = await new Keystore(g.home).get(name);
      const pubKey = [...k.pubKey].map((b) => b.toString(16).padStart(2, "0")).join("");
      if (o.address && g.output === "text") console.log(k.address);
      else {emit(g, { name: k.name, address: k.address, pubKey }, () =>
          `${k.name}\n  address: ${k.address}\n  pubKey:  ${pubKey}`);}
    });
  keys.command("export <name>").description("print a key file (contains the PRIVATE key: keep it secret)")
    .action(async (name: string, _o, cmd) => {
      const g = globals(cmd);
      const text = await new Keystore(g.home).export(name);
      Deno.stdout.writeSync(new TextEncoder().encode(text));
    });
  keys.command("import <name> <file>").description("import a key file written by `keys export`")
    .action(async (name: string, file: string, _o, cmd) => {
      const g = globals(cmd);
      const k = await new Keystore(g.home).import(name, await readTextArg(file), file);
      emit(g, { name: k.name, address: k.address }, () => `imported key "${k.name}": ${k.address}`);
    });

  // ---- node ----
  const node = program.command("node").description("initialise and run a node");
  node.command("init").description("create a node home: keys, config, a one-validator genesis")
    .requiredOption("--moniker <name>", "a name for this node")
    .option("--chain-id <id>", "chain id", "cirrus-local")
    .option("--p2p-listen <multiaddr>", "p2p listen address", "/ip4/127.0.0.1/tcp/26656")
    .option("--rpc-listen <host:port>", "RPC listen address", "127.0.0.1:26657")
    .option("--bootstrap <multiaddr>", "bootstrap peer (repeatable)", collect, [])
    .option("--force", "overwrite an existing config (keys are kept)")
    .option("--join <rpc-url>", "join a running network: fetch its genesis and peers from this node's RPC")
    .option("--genesis-hash <hex>", "with --join: insist on this genesis hash (sha256 of genesis.json)")
    .option("--peers-max <n>", "most peers connected at once (written to config)")
    .option(
      "--connections-per-ip-max <n>",
      "most connections from one IP, loopback exempt (written to config)",
    )
    .action(async (o, cmd) => {
      const g = globals(cmd);
      if (o.join !== undefined) {
        return await initJoinAction(g, o, cmd.getOptionValueSource("chainId") !== "default");
      }
      if (o.genesisHash !== undefined) throw new UserError("--genesis-hash needs --join");
      const r = await initHome({
        ...peerLimitOptions(o),
        home: g.home,
        moniker: o.moniker,
        chainId: o.chainId,
        p2pListen: o.p2pListen,
        rpcListen: o.rpcListen,
        bootstrap: o.bootstrap,
        force: o.force === true,
      });
      emit(
        g,
        { home: g.home, chainId: r.config.chainId, validator: r.validatorAddress },
        () => `initialised ${g.home} (chain ${r.config.chainId}, validator ${r.validatorAddress})`,
      );
    });
  node.command("start").description("run a node until Ctrl-C / SIGTERM")
    .option("--validator", "take part in consensus with this home's validator key")
    .option("--p2p-listen <multiaddr>", "p2p listen address (default: from config)")
    .option("--rpc-listen <host:port>", "RPC listen address (default: from config, 127.0.0.1)")
    .option("--bootstrap <multiaddr>", "bootstrap peer (repeatable; default: from config)", collect, [])
    .option("--log-level <level>", "debug, info, warn or error", "info")
    .option("--peers-max <n>", "most peers connected at once (default: from config, else 64)")
    .option(
      "--connections-per-ip-max <n>",
      "most connections from one IP, loopback exempt (default: config, else 4)",
    )
    .option("--provider", "run the provider role: bid on orders, run leased workloads")
    .option(
      "--provider-config <file>",
      "provider config (YAML: cluster driver, capacity, attributes, pricing, key)",
    )
    .option("--console", "serve the web console (default address 127.0.0.1:26658)")
    .option("--console-addr <host:port>", "console listen address (implies --console)")
    .addOption(
      new Option(
        "--console-keys <home>",
        "TEST ONLY: a keystore home whose keys the console hands out on a devnet",
      )
        .hideHelp(),
    )
    .addOption(
      new Option("--misbehave <kinds>", "TEST ONLY (devnet/test chains): misbehave, KIND[,KIND...]")
        .hideHelp(),
    )
    .action(async (o, cmd) => {
      const g = globals(cmd);
      const misbehave = o.misbehave === undefined ? [] : misbehaviourList(o.misbehave);
      if (misbehave.length > 0 && o.validator !== true) throw new UserError(`--misbehave needs --validator`);
      if (o.provider && !o.providerConfig) throw new UserError(`--provider needs --provider-config FILE`);
      if (!o.provider && o.providerConfig) throw new UserError(`--provider-config needs --provider`);
      await runNode({
        ...(o.provider ? { providerConfig: o.providerConfig } : {}),
        home: g.home,
        validator: o.validator === true,
        ...(o.p2pListen ? { p2pListen: o.p2pListen } : {}),
        ...(o.rpcListen ? { rpcListen: o.rpcListen } : {}),
        bootstrap: o.bootstrap,
        logLevel: o.logLevel,
        ...peerLimitOptions(o),
        ...(misbehave.length > 0 ? { misbehave } : {}),
        ...(o.console || o.consoleAddr ? { consoleListen: o.consoleAddr ?? "127.0.0.1:26658" } : {}),
        ...(o.consoleKeys ? { consoleKeysHome: o.consoleKeys } : {}),
      });
    });

  // ---- devnet ----
  program.command("devnet").description("run a local network of validator processes (Ctrl-C stops it)")
    .option("--validators <n>", "number of validators", "4")
    .option("--dir <dir>", "directory for the network (wiped at each start)", ".devnet")
    .option("--providers <n>", "provider nodes (provider1..), each with its own funded key", "2")
    .option(
      "--no-provider-nodes",
      "only fund and register the provider accounts (bid by hand with `bid create`)",
    )
    .addOption(
      new Option("--driver <driver>", "cluster driver of the provider nodes (default: podman if usable)")
        .choices(["podman", "sim"]),
    )
    .option("--accounts <n>", "extra funded accounts for load tests (bench0..)", "0")
    .option("--no-console", "do not serve the web console from node0 (port base+2)")
    .option("--base-port <port>", "first port; node i uses base+10i (p2p) and base+10i+1 (RPC)", "26656")
    .option(
      "--misbehave <spec>",
      "test only: NAME=KIND[,NAME=KIND...] makes validators misbehave (kinds: " + MISBEHAVIOURS.join(", ") +
        "; duplicate-key starts a second process with NAME's key)",
    )
    .action(async (o) => {
      const n = Number(o.validators);
      if (!Number.isInteger(n) || n < 1 || n > 32) {
        throw new UserError(`--validators must be 1..32, got ${o.validators}`);
      }
      const accounts = Number(o.accounts);
      if (!Number.isInteger(accounts) || accounts < 0 || accounts > 10_000) {
        throw new UserError(`--accounts must be 0..10000`);
      }
      const providers = Number(o.providers);
      if (!Number.isInteger(providers) || providers < 0 || providers > 32) {
        throw new UserError(`--providers must be 0..32`);
      }
      await runDevnet({
        validators: n,
        dir: o.dir,
        accounts,
        providers,
        providerNodes: o.providerNodes !== false,
        ...(o.driver ? { driver: o.driver } : {}),
        basePort: Number(o.basePort),
        console: o.console !== false,
        ...(o.misbehave !== undefined ? { misbehave: namedMisbehaviours(o.misbehave) } : {}),
      });
    });

  // ---- status / tx / query ----
  program.command("status").description("show the node's chain id, height, last block hash and peers")
    .action(async (_o, cmd) => {
      const g = globals(cmd);
      const s = await rpc<{ chainId: string; height: number; hash: string; peers: number; moniker: string }>(
        g,
        "/status",
      );
      emit(
        g,
        s,
        () => `${s.moniker} on ${s.chainId}: height ${s.height} (${s.hash || "no blocks"}), ${s.peers} peers`,
      );
    });

  const tx = program.command("tx").description("sign and send transactions");
  tx.command("send <from> <to> <amount>").description("send AMOUNT ucrs from key FROM to address TO")
    .option("--fee <amount>", "fee in ucrs (default: the chain's minimum)")
    .option("--no-wait", "return after the node accepts the tx, without waiting for the block")
    .action(async (from: string, to: string, amount: string, o: { fee?: string; wait: boolean }, cmd) => {
      const g = globals(cmd);
      if (!isAddress(to)) throw new UserError(`"${to}" is not a cirrus address (cirrus1...)`);
      const value = parseAmount(amount);
      const r = await sendTx(g, from, "bank.send", { to, amount: value.toString() }, {
        wait: o.wait,
        ...(o.fee !== undefined ? { fee: o.fee } : {}),
      });
      emit(
        g,
        { txId: r.txId, height: r.height ?? null },
        () =>
          r.height ? `committed in block ${r.height}: ${r.txId}` : `accepted (not yet in a block): ${r.txId}`,
      );
    });

  // ---- deployments ----
  const deployment = program.command("deployment").description("deployments described by SDL files");
  deployment.command("validate <file>").description(
    "parse and validate an SDL file (exit 0 valid, 1 invalid)",
  )
    .action(async (file: string, _o, cmd) => {
      const g = globals(cmd);
      const r = validateReport(await readTextArg(file));
      emit(g, r, () => {
        if (!r.valid) return `${file}: invalid: ${r.error}`;
        const lines = [`${file}: valid, manifest hash ${r.manifestHash}`];
        for (const grp of r.groups) {
          lines.push(`  group ${grp.name}`);
          for (const u of grp.units) {
            lines.push(
              `    ${u.count} x cpu ${u.cpu}m, memory ${u.memory} B, storage ${u.storage} B, gpu ${u.gpu}` +
                ` at most ${u.price.amount} ${u.price.denom}/block`,
            );
          }
        }
        return lines.join("\n");
      });
      if (!r.valid) throw new ExitCode(1);
    });

  addMarketCommands(program, deployment);
  addScreenCommand(deployment);
  addLeaseCommands(program.commands.find((c) => c.name() === "lease")!);
  addEventsCommand(program);
  addAuditCommands(program);
  addProviderCommands(program);
  addStakingCommands(program);

  const query = program.command("query").description("read the chain");
  addMarketQueries(query);
  addStakingQueries(query);
  query.command("account <address>").description("balance and nonce of an account").action(
    async (addr, _o, cmd) => {
      const g = globals(cmd);
      if (!isAddress(addr)) throw new UserError(`"${addr}" is not a cirrus address (cirrus1...)`);
      const a = await rpc<{ address: string; balance: string; nonce: string; denom: string }>(
        g,
        `/query/account/${addr}`,
      );
      emit(g, a, () => `${a.address}\n  balance: ${a.balance} ${a.denom}\n  nonce:   ${a.nonce}`);
    },
  );
  query.command("block <height>").description("a block by height (or 'latest')").action(
    async (h, _o, cmd) => {
      const g = globals(cmd);
      const b = await rpc<{ height: number; hash: string; txs: string[]; time: number; proposer: string }>(
        g,
        `/query/block/${encodeURIComponent(h)}`,
      );
      emit(
        g,
        b,
        () =>
          `block ${b.height} ${b.hash}\n  time:     ${
            new Date(b.time).toISOString()
          }\n  proposer: ${b.proposer}\n  txs:      ${b.txs.length}${
            b.txs.map((t) => `\n    ${t}`).join("")
          }`,
      );
    },
  );
  query.command("tx <id>").description("a transaction by id").action(async (id, _o, cmd) => {
    const g = globals(cmd);
    const t = await rpc<Record<string, unknown>>(g, `/query/tx/${encodeURIComponent(id)}`);
    emit(
      g,
      t,
      () =>
        t.pending
          ? `tx ${id}: pending in the mempool`
          : `tx ${t.txId}\n  height: ${t.height}\n  type:   ${t.type}\n  from:   ${t.from}\n  result: ${
            t.ok ? "ok" : `failed: ${t.reason}`
          }\n  body:   ${JSON.stringify(t.body)}`,
    );
  });
  addSimCommand(program);
  addSimTwinsCommand(program.commands.find((c) => c.name() === "sim")!);
  return program;
}

/** Run the CLI; any error is one line on stderr and exit code 1. */
export async function main(args: string[]): Promise<number> {
  const program = buildProgram().exitOverride();
  try {
    await program.parseAsync(args, { from: "user" });
    return 0;
  } catch (e) {
    if (e instanceof ExitCode) return e.code;
    if (e instanceof CommanderError) {
      return e.code === "commander.helpDisplayed" || e.code === "commander.help" ||
          e.code === "commander.version"
        ? 0
        : e.exitCode || 1;
    }
    const known = e instanceof UserError || e instanceof KeystoreError || e instanceof ConfigError;
    const msg = (e as Error)?.message ?? String(e);
    console.error(`error: ${msg}`);
    if (!known && Deno.env.get("CIRRUS_DEBUG")) console.error((e as Error)?.stack);
    return 1;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
