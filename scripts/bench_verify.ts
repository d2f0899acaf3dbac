/**
 * Benchmark of signature verification (crypto.ts `verify`, the one rule), plus noble strict alone.
 * Prints verifies/s sequential and with 64 verifications in flight.
 *
 * Usage: ./cirrus --run-script scripts/bench_verify.ts [N=4000]
 */
import { generatePrivateKey, publicKeyOf, sign, verify, verifyWithNoble } from "../lib/crypto.ts";
import { exitOnHelp } from "./help.ts";

exitOnHelp(import.meta.url);

const n = Number(Deno.args[0] ?? 4000);
const keys = Array.from({ length: 64 }, () => generatePrivateKey());
const items: { pub: Uint8Array; msg: Uint8Array; sig: Uint8Array }[] = [];
for (let i = 0; i < n; i++) {
  const seed = keys[i % keys.length]!;
  const msg = crypto.getRandomValues(new Uint8Array(200));
  items.push({ pub: publicKeyOf(seed), msg, sig: await sign(seed, msg) });
}

async function sequential(): Promise<number> {
  const t0 = performance.now();
  for (const it of items) if (!(await verify(it.pub, it.msg, it.sig))) throw new Error("bad signature");
  return n / ((performance.now() - t0) / 1000);
}

async function inFlight(k: number): Promise<number> {
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const it = items[next++]!;
      if (!(await verify(it.pub, it.msg, it.sig))) throw new Error("bad signature");
    }
  };
  await Promise.all(Array.from({ length: k }, worker));
  return n / ((performance.now() - t0) / 1000);
}

function nobleOnly(): number {
  const m = Math.min(n, 1000);
  const t0 = performance.now();
  for (let i = 0; i < m; i++) {
    const it = items[i]!;
    if (!verifyWithNoble(it.pub, it.msg, it.sig)) throw new Error("bad signature");
  }
  return m / ((performance.now() - t0) / 1000);
}

await sequential(); // warm-up (imports keys, JIT)
const seq = await sequential();
const par = await inFlight(64);
const nob = nobleOnly();
console.log(`verify (webcrypto fast path), ${n} sigs of 200 B, 64 keys:`);
console.log(`  sequential:   ${Math.round(seq)} verifies/s`);
console.log(`  64 in flight: ${Math.round(par)} verifies/s`);
console.log(`noble strict alone (the judge on refusals): ${Math.round(nob)} verifies/s`);
