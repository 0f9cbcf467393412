/**
 * Every safety rule of docs/gc-semantics.md#safety-rules against real S3 servers; each test fails when its rule is
 * removed from the engine.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { inUseKey } from "../../../src/datastore/index.ts";
import { MARKER_CACHE_FILE } from "../../../src/engine/marker-cache.ts";
import { getObjectBytes, putObject } from "../../../src/s3/index.ts";
import { allKeys, freshBucketContext, runEngine, seed, tempCacheDir } from "../../support/engine.ts";
import { startFaultProxy } from "../../support/fault-proxy.ts";
import { deleteKeys, type HandmadeChunk, putChunks, putSnapshot, snapshotRef } from "../../support/handmade-store.ts";
import { s3TestServers } from "../../support/s3-servers.ts";
import { expectationBetweenWaves, runChangedBeforeSecondRound } from "./shared-setup.ts";

const servers = await s3TestServers();

/** Loses the marker cache of every datastore under a cache directory (the index cache stays). */
function removeMarkerCaches(cacheDir: string): void {
  for (const entry of readdirSync(cacheDir)) rmSync(join(cacheDir, entry, MARKER_CACHE_FILE), { force: true });
}
const HOUR = 3600;
const GRACE = 300;
const nowSeconds = () => Math.floor(Date.now() / 1000);

