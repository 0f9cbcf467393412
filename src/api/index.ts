/** The public face of the chunkgc.io/v1alpha1 API: names, schemas (the types, validators and CRD source) and helpers. */
export * from "./duration.ts";
export * from "./garbage-collection.ts";
export * from "./group.ts";
export * from "./run-request.ts";
export * from "./run-result.ts";
export * from "./schedule-syntax.ts";
export * from "./spec.ts";
export * from "./status.ts";
export * from "./summary.ts";
