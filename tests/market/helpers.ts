/** Shared fixtures of the marketplace tests: a chain driven by executeBlock with real signed txs. */
import * as assert from "uvu/assert";
import { parseSdl } from "../../auction/sdl/mod.ts";
import { groupsForTx } from "../../auction/market/mod.ts";
import type { Group } from "../../auction/sdl/types.ts";
import { toHex } from "../../lib/crypto.ts";
import {
  audit,
  bank,
  type BlockExecution,
  checkTx,
  createLedger,
  executeBlock,
  type Genesis,
  LedgerState,
  market,
  type SignedTx,
  signTx,
  totalSupply,
} from "../../node/ledger/mod.ts";
import { testGenesis, type TestKey } from "../helpers/ledger.ts";

/** An SDL with one placement (`region` attribute) and a price per block of `price` ucrs x count. */
export function sdl(
  opts: { price?: string; region?: string; count?: number; denom?: string; gpu?: string } = {},
) {
  const gpu = opts.gpu
    ? `\n        gpu:\n          units: 1\n          attributes:\n            vendor:\n              nvidia:\n                - model: ${opts.gpu}`
    : "";
  return `
version: "2.0"
services:
  web:
    image: nginx:1.25
    expose:
      - port: 80
        as: 80
        to: [{global: true}]
profiles:
  compute:
    small:
      resources:
        cpu: {units: 0.5}
        memory: {size: 512Mi}
        storage: [{size: 1Gi}]${gpu}
  placement:
    dc:
      attributes: {region: ${opts.region ?? "us-west"}}
      pricing:
        small: {denom: ${opts.denom ?? "ucrs"}, amount: "${opts.price ?? "1000"}"}
deployment:
  web:
    dc: {profile: small, count: ${opts.count ?? 1}}
`;
}

/** Groups of an SDL, as the CLI would send them. */
export function groupsOf(text: string): Group[] {
  const r = parseSdl(text);
  if (!r.ok) throw new Error(r.errors.join("; "));
  return groupsForTx(r.groups);
}

/** Two placements (two groups): `a` in us-west, `b` in eu. */
export function twoGroups(priceA = "1000", priceB = "2000"): Group[] {
  const a = groupsOf(sdl({ price: priceA, region: "us-west" }))[0]!;
  const b = groupsOf(sdl({ price: priceB, region: "eu" }))[0]!;
  return [{ ...a, name: "a" }, { ...b, name: "b" }];
}

export const HASH1 = "11".repeat(32);
export const HASH2 = "22".repeat(32);
export const BALANCE = 1_000_000_000_000n;

/** A chain of one LedgerState, driven block by block. */
export class TestChain {
  state: LedgerState;
  readonly keys: TestKey[];
  readonly validator: TestKey;
  readonly genesis: Genesis;
  /** Checks the supply invariant after every block. */
  checkSupply = true;
  pending: SignedTx[] = [];
  /** The txs of every committed block, in order (to replay on a replica). */
  readonly history: SignedTx[][] = [];
  #nonces = new Map<string, bigint>();

  constructor(opts: { accounts?: number; market?: Partial<Genesis["params"]["market"]> } = {}) {
    const t = testGenesis(opts.accounts ?? 8, BALANCE.toString());
    Object.assign(t.genesis.params.market, opts.market ?? {});
    this.genesis = t.genesis;
    this.keys = t.keys;
    this.validator = t.validator;
    this.state = LedgerState.fromGenesis(t.genesis, LEDGER);
  }

  get height(): number {
    return this.state.height;
  }

  /** Signs a tx with the next nonce of `from` (counting txs already built for this block). */
  async tx(from: TestKey, type: string, body: Record<string, unknown>): Promise<SignedTx> {
    const nonce = this.#nonces.get(from.address) ?? this.state.account(from.address)?.nonce ?? 0n;
    const stx = await buildTx(from, type, body, nonce);
    this.#nonces.set(from.address, nonce + 1n);
    return stx;
  }

  /** Builds and queues a tx for the next block. */
  async add(from: TestKey, type: string, body: Record<string, unknown>): Promise<SignedTx> {
    const stx = await this.tx(from, type, body);
    this.pending.push(stx);
    return stx;
  }

  /** Executes (without committing) a block of `txs` on the current state. */
  exec(txs: SignedTx[]): BlockExecution {
    return executeBlock(this.state, {
      height: this.state.height + 1,
      proposer: this.validator.address,
      time: 1_700_000_000_000 + this.state.height * 1000,
      txs,
    });
  }

  /** Executes and commits a block of the queued txs (plus `txs`); returns the execution. */
  block(txs: SignedTx[] = []): BlockExecution {
    const all = [...this.pending, ...txs];
    this.pending = [];
    const ex = this.exec(all);
    this.state.apply(ex.writes, this.state.height + 1, ex.appHash);
    this.history.push(all);
    this.#nonces.clear();
    if (this.checkSupply) {
      assert.is(totalSupply(this.state), this.state.supply, `supply at ${this.state.height}`);
    }
    return ex;
  }

