import type { RunCounters } from "../api/run-result.ts";

/**
 * The PBS garbage-collection counters (spec C.4): one plain struct that every phase fills and every report reads.
 * Its shape is the API's (the termination message and the resource status carry it unchanged).
 */
export type GcCounters = RunCounters;

export function emptyCounters(): GcCounters {
  return {
    indexFileCount: 0,
    indexDataBytes: 0,
    diskChunks: 0,
    diskBytes: 0,
    removedChunks: 0,
    removedBytes: 0,
    pendingChunks: 0,
    pendingBytes: 0,
    removedBad: 0,
    stillBad: 0,
  };
}
