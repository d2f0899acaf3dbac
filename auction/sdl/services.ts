/**
 * The `services:` section: images, commands, env, exposes (ports, targets, accepted hosts, http
 * options), storage params, dependencies, registry credentials.
 * @module
 */
import * as L from "./limits.ts";
import {
  type Ctx,
  describe,
  entries,
  isYamlMapping,
  joinPath,
  type Obj,
  readBool,
  readInt,
  readMap,
  readStr,
  readStrList,
  unknownKeys,
} from "./read.ts";
import type { Credentials, Expose, ExposeTo, HttpOptions, Service, StorageParam } from "./types.ts";

const SERVICE_NAME_RE = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const HOSTNAME_RE = /^[A-Za-z0-9*]([A-Za-z0-9\-_.*]*[A-Za-z0-9])?(:\d{1,5})?$/;

function parseHttpOptions(ctx: Ctx, v: unknown, path: string): HttpOptions {
  const o = readMap(ctx, v, path) ?? {};
  unknownKeys(ctx, o, path, [
    "max_body_size",
    "read_timeout",
    "send_timeout",
    "next_tries",
    "next_timeout",
    "next_cases",
  ]);
  const opt = (key: string, limit: number, dflt: number): number => {
    const raw = o[key];
    if (raw === null || raw === undefined) return dflt;
    const n = readInt(ctx, raw, joinPath(path, key), 0, limit);
    return n === undefined || n === 0 ? dflt : n;
  };
  const out: HttpOptions = {
    maxBodySize: opt("max_body_size", L.HTTP_BODY_BYTES_MAX, L.HTTP_BODY_BYTES_DEFAULT),
    readTimeout: opt("read_timeout", L.HTTP_READ_TIMEOUT_MS_MAX, L.HTTP_READ_TIMEOUT_MS_DEFAULT),
    sendTimeout: opt("send_timeout", L.HTTP_SEND_TIMEOUT_MS_MAX, L.HTTP_SEND_TIMEOUT_MS_DEFAULT),
    nextTries: opt("next_tries", 0xffffffff, L.HTTP_NEXT_TRIES_DEFAULT),
    nextTimeout: opt("next_timeout", 0xffffffff, 0),
    nextCases: [],
  };
  const cases = readStrList(ctx, o["next_cases"], joinPath(path, "next_cases"));
  cases.forEach((c, i) => {
    if (!L.HTTP_NEXT_CASES.includes(c)) {
      ctx.err(joinPath(joinPath(path, "next_cases"), i), `unknown next case ${JSON.stringify(c)}`);
    }
  });
  if (cases.includes("off") && cases.length > 1) {
    ctx.err(joinPath(path, "next_cases"), `"off" must be the only next case`);
  }
  out.nextCases = cases.length > 0 ? cases : [...L.HTTP_NEXT_CASES_DEFAULT];
  return out;
}

function parseExpose(ctx: Ctx, v: unknown, path: string): Expose | undefined {
  const o = readMap(ctx, v, path, true);
  if (!o) return undefined;
  unknownKeys(ctx, o, path, ["port", "as", "proto", "to", "accept", "http_options"]);
  const port = o["port"] === null || o["port"] === undefined
    ? (ctx.err(joinPath(path, "port"), "required (1..65535)"), undefined)
    : readInt(ctx, o["port"], joinPath(path, "port"), 1, 65535, "a port 1..65535");
  const as = o["as"] === null || o["as"] === undefined
    ? 0
    : readInt(ctx, o["as"], joinPath(path, "as"), 1, 65535, "a port 1..65535");
  let proto: "tcp" | "udp" = "tcp";
  const p = readStr(ctx, o["proto"], joinPath(path, "proto"));
  if (p !== undefined && p !== "") {
    const lp = p.toLowerCase();
    if (lp === "tcp" || lp === "udp") proto = lp;
    else ctx.err(joinPath(path, "proto"), `must be tcp or udp, got ${JSON.stringify(p)}`);
  }
  const to: ExposeTo[] = [];
  const toPath = joinPath(path, "to");
  const rawTo = o["to"];
  if (rawTo !== null && rawTo !== undefined) {
    if (!Array.isArray(rawTo)) {
      ctx.err(toPath, `must be a list (write "- global: true"), got ${describe(rawTo)}`);
    } else {
      rawTo.forEach((t, j) => {
        const tp = joinPath(toPath, j);
        const to1 = readMap(ctx, t, tp, true);
        if (!to1) return;
        unknownKeys(ctx, to1, tp, ["service", "global", "ip", "http_options"]);
        const entry: ExposeTo = { global: readBool(ctx, to1["global"], joinPath(tp, "global")) };
        const svc = readStr(ctx, to1["service"], joinPath(tp, "service"));
        if (svc) entry.service = svc;
        const ip = readStr(ctx, to1["ip"], joinPath(tp, "ip"));
        if (ip) entry.ip = ip;
        to.push(entry);
      });
    }
  }
  const acceptPath = joinPath(path, "accept");
  const accept = readStrList(ctx, o["accept"], acceptPath);
  accept.forEach((h, i) => {
    if (!HOSTNAME_RE.test(h)) ctx.err(joinPath(acceptPath, i), `invalid hostname ${JSON.stringify(h)}`);
  });
  const httpOptions = parseHttpOptions(ctx, o["http_options"], joinPath(path, "http_options"));
  if (port === undefined || as === undefined) return undefined;
  return { port, as, proto, to, accept, httpOptions };
}

