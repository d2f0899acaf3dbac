/**
 * `/cirrus/screen/1`: a tenant asks a provider, before (or while) deploying, whether it would bid on
 * each group of a deployment and at what price, or why not. Unauthenticated (it reveals nothing a
 * provider's bids would not) and therefore bounded: a size limit on the request, the chain's own
 * group checks (`groupsProblem`), and a per-peer rate limit on the provider (`provider/screen.ts`).
 *
 * Request: `{chainId, groups}` (groups as `deployment.create` carries them, see `groupsForTx`).
 * Answer: `{ok: true, provider, height, groups: [{name, bid: true, price} | {name, bid: false, reasons}]}`
 * or an error response (`bad_request`, `busy`, ...).
 * @module
 */
import { arr, bool, first, isObj, keysProblem, obj, type Problem, str } from "../../lib/schema.ts";
import { isDenom } from "../../lib/units.ts";
import { groupsProblem } from "../../auction/market/validate.ts";
import type { DecCoin } from "../../auction/market/types.ts";
import type { Group } from "../../auction/sdl/types.ts";
import { GROUP_COUNT_MAX } from "../../auction/sdl/limits.ts";
import { decodeWire, encodeWire, ProtocolError } from "./encoding.ts";
import type { OkResponse, ProtocolResponse } from "./wire_schema.ts";
import { TEXT_MAX } from "./manifest_shape.ts";

/** The screening protocol id. */
export const SCREEN_PROTOCOL_ID = "/cirrus/screen/1";
/** Largest screening request accepted, bytes. */
export const SCREEN_REQUEST_MAX_BYTES = 256 * 1024;
/** Most reasons given for one group. */
export const SCREEN_REASONS_MAX = 8;

/** What a tenant sends on `/cirrus/screen/1`. */
export interface ScreenRequest {
  chainId: string;
  groups: Group[];
}

/** A provider's answer for one group: it would bid at `price`, or it would not, and why. */
export type GroupScreening =
  | { name: string; bid: true; price: DecCoin }
  | { name: string; bid: false; reasons: string[] };

/** What a provider answers on `/cirrus/screen/1`. */
export interface ScreenAnswer {
  /** the provider's account address */
  provider: string;
  /** the height of the state it decided on */
  height: number;
  groups: GroupScreening[];
}

/** A provider's response on `/cirrus/screen/1`. */
export type ScreenResponse = ProtocolResponse<ScreenAnswer>;

/** Wire bytes of a screening request (canonical CBOR). */
export function encodeScreenRequest(r: ScreenRequest): Uint8Array {
  return encodeWire({ chainId: r.chainId, groups: r.groups });
}

/**
 * Decodes untrusted bytes into a screening request: strict canonical CBOR of at most
 * {@link SCREEN_REQUEST_MAX_BYTES}, groups checked by the chain's own rule. Throws only
 * {@link ProtocolError}.
 */
export function decodeScreenRequest(bytes: Uint8Array): ScreenRequest {
  const what = "screen request";
  const v = decodeWire(bytes, what, SCREEN_REQUEST_MAX_BYTES);
  if (!isObj(v)) throw new ProtocolError(`${what}: must be a map`);
  const p = keysProblem(v, ["chainId", "groups"], [], what) ??
    first(str(v.chainId, `${what}.chainId`, 64, 1), groupsProblem(v.groups, `${what}.groups`));
  if (p) throw new ProtocolError(p);
  return { chainId: v.chainId as string, groups: v.groups as Group[] };
}

function priceProblem(v: unknown, path: string): Problem {
  return obj(v, path, ["denom", "amount"], [], (o) =>
    first(
      isDenom(o.denom) ? null : `${path}.denom: must be a denom`,
      str(o.amount, `${path}.amount`, 64, 1) ??
        (/^\d+(\.\d+)?$/.test(o.amount as string) ? null : `${path}.amount: must be a decimal`),
    ));
}

function groupScreeningProblem(v: unknown, path: string): Problem {
  if (!isObj(v)) return `${path}: must be a map`;
  if (v.bid === true) {
    return keysProblem(v, ["name", "bid", "price"], [], path) ??
      first(str(v.name, `${path}.name`, 128, 1), priceProblem(v.price, `${path}.price`));
  }
  return keysProblem(v, ["name", "bid", "reasons"], [], path) ??
    first(
      str(v.name, `${path}.name`, 128, 1),
      bool(v.bid, `${path}.bid`),
      arr(v.reasons, `${path}.reasons`, SCREEN_REASONS_MAX, (r, q) => str(r, q, TEXT_MAX, 1), 1),
    );
}

/**
 * The screening answer in a provider's decoded ok-response (untrusted on the tenant's side); throws
 * {@link ProtocolError} when it is not one.
 */
export function screenAnswerFrom(r: OkResponse): ScreenAnswer {
  const what = "screen answer";
  const p = keysProblem(r, ["ok", "provider", "height", "groups"], [], what) ??
    first(
      str(r.provider, `${what}.provider`, 128, 1),
      typeof r.height === "number" && Number.isSafeInteger(r.height) && r.height >= 0
        ? null
        : `${what}.height: must be a non-negative integer`,
      arr(r.groups, `${what}.groups`, GROUP_COUNT_MAX, groupScreeningProblem),
    );
  if (p) throw new ProtocolError(p);
  return { provider: r.provider as string, height: r.height as number, groups: r.groups as GroupScreening[] };
}
