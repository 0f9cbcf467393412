import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import type { Logger } from "pino";
import { deriveSummary } from "../api/summary.ts";
import { inUseKey } from "../datastore/index.ts";
import {
  assertBucketReachable,
  ConditionalWriteUnsupportedError,
  getObjectBytes,
  isKeyListed,
  ObjectNotFoundError,
  probeServer,
  type S3Context,
} from "../s3/index.ts";
import { isoOfEpochSeconds } from "../util/time.ts";
import { type Cutoff, computeCutoff } from "./classify.ts";
import { type ContentScan, scanContent } from "./content-scan.ts";
import { emptyTally, type RunTally } from "./counters.ts";
import { SafetyAbortError } from "./errors.ts";
import { IndexCache } from "./index-cache.ts";
import { DatastoreLock, LockBusyError, lockPrefix } from "./lock.ts";
import { cachedSnapshots, type Marker, type MarkPass, markIndexes, markPrunedBases, recheckMarkTime } from "./mark.ts";
import { MarkTable } from "./mark-table.ts";
import { type CacheIdentity, identityDigest, loadMarkerCache, writeMarkerCache } from "./marker-cache.ts";
import {
  type EngineOptions,
  type EngineOptionsInput,
  EngineOptionsSchema,
  FutureNowError,
  futureNowRefusal,
} from "./options.ts";
import { Progress, sweepTotalEstimate } from "./progress.ts";
import { estimateCost, type GcReport } from "./report.ts";
import { type Sweeper, sweepChunks } from "./sweep.ts";
import { analyzeWriters, dedupBases, type KnownSnapshot, type WriterAnalysis } from "./writers.ts";

export interface RunHooks {
  /** Runs before each recheck, after its round's candidates were classified: where tests finish a backup. */
  readonly beforeRecheck?: () => Promise<void>;
}

export interface RunDependencies {
  readonly log: Logger;
  readonly signal?: AbortSignal;
  readonly hooks?: RunHooks;
}

/** Re-reads of `.in-use` that answered 404 while it is still listed. */
const IN_USE_REREADS = 3;

/**
 * Reads `.in-use`: the PBS host that has this datastore attached, if any. A 404 counts as "not attached" only once the
 * key is no longer listed; one that stays listed yet unreadable counts as attached (the safe reading).
 */
async function readInUse(s3: S3Context, store: string, signal?: AbortSignal): Promise<string | undefined> {
  const key = inUseKey(store);
  for (let attempt = 0; ; attempt += 1) {
    try {
      const { bytes } = await getObjectBytes(s3, key, signal);
      const text = Buffer.from(bytes).toString("utf8").trim();
      try {
        const parsed = JSON.parse(text) as { hostname?: unknown };
        return typeof parsed.hostname === "string" && parsed.hostname ? parsed.hostname : "unknown host";
      } catch {
        // Unreadable, yet present: treat as attached, the safe reading.
        return "unknown host (unreadable .in-use)";
      }
    } catch (error) {
      if (!(error instanceof ObjectNotFoundError)) throw error;
      if (!(await isKeyListed(s3, key, signal))) return undefined;
      if (attempt >= IN_USE_REREADS) return "unknown host (.in-use is listed but answers 404)";
      await delay(100 * 2 ** attempt, undefined, signal ? { signal } : {});
    }
  }
}

function knownSnapshotsOf(scan: ContentScan): KnownSnapshot[] {
  return [...scan.snapshots.values()].map((snapshot) => ({
    snapshotPath: snapshot.snapshotPath,
    groupPath: snapshot.groupPath,
    epochSeconds: snapshot.epochSeconds,
    finished: snapshot.finished,
    source: "listing" as const,
  }));
}

/** Marks the dedup bases of running backups, taking pruned ones from the index cache. */
async function markRunningBases(marker: Marker, scan: ContentScan, running: WriterAnalysis["running"], pass: MarkPass) {
  if (running.length === 0) return;
  const listed = knownSnapshotsOf(scan);
  const listedPaths = new Set(listed.map((snapshot) => snapshot.snapshotPath));
  const remembered = cachedSnapshots(marker.indexCache, new Set(running.map((writer) => writer.groupPath))).filter(
    (snapshot) => !listedPaths.has(snapshot.snapshotPath),
  );
  await markPrunedBases(marker, dedupBases(running, [...listed, ...remembered]), pass);
}

