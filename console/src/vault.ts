/**
 * The browser's key vault: ed25519 seeds encrypted with a passphrase (PBKDF2-SHA256, 310 000
 * iterations -> AES-256-GCM, WebCrypto) and kept in `localStorage`. A seed is decrypted only into the
 * page's memory; it is never sent anywhere.
 * @module
 */
import { addressOf, fromHex, generatePrivateKey, isHex, publicKeyOf, toHex } from "../../lib/crypto.ts";

/** PBKDF2 iterations (OWASP's figure for PBKDF2-HMAC-SHA256). */
export const PBKDF2_ITERATIONS = 310_000;
/** Shortest passphrase accepted. */
export const PASSPHRASE_MIN_CHARS = 8;
const STORAGE_KEY = "cirrus.vault.v1";
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** A stored key: its address in clear, its seed encrypted. */
export interface VaultEntry {
  name: string;
  address: string;
  /** hex: PBKDF2 salt (16 bytes), AES-GCM iv (12 bytes), ciphertext of the 32-byte seed (+16 tag) */
  salt: string;
  iv: string;
  ciphertext: string;
  iterations: number;
}

/** An unlocked key: in memory only. */
export interface UnlockedKey {
  name: string;
  address: string;
  seed: Uint8Array;
}

/** The part of `Storage` the vault uses (localStorage in the page, a Map in tests). */
export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

async function aesKey(
  passphrase: string,
  salt: Uint8Array<ArrayBuffer>,
  iterations: number,
): Promise<CryptoKey> {
  const base = await crypto.subtle.importKey("raw", new TextEncoder().encode(passphrase), "PBKDF2", false, [
    "deriveKey",
  ]);
  return await crypto.subtle.deriveKey(
    { name: "PBKDF2", hash: "SHA-256", salt, iterations },
    base,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
}

/** The vault over a store. */
export class Vault {
  constructor(readonly store: KeyValueStore, readonly iterations: number = PBKDF2_ITERATIONS) {}

  /** The stored keys (addresses in clear). */
  list(): VaultEntry[] {
    try {
      const v = JSON.parse(this.store.getItem(STORAGE_KEY) ?? "[]");
      return Array.isArray(v) ? v as VaultEntry[] : [];
    } catch {
      return [];
    }
  }

  /**
   * Encrypts `seed` under `passphrase` and stores it as `name`.
   * @throws Error when the name is taken or invalid, the passphrase too short or the seed not 32 bytes
   */
  async add(name: string, seed: Uint8Array, passphrase: string): Promise<VaultEntry> {
    if (!NAME.test(name)) throw new Error(`Invalid key name "${name}": use letters, digits, '_', '.', '-'`);
    if (passphrase.length < PASSPHRASE_MIN_CHARS) {
      throw new Error(`the passphrase must have at least ${PASSPHRASE_MIN_CHARS} characters`);
    }
    if (seed.length !== 32) throw new Error("a private key is 32 bytes (64 hex characters)");
    const entries = this.list();
    if (entries.some((e) => e.name === name)) throw new Error(`a key named "${name}" exists already`);
    const salt = crypto.getRandomValues(new Uint8Array(16));
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const key = await aesKey(passphrase, salt, this.iterations);
    const ct = new Uint8Array(
      await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, new Uint8Array(seed)),
    );
    const entry: VaultEntry = {
      name,
      address: addressOf(publicKeyOf(seed)),
      salt: toHex(salt),
      iv: toHex(iv),
      ciphertext: toHex(ct),
      iterations: this.iterations,
    };
    this.store.setItem(STORAGE_KEY, JSON.stringify([...entries, entry]));
    return entry;
  }

  /** A new random key, stored encrypted. */
  create(name: string, passphrase: string): Promise<VaultEntry> {
    return this.add(name, generatePrivateKey(), passphrase);
  }

  /** Imports a 64-hex-character private key (as `cirrus keys export` shows it). */
  import(name: string, seedHex: string, passphrase: string): Promise<VaultEntry> {
    const hex = seedHex.trim().toLowerCase();
    if (!isHex(hex) || hex.length !== 64) throw new Error("a private key is 64 hex characters");
    return this.add(name, fromHex(hex), passphrase);
  }

  /**
   * Decrypts a key into memory.
   * @throws Error "wrong passphrase" when the passphrase does not open it
   */
  async unlock(name: string, passphrase: string): Promise<UnlockedKey> {
    const e = this.list().find((x) => x.name === name);
    if (!e) throw new Error(`no key named "${name}"`);
    const key = await aesKey(passphrase, fromHex(e.salt) as Uint8Array<ArrayBuffer>, e.iterations);
    let seed: Uint8Array;
    try {
      seed = new Uint8Array(
        await crypto.subtle.decrypt(
          { name: "AES-GCM", iv: fromHex(e.iv) as Uint8Array<ArrayBuffer> },
          key,
          fromHex(e.ciphertext) as Uint8Array<ArrayBuffer>,
        ),
      );
    } catch {
      throw new Error("wrong passphrase");
    }
    if (addressOf(publicKeyOf(seed)) !== e.address) throw new Error("the stored key is corrupt");
    return { name: e.name, address: e.address, seed };
  }

  /** Removes a key. */
  remove(name: string): void {
    this.store.setItem(STORAGE_KEY, JSON.stringify(this.list().filter((e) => e.name !== name)));
  }
}
