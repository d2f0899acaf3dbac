/**
 * SDL data model (Akash SDL v2.0 / v2.1), the groups it derives and the manifest it produces.
 * Sizes (memory, storage, gpu ram) are `number`s of bytes: every size within the limits is < 2^53.
 * cpu is in millicores (1 cpu = 1000).
 */

export type Hex = string;

/** A `key: value` attribute (placement requirements, provider attributes). */
export interface Attribute {
  key: string;
  value: string;
}

/** Auditors whose attestations a placement requires: all of `allOf`, one of `anyOf`. */
export interface SignedBy {
  allOf: string[];
  anyOf: string[];
}

/** A price per block. */
export interface Price {
  denom: string;
  /** DecCoin amount: a normalized decimal string, may have a fraction ("100", "0.5"). */
  amount: string;
}

import type { StorageClass } from "../../lib/storage.ts";
/** Storage classes (lib/storage). */
export type { StorageClass };

/** One storage volume of a compute profile. */
export interface StorageVolume {
  /** "default" for the unnamed (root) volume. */
  name: string;
  /** bytes */
  size: number;
  /** set for persistent volumes ("default" when not given) and ram volumes; absent otherwise. */
  class?: StorageClass;
  persistent: boolean;
}

/** A gpu vendor. */
export type GpuVendor = "nvidia" | "amd";

/** One acceptable gpu (vendor, model or `*`, optional ram and interface). */
export interface GpuAttribute {
  vendor: GpuVendor;
  /** model name, or "*" for any model of this vendor */
  model: string;
  /** gpu memory as Akash writes it in attribute keys, e.g. "80Gi" */
  ram?: string;
  interface?: "pcie" | "sxm";
}

/** The gpus of a compute profile. */
export interface Gpu {
  units: number;
  attributes: GpuAttribute[];
}

/** A compute profile: cpu (millicores), memory and storage (bytes), gpus. */
export interface ComputeResources {
  /** millicores */
  cpu: number;
  cpuAttributes: Attribute[];
  /** bytes */
  memory: number;
  storage: StorageVolume[];
  gpu: Gpu;
}

/** http_options of an expose (Akash v2 SDL). */
export interface HttpOptions {
  maxBodySize: number;
  readTimeout: number;
  sendTimeout: number;
  nextTries: number;
  nextTimeout: number;
  nextCases: string[];
}

/** One target of an expose: a service, or global (optionally on a leased ip). */
export interface ExposeTo {
  service?: string;
  global: boolean;
  /** name of an `endpoints` entry (kind ip) */
  ip?: string;
}

/** One exposed port of a service. */
export interface Expose {
  port: number;
  /** external port; 0 when not given (= port) */
  as: number;
  proto: "tcp" | "udp";
  to: ExposeTo[];
  /** accepted hostnames */
  accept: string[];
  httpOptions: HttpOptions;
}

/** Where a service mounts one volume. */
export interface StorageParam {
  mount: string;
  readOnly: boolean;
}

/** Private registry credentials of a service. */
export interface Credentials {
  host: string;
  email?: string;
  username: string;
  password: string;
}

/** A service of the `services:` section. */
export interface Service {
  image: string;
  command: string[];
  args: string[];
  /** "K=V" entries, in SDL order */
  env: string[];
  expose: Expose[];
  params: { storage: Record<string, StorageParam> };
  dependsOn: string[];
  credentials?: Credentials;
}

/** A placement profile: requirements and a price per compute profile. */
export interface PlacementProfile {
  /** sorted by key */
  attributes: Attribute[];
  signedBy: SignedBy;
  /** compute profile name -> max price per block of one replica */
  pricing: Record<string, Price>;
}

/** A service of the `services:` section. */
export interface ServiceDeployment {
  profile: string;
  count: number;
}

/** A declared endpoint (a leased ip). */
export interface Endpoint {
  kind: "ip";
}

/** A validated SDL document. */
export interface Sdl {
  version: "2.0" | "2.1";
  services: Record<string, Service>;
  profiles: {
    compute: Record<string, ComputeResources>;
    placement: Record<string, PlacementProfile>;
  };
  /** service -> placement -> deployment */
  deployment: Record<string, Record<string, ServiceDeployment>>;
  endpoints: Record<string, Endpoint>;
}

/** The kind of a provider endpoint a unit needs. */
export type EndpointKind = "shared_http" | "random_port" | "leased_ip";

/** One provider endpoint a resource unit needs. */
export interface UnitEndpoint {
  kind: EndpointKind;
  /** leased ip sequence number (0 for other kinds) */
  sequenceNumber: number;
}

/** One resource unit of a group (replicas of one compute profile). */
export interface ResourceUnit {
  /** 1-based id within its group */
  id: number;
  /** millicores per replica */
  cpu: number;
  /** bytes per replica */
  memory: number;
  /** volumes per replica, in SDL order */
  storage: StorageVolume[];
  /** total storage bytes per replica (sum of `storage` sizes) */
  storageBytes: number;
  gpu: Gpu;
  /** replicas */
  count: number;
  /** max price per block of one replica */
  price: Price;
  /** the services this unit runs (v2.1 merges services sharing a compute profile) */
  services: string[];
  /** compute profile name */
  profile: string;
  endpoints: UnitEndpoint[];
}

/** A group (an order on the market): a placement's requirements and resource units. */
export interface Group {
  /** placement name */
  name: string;
  requirements: { attributes: Attribute[]; signedBy: SignedBy };
  units: ResourceUnit[];
}

/** One expose in the manifest. */
export interface ManifestExpose {
  port: number;
  /** 0 = same as port */
  externalPort: number;
  proto: "tcp" | "udp";
  /** target service ("" when not exposed to a service) */
  service: string;
  global: boolean;
  hosts: string[];
  /** endpoint name ("" when none) */
  ip: string;
  endpointSequenceNumber: number;
  httpOptions: HttpOptions;
}

/** One service in the manifest. */
export interface ManifestService {
  name: string;
  image: string;
  command: string[];
  args: string[];
  env: string[];
  resources: {
    id: number;
    cpu: number;
    memory: number;
    storage: StorageVolume[];
    gpu: Gpu;
    endpoints: UnitEndpoint[];
  };
  count: number;
  expose: ManifestExpose[];
  params: { storage: { name: string; mount: string; readOnly: boolean }[] };
  credentials?: Credentials;
}

/** One group of the manifest. */
export interface ManifestGroup {
  name: string;
  /** sorted by name */
  services: ManifestService[];
}

/** What each group runs; groups sorted by name. */
export type Manifest = ManifestGroup[];

/** The result of `parseSdl`: the model, groups, manifest and hash, or the errors. */
export type SdlResult =
  | { ok: true; sdl: Sdl; groups: Group[]; manifest: Manifest; manifestHash: Hex; warnings: string[] }
  | { ok: false; error: string; errors: string[]; warnings: string[] };