/** What every phase of one run reads and fills. */
interface RunState {
  readonly s3: S3Context;
  readonly identity: CacheIdentity;
  readonly options: EngineOptions;
  readonly deps: RunDependencies;
  /** The time cutoffs are evaluated at: the clock, or the override. */
  readonly now: Date;
  /** `now` in seconds: every digest marked in phase 1 gets this time. */
  readonly phase1Start: number;
  readonly tally: RunTally;
  readonly report: GcReport;
  lock?: DatastoreLock;
  indexCache?: IndexCache;
  /** The PBS host that has the datastore attached, once one was seen. */
  inUseHost?: string;
}

/** What the mark phase hands to the sweep. */
interface Marked {
  readonly marker: Marker;
  readonly table: MarkTable;
  readonly cutoff: Cutoff;
  readonly skewSeconds: number;
}

/**
 * One garbage collection (docs/gc-semantics.md#the-chunkgc-run): lock, mark, sweep with rechecked deletes, marker
 * cache, report. Never throws
 * for outcomes a user must see (lock busy, safety abort, failure): they are the report's `result`.
 */
export async function runGc(
  s3: S3Context,
  identity: CacheIdentity,
  input: EngineOptionsInput,
  deps: RunDependencies,
): Promise<GcReport> {
  const parsed: EngineOptions = EngineOptionsSchema.parse(input);
  // One subdirectory per datastore: several resources may share a claim without clobbering each other's caches.
  const options = { ...parsed, cacheDir: join(parsed.cacheDir, identityDigest(identity).slice(0, 16)) };
  const { log } = deps;
  const startedAt = new Date();
  // Refused before anything is touched: a caller's mistake, not an outcome of the run.
  const refusal = futureNowRefusal(options, startedAt.getTime());
  if (refusal) throw new FutureNowError(refusal);
  const now = options.now ?? startedAt;
  if (options.now) {
    log.warn({ now: now.toISOString() }, "NOW IS OVERRIDDEN: cutoffs are evaluated as of this time, not the clock");
  }
  const tally = emptyTally();
  const state: RunState = {
    s3,
    identity,
    options,
    deps,
    now,
    phase1Start: Math.floor(now.getTime() / 1000),
    tally,
    report: initialReport(options, startedAt, now, tally, s3),
  };
  try {
    const skewSeconds = await checkServer(state);
    await takeLock(state);
    const marked = await markPhase(state, skewSeconds);
    await sweepPhase(state, marked);
    await saveCaches(state, marked);
    decideResult(state);
  } catch (error) {
    recordFailure(state, error);
  } finally {
    await state.lock
      ?.release()
      .catch((error: unknown) => log.warn({ err: error }, "releasing the datastore lock failed"));
  }
  return finishReport(state);
}

function initialReport(options: EngineOptions, startedAt: Date, now: Date, tally: RunTally, s3: S3Context): GcReport {
  return {
    result: "failed",
    dryRun: options.dryRun,
    startedAt: startedAt.toISOString(),
    finishedAt: startedAt.toISOString(),
    evaluatedAt: now.toISOString(),
    nowOverridden: options.now !== undefined,
    store: options.store,
    counters: tally.gc,
    summary: deriveSummary(tally.gc),
    phases: { markMs: 0, sweepMs: 0, deleteMs: 0, cacheMs: 0 },
    requests: s3.counter.counts,
    bytesDownloaded: 0,
    indexBytesDownloaded: 0,
    chunkDeleteRequests: 0,
    indexCache: { hits: 0, misses: 0, status: "not opened" },
    markerCache: { status: "not opened" },
    heldBack: {},
    estimatedCostUsd: 0,
    runningBackups: [],
    abandonedBackups: [],
    unexpectedKeys: { count: 0, sample: [] },
    missingChunks: 0,
    vanishedIndexes: 0,
    deleteFailures: { count: 0, sample: [] },
  };
}

/**
 * The bucket answers, honours conditional PUTs (the lock is only as good as they are: a server that ignores them
 * would let two runs in) and has a clock close enough to ours. Returns the skew bound in seconds: LastModified is
 * the server's clock, so every cutoff is widened by how far it may be from ours.
 */
