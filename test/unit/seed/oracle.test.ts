/**
 * The generator's oracle, checked against figures worked out by hand for a datastore of eight chunk ids, with keys
 * and digests rebuilt here from the payload recipe (not from the generator's tables). PBS's sweep rules, as the
 * project's GC semantics state them: min_atime = start − grace, moved to oldest_writer − 300 s when a backup runs
 * since before that, and never within 300 s of the oldest writer (the start itself without a running backup); older
 * than min_atime is removed, older than the oldest writer is pending.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import { AmbiguousCutoffError, expectedOutcome, type OracleInput } from "../../../src/seed/oracle.ts";
import { planDatastore } from "../../../src/seed/plan.ts";

const R = 1_000_000; // reference time: snapshots count back from it
const HOUR = 3600;
const MAX_BACKUP = 48 * HOUR;

/*
 * ids 0..3 referenced (0: only a .bad copy; 1: good copy and .bad), 4..5 garbage, 6 fresh (wave 2), 7 only a .bad.
 * Two finished snapshots index [0,1,2,3]; a running one (started R − 1 h) indexes [2,3]; an abandoned one [0,1,2].
 */
const plan = planDatastore(
  {
    store: "ds",
    seed: 5,
    chunks: 4,
    garbageChunks: 2,
    freshChunks: 1,
    badUnreferenced: 1,
    badReferencedNoGoodCopy: 1,
    badReferencedWithGoodCopy: 1,
    snapshots: 2,
    groups: 1,
    namespaces: 0,
    inProgressSnapshots: 1,
    abandonedSnapshots: 1,
    junkKeys: false,
    neighbourStore: false,
  },
  R,
);

/** The payload recipe: "chunkgc:<seed>:<id>:" padded with dots to 24 + id % 17 bytes; the digest is its SHA-256. */
function hexOf(id: number): string {
  const payload = Buffer.alloc(24 + (id % 17), ".");
  payload.write(`chunkgc:5:${id}:`, "latin1");
  return createHash("sha256").update(payload).digest("hex");
}
const good = (id: number) => `ds/.chunks/${hexOf(id).slice(0, 4)}/${hexOf(id)}`;
const bad = (id: number) => `${good(id)}.${id % 10}.bad`;
/** Blob header (12 bytes) plus the payload. */
const size = (id: number) => 12 + 24 + (id % 17);

/** fixed index size: (n − 1) full 4 MiB chunks, then 1 + (last id mod 4 MiB) bytes. */
const MIB4 = 4 * 1024 * 1024;
const INDEX_BYTES = 2 * (3 * MIB4 + 1 + 3) + (MIB4 + 1 + 3) + (2 * MIB4 + 1 + 2);

const window = (fromSeconds: number, toSeconds: number) => ({ startMs: fromSeconds * 1000, endMs: toSeconds * 1000 });
function input(nowSeconds: number, graceSeconds: number, wave1: [number, number], wave2?: [number, number]) {
  return {
    nowSeconds,
    graceSeconds,
    maxBackupDurationSeconds: MAX_BACKUP,
    waves: { 1: window(...wave1), 2: wave2 ? window(...wave2) : undefined },
  } satisfies OracleInput;
}

