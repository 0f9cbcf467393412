/**
 * The whole sweep (list, classify, recheck, delete in rounds) against an in-memory bucket: what is deleted, in which
 * order relative to the recheck and the lock checks, and how a failure or an interrupt stops it. No S3 server: the
 * sweeper's S3 context throws on any use, so the sweep must go through the bucket it is given.
 */
import assert from "node:assert/strict";
import { afterEach, describe, mock, test } from "node:test";
import pino from "pino";
import { badChunkKey, chunkKey } from "../../../src/datastore/index.ts";
import { computeCutoff } from "../../../src/engine/classify.ts";
import { emptyCounters, emptySweepStats } from "../../../src/engine/counters.ts";
import { LockLostError } from "../../../src/engine/lock.ts";
import { MarkTable } from "../../../src/engine/mark-table.ts";
import { type Sweeper, s3SweepObjects, sweepChunks } from "../../../src/engine/sweep.ts";
import type { S3Context } from "../../../src/s3/index.ts";
import { MemoryBucket } from "./memory-bucket.ts";
import { connectionRefused, unreachableS3 } from "./unreachable-s3.ts";

const STORE = "ds";
const PHASE1 = 1_000_000_000;
const GRACE = 86_400 + 300;
const OLD_MS = (PHASE1 - 10 * 86_400) * 1000;
const BODY = "0123456789";

const noS3 = new Proxy({} as S3Context, {
  get(_target, property) {
    throw new Error(`the sweep must use the bucket it is given (touched s3.${String(property)})`);
  },
});

/** A digest whose first hex character is `lead` (which listing range it falls in), unique by `n`. */
function digest(n: number, lead = "0"): string {
  return `${lead}${n.toString(16).padStart(7, "0")}${"cd".repeat(28)}`;
}

function sweeperOver(bucket: MemoryBucket, overrides: Partial<Sweeper> = {}): Sweeper {
  return {
    s3: noS3,
    objects: bucket,
    store: STORE,
    table: new MarkTable(256),
    cutoff: computeCutoff(PHASE1, GRACE),
    phase1Start: PHASE1,
    counters: emptyCounters(),
    stats: emptySweepStats(),
    deletionsAllowed: true,
    listConcurrency: 1,
    listParser: "streaming",
    deleteConcurrency: 1,
    deleteBatchSize: 1000,
    roundSize: 1000,
    recheck: async () => {
      bucket.log.push("recheck");
    },
    assertLockHeld: async () => {
      bucket.log.push("lock");
    },
    checkLockHeld: () => {},
    log: pino({ level: "silent" }),
    ...overrides,
  };
}

function garbage(bucket: MemoryBucket, count: number, lead = "0", from = 0): string[] {
  const keys: string[] = [];
  for (let n = from; n < from + count; n += 1) {
    const key = chunkKey(STORE, digest(n, lead));
    bucket.add(key, BODY, OLD_MS);
    keys.push(key);
  }
  return keys;
}

