import { setTimeout as delay } from "node:timers/promises";
import pLimit from "p-limit";
import type { Logger } from "pino";
import { parseIndex } from "../datastore/index.ts";
import { type FetchedObject, getObjectBytes, isKeyListed, ObjectNotFoundError, type S3Context } from "../s3/index.ts";
import type { ListedIndex, ListedSnapshot } from "./content-scan.ts";
import type { GcCounters, MarkStats } from "./counters.ts";
import { SafetyAbortError } from "./errors.ts";
import type { IndexCache, IndexCatalogEntry } from "./index-cache.ts";
import type { MarkTable } from "./mark-table.ts";
import type { KnownSnapshot } from "./writers.ts";

/**
 * The two bucket reads of marking: an index's bytes, and whether a key is listed (how a 404 is confirmed).
 * {@link s3MarkObjects} is the real one.
 */
export interface MarkObjects {
  get(key: string, signal?: AbortSignal): Promise<FetchedObject>;
  isListed(key: string, signal?: AbortSignal): Promise<boolean>;
}

export function s3MarkObjects(s3: S3Context): MarkObjects {
  return {
    get: (key, signal) => getObjectBytes(s3, key, signal),
    isListed: (key, signal) => isKeyListed(s3, key, signal),
  };
}

export interface Marker {
  readonly s3: S3Context;
  /** Where indexes are read; {@link s3MarkObjects} of `s3` when not given. */
  readonly objects?: MarkObjects;
  readonly store: string;
  readonly table: MarkTable;
  readonly indexCache: IndexCache;
  /** The time every digest marked in this run gets: the phase-1 start. */
  readonly markTime: number;
  readonly concurrency: number;
  readonly counters: GcCounters;
  readonly stats: MarkStats;
  readonly log: Logger;
  readonly signal?: AbortSignal;
  /** Index keys already marked in this run, with the ETag they had: the recheck marks only what is new or changed. */
  readonly marked: Map<string, string>;
  /**
   * Index keys confirmed gone (a 404, then no longer listed): never recorded as marked. Listed again later in the
   * run, such a key aborts it: the listing and the reads disagree, and its chunks cannot be vouched for.
   */
  readonly vanished: Set<string>;
  onIndexDone?: () => void;
}

function markDigests(table: MarkTable, digests: Uint8Array, time: number): number {
  return table.markAll(digests, time);
}

/**
 * Marks for a recheck: a digest already marked in this run keeps its phase-1 time (so that a referenced chunk
 * missing from the bucket is still counted), one marked only now gets {@link recheckMarkTime}. Returns new entries.
 */
function markDigestsAtRecheck(table: MarkTable, digests: Uint8Array, markTime: number): number {
  const time = recheckMarkTime(markTime);
  let added = 0;
  for (let offset = 0; offset < digests.length; offset += 32) {
    if (table.timeOf(digests, offset) >= markTime) continue;
    if (table.mark(digests, offset, time)) added += 1;
  }
  return added;
}

function catalogEntryFor(
  listed: ListedIndex,
  etag: string,
  snapshot: ListedSnapshot | undefined,
  index: { indexBytes: number; chunkCount: number },
): IndexCatalogEntry {
  return {
    key: listed.key,
    etag,
    size: listed.size,
    groupPath: snapshot?.groupPath ?? "",
    snapshotTime: snapshot?.snapshotTime ?? "",
    epochSeconds: snapshot?.epochSeconds ?? 0,
    finished: snapshot?.finished ?? false,
    kind: listed.kind,
    indexBytes: index.indexBytes,
    chunkCount: index.chunkCount,
    lastSeenMs: Date.now(),
  };
}

/** Re-reads of an index that answered 404 while still listed, before the run gives up on it. */
const NOT_FOUND_REREADS = 3;

/**
 * GETs an index. A 404 is believed only once the key is no longer listed (then {@link ObjectNotFoundError}); while
 * it is still listed the GET is repeated, and an index that stays listed yet unreadable aborts the run: a transient
 * 404 must never pass for a pruned snapshot.
 */
async function fetchIndex(marker: Marker, key: string): Promise<FetchedObject> {
  const objects = marker.objects ?? s3MarkObjects(marker.s3);
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await objects.get(key, marker.signal);
    } catch (error) {
      if (!(error instanceof ObjectNotFoundError)) throw error;
      if (!(await objects.isListed(key, marker.signal))) throw error;
      if (attempt >= NOT_FOUND_REREADS) {
        throw new SafetyAbortError(
          "unreadable-index",
          `index ${key} is listed but every read answers 404: nothing deleted`,
          { cause: error },
        );
      }
      marker.log.warn({ key, attempt: attempt + 1 }, "index answered 404 but is still listed: reading it again");
      await delay(100 * 2 ** attempt, undefined, marker.signal ? { signal: marker.signal } : {});
    }
  }
}

