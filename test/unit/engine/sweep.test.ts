import assert from "node:assert/strict";
import { describe, test } from "node:test";
import pino from "pino";
import { badChunkKey, chunkKey } from "../../../src/datastore/index.ts";
import { computeCutoff } from "../../../src/engine/classify.ts";
import { emptyCounters, emptySweepStats } from "../../../src/engine/counters.ts";
import { LockLostError } from "../../../src/engine/lock.ts";
import { MarkTable } from "../../../src/engine/mark-table.ts";
import { type DeleteCandidate, recheckAndDelete, type Sweeper, sweepObject } from "../../../src/engine/sweep.ts";
import type { ListedObject, S3Context } from "../../../src/s3/index.ts";

/*
 * The sweep's decision units fed in-memory listings: no S3 server. Every test that reaches no delete gives the sweeper
 * an S3 context that throws on any use, so a decision that wrongly goes on to delete fails loudly.
 */

const STORE = "ds";
const PHASE1 = 1_000_000_000;
const GRACE = 86_400 + 300;
const SIZE = 4096;

const noS3 = new Proxy({} as S3Context, {
  get(_target, property) {
    throw new Error(`this decision must not talk to S3 (touched s3.${String(property)})`);
  },
});

/** Digests that differ in their leading bytes (the mark table keys on those), all in folder `0000`. */
function digest(n: number): string {
  return `${n.toString(16).padStart(8, "0")}${"ab".repeat(28)}`;
}

function listed(key: string, lastModifiedSeconds: number, size = SIZE): ListedObject {
  return { key, size, lastModifiedMs: lastModifiedSeconds * 1000, etag: '"e"' };
}

interface Calls {
  rechecks: number;
  lockChecks: number;
  mayDeleteAsked: number;
}

function sweeperWith(overrides: Partial<Sweeper> = {}): { sweeper: Sweeper; table: MarkTable; calls: Calls } {
  const table = overrides.table ?? new MarkTable(64);
  const calls: Calls = { rechecks: 0, lockChecks: 0, mayDeleteAsked: 0 };
  const sweeper: Sweeper = {
    s3: noS3,
    store: STORE,
    table,
    cutoff: computeCutoff(PHASE1, GRACE),
    phase1Start: PHASE1,
    counters: emptyCounters(),
    stats: emptySweepStats(),
    deletionsAllowed: true,
    listConcurrency: 1,
    listParser: "sdk",
    deleteConcurrency: 1,
    deleteBatchSize: 1000,
    roundSize: 1000,
    recheck: async () => {
      calls.rechecks += 1;
    },
    assertLockHeld: async () => {
      calls.lockChecks += 1;
    },
    checkLockHeld: () => {},
    stillMayDelete: async () => {
      calls.mayDeleteAsked += 1;
      return true;
    },
    log: pino({ level: "silent" }),
    ...overrides,
  };
  return { sweeper, table, calls };
}

const OLD = PHASE1 - 10 * 86_400;

