/**
 * The shape of a deployment manifest on the wire (`/cirrus/manifest/1`): what a `Manifest`
 * (`auction/sdl/types.ts`) looks like, with a bound on every list and string, checked with `lib/schema.ts`. Whether the
 * manifest matches the lease is `manifest_check.ts`'s job.
 * @module
 */
import {
  arr,
  bool,
  type Check,
  first,
  int,
  obj,
  oneOf,
  optional,
  type Problem,
  str,
} from "../../lib/schema.ts";
import { STORAGE_CLASSES } from "../../lib/storage.ts";
import {
  GROUP_COUNT_MAX,
  GROUP_UNIT_COUNT_MAX,
  HTTP_NEXT_CASES,
  UNIT_COUNT_MAX,
  UNIT_GPU_MAX,
} from "../../auction/sdl/limits.ts";

/** Longest name (group, volume, model...), characters. */
export const NAME_MAX = 256;
/** Longest free text (command, args, env entries), characters. */
export const TEXT_MAX = 64 * 1024;
/** Most entries of a list (command, args, endpoints, exposes...). */
const LIST_MAX = 256;
/** Largest size or count field. */
const SIZE_MAX = Number.MAX_SAFE_INTEGER;

const strList = (max: number, len: number): Check => (x, p) => arr(x, p, max, (s, q) => str(s, q, len));

function volumeProblem(v: unknown, p: string): Problem {
  return obj(v, p, ["name", "size", "persistent"], ["class"], (o) =>
    first(
      str(o.name, `${p}.name`, NAME_MAX, 1),
      int(o.size, `${p}.size`, 0, SIZE_MAX),
      bool(o.persistent, `${p}.persistent`),
      optional((c, q) => oneOf(c, q, STORAGE_CLASSES))(o.class, `${p}.class`),
    ));
}

function gpuAttributeProblem(v: unknown, p: string): Problem {
  return obj(v, p, ["vendor", "model"], ["ram", "interface"], (o) =>
    first(
      oneOf(o.vendor, `${p}.vendor`, ["nvidia", "amd"]),
      str(o.model, `${p}.model`, NAME_MAX, 1),
      optional((r, q) => str(r, q, 32, 1))(o.ram, `${p}.ram`),
      optional((i, q) => oneOf(i, q, ["pcie", "sxm"]))(o.interface, `${p}.interface`),
    ));
}

function resourcesProblem(v: unknown, p: string): Problem {
  return obj(v, p, ["id", "cpu", "memory", "storage", "gpu", "endpoints"], [], (o) =>
    first(
      int(o.id, `${p}.id`, 1, GROUP_UNIT_COUNT_MAX),
      int(o.cpu, `${p}.cpu`, 0, SIZE_MAX),
      int(o.memory, `${p}.memory`, 0, SIZE_MAX),
      arr(o.storage, `${p}.storage`, 32, volumeProblem),
      obj(o.gpu, `${p}.gpu`, ["units", "attributes"], [], (g) =>
        first(
          int(g.units, `${p}.gpu.units`, 0, UNIT_GPU_MAX),
          arr(g.attributes, `${p}.gpu.attributes`, 64, gpuAttributeProblem),
        )),
      arr(o.endpoints, `${p}.endpoints`, LIST_MAX, (e, q) =>
        obj(e, q, ["kind", "sequenceNumber"], [], (x) =>
          first(
            oneOf(x.kind, `${q}.kind`, ["shared_http", "random_port", "leased_ip"]),
            int(x.sequenceNumber, `${q}.sequenceNumber`, 0, SIZE_MAX),
          ))),
    ));
}

