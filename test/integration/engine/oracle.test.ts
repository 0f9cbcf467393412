/**
 * The engine's counters against the generator's oracle, on every real S3 server of the suite: varied datastores
 * (namespaces, fidx+didx, shared chunks, bad chunks, protected, running and abandoned backups, fresh chunks, junk
 * keys, a neighbouring store), then a steady-state second run.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { S3Context } from "../../../src/s3/index.ts";
import { junkKeys, neighbourKeys } from "../../../src/seed/objects.ts";
import {
  allKeys,
  freshBucketContext,
  oracleAt,
  runEngine,
  type Seeded,
  seed,
  tempCacheDir,
} from "../../support/engine.ts";
import { s3TestServers } from "../../support/s3-servers.ts";
import { expectationBetweenWaves } from "./shared-setup.ts";

const GRACE = 300;
const MAX_BACKUP = 48 * 3600;
const servers = await s3TestServers();

const varied = {
  store: "store1",
  seed: 7,
  chunks: 400,
  dedup: 2.5,
  garbageChunks: 150,
  freshChunks: 40,
  snapshots: 10,
  groups: 3,
  namespaces: 2,
  protectedEvery: 3,
  abandonedSnapshots: 2,
  badReferencedNoGoodCopy: 2,
  badReferencedWithGoodCopy: 2,
  badUnreferenced: 3,
};

for (const server of servers) {
  describe(`engine vs oracle on ${server.name}`, () => {
    let s3: S3Context;
    let seeded: Seeded;

    before(async () => {
      s3 = await freshBucketContext(server, "oracle");
      seeded = await seed(s3, varied);
    });
    after(() => s3.close());

    test("a dry run counts exactly what the oracle expects and deletes nothing", async () => {
      const { now, expected } = expectationBetweenWaves(seeded, GRACE, MAX_BACKUP);
      const before = await allKeys(s3);
      const report = await runEngine(s3, server, {
        store: "store1",
        cacheDir: tempCacheDir("dry"),
        dryRun: true,
        graceSeconds: GRACE,
        now,
      });
      assert.equal(report.result, "succeeded", report.message);
      assert.deepEqual(report.counters, expected.counters);
      assert.ok(
        expected.counters.removedChunks > 0 && expected.counters.pendingChunks > 0,
        "scenario removes and pends",
      );
      assert.deepEqual(await allKeys(s3), before);
      assert.equal(report.chunkDeleteRequests, 0);
    });

    test("a real run removes exactly the oracle's keys; a second run removes nothing and downloads no index", async () => {
      const { now, expected } = expectationBetweenWaves(seeded, GRACE, MAX_BACKUP);
      const cacheDir = tempCacheDir("real");
      const before = await allKeys(s3);
      const first = await runEngine(s3, server, { store: "store1", cacheDir, graceSeconds: GRACE, now });
      assert.equal(first.result, "succeeded", first.message);
      assert.deepEqual(first.counters, expected.counters);
      assert.equal(first.abandonedBackups.length, 2);
      assert.equal(
        first.unexpectedKeys.count,
        junkKeys(seeded.plan).filter((k) => k.startsWith("store1/.chunks/")).length,
      );
      assert.equal(first.missingChunks, 2, "the two referenced chunks that only have a .bad copy");
      const expectedDeletes = Math.ceil((expected.counters.removedChunks + expected.counters.removedBad) / 1000);
      assert.ok(
        first.chunkDeleteRequests <= expectedDeletes,
        `deletes ${first.chunkDeleteRequests} ≤ ${expectedDeletes}`,
      );

      const after = await allKeys(s3);
      for (const key of expected.removedKeys) assert.ok(!after.has(key), `${key} should be gone`);
      for (const key of expected.keptKeys) assert.ok(after.has(key), `${key} must still exist`);
      for (const key of [...junkKeys(seeded.plan), ...neighbourKeys(seeded.plan)]) {
        assert.ok(after.has(key), `junk or neighbour key ${key} must never be deleted`);
      }
      const gone = [...before].filter((key) => !after.has(key));
      assert.equal(gone.length, expected.removedKeys.size, "nothing but the oracle's keys was deleted");

      const second = await runEngine(s3, server, {
        store: "store1",
        cacheDir,
        graceSeconds: GRACE,
        now: new Date(now.getTime() + 1000),
      });
      assert.equal(second.result, "succeeded", second.message);
      assert.equal(second.counters.removedChunks + second.counters.removedBad, 0);
      assert.equal(second.indexBytesDownloaded, 0, "steady state downloads no index");
      assert.equal(second.indexCache.misses, 0);
      assert.equal(second.indexCache.hits, expected.counters.indexFileCount);
      assert.equal(second.counters.indexFileCount, first.counters.indexFileCount);
      assert.equal(second.counters.diskChunks, first.counters.diskChunks);
    });
  });

  describe(`running backups on ${server.name}`, () => {
    test("a backup running since before the upload keeps every chunk; the oracle agrees", async () => {
      const s3 = await freshBucketContext(server, "running");
      try {
        const startedAt = Math.floor(Date.now() / 1000) - 60;
        const seeded = await seed(s3, {
          store: "ds",
          chunks: 120,
          garbageChunks: 60,
          freshChunks: 10,
          snapshots: 6,
          groups: 2,
          inProgressSnapshots: 1,
          inProgressStartedAt: startedAt,
        });
        // A day and an hour later: the backup still runs (max 48 h) and started before the grace cutoff.
        const now = new Date((startedAt + 25 * 3600) * 1000);
        const expected = oracleAt(seeded, now, 24 * 3600 + 300, MAX_BACKUP);
        const report = await runEngine(s3, server, { store: "ds", cacheDir: tempCacheDir("running"), now });
        assert.equal(report.result, "succeeded", report.message);
        assert.deepEqual(report.counters, expected.counters);
        assert.equal(report.counters.removedChunks, 0);
        assert.equal(report.runningBackups.length, 1);
        assert.equal(report.cutoff?.oldestWriter, new Date(startedAt * 1000).toISOString());
      } finally {
        s3.close();
      }
    });
  });
}