async function checkServer(state: RunState): Promise<number> {
  const { s3, options, report } = state;
  const { signal } = state.deps;
  await assertBucketReachable(s3, signal);
  const probe = await probeServer(s3, lockPrefix(options.store), signal);
  if (!probe.conditionalPut) throw new ConditionalWriteUnsupportedError(s3.connection.endpoint);
  if (!probe.clockSkew) {
    throw new SafetyAbortError(
      "clock-skew",
      "the S3 server sent no Date header, so its clock cannot be compared with ours: nothing deleted",
    );
  }
  const skewSeconds = probe.clockSkew.boundMs / 1000;
  report.clockSkew = { estimateMs: probe.clockSkew.estimateMs, boundMs: probe.clockSkew.boundMs };
  if (skewSeconds > options.maxClockSkewSeconds) {
    throw new SafetyAbortError(
      "clock-skew",
      `the S3 server's clock is up to ${Math.ceil(skewSeconds)} s away from ours (estimate ` +
        `${Math.round(probe.clockSkew.estimateMs / 1000)} s), more than the allowed ` +
        `${options.maxClockSkewSeconds} s: nothing deleted. Fix the clocks (NTP)`,
    );
  }
  return skewSeconds;
}

async function takeLock(state: RunState): Promise<void> {
  const { options } = state;
  const { log, signal } = state.deps;
  state.lock = await DatastoreLock.acquire(state.s3, {
    store: options.store,
    owner: options.owner,
    leaseMs: options.lockLeaseSeconds * 1000,
    signal,
    onLost: (error) => log.error({ err: error }, "datastore lock lost: no further deletions"),
  });
  state.report.lockGeneration = state.lock.record.generation;
}

/** Opens the index cache and loads the marker cache into a fresh mark table. */
async function openCaches(state: RunState): Promise<{ indexCache: IndexCache; table: MarkTable }> {
  const { options, identity, report } = state;
  const { log } = state.deps;
  const opened = await IndexCache.open(options.cacheDir, identity);
  state.indexCache = opened.cache;
  report.indexCache.status = opened.reason ? `${opened.status}: ${opened.reason}` : opened.status;
  if (opened.status === "corrupt" || opened.status === "foreign") {
    log.warn({ reason: opened.reason }, `index cache ${opened.status}: indexes are downloaded again`);
  }
  let table = new MarkTable(1 << 16);
  const markerStatus = await loadMarkerCache(options.cacheDir, identity, table);
  if (markerStatus.state !== "loaded") {
    // Without a trustworthy cache the chunk times fall back to this run's marks and S3 LastModified: as safe as PBS.
    table = new MarkTable(1 << 16);
    if (markerStatus.state !== "missing") {
      log.warn({ ...markerStatus }, "marker cache unusable: falling back to the LastModified grace");
    }
  }
  report.markerCache = {
    status: markerStatus.state,
    ...("reason" in markerStatus ? { reason: markerStatus.reason } : {}),
  };
  return { indexCache: opened.cache, table };
}

/** Whether a PBS host has the datastore attached (then, unless acknowledged, nothing is deleted). */
async function checkInUse(state: RunState): Promise<void> {
  const { options, report } = state;
  const { log, signal } = state.deps;
  state.inUseHost = await readInUse(state.s3, options.store, signal);
  if (!state.inUseHost) return;
  report.inUse = { host: state.inUseHost, acknowledged: options.acknowledgeInUse };
  if (!options.acknowledgeInUse) {
    log.warn(
      { host: state.inUseHost },
      "datastore is attached to a PBS host: reporting what would be deleted, deleting nothing",
    );
  }
}

/** Running and abandoned backups, reported; the cutoff their oldest writer sets. */
function writersAndCutoff(
  state: RunState,
  scan: ContentScan,
  skewSeconds: number,
): { cutoff: Cutoff; running: WriterAnalysis["running"] } {
  const { options, report, phase1Start } = state;
  const { log } = state.deps;
  const writers = analyzeWriters(scan.snapshots.values(), phase1Start, options.maxBackupDurationSeconds);
  report.runningBackups = writers.running.map((snapshot) => snapshot.snapshotPath);
  report.abandonedBackups = writers.abandoned.map((snapshot) => snapshot.snapshotPath);
  for (const abandoned of writers.abandoned) {
    log.warn(
      { snapshot: abandoned.snapshotPath },
      "abandoned backup (no manifest, older than the maximum backup duration)",
    );
  }
  const cutoff = computeCutoff(phase1Start, options.graceSeconds, writers.oldestRunningStart, skewSeconds);
  report.cutoff = {
    minAtime: isoOfEpochSeconds(cutoff.minAtime),
    oldestWriter: isoOfEpochSeconds(cutoff.oldestWriter),
  };
  log.info({ minAtime: report.cutoff.minAtime, oldestWriter: report.cutoff.oldestWriter }, "cutoff");
  return { cutoff, running: writers.running };
}

