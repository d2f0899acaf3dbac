import { test } from "uvu";
import * as assert from "uvu/assert";
import { encode } from "cborg";
import { sha256, toHex } from "../../lib/crypto.ts";
import type { Commit } from "../../consensus/types.ts";
import {
  type Block,
  BLOCK_BYTES_MAX,
  BLOCK_TXS_MAX,
  blockHash,
  blockOverheadBytesMax,
  commitHash,
  CREATE_EMPTY_BLOCKS_INTERVAL_MS_MAX,
  decodeBlock,
  decodeCommit,
  DecodeError,
  defaultParams,
  encodeBlock,
  encodeCommit,
  encodeHeader,
  evidenceHash,
  GenesisError,
  TX_BYTES_MAX,
  txsHash,
  validateGenesis,
} from "../../node/ledger/mod.ts";
import { makeSend, testGenesis, testKey } from "../helpers/ledger.ts";

const { genesis, keys, validator } = testGenesis(3);

test("defaultParams are the devnet values", () => {
  const p = defaultParams();
  assert.is(p.consensus.timeoutProposeMs, 1000);
  assert.is(p.consensus.maxBlockBytes, BLOCK_BYTES_MAX, "the most one proposal message carries");
  assert.is(p.ledger.minFee, "1");
  assert.is(p.ledger.maxTxBytes, 16384);
  assert.is(p.ledger.mempoolMaxTxs, 50_000);
});

test("validateGenesis accepts a good genesis (JSON round trip) and fills missing params with defaults", () => {
  const json = JSON.parse(JSON.stringify(genesis));
  assert.equal(validateGenesis(json), genesis);
  delete json.params;
  assert.equal(validateGenesis(json).params, defaultParams());
  json.params = { ledger: { minFee: "10" } };
  assert.is(validateGenesis(json).params.ledger.minFee, "10");
  assert.is(validateGenesis(json).params.consensus.maxBlockTxs, 2000);
});

// deno-lint-ignore no-explicit-any
function genesisError(mutate: (g: Record<string, any>) => void): string {
  const json = JSON.parse(JSON.stringify(genesis));
  mutate(json);
  try {
    validateGenesis(json);
  } catch (e) {
    assert.instance(e, GenesisError);
    return (e as Error).message;
  }
  throw new Error("validateGenesis accepted a bad genesis");
}

test("validateGenesis names the path of each problem", () => {
  assert.match(genesisError((g) => (g.accounts[1].balance = "-1")), /^genesis\.accounts\[1\]\.balance: /);
  assert.match(genesisError((g) => (g.accounts[0].address = "nope")), /^genesis\.accounts\[0\]\.address: /);
  assert.match(genesisError((g) => g.accounts.push(g.accounts[0])), /accounts\[3\]\.address: duplicate/);
  assert.match(
    genesisError((g) => (g.validators[0].power = "0")),
    /^genesis\.validators\[0\]\.power: must be positive/,
  );
  assert.match(
    genesisError((g) => (g.validators[0].address = keys[0]!.address)),
    /validators\[0\]\.address: does not match pubKey/,
  );
  assert.match(
    genesisError((g) => (g.validators[0].pubKey = "00".repeat(32))),
    /validators\[0\]\.pubKey: not a valid/,
  );
  assert.match(genesisError((g) => (g.validators = [])), /^genesis\.validators: /);
  assert.match(genesisError((g) => (g.chainId = "Bad Chain")), /^genesis\.chainId: /);
  assert.match(genesisError((g) => (g.genesisTime = "yesterday")), /^genesis\.genesisTime: /);
  assert.match(
    genesisError((g) => (g.params.consensus.maxBlockTxs = 1.5)),
    /^genesis\.params\.consensus\.maxBlockTxs: /,
  );
  assert.match(genesisError((g) => (g.params.ledger.denom = "uatom")), /^genesis\.params\.ledger\.denom: /);
  assert.match(
    genesisError((g) => (g.params.ledger.typo = 1)),
    /^genesis\.params\.ledger\.typo: unknown field/,
  );
  assert.match(genesisError((g) => (g.extra = 1)), /^genesis\.extra: unknown field/);
});

async function sampleBlock(height: number, prev: Block | null): Promise<Block> {
  const txs = [
    (await makeSend(keys[0]!, keys[1]!.address, "5", BigInt(height - 1))).bytes,
    (await makeSend(keys[1]!, keys[2]!.address, "7", BigInt(height - 1))).bytes,
  ];
  const lastCommit: Commit | null = prev === null ? null : {
    height: height - 1,
    round: 0,
    blockHash: blockHash(prev),
    signatures: [{ validator: validator.address, signature: new Uint8Array(64).fill(height) }],
  };
  return {
    header: {
      chainId: "cirrus-test",
      height,
      time: 1_700_000_000_000 + height,
      prevHash: prev === null ? "" : blockHash(prev),
      appHash: toHex(sha256(new Uint8Array([height]))),
      txsHash: txsHash(txs),
      proposer: validator.address,
      lastCommitHash: commitHash(lastCommit),
      evidenceHash: evidenceHash([]),
    },
    txs,
    lastCommit,
    evidence: [],
  };
}

