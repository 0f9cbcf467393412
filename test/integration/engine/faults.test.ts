/**
 * Faults between the engine and a real S3 server (a fault-injecting proxy): 503 SlowDown, connection resets and
 * partial DeleteObjects failures. The run completes or fails cleanly, never deletes a referenced chunk and never
 * counts a deletion S3 did not confirm.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { S3Context } from "../../../src/s3/index.ts";
import {
  allKeys,
  freshBucketContext,
  nowBetweenWaves,
  oracleAt,
  runEngine,
  type Seeded,
  seed,
  tempCacheDir,
} from "../../support/engine.ts";
import { type Fault, type FaultRules, startFaultProxy } from "../../support/fault-proxy.ts";
import { s3TestServers } from "../../support/s3-servers.ts";
import { expectationBetweenWaves } from "./shared-setup.ts";

const servers = await s3TestServers();
const GRACE = 300;

for (const server of servers) {
  describe(`faults in front of ${server.name}`, () => {
    let s3: S3Context;
    let seeded: Seeded;
    before(async () => {
      s3 = await freshBucketContext(server, "faults");
      seeded = await seed(s3, {
        store: "s",
        chunks: 300,
        garbageChunks: 250,
        freshChunks: 10,
        snapshots: 6,
        groups: 2,
        badUnreferenced: 2,
      });
    });
    after(() => s3.close());

    const expectationFor = (now: Date) => oracleAt(seeded, now, GRACE);

    test("SlowDown, resets and 500s on every kind of request: retried, and the counters still equal the oracle", async () => {
      // Deterministic: every second request of each kind gets a fault, cycling SlowDown → reset → 500, so every run
      // injects each fault into listings, reads, writes (probe, lock, release) and DeleteObjects alike.
      const cycle: Fault[] = [
        { type: "slowDown" },
        { type: "reset" },
        { type: "status", status: 500, code: "InternalError" },
      ];
      const plan: FaultRules["plan"] = (request) =>
        request.kindSeq % 2 === 0 ? cycle[(request.kindSeq / 2 - 1) % cycle.length] : undefined;
      const proxy = await startFaultProxy(server.endpoint, { plan });
      try {
        const now = nowBetweenWaves(seeded.report, GRACE);
        const report = await runEngine(
          s3,
          { ...server, endpoint: proxy.endpoint },
          {
            store: "s",
            cacheDir: tempCacheDir("faults"),
            graceSeconds: GRACE,
            now,
            deleteBatchSize: 20,
            listConcurrency: 4,
          },
        );
        for (const kind of ["list", "get", "put", "deleteObjects"] as const) {
          const injected = proxy.injectedByKind[kind];
          for (const fault of ["slowDown", "reset", "status"]) {
            assert.ok((injected[fault] ?? 0) >= 1, `${kind} got no ${fault}: ${JSON.stringify(proxy.injectedByKind)}`);
          }
        }
        assert.equal(report.result, "succeeded", report.message);
        const expected = expectationFor(now);
        assert.deepEqual(report.counters, expected.counters);
        const remaining = await allKeys(s3, "s/");
        for (const key of expected.keptKeys) assert.ok(remaining.has(key), `${key} must survive`);
        for (const key of expected.removedKeys) assert.ok(!remaining.has(key));
      } finally {
        await proxy.close();
      }
    });

    test("keys a DeleteObjects answer reports as failed are not counted, and the run fails naming them", async () => {
      // A fresh datastore in the same bucket: the first test collected the other one already.
      const store = "t";
      const own = await seed(s3, {
        store,
        chunks: 100,
        garbageChunks: 80,
        freshChunks: 5,
        snapshots: 4,
        groups: 2,
        junkKeys: false,
        neighbourStore: false,
      });
      const { now, expected } = expectationBetweenWaves(own, GRACE);
      const failing = new Set([...expected.removedKeys].filter((key) => !key.endsWith(".bad")).slice(0, 3));
      const proxy = await startFaultProxy(server.endpoint, { failDeleteKeys: (key) => failing.has(key) });
      try {
        const report = await runEngine(
          s3,
          { ...server, endpoint: proxy.endpoint },
          { store, cacheDir: tempCacheDir("partial"), graceSeconds: GRACE, now },
        );
        assert.equal(report.result, "failed");
        assert.equal(report.deleteFailures.count, 3);
        assert.deepEqual(new Set(report.deleteFailures.sample.map((error) => error.key)), failing);
        assert.equal(
          report.counters.removedChunks + report.counters.removedBad,
          expected.removedKeys.size - 3,
          "unconfirmed deletions are not counted",
        );
        assert.equal(report.heldBack.deleteFailed, 3, "failed deletions are reported in the compact result too");
        assert.equal(
          report.counters.diskChunks,
          expected.counters.diskChunks + 3,
          "a chunk whose deletion failed is counted where it lies (on disk)",
        );
        const remaining = await allKeys(s3, `${store}/`);
        for (const key of expected.keptKeys) assert.ok(remaining.has(key), `${key} must survive`);
      } finally {
        await proxy.close();
      }
    });
  });
}