/** Phase 1: caches, `.in-use`, the content listing, the cutoff, then every index and running backup's base marked. */
async function markPhase(state: RunState, skewSeconds: number): Promise<Marked> {
  const { s3, options, phase1Start, tally } = state;
  const { log, signal } = state.deps;
  const markStarted = Date.now();
  const { indexCache, table } = await openCaches(state);
  await checkInUse(state);
  const scan = await scanContent(s3, options.store, signal);
  const { cutoff, running } = writersAndCutoff(state, scan, skewSeconds);

  const markProgress = new Progress(log, "mark", { total: scan.indexes.length });
  const marker: Marker = {
    s3,
    store: options.store,
    table,
    indexCache,
    markTime: phase1Start,
    concurrency: options.indexConcurrency,
    counters: tally.gc,
    stats: tally.mark,
    log,
    marked: new Map(),
    vanished: new Set(),
    signal,
    onIndexDone: () => markProgress.advance(),
  };
  await markIndexes(marker, scan.indexes, scan.snapshots);
  await markRunningBases(marker, scan, running, { recheck: false });
  markProgress.finish();
  state.report.phases.markMs = Date.now() - markStarted;
  return { marker, table, cutoff, skewSeconds };
}

/**
 * The recheck before each round of deletions: lists the content again, moves the cutoff earlier if an older running
 * backup became visible (never later), and marks what is new or changed.
 */
async function recheck(state: RunState, marked: Marked): Promise<void> {
  const { s3, options, phase1Start } = state;
  const { log, signal } = state.deps;
  const { marker, cutoff, skewSeconds } = marked;
  await state.deps.hooks?.beforeRecheck?.();
  const again = await scanContent(s3, options.store, signal);
  const writersNow = analyzeWriters(again.snapshots.values(), phase1Start, options.maxBackupDurationSeconds);
  if (writersNow.oldestRunningStart !== undefined && writersNow.oldestRunningStart < cutoff.oldestWriter) {
    // A running backup became visible that is older than the cutoff assumed: only ever move it earlier.
    const earlier = computeCutoff(phase1Start, options.graceSeconds, writersNow.oldestRunningStart, skewSeconds);
    cutoff.minAtime = Math.min(cutoff.minAtime, earlier.minAtime);
    cutoff.oldestWriter = Math.min(cutoff.oldestWriter, earlier.oldestWriter);
    log.warn(
      { oldestWriter: isoOfEpochSeconds(cutoff.oldestWriter) },
      "recheck found an older running backup: cutoff moved earlier",
    );
  }
  await markIndexes(marker, again.indexes, again.snapshots, { recheck: true });
  await markRunningBases(marker, again, writersNow.running, { recheck: true });
}

/** Before each round of deletions: a PBS host may attach the datastore while we run. */
async function stillMayDelete(state: RunState): Promise<boolean> {
  const { options, report } = state;
  const { log, signal } = state.deps;
  const host = await readInUse(state.s3, options.store, signal);
  if (!host || options.acknowledgeInUse) return true;
  state.inUseHost = host;
  report.inUse = { host, acknowledged: false };
  log.warn({ host }, "datastore was attached to a PBS host during the run: no further deletions");
  return false;
}

/** Phase 2: sweep, deleting in rounds that each follow a recheck of the indexes. */
async function sweepPhase(state: RunState, marked: Marked): Promise<void> {
  const { s3, options, phase1Start, tally, report } = state;
  const { log, signal } = state.deps;
  const { table, cutoff } = marked;
  const lock = state.lock!;
  const deletionsAllowed = !options.dryRun && !(state.inUseHost && !options.acknowledgeInUse);
  const sweepStarted = Date.now();
  const expected = sweepTotalEstimate(table.size);
  const sweepProgress = new Progress(log, "sweep", expected === undefined ? {} : { total: expected, estimated: true });
  const sweeper: Sweeper = {
    s3,
    store: options.store,
    table,
    cutoff,
    phase1Start,
    counters: tally.gc,
    stats: tally.sweep,
    deletionsAllowed,
    listConcurrency: options.listConcurrency,
    listParser: options.listParser,
    deleteConcurrency: options.deleteConcurrency,
    deleteBatchSize: options.deleteBatchSize,
    roundSize: options.roundSize,
    log,
    signal,
    onListed: (count) => sweepProgress.advance(count),
    recheck: () => recheck(state, marked),
    assertLockHeld: () => lock.assertHeld(),
    checkLockHeld: () => lock.checkHeld(),
    stillMayDelete: () => stillMayDelete(state),
  };
  await sweepChunks(sweeper);
  sweepProgress.finish();
  report.phases.sweepMs = Date.now() - sweepStarted;
  report.phases.deleteMs = tally.sweep.deleteMs;
  // Only digests marked in phase 1: one first marked by a recheck may have been listed before it was marked.
  report.missingChunks = table.countUnseenSince(phase1Start) - table.countUnseenSince(recheckMarkTime(phase1Start));
  if (report.missingChunks > 0) {
    log.warn({ missingChunks: report.missingChunks }, "chunks referenced by indexes are missing from the bucket");
  }
}

