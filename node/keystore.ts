/**
 * The keystore: named ed25519 keys under `<home>/keys/NAME.json`, private key files mode 0600.
 * @module
 */
import { join } from "node:path";
import { addressOf, fromHex, generatePrivateKey, publicKeyOf, toHex } from "../lib/crypto.ts";

/** A key as stored on disk. */
export interface KeyFile {
  name: string;
  type: "ed25519";
  address: string;
  pubKey: string;
  privKey: string;
}

/** A loaded key. */
export interface Key {
  name: string;
  address: string;
  pubKey: Uint8Array;
  privKey: Uint8Array;
}

/** A keystore error that a user can act on (bad name, missing key, existing key). */
export class KeystoreError extends Error {
  override name = "KeystoreError";
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

function checkName(name: string): void {
  if (!NAME.test(name)) {
    throw new KeystoreError(
      `Invalid key name "${name}": use 1-64 letters, digits, '_', '.', '-' (starting with a letter or digit)`,
    );
  }
}

/** Build a KeyFile record from a 32-byte private seed. */
export function keyFileFromSeed(name: string, seed: Uint8Array): KeyFile {
  const pub = publicKeyOf(seed);
  return { name, type: "ed25519", address: addressOf(pub), pubKey: toHex(pub), privKey: toHex(seed) };
}

/** Parse and check a key file's JSON (from disk or an import). */
export function parseKeyFile(text: string, where: string): Key {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new KeystoreError(`Cannot read key ${where}: not JSON`);
  }
  const k = raw as Partial<KeyFile>;
  if (
    typeof k !== "object" || k === null || typeof k.privKey !== "string" || !/^[0-9a-f]{64}$/.test(k.privKey)
  ) {
    throw new KeystoreError(`Cannot read key ${where}: privKey must be 64 lowercase hex characters`);
  }
  const seed = fromHex(k.privKey);
  const pub = publicKeyOf(seed);
  const address = addressOf(pub);
  if (k.address !== undefined && k.address !== address) {
    throw new KeystoreError(`Cannot read key ${where}: address ${k.address} does not match its private key`);
  }
  return { name: typeof k.name === "string" ? k.name : "", address, pubKey: pub, privKey: seed };
}

/** Keys under one home directory. */
export class Keystore {
  readonly dir: string;
  constructor(home: string) {
    this.dir = join(home, "keys");
  }

  #path(name: string): string {
    checkName(name);
    return join(this.dir, `${name}.json`);
  }

  /** Write a key; refuses to overwrite an existing one. */
  async save(file: KeyFile): Promise<void> {
    const path = this.#path(file.name);
    await Deno.mkdir(this.dir, { recursive: true, mode: 0o700 });
    try {
      await Deno.writeTextFile(path, JSON.stringify(file, null, 2) + "\n", { createNew: true, mode: 0o600 });
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists) {
        throw new KeystoreError(`Key "${file.name}" already exists`);
      }
      throw e;
    }
    await Deno.chmod(path, 0o600);
  }

  /** Create a new random key. */
  async add(name: string): Promise<Key> {
    const file = keyFileFromSeed(name, generatePrivateKey());
    await this.save(file);
    return this.get(name);
  }

  /** Import a key file (as written by `keys export`). */
  async import(name: string, text: string, where: string): Promise<Key> {
    const key = parseKeyFile(text, where);
    await this.save(keyFileFromSeed(name, key.privKey));
    return this.get(name);
  }

  /** Load a key by name. */
  async get(name: string): Promise<Key> {
    const path = this.#path(name);
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new KeystoreError(`No key named "${name}" in ${this.dir} (see: cirrus keys list)`);
      }
      throw e;
    }
    const key = parseKeyFile(text, path);
    return { ...key, name };
  }

  /** The export text of a key (the same JSON as its key file). */
  async export(name: string): Promise<string> {
    const key = await this.get(name);
    return JSON.stringify(keyFileFromSeed(name, key.privKey), null, 2) + "\n";
  }

  /** All keys, sorted by name. */
  async list(): Promise<Key[]> {
    const out: Key[] = [];
    try {
      for await (const e of Deno.readDir(this.dir)) {
        if (e.isFile && e.name.endsWith(".json")) {
          const name = e.name.slice(0, -5);
          if (NAME.test(name)) out.push(await this.get(name));
        }
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }
}
