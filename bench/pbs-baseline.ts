/**
 * What Proxmox Backup Server's own S3 garbage collection does, written out step by step so that the benchmark compares
 * chunkgc with PBS's algorithm and not with a slowed-down chunkgc (docs: "PBS's own S3 garbage collection"):
 *
 * - Phase 1 reads every index from PBS's LOCAL datastore (no S3 request; here: a local directory holding the indexes,
 *   which chunkgc's warm index cache stands for) and marks each referenced digest by touching a local marker file
 *   (`utimes`, created when missing), one file per chunk, as PBS's local chunk cache does.
 * - Phase 2 lists `<store>/.chunks/` one ListObjectsV2 page (1000 keys) at a time, the next page requested only after
 *   the previous one was processed; for each chunk key it stats the local marker (its atime is the chunk's time; no
 *   marker: the epoch) and decides delete / pending / keep; deletes go out as sequential 100-key DeleteObjects.
 *   There is no re-listing of the index directory between delete batches: PBS holds its datastore mutex instead.
 * - Phase 3 removes the markers of the chunks it deleted.
 *
 * The download-everything variant (`download: true`) instead lists `<store>/.cnt/` and GETs every index sequentially
 * before marking: what an S3-only tool without PBS's local store would do in PBS's sequential style.
 */
import { mkdirSync, readdirSync, readFileSync, statSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { chunksPrefix, contentPrefix, digestHex, indexKindOfFileName, parseIndex } from "../src/datastore/index.ts";
import { deleteBatch, getObjectBytes, listObjects, listPages, type S3Context } from "../src/s3/index.ts";

export const PBS_DELETE_BATCH = 100;

export interface PbsBaselineOptions {
  readonly store: string;
  /** Directory of the local index files (the datastore's snapshot tree). */
  readonly indexDir: string;
  /** Directory of the local chunk markers (`.chunks/<4 hex>/<digest>`). */
  readonly markerDir: string;
  readonly nowSeconds: number;
  readonly graceSeconds: number;
  /** Download every index from S3 (sequentially) instead of reading the local copy. */
  readonly download?: boolean;
}

export interface PbsBaselineResult {
  counters: { removedChunks: number; removedBad: number; pendingChunks: number; diskChunks: number; diskBytes: number };
  phases: { markMs: number; sweepMs: number; deleteMs: number; cacheMs: number };
  chunkDeleteRequests: number;
  indexesRead: number;
  indexBytesDownloaded: number;
}

const CHUNK_NAME = /^[0-9a-f]{64}(\.\d\.bad)?$/;

function markerPath(markerDir: string, hex: string): string {
  return join(markerDir, ".chunks", hex.slice(0, 4), hex);
}

/** PBS's cond_touch_chunk: set the marker's atime, creating the marker when it is missing. */
function touchMarker(markerDir: string, hex: string, time: number): void {
  const path = markerPath(markerDir, hex);
  try {
    utimesSync(path, time, time);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, "");
    utimesSync(path, time, time);
  }
}

function markDigests(markerDir: string, digests: Uint8Array, time: number): void {
  for (let at = 0; at < digests.length; at += 32) touchMarker(markerDir, digestHex(digests, at), time);
}

function* localIndexFiles(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* localIndexFiles(path);
    else if (indexKindOfFileName(entry.name)) yield path;
  }
}

/** PBS's phase 1 over the local indexes alone: leaves the markers a previous GC run would have left (bench setup). */
export function prepareMarkers(indexDir: string, markerDir: string, time: number): void {
  for (const path of localIndexFiles(indexDir))
    markDigests(markerDir, parseIndex(readFileSync(path), path).digests, time);
}