describe("sweepObject: what one listed object is and what to do with it", () => {
  test("an old chunk nothing references is a delete candidate; its removal is not counted before S3 confirms it", () => {
    const { sweeper } = sweeperWith();
    const candidate = sweepObject(sweeper, listed(chunkKey(STORE, digest(1)), OLD), [""], 0);
    assert.deepEqual(candidate, {
      key: chunkKey(STORE, digest(1)),
      digestHex: digest(1),
      bad: false,
      goodCopyExists: false,
      size: SIZE,
      lastModifiedSeconds: OLD,
    });
    assert.equal(sweeper.counters.removedChunks, 0);
    assert.equal(sweeper.stats.chunkObjects, 1);
  });

  test("a chunk marked in this run is kept and counted on disk, however old its upload", () => {
    const { sweeper, table } = sweeperWith();
    table.markHex(digest(2), PHASE1);
    assert.equal(sweepObject(sweeper, listed(chunkKey(STORE, digest(2)), OLD), [""], 0), undefined);
    assert.equal(sweeper.counters.diskChunks, 1);
    assert.equal(sweeper.counters.diskBytes, SIZE);
    assert.equal(sweeper.counters.pendingChunks, 0);
  });

  test("an unreferenced chunk uploaded after the cutoff is kept (LastModified grace) and counted as held back", () => {
    const { sweeper } = sweeperWith();
    const recent = sweeper.cutoff.minAtime + 1;
    assert.equal(sweepObject(sweeper, listed(chunkKey(STORE, digest(3)), recent), [""], 0), undefined);
    assert.equal(sweeper.stats.keptRecentUpload, 1);
    assert.equal(sweeper.counters.pendingChunks, 1);
    // One second older than the cutoff: garbage.
    const older = sweeper.cutoff.minAtime - 1;
    assert.ok(sweepObject(sweeper, listed(chunkKey(STORE, digest(4)), older), [""], 0));
  });

  test("an old upload the marker cache saw referenced after the cutoff is kept and counted as held back", () => {
    const { sweeper, table } = sweeperWith();
    table.markHex(digest(5), sweeper.cutoff.minAtime + 60);
    assert.equal(sweepObject(sweeper, listed(chunkKey(STORE, digest(5)), OLD), [""], 0), undefined);
    assert.equal(sweeper.stats.keptMarkerCache, 1);
    assert.equal(sweeper.stats.keptRecentUpload, 0);
    // A cached mark from before the cutoff vouches for nothing.
    table.markHex(digest(6), sweeper.cutoff.minAtime - 60);
    assert.ok(sweepObject(sweeper, listed(chunkKey(STORE, digest(6)), OLD), [""], 0));
  });

  test("an object without a usable upload time is as young as can be: kept, never taken for the epoch", () => {
    const { sweeper } = sweeperWith();
    const object = { ...listed(chunkKey(STORE, digest(7)), OLD), lastModifiedMs: Number.NaN };
    assert.equal(sweepObject(sweeper, object, [""], 0), undefined);
    assert.equal(sweeper.counters.diskChunks, 1);
  });

  test("a key under .chunks/ that is not a chunk key of this store is never a candidate, counted or deleted", () => {
    const { sweeper } = sweeperWith();
    const strays = [
      `${STORE}/.chunks/0000/${digest(8)}.tmp_upload`,
      `${STORE}/.chunks/0000/${digest(8).toUpperCase()}`,
      `${STORE}/.chunks/0001/${digest(8)}`,
      `${STORE}/.chunks/0000/notadigest`,
    ];
    for (const key of strays) assert.equal(sweepObject(sweeper, listed(key, OLD), [""], 0), undefined, key);
    assert.equal(sweeper.stats.unexpectedKeys, strays.length);
    assert.deepEqual(sweeper.stats.unexpectedSample, strays);
    assert.equal(sweeper.stats.chunkObjects, 0);
    assert.deepEqual(sweeper.counters, emptyCounters());
  });

  test("a .bad copy of a referenced digest is kept while no good copy exists, removed once one is listed", () => {
    const { sweeper, table } = sweeperWith();
    table.markHex(digest(9), PHASE1);
    const bad = listed(badChunkKey(STORE, digest(9), 0), OLD);
    // Alone: the last evidence of the data.
    assert.equal(sweepObject(sweeper, bad, ["", ""], 0), undefined);
    assert.equal(sweeper.counters.diskBytes, SIZE);
    assert.equal(sweeper.counters.diskChunks, 0);
    // The good copy lists right before it in the same range: the .bad copy is garbage.
    const lastGood = ["", ""];
    assert.equal(sweepObject(sweeper, listed(chunkKey(STORE, digest(9)), OLD), lastGood, 1), undefined);
    const candidate = sweepObject(sweeper, bad, lastGood, 1);
    assert.equal(candidate?.bad, true);
    assert.equal(candidate?.goodCopyExists, true);
    // A good copy seen in another range says nothing about this one.
    assert.equal(sweepObject(sweeper, bad, lastGood, 0), undefined);
  });

  test("without deletions allowed, garbage is counted as removed and as not deleted, never a candidate", () => {
    const { sweeper } = sweeperWith({ deletionsAllowed: false });
    assert.equal(sweepObject(sweeper, listed(chunkKey(STORE, digest(10)), OLD), [""], 0), undefined);
    assert.equal(sweeper.counters.removedChunks, 1);
    assert.equal(sweeper.counters.removedBytes, SIZE);
    assert.equal(sweeper.stats.notDeleted, 1);
  });
});

