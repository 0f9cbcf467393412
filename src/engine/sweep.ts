import pLimit from "p-limit";
import type { Logger } from "pino";
import { chunksPrefix, parseDeletableChunkKey } from "../datastore/index.ts";
import {
  type DeleteKeyError,
  deleteBatchWithRetry,
  hexKeyRanges,
  type ListedObject,
  type ListParser,
  listRangesInParallel,
  type S3Context,
  shardCountFor,
} from "../s3/index.ts";
import {
  badChunkTime,
  type ChunkDecision,
  type Cutoff,
  chunkTime,
  countKept,
  countRemoved,
  decide,
} from "./classify.ts";
import type { GcCounters } from "./counters.ts";
import type { MarkTable } from "./mark-table.ts";

/** A chunk classified for removal, waiting for the recheck and its delete batch. */
export interface DeleteCandidate {
  readonly key: string;
  readonly digestHex: string;
  readonly bad: boolean;
  readonly goodCopyExists: boolean;
  readonly size: number;
  readonly lastModifiedSeconds: number;
}

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

export interface Sweeper {
  readonly s3: S3Context;
  readonly store: string;
  readonly table: MarkTable;
  readonly cutoff: Cutoff;
  readonly phase1Start: number;
  readonly counters: GcCounters;
  readonly stats: SweepStats;
  /** False for a dry run and for a datastore in use by PBS without acknowledgement: everything but the delete. */
  readonly deletionsAllowed: boolean;
  readonly listConcurrency: number;
  readonly listParser: ListParser;
  readonly deleteConcurrency: number;
  readonly deleteBatchSize: number;
  /** Candidates gathered before a recheck-and-delete round. */
  readonly roundSize: number;
  /** Re-lists the indexes and marks what is new or changed; must complete before any candidate of a round is deleted. */
  readonly recheck: () => Promise<void>;
  readonly assertLockHeld: () => Promise<void>;
  readonly log: Logger;
  readonly signal?: AbortSignal;
  onListed?: (count: number) => void;
}

const UNEXPECTED_SAMPLE = 20;

/** What one listed object under `.chunks/` is and what to do with it; pure but for the table lookup. */
export function classifyListedChunk(
  sweeper: Pick<Sweeper, "table" | "cutoff" | "phase1Start">,
  digestHex: string,
  bad: boolean,
  goodCopyExists: boolean,
  lastModifiedSeconds: number,
  /** Also flag the digest as present in the bucket (good copies, as listed), in the same table probe. */
  flagSeen = false,
): { decision: ChunkDecision; markedTime: number } {
  const markedTime = flagSeen ? sweeper.table.seenTimeOfHex(digestHex) : sweeper.table.timeOfHex(digestHex);
  const time = bad
    ? badChunkTime(markedTime >= sweeper.phase1Start, goodCopyExists, sweeper.phase1Start, lastModifiedSeconds)
    : chunkTime(markedTime, lastModifiedSeconds);
  return { decision: decide(time, sweeper.cutoff), markedTime };
}

/** Phase 2: lists `.chunks/` in parallel key ranges, classifies each object, deletes in rechecked rounds. */
export async function sweepChunks(sweeper: Sweeper): Promise<void> {
  const prefix = chunksPrefix(sweeper.store);
  const ranges = hexKeyRanges(prefix, shardCountFor(sweeper.listConcurrency));
  // The good copy of a digest lists right before its .bad siblings, in the same range.
  const lastGoodDigest: string[] = ranges.map(() => "");
  const candidates: DeleteCandidate[] = [];
  let roundInFlight: Promise<void> | undefined;

  const startRound = async (batch: DeleteCandidate[]) => {
    if (roundInFlight) await roundInFlight;
    roundInFlight = deleteRound(sweeper, batch);
  };

  const pages = listRangesInParallel(sweeper.s3, {
    prefix,
    ranges,
    concurrency: sweeper.listConcurrency,
    parser: sweeper.listParser,
    ...(sweeper.signal ? { signal: sweeper.signal } : {}),
  });
  for await (const page of pages) {
    for (const object of page.objects) {
      const candidate = sweepObject(sweeper, object, lastGoodDigest, page.rangeIndex);
      if (candidate) candidates.push(candidate);
    }
    sweeper.onListed?.(page.objects.length);
    if (candidates.length >= sweeper.roundSize) {
      // Whole batches only, so that a run needs no more DeleteObjects requests than ceil(removed / batch size).
      const whole = candidates.length - (candidates.length % sweeper.deleteBatchSize);
      await startRound(candidates.splice(0, Math.max(whole, 1)));
    }
  }
  if (candidates.length > 0) await startRound(candidates.splice(0));
  if (roundInFlight) await roundInFlight;
}

