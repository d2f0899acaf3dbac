/**
 * Image names as Kubernetes (containerd, the Docker reference grammar) reads them, so that every
 * cluster driver runs the same image for the same SDL: `drupal` is `docker.io/library/drupal:latest`,
 * `user/app` is `docker.io/user/app:latest`, `ghcr.io/o/app:1.2` and `localhost/busybox:latest` stay
 * as they are, a digest is kept (`nginx@sha256:...` -> `docker.io/library/nginx@sha256:...`).
 * Podman would otherwise try its "short-name" aliases and search registries, and refuse short names
 * outright when it cannot ask ("short-name did not resolve").
 * @module
 */

/** The default registry of names without one. */
export const DEFAULT_REGISTRY = "docker.io";

/**
 * The fully qualified form of an image reference: `registry/path[:tag][@digest]`, with
 * {@link DEFAULT_REGISTRY} when the first path component is not a registry host (it is one when it
 * holds a `.` or a `:`, or is `localhost`), `library/` for single-component names on Docker Hub, and
 * `:latest` when there is neither tag nor digest. `index.docker.io` is written `docker.io`. A
 * reference that is empty or has an empty component is returned unchanged (the runtime will say why).
 * @param ref an image reference as an SDL gives it
 * @returns the reference a Kubernetes node would pull
 * @example
 * ```ts
 * normalizeImageName("drupal"); // "docker.io/library/drupal:latest"
 * normalizeImageName("user/app:1.0"); // "docker.io/user/app:1.0"
 * normalizeImageName("localhost:5000/app"); // "localhost:5000/app:latest"
 * ```
 */
export function normalizeImageName(ref: string): string {
  const at = ref.indexOf("@");
  const name = at < 0 ? ref : ref.slice(0, at);
  const digest = at < 0 ? "" : ref.slice(at);
  if (name === "" || name.split("/").some((c) => c === "")) return ref;
  const parts = name.split("/");
  const head = parts[0]!;
  const isRegistry = parts.length > 1 && (head.includes(".") || head.includes(":") || head === "localhost");
  let registry = isRegistry ? head : DEFAULT_REGISTRY;
  let path = isRegistry ? parts.slice(1) : parts;
  if (registry === "index.docker.io") registry = DEFAULT_REGISTRY;
  if (registry === DEFAULT_REGISTRY && path.length === 1) path = ["library", ...path];
  const last = path[path.length - 1]!;
  const hasTag = last.includes(":");
  const tag = hasTag || digest !== "" ? "" : ":latest";
  return `${registry}/${path.join("/")}${tag}${digest}`;
}

/**
 * The registry host of an image reference, as Kubernetes reads it (`drupal` -> `docker.io`,
 * `ghcr.io/o/app` -> `ghcr.io`, `localhost:5000/app` -> `localhost:5000`).
 */
export function imageRegistry(ref: string): string {
  const full = normalizeImageName(ref);
  return full.split("/")[0] ?? DEFAULT_REGISTRY;
}

/**
 * The registry host an SDL `credentials.host` names: a scheme, a path and a trailing slash are
 * dropped, the host lowercased; Docker Hub's names (`index.docker.io`, `registry-1.docker.io`,
 * `https://index.docker.io/v1/`) are `docker.io`.
 * @example credentialsRegistry("https://index.docker.io/v1/") // "docker.io"
 */
export function credentialsRegistry(host: string): string {
  let h = host.trim().toLowerCase().replace(/^[a-z][a-z0-9+.-]*:\/\//, "");
  h = h.split("/")[0] ?? "";
  if (h === "index.docker.io" || h === "registry-1.docker.io" || h === "registry.hub.docker.com") {
    return DEFAULT_REGISTRY;
  }
  return h;
}

/**
 * Why a service's pull credentials cannot be used for its image (undefined when they can): their
 * host must be the image's registry, else the runtime would send them nowhere (or somewhere else).
 */
export function credentialsProblem(image: string, host: string): string | undefined {
  const want = imageRegistry(image);
  const have = credentialsRegistry(host);
  if (have === "") return `credentials.host is empty (the image ${image} pulls from ${want})`;
  if (have !== want) {
    return `credentials are for registry ${have}, but the image ${image} pulls from ${want}`;
  }
  return undefined;
}
