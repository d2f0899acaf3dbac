/**
 * The staking CLI against a real single-validator node (wall time, RPC over HTTP on port 0):
 * `staking create-validator` (consensus key from a node home), `delegate`, `undelegate`, and the
 * `query validators|validator|delegations|rewards|evidence` commands with `--output json`; a bad
 * command fails with a reason a person can act on.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { TestNet } from "../helpers/network.ts";
import { cli } from "../helpers/cli.ts";
import { RpcServer } from "../../node/rpc.ts";
import { keyFileFromSeed, Keystore } from "../../node/keystore.ts";
import { addressOf, generatePrivateKey, publicKeyOf, toHex } from "../../lib/crypto.ts";

let net: TestNet;
let rpc: RpcServer;
let url = "";
let home = "";
const consSeed = generatePrivateKey();
const cons = addressOf(publicKeyOf(consSeed));

test.before(async () => {
  // The validator created below runs no node: a window this long never jails it for downtime here
  // (the chain hands the ledger each block's signers), so the amounts below stay exact.
  net = await TestNet.create({ validators: 1, time: "real", staking: { signedBlocksWindow: 1_000_000 } });
  await net.startAll();
  rpc = new RpcServer(net.nodes[0]!);
  url = await rpc.start("127.0.0.1:0");
  await net.waitHeight(1, 30_000);
  home = await Deno.makeTempDir({ prefix: "cirrus-staking-cli-" });
  await new Keystore(home).save(keyFileFromSeed("alice", net.accounts[0]!.privKey));
  await Deno.writeTextFile(
    join(home, "priv_validator_key.json"),
    JSON.stringify({ privKey: toHex(consSeed) }),
  );
});

test.after(async () => {
  await rpc?.stop();
  await net?.cleanup();
  if (home) await Deno.remove(home, { recursive: true }).catch(() => {});
});

const run = (...args: string[]) => cli(...args, "--node", url, "--home", home, "--output", "json");

test("create-validator with the consensus key of a node home, then the queries show it", async () => {
  const alice = net.accounts[0]!.address;
  const r = await run(
    "staking",
    "create-validator",
    "--amount",
    "3000000",
    "--from",
    "alice",
    "--node-home",
    home,
  );
  assert.is(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal([out.operator, out.cons], [alice, cons]);
  const vs = JSON.parse((await run("query", "validators")).stdout);
  const mine = vs.validators.find((v: { operator: string }) => v.operator === alice);
  assert.equal([mine.cons, mine.tokens, mine.power, mine.commission], [cons, "3000000", "3", "0.1"]);
  const v = JSON.parse((await run("query", "validator", cons)).stdout);
  assert.is(v.operator, alice);
  const d = await run("staking", "delegate", alice, "1000000", "--from", "alice");
  assert.is(d.code, 0, d.stderr);
  const u = await run("staking", "undelegate", alice, "500000", "--from", "alice");
  assert.is(u.code, 0, u.stderr);
  const dels = JSON.parse((await run("query", "delegations", alice)).stdout);
  assert.equal(dels.delegations.map((x: { tokens: string }) => x.tokens), ["3500000"]);
  assert.equal(dels.unbonding.map((x: { balance: string }) => x.balance), ["500000"]);
  const rw = JSON.parse((await run("query", "rewards", alice)).stdout);
  assert.ok(BigInt(rw.total) >= 0n && rw.rewards.length === 1);
  assert.equal(JSON.parse((await run("query", "evidence")).stdout), { evidence: [] });
});

test("bad commands fail with a reason", async () => {
  const dup = await run(
    "staking",
    "create-validator",
    "--amount",
    "3000000",
    "--from",
    "alice",
    "--pubkey",
    toHex(publicKeyOf(consSeed)),
  );
  assert.is.not(dup.code, 0);
  assert.match(dup.stderr, /is already a validator|already in use/);
  const both = await run(
    "staking",
    "create-validator",
    "--amount",
    "1",
    "--pubkey",
    "ab",
    "--node-home",
    home,
  );
  assert.match(both.stderr, /either --pubkey or --node-home/);
  const notVal = await run("staking", "delegate", net.accounts[1]!.address, "5", "--from", "alice");
  assert.match(notVal.stderr, /is not a validator/);
  const notAddr = await run("query", "validator", "nobody");
  assert.match(notAddr.stderr, /is not a cirrus address/);
});

test.run();
