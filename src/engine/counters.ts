import { emptyRunCounters, type RunCounters } from "../api/run-result.ts";

/**
 * The PBS garbage-collection counters (docs/gc-semantics.md#counters-and-result): one plain struct that every phase
 * fills and every report reads.
 * Its shape is the API's (the termination message and the resource status carry it unchanged).
 */
export type GcCounters = RunCounters;

export const emptyCounters = emptyRunCounters;
