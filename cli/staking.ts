/**
 * `staking create-validator|delegate|undelegate|redelegate|unjail|edit-validator|withdraw-rewards`:
 * the staking txs (issue 9), signed with a keystore key and sent to a node (`--node`), with the
 * queries in staking_queries.ts. Same conventions as every command: `--output json`, one-line errors.
 * @module
 */
import type { Command } from "commander";
import { addressOf, fromHex, isAddress, isHex, isValidPublicKey, publicKeyOf, toHex } from "../lib/crypto.ts";
import { homePaths } from "../node/config.ts";
import { Keystore } from "../node/keystore.ts";
import { emit, fromKey, globals, parseAmount, rpc, sendTx, type SentTx, UserError } from "./util.ts";

export { addStakingQueries } from "./staking_queries.ts";

/** The consensus public key (hex) of `--pubkey HEX`, or of the node home `--node-home DIR`. */
export async function consensusPubKey(o: { pubkey?: string; nodeHome?: string }): Promise<string> {
  if (o.pubkey !== undefined && o.nodeHome !== undefined) {
    throw new UserError("give either --pubkey or --node-home, not both");
  }
  if (o.pubkey !== undefined) {
    const hex = o.pubkey.toLowerCase();
    if (!isHex(hex, 32) || !isValidPublicKey(fromHex(hex))) {
      throw new UserError(`--pubkey: "${o.pubkey}" is not an ed25519 public key (64 hex characters)`);
    }
    return hex;
  }
  if (o.nodeHome === undefined) {
    throw new UserError("the consensus key: give --node-home DIR (a node's home) or --pubkey HEX");
  }
  const path = homePaths(o.nodeHome).validatorKey;
  let raw: { pubKey?: unknown; privKey?: unknown };
  try {
    raw = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw new UserError(
      `Cannot read the consensus key ${path}: ${(e as Error).message} (run \`cirrus node init\`)`,
    );
  }
  if (typeof raw.privKey === "string" && isHex(raw.privKey, 32)) {
    return toHex(publicKeyOf(fromHex(raw.privKey)));
  }
  if (typeof raw.pubKey === "string" && isHex(raw.pubKey, 32)) return raw.pubKey;
  throw new UserError(`${path}: no pubKey or privKey (64 hex characters)`);
}

function validatorArg(v: string, what = "validator"): string {
  if (!isAddress(v)) throw new UserError(`${what}: "${v}" is not a cirrus address (a validator's operator)`);
  return v;
}

function rateArg(v: string, what: string): string {
  if (!/^(0(\.\d{1,6})?|1(\.0{1,6})?)$/.test(v)) {
    throw new UserError(`${what}: "${v}" is not a fraction in [0, 1] with at most 6 decimals (e.g. 0.1)`);
  }
  return v;
}

function done(g: ReturnType<typeof globals>, r: SentTx, text: string, extra: Record<string, unknown> = {}) {
  emit(g, { txId: r.txId, height: r.height, from: r.from, ...extra, events: r.events ?? [] }, () => text);
}

const FROM = ["--from <name>", "key to sign with (default: $CIRRUS_FROM or the only key)"] as const;