describe("sweepChunks over an in-memory bucket", () => {
  test("deletes only unreferenced old chunks; keeps referenced, recent and stray keys; counts each where it belongs", async () => {
    const bucket = new MemoryBucket();
    const sweeper = sweeperOver(bucket);
    const doomed = garbage(bucket, 3);
    const referenced = chunkKey(STORE, digest(10));
    bucket.add(referenced, BODY, OLD_MS);
    sweeper.table.markHex(digest(10), PHASE1);
    const recent = chunkKey(STORE, digest(11));
    bucket.add(recent, BODY, (sweeper.cutoff.minAtime + 5) * 1000);
    const stray = `${STORE}/.chunks/0000/not-a-chunk`;
    bucket.add(stray, BODY, OLD_MS);
    const listedCounts: number[] = [];
    sweeper.onListed = (count) => listedCounts.push(count);

    await sweepChunks(sweeper);

    assert.deepEqual(bucket.keys(), [referenced, recent, stray].sort());
    assert.deepEqual(bucket.deleteRequests, [doomed]);
    assert.equal(sweeper.counters.removedChunks, 3);
    assert.equal(sweeper.counters.removedBytes, 3 * BODY.length);
    assert.equal(sweeper.counters.diskChunks, 1);
    assert.equal(sweeper.counters.pendingChunks, 1);
    assert.equal(sweeper.stats.chunkObjects, 5);
    assert.equal(sweeper.stats.unexpectedKeys, 1);
    assert.equal(sweeper.stats.deleteRounds, 1);
    assert.equal(sweeper.stats.deleteRequests, 1);
    assert.deepEqual(listedCounts, [6]);
    // The recheck, then the lock, then the deletes.
    assert.deepEqual(
      bucket.log.filter((entry) => !entry.startsWith("list")),
      ["recheck", "lock", `deleteBatch ${doomed.join(",")}`],
    );
  });

  test("an empty datastore: no round, no request, no recheck", async () => {
    const bucket = new MemoryBucket();
    const sweeper = sweeperOver(bucket);
    await sweepChunks(sweeper);
    assert.equal(sweeper.stats.deleteRounds, 0);
    assert.deepEqual(
      bucket.log.filter((entry) => !entry.startsWith("list")),
      [],
    );
  });

  test("rounds of whole batches while listing: each round rechecked and lock-checked before its deletes", async () => {
    const bucket = new MemoryBucket();
    bucket.pageSize = 2;
    const doomed = garbage(bucket, 7);
    const sweeper = sweeperOver(bucket, { roundSize: 3, deleteBatchSize: 2 });
    await sweepChunks(sweeper);
    assert.deepEqual(bucket.keys(), []);
    // Whole batches only: 7 removals take ceil(7 / 2) = 4 requests, never a half-empty one in between.
    assert.deepEqual(bucket.deleteRequests, [
      doomed.slice(0, 2),
      doomed.slice(2, 4),
      doomed.slice(4, 6),
      doomed.slice(6),
    ]);
    assert.equal(sweeper.stats.deleteRequests, 4);
    assert.equal(sweeper.stats.deleteRounds, 3);
    const order = bucket.log.filter((entry) => !entry.startsWith("list")).map((entry) => entry.split(" ")[0]);
    // Pages of 2, rounds from 3 candidates: 4 (two batches), 2, then the last 1.
    assert.deepEqual(order, [
      "recheck",
      "lock",
      "deleteBatch",
      "deleteBatch",
      "recheck",
      "lock",
      "deleteBatch",
      "recheck",
      "lock",
      "deleteBatch",
    ]);
  });

  test("a round of fewer candidates than a batch still goes out when the round size is reached", async () => {
    const bucket = new MemoryBucket();
    bucket.pageSize = 1;
    garbage(bucket, 2);
    const sweeper = sweeperOver(bucket, { roundSize: 1, deleteBatchSize: 5 });
    await sweepChunks(sweeper);
    assert.deepEqual(
      bucket.deleteRequests.map((keys) => keys.length),
      [1, 1],
    );
    assert.equal(sweeper.stats.deleteRounds, 2);
  });

  test("a chunk referenced by the recheck before its round is kept", async () => {
    const bucket = new MemoryBucket();
    const [first, second] = garbage(bucket, 2);
    const sweeper = sweeperOver(bucket, {
      recheck: async () => {
        sweeper.table.markHex(digest(1), PHASE1 + 1);
      },
    });
    await sweepChunks(sweeper);
    assert.deepEqual(bucket.keys(), [second]);
    assert.deepEqual(bucket.deleteRequests, [[first]]);
    assert.equal(sweeper.stats.recheckKept, 1);
  });

  test("listed in 16 parallel ranges: a .bad copy is garbage only when its good copy lists in the same range", async () => {
    const bucket = new MemoryBucket();
    bucket.pageSize = 1;
    const sweeper = sweeperOver(bucket, { listConcurrency: 4 });
    // Referenced digests in two ranges: one with its good copy, one with its .bad copy only.
    const withGood = digest(1, "a");
    const badOnly = digest(2, "b");
    sweeper.table.markHex(withGood, PHASE1);
    sweeper.table.markHex(badOnly, PHASE1);
    bucket.add(chunkKey(STORE, withGood), BODY, OLD_MS);
    const redundant = badChunkKey(STORE, withGood, 0);
    bucket.add(redundant, BODY, OLD_MS);
    const lastEvidence = badChunkKey(STORE, badOnly, 0);
    bucket.add(lastEvidence, BODY, OLD_MS);
    const doomed = [...garbage(bucket, 1, "1"), ...garbage(bucket, 1, "f")];

    await sweepChunks(sweeper);

    assert.deepEqual(bucket.keys(), [chunkKey(STORE, withGood), lastEvidence]);
    assert.deepEqual(bucket.deleteRequests.flat().sort(), [...doomed, redundant].sort());
    assert.equal(sweeper.counters.removedBad, 1);
    assert.equal(sweeper.counters.removedChunks, 2);
    const listedRanges = new Set(bucket.log.filter((entry) => entry.startsWith("list")).map((e) => e.split("#")[1]));
    assert.equal(listedRanges.size, 16);
  });

  test("the stray-key sample keeps the first 20 keys, the count all of them", async () => {
    const bucket = new MemoryBucket();
    const strays: string[] = [];
    for (let n = 0; n < 25; n += 1) {
      const key = `${STORE}/.chunks/0000/stray-${String(n).padStart(2, "0")}`;
      bucket.add(key, BODY, OLD_MS);
      strays.push(key);
    }
    const sweeper = sweeperOver(bucket);
    await sweepChunks(sweeper);
    assert.equal(sweeper.stats.unexpectedKeys, 25);
    assert.deepEqual(sweeper.stats.unexpectedSample, strays.slice(0, 20));
    assert.equal(bucket.keys().length, 25);
  });

  test("a chunk kept at min_atime itself by its upload counts as a recent upload; by a cached mark, as marker cache", async () => {
    const bucket = new MemoryBucket();
    const sweeper = sweeperOver(bucket);
    const { minAtime } = sweeper.cutoff;
    bucket.add(chunkKey(STORE, digest(1)), BODY, minAtime * 1000);
    bucket.add(chunkKey(STORE, digest(2)), BODY, OLD_MS);
    sweeper.table.markHex(digest(2), minAtime);
    // Marked in this run: neither.
    bucket.add(chunkKey(STORE, digest(3)), BODY, minAtime * 1000);
    sweeper.table.markHex(digest(3), PHASE1);
    // Recent upload and a cached mark at min_atime: the cached mark is why it is kept.
    bucket.add(chunkKey(STORE, digest(4)), BODY, (minAtime + 10) * 1000);
    sweeper.table.markHex(digest(4), minAtime);
    await sweepChunks(sweeper);
    assert.equal(sweeper.stats.keptRecentUpload, 1);
    assert.equal(sweeper.stats.keptMarkerCache, 2);
    assert.equal(bucket.deleteRequests.length, 0);
  });
});

