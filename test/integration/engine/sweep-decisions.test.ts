/**
 * The sweep's decisions, rounds and lock checks, driven directly against a real S3 server with a hand-built mark
 * table: which listed object is kept, pending or removed (good copies, `.bad` copies with and without a good copy,
 * marker-cache times, upload times), what each is counted as, that a recheck can still save a candidate, that
 * deletions go out in whole batches only after the recheck and the lock check, and that nothing is deleted once the
 * lock is lost or deleting is no longer allowed. Cutoffs are placed relative to the measured upload times, so no test
 * waits for time to pass.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import { badChunkKey, chunkKey } from "../../../src/datastore/index.ts";
import { emptyCounters, emptySweepStats, type GcCounters } from "../../../src/engine/counters.ts";
import { LockLostError } from "../../../src/engine/lock.ts";
import { MarkTable } from "../../../src/engine/mark-table.ts";
import { type Sweeper, sweepChunks } from "../../../src/engine/sweep.ts";
import { listObjects, putObject, type S3Context } from "../../../src/s3/index.ts";
import { allKeys, freshBucketContext, quietLog } from "../../support/engine.ts";
import { s3TestServers } from "../../support/s3-servers.ts";

const servers = await s3TestServers();
const STORE = "ds";

const hex = (label: string) => createHash("sha256").update(label).digest("hex");

interface Uploaded {
  /** Upload window in epoch seconds, widened to whole seconds on both sides. */
  readonly from: number;
  readonly to: number;
  readonly sizes: Map<string, number>;
}

/** Writes the objects (distinct sizes, so that byte counters tell them apart) and measures when. */
async function upload(s3: S3Context, keys: string[]): Promise<Uploaded> {
  const sizes = new Map<string, number>();
  const from = Math.floor(Date.now() / 1000) - 1;
  await Promise.all(
    keys.map((key, i) => {
      const size = 100 + i * 7;
      sizes.set(key, size);
      return putObject(s3, key, new Uint8Array(size));
    }),
  );
  return { from, to: Math.ceil(Date.now() / 1000) + 1, sizes };
}

function sweeperFor(s3: S3Context, overrides: Partial<Sweeper> & Pick<Sweeper, "cutoff" | "phase1Start">): Sweeper {
  return {
    s3,
    store: STORE,
    table: new MarkTable(64),
    counters: emptyCounters(),
    stats: emptySweepStats(),
    deletionsAllowed: true,
    listConcurrency: 4,
    listParser: "streaming",
    deleteConcurrency: 1,
    deleteBatchSize: 1000,
    roundSize: 1000,
    recheck: async () => {},
    assertLockHeld: async () => {},
    checkLockHeld: () => {},
    log: quietLog,
    ...overrides,
  };
}

const sum = (sizes: Map<string, number>, keys: string[]) => keys.reduce((total, key) => total + sizes.get(key)!, 0);
const zero = emptyCounters();