/** Register `staking ...` on the program. */
export function addStakingCommands(program: Command): void {
  const staking = program.command("staking").description("bond, delegate, unbond, unjail, withdraw rewards");

  staking.command("create-validator").description("become a validator: self-bond and a consensus key")
    .requiredOption("--amount <ucrs>", "self-bond in ucrs (at least the chain's minSelfBond)")
    .option(...FROM)
    .option("--node-home <dir>", "read the consensus key from this node's home (priv_validator_key.json)")
    .option("--pubkey <hex>", "the consensus public key instead (64 hex characters)")
    .option("--moniker <name>", "a name for the validator (default: the key name)")
    .option("--commission <rate>", "commission rate on delegators' rewards, 0..1", "0.1")
    .action(async (o, cmd) => {
      const g = globals(cmd);
      const pubKey = await consensusPubKey(o);
      const from = await fromKey(g, o.from);
      const body = {
        pubKey,
        amount: parseAmount(o.amount).toString(),
        moniker: String(o.moniker ?? from).slice(0, 64),
        commission: rateArg(o.commission, "--commission"),
      };
      const r = await sendTx(g, from, "staking.create_validator", body);
      const cons = addressOf(fromHex(pubKey));
      done(
        g,
        r,
        `validator ${r.from} (consensus ${cons}) created in block ${r.height}; in the active set from height ${
          (r.height ?? 0) + 2
        } if its power ranks`,
        { operator: r.from, cons },
      );
    });

  const amountCmd = (name: string, type: string, what: string) =>
    staking.command(`${name} <validator> <amount>`).description(what).option(...FROM)
      .action(async (validator: string, amount: string, o, cmd) => {
        const g = globals(cmd);
        const body = { validator: validatorArg(validator), amount: parseAmount(amount).toString() };
        const r = await sendTx(g, await fromKey(g, o.from), type, body);
        const ev = r.events?.find((e) => e.type === type);
        const due = ev?.attrs.completionHeight;
        done(
          g,
          r,
          `${name}: ${amount} ucrs, ${validator}, block ${r.height}${
            due ? `; paid out at height ${due}` : ""
          }`,
        );
      });
  amountCmd("delegate", "staking.delegate", "bond ucrs to a validator");
  amountCmd(
    "undelegate",
    "staking.undelegate",
    "unbond ucrs from a validator (paid after the unbonding period)",
  );

  staking.command("redelegate <src> <dst> <amount>").description(
    "move bonded ucrs from one validator to another",
  )
    .option(...FROM)
    .action(async (src: string, dst: string, amount: string, o, cmd) => {
      const g = globals(cmd);
      const body = {
        src: validatorArg(src, "src"),
        dst: validatorArg(dst, "dst"),
        amount: parseAmount(amount).toString(),
      };
      const r = await sendTx(g, await fromKey(g, o.from), "staking.redelegate", body);
      done(g, r, `redelegated ${amount} ucrs from ${src} to ${dst} in block ${r.height}`);
    });

  staking.command("unjail").description("return to the active set after a downtime jail (as the operator)")
    .option(...FROM)
    .action(async (o, cmd) => {
      const g = globals(cmd);
      const r = await sendTx(g, await fromKey(g, o.from), "staking.unjail", {});
      done(g, r, `unjailed in block ${r.height}; back in the active set from height ${(r.height ?? 0) + 2}`);
    });

  staking.command("edit-validator").description("change your validator's moniker or commission")
    .option(...FROM)
    .option("--moniker <name>", "new moniker")
    .option("--commission <rate>", "new commission rate, 0..1")
    .action(async (o, cmd) => {
      const g = globals(cmd);
      const body: Record<string, unknown> = {};
      if (o.moniker !== undefined) body.moniker = String(o.moniker);
      if (o.commission !== undefined) body.commission = rateArg(o.commission, "--commission");
      if (Object.keys(body).length === 0) throw new UserError("give --moniker, --commission or both");
      const r = await sendTx(g, await fromKey(g, o.from), "staking.edit_validator", body);
      done(g, r, `validator edited in block ${r.height}`);
    });

  staking.command("withdraw-rewards").description("withdraw rewards (and commission, as an operator)")
    .option(...FROM)
    .option("--validator <address...>", "only from these validators (default: every delegation)")
    .action(async (o, cmd) => {
      const g = globals(cmd);
      const from = await fromKey(g, o.from);
      let validators: string[] = (o.validator as string[] | undefined)?.map((v) => validatorArg(v)) ?? [];
      if (validators.length === 0) {
        const address = (await new Keystore(g.home).get(from)).address;
        const d = await rpc<{ delegations: { validator: string }[] }>(g, `/query/delegations/${address}`);
        validators = d.delegations.map((x) => x.validator);
        if (validators.length === 0) throw new UserError(`${address} has no delegations`);
      }
      let amount = 0n, r: SentTx | null = null;
      for (let i = 0; i < validators.length; i += 32) { // the most one tx may name
        r = await sendTx(g, from, "staking.withdraw_rewards", { validators: validators.slice(i, i + 32) });
        amount += BigInt(r.events?.find((e) => e.type === "staking.withdraw_rewards")?.attrs.amount ?? "0");
      }
      done(g, r!, `withdrew ${amount} ucrs in block ${r!.height}`, { amount: amount.toString() });
    });
}