function sweepObject(
  sweeper: Sweeper,
  object: ListedObject,
  lastGoodDigest: string[],
  rangeIndex: number,
): DeleteCandidate | undefined {
  const parsed = parseDeletableChunkKey(sweeper.store, object.key);
  if (!parsed) {
    // Not a chunk key of this store (spec C.2): never counted, never deleted, reported.
    sweeper.stats.unexpectedKeys += 1;
    if (sweeper.stats.unexpectedSample.length < UNEXPECTED_SAMPLE) sweeper.stats.unexpectedSample.push(object.key);
    return undefined;
  }
  sweeper.stats.chunkObjects += 1;
  const bad = parsed.badIndex !== undefined;
  if (!bad) lastGoodDigest[rangeIndex] = parsed.digestHex;
  const goodCopyExists = bad && lastGoodDigest[rangeIndex] === parsed.digestHex;
  const lastModifiedSeconds = Math.floor(object.lastModifiedMs / 1000);
  const { decision, markedTime } = classifyListedChunk(
    sweeper,
    parsed.digestHex,
    bad,
    goodCopyExists,
    lastModifiedSeconds,
    !bad,
  );
  if (decision !== "remove") {
    countKept(sweeper.counters, decision, bad, object.size);
    if (!bad && markedTime < sweeper.phase1Start) {
      if (lastModifiedSeconds >= sweeper.cutoff.minAtime && markedTime < sweeper.cutoff.minAtime) {
        sweeper.stats.keptRecentUpload += 1;
      } else if (markedTime >= sweeper.cutoff.minAtime) {
        sweeper.stats.keptMarkerCache += 1;
      }
    }
    return undefined;
  }
  if (!sweeper.deletionsAllowed) {
    countRemoved(sweeper.counters, bad, object.size);
    sweeper.stats.notDeleted += 1;
    return undefined;
  }
  return { key: object.key, digestHex: parsed.digestHex, bad, goodCopyExists, size: object.size, lastModifiedSeconds };
}

/**
 * Recheck, then delete: the index listing is read again after every candidate of this round was classified, and a
 * candidate that became referenced meanwhile is kept. Only then, with the lock verified, do the batches go out;
 * a removal is counted when S3 names the key as deleted.
 */
async function deleteRound(sweeper: Sweeper, candidates: DeleteCandidate[]): Promise<void> {
  const started = Date.now();
  try {
    await recheckAndDelete(sweeper, candidates);
  } finally {
    sweeper.stats.deleteMs += Date.now() - started;
  }
}

async function recheckAndDelete(sweeper: Sweeper, candidates: DeleteCandidate[]): Promise<void> {
  sweeper.stats.deleteRounds += 1;
  await sweeper.recheck();
  const confirmed: DeleteCandidate[] = [];
  for (const candidate of candidates) {
    const { decision } = classifyListedChunk(
      sweeper,
      candidate.digestHex,
      candidate.bad,
      candidate.goodCopyExists,
      candidate.lastModifiedSeconds,
    );
    if (decision === "remove") {
      confirmed.push(candidate);
    } else {
      sweeper.stats.recheckKept += 1;
      countKept(sweeper.counters, decision, candidate.bad, candidate.size);
    }
  }
  if (confirmed.length === 0) return;
  await sweeper.assertLockHeld();
  const bySize = new Map(confirmed.map((candidate) => [candidate.key, candidate]));
  const limit = pLimit(sweeper.deleteConcurrency);
  const batches: DeleteCandidate[][] = [];
  for (let start = 0; start < confirmed.length; start += sweeper.deleteBatchSize) {
    batches.push(confirmed.slice(start, start + sweeper.deleteBatchSize));
  }
  await Promise.all(
    batches.map((batch) =>
      limit(async () => {
        const result = await deleteBatchWithRetry(
          sweeper.s3,
          batch.map((candidate) => candidate.key),
          sweeper.signal ? { signal: sweeper.signal } : {},
        );
        sweeper.stats.deleteRequests += result.requests;
        for (const key of result.deleted) {
          const candidate = bySize.get(key)!;
          countRemoved(sweeper.counters, candidate.bad, candidate.size);
        }
        for (const error of result.errors) {
          sweeper.stats.deleteFailures += 1;
          if (sweeper.stats.deleteErrorSample.length < 10) sweeper.stats.deleteErrorSample.push(error);
          sweeper.log.error({ key: error.key, code: error.code }, "chunk could not be deleted");
        }
      }),
    ),
  );
}