/** Digests of one listed index, from the cache when key, ETag and size match, else downloaded and validated. */
async function readIndex(
  marker: Marker,
  listed: ListedIndex,
  snapshot: ListedSnapshot | undefined,
): Promise<{ digests: Uint8Array; indexBytes: number } | undefined> {
  const cached = await marker.indexCache.lookup(listed.key, listed.etag, listed.size);
  const entry = marker.indexCache.entry(listed.key);
  if (cached && entry) {
    marker.indexCache.touch(listed.key, { lastSeenMs: Date.now(), finished: snapshot?.finished ?? entry.finished });
    return { digests: cached, indexBytes: entry.indexBytes };
  }
  let fetched: FetchedObject;
  try {
    fetched = await fetchIndex(marker, listed.key);
  } catch (error) {
    if (error instanceof ObjectNotFoundError) {
      // Confirmed pruned between listing and reading (no longer listed): its snapshot is gone, as PBS would find too.
      marker.vanished.add(listed.key);
      marker.stats.vanishedIndexes += 1;
      marker.log.warn({ key: listed.key }, "index vanished while marking (snapshot pruned meanwhile)");
      return undefined;
    }
    if (marker.signal?.aborted || error instanceof SafetyAbortError) throw error;
    throw new SafetyAbortError("unreadable-index", `cannot read index ${listed.key}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  marker.stats.indexesDownloaded += 1;
  marker.stats.indexBytesDownloaded += fetched.bytes.byteLength;
  let parsed: ReturnType<typeof parseIndex>;
  try {
    parsed = parseIndex(fetched.bytes, listed.key, { expectedKind: listed.kind });
  } catch (error) {
    throw new SafetyAbortError("corrupt-index", `corrupt index, nothing deleted: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const sized = { ...listed, size: fetched.size };
  await marker.indexCache.store(catalogEntryFor(sized, fetched.etag || listed.etag, snapshot, parsed), parsed.digests);
  return { digests: parsed.digests, indexBytes: parsed.indexBytes };
}

export interface MarkPass {
  /**
   * The recheck before a delete round: marks only new or changed indexes and adds nothing to the PBS counters
   * (they count the indexes of phase 1, each once, as PBS does).
   */
  readonly recheck: boolean;
}

/** Phase 1: marks every digest of these indexes (bounded parallel reads); counts index files and bytes as PBS does. */
export async function markIndexes(
  marker: Marker,
  indexes: readonly ListedIndex[],
  snapshots: ReadonlyMap<string, ListedSnapshot>,
  pass: MarkPass = { recheck: false },
): Promise<void> {
  const reappeared = indexes.find((listed) => marker.vanished.has(listed.key));
  if (reappeared) {
    throw new SafetyAbortError(
      "vanished-index-listed",
      `index ${reappeared.key} answered 404 and was not listed, yet is listed again: nothing deleted`,
    );
  }
  const limit = pLimit(marker.concurrency);
  const controller = new AbortController();
  await Promise.all(
    indexes.map((listed) =>
      limit(async () => {
        controller.signal.throwIfAborted();
        if (marker.marked.get(listed.key) === listed.etag) return;
        const snapshot = listed.snapshotPath ? snapshots.get(listed.snapshotPath) : undefined;
        const index = await readIndex(marker, listed, snapshot).catch((error: unknown) => {
          controller.abort(error);
          throw error;
        });
        marker.onIndexDone?.();
        if (!index) return;
        const counted = marker.marked.has(listed.key);
        marker.marked.set(listed.key, listed.etag);
        marker.stats.indexesRead += 1;
        if (!pass.recheck && !counted) {
          marker.counters.indexFileCount += 1;
          marker.counters.indexDataBytes += index.indexBytes;
        }
        if (pass.recheck) markDigestsAtRecheck(marker.table, index.digests, marker.markTime);
        else markDigests(marker.table, index.digests, marker.markTime);
      }),
    ),
  );
}

/**
 * Digests first marked by a recheck get one second more than the phase-1 marks: still "referenced in this run" for
 * every decision, but told apart when counting referenced chunks missing from the bucket (a chunk listed before the
 * recheck marked it was never flagged as seen, yet exists).
 */
export function recheckMarkTime(markTime: number): number {
  return markTime + 1;
}

/**
 * Marks the dedup bases of running backups that are no longer listed (pruned after the backup started), from the
 * index cache. Bases still listed were marked with everything else.
 */
export async function markPrunedBases(
  marker: Marker,
  bases: readonly KnownSnapshot[],
  pass: MarkPass = { recheck: false },
): Promise<void> {
  for (const base of bases) {
    if (base.source !== "cache") continue;
    for (const entry of marker.indexCache.entriesOfGroup(base.groupPath)) {
      if (!entry.key.includes(`/${base.snapshotPath}`)) continue;
      const digests = await marker.indexCache.lookup(entry.key, entry.etag, entry.size);
      if (!digests) {
        marker.log.warn({ key: entry.key }, "dedup base of a running backup is pruned and its cached index is damaged");
        continue;
      }
      marker.stats.baseChunksFromCache += pass.recheck
        ? markDigestsAtRecheck(marker.table, digests, marker.markTime)
        : markDigests(marker.table, digests, marker.markTime);
      marker.log.info({ key: entry.key }, "kept the chunks of a pruned snapshot: dedup base of a running backup");
    }
  }
}

/**
 * Snapshots the index cache remembers but the listing no longer shows (pruned): every one is a dedup-base candidate,
 * whatever `finished` said when it was cached. A snapshot cached while it ran may have finished, become the base of
 * a newer backup and been pruned since, without any run seeing its manifest.
 */
export function cachedSnapshots(indexCache: IndexCache, groupPaths: Iterable<string>): KnownSnapshot[] {
  const known = new Map<string, KnownSnapshot>();
  for (const groupPath of groupPaths) {
    for (const entry of indexCache.entriesOfGroup(groupPath)) {
      if (!entry.snapshotTime) continue;
      const snapshotPath = `${entry.groupPath}${entry.snapshotTime}/`;
      if (!known.has(snapshotPath)) {
        known.set(snapshotPath, {
          snapshotPath,
          groupPath: entry.groupPath,
          epochSeconds: entry.epochSeconds,
          finished: true,
          source: "cache",
        });
      }
    }
  }
  return [...known.values()];
}
