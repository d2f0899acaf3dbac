/**
 * The provider role: cluster drivers (kubernetes, podman, sim) behind one interface, the Kubernetes
 * objects of a lease, host-port allocation and reconciliation.
 * @module
 */
export * from "./cluster/objects.ts";
export * from "./cluster/driver.ts";
export { SimDriver, type SimDriverOptions } from "./cluster/sim.ts";
export {
  BUSYBOX_IMAGE,
  classifyPlayError,
  ensureBusyboxImage,
  podmanAvailable,
  PodmanDriver,
  type PodmanDriverOptions,
  type PodmanOptions,
  PROJECT_CONTAINERS_CONF,
  runPodman,
} from "./cluster/podman.ts";
export { KubernetesDriver, type KubernetesDriverOptions, parseQuantity } from "./cluster/kubernetes.ts";
export * from "./protocol/mod.ts";
export * from "./manifest_check.ts";
export * from "./config.ts";
export * from "./inventory.ts";
export * from "./pricing.ts";
export * from "./bid_engine.ts";
export * from "./image_name.ts";