for (const server of servers) {
  describe(`sweep decisions on ${server.name}`, () => {
    // Digests: d1 referenced (with a .bad sibling), d2 unreferenced, d3 last marked recently (marker cache), d4 last
    // marked long ago, d5 referenced with only a .bad copy, d6 only a .bad copy and unreferenced.
    const d = [0, 1, 2, 3, 4, 5, 6].map((n) => hex(`sweep-${n}`));
    const good = (n: number) => chunkKey(STORE, d[n]!);
    const bad = (n: number) => badChunkKey(STORE, d[n]!, n);
    const junk = [`${STORE}/.chunks/README`, `${STORE}/.chunks/${d[2]!.slice(0, 4)}/${d[2]}.tmp`];
    const neighbour = chunkKey(`${STORE}-old`, d[2]!);
    const all = [good(1), bad(1), good(2), good(3), good(4), bad(5), bad(6), ...junk, neighbour];

    /** Every upload is older than min_atime; phase 1 started later still. */
    function scenario(s3: S3Context, uploaded: Uploaded, overrides: Partial<Sweeper> = {}) {
      const minAtime = uploaded.to + 10;
      const sweeper = sweeperFor(s3, {
        cutoff: { minAtime, oldestWriter: uploaded.to + 100 },
        phase1Start: uploaded.to + 200,
        ...overrides,
      });
      sweeper.table.markHex(d[1]!, sweeper.phase1Start);
      sweeper.table.markHex(d[3]!, minAtime + 5);
      sweeper.table.markHex(d[4]!, minAtime - 5);
      sweeper.table.markHex(d[5]!, sweeper.phase1Start);
      return sweeper;
    }
    const removed = [good(2), good(4), bad(1), bad(6)];
    const expectedCounters = (sizes: Map<string, number>): GcCounters => ({
      ...zero,
      diskChunks: 1,
      diskBytes: sum(sizes, [good(1), bad(5)]),
      pendingChunks: 1,
      pendingBytes: sum(sizes, [good(3)]),
      removedChunks: 2,
      removedBad: 2,
      removedBytes: sum(sizes, removed),
    });

    test("keeps, pends and removes each kind of object as its time says, and counts it so", async () => {
      const s3 = await freshBucketContext(server, "sweep-decide");
      try {
        const uploaded = await upload(s3, all);
        const sweeper = scenario(s3, uploaded);
        await sweepChunks(sweeper);
        assert.deepEqual(sweeper.counters, expectedCounters(uploaded.sizes));
        assert.equal(sweeper.stats.chunkObjects, 7);
        assert.equal(sweeper.stats.unexpectedKeys, 2);
        assert.deepEqual(new Set(sweeper.stats.unexpectedSample), new Set(junk));
        assert.equal(sweeper.stats.keptMarkerCache, 1);
        assert.equal(sweeper.stats.keptRecentUpload, 0);
        assert.equal(sweeper.stats.notDeleted, 0);
        assert.equal(sweeper.stats.recheckKept, 0);
        assert.equal(sweeper.stats.deleteRounds, 1);
        assert.equal(sweeper.stats.deleteRequests, 1);
        assert.equal(sweeper.stats.deleteFailures, 0);
        const after = await allKeys(s3);
        assert.deepEqual(new Set(all.filter((key) => !after.has(key))), new Set(removed));
      } finally {
        s3.close();
      }
    });

    test("a dry run counts the same and deletes nothing", async () => {
      const s3 = await freshBucketContext(server, "sweep-dry");
      try {
        const uploaded = await upload(s3, all);
        let rechecks = 0;
        const sweeper = scenario(s3, uploaded, {
          deletionsAllowed: false,
          recheck: async () => {
            rechecks += 1;
          },
        });
        await sweepChunks(sweeper);
        assert.deepEqual(sweeper.counters, expectedCounters(uploaded.sizes));
        assert.equal(sweeper.stats.notDeleted, removed.length);
        assert.equal(sweeper.stats.deleteRounds, 0);
        assert.equal(sweeper.stats.deleteRequests, 0);
        assert.equal(rechecks, 0, "nothing to delete, nothing to recheck");
        assert.deepEqual(await allKeys(s3), new Set(all));
      } finally {
        s3.close();
      }
    });

    test("a chunk uploaded after min_atime is pending (recent upload); after the oldest writer, in use", async () => {
      const s3 = await freshBucketContext(server, "sweep-recent");
      try {
        const uploaded = await upload(s3, [good(2), good(4), bad(6)]);
        const pending = sweeperFor(s3, {
          cutoff: { minAtime: uploaded.from - 10, oldestWriter: uploaded.to + 100 },
          phase1Start: uploaded.to + 200,
        });
        pending.table.markHex(d[4]!, uploaded.from - 20); // an old mark does not make it older than its upload
        await sweepChunks(pending);
        assert.deepEqual(pending.counters, {
          ...zero,
          pendingChunks: 2,
          stillBad: 1,
          pendingBytes: sum(uploaded.sizes, [good(2), good(4), bad(6)]),
        });
        assert.equal(pending.stats.keptRecentUpload, 2);
        assert.equal(pending.stats.keptMarkerCache, 0);

        const inUse = sweeperFor(s3, {
          cutoff: { minAtime: uploaded.from - 100, oldestWriter: uploaded.from - 10 },
          phase1Start: uploaded.to + 200,
        });
        await sweepChunks(inUse);
        assert.deepEqual(inUse.counters, {
          ...zero,
          diskChunks: 2,
          diskBytes: sum(uploaded.sizes, [good(2), good(4), bad(6)]),
        });
        assert.equal(inUse.stats.keptRecentUpload, 2);
        assert.deepEqual(await allKeys(s3), new Set([good(2), good(4), bad(6)]));
      } finally {
        s3.close();
      }
    });

    test("a candidate referenced by the recheck is kept; the recheck runs before the lock check and any delete", async () => {
      const s3 = await freshBucketContext(server, "sweep-recheck");
      try {
        const uploaded = await upload(s3, all);
        const events: string[] = [];
        const sweeper: Sweeper = scenario(s3, uploaded, {
          recheck: async () => {
            events.push(`recheck:${(await allKeys(s3)).size}`);
            // A backup finished meanwhile: its index references d2 and d6.
            sweeper.table.markHex(d[2]!, sweeper.phase1Start);
            sweeper.table.markHex(d[6]!, sweeper.phase1Start);
          },
          assertLockHeld: async () => {
            events.push("lock");
          },
        });
        await sweepChunks(sweeper);
        assert.deepEqual(events, [`recheck:${all.length}`, "lock"]);
        assert.equal(sweeper.stats.recheckKept, 2);
        assert.deepEqual(sweeper.counters, {
          ...expectedCounters(uploaded.sizes),
          diskChunks: 2,
          diskBytes: sum(uploaded.sizes, [good(1), bad(5), good(2), bad(6)]),
          removedChunks: 1,
          removedBad: 1,
          removedBytes: sum(uploaded.sizes, [good(4), bad(1)]),
        });
        const after = await allKeys(s3);
        assert.deepEqual(new Set(all.filter((key) => !after.has(key))), new Set([good(4), bad(1)]));
      } finally {
        s3.close();
      }
    });

    // 25 old unreferenced chunks, in rounds of at least 10 and batches of 4.
    const many = Array.from({ length: 25 }, (_, n) => chunkKey(STORE, hex(`many-${n}`)));
    const oldCutoff = (uploaded: Uploaded) => ({
      cutoff: { minAtime: uploaded.to + 10, oldestWriter: uploaded.to + 100 },
      phase1Start: uploaded.to + 200,
      roundSize: 10,
      deleteBatchSize: 4,
      listConcurrency: 1,
    });

    test("deletes in rounds of whole batches, each after its own recheck and lock check", async () => {
      const s3 = await freshBucketContext(server, "sweep-rounds");
      try {
        const uploaded = await upload(s3, many);
        const events: string[] = [];
        const sweeper = sweeperFor(s3, {
          ...oldCutoff(uploaded),
          recheck: async () => {
            events.push(`recheck:${(await allKeys(s3)).size}`);
          },
          assertLockHeld: async () => {
            events.push("lock");
          },
        });
        await sweepChunks(sweeper);
        // One listing page of 25: a round of 24 (six whole batches), then the remaining one.
        assert.deepEqual(events, ["recheck:25", "lock", "recheck:1", "lock"]);
        assert.equal(sweeper.stats.deleteRounds, 2);
        assert.equal(sweeper.stats.deleteRequests, 7);
        assert.equal(sweeper.counters.removedChunks, 25);
        assert.equal(sweeper.counters.removedBytes, sum(uploaded.sizes, many));
        assert.equal((await allKeys(s3)).size, 0);
        assert.ok(sweeper.stats.deleteMs > 0, "the rounds' time is accounted");
      } finally {
        s3.close();
      }
    });

    test("a failed recheck fails the sweep with its own error and deletes nothing", async () => {
      const s3 = await freshBucketContext(server, "sweep-recheck-fails");
      try {
        const uploaded = await upload(s3, many);
        let lockChecks = 0;
        const sweeper = sweeperFor(s3, {
          ...oldCutoff(uploaded),
          recheck: async () => {
            throw new Error("index listing failed");
          },
          assertLockHeld: async () => {
            lockChecks += 1;
          },
        });
        await assert.rejects(sweepChunks(sweeper), /index listing failed/);
        assert.equal(lockChecks, 0);
        assert.equal(sweeper.stats.deleteRounds, 1, "no further round after a failed one");
        assert.equal(sweeper.counters.removedChunks, 0);
        assert.equal((await allKeys(s3)).size, many.length);
      } finally {
        s3.close();
      }
    });

    test("an interrupted sweep deletes nothing more", async () => {
      const s3 = await freshBucketContext(server, "sweep-abort");
      try {
        const uploaded = await upload(s3, many);
        const controller = new AbortController();
        const sweeper = sweeperFor(s3, {
          ...oldCutoff(uploaded),
          signal: controller.signal,
          recheck: async () => {
            controller.abort(new Error("SIGTERM"));
          },
        });
        await assert.rejects(sweepChunks(sweeper));
        assert.equal(sweeper.counters.removedChunks, 0);
        assert.equal((await allKeys(s3)).size, many.length);
      } finally {
        s3.close();
      }
    });

    test("reports every listed object and every stray key, with a sample of at most 20", async () => {
      const s3 = await freshBucketContext(server, "sweep-strays");
      try {
        const strays = Array.from({ length: 23 }, (_, n) => `${STORE}/.chunks/stray-${String(n).padStart(2, "0")}`);
        const uploaded = await upload(s3, [...strays, good(1)]);
        let listedCount = 0;
        const sweeper = sweeperFor(s3, {
          cutoff: { minAtime: uploaded.to + 10, oldestWriter: uploaded.to + 100 },
          phase1Start: uploaded.to + 200,
          onListed: (count) => {
            listedCount += count;
          },
        });
        sweeper.table.markHex(d[1]!, sweeper.phase1Start);
        await sweepChunks(sweeper);
        assert.equal(listedCount, strays.length + 1);
        assert.equal(sweeper.stats.unexpectedKeys, strays.length);
        assert.equal(sweeper.stats.unexpectedSample.length, 20);
        for (const key of sweeper.stats.unexpectedSample) assert.ok(strays.includes(key), key);
        assert.equal(sweeper.stats.chunkObjects, 1);
        assert.equal((await allKeys(s3)).size, strays.length + 1);
      } finally {
        s3.close();
      }
    });

    test("a kept chunk counts as a recent upload or as seen by the marker cache, min_atime itself included", async () => {
      const s3 = await freshBucketContext(server, "sweep-kept-why");
      try {
        await upload(s3, [good(2), good(3), good(4)]);
        // min_atime exactly at the earliest upload second: every chunk is at or after it.
        let earliest = Number.POSITIVE_INFINITY;
        for await (const object of listObjects(s3, { prefix: `${STORE}/.chunks/` })) {
          earliest = Math.min(earliest, Math.floor(object.lastModifiedMs / 1000));
        }
        const minAtime = earliest;
        const sweeper = sweeperFor(s3, {
          cutoff: { minAtime, oldestWriter: minAtime + 1000 },
          phase1Start: minAtime + 2000,
        });
        sweeper.table.markHex(d[3]!, minAtime); // seen by an earlier run exactly at min_atime: the marker cache
        sweeper.table.markHex(d[4]!, minAtime - 1); // seen before min_atime: only its upload keeps it
        await sweepChunks(sweeper);
        assert.equal(sweeper.counters.pendingChunks, 3);
        assert.equal(sweeper.stats.keptMarkerCache, 1);
        assert.equal(sweeper.stats.keptRecentUpload, 2);
      } finally {
        s3.close();
      }
    });

    test("a lock found lost before a round deletes nothing, and the sweep fails with it", async () => {
      const s3 = await freshBucketContext(server, "sweep-lost");
      try {
        const uploaded = await upload(s3, many);
        const sweeper = sweeperFor(s3, {
          ...oldCutoff(uploaded),
          assertLockHeld: async () => {
            throw new LockLostError("taken over");
          },
        });
        await assert.rejects(sweepChunks(sweeper), LockLostError);
        assert.equal(sweeper.counters.removedChunks, 0);
        assert.equal(sweeper.stats.deleteRequests, 0);
        assert.equal((await allKeys(s3)).size, many.length);
      } finally {
        s3.close();
      }
    });

    test("a lock lost between batches stops the batches not yet sent", async () => {
      const s3 = await freshBucketContext(server, "sweep-lost-batch");
      try {
        const uploaded = await upload(s3, many);
        let checks = 0;
        const sweeper = sweeperFor(s3, {
          ...oldCutoff(uploaded),
          checkLockHeld: () => {
            checks += 1;
            if (checks > 2) throw new LockLostError("lease over");
          },
        });
        await assert.rejects(sweepChunks(sweeper), LockLostError);
        // The guard runs before every request (and every retry of it): the batches before it tripped went out whole.
        const deleted = sweeper.counters.removedChunks;
        assert.ok(deleted > 0 && deleted < 24 && deleted % 4 === 0, `${deleted} deleted`);
        assert.equal(sweeper.stats.deleteRounds, 1, "no second round after the lock was lost");
        assert.equal((await allKeys(s3)).size, many.length - deleted);
      } finally {
        s3.close();
      }
    });

    test("once deleting is no longer allowed (datastore attached), the rest is only counted", async () => {
      const s3 = await freshBucketContext(server, "sweep-in-use");
      try {
        const uploaded = await upload(s3, many);
        let asked = 0;
        const sweeper = sweeperFor(s3, {
          ...oldCutoff(uploaded),
          stillMayDelete: async () => {
            asked += 1;
            return false;
          },
        });
        await sweepChunks(sweeper);
        assert.equal(asked, 1, "asked once; the answer holds for the rest of the run");
        assert.equal(sweeper.deletionsAllowed, false);
        assert.equal(sweeper.stats.notDeleted, many.length);
        assert.equal(sweeper.counters.removedChunks, many.length);
        assert.equal(sweeper.stats.deleteRequests, 0);
        assert.equal((await allKeys(s3)).size, many.length);
      } finally {
        s3.close();
      }
    });

    test("deleting stays allowed while the datastore is free", async () => {
      const s3 = await freshBucketContext(server, "sweep-free");
      try {
        const uploaded = await upload(s3, many);
        const sweeper = sweeperFor(s3, { ...oldCutoff(uploaded), stillMayDelete: async () => true });
        await sweepChunks(sweeper);
        assert.equal(sweeper.stats.notDeleted, 0);
        assert.equal((await allKeys(s3)).size, 0);
      } finally {
        s3.close();
      }
    });
  });
}