describe("seed oracle", () => {
  it("removes every old unreferenced object and keeps the referenced ones (no running backup)", () => {
    const now = R + 3 * 86_400; // the running backup is 3 days old by then: abandoned
    const outcome = expectedOutcome(plan, input(now, HOUR, [R - 7200, R - 7190], [R - 7000, R - 6990]));
    assert.deepEqual(outcome.counters, {
      indexFileCount: 4,
      indexDataBytes: INDEX_BYTES,
      diskChunks: 3,
      diskBytes: size(1) + size(2) + size(3) + size(0),
      removedChunks: 3,
      removedBytes: size(4) + size(5) + size(6) + size(1) + size(7),
      pendingChunks: 0,
      pendingBytes: 0,
      removedBad: 2,
      stillBad: 0,
    });
    assert.equal(outcome.minAtime, now - HOUR);
    assert.equal(outcome.oldestWriter, now);
    assert.equal(outcome.runningBackups, 0);
    assert.equal(outcome.abandonedBackups, 2);
    assert.deepEqual(outcome.removedKeys, new Set([good(4), good(5), good(6), bad(1), bad(7)]));
    assert.deepEqual(outcome.keptKeys, new Set([bad(0), good(1), good(2), good(3)]));
  });

  it("moves the cutoff before a running backup and keeps what it may use pending", () => {
    const now = R + 60;
    // The running backup started at R − 3600, before now − grace: min_atime = R − 3600 − 300.
    const outcome = expectedOutcome(plan, input(now, HOUR, [R - 5000, R - 4990], [R - 3800, R - 3790]));
    assert.equal(outcome.oldestWriter, R - 3600);
    assert.equal(outcome.minAtime, R - 3900);
    assert.equal(outcome.runningBackups, 1);
    assert.equal(outcome.abandonedBackups, 1);
    assert.equal(outcome.counters.pendingChunks, 1);
    assert.equal(outcome.counters.pendingBytes, size(6));
    assert.equal(outcome.counters.removedChunks, 2);
    assert.equal(outcome.counters.removedBad, 2);
    assert.deepEqual(outcome.removedKeys, new Set([good(4), good(5), bad(1), bad(7)]));
    assert.ok(outcome.keptKeys.has(good(6)));
  });

  it("counts pending .bad copies as still bad, not as pending chunks", () => {
    const outcome = expectedOutcome(plan, input(R + 60, HOUR, [R - 3800, R - 3795], [R - 3700, R - 3690]));
    assert.deepEqual(
      { ...outcome.counters, indexFileCount: 0, indexDataBytes: 0 },
      {
        indexFileCount: 0,
        indexDataBytes: 0,
        diskChunks: 3,
        diskBytes: size(1) + size(2) + size(3) + size(0),
        removedChunks: 0,
        removedBytes: 0,
        pendingChunks: 3,
        pendingBytes: size(4) + size(5) + size(6) + size(1) + size(7),
        removedBad: 0,
        stillBad: 2,
      },
    );
    assert.equal(outcome.removedKeys.size, 0);
  });

  it("keeps unreferenced chunks uploaded after the oldest writer as in use", () => {
    const outcome = expectedOutcome(plan, input(R + 60, HOUR, [R - 5000, R - 4990], [R - 100, R - 90]));
    assert.equal(outcome.counters.diskChunks, 4, "the fresh chunk counts as in use");
    assert.equal(outcome.counters.pendingChunks, 0);
    assert.ok(outcome.keptKeys.has(good(6)));
  });

  it("keeps the cutoff 300 s below a writer that started within the grace", () => {
    const now = R - 3600 + HOUR * 2 - 100; // grace 2 h: the running backup started 100 s after now − grace
    const outcome = expectedOutcome(plan, input(now, 2 * HOUR, [R - 9000, R - 8990], [R - 8000, R - 7990]));
    assert.equal(outcome.oldestWriter, R - 3600);
    assert.equal(outcome.minAtime, R - 3600 - 300);
  });

  it("keeps the cutoff at least 300 s below now, whatever the grace", () => {
    const now = R + 3 * 86_400;
    assert.equal(expectedOutcome(plan, input(now, 60, [R - 9000, R - 8990], [R - 8000, R - 7990])).minAtime, now - 300);
    assert.equal(
      expectedOutcome(plan, input(now, 301, [R - 9000, R - 8990], [R - 8000, R - 7990])).minAtime,
      now - 301,
    );
  });

  it("counts a manifest-less snapshot as running only while younger than the longest backup", () => {
    const runningStart = R - 3600;
    const at = (age: number) =>
      expectedOutcome(plan, input(runningStart + age, HOUR, [R - 9000, R - 8990], [R - 8000, R - 7990]));
    assert.equal(at(MAX_BACKUP - 1).runningBackups, 1);
    assert.equal(at(MAX_BACKUP - 1).oldestWriter, runningStart);
    assert.equal(at(MAX_BACKUP).runningBackups, 0);
    assert.equal(at(MAX_BACKUP).abandonedBackups, 2);
    assert.equal(at(MAX_BACKUP).oldestWriter, runningStart + MAX_BACKUP);
  });

  it("refuses a cutoff within a second of an upload window: S3 times are whole seconds", () => {
    const now = R + 3 * 86_400;
    const minAtime = now - HOUR;
    const wave2: [number, number] = [R - 8000, R - 7990];
    const withWave1 = (startMs: number, endMs: number): OracleInput => ({
      ...input(now, HOUR, [0, 0], wave2),
      waves: { 1: { startMs, endMs }, 2: window(...wave2) },
    });
    // Late side: the window must end two seconds before min_atime (rounded up, plus a second of clock slack).
    const clear = expectedOutcome(plan, withWave1((R - 9000) * 1000, (minAtime - 2) * 1000));
    assert.ok(clear.removedKeys.has(good(4)));
    assert.throws(
      () => expectedOutcome(plan, withWave1((R - 9000) * 1000, (minAtime - 2) * 1000 + 1)),
      AmbiguousCutoffError,
    );
    // Early side: a window starting at min_atime may hold objects dated a second earlier.
    assert.throws(() => expectedOutcome(plan, withWave1(minAtime * 1000, (minAtime + 5) * 1000)), AmbiguousCutoffError);
    const late = expectedOutcome(plan, {
      ...withWave1((minAtime + 1) * 1000, (minAtime + 5) * 1000),
      waves: { 1: window(minAtime + 1, minAtime + 5), 2: window(minAtime + 10, minAtime + 20) },
    });
    assert.ok(late.keptKeys.has(good(4)), "uploaded after min_atime: kept");
    assert.equal(late.counters.pendingChunks, 3);
  });

  it("needs the upload window of every wave it judges", () => {
    assert.throws(() => expectedOutcome(plan, input(R + 86_400 * 3, HOUR, [R - 9000, R - 8990])), /wave 2/);
  });
});
