import type { RunCounters } from "../api/run-result.ts";
import { badChunkKey, chunkKey, digestHex } from "../datastore/index.ts";
import { badIndexOf } from "./objects.ts";
import { chunkDigestOf, chunkObjectSize, type DatastorePlan, inRange, plannedIndexBytes } from "./plan.ts";

/*
 * The expected result of one GC run over a freshly generated datastore (empty marker cache), computed only from what
 * the generator planned and when it uploaded it: an oracle that shares no code with the engine (it imports nothing
 * from the engine's modules, not even the counters' constructor; only the result's type, which is the API).
 */

export interface UploadWindow {
  readonly startMs: number;
  readonly endMs: number;
}

export interface OracleInput {
  /** The engine's phase-1 start ("now"), epoch seconds. */
  readonly nowSeconds: number;
  readonly graceSeconds: number;
  readonly maxBackupDurationSeconds: number;
  /** When each wave was uploaded (wave 2 only exists with fresh chunks). */
  readonly waves: Readonly<Record<1 | 2, UploadWindow | undefined>>;
}

export type ExpectedCounters = RunCounters;

function zeroCounters(): ExpectedCounters {
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

export interface ExpectedOutcome {
  readonly counters: ExpectedCounters;
  readonly minAtime: number;
  readonly oldestWriter: number;
  readonly runningBackups: number;
  readonly abandonedBackups: number;
  /** Keys the run must delete (with a dry run: would delete). */
  readonly removedKeys: ReadonlySet<string>;
  /** Chunk and .bad keys that must still exist afterwards. */
  readonly keptKeys: ReadonlySet<string>;
}

export class AmbiguousCutoffError extends Error {
  override name = "AmbiguousCutoffError";
}

type Decision = "remove" | "pending" | "keep";

function decide(time: number, minAtime: number, oldestWriter: number): Decision {
  if (time < minAtime) return "remove";
  if (time < oldestWriter) return "pending";
  return "keep";
}

export function expectedOutcome(plan: DatastorePlan, input: OracleInput): ExpectedOutcome {
  const now = input.nowSeconds;
  let oldestWriter = now;
  let runningBackups = 0;
  let abandonedBackups = 0;
  const referenced = new Set<number>();
  const counters = zeroCounters();
  for (const snapshot of plan.snapshots) {
    if (snapshot.state !== "finished") {
      if (now - snapshot.epochSeconds < input.maxBackupDurationSeconds) {
        runningBackups += 1;
        oldestWriter = Math.min(oldestWriter, snapshot.epochSeconds);
      } else {
        abandonedBackups += 1;
      }
    }
    for (const index of snapshot.indexes) {
      counters.indexFileCount += 1;
      counters.indexDataBytes += plannedIndexBytes(index);
      for (const id of index.chunkIds) referenced.add(id);
    }
  }
  // PBS moves min_atime to oldest_writer − 300 s when a writer started before now − grace; chunkgc keeps those
  // 300 s below any writer, and below now without one, whatever the grace (clock skew aside, which is zero here).
  const minAtime = Math.min(now - input.graceSeconds, oldestWriter - 300);

  // An unreferenced object's time is its upload time, known to the second at best: both ends must agree.
  const decideUploaded = (wave: 1 | 2, key: string): Decision => {
    const window = input.waves[wave];
    if (!window) throw new Error(`no upload window recorded for wave ${wave}`);
    const earliest = decide(Math.floor(window.startMs / 1000) - 1, minAtime, oldestWriter);
    const latest = decide(Math.ceil(window.endMs / 1000) + 1, minAtime, oldestWriter);
    if (earliest !== latest) {
      throw new AmbiguousCutoffError(
        `cutoff ${minAtime} / oldest writer ${oldestWriter} falls inside the upload of wave ${wave} (${key}): ` +
          "choose a 'now' further from the upload time",
      );
    }
    return earliest;
  };

  const removedKeys = new Set<string>();
  const keptKeys = new Set<string>();
  const count = (key: string, bad: boolean, size: number, decision: Decision) => {
    if (decision === "remove") {
      removedKeys.add(key);
      if (bad) counters.removedBad += 1;
      else counters.removedChunks += 1;
      counters.removedBytes += size;
      return;
    }
    keptKeys.add(key);
    if (decision === "pending") {
      if (bad) counters.stillBad += 1;
      else counters.pendingChunks += 1;
      counters.pendingBytes += size;
    } else {
      if (!bad) counters.diskChunks += 1;
      counters.diskBytes += size;
    }
  };

  const { ranges, params } = plan;
  for (let id = 0; id < plan.totalChunkIds; id += 1) {
    const hex = digestHex(chunkDigestOf(plan, id));
    const size = chunkObjectSize(params, id);
    const isReferenced = referenced.has(id);
    const hasGoodCopy = !inRange(id, ranges.badNoGoodCopy) && !inRange(id, ranges.badUnreferenced);
    const wave = inRange(id, ranges.fresh) ? 2 : 1;
    if (hasGoodCopy) {
      const key = chunkKey(params.store, hex);
      // A referenced chunk is marked at phase-1 start, which is never before the oldest writer.
      count(key, false, size, isReferenced ? "keep" : decideUploaded(wave, key));
    }
    const hasBad =
      inRange(id, ranges.badNoGoodCopy) || inRange(id, ranges.badWithGoodCopy) || inRange(id, ranges.badUnreferenced);
    if (hasBad) {
      const key = badChunkKey(params.store, hex, badIndexOf(id));
      // A .bad object stays fresh only while it is referenced and no good copy exists.
      count(key, true, size, isReferenced && !hasGoodCopy ? "keep" : decideUploaded(1, key));
    }
  }
  return { counters, minAtime, oldestWriter, runningBackups, abandonedBackups, removedKeys, keptKeys };
}
