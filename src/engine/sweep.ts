import pLimit from "p-limit";
import type { Logger } from "pino";
import { chunksPrefix, parseDeletableChunkKey } from "../datastore/index.ts";
import type { DeleteWithRetryOptions } from "../s3/delete.ts";
import {
  type DeleteBatchResult,
  type DeleteKeyError,
  deleteBatchWithRetry,
  hexKeyRanges,
  type ListedObject,
  type ListParser,
  listRangesInParallel,
  type RangePage,
  type S3Context,
  shardCountFor,
} from "../s3/index.ts";
import type { ParallelListOptions } from "../s3/list.ts";
import {
  badChunkTime,
  type ChunkDecision,
  type Cutoff,
  chunkTime,
  countKept,
  countRemoved,
  decide,
} from "./classify.ts";
import type { GcCounters, SweepStats } from "./counters.ts";
import { LockLostError } from "./lock.ts";
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

/**
 * The two bucket operations of a sweep: list `.chunks/` in key ranges, delete a batch. {@link s3SweepObjects} is the
 * real one; the decisions around them do not depend on which store answers.
 */
export interface SweepObjects {
  listRanges(options: ParallelListOptions): AsyncIterable<RangePage>;
  deleteBatch(keys: readonly string[], options: DeleteWithRetryOptions): Promise<DeleteBatchResult>;
}

export function s3SweepObjects(s3: S3Context): SweepObjects {
  return {
    listRanges: (options) => listRangesInParallel(s3, options),
    deleteBatch: (keys, options) => deleteBatchWithRetry(s3, keys, options),
  };
}

export interface Sweeper {
  readonly s3: S3Context;
  /** Where the sweep lists and deletes; {@link s3SweepObjects} of `s3` when not given. */
  readonly objects?: SweepObjects;
  readonly store: string;
  readonly table: MarkTable;
  readonly cutoff: Cutoff;
  readonly phase1Start: number;
  readonly counters: GcCounters;
  readonly stats: SweepStats;
  /**
   * False for a dry run and for a datastore in use by PBS without acknowledgement: everything but the delete. Only
   * ever turned off during a run (a datastore attached mid-run), never on.
   */
  deletionsAllowed: boolean;
  readonly listConcurrency: number;
  readonly listParser: ListParser;
  readonly deleteConcurrency: number;
  readonly deleteBatchSize: number;
  /** Candidates gathered before a recheck-and-delete round. */
  readonly roundSize: number;
  /** Re-lists the indexes and marks what is new or changed; must complete before any candidate of a round is deleted. */
  readonly recheck: () => Promise<void>;
  /** Before each round's deletions: the bucket still shows this run's lock generation (async, lists the lock). */
  readonly assertLockHeld: () => Promise<void>;
  /** Before every DeleteObjects request: synchronous, no I/O (lease not over by the local clock, not lost). */
  readonly checkLockHeld: () => void;
  /**
   * Before each round's deletions, after its recheck: whether deleting is still allowed (`.in-use` re-read). Once it
   * says no, the rest of the run only reports what it would delete.
   */
  readonly stillMayDelete?: () => Promise<boolean>;
  readonly log: Logger;
  readonly signal?: AbortSignal;
  onListed?: (count: number) => void;
}

const UNEXPECTED_SAMPLE = 20;

/** What one listed object under `.chunks/` is and what to do with it; pure but for the table lookup. */
export function classifyListedChunk(
  sweeper: Pick<Sweeper, "table" | "cutoff">,
  digestHex: string,
  bad: boolean,
  goodCopyExists: boolean,
  lastModifiedSeconds: number,
  /** Also flag the digest as present in the bucket (good copies, as listed), in the same table probe. */
  flagSeen = false,
): { decision: ChunkDecision; markedTime: number } {
  const markedTime = flagSeen ? sweeper.table.seenTimeOfHex(digestHex) : sweeper.table.timeOfHex(digestHex);
  const time = bad
    ? badChunkTime(markedTime, goodCopyExists, lastModifiedSeconds)
    : chunkTime(markedTime, lastModifiedSeconds);
  return { decision: decide(time, sweeper.cutoff), markedTime };
}

