import { emptyRunCounters, type RunCounters } from "../api/run-result.ts";
import type { DeleteKeyError } from "../s3/index.ts";

/**
 * The PBS garbage-collection counters (docs/gc-semantics.md#counters-and-result): one plain struct that every phase
 * fills and every report reads.
 * Its shape is the API's (the termination message and the resource status carry it unchanged).
 */
export type GcCounters = RunCounters;

export const emptyCounters = emptyRunCounters;

/** What the mark phase (and every recheck) counts besides the PBS counters. */
export interface MarkStats {
  indexesRead: number;
  indexesDownloaded: number;
  indexBytesDownloaded: number;
  vanishedIndexes: number;
  /** Digests marked only because a running backup's pruned dedup base was remembered by the index cache. */
  baseChunksFromCache: number;
}

export function emptyMarkStats(): MarkStats {
  return { indexesRead: 0, indexesDownloaded: 0, indexBytesDownloaded: 0, vanishedIndexes: 0, baseChunksFromCache: 0 };
}

/** What the sweep phase counts besides the PBS counters. */
export interface SweepStats {
  chunkObjects: number;
  unexpectedKeys: number;
  unexpectedSample: string[];
  deleteFailures: number;
  deleteErrorSample: DeleteKeyError[];
  /** Candidates that the recheck found referenced again (a backup finished meanwhile). */
  recheckKept: number;
  /** Unreferenced chunks kept only because their upload is recent (the LastModified grace). */
  keptRecentUpload: number;
  /** Unreferenced chunks kept only because the marker cache saw them referenced recently. */
  keptMarkerCache: number;
  /** Chunks a real run would delete that were not deleted (dry run, or a datastore in use by PBS). */
  notDeleted: number;
  deleteRounds: number;
  deleteRequests: number;
  /** Time spent in recheck-and-delete rounds (they overlap the listing). */
  deleteMs: number;
}

export function emptySweepStats(): SweepStats {
  return {
    chunkObjects: 0,
    unexpectedKeys: 0,
    unexpectedSample: [],
    deleteFailures: 0,
    deleteErrorSample: [],
    recheckKept: 0,
    keptRecentUpload: 0,
    keptMarkerCache: 0,
    notDeleted: 0,
    deleteRounds: 0,
    deleteRequests: 0,
    deleteMs: 0,
  };
}

/**
 * Everything one run counts: the PBS counters and what the mark and sweep phases add. Created once per run, filled
 * in place by every phase (the marker and the sweeper hold its parts), read once by the report.
 */
export interface RunTally {
  readonly gc: GcCounters;
  readonly mark: MarkStats;
  readonly sweep: SweepStats;
}

export function emptyTally(): RunTally {
  return { gc: emptyCounters(), mark: emptyMarkStats(), sweep: emptySweepStats() };
}