/** Phase 3: the marker cache (a what-if dry run at another time must not leave its marks behind), the index cache. */
async function saveCaches(state: RunState, marked: Marked): Promise<void> {
  const { options, identity, report, now } = state;
  const cacheStarted = Date.now();
  if (!(options.dryRun && options.now)) {
    const written = await writeMarkerCache(options.cacheDir, identity, marked.table, {
      minTime: marked.cutoff.minAtime,
      now,
    });
    report.markerCache.entriesWritten = written.entries;
  }
  await state.indexCache!.save({ nowMs: Date.now(), retainUnseenMs: options.indexRetentionSeconds * 1000 });
  report.phases.cacheMs = Date.now() - cacheStarted;
}

/** The result of a run that got through every phase: failed deletions, a datastore in use, or success. */
function decideResult(state: RunState): void {
  const { options, report } = state;
  const stats = state.tally.sweep;
  if (stats.deleteFailures > 0) {
    report.result = "failed";
    report.message = `${stats.deleteFailures} chunk deletions failed (first: ${stats.deleteErrorSample[0]?.key} ${stats.deleteErrorSample[0]?.code})`;
  } else if (state.inUseHost && !options.acknowledgeInUse) {
    report.result = "aborted";
    const done = stats.deleteRequests > 0 ? "deletions stopped when it was attached" : "nothing deleted";
    report.message =
      `datastore is attached to PBS host ${state.inUseHost} (.in-use): ${done}; ${stats.notDeleted} chunks would be ` +
      "removed. Acknowledge to delete, then let PBS rebuild its local chunk cache.";
  } else {
    report.result = "succeeded";
    if (options.dryRun) report.message = `dry run: ${stats.notDeleted} chunks would be removed`;
  }
}

/** The result of a run that stopped: the lock was busy, a safety rule tripped, or something failed. */
function recordFailure(state: RunState, error: unknown): void {
  const { report, tally } = state;
  if (error instanceof LockBusyError) {
    report.result = "lock-busy";
    report.message = error.message;
  } else if (error instanceof SafetyAbortError) {
    report.result = "aborted";
    // A rule that trips at a later round's recheck stops the run after earlier rounds deleted: say so.
    const removed = tally.gc.removedChunks + tally.gc.removedBad;
    report.message =
      tally.sweep.deleteRequests > 0 && removed > 0
        ? `${error.message} (stopped after earlier rounds removed ${removed} chunks)`
        : error.message;
  } else {
    report.result = "failed";
    report.message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  }
  state.deps.log.error({ err: error }, `GC ${report.result}`);
}

/** Reads the tally (and the S3 request counter, the caches) into the report, however far the run got. */
function finishReport(state: RunState): GcReport {
  const { report, options, s3 } = state;
  const { gc, mark, sweep } = state.tally;
  report.summary = deriveSummary(gc);
  report.finishedAt = new Date().toISOString();
  report.requests = { ...s3.counter.counts };
  report.bytesDownloaded = s3.counter.bytesDownloaded;
  report.indexBytesDownloaded = mark.indexBytesDownloaded;
  report.chunkDeleteRequests = sweep.deleteRequests;
  report.indexCache.hits = state.indexCache?.hits ?? 0;
  report.indexCache.misses = state.indexCache?.misses ?? 0;
  report.vanishedIndexes = mark.vanishedIndexes;
  report.unexpectedKeys = { count: sweep.unexpectedKeys, sample: sweep.unexpectedSample };
  report.deleteFailures = { count: sweep.deleteFailures, sample: sweep.deleteErrorSample };
  report.heldBack = {
    recentUpload: sweep.keptRecentUpload,
    markerCache: sweep.keptMarkerCache,
    recheck: sweep.recheckKept,
    runningBackupBase: mark.baseChunksFromCache,
    ...(report.inUse && !report.inUse.acknowledged ? { inUse: sweep.notDeleted } : {}),
    ...(options.dryRun ? { dryRun: sweep.notDeleted } : {}),
    ...(sweep.deleteFailures > 0 ? { deleteFailed: sweep.deleteFailures } : {}),
  };
  report.estimatedCostUsd = estimateCost(report.requests, options.prices);
  return report;
}