test("blocks round-trip through encodeBlock/decodeBlock; hashes are stable and header-only", async () => {
  const b1 = await sampleBlock(1, null);
  const b2 = await sampleBlock(2, b1);
  for (const b of [b1, b2]) {
    const d = decodeBlock(encodeBlock(b));
    assert.equal(d, b);
    assert.is(blockHash(d), blockHash(b));
    assert.is(blockHash(b), blockHash(b.header));
  }
  assert.is.not(blockHash(b1), blockHash(b2));
  assert.is(blockHash(b1), toHex(sha256(encode(["cirrus/header/1", JSON.parse(JSON.stringify(b1.header))]))));
  assert.ok(encodeHeader(b1.header).length > 0);
  assert.is(txsHash([]), toHex(sha256(new Uint8Array(0))));
  const c = b2.lastCommit!;
  assert.equal(decodeCommit(encodeCommit(c)), c);
  assert.is(commitHash(null), "");
});

function decodeError(bytes: Uint8Array, opts = {}): string {
  try {
    decodeBlock(bytes, opts);
  } catch (e) {
    assert.instance(e, DecodeError);
    return (e as DecodeError).reason;
  }
  throw new Error("decodeBlock accepted bad bytes");
}

test("decodeBlock rejects malformed, oversized, inconsistent and wrongly typed blocks with a reason", async () => {
  const b1 = await sampleBlock(1, null);
  const b2 = await sampleBlock(2, b1);
  assert.match(decodeError(new Uint8Array([0x9f, 0x01])), /malformed CBOR/);
  assert.match(decodeError(encodeBlock(b1), { maxBlockBytes: 100 }), /^block too large/);
  assert.match(decodeError(encodeBlock({ ...b1, txs: [b1.txs[0]!] })), /txsHash: does not match/);
  assert.match(decodeError(encodeBlock({ ...b2, lastCommit: null })), /block\.lastCommit: must be a map/);
  assert.match(decodeError(encodeBlock({ ...b1, lastCommit: b2.lastCommit })), /must be null at height 1/);
  assert.match(
    decodeError(encodeBlock({ ...b2, header: { ...b2.header, lastCommitHash: "ab".repeat(32) } })),
    /lastCommitHash: does not match/,
  );
  assert.match(
    decodeError(encodeBlock({ ...b2, header: { ...b2.header, prevHash: "AB".repeat(32) } })),
    /prevHash: must be 64/,
  );
  assert.match(
    decodeError(encodeBlock({ ...b1, header: { ...b1.header, height: 0 } })),
    /header\.height: must be an integer >= 1/,
  );
  assert.match(
    decodeError(encodeBlock({ ...b1, header: { ...b1.header, proposer: "x" } })),
    /header\.proposer/,
  );
  assert.match(
    decodeError(encode({ header: {}, txs: [], lastCommit: null, evidence: [] })),
    /header\.chainId: missing/,
  );
  assert.match(
    decodeError(encode({ header: 1, txs: [], lastCommit: null, evidence: [], x: 1 })),
    /block\.x: unknown field/,
  );
  assert.match(decodeError(encodeBlock(b1), { maxBlockTxs: 1 }), /2 txs > 1/);
  const badSig = {
    ...b2.lastCommit!,
    signatures: [{ validator: testKey("v").address, signature: new Uint8Array(3) }],
  };
  assert.match(
    decodeError(
      encodeBlock({
        ...b2,
        lastCommit: badSig,
        header: { ...b2.header, lastCommitHash: commitHash(badSig) },
      }),
    ),
    /signatures\[0\]\.signature: must be 64 bytes/,
  );
});

