/**
 * Deployment limits, as Akash's network-wide validation config (node/deployment/v1beta4
 * validation_config.go): a hard limit on what the network accepts, the same for every node.
 * Named `THING_MAX` / `THING_MIN`, units last (`HTTP_READ_TIMEOUT_MS_MAX`).
 * @module
 */
const Mi = 1024 ** 2;
const Ti = 1024 ** 4;

/** Max cpu of one replica of a resource unit, in millicores (384 cpus). */
export const UNIT_CPU_MAX = 384 * 1000;
/** Min cpu of one replica, in millicores. */
export const UNIT_CPU_MIN = 10;
/** Max gpus of one replica. */
export const UNIT_GPU_MAX = 24;
/** Max memory of one replica, bytes (2 Ti). */
export const UNIT_MEMORY_MAX = 2 * Ti;
/** Min memory of one replica, bytes (1 Mi). */
export const UNIT_MEMORY_MIN = Mi;
/** Max size of one storage volume of a replica, bytes (32 Ti). */
export const UNIT_STORAGE_MAX = 32 * Ti;
/** Min size of one storage volume of a replica, bytes (5 Mi). */
export const UNIT_STORAGE_MIN = 5 * Mi;
/** Max replicas of a service (count) in one placement. */
export const UNIT_COUNT_MAX = 50;
/** Min replicas. */
export const UNIT_COUNT_MIN = 1;
/** Max groups (placements used) per deployment. */
export const GROUP_COUNT_MAX = 20;
/** Max resource units per group. */
export const GROUP_UNIT_COUNT_MAX = 20;
/** Max total cpu of one group (sum over its units of cpu x count), millicores. */
export const GROUP_CPU_MAX = UNIT_CPU_MAX * UNIT_COUNT_MAX;
/** Max total gpus of one group. */
export const GROUP_GPU_MAX = UNIT_GPU_MAX * UNIT_COUNT_MAX;
/** Max total memory of one group, bytes. */
export const GROUP_MEMORY_MAX = UNIT_MEMORY_MAX * UNIT_COUNT_MAX;
/** Max total storage of one group, bytes. */
export const GROUP_STORAGE_MAX = UNIT_STORAGE_MAX * UNIT_COUNT_MAX;

/** Largest SDL input accepted, bytes (1 MiB). */
export const SDL_BYTES_MAX = 1024 * 1024;
/** YAML alias expansions allowed while resolving anchors (billion-laughs protection). */
export const YAML_ALIAS_COUNT_MAX = 100;

/** Largest `http_options.max_body_size`, bytes (Akash v2 SDL). */
export const HTTP_BODY_BYTES_MAX = 104857600;
/** Default `http_options.max_body_size`, bytes. */
export const HTTP_BODY_BYTES_DEFAULT = 1048576;
/** Largest `http_options.read_timeout`, ms. */
export const HTTP_READ_TIMEOUT_MS_MAX = 60000;
/** Default `http_options.read_timeout`, ms. */
export const HTTP_READ_TIMEOUT_MS_DEFAULT = 60000;
/** Largest `http_options.send_timeout`, ms. */
export const HTTP_SEND_TIMEOUT_MS_MAX = 60000;
/** Default `http_options.send_timeout`, ms. */
export const HTTP_SEND_TIMEOUT_MS_DEFAULT = 60000;
/** Default `http_options.next_tries`. */
export const HTTP_NEXT_TRIES_DEFAULT = 3;
/** Default `http_options.next_cases`. */
export const HTTP_NEXT_CASES_DEFAULT: readonly string[] = ["error", "timeout"];
/** Every `http_options.next_cases` value. */
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
