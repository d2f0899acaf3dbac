/**
 * The genesis of a local network (`cirrus devnet`, in-process test networks, later the simulator):
 * validators with equal power, funded accounts, default params with overrides. Pure: keys and time
 * are given, nothing is read or drawn here. Each validator is a bonded validator of the staking
 * module: power {@link DEVNET_VALIDATOR_POWER} x `params.staking.powerReduction` ucrs (10 000 000 by
 * default), minted at genesis and self-delegated, so the powers are those of a chain before staking.
 * @module
 */
import { toHex } from "../../lib/crypto.ts";
import type { MarketParams } from "../../auction/market/types.ts";
import { type ConsensusParams, defaultParams, type Genesis, type GenesisAccount } from "./genesis.ts";
import type { StakingParams } from "./staking_params.ts";

/** Voting power of each devnet validator. */
export const DEVNET_VALIDATOR_POWER = "10";

/** A validator of a local network: its name and consensus key. */
export interface DevnetValidator {
  name: string;
  address: string;
  pubKey: Uint8Array;
}

/** Options of {@link devnetGenesis}. */
export interface DevnetGenesisOptions {
  chainId: string;
  /** ISO 8601 time. */
  genesisTime: string;
  /** The validators, each with power {@link DEVNET_VALIDATOR_POWER}, in this order. */
  validators: readonly DevnetValidator[];
  /** Funded accounts, in this order. */
  accounts: readonly GenesisAccount[];
  /** When given, each validator's own address is funded with this balance too (after `accounts`). */
  validatorBalance?: string;
  /** Consensus param overrides (timeouts, block limits). */
  consensus?: Partial<ConsensusParams>;
  /** Marketplace param overrides (e.g. a longer bid window). */
  market?: Partial<MarketParams>;
  /** Staking param overrides (e.g. a short downtime window for fault tests). */
  staking?: Partial<StakingParams>;
}

/**
 * The genesis document of a local network.
 * @example
 * ```ts
 * const genesis = devnetGenesis({
 *   chainId: "cirrus-devnet",
 *   genesisTime: new Date().toISOString(),
 *   validators: [{ name: "node0", address, pubKey }],
 *   accounts: [{ name: "alice", address: alice, balance: "1000000" }],
 * });
 * ```
 */
export function devnetGenesis(o: DevnetGenesisOptions): Genesis {
  const params = defaultParams();
  Object.assign(params.consensus, o.consensus ?? {});
  Object.assign(params.market, o.market ?? {});
  Object.assign(params.staking, o.staking ?? {});
  const balance = o.validatorBalance;
  return {
    chainId: o.chainId,
    genesisTime: o.genesisTime,
    validators: o.validators.map((v) => ({
      name: v.name,
      address: v.address,
      pubKey: toHex(v.pubKey),
      power: DEVNET_VALIDATOR_POWER,
    })),
    accounts: [
      ...o.accounts.map((a) => ({ ...a })),
      ...(balance === undefined
        ? []
        : o.validators.map((v) => ({ name: v.name, address: v.address, balance }))),
    ],
    params,
  };
}