test("createEmptyBlocksIntervalMs: absent by default (old cadence), validated when given", () => {
  assert.is(defaultParams().consensus.createEmptyBlocksIntervalMs, undefined, "default params are unchanged");
  const ok = JSON.parse(JSON.stringify(genesis));
  ok.params = { consensus: { createEmptyBlocksIntervalMs: 30_000 } };
  assert.is(validateGenesis(ok).params.consensus.createEmptyBlocksIntervalMs, 30_000);
  ok.params = { consensus: { createEmptyBlocksIntervalMs: 0 } };
  assert.is(validateGenesis(ok).params.consensus.createEmptyBlocksIntervalMs, 0);
  for (const bad of [-1, 1.5, "30000", null, CREATE_EMPTY_BLOCKS_INTERVAL_MS_MAX + 1]) {
    assert.match(
      genesisError((g) => (g.params = { consensus: { createEmptyBlocksIntervalMs: bad } })),
      /genesis\.params\.consensus\.createEmptyBlocksIntervalMs: must be an integer in \[0, 86400000\]/,
    );
  }
  // A field named like an Object.prototype member is unknown, not a limit.
  assert.match(
    genesisError((g) => (g.params = { consensus: { constructor: 5 } })),
    /genesis\.params\.consensus\.constructor: unknown field/,
  );
});

test("finding 4: genesis refuses block and tx limits the network cannot carry", () => {
  const bad = (edit: (p: Record<string, Record<string, number>>) => void): string => {
    const g = JSON.parse(JSON.stringify(genesis));
    edit(g.params);
    try {
      validateGenesis(g);
    } catch (e) {
      assert.instance(e, GenesisError);
      return (e as Error).message;
    }
    throw new Error("validateGenesis accepted it");
  };
  assert.match(bad((p) => (p.consensus!.maxBlockBytes = 4 * 1024 * 1024)), /consensus\.maxBlockBytes: /);
  assert.match(bad((p) => (p.consensus!.maxBlockBytes = 64 * 1024 * 1024)), /consensus\.maxBlockBytes: /);
  assert.match(bad((p) => (p.consensus!.maxBlockTxs = 1_000_000)), /consensus\.maxBlockTxs: /);
  assert.match(bad((p) => (p.ledger!.maxTxBytes = 2 * 1024 * 1024)), /ledger\.maxTxBytes: /);
  // A largest tx must fit in a block next to the header, the evidence and the last commit of as many
  // validators as the set may hold (params.staking.validatorsMax).
  const setMax = Math.max(genesis.validators.length, genesis.params.staking.validatorsMax);
  const room = 64 * 1024 - blockOverheadBytesMax(setMax);
  assert.match(
    bad((p) => {
      p.consensus!.maxBlockBytes = 64 * 1024;
      p.ledger!.maxTxBytes = room + 1;
    }),
    /ledger\.maxTxBytes: .* does not fit in a block/,
  );
  const g = JSON.parse(JSON.stringify(genesis));
  g.params.consensus.maxBlockBytes = 64 * 1024;
  g.params.ledger.maxTxBytes = room;
  assert.is(validateGenesis(g).params.ledger.maxTxBytes, room);
});

test("finding 4: decodeBlock's limits default to what genesis may allow (no hard-coded 5000 txs / 16 KiB)", async () => {
  const b1 = await sampleBlock(1, null);
  const big = new Uint8Array(20_000).fill(7);
  const many = Array.from({ length: 6000 }, (_, i) => new Uint8Array([i & 0xff, i >> 8]));
  for (const txs of [[big], many]) {
    const b = { ...b1, header: { ...b1.header, txsHash: txsHash(txs) }, txs };
    assert.equal(decodeBlock(encodeBlock(b)).txs.length, txs.length);
  }
  const bigBlock = { ...b1, header: { ...b1.header, txsHash: txsHash([big]) }, txs: [big] };
  assert.match(decodeError(encodeBlock(bigBlock), { maxTxBytes: 16_384 }), /20000 bytes > 16384/);
  assert.ok(TX_BYTES_MAX >= 1024 * 1024 && BLOCK_TXS_MAX >= 6000);
});

test("finding 9: genesis refuses a total supply above AMOUNT_MAX (every balance stays readable)", () => {
  const g = JSON.parse(JSON.stringify(genesis));
  const max = (10n ** 38n - 1n).toString();
  g.accounts = [
    { address: testKey("rich1").address, balance: max },
    { address: testKey("rich2").address, balance: "1" },
  ];
  assert.throws(() => validateGenesis(g), /genesis\.accounts: total supply .* exceeds the largest amount/);
  // Genesis validators' bonds (power x powerReduction, minted: issue 9) count in the total supply.
  const bonds = g.validators.reduce(
    (s: bigint, v: { power: string }) => s + BigInt(v.power) * 1_000_000n,
    0n,
  );
  const room = (10n ** 38n - 1n - bonds).toString();
  g.accounts = [{ address: testKey("rich1").address, balance: room }];
  assert.is(validateGenesis(g).accounts[0]!.balance, room, "exactly AMOUNT_MAX with the bonds is fine");
  g.accounts = [{ address: testKey("rich1").address, balance: max }];
  assert.throws(
    () => validateGenesis(g),
    /genesis\.validators: balances plus genesis bonds .* exceed the largest amount/,
  );
});

test.run();