for (const server of servers) {
  describe(`safety rules on ${server.name}`, () => {
    test("a corrupt, truncated or foreign index aborts the run before any deletion, naming the key", async () => {
      const s3 = await freshBucketContext(server, "corrupt");
      try {
        const seeded = await seed(
          s3,
          {
            store: "s",
            chunks: 60,
            garbageChunks: 30,
            snapshots: 4,
            groups: 2,
            junkKeys: false,
            neighbourStore: false,
          },
          0,
        );
        const indexKey = [...(await allKeys(s3, "s/.cnt/"))].find((key) => key.endsWith(".fidx"))!;
        const original = (await getObjectBytes(s3, indexKey)).bytes;
        const flipped = Buffer.from(original);
        flipped[flipped.length - 1]! ^= 0xff;
        const damaged: [string, Uint8Array][] = [
          ["checksum", flipped],
          ["truncated", original.subarray(0, original.length - 7)],
          ["magic", Buffer.concat([Buffer.alloc(8), Buffer.from(original.subarray(8))])],
        ];
        const later = new Date((Math.floor(seeded.report.waves[1]!.endMs / 1000) + 2 * HOUR) * 1000);
        for (const [what, bytes] of damaged) {
          await putObject(s3, indexKey, bytes);
          const before = await allKeys(s3);
          const report = await runEngine(s3, server, {
            store: "s",
            cacheDir: tempCacheDir("corrupt"),
            graceSeconds: GRACE,
            now: later,
          });
          assert.equal(report.result, "aborted", `${what}: ${report.message}`);
          assert.match(report.message ?? "", new RegExp(indexKey.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
          assert.equal(report.chunkDeleteRequests, 0, what);
          assert.deepEqual(await allKeys(s3), before, what);
        }
        await putObject(s3, indexKey, original);
        const healthy = await runEngine(s3, server, {
          store: "s",
          cacheDir: tempCacheDir("healthy"),
          graceSeconds: GRACE,
          now: later,
        });
        assert.equal(healthy.result, "succeeded", healthy.message);
        assert.equal(healthy.counters.removedChunks, 30, "the same datastore is collected once the index is sound");
      } finally {
        s3.close();
      }
    });

    test("a running backup keeps its pruned dedup base, remembered by the index cache", async () => {
      const s3 = await freshBucketContext(server, "base");
      try {
        const upload = nowSeconds();
        const now = upload + 30 * HOUR;
        const base = await putChunks(s3, "s", "base", 5);
        const baseKeys = await putSnapshot(s3, "s", snapshotRef("100", now - 48 * HOUR), base, { finished: true });
        await putSnapshot(s3, "s", snapshotRef("100", now - HOUR), [], { finished: false });
        const cacheDir = tempCacheDir("base");
        const first = await runEngine(s3, server, { store: "s", cacheDir, now: new Date(now * 1000) });
        assert.equal(first.result, "succeeded", first.message);
        assert.equal(first.runningBackups.length, 1);

        // The base is pruned while the backup runs; the marker cache is lost, the index cache is not.
        await deleteKeys(s3, baseKeys);
        removeMarkerCaches(cacheDir);
        const second = await runEngine(s3, server, { store: "s", cacheDir, now: new Date((now + 60) * 1000) });
        assert.equal(second.result, "succeeded", second.message);
        assert.equal(second.heldBack.runningBackupBase, 5);
        const remaining = await allKeys(s3, "s/.chunks/");
        for (const chunk of base)
          assert.ok(remaining.has(chunk.key), `${chunk.key} belongs to a running backup's base`);

        // Once that backup is abandoned (older than the maximum duration), the pruned base's chunks go.
        removeMarkerCaches(cacheDir);
        const third = await runEngine(s3, server, { store: "s", cacheDir, now: new Date((now + 48 * HOUR) * 1000) });
        assert.equal(third.result, "succeeded", third.message);
        assert.equal(third.counters.removedChunks, 5);
      } finally {
        s3.close();
      }
    });

    test("recheck before delete: a backup finishing during the sweep loses nothing", async () => {
      const s3 = await freshBucketContext(server, "recheck");
      try {
        const upload = nowSeconds();
        const now = upload + 30 * HOUR;
        const kept = await putChunks(s3, "s", "kept", 3);
        await putSnapshot(s3, "s", snapshotRef("100", now - 40 * HOUR), kept, { finished: true });
        const garbage = await putChunks(s3, "s", "garbage", 10);
        let finished = false;
        const report = await runEngine(
          s3,
          server,
          { store: "s", cacheDir: tempCacheDir("recheck"), now: new Date(now * 1000) },
          {
            beforeRecheck: async () => {
              if (finished) return;
              finished = true;
              // A backup that reused two of the unreferenced chunks completes now.
              await putSnapshot(s3, "s", snapshotRef("101", now - 2 * HOUR), garbage.slice(0, 2), { finished: true });
            },
          },
        );
        assert.equal(report.result, "succeeded", report.message);
        const remaining = await allKeys(s3, "s/.chunks/");
        for (const chunk of [...kept, ...garbage.slice(0, 2)])
          assert.ok(remaining.has(chunk.key), `${chunk.key} is referenced`);
        for (const chunk of garbage.slice(2)) assert.ok(!remaining.has(chunk.key), `${chunk.key} is garbage`);
        assert.equal(report.counters.removedChunks, 8);
        // One round (the default size), so every candidate was classified before the backup finished: exactly the two it reused are held back.
        assert.equal(report.heldBack.recheck, 2, "the recheck held the reused chunks back");
      } finally {
        s3.close();
      }
    });

    test(".in-use: nothing is deleted unless acknowledged, and the report says what would go", async () => {
      const s3 = await freshBucketContext(server, "inuse");
      try {
        const seeded = await seed(s3, {
          store: "s",
          chunks: 50,
          garbageChunks: 20,
          freshChunks: 5,
          snapshots: 4,
          groups: 2,
        });
        await putObject(s3, inUseKey("s"), JSON.stringify({ hostname: "pbs-node-1" }));
        const { now, expected } = expectationBetweenWaves(seeded, GRACE);
        const before = await allKeys(s3);
        const refused = await runEngine(s3, server, {
          store: "s",
          cacheDir: tempCacheDir("inuse"),
          graceSeconds: GRACE,
          now,
        });
        assert.equal(refused.result, "aborted");
        assert.match(refused.message ?? "", /pbs-node-1/);
        assert.deepEqual(refused.counters, expected.counters, "reports what it would delete");
        assert.equal(refused.heldBack.inUse, expected.removedKeys.size);
        assert.equal(refused.chunkDeleteRequests, 0);
        assert.deepEqual(await allKeys(s3), before);

        const acknowledged = await runEngine(s3, server, {
          store: "s",
          cacheDir: tempCacheDir("inuse-ack"),
          graceSeconds: GRACE,
          now,
          acknowledgeInUse: true,
        });
        assert.equal(acknowledged.result, "succeeded", acknowledged.message);
        assert.deepEqual(acknowledged.counters, expected.counters);
        const after = await allKeys(s3);
        for (const key of expected.removedKeys) assert.ok(!after.has(key));
      } finally {
        s3.close();
      }
    });

    test("a snapshot cached while running, finished and pruned later, stays the base of a running backup", async () => {
      const s3 = await freshBucketContext(server, "stalebase");
      try {
        const upload = nowSeconds();
        const now = upload + 30 * HOUR;
        const base = await putChunks(s3, "s", "base", 5);
        // Run 1 sees the base snapshot still running: the index cache records it as unfinished.
        const baseRef = snapshotRef("100", now - HOUR);
        const baseKeys = await putSnapshot(s3, "s", baseRef, base, { finished: false });
        const cacheDir = tempCacheDir("stalebase");
        const first = await runEngine(s3, server, { store: "s", cacheDir, now: new Date(now * 1000) });
        assert.equal(first.result, "succeeded", first.message);
        assert.deepEqual(first.runningBackups.length, 1);
        // Then, with no run in between: it finishes, the next backup of the group starts on it, and it is pruned.
        await putSnapshot(s3, "s", baseRef, [], { finished: true });
        await putSnapshot(s3, "s", snapshotRef("100", now - 10 * 60), [], { finished: false });
        await deleteKeys(
          s3,
          [...baseKeys, ...(await allKeys(s3, "s/.cnt/vm/100/"))].filter((key) => key.includes(baseRef.snapshotTime)),
        );
        removeMarkerCaches(cacheDir);
        const second = await runEngine(s3, server, { store: "s", cacheDir, now: new Date((now + 60) * 1000) });
        assert.equal(second.result, "succeeded", second.message);
        assert.equal(second.heldBack.runningBackupBase, 5, "the remembered base was marked");
        const remaining = await allKeys(s3, "s/.chunks/");
        for (const chunk of base) assert.ok(remaining.has(chunk.key), `${chunk.key} is the running backup's base`);
      } finally {
        s3.close();
      }
    });

    test(".in-use written while the run deletes: the next round deletes nothing, the run reports it", async () => {
      const s3 = await freshBucketContext(server, "inusemid");
      const proxy = await startFaultProxy(server.endpoint);
      try {
        const { report, rounds, garbage, deletesBefore, deletesAfter } = await runChangedBeforeSecondRound(
          s3,
          server,
          proxy,
          "inusemid",
          () => putObject(s3, inUseKey("s"), JSON.stringify({ hostname: "pbs-late" })),
        );
        assert.ok(rounds >= 3, `several rounds (${rounds})`);
        assert.ok(deletesBefore.length > 0, "the first round deleted");
        assert.equal(deletesAfter.length, 0, "nothing after attaching");
        assert.equal(report.result, "aborted", report.message);
        assert.match(report.message ?? "", /pbs-late/);
        assert.deepEqual(report.inUse, { host: "pbs-late", acknowledged: false });
        // As for a datastore attached from the start, the counters say what a run would remove; heldBack.inUse is
        // the part of it that was not deleted.
        const remaining = await allKeys(s3, "s/.chunks/");
        assert.equal(report.counters.removedChunks, garbage.length);
        assert.equal(report.heldBack.inUse, remaining.size, "what it would still delete is reported");
        assert.ok(remaining.size > 0 && remaining.size < garbage.length);
      } finally {
        await proxy.close();
        s3.close();
      }
    });

    test("recheck bookkeeping: indexes counted once, chunks listed before a recheck marked them are not missing", async () => {
      const s3 = await freshBucketContext(server, "recount");
      try {
        const upload = nowSeconds();
        const now = upload + 30 * HOUR;
        const [kept] = await putChunks(s3, "s", "kept", 1);
        const [reused] = await putChunks(s3, "s", "reused", 1);
        const garbage = await putChunks(s3, "s", "garbage", 4);
        // A digest referenced by the index but absent from the bucket: the one truly missing chunk.
        const absent: HandmadeChunk = { digest: createHash("sha256").update("absent").digest(), key: "" };
        const ref = snapshotRef("100", now - 40 * HOUR);
        await putSnapshot(s3, "s", ref, [kept!, absent], { finished: true });
        let rewritten = false;
        const report = await runEngine(
          s3,
          server,
          { store: "s", cacheDir: tempCacheDir("recount"), now: new Date(now * 1000), listConcurrency: 1 },
          {
            beforeRecheck: async () => {
              if (rewritten) return;
              rewritten = true;
              // The same index, rewritten mid-run (new ETag) to also reference a chunk already listed as garbage.
              await putSnapshot(s3, "s", ref, [kept!, absent, reused!], { finished: true });
            },
          },
        );
        assert.equal(report.result, "succeeded", report.message);
        assert.equal(report.counters.indexFileCount, 1, "the rewritten index counts once");
        assert.equal(report.counters.indexDataBytes, 2 * 4096, "with the size it had in phase 1");
        assert.equal(report.missingChunks, 1, "only the absent chunk is missing");
        assert.equal(report.heldBack.recheck, 1);
        const remaining = await allKeys(s3, "s/.chunks/");
        assert.ok(remaining.has(kept!.key) && remaining.has(reused!.key));
        for (const chunk of garbage) assert.ok(!remaining.has(chunk.key));
      } finally {
        s3.close();
      }
    });

    test(".in-use answering 404 while it is listed counts as attached: nothing is deleted", async () => {
      const s3 = await freshBucketContext(server, "inuse404");
      const proxy = await startFaultProxy(server.endpoint, {
        plan: (request) =>
          request.kind === "get" && request.key === inUseKey("s")
            ? { type: "status", status: 404, code: "NoSuchKey" }
            : undefined,
      });
      try {
        const upload = nowSeconds();
        await putChunks(s3, "s", "garbage", 5);
        await putObject(s3, inUseKey("s"), JSON.stringify({ hostname: "pbs-node-2" }));
        const before = await allKeys(s3);
        const report = await runEngine(
          s3,
          { ...server, endpoint: proxy.endpoint },
          { store: "s", cacheDir: tempCacheDir("inuse404"), now: new Date((upload + 30 * HOUR) * 1000) },
        );
        assert.ok((proxy.injectedByKind.get.status ?? 0) >= 1, "the 404 was injected");
        assert.equal(report.result, "aborted", report.message);
        assert.equal(report.inUse?.acknowledged, false);
        assert.equal(proxy.log.filter((entry) => entry.kind === "deleteObjects").length, 0);
        assert.deepEqual(await allKeys(s3), before);
      } finally {
        await proxy.close();
        s3.close();
      }
    });
  });
}
