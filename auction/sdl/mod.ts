/** auction/sdl: Akash SDL v2.0 / v2.1 -> validated model, groups (orders), manifest and its hash. */
export { parseSdl } from "./parse.ts";
export { joinPath } from "./read.ts";
export { gpuAttributeKey } from "./groups.ts";
export { buildManifest, encodeManifest, manifestHash } from "./manifest.ts";
export { endpointSequenceNumbers, serviceEndpoints } from "./endpoints.ts";
export { validateReport } from "./report.ts";
export type { ValidateReport, ValidateReportUnit } from "./report.ts";
export { formatGi, parseAmount, parseByteSize, parseCpuUnits, scalarText } from "./quantity.ts";
export type { AmountResult, QuantityResult } from "./quantity.ts";
export * from "./limits.ts";
export type * from "./types.ts";
