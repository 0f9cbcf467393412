/**
 * The soak's oracle. It shares no code with the engine: it reads the bucket with the SDK, parses indexes with the
 * datastore format library, and decides from the spec's rules and the soak's own model of what the writer did.
 *
 * - `checkInvariant`: after a run, no chunk referenced by a visible index, by a backup running during the run, or by
 *   the dedup base of such a backup is gone; nothing but chunks was deleted; a dry run or an attached datastore lost
 *   nothing at all.
 * - `expectedCounters`: for a run with no faults and nothing else happening, the exact PBS counters and removed keys.
 */
import { chunksPrefix, contentPrefix, digestHex, parseContentKey, parseIndex } from "../../src/datastore/index.ts";
import { type BucketIo, getBytes, type Listed, listAll } from "./bucket.ts";
import type { RoundModel } from "./model.ts";

export interface Violation {
  readonly kind: string;
  readonly key: string;
  readonly detail: string;
}

export interface StoreListing {
  readonly content: Listed[];
  readonly chunks: Listed[];
}

export async function listStore(io: BucketIo, store: string): Promise<StoreListing> {
  const [content, chunks] = await Promise.all([listAll(io, contentPrefix(store)), listAll(io, chunksPrefix(store))]);
  return { content, chunks };
}

export interface IndexRead {
  readonly key: string;
  readonly indexBytes: number;
  readonly digests: string[];
}

/** Reads and validates every index in a `.cnt/` listing (a malformed one is itself a finding). */
export async function readIndexes(io: BucketIo, content: readonly Listed[]): Promise<IndexRead[]> {
  const keys = content.map((object) => object.key).filter((key) => key.endsWith(".fidx") || key.endsWith(".didx"));
  return Promise.all(
    keys.map(async (key) => {
      const parsed = parseIndex(await getBytes(io, key), key);
      const digests: string[] = [];
      for (let i = 0; i < parsed.chunkCount; i += 1) {
        digests.push(digestHex(parsed.digests.subarray(i * 32, (i + 1) * 32)));
      }
      return { key, indexBytes: parsed.indexBytes, digests };
    }),
  );
}

/** What a run owes: the backups that ran at any time during it, and the state before it. */
export interface RunObligations {
  readonly runningDuring: ReadonlySet<string>;
  readonly chunksBefore: ReadonlySet<string>;
  /** The datastore was attached (`.in-use`, unacknowledged) or the run was a dry run: nothing may go. */
  readonly deleteNothing: boolean;
  /** Keys under `.cnt/` the writer deleted during the run (prunes). */
  readonly prunedKeys: ReadonlySet<string>;
}

const CHUNK_KEY = /^[0-9a-f]{4}\/[0-9a-f]{64}(\.[0-9]\.bad)?$/;

export async function checkInvariant(
  io: BucketIo,
  model: RoundModel,
  duty: RunObligations,
): Promise<{ violations: Violation[]; after: StoreListing }> {
  const violations: Violation[] = [];
  const after = await listStore(io, model.store);
  const chunkKeys = new Set(after.chunks.map((object) => object.key));
  const contentKeys = new Set(after.content.map((object) => object.key));
  const byHex = new Map<string, number>();
  for (const chunk of model.chunks.values()) byHex.set(chunk.hex, chunk.id);

  const required = new Map<string, string>();
  const requireId = (id: number, reason: string) => {
    const key = model.liveKeyOf(id);
    if (key !== undefined && !required.has(key)) required.set(key, reason);
  };
  let indexes: IndexRead[] = [];
  try {
    indexes = await readIndexes(io, after.content);
  } catch (error) {
    violations.push({ kind: "unreadable-index", key: "", detail: (error as Error).message });
  }
  for (const index of indexes) {
    for (const hex of index.digests) {
      const id = byHex.get(hex);
      if (id === undefined) {
        violations.push({ kind: "unknown-digest", key: index.key, detail: `${hex} is not a chunk the soak wrote` });
      } else {
        requireId(id, `visible index ${index.key}`);
      }
    }
  }
  for (const path of duty.runningDuring) {
    const backup = model.snapshots.get(path)!;
    for (const id of model.refsOf(backup)) requireId(id, `running backup ${path}`);
    const base = backup.base ? model.snapshots.get(backup.base) : undefined;
    if (base) for (const id of model.refsOf(base)) requireId(id, `dedup base ${base.path} of running backup ${path}`);
  }
  for (const [key, reason] of required) {
    // Reported once, after the run that deleted it.
    if (!chunkKeys.has(key) && !model.reportedGone.has(key)) {
      model.reportedGone.add(key);
      violations.push({ kind: "referenced-chunk-gone", key, detail: reason });
    }
  }

  const keep = [...model.permanentKeys, ...model.junkKeys];
  for (const snapshot of model.snapshots.values()) {
    if (snapshot.state !== "pruned") for (const key of snapshot.keys) keep.push(key);
  }
  for (const key of keep) {
    if (duty.prunedKeys.has(key)) continue;
    const inChunks = key.startsWith(chunksPrefix(model.store));
    // Keys outside both prefixes (strays at the store's root) are not listed here.
    if (!inChunks && !key.startsWith(contentPrefix(model.store))) continue;
    if (!(inChunks ? chunkKeys.has(key) : contentKeys.has(key))) {
      violations.push({ kind: "non-chunk-key-gone", key, detail: "the engine may only delete chunk objects" });
    }
  }
  if (duty.deleteNothing) {
    for (const key of duty.chunksBefore) {
      if (!chunkKeys.has(key)) {
        violations.push({ kind: "deleted-while-forbidden", key, detail: "dry run or attached datastore" });
      }
    }
  }
  return { violations, after };
}

