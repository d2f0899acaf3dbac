/**
 * Image names as Kubernetes reads them: Docker Hub short names get `docker.io/library/`, user images
 * `docker.io/`, a missing tag `:latest`; registry hosts (a dot, a port, `localhost`) and digests are
 * kept; the devnet image `localhost/busybox:latest` is unchanged.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { DEFAULT_REGISTRY, normalizeImageName } from "../../provider/image_name.ts";

const DIGEST = "sha256:" + "ab".repeat(32);

const CASES: [string, string][] = [
  ["drupal", "docker.io/library/drupal:latest"],
  ["nginx:1.25-alpine", "docker.io/library/nginx:1.25-alpine"],
  ["user/app", "docker.io/user/app:latest"],
  ["user/app:v2", "docker.io/user/app:v2"],
  ["org/team/app:1", "docker.io/org/team/app:1"],
  ["docker.io/drupal", "docker.io/library/drupal:latest"],
  ["docker.io/library/drupal:10", "docker.io/library/drupal:10"],
  ["index.docker.io/user/app", "docker.io/user/app:latest"],
  ["ghcr.io/owner/app", "ghcr.io/owner/app:latest"],
  ["ghcr.io/owner/app:1.2.3", "ghcr.io/owner/app:1.2.3"],
  ["quay.io/prometheus/node-exporter:v1.7.0", "quay.io/prometheus/node-exporter:v1.7.0"],
  ["localhost/busybox:latest", "localhost/busybox:latest"],
  ["localhost/busybox", "localhost/busybox:latest"],
  ["localhost:5000/app", "localhost:5000/app:latest"],
  ["registry.example.com:5000/team/app:dev", "registry.example.com:5000/team/app:dev"],
  ["10.0.0.5:5000/app", "10.0.0.5:5000/app:latest"],
  [`nginx@${DIGEST}`, `docker.io/library/nginx@${DIGEST}`],
  [`nginx:1.25@${DIGEST}`, `docker.io/library/nginx:1.25@${DIGEST}`],
  [`ghcr.io/o/app@${DIGEST}`, `ghcr.io/o/app@${DIGEST}`],
  ["akashnetwork/akash-app", "docker.io/akashnetwork/akash-app:latest"],
  ["localhost", "docker.io/library/localhost:latest"],
];

test("image names read as Kubernetes reads them, on many forms", () => {
  for (const [input, want] of CASES) assert.is(normalizeImageName(input), want, input);
  assert.is(DEFAULT_REGISTRY, "docker.io");
});

test("normalising is idempotent", () => {
  for (const [, full] of CASES) assert.is(normalizeImageName(full), full, full);
});

test("malformed references are returned unchanged (the runtime reports them)", () => {
  for (const bad of ["", "/app", "user//app", "app/", "@sha256:x"]) {
    assert.is(normalizeImageName(bad), bad, bad);
  }
});

test.run();