function exposeProblem(v: unknown, p: string): Problem {
  const keys = [
    "port",
    "externalPort",
    "proto",
    "service",
    "global",
    "hosts",
    "ip",
    "endpointSequenceNumber",
  ];
  return obj(v, p, [...keys, "httpOptions"], [], (o) =>
    first(
      int(o.port, `${p}.port`, 1, 65535),
      int(o.externalPort, `${p}.externalPort`, 0, 65535),
      oneOf(o.proto, `${p}.proto`, ["tcp", "udp"]),
      str(o.service, `${p}.service`, NAME_MAX),
      bool(o.global, `${p}.global`),
      strList(LIST_MAX, 253)(o.hosts, `${p}.hosts`),
      str(o.ip, `${p}.ip`, NAME_MAX),
      int(o.endpointSequenceNumber, `${p}.endpointSequenceNumber`, 0, SIZE_MAX),
      obj(
        o.httpOptions,
        `${p}.httpOptions`,
        ["maxBodySize", "readTimeout", "sendTimeout", "nextTries", "nextTimeout", "nextCases"],
        [],
        (h) =>
          first(
            int(h.maxBodySize, `${p}.httpOptions.maxBodySize`, 0, SIZE_MAX),
            int(h.readTimeout, `${p}.httpOptions.readTimeout`, 0, SIZE_MAX),
            int(h.sendTimeout, `${p}.httpOptions.sendTimeout`, 0, SIZE_MAX),
            int(h.nextTries, `${p}.httpOptions.nextTries`, 0, SIZE_MAX),
            int(h.nextTimeout, `${p}.httpOptions.nextTimeout`, 0, SIZE_MAX),
            arr(
              h.nextCases,
              `${p}.httpOptions.nextCases`,
              HTTP_NEXT_CASES.length,
              (c, q) => oneOf(c, q, HTTP_NEXT_CASES),
            ),
          ),
      ),
    ));
}

function serviceProblem(v: unknown, p: string): Problem {
  return obj(
    v,
    p,
    ["name", "image", "command", "args", "env", "resources", "count", "expose", "params"],
    ["credentials"],
    (o) =>
      first(
        str(o.name, `${p}.name`, 63, 1),
        str(o.image, `${p}.image`, 1024, 1),
        strList(LIST_MAX, TEXT_MAX)(o.command, `${p}.command`),
        strList(LIST_MAX, TEXT_MAX)(o.args, `${p}.args`),
        strList(1024, TEXT_MAX)(o.env, `${p}.env`),
        resourcesProblem(o.resources, `${p}.resources`),
        int(o.count, `${p}.count`, 0, UNIT_COUNT_MAX),
        arr(o.expose, `${p}.expose`, LIST_MAX, exposeProblem),
        obj(o.params, `${p}.params`, ["storage"], [], (x) =>
          arr(x.storage, `${p}.params.storage`, 32, (s, q) =>
            obj(s, q, ["name", "mount", "readOnly"], [], (y) =>
              first(
                str(y.name, `${q}.name`, NAME_MAX, 1),
                str(y.mount, `${q}.mount`, 4096),
                bool(y.readOnly, `${q}.readOnly`),
              )))),
        o.credentials === undefined
          ? null
          : obj(o.credentials, `${p}.credentials`, ["host", "username", "password"], ["email"], (c) =>
            first(
              str(c.host, `${p}.credentials.host`, 1024, 1),
              str(c.username, `${p}.credentials.username`, 1024),
              str(c.password, `${p}.credentials.password`, 4096),
              optional((e, q) =>
                str(e, q, 1024)
              )(c.email, `${p}.credentials.email`),
            )),
      ),
  );
}

/** Why `v` is not a well-formed manifest (the shape of `Manifest`, bounded), or null. */
export function manifestShapeProblem(v: unknown, path = "manifest"): Problem {
  return arr(v, path, GROUP_COUNT_MAX, (g, p) =>
    obj(g, p, ["name", "services"], [], (o) =>
      first(
        str(o.name, `${p}.name`, NAME_MAX, 1),
        arr(o.services, `${p}.services`, 100, serviceProblem, 1),
      )), 1);
}