export interface Counters {
  indexFileCount: number;
  indexDataBytes: number;
  diskChunks: number;
  diskBytes: number;
  removedChunks: number;
  removedBytes: number;
  pendingChunks: number;
  pendingBytes: number;
  removedBad: number;
  stillBad: number;
}

export interface CounterExpectation {
  readonly counters: Counters;
  readonly removedKeys: ReadonlySet<string>;
  /** Some object sits too close to a cutoff to call (clock granularity): compare nothing. */
  readonly ambiguous?: string;
}

export interface CounterInput {
  readonly store: string;
  readonly before: StoreListing;
  readonly indexes: readonly IndexRead[];
  /** The engine's phase-1 start, epoch seconds (from its report). */
  readonly nowSeconds: number;
  readonly graceSeconds: number;
  readonly maxBackupDurationSeconds: number;
}

type Decision = "remove" | "pending" | "keep";

/**
 * PBS's phase-2 rule with the writer margin applied always: minAtime = min(now − grace, oldest writer − 300 s); a
 * referenced chunk's time is the run's start; an unreferenced one's is its upload time (LastModified).
 */
export function expectedCounters(input: CounterInput): CounterExpectation {
  const counters: Counters = {
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
  const referenced = new Set<string>();
  for (const index of input.indexes) {
    counters.indexFileCount += 1;
    counters.indexDataBytes += index.indexBytes;
    for (const hex of index.digests) referenced.add(hex);
  }
  const dirs = new Map<string, { epoch: number; finished: boolean }>();
  for (const object of input.before.content) {
    const parsed = parseContentKey(input.store, object.key);
    if (parsed?.type !== "snapshot-file") continue;
    const dir = dirs.get(parsed.snapshotPath) ?? { epoch: parsed.epochSeconds, finished: false };
    if (parsed.isManifest) dir.finished = true;
    dirs.set(parsed.snapshotPath, dir);
  }
  const now = input.nowSeconds;
  let oldestWriter = now;
  let writers = 0;
  for (const dir of dirs.values()) {
    if (!dir.finished && now - dir.epoch < input.maxBackupDurationSeconds) {
      writers += 1;
      oldestWriter = Math.min(oldestWriter, dir.epoch);
    }
  }
  const minAtime = Math.min(now - input.graceSeconds, writers > 0 ? oldestWriter - 300 : Number.POSITIVE_INFINITY);
  const decide = (time: number): Decision => (time < minAtime ? "remove" : time < oldestWriter ? "pending" : "keep");

  const prefix = chunksPrefix(input.store);
  const goodCopies = new Set<string>();
  const chunks: { key: string; hex: string; bad: boolean; size: number; lastModified: number }[] = [];
  for (const object of input.before.chunks) {
    const tail = object.key.slice(prefix.length);
    if (!CHUNK_KEY.test(tail) || tail.slice(0, 4) !== tail.slice(5, 9)) continue;
    const hex = tail.slice(5, 69);
    const bad = tail.endsWith(".bad");
    if (!bad) goodCopies.add(hex);
    chunks.push({
      key: object.key,
      hex,
      bad,
      size: object.size,
      lastModified: Math.floor(object.lastModifiedMs / 1000),
    });
  }
  const removedKeys = new Set<string>();
  let ambiguous: string | undefined;
  for (const chunk of chunks) {
    const fresh = chunk.bad ? referenced.has(chunk.hex) && !goodCopies.has(chunk.hex) : referenced.has(chunk.hex);
    let decision: Decision;
    if (fresh) {
      decision = decide(now);
    } else {
      decision = decide(chunk.lastModified);
      // The engine may widen the cutoff by a measured clock skew of a second or two.
      if (
        decide(chunk.lastModified - 5) !== decide(chunk.lastModified + 5) &&
        Math.abs(chunk.lastModified - minAtime) < 6
      ) {
        ambiguous ??= `${chunk.key} uploaded at ${chunk.lastModified}, cutoff ${minAtime}`;
      }
    }
    if (decision === "remove") {
      removedKeys.add(chunk.key);
      if (chunk.bad) counters.removedBad += 1;
      else counters.removedChunks += 1;
      counters.removedBytes += chunk.size;
    } else if (decision === "pending") {
      if (chunk.bad) counters.stillBad += 1;
      else counters.pendingChunks += 1;
      counters.pendingBytes += chunk.size;
    } else {
      if (!chunk.bad) counters.diskChunks += 1;
      counters.diskBytes += chunk.size;
    }
  }
  return { counters, removedKeys, ...(ambiguous ? { ambiguous } : {}) };
}
