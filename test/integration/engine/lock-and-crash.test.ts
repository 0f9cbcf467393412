/**
 * The datastore lock against real servers, and a crash: the engine killed with SIGKILL in the middle of deleting,
 * then run again. Nothing referenced may be lost, the stale lock blocks until its lease expires, then is taken over.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { describe, test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { DatastoreLock, LockBusyError } from "../../../src/engine/lock.ts";
import { allKeys, freshBucketContext, runEngine, seed, tempCacheDir } from "../../support/engine.ts";
import { eventually } from "../../support/eventually.ts";
import { s3TestServers } from "../../support/s3-servers.ts";
import { engineChildEnv, exitOf, expectationBetweenWaves } from "./shared-setup.ts";

const servers = await s3TestServers();
const CLI = fileURLToPath(new URL("../../../src/cli/main.ts", import.meta.url));
const GRACE = 300;

for (const server of servers) {
  describe(`datastore lock on ${server.name}`, () => {
    test("one holder at a time; a live lock makes the engine report lock-busy; release frees it", async () => {
      const s3 = await freshBucketContext(server, "lock");
      try {
        const first = await DatastoreLock.acquire(s3, { store: "s", owner: "first", leaseMs: 60_000 });
        await assert.rejects(
          DatastoreLock.acquire(s3, { store: "s", owner: "second", leaseMs: 60_000 }),
          LockBusyError,
        );
        const busy = await runEngine(s3, server, { store: "s", cacheDir: tempCacheDir("lock") });
        assert.equal(busy.result, "lock-busy");
        assert.match(busy.message ?? "", /first/);
        await first.release();
        const free = await runEngine(s3, server, { store: "s", cacheDir: tempCacheDir("lock") });
        assert.equal(free.result, "succeeded", free.message);
        assert.equal(free.lockGeneration, first.record.generation + 1);
      } finally {
        s3.close();
      }
    });

    test("racers: exactly one of several simultaneous acquirers wins", async () => {
      const s3 = await freshBucketContext(server, "race");
      try {
        const attempts = await Promise.allSettled(
          Array.from({ length: 6 }, (_, i) =>
            DatastoreLock.acquire(s3, { store: "s", owner: `racer-${i}`, leaseMs: 60_000 }),
          ),
        );
        const winners = attempts.filter((attempt) => attempt.status === "fulfilled");
        assert.equal(winners.length, 1);
        for (const attempt of attempts) {
          if (attempt.status === "rejected") assert.ok(attempt.reason instanceof LockBusyError, String(attempt.reason));
        }
        await (winners[0] as PromiseFulfilledResult<DatastoreLock>).value.release();
      } finally {
        s3.close();
      }
    });

    test("an expired lease is taken over, and its former holder notices before deleting more", async () => {
      const s3 = await freshBucketContext(server, "expire");
      try {
        const stale = await DatastoreLock.acquire(s3, { store: "s", owner: "stale", leaseMs: 10_000 });
        // Simulate a frozen holder: no renewals, the lease runs out.
        (stale as unknown as { stopRenewal(): void }).stopRenewal();
        const next = await eventually(
          "the lease to run out",
          () => DatastoreLock.acquire(s3, { store: "s", owner: "next", leaseMs: 60_000 }).catch(() => undefined),
          30_000,
          250,
        );
        assert.ok(Date.now() >= stale.record.expiresAtMs, "taken over only once the lease ran out");
        assert.equal(next.record.generation, stale.record.generation + 1);
        // Its former holder stops before the next batch, without asking the bucket (synchronous check).
        assert.throws(() => stale.checkHeld(), /expired|taken over/);
        await assert.rejects(stale.assertHeld(), /expired|taken over/);
        await next.release();
      } finally {
        s3.close();
      }
    });
  });

  describe(`crash on ${server.name}`, () => {
    test("kill -9 mid-sweep, then rerun: no referenced chunk lost, the lock is taken over after its lease", async () => {
      const s3 = await freshBucketContext(server, "crash");
      try {
        const seeded = await seed(s3, {
          store: "s",
          chunks: 300,
          garbageChunks: 600,
          freshChunks: 5,
          snapshots: 6,
          groups: 2,
        });
        const { now, expected } = expectationBetweenWaves(seeded, GRACE);
        const before = await allKeys(s3, "s/.chunks/");
        const cacheDir = tempCacheDir("crash");
        // A completed run first (at the wall clock: nothing is old enough to go): it leaves a marker cache.
        const completed = await runEngine(s3, server, { store: "s", cacheDir, graceSeconds: GRACE });
        assert.equal(completed.result, "succeeded", completed.message);
        assert.equal(completed.counters.removedChunks + completed.counters.removedBad, 0);
        assert.equal(completed.markerCache.status, "missing");
        const child = spawn(
          process.execPath,
          [
            CLI,
            "gc",
            "--endpoint",
            server.endpoint,
            "--path-style",
            "--bucket",
            s3.bucket,
            "--store",
            "s",
            "--cache-dir",
            cacheDir,
            "--grace",
            `${GRACE}s`,
            "--now",
            now.toISOString(),
            "--allow-future-now",
            "--lock-lease",
            "20s",
            "--delete-batch-size",
            "10",
            "--delete-concurrency",
            "1",
            "--delete-round-size",
            "10",
          ],
          {
            env: engineChildEnv(server),
            stdio: ["ignore", "ignore", "inherit"],
          },
        );
        const exited = exitOf(child);
        // Kill it once some, not all, of the garbage is gone.
        let remaining = before.size;
        for (let i = 0; i < 600 && remaining > before.size - 30; i += 1) {
          await delay(50);
          remaining = (await allKeys(s3, "s/.chunks/")).size;
        }
        child.kill("SIGKILL");
        await exited;
        const afterCrash = await allKeys(s3, "s/.chunks/");
        assert.ok(afterCrash.size < before.size, "the kill happened after deletions began");
        assert.ok(afterCrash.size > before.size - expected.removedKeys.size, "and before they ended");
        for (const key of expected.keptKeys) assert.ok(afterCrash.has(key), `${key} survived the crash`);

        const blocked = await runEngine(s3, server, { store: "s", cacheDir, graceSeconds: GRACE, now });
        assert.equal(blocked.result, "lock-busy", "the killed run's lease is still live");

        // Its lease runs out (at most 20 s after its last renewal): then the lock can be taken over.
        const free = await eventually(
          "the killed run's lease to run out",
          () => DatastoreLock.acquire(s3, { store: "s", owner: "probe", leaseMs: 10_000 }).catch(() => undefined),
          40_000,
          500,
        );
        await free.release();
        // Listed again now, not right after the kill: a DeleteObjects the killed client had sent may still have been
        // carried out by the server after its death.
        const beforeRerun = await allKeys(s3, "s/.chunks/");
        const rerun = await runEngine(s3, server, {
          store: "s",
          cacheDir,
          graceSeconds: GRACE,
          now,
          lockLeaseSeconds: 30,
        });
        assert.equal(rerun.result, "succeeded", rerun.message);
        // What a killed run leaves in the cache directory: the index files (the rerun downloads no index) and the
        // marker cache of the last completed run, untouched (a run writes its marker cache only when it completes).
        assert.equal(rerun.markerCache.status, "loaded", rerun.markerCache.reason);
        assert.equal(rerun.indexCache.misses, 0, "every index came from the cache");
        assert.equal(rerun.indexCache.hits, rerun.counters.indexFileCount);
        const final = await allKeys(s3, "s/.chunks/");
        for (const key of expected.keptKeys) assert.ok(final.has(key), `${key} survived`);
        for (const key of expected.removedKeys) assert.ok(!final.has(key), `${key} collected by the rerun`);
        assert.equal(
          rerun.counters.removedChunks + rerun.counters.removedBad,
          expected.removedKeys.size - (before.size - beforeRerun.size),
        );
      } finally {
        s3.close();
      }
    });
  });
}
