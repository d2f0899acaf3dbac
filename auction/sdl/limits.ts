/**
 * Deployment limits, as Akash's network-wide validation config (node/deployment/v1beta4
 * validation_config.go): a hard limit on what the network accepts, the same for every node.
 */
const Mi = 1024 ** 2;
const Ti = 1024 ** 4;

/** Max cpu of one replica of a resource unit, in millicores (384 cpus). */
export const MAX_UNIT_CPU = 384 * 1000;
/** Min cpu of one replica, in millicores. */
export const MIN_UNIT_CPU = 10;
/** Max gpus of one replica. */
export const MAX_UNIT_GPU = 24;
/** Max memory of one replica, bytes (2 Ti). */
export const MAX_UNIT_MEMORY = 2 * Ti;
/** Min memory of one replica, bytes (1 Mi). */
export const MIN_UNIT_MEMORY = Mi;
/** Max size of one storage volume of a replica, bytes (32 Ti). */
export const MAX_UNIT_STORAGE = 32 * Ti;
/** Min size of one storage volume of a replica, bytes (5 Mi). */
export const MIN_UNIT_STORAGE = 5 * Mi;
/** Max replicas of a service (count) in one placement. */
export const MAX_UNIT_COUNT = 50;
/** Min replicas. */
export const MIN_UNIT_COUNT = 1;
/** Max groups (placements used) per deployment. */
export const MAX_GROUP_COUNT = 20;
/** Max resource units per group. */
export const MAX_GROUP_UNITS = 20;
/** Max totals of one group (sum over its units of resource x count). */
export const MAX_GROUP_CPU = MAX_UNIT_CPU * MAX_UNIT_COUNT;
export const MAX_GROUP_GPU = MAX_UNIT_GPU * MAX_UNIT_COUNT;
export const MAX_GROUP_MEMORY = MAX_UNIT_MEMORY * MAX_UNIT_COUNT;
export const MAX_GROUP_STORAGE = MAX_UNIT_STORAGE * MAX_UNIT_COUNT;

/** Largest SDL input accepted, bytes (1 MiB). */
export const MAX_SDL_BYTES = 1024 * 1024;
/** YAML alias expansions allowed while resolving anchors (billion-laughs protection). */
export const MAX_YAML_ALIAS_COUNT = 100;

/** http_options limits and defaults (Akash v2 SDL). */
export const HTTP_MAX_BODY_SIZE_LIMIT = 104857600;
export const HTTP_DEFAULT_MAX_BODY_SIZE = 1048576;
export const HTTP_READ_TIMEOUT_LIMIT = 60000;
export const HTTP_DEFAULT_READ_TIMEOUT = 60000;
export const HTTP_SEND_TIMEOUT_LIMIT = 60000;
export const HTTP_DEFAULT_SEND_TIMEOUT = 60000;
export const HTTP_DEFAULT_NEXT_TRIES = 3;
export const HTTP_DEFAULT_NEXT_CASES: readonly string[] = ["error", "timeout"];
export const HTTP_NEXT_CASES: readonly string[] = [
  "error",
  "timeout",
  "500",
  "502",
  "503",
  "504",
  "403",
  "404",
  "429",
  "off",
];
