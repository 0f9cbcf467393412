import pLimit from "p-limit";
import type { Logger } from "pino";
import { parseIndex } from "../datastore/index.ts";
import { getObjectBytes, ObjectNotFoundError, type S3Context } from "../s3/index.ts";
import type { ListedIndex, ListedSnapshot } from "./content-scan.ts";
import type { GcCounters } from "./counters.ts";
import { SafetyAbortError } from "./errors.ts";
import type { IndexCache, IndexCatalogEntry } from "./index-cache.ts";
import type { MarkTable } from "./mark-table.ts";
import type { KnownSnapshot } from "./writers.ts";

export interface MarkStats {
  indexesRead: number;
  indexesDownloaded: number;
  indexBytesDownloaded: number;
  vanishedIndexes: number;
  /** Digests marked only because a running backup's pruned dedup base was remembered by the index cache. */
  baseChunksFromCache: number;
}

export interface Marker {
  readonly s3: S3Context;
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
  onIndexDone?: () => void;
}

function markDigests(table: MarkTable, digests: Uint8Array, time: number): number {
  return table.markAll(digests, time);
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
  let fetched: Awaited<ReturnType<typeof getObjectBytes>>;
  try {
    fetched = await getObjectBytes(marker.s3, listed.key, marker.signal);
  } catch (error) {
    if (error instanceof ObjectNotFoundError) {
      // Pruned between listing and reading: its snapshot is gone, as PBS would find too.
      marker.stats.vanishedIndexes += 1;
      marker.log.warn({ key: listed.key }, "index vanished while marking (snapshot pruned meanwhile)");
      return undefined;
    }
    if (marker.signal?.aborted) throw error;
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

/** Phase 1: marks every digest of these indexes (bounded parallel reads); counts index files and bytes as PBS does. */
export async function markIndexes(
  marker: Marker,
  indexes: readonly ListedIndex[],
  snapshots: ReadonlyMap<string, ListedSnapshot>,
): Promise<void> {
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
        marker.marked.set(listed.key, listed.etag);
        marker.onIndexDone?.();
        if (!index) return;
        marker.stats.indexesRead += 1;
        marker.counters.indexFileCount += 1;
        marker.counters.indexDataBytes += index.indexBytes;
        markDigests(marker.table, index.digests, marker.markTime);
      }),
    ),
  );
}

/**
 * Marks the dedup bases of running backups that are no longer listed (pruned after the backup started), from the
 * index cache. Bases still listed were marked with everything else.
 */
export async function markPrunedBases(marker: Marker, bases: readonly KnownSnapshot[]): Promise<void> {
  for (const base of bases) {
    if (base.source !== "cache") continue;
    for (const entry of marker.indexCache.entriesOfGroup(base.groupPath)) {
      if (!entry.key.includes(`/${base.snapshotPath}`)) continue;
      const digests = await marker.indexCache.lookup(entry.key, entry.etag, entry.size);
      if (!digests) {
        marker.log.warn({ key: entry.key }, "dedup base of a running backup is pruned and its cached index is damaged");
        continue;
      }
      marker.stats.baseChunksFromCache += markDigests(marker.table, digests, marker.markTime);
      marker.log.info({ key: entry.key }, "kept the chunks of a pruned snapshot: dedup base of a running backup");
    }
  }
}

/** Snapshots the index cache remembers (finished ones are dedup-base candidates even after pruning). */
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
          finished: entry.finished,
          source: "cache",
        });
      }
    }
  }
  return [...known.values()];
}
