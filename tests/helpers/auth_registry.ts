/**
 * A tiny OCI registry for tests: serves one image (saved from local podman storage as an OCI
 * layout) over plain HTTP on 127.0.0.1 (port 0), and only to clients sending the right basic auth
 * (401 with a `WWW-Authenticate: Basic` challenge otherwise). It records every request's method,
 * path and whether it was authorized (never the header itself).
 */
import { join } from "node:path";
import { runPodman } from "../../provider/cluster/podman.ts";

/** A running test registry. */
export interface AuthRegistry {
  /** `127.0.0.1:PORT` */
  host: string;
  /** the image's reference there (`HOST/cirrus/busybox:latest`) */
  image: string;
  requests: { method: string; path: string; authorized: boolean }[];
  close(): Promise<void>;
}

/** Starts a registry holding `source` (a local image) as `cirrus/busybox:latest`. */
export async function startAuthRegistry(
  source: string,
  user: string,
  password: string,
): Promise<AuthRegistry> {
  const dir = await Deno.makeTempDir({ prefix: "cirrus-registry-" });
  const saved = await runPodman({}, ["save", "--format", "oci-dir", "-o", join(dir, "oci"), source]);
  if (saved.code !== 0) throw new Error(`podman save failed: ${saved.stderr}`);
  const index = JSON.parse(await Deno.readTextFile(join(dir, "oci", "index.json")));
  const manifest: { digest: string; mediaType: string } = index.manifests[0];
  const blob = (digest: string) => join(dir, "oci", "blobs", ...digest.split(":"));
  const want = `Basic ${btoa(`${user}:${password}`)}`;
  const requests: AuthRegistry["requests"] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const path = new URL(req.url).pathname;
    const authorized = req.headers.get("authorization") === want;
    requests.push({ method: req.method, path, authorized });
    if (!authorized) {
      return new Response("unauthorized", {
        status: 401,
        headers: {
          "www-authenticate": 'Basic realm="cirrus-test"',
          "docker-distribution-api-version": "registry/2.0",
        },
      });
    }
    if (path === "/v2/" || path === "/v2") {
      return new Response("{}", { headers: { "content-type": "application/json" } });
    }
    const m = /^\/v2\/cirrus\/busybox\/(manifests|blobs)\/(.+)$/.exec(path);
    if (!m) return new Response("not found", { status: 404 });
    const ref = m[2]!;
    const digest = m[1] === "manifests" && ref === "latest" ? manifest.digest : ref;
    let body: Uint8Array<ArrayBuffer>;
    try {
      body = await Deno.readFile(blob(digest));
    } catch {
      return new Response("not found", { status: 404 });
    }
    const type = m[1] === "manifests" ? manifest.mediaType : "application/octet-stream";
    const headers = {
      "content-type": type,
      "docker-content-digest": digest,
      "content-length": String(body.length),
    };
    return new Response(req.method === "HEAD" ? null : body, { headers });
  });
  const host = `127.0.0.1:${server.addr.port}`;
  return {
    host,
    image: `${host}/cirrus/busybox:latest`,
    requests,
    close: async () => {
      await server.shutdown();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