/**
 * Phase 2: lists `.chunks/` in parallel key ranges, classifies each object, deletes in rechecked rounds. One round
 * at a time runs alongside the listing; it is always awaited (its failure stops the sweep and is what it throws), so
 * nothing is still deleting when this returns or throws, and the caller may release the lock.
 */
export async function sweepChunks(sweeper: Sweeper): Promise<void> {
  const prefix = chunksPrefix(sweeper.store);
  const ranges = hexKeyRanges(prefix, shardCountFor(sweeper.listConcurrency));
  // The good copy of a digest lists right before its .bad siblings, in the same range.
  const lastGoodDigest: string[] = ranges.map(() => "");
  const candidates: DeleteCandidate[] = [];
  let roundInFlight: Promise<void> | undefined;
  let roundFailure: { error: unknown } | undefined;
  // Stops the listing as soon as a round fails, instead of waiting for the next page.
  const listing = new AbortController();
  const onOuterAbort = () => listing.abort(sweeper.signal?.reason);
  sweeper.signal?.addEventListener("abort", onOuterAbort, { once: true });
  if (sweeper.signal?.aborted) listing.abort(sweeper.signal.reason);

  const throwIfRoundFailed = () => {
    if (roundFailure) throw roundFailure.error;
  };
  const startRound = async (batch: DeleteCandidate[]) => {
    if (roundInFlight) await roundInFlight;
    throwIfRoundFailed();
    roundInFlight = deleteRound(sweeper, batch).catch((error: unknown) => {
      roundFailure ??= { error };
      listing.abort(error);
    });
  };

  try {
    const pages = objectsOf(sweeper).listRanges({
      prefix,
      ranges,
      concurrency: sweeper.listConcurrency,
      parser: sweeper.listParser,
      signal: listing.signal,
    });
    for await (const page of pages) {
      throwIfRoundFailed();
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
    throwIfRoundFailed();
    if (candidates.length > 0) await startRound(candidates.splice(0));
  } catch (error) {
    // A listing stopped by a failed round reports the round's failure, the cause.
    if (roundInFlight) await roundInFlight;
    if (roundFailure) throw roundFailure.error;
    throw error;
  } finally {
    // Never return (or let the caller release the lock) while a round is still deleting.
    if (roundInFlight) await roundInFlight;
    sweeper.signal?.removeEventListener("abort", onOuterAbort);
  }
  throwIfRoundFailed();
}

/**
 * One listed object's decision (docs/gc-semantics.md#strict-chunk-keys for what is a chunk key): counted where it
 * belongs, and returned as a delete candidate only when it is garbage and this run may delete.
 */
export function sweepObject(
  sweeper: Sweeper,
  object: ListedObject,
  lastGoodDigest: string[],
  rangeIndex: number,
): DeleteCandidate | undefined {
  const parsed = parseDeletableChunkKey(sweeper.store, object.key);
  if (!parsed) {
    // Not a chunk key of this store (docs/gc-semantics.md#strict-chunk-keys): never counted, never deleted, reported.
    sweeper.stats.unexpectedKeys += 1;
    if (sweeper.stats.unexpectedSample.length < UNEXPECTED_SAMPLE) sweeper.stats.unexpectedSample.push(object.key);
    return undefined;
  }
  sweeper.stats.chunkObjects += 1;
  const bad = parsed.badIndex !== undefined;
  if (!bad) lastGoodDigest[rangeIndex] = parsed.digestHex;
  const goodCopyExists = bad && lastGoodDigest[rangeIndex] === parsed.digestHex;
  // No usable upload time: as young as can be (kept), never the epoch.
  const lastModifiedSeconds = Number.isFinite(object.lastModifiedMs)
    ? Math.floor(object.lastModifiedMs / 1000)
    : Number.POSITIVE_INFINITY;
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
    countNotDeleted(sweeper, bad, object.size);
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

/** One round: recheck, classify every candidate again, then (deletions allowed, lock held) delete the confirmed. */
export async function recheckAndDelete(sweeper: Sweeper, candidates: DeleteCandidate[]): Promise<void> {
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
  if (sweeper.deletionsAllowed && sweeper.stillMayDelete && !(await sweeper.stillMayDelete())) {
    sweeper.deletionsAllowed = false;
  }
  if (!sweeper.deletionsAllowed) {
    // What a real run would delete, reported and counted as such: nothing goes out.
    for (const candidate of confirmed) countNotDeleted(sweeper, candidate.bad, candidate.size);
    return;
  }
  await sweeper.assertLockHeld();
  const byKey = new Map(confirmed.map((candidate) => [candidate.key, candidate]));
  const limit = pLimit(sweeper.deleteConcurrency);
  const batches: DeleteCandidate[][] = [];
  for (let start = 0; start < confirmed.length; start += sweeper.deleteBatchSize) {
    batches.push(confirmed.slice(start, start + sweeper.deleteBatchSize));
  }
  // The first batch that must stop the run (lock lost, interrupted) stops the batches not yet sent.
  let stop: { error: unknown } | undefined;
  const results = await Promise.allSettled(
    batches.map((batch) =>
      limit(async () => {
        if (stop) throw stop.error;
        const keys = batch.map((candidate) => candidate.key);
        let result: DeleteBatchResult;
        try {
          result = await objectsOf(sweeper).deleteBatch(keys, {
            guard: sweeper.checkLockHeld,
            ...(sweeper.signal ? { signal: sweeper.signal } : {}),
          });
        } catch (error) {
          if (stopsTheRun(error, sweeper.signal)) {
            stop ??= { error };
            throw error;
          }
          // The request itself failed after its retries: every key of it is a failed deletion, still on disk.
          result = { requests: 1, deleted: [], errors: keys.map((key) => batchError(key, error)) };
        }
        recordBatch(sweeper, byKey, result);
      }),
    ),
  );
  if (stop) throw stop.error;
  const unexpected = results.find((result) => result.status === "rejected");
  if (unexpected) throw unexpected.reason;
}

function objectsOf(sweeper: Sweeper): SweepObjects {
  return sweeper.objects ?? s3SweepObjects(sweeper.s3);
}

/** Errors after which nothing more may be deleted: the lock is gone, or the run was interrupted. */
function stopsTheRun(error: unknown, signal: AbortSignal | undefined): boolean {
  return error instanceof LockLostError || signal?.aborted === true;
}

function batchError(key: string, error: unknown): DeleteKeyError {
  const code = (error as { Code?: string; name?: string }).Code ?? (error as Error).name ?? "Error";
  return { key, code, message: error instanceof Error ? error.message : String(error) };
}

function countNotDeleted(sweeper: Sweeper, bad: boolean, size: number): void {
  countRemoved(sweeper.counters, bad, size);
  sweeper.stats.notDeleted += 1;
}

function recordBatch(sweeper: Sweeper, byKey: Map<string, DeleteCandidate>, result: DeleteBatchResult): void {
  sweeper.stats.deleteRequests += result.requests;
  for (const key of result.deleted) {
    const candidate = byKey.get(key)!;
    countRemoved(sweeper.counters, candidate.bad, candidate.size);
  }
  for (const error of result.errors) {
    // Still in the bucket as far as anyone knows: counted where it lies (on disk), and reported.
    const candidate = byKey.get(error.key);
    if (candidate) countKept(sweeper.counters, "keep", candidate.bad, candidate.size);
    sweeper.stats.deleteFailures += 1;
    if (sweeper.stats.deleteErrorSample.length < 10) sweeper.stats.deleteErrorSample.push(error);
    sweeper.log.error({ key: error.key, code: error.code }, "chunk could not be deleted");
  }
}