function parseService(ctx: Ctx, v: unknown, path: string): Service | undefined {
  const o = readMap(ctx, v, path, true);
  if (!o) return undefined;
  unknownKeys(ctx, o, path, [
    "image",
    "command",
    "args",
    "env",
    "expose",
    "params",
    "depends_on",
    "dependencies",
    "credentials",
  ]);
  const image = readStr(ctx, o["image"], joinPath(path, "image"), true) ?? "";
  const command = readStrList(ctx, o["command"], joinPath(path, "command"));
  const args = readStrList(ctx, o["args"], joinPath(path, "args"));
  const envPath = joinPath(path, "env");
  const env = readStrList(ctx, o["env"], envPath);
  env.forEach((e, i) => {
    // "NAME" alone is accepted (an empty value), as Akash's provider does
    if (e.startsWith("=") || e.trim() === "") {
      ctx.err(joinPath(envPath, i), `must be NAME=VALUE, got ${JSON.stringify(e)}`);
    } else if (!/^[\x20-\x7e]+$/.test(e.split("=", 1)[0]!)) {
      // what Kubernetes takes as an env name (the provider's API server would refuse the rest)
      ctx.err(
        joinPath(envPath, i),
        `env name must be printable ASCII, got ${JSON.stringify(e.split("=", 1)[0])}`,
      );
    }
  });
  const expose: Expose[] = [];
  const exposePath = joinPath(path, "expose");
  const rawExpose = o["expose"];
  if (rawExpose !== null && rawExpose !== undefined) {
    if (!Array.isArray(rawExpose)) ctx.err(exposePath, `must be a list, got ${describe(rawExpose)}`);
    else {
      rawExpose.forEach((e, i) => {
        const x = parseExpose(ctx, e, joinPath(exposePath, i));
        if (x) expose.push(x);
      });
    }
  }
  const params: Service["params"] = { storage: {} };
  const paramsPath = joinPath(path, "params");
  const po = readMap(ctx, o["params"], paramsPath);
  if (po) {
    unknownKeys(ctx, po, paramsPath, ["storage"]);
    const sp = joinPath(paramsPath, "storage");
    const so = readMap(ctx, po["storage"], sp) ?? {};
    for (const [name, raw] of entries(so)) {
      const vp = joinPath(sp, name);
      const vo = readMap(ctx, raw, vp, true);
      if (!vo) continue;
      unknownKeys(ctx, vo, vp, ["mount", "readOnly"]);
      const mount = readStr(ctx, vo["mount"], joinPath(vp, "mount")) ?? "";
      if (!mount.startsWith("/")) {
        ctx.err(joinPath(vp, "mount"), `must be an absolute path, got ${JSON.stringify(mount)}`);
      }
      const param: StorageParam = {
        mount,
        readOnly: readBool(ctx, vo["readOnly"], joinPath(vp, "readOnly")),
      };
      params.storage[name] = param;
    }
    // no two volumes on one mount point
    const seen = new Map<string, string>();
    for (const [name, param] of entries(params.storage) as [string, StorageParam][]) {
      const other = seen.get(param.mount);
      if (other !== undefined && param.mount !== "") {
        ctx.err(
          joinPath(joinPath(sp, name), "mount"),
          `mount point ${JSON.stringify(param.mount)} already used by volume ${JSON.stringify(other)}`,
        );
      }
      seen.set(param.mount, name);
    }
  }
  const dependsOn: string[] = [];
  for (const key of ["depends_on", "dependencies"]) {
    const raw = o[key];
    const dp = joinPath(path, key);
    if (raw === null || raw === undefined) continue;
    if (!Array.isArray(raw)) {
      ctx.err(dp, `must be a list of service names, got ${describe(raw)}`);
      continue;
    }
    raw.forEach((d, i) => {
      const name = isYamlMapping(d)
        ? readStr(ctx, d["service"], joinPath(joinPath(dp, i), "service"), true)
        : readStr(ctx, d, joinPath(dp, i), true);
      if (name) dependsOn.push(name);
    });
  }
  const svc: Service = { image, command, args, env, expose, params, dependsOn };
  const cp = joinPath(path, "credentials");
  if (o["credentials"] !== null && o["credentials"] !== undefined) {
    const co = readMap(ctx, o["credentials"], cp);
    if (co) {
      unknownKeys(ctx, co, cp, ["host", "email", "username", "password"]);
      const creds: Credentials = {
        host: (readStr(ctx, co["host"], joinPath(cp, "host"), true) ?? "").trim(),
        username: (readStr(ctx, co["username"], joinPath(cp, "username"), true) ?? "").trim(),
        password: (readStr(ctx, co["password"], joinPath(cp, "password"), true) ?? "").trim(),
      };
      const email = readStr(ctx, co["email"], joinPath(cp, "email"));
      if (email && email.trim()) creds.email = email.trim();
      svc.credentials = creds;
    }
  }
  return svc;
}

/** The parsed services and the raw `services` mapping (undefined when it is not one). */
export interface ServicesSection {
  /** Services that parsed, by name. */
  services: Record<string, Service>;
  /** The raw mapping: every declared name, parsed or not. */
  declared: Obj | undefined;
}

/** Parses the `services:` section (required, at least one service). */
export function parseServices(ctx: Ctx, raw: unknown): ServicesSection {
  const services: Record<string, Service> = {};
  const declared = readMap(ctx, raw, "services", true);
  if (declared && Object.keys(declared).length === 0) ctx.err("services", "at least one service is required");
  for (const [name, value] of entries(declared ?? {})) {
    const path = joinPath("services", name);
    if (!SERVICE_NAME_RE.test(name) || name.length > 63) {
      ctx.err(
        path,
        "invalid service name (lowercase letters, digits and '-', starting with a letter, at most 63)",
      );
    }
    const svc = parseService(ctx, value, path);
    if (svc) services[name] = svc;
  }
  return { services, declared };
}
