import type { GcCounters } from "./counters.ts";

/*
 * The decisions of the sweep, as pure functions over plain numbers (epoch seconds), named after the steps of PBS's
 * own sweep: what is this key, what is its time, what do we decide, what do we count.
 */

export type ChunkDecision = "remove" | "pending" | "keep";

/** Mutable only in one direction: a recheck that finds an older running backup moves both earlier. */
export interface Cutoff {
  /** Chunks whose time is before this are garbage. */
  minAtime: number;
  /** Chunks at or after this are in use; between the two they are pending. Phase-1 start without running backups. */
  oldestWriter: number;
}

/** Seconds kept between the oldest writer's start and the cutoff, as PBS does (its 5-minute safety gap). */
export const WRITER_MARGIN_SECONDS = 300;

/**
 * PBS: min_atime = phase1_start − grace, moved to oldest_writer − 300 s when a backup runs since before that.
 * chunkgc always keeps minAtime ≤ min(now − grace, oldest writer − 300 s) − |clock skew|, the oldest writer being
 * "now" when no backup runs: LastModified is the server's clock, "now" is ours, and a server clock behind ours makes
 * every upload look older than it is.
 */
export function computeCutoff(
  phase1Start: number,
  graceSeconds: number,
  oldestRunningBackup?: number,
  clockSkewSeconds = 0,
): Cutoff {
  const oldestWriter = Math.min(phase1Start, oldestRunningBackup ?? phase1Start);
  const minAtime =
    Math.min(phase1Start - graceSeconds, oldestWriter - WRITER_MARGIN_SECONDS) - Math.ceil(Math.abs(clockSkewSeconds));
  return { minAtime, oldestWriter };
}

export function decide(time: number, cutoff: Cutoff): ChunkDecision {
  if (time < cutoff.minAtime) return "remove";
  if (time < cutoff.oldestWriter) return "pending";
  return "keep";
}

/**
 * A chunk's time is the latest evidence of use: marked in this run (the phase-1 start), its last mark in the marker
 * cache, and its upload (S3 LastModified: a chunk nothing references yet may belong to a backup still running).
 */
export function chunkTime(markedTime: number, lastModifiedSeconds: number): number {
  return Math.max(markedTime, lastModifiedSeconds);
}

/**
 * A `.bad` copy without a good copy is the last evidence of its data: it takes the chunk's time (marked in this run,
 * its last mark in the marker cache, or its upload), as PBS's marker touch moves the `.bad` file's atime when the
 * good file is missing. The marker cache matters: a run that no longer sees the index (a pruned dedup base of a
 * running backup, known to an earlier run only) must not age the copy from its upload. With a good copy listed the
 * `.bad` copy is redundant and ages from its upload like any unreferenced chunk.
 */
export function badChunkTime(markedTime: number, goodCopyExists: boolean, lastModifiedSeconds: number): number {
  return goodCopyExists ? lastModifiedSeconds : chunkTime(markedTime, lastModifiedSeconds);
}

/** Adds a kept chunk to the counters the way PBS does; removals are counted only once S3 confirmed them. */
export function countKept(
  counters: GcCounters,
  decision: Exclude<ChunkDecision, "remove">,
  bad: boolean,
  size: number,
): void {
  if (decision === "pending") {
    if (bad) counters.stillBad += 1;
    else counters.pendingChunks += 1;
    counters.pendingBytes += size;
    return;
  }
  if (!bad) counters.diskChunks += 1;
  counters.diskBytes += size;
}

export function countRemoved(counters: GcCounters, bad: boolean, size: number): void {
  if (bad) counters.removedBad += 1;
  else counters.removedChunks += 1;
  counters.removedBytes += size;
}