/** Copies every index of the store to `indexDir` (bench setup, not timed): PBS's local datastore. */
export async function mirrorIndexes(s3: S3Context, store: string, indexDir: string): Promise<number> {
  const keys: string[] = [];
  for await (const object of listObjects(s3, { prefix: contentPrefix(store) })) {
    if (indexKindOfFileName(object.key)) keys.push(object.key);
  }
  let next = 0;
  const worker = async () => {
    while (next < keys.length) {
      const key = keys[next++]!;
      const { bytes } = await getObjectBytes(s3, key);
      const path = join(indexDir, key);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, bytes);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return keys.length;
}

export async function runPbsBaseline(s3: S3Context, options: PbsBaselineOptions): Promise<PbsBaselineResult> {
  const result: PbsBaselineResult = {
    counters: { removedChunks: 0, removedBad: 0, pendingChunks: 0, diskChunks: 0, diskBytes: 0 },
    phases: { markMs: 0, sweepMs: 0, deleteMs: 0, cacheMs: 0 },
    chunkDeleteRequests: 0,
    indexesRead: 0,
    indexBytesDownloaded: 0,
  };
  const now = options.nowSeconds;
  // No running backups in the benchmark's datastores: the oldest writer is "now" (PBS reads it from its task list).
  const minAtime = now - options.graceSeconds;
  const oldestWriter = now;

  const markStarted = performance.now();
  if (options.download) {
    const keys: string[] = [];
    for await (const object of listObjects(s3, { prefix: contentPrefix(options.store), parser: "sdk" })) {
      if (indexKindOfFileName(object.key)) keys.push(object.key);
    }
    for (const key of keys) {
      const { bytes } = await getObjectBytes(s3, key);
      result.indexBytesDownloaded += bytes.byteLength;
      markDigests(options.markerDir, parseIndex(bytes, key).digests, now);
      result.indexesRead += 1;
    }
  } else {
    for (const path of localIndexFiles(options.indexDir)) {
      markDigests(options.markerDir, parseIndex(readFileSync(path), path).digests, now);
      result.indexesRead += 1;
    }
  }
  result.phases.markMs = Math.round(performance.now() - markStarted);

  const sweepStarted = performance.now();
  const removedHex: string[] = [];
  let deleteList: string[] = [];
  let deleteMs = 0;
  const flush = async () => {
    if (deleteList.length === 0) return;
    const started = performance.now();
    const outcome = await deleteBatch(s3, deleteList);
    deleteMs += performance.now() - started;
    result.chunkDeleteRequests += outcome.requests;
    if (outcome.errors.length > 0)
      throw new Error(`failed to delete ${outcome.errors[0]!.key}: ${outcome.errors[0]!.code}`);
    deleteList = [];
  };
  for await (const page of listPages(s3, { prefix: chunksPrefix(options.store), parser: "sdk" })) {
    for (const object of page.objects) {
      const name = object.key.slice(object.key.lastIndexOf("/") + 1);
      if (!CHUNK_NAME.test(name)) continue;
      const hex = name.slice(0, 64);
      const bad = name.length > 64;
      const stat = statSync(markerPath(options.markerDir, hex), { throwIfNoEntry: false });
      const atime = stat ? Math.floor(stat.atimeMs / 1000) : 0;
      const counters = result.counters;
      if (atime < minAtime) {
        if (bad) counters.removedBad += 1;
        else counters.removedChunks += 1;
        deleteList.push(object.key);
        if (!bad) removedHex.push(hex);
        if (deleteList.length >= PBS_DELETE_BATCH) await flush();
      } else if (atime < oldestWriter) {
        if (!bad) counters.pendingChunks += 1;
      } else {
        if (!bad) counters.diskChunks += 1;
        counters.diskBytes += object.size;
      }
    }
  }
  await flush();
  result.phases.deleteMs = Math.round(deleteMs);
  result.phases.sweepMs = Math.round(performance.now() - sweepStarted);

  const cacheStarted = performance.now();
  for (const hex of removedHex) {
    try {
      unlinkSync(markerPath(options.markerDir, hex));
    } catch {
      // No marker: nothing to sweep.
    }
  }
  result.phases.cacheMs = Math.round(performance.now() - cacheStarted);
  return result;
}