function candidateFor(n: number): DeleteCandidate {
  return {
    key: chunkKey(STORE, digest(n)),
    digestHex: digest(n),
    bad: false,
    goodCopyExists: false,
    size: SIZE,
    lastModifiedSeconds: OLD,
  };
}

describe("recheckAndDelete: one round, rechecked before anything is deleted", () => {
  test("a candidate the recheck finds referenced is kept; the others go on (here: to a datastore now in use)", async () => {
    const { sweeper, table, calls } = sweeperWith({
      recheck: async () => {
        calls.rechecks += 1;
        // A backup finished meanwhile and references digest 11.
        table.markHex(digest(11), PHASE1);
      },
      stillMayDelete: async () => {
        calls.mayDeleteAsked += 1;
        return false;
      },
    });
    await recheckAndDelete(sweeper, [candidateFor(11), candidateFor(12)]);
    assert.equal(calls.rechecks, 1);
    assert.equal(sweeper.stats.recheckKept, 1);
    assert.equal(sweeper.counters.diskChunks, 1);
    assert.equal(sweeper.stats.notDeleted, 1);
    assert.equal(sweeper.counters.removedChunks, 1);
    assert.equal(sweeper.stats.deleteRounds, 1);
  });

  test("once `.in-use` says no, nothing is deleted in this round or any later one, and the lock is not even checked", async () => {
    const { sweeper, calls } = sweeperWith({
      stillMayDelete: async () => {
        calls.mayDeleteAsked += 1;
        return false;
      },
    });
    await recheckAndDelete(sweeper, [candidateFor(13)]);
    assert.equal(sweeper.deletionsAllowed, false);
    assert.equal(calls.lockChecks, 0);
    assert.equal(sweeper.stats.deleteRequests, 0);
    // The next round does not ask again: the answer only ever turns off.
    await recheckAndDelete(sweeper, [candidateFor(14)]);
    assert.equal(calls.mayDeleteAsked, 1);
    assert.equal(sweeper.stats.notDeleted, 2);
    // And the listing no longer yields candidates.
    assert.equal(sweepObject(sweeper, listed(chunkKey(STORE, digest(15)), OLD), [""], 0), undefined);
  });

  test("a lost lock stops the round before any delete request", async () => {
    const { sweeper, calls } = sweeperWith({
      assertLockHeld: async () => {
        calls.lockChecks += 1;
        throw new LockLostError("another run holds the datastore lock");
      },
    });
    await assert.rejects(recheckAndDelete(sweeper, [candidateFor(16)]), LockLostError);
    assert.equal(calls.lockChecks, 1);
    assert.equal(sweeper.stats.deleteRequests, 0);
    assert.equal(sweeper.stats.deleteFailures, 0);
    assert.equal(sweeper.counters.removedChunks, 0);
  });

  test("a round whose every candidate the recheck keeps asks nothing further and deletes nothing", async () => {
    const { sweeper, table, calls } = sweeperWith({
      recheck: async () => {
        calls.rechecks += 1;
        table.markHex(digest(17), PHASE1);
      },
    });
    await recheckAndDelete(sweeper, [candidateFor(17)]);
    assert.equal(sweeper.stats.recheckKept, 1);
    assert.equal(calls.mayDeleteAsked, 0);
    assert.equal(calls.lockChecks, 0);
  });
});
