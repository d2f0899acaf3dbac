/**
 * Storage classes, as Akash names them: `default` (the node's ephemeral disk), `beta1`/`beta2`/`beta3`
 * (persistent classes: hdd, ssd, nvme) and `ram` (memory-backed, never persistent).
 * @module
 */

/** Every storage class an SDL volume, an order or a provider may name. */
export const STORAGE_CLASSES = ["default", "beta1", "beta2", "beta3", "ram"] as const;

/** One storage class. */
export type StorageClass = typeof STORAGE_CLASSES[number];

/** True when `v` names a storage class. */
export function isStorageClass(v: unknown): v is StorageClass {
  return typeof v === "string" && (STORAGE_CLASSES as readonly string[]).includes(v);
}
