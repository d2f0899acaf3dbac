/**
 * Provider txs: `provider.create`, `provider.update` (host URIs, attributes, info).
 * @module
 */
import { fail, marketKeys as K, readRecord, writeRecord } from "./records.ts";
import type { Body, Handler } from "./tx_common.ts";
import type { ProviderRecord } from "./types.ts";

function providerRecord(body: Body, createdAt: number, h: number): ProviderRecord {
  return {
    hostUri: body.hostUri as string[],
    attributes: body.attributes as ProviderRecord["attributes"],
    info: (body.info ?? {}) as ProviderRecord["info"],
    createdAt,
    updatedAt: h,
  };
}

/** Handlers of the provider txs. */
export const providerHandlers: Record<string, Handler> = {
  "provider.create"(s, _p, from, body) {
    if (s.get(K.provider(from))) fail(`provider ${from} already exists (use provider.update)`);
    writeRecord(s, K.provider(from), providerRecord(body, s.height, s.height));
    s.emit("provider.created", { provider: from });
  },
  "provider.update"(s, _p, from, body) {
    const old = readRecord<ProviderRecord>(s, K.provider(from));
    if (!old) fail(`provider ${from} is not registered (use provider.create)`);
    writeRecord(s, K.provider(from), providerRecord(body, old!.createdAt, s.height));
    s.emit("provider.updated", { provider: from });
  },
};