  /** Commits a block with one tx that must succeed; returns its execution. */
  async ok(from: TestKey, type: string, body: Record<string, unknown>): Promise<BlockExecution> {
    const stx = await this.tx(from, type, body);
    const ex = this.block([stx]);
    const r = ex.results[ex.results.length - 1]!;
    assert.ok(r.ok, `${type} failed: ${r.reason}`);
    return ex;
  }

  /** Commits empty blocks until the height is `h`. */
  advanceTo(h: number): BlockExecution[] {
    const out = [];
    while (this.state.height < h) out.push(this.block());
    return out;
  }

  balance(k: TestKey | string): bigint {
    return this.state.account(typeof k === "string" ? k : k.address)?.balance ?? 0n;
  }

  /**
   * Asserts a tx is rejected by checkTx and by executeBlock with `reason`, and that the block with it
   * writes what the block without it writes, except the fee and nonce the sender pays for a failed
   * body (issue 8, finding 5) and the proposer's fee.
   */
  async rejects(from: TestKey, type: string, body: Record<string, unknown>, reason: string | RegExp) {
    const stx = await this.tx(from, type, body);
    this.#nonces.delete(from.address);
    const before = snapshot(this.state);
    const c = checkTx(this.state, stx);
    assert.is(c.ok, false, `checkTx should reject ${type}`);
    if (!c.ok) typeof reason === "string" ? assert.is(c.reason, reason) : assert.match(c.reason, reason);
    const ex = this.exec([stx]);
    const r = ex.results[0]!;
    assert.is(r.ok, false, `executeBlock should reject ${type}`);
    typeof reason === "string" ? assert.is(r.reason, reason) : assert.match(r.reason!, reason);
    const empty = this.exec([]);
    const charged = new Set([`acct/${from.address}`, `acct/${this.validator.address}`]);
    const uncharged = (e: BlockExecution) => writesOf(e).filter(([k]) => !charged.has(k));
    assert.equal(uncharged(ex), uncharged(empty), "the rejected tx changes nothing but the fee and nonce");
    assert.equal(r.events.map((e) => e.type), ["fee"]);
    assert.is(snapshot(this.state), before, "state unchanged");
  }
}

/** Replays blocks on `s` as TestChain does; returns the app hash after each. */
export function replay(s: LedgerState, blocks: SignedTx[][], proposer: string): string[] {
  return blocks.map((txs) => {
    const ex = executeBlock(s, {
      height: s.height + 1,
      proposer,
      time: 1_700_000_000_000 + s.height * 1000,
      txs,
    });
    s.apply(ex.writes, s.height + 1, ex.appHash);
    return ex.appHash;
  });
}

/** The ledger the marketplace tests run (bank, market, audit: fees to the proposer, no staking). */
const LEDGER = createLedger({ modules: [bank, market, audit] });

/** Signs and decodes a tx; throws when the body does not validate. */
export async function buildTx(from: TestKey, type: string, body: Record<string, unknown>, nonce: bigint) {
  const r = LEDGER.decodeTx(
    await signTx({ chainId: "cirrus-test", type, from: from.address, nonce, fee: 1n, body }, from.seed),
    { maxTxBytes: 1 << 20 },
  );
  if (!r.ok) throw new Error(`${type}: ${r.reason}`);
  return r.stx;
}

function writesOf(ex: BlockExecution): [string, string | null][] {
  return [...ex.writes.entries()].map(([k, v]) => [k, v ? toHex(v) : null] as [string, string | null]).sort();
}

/** Every key and value of a state, for "nothing changed" checks. */
export function snapshot(s: LedgerState): string {
  return JSON.stringify([s.height, s.appHash, s.entries().map(([k, v]) => [k, toHex(v)])]);
}

/** Events of a block: begin, txs, end. */
export function eventsOf(ex: BlockExecution): { type: string; attrs: Record<string, string> }[] {
  return [...ex.beginEvents, ...ex.results.flatMap((r) => r.events), ...ex.endEvents];
}

/** A provider.create body. */
export function providerBody(
  attrs: Record<string, string> = { region: "us-west" },
  host = "/ip4/10.0.0.1/tcp/4001",
) {
  return {
    hostUri: [host],
    attributes: Object.entries(attrs).map(([key, value]) => ({ key, value })),
    info: { email: "ops@example.com" },
  };
}

/** A deployment.create body. */
export function deploymentBody(groups: Group[], deposit = "5000000", dseq?: number): Record<string, unknown> {
  const b: Record<string, unknown> = {
    groups,
    manifestHash: HASH1,
    deposit: { denom: "ucrs", amount: deposit },
  };
  if (dseq !== undefined) b.dseq = dseq;
  return b;
}
