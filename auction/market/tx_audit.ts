/**
 * Audit txs: `audit.attest` (an auditor signs attributes of a registered provider, replacing its
 * earlier attestation) and `audit.revoke` (all, or some keys).
 * @module
 */
import { fail, marketKeys as K, readRecord, writeRecord } from "./records.ts";
import type { Handler } from "./tx_common.ts";
import type { AttestationRecord } from "./types.ts";

/** Handlers of the audit txs. */
export const auditHandlers: Record<string, Handler> = {
  "audit.attest"(s, _p, from, body) {
    const provider = body.provider as string;
    if (!s.get(K.provider(provider))) fail(`provider ${provider} is not registered`);
    const attributes = [...(body.attributes as AttestationRecord["attributes"])]
      .map((a) => ({ key: a.key, value: a.value }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const rec: AttestationRecord = { attributes, height: s.height };
    writeRecord(s, K.audit(provider, from), rec);
    s.emit("audit.attested", {
      provider,
      auditor: from,
      attributes: attributes.map((a) => `${a.key}=${a.value}`).join(","),
    });
  },
  "audit.revoke"(s, _p, from, body) {
    const provider = body.provider as string;
    const key = K.audit(provider, from);
    const rec = readRecord<AttestationRecord>(s, key);
    if (!rec) fail(`auditor ${from} has no attestation of provider ${provider}`);
    const keys = body.keys as string[] | undefined;
    let rest: AttestationRecord["attributes"] = [];
    if (keys) {
      const attested = new Set(rec!.attributes.map((a) => a.key));
      const absent = keys.find((k) => !attested.has(k));
      if (absent !== undefined) fail(`auditor ${from} has not attested ${absent} of provider ${provider}`);
      rest = rec!.attributes.filter((a) => !keys.includes(a.key));
    }
    if (rest.length === 0) s.delete(key);
    else writeRecord(s, key, { attributes: rest, height: s.height });
    const removed = keys ?? rec!.attributes.map((a) => a.key);
    s.emit("audit.revoked", {
      provider,
      auditor: from,
      keys: removed.join(","),
      remaining: String(rest.length),
    });
  },
};