describe("sweepChunks stops deleting on a failure or an interrupt", () => {
  test("a lock lost before the second round: that round and every later one send nothing; the sweep throws it", async () => {
    const bucket = new MemoryBucket();
    bucket.pageSize = 2;
    const doomed = garbage(bucket, 6);
    let checks = 0;
    const sweeper = sweeperOver(bucket, {
      roundSize: 2,
      deleteBatchSize: 2,
      assertLockHeld: async () => {
        checks += 1;
        if (checks >= 2) throw new LockLostError("taken over");
      },
    });
    await assert.rejects(sweepChunks(sweeper), LockLostError);
    assert.deepEqual(bucket.deleteRequests, [doomed.slice(0, 2)]);
    assert.equal(checks, 2);
    assert.deepEqual(bucket.keys(), doomed.slice(2));
    assert.equal(sweeper.counters.removedChunks, 2);
  });

  test("the guard before each request trips mid-round: no further batch goes out, the run stops with it", async () => {
    const bucket = new MemoryBucket();
    const doomed = garbage(bucket, 6);
    let requests = 0;
    const sweeper = sweeperOver(bucket, {
      deleteBatchSize: 2,
      checkLockHeld: () => {
        requests += 1;
        if (requests >= 2) throw new LockLostError("lease over");
      },
    });
    await assert.rejects(sweepChunks(sweeper), LockLostError);
    assert.deepEqual(bucket.deleteRequests, [doomed.slice(0, 2)]);
    assert.equal(requests, 2);
    assert.equal(sweeper.stats.deleteFailures, 0);
    assert.equal(sweeper.counters.removedChunks, 2);
  });

  test("with parallel delete requests, the first stopping batch stops the ones not yet sent", async () => {
    const bucket = new MemoryBucket();
    const doomed = garbage(bucket, 8);
    let requests = 0;
    const sweeper = sweeperOver(bucket, {
      deleteBatchSize: 2,
      deleteConcurrency: 2,
      checkLockHeld: () => {
        requests += 1;
        if (requests === 1) throw new LockLostError("lease over");
      },
    });
    await assert.rejects(sweepChunks(sweeper), LockLostError);
    // The batch sent alongside the failing one may finish; nothing starts after it.
    assert.ok(bucket.deleteRequests.length <= 1, JSON.stringify(bucket.deleteRequests));
    assert.ok(requests <= 2);
    assert.ok(bucket.keys().length >= doomed.length - 2);
  });

  test("an interrupt during a round: no further batch goes out, the sweep rejects with the interrupt", async () => {
    const bucket = new MemoryBucket();
    const doomed = garbage(bucket, 6);
    const controller = new AbortController();
    bucket.before = (op) => {
      if (op === "deleteBatch") controller.abort(new Error("SIGTERM"));
    };
    const sweeper = sweeperOver(bucket, { deleteBatchSize: 2, signal: controller.signal });
    await assert.rejects(sweepChunks(sweeper), /SIGTERM/);
    assert.ok(bucket.deleteRequests.length <= 1);
    assert.ok(bucket.keys().length >= doomed.length - 2);
    assert.equal(sweeper.stats.deleteFailures, 0);
  });

  test("an interrupt before the sweep starts: nothing listed, nothing deleted", async () => {
    const bucket = new MemoryBucket();
    garbage(bucket, 2);
    const controller = new AbortController();
    controller.abort(new Error("SIGINT"));
    const sweeper = sweeperOver(bucket, { signal: controller.signal });
    await assert.rejects(sweepChunks(sweeper), /SIGINT/);
    assert.deepEqual(bucket.log, []);
  });

  test("an interrupt while listing stops the listing: later pages are not listed", async () => {
    const bucket = new MemoryBucket();
    bucket.pageSize = 1;
    garbage(bucket, 4);
    const controller = new AbortController();
    const sweeper = sweeperOver(bucket, { signal: controller.signal, roundSize: 100 });
    sweeper.onListed = () => controller.abort(new Error("SIGTERM"));
    await assert.rejects(sweepChunks(sweeper), /SIGTERM/);
    assert.equal(bucket.log.filter((entry) => entry.startsWith("list")).length, 1);
    assert.deepEqual(bucket.deleteRequests, []);
  });

  test("a failed round stops the listing and is what the sweep throws; it does not return before the round ends", async () => {
    const bucket = new MemoryBucket();
    bucket.pageSize = 1;
    garbage(bucket, 6);
    let rechecks = 0;
    const sweeper = sweeperOver(bucket, {
      roundSize: 1,
      recheck: async () => {
        rechecks += 1;
        if (rechecks === 2) throw new Error("index listing failed during the recheck");
      },
    });
    await assert.rejects(sweepChunks(sweeper), /index listing failed during the recheck/);
    assert.equal(bucket.deleteRequests.length, 1);
    // The listing stopped soon after the failure instead of listing every page.
    assert.ok(bucket.log.filter((entry) => entry.startsWith("list")).length < 6);
    assert.equal(rechecks, 2);
  });

  test("a listing failure while a round deletes: the sweep waits for the round, then throws the listing's error", async () => {
    const bucket = new MemoryBucket();
    bucket.pageSize = 1;
    garbage(bucket, 3);
    let roundDone = false;
    let lists = 0;
    bucket.before = async (op) => {
      if (op === "list" && ++lists === 3) throw new Error("ListObjectsV2 failed");
      if (op === "deleteBatch") {
        await new Promise((resolve) => setImmediate(resolve));
        roundDone = true;
      }
    };
    const sweeper = sweeperOver(bucket, { roundSize: 1 });
    await assert.rejects(sweepChunks(sweeper), /ListObjectsV2 failed/);
    assert.equal(roundDone, true);
  });

  test("a DeleteObjects request that fails after its retries: its keys are failed deletions, still on disk; the sweep goes on", async () => {
    const bucket = new MemoryBucket();
    const doomed = garbage(bucket, 4);
    let answers = 0;
    bucket.answerDelete = (keys) => {
      answers += 1;
      if (answers === 1) throw Object.assign(new Error("We encountered an internal error"), { Code: "InternalError" });
      for (const key of keys) bucket.objects.delete(key);
      return { requests: 1, deleted: [...keys], errors: [] };
    };
    const sweeper = sweeperOver(bucket, { deleteBatchSize: 2 });
    await sweepChunks(sweeper);
    assert.deepEqual(bucket.keys(), doomed.slice(0, 2));
    assert.equal(sweeper.stats.deleteFailures, 2);
    assert.deepEqual(
      sweeper.stats.deleteErrorSample.map((error) => [error.key, error.code, error.message]),
      doomed.slice(0, 2).map((key) => [key, "InternalError", "We encountered an internal error"]),
    );
    assert.equal(sweeper.counters.removedChunks, 2);
    assert.equal(sweeper.counters.diskChunks, 2);
    assert.equal(sweeper.counters.diskBytes, 2 * BODY.length);
    assert.equal(sweeper.stats.deleteRequests, 2);
  });

  test("a failed request without an S3 code is reported by its error name", async () => {
    const bucket = new MemoryBucket();
    const [key] = garbage(bucket, 1);
    bucket.answerDelete = () => {
      throw new TypeError("socket hang up");
    };
    const sweeper = sweeperOver(bucket);
    await sweepChunks(sweeper);
    assert.deepEqual(sweeper.stats.deleteErrorSample, [{ key, code: "TypeError", message: "socket hang up" }]);
  });

  test("keys the server did not delete are counted on disk and reported; the error sample keeps ten", async () => {
    const bucket = new MemoryBucket();
    const doomed = garbage(bucket, 14);
    bucket.answerDelete = (keys) => ({
      requests: 2,
      deleted: keys.slice(0, 2),
      errors: keys.slice(2).map((key) => ({ key, code: "AccessDenied", message: "no" })),
    });
    const sweeper = sweeperOver(bucket);
    await sweepChunks(sweeper);
    assert.equal(sweeper.counters.removedChunks, 2);
    assert.equal(sweeper.counters.diskChunks, 12);
    assert.equal(sweeper.stats.deleteFailures, 12);
    assert.equal(sweeper.stats.deleteRequests, 2);
    assert.deepEqual(
      sweeper.stats.deleteErrorSample.map((error) => error.key),
      doomed.slice(2, 12),
    );
  });

  test("a datastore that comes into use before a round: the rest is only reported, never deleted", async () => {
    const bucket = new MemoryBucket();
    bucket.pageSize = 1;
    garbage(bucket, 4);
    let asked = 0;
    const sweeper = sweeperOver(bucket, {
      roundSize: 2,
      deleteBatchSize: 2,
      stillMayDelete: async () => {
        asked += 1;
        return asked < 2;
      },
    });
    await sweepChunks(sweeper);
    assert.equal(bucket.deleteRequests.length, 1);
    assert.equal(sweeper.stats.notDeleted, 2);
    assert.equal(sweeper.counters.removedChunks, 4);
    assert.equal(sweeper.deletionsAllowed, false);
    assert.equal(bucket.keys().length, 2);
  });

  test("a dry run lists and counts everything and sends no delete, no lock check", async () => {
    const bucket = new MemoryBucket();
    garbage(bucket, 3);
    const sweeper = sweeperOver(bucket, { deletionsAllowed: false });
    await sweepChunks(sweeper);
    assert.deepEqual(bucket.deleteRequests, []);
    assert.equal(sweeper.stats.notDeleted, 3);
    assert.equal(sweeper.counters.removedChunks, 3);
    assert.ok(!bucket.log.includes("lock"));
  });
});

