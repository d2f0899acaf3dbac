/**
 * SDL texts the tests share.
 * @module
 */

/** examples/hello.yaml, inlined so that edits to the example do not move the tests that use it. */
export const HELLO_SDL = `version: "2.0"
services:
  web:
    image: localhost/busybox:latest
    command: [sh, -c]
    args: ["mkdir -p /www && echo hello from cirrus > /www/index.html && exec busybox httpd -f -p 8080 -h /www"]
    expose:
      - port: 8080
        as: 80
        to:
          - global: true
profiles:
  compute:
    web:
      resources:
        cpu:
          units: 0.1
        memory:
          size: 64Mi
        storage:
          size: 128Mi
  placement:
    dcloud:
      pricing:
        web:
          denom: ucrs
          amount: 100
deployment:
  web:
    dcloud:
      profile: web
      count: 1
`;
