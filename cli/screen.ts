/**
 * `deployment screen FILE`: asks every registered provider over `/cirrus/screen/1` whether it would
 * bid on each group of an SDL file and at what price, or why not (the bid engine's own reasons).
 * `deployment create --wait` uses {@link screenGroups} to say why providers decline.
 * @module
 */
import type { Command } from "commander";
import { groupsForTx } from "../auction/market/mod.ts";
import type { DecCoin, ProviderInfo } from "../auction/market/types.ts";
import type { Group } from "../auction/sdl/types.ts";
import {
  decodeResponse,
  encodeScreenRequest,
  type GroupScreening,
  SCREEN_PROTOCOL_ID,
  screenAnswerFrom,
} from "../provider/protocol/mod.ts";
import { chainId, dialProvider, withHost } from "./lease.ts";
import { emit, type GlobalOptions, globals, readSdl, rpc, UserError } from "./util.ts";

/** One provider's answer for one group. */
export type ProviderScreening =
  | { address: string; bid: true; price: DecCoin }
  | { address: string; bid: false; reasons: string[] };

/** Every provider's answer, by group (in the SDL's order; providers sorted by address). */
export interface Screening {
  groups: { name: string; providers: ProviderScreening[] }[];
}

/** Providers asked at once. */
const PARALLEL = 8;

/** Asks one provider; its answers by group name, or the reason it gave none. */
async function askProvider(
  g: GlobalOptions,
  p2p: Parameters<Parameters<typeof withHost>[0]>[0],
  address: string,
  request: Uint8Array,
  timeoutMs: number,
): Promise<Map<string, GroupScreening> | string> {
  try {
    const peer = await dialProvider(g, p2p, address);
    const res = decodeResponse(await p2p.request(peer, SCREEN_PROTOCOL_ID, request, { timeoutMs }));
    if (!res.ok) return `provider refused to screen: ${res.error} (${res.code})`;
    const answer = screenAnswerFrom(res);
    if (answer.provider !== address) return `provider answered as ${answer.provider}`;
    return new Map(answer.groups.map((x) => [x.name, x]));
  } catch (e) {
    return `provider did not answer: ${(e as Error).message}`;
  }
}

/** Asks every registered provider about `groups` (as `groupsForTx` makes them). */
export async function screenGroups(
  g: GlobalOptions,
  groups: Group[],
  opts: { timeoutMs?: number } = {},
): Promise<Screening> {
  const { providers } = await rpc<{ providers: ProviderInfo[] }>(g, "/query/providers");
  const addresses = providers.map((p) => p.owner).sort();
  const request = encodeScreenRequest({ chainId: await chainId(g), groups });
  const answers = new Map<string, Map<string, GroupScreening> | string>();
  if (addresses.length > 0) {
    await withHost(async (p2p) => {
      let next = 0;
      const worker = async () => {
        while (next < addresses.length) {
          const a = addresses[next++]!;
          answers.set(a, await askProvider(g, p2p, a, request, opts.timeoutMs ?? 10_000));
        }
      };
      await Promise.all(Array.from({ length: Math.min(PARALLEL, addresses.length) }, worker));
    });
  }
  return {
    groups: groups.map((grp) => ({
      name: grp.name,
      providers: addresses.map((address): ProviderScreening => {
        const a = answers.get(address) ?? "provider was not asked";
        if (typeof a === "string") return { address, bid: false, reasons: [a] };
        const x = a.get(grp.name);
        if (!x) return { address, bid: false, reasons: [`provider did not answer for group ${grp.name}`] };
        return x.bid ? { address, bid: true, price: x.price } : { address, bid: false, reasons: x.reasons };
      }),
    })),
  };
}

/** The text lines of a screening: per group, each provider's price or reasons. */
export function screeningLines(s: Screening): string[] {
  const out: string[] = [];
  for (const grp of s.groups) {
    const bids = grp.providers.filter((p) => p.bid).length;
    out.push(`group ${grp.name}: ${bids} of ${grp.providers.length} providers would bid`);
    if (grp.providers.length === 0) out.push("  no provider is registered");
    for (const p of grp.providers) {
      out.push(
        p.bid
          ? `  ${p.address}\tbid ${p.price.amount} ${p.price.denom}/block`
          : `  ${p.address}\tno bid: ${p.reasons.join("; ")}`,
      );
    }
  }
  return out;
}

/** Register `deployment screen <file>`. */
export function addScreenCommand(deployment: Command): void {
  deployment.command("screen <file>").description(
    "ask every provider whether it would bid on each group, at what price, or why not",
  )
    .option("--timeout <seconds>", "per provider", "10")
    .action(async (file: string, o, cmd) => {
      const g = globals(cmd);
      const sdl = await readSdl(file);
      const timeout = Number(o.timeout);
      if (!(timeout > 0)) throw new UserError(`--timeout must be a positive number of seconds`);
      const s = await screenGroups(g, groupsForTx(sdl.groups), { timeoutMs: timeout * 1000 });
      emit(g, s, () => screeningLines(s).join("\n"));
    });
}