afterEach(() => mock.timers.reset());

/** A round whose recheck takes a few turns of the event loop: the listing goes on meanwhile. */
const slowly = async () => {
  for (let i = 0; i < 5; i += 1) await new Promise((resolve) => setImmediate(resolve));
};

describe("sweepChunks: rounds, listing and their failures", () => {
  test("the time spent in rounds is the span of each round", async () => {
    const bucket = new MemoryBucket();
    garbage(bucket, 2);
    mock.timers.enable({ apis: ["Date"], now: 5_000_000 });
    const sweeper = sweeperOver(bucket, {
      recheck: async () => {
        mock.timers.setTime(Date.now() + 250);
      },
    });
    await sweepChunks(sweeper);
    assert.equal(sweeper.stats.deleteMs, 250);
  });

  test("a round that failed while the next was gathered: no further round starts (no recheck, no delete)", async () => {
    const bucket = new MemoryBucket();
    bucket.pageSize = 1;
    garbage(bucket, 4);
    let rechecks = 0;
    const sweeper = sweeperOver(bucket, {
      roundSize: 1,
      recheck: async () => {
        rechecks += 1;
        await slowly();
      },
      assertLockHeld: async () => {
        throw new LockLostError("taken over");
      },
    });
    await assert.rejects(sweepChunks(sweeper), LockLostError);
    assert.equal(rechecks, 1);
    assert.deepEqual(bucket.deleteRequests, []);
  });

  test("a failed round stops a listing that is waiting for its next page", async () => {
    const bucket = new MemoryBucket();
    bucket.pageSize = 1;
    garbage(bucket, 3);
    let lists = 0;
    let stopped = false;
    bucket.before = async (op, _key, signal) => {
      if (op !== "list" || ++lists !== 2) return;
      // The second page takes until the listing is stopped (or gives up after a while).
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 5_000);
        signal?.addEventListener("abort", () => {
          stopped = true;
          clearTimeout(timer);
          resolve();
        });
      });
    };
    const sweeper = sweeperOver(bucket, {
      roundSize: 1,
      assertLockHeld: async () => {
        throw new LockLostError("taken over");
      },
    });
    await assert.rejects(sweepChunks(sweeper), LockLostError);
    assert.equal(lists, 2);
    assert.equal(stopped, true, "the round's failure stopped the listing");
  });

  test("the listing fails while a round is still running and then fails too: the round's failure is reported", async () => {
    const bucket = new MemoryBucket();
    bucket.pageSize = 1;
    garbage(bucket, 3);
    let lists = 0;
    bucket.before = (op) => {
      if (op === "list" && ++lists === 2) throw new Error("ListObjectsV2 failed");
    };
    const sweeper = sweeperOver(bucket, {
      roundSize: 1,
      recheck: slowly,
      assertLockHeld: async () => {
        throw new LockLostError("taken over");
      },
    });
    await assert.rejects(sweepChunks(sweeper), LockLostError);
    assert.deepEqual(bucket.deleteRequests, []);
  });

  test("a .bad copy without a good copy takes its digest's mark, from this run or the marker cache; else its upload", async () => {
    const bucket = new MemoryBucket();
    const sweeper = sweeperOver(bucket);
    // Unreferenced, alone: garbage.
    const orphan = badChunkKey(STORE, digest(1), 0);
    bucket.add(orphan, BODY, OLD_MS);
    // Marked by an earlier run only (the marker cache; e.g. a pruned dedup base of a running backup that this run
    // cannot see), alone: the last evidence of its data, kept until the cutoff passes that mark.
    const cachedOnly = badChunkKey(STORE, digest(2), 0);
    bucket.add(cachedOnly, BODY, OLD_MS);
    sweeper.table.markHex(digest(2), sweeper.cutoff.minAtime + 60);
    // Referenced in this run, alone: kept.
    const evidence = badChunkKey(STORE, digest(3), 0);
    bucket.add(evidence, BODY, OLD_MS);
    sweeper.table.markHex(digest(3), PHASE1);
    await sweepChunks(sweeper);
    assert.deepEqual(bucket.keys().sort(), [cachedOnly, evidence].sort());
    assert.equal(sweeper.counters.removedBad, 1);
    assert.equal(sweeper.counters.stillBad, 1, "the cached mark lies between the cutoff and the oldest writer");
  });

  test("a referenced digest listed only as a .bad copy, or not at all, is missing from the bucket; a listed good copy is not", async () => {
    const bucket = new MemoryBucket();
    const sweeper = sweeperOver(bucket);
    for (const n of [1, 2, 3, 4, 5]) sweeper.table.markHex(digest(n), PHASE1);
    bucket.add(chunkKey(STORE, digest(5)), BODY, OLD_MS);
    bucket.add(chunkKey(STORE, digest(1)), BODY, OLD_MS);
    bucket.add(badChunkKey(STORE, digest(2), 0), BODY, OLD_MS);
    bucket.add(chunkKey(STORE, digest(4)), BODY, OLD_MS);
    bucket.add(badChunkKey(STORE, digest(4), 0), BODY, OLD_MS);
    await sweepChunks(sweeper);
    // As the run reports it: marked in phase 1, never listed as a good copy.
    const missing = sweeper.table.countUnseenSince(PHASE1) - sweeper.table.countUnseenSince(PHASE1 + 1);
    assert.equal(missing, 2);
  });

  test("a failed DeleteObjects that threw something other than an Error is reported as such", async () => {
    const bucket = new MemoryBucket();
    const [key] = garbage(bucket, 1);
    bucket.answerDelete = () => {
      throw "connection closed";
    };
    const sweeper = sweeperOver(bucket);
    await sweepChunks(sweeper);
    assert.deepEqual(sweeper.stats.deleteErrorSample, [{ key, code: "Error", message: "connection closed" }]);
  });
});

describe("s3SweepObjects: the real bucket behind the sweep", () => {
  test("lists and deletes through the S3 client (here: nothing listening on the port)", async () => {
    const s3 = unreachableS3();
    try {
      const objects = s3SweepObjects(s3);
      await assert.rejects(
        (async () => {
          for await (const _page of objects.listRanges({ prefix: "ds/.chunks/", ranges: [{}], concurrency: 1 })) {
            // nothing can be listed
          }
        })(),
        connectionRefused,
      );
      await assert.rejects(objects.deleteBatch(["ds/.chunks/0000/x"], { attempts: 1 }), connectionRefused);
      assert.ok(s3.counter.snapshot().total >= 2, "both went through the client");
    } finally {
      s3.close();
    }
  });
});
