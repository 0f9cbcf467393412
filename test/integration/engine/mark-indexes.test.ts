/**
 * Marking against a real S3 server, driven directly: every digest of every listed index is marked with the phase-1
 * time and each index is counted once; the recheck marks only new or changed indexes, gives digests it marks first
 * one second more and counts nothing; a vanished index is noted, a corrupt one or one that reappears aborts the run.
 * The index cache serves unchanged indexes and remembers pruned dedup bases of running backups.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { writeDynamicIndex, writeFixedIndex } from "../../../src/datastore/index.ts";
import type { ListedIndex, ListedSnapshot } from "../../../src/engine/content-scan.ts";
import { emptyCounters } from "../../../src/engine/counters.ts";
import { SafetyAbortError } from "../../../src/engine/errors.ts";
import { IndexCache } from "../../../src/engine/index-cache.ts";
import {
  cachedSnapshots,
  type Marker,
  markIndexes,
  markPrunedBases,
  recheckMarkTime,
} from "../../../src/engine/mark.ts";
import { MarkTable } from "../../../src/engine/mark-table.ts";
import { deleteObject, listObjects, putObject, type S3Context } from "../../../src/s3/index.ts";
import { freshBucketContext, quietLog } from "../../support/engine.ts";
import { s3TestServers } from "../../support/s3-servers.ts";

const servers = await s3TestServers();
const STORE = "ds";
const MARK_TIME = 1_800_000_000;
const CHUNK = 4 * 1024 * 1024;

const digest = (label: string) => createHash("sha256").update(label).digest();
const hexOf = (label: string) => digest(label).toString("hex");
const digestsOf = (labels: string[]) => Buffer.concat(labels.map(digest));

const groupPath = "vm/100/";
const CONTENT = `${STORE}/.cnt/`;
const snapshotA = { time: "2026-01-01T00:00:00Z", epoch: 1_767_225_600 };
const snapshotB = { time: "2026-01-02T00:00:00Z", epoch: 1_767_312_000 };
const fidxKey = (time: string) => `${CONTENT}${groupPath}${time}/drive-scsi0.img.fidx`;
const didxKey = (time: string) => `${CONTENT}${groupPath}${time}/catalog.pcat1.didx`;

/** A fixed index over these digests: (n − 1) full chunks and one of 10 bytes. */
function fixedIndex(labels: string[]): Uint8Array {
  return writeFixedIndex({
    ctime: snapshotA.epoch,
    size: (labels.length - 1) * CHUNK + 10,
    chunkSize: CHUNK,
    digests: digestsOf(labels),
  });
}
function dynamicIndex(labels: string[]): Uint8Array {
  return writeDynamicIndex({
    ctime: snapshotA.epoch,
    entries: labels.map((label, i) => ({ end: (i + 1) * 1000, digest: digest(label) })),
  });
}

async function listed(s3: S3Context): Promise<ListedIndex[]> {
  const indexes: ListedIndex[] = [];
  for await (const object of listObjects(s3, { prefix: CONTENT })) {
    const kind = object.key.endsWith(".fidx") ? "fixed" : object.key.endsWith(".didx") ? "dynamic" : undefined;
    if (!kind) continue;
    const snapshotPath = object.key.slice(CONTENT.length, object.key.lastIndexOf("/") + 1);
    indexes.push({ key: object.key, etag: object.etag, size: object.size, kind, snapshotPath });
  }
  return indexes;
}

function snapshotsOf(indexes: ListedIndex[]): Map<string, ListedSnapshot> {
  const snapshots = new Map<string, ListedSnapshot>();
  for (const index of indexes) {
    const snapshotPath = index.snapshotPath!;
    const snapshotTime = snapshotPath.slice(groupPath.length, -1);
    snapshots.set(snapshotPath, {
      snapshotPath,
      groupPath,
      snapshotTime,
      epochSeconds: Date.parse(snapshotTime) / 1000,
      finished: true,
    });
  }
  return snapshots;
}

async function markerFor(s3: S3Context, cacheDir = mkdtempSync(path.join(tmpdir(), "chunkgc-mark-"))) {
  const { cache } = await IndexCache.open(cacheDir, { endpoint: "test", bucket: s3.bucket, store: STORE });
  const marker: Marker = {
    s3,
    store: STORE,
    table: new MarkTable(64),
    indexCache: cache,
    markTime: MARK_TIME,
    concurrency: 2,
    counters: emptyCounters(),
    stats: {
      indexesRead: 0,
      indexesDownloaded: 0,
      indexBytesDownloaded: 0,
      vanishedIndexes: 0,
      baseChunksFromCache: 0,
    },
    log: quietLog,
    marked: new Map(),
    vanished: new Set(),
  };
  return { marker, cacheDir };
}

for (const server of servers) {
  describe(`marking on ${server.name}`, () => {
    test("marks every digest with the phase-1 time and counts each index and its data once", async () => {
      const s3 = await freshBucketContext(server, "mark-all");
      try {
        const fidx = fixedIndex(["a", "b", "c"]);
        await putObject(s3, fidxKey(snapshotA.time), fidx);
        await putObject(s3, didxKey(snapshotA.time), dynamicIndex(["c", "d"]));
        const indexes = await listed(s3);
        const { marker } = await markerFor(s3);
        let done = 0;
        marker.onIndexDone = () => {
          done += 1;
        };
        await markIndexes(marker, indexes, snapshotsOf(indexes));
        for (const label of ["a", "b", "c", "d"]) assert.equal(marker.table.timeOfHex(hexOf(label)), MARK_TIME, label);
        assert.equal(marker.table.timeOfHex(hexOf("e")), 0);
        assert.equal(marker.table.size, 4);
        assert.equal(marker.counters.indexFileCount, 2);
        assert.equal(marker.counters.indexDataBytes, 2 * CHUNK + 10 + 2000);
        assert.equal(marker.stats.indexesRead, 2);
        assert.equal(marker.stats.indexesDownloaded, 2);
        assert.equal(
          marker.stats.indexBytesDownloaded,
          indexes.reduce((sum, index) => sum + index.size, 0),
        );
        assert.equal(done, 2);
        assert.deepEqual(new Map(marker.marked), new Map(indexes.map((index) => [index.key, index.etag])));

        // The same listing again in this run: nothing read, nothing counted twice.
        await markIndexes(marker, indexes, snapshotsOf(indexes));
        assert.equal(marker.stats.indexesRead, 2);
        assert.equal(marker.counters.indexFileCount, 2);
        assert.equal(done, 2);
      } finally {
        s3.close();
      }
    });

    test("the next run reads unchanged indexes from the cache; a changed one is downloaded again", async () => {
      const s3 = await freshBucketContext(server, "mark-cache");
      try {
        await putObject(s3, fidxKey(snapshotA.time), fixedIndex(["a", "b"]));
        await putObject(s3, fidxKey(snapshotB.time), fixedIndex(["b", "c"]));
        const first = await markerFor(s3);
        let indexes = await listed(s3);
        await markIndexes(first.marker, indexes, snapshotsOf(indexes));
        assert.equal(first.marker.stats.indexesDownloaded, 2);

        await putObject(s3, fidxKey(snapshotB.time), fixedIndex(["b", "c", "x"]));
        indexes = await listed(s3);
        const second = await markerFor(s3, first.cacheDir);
        await markIndexes(second.marker, indexes, snapshotsOf(indexes));
        assert.equal(second.marker.stats.indexesDownloaded, 1, "only the rewritten index");
        assert.equal(second.marker.stats.indexesRead, 2);
        assert.equal(second.marker.counters.indexFileCount, 2);
        assert.equal(second.marker.counters.indexDataBytes, CHUNK + 10 + (2 * CHUNK + 10));
        for (const label of ["a", "b", "c", "x"]) assert.equal(second.marker.table.timeOfHex(hexOf(label)), MARK_TIME);
      } finally {
        s3.close();
      }
    });

    test("the recheck marks only new or changed indexes, one second later, and counts nothing", async () => {
      const s3 = await freshBucketContext(server, "mark-recheck");
      try {
        await putObject(s3, fidxKey(snapshotA.time), fixedIndex(["a", "b"]));
        const { marker } = await markerFor(s3);
        let indexes = await listed(s3);
        await markIndexes(marker, indexes, snapshotsOf(indexes));
        const counters = { ...marker.counters };

        // A backup finished meanwhile (new index), and the old index was rewritten.
        await putObject(s3, fidxKey(snapshotB.time), fixedIndex(["b", "n"]));
        await putObject(s3, fidxKey(snapshotA.time), fixedIndex(["a", "b", "m"]));
        indexes = await listed(s3);
        await markIndexes(marker, indexes, snapshotsOf(indexes), { recheck: true });
        assert.equal(recheckMarkTime(MARK_TIME), MARK_TIME + 1);
        assert.equal(marker.table.timeOfHex(hexOf("a")), MARK_TIME, "marked in phase 1: keeps its time");
        assert.equal(marker.table.timeOfHex(hexOf("b")), MARK_TIME);
        assert.equal(marker.table.timeOfHex(hexOf("n")), MARK_TIME + 1, "first marked by the recheck");
        assert.equal(marker.table.timeOfHex(hexOf("m")), MARK_TIME + 1);
        assert.deepEqual(marker.counters, counters, "the PBS counters count phase 1 only");
        assert.equal(marker.stats.indexesRead, 3);
      } finally {
        s3.close();
      }
    });

    test("an index pruned between listing and reading is noted as vanished; listed again, it aborts", async () => {
      const s3 = await freshBucketContext(server, "mark-vanish");
      try {
        await putObject(s3, fidxKey(snapshotA.time), fixedIndex(["a"]));
        await putObject(s3, fidxKey(snapshotB.time), fixedIndex(["b"]));
        const indexes = await listed(s3);
        await deleteObject(s3, fidxKey(snapshotA.time));
        const { marker } = await markerFor(s3);
        await markIndexes(marker, indexes, snapshotsOf(indexes));
        assert.equal(marker.stats.vanishedIndexes, 1);
        assert.deepEqual([...marker.vanished], [fidxKey(snapshotA.time)]);
        assert.equal(marker.marked.has(fidxKey(snapshotA.time)), false);
        assert.equal(marker.table.timeOfHex(hexOf("a")), 0);
        assert.equal(marker.table.timeOfHex(hexOf("b")), MARK_TIME);
        assert.equal(marker.counters.indexFileCount, 1);

        await putObject(s3, fidxKey(snapshotA.time), fixedIndex(["a"]));
        const again = await listed(s3);
        await assert.rejects(
          markIndexes(marker, again, snapshotsOf(again), { recheck: true }),
          (error: unknown) =>
            error instanceof SafetyAbortError &&
            error.rule === "vanished-index-listed" &&
            error.message.includes(fidxKey(snapshotA.time)),
        );
      } finally {
        s3.close();
      }
    });

    test("a corrupt index aborts marking, naming it", async () => {
      const s3 = await freshBucketContext(server, "mark-corrupt");
      try {
        await putObject(s3, fidxKey(snapshotA.time), fixedIndex(["a"]));
        await putObject(s3, fidxKey(snapshotB.time), new TextEncoder().encode("not an index"));
        const indexes = await listed(s3);
        const { marker } = await markerFor(s3);
        await assert.rejects(
          markIndexes(marker, indexes, snapshotsOf(indexes)),
          (error: unknown) =>
            error instanceof SafetyAbortError &&
            error.rule === "corrupt-index" &&
            error.message.includes(fidxKey(snapshotB.time)),
        );
      } finally {
        s3.close();
      }
    });

    test("a pruned dedup base of a running backup is marked from the cache; listed bases are not", async () => {
      const s3 = await freshBucketContext(server, "mark-bases");
      try {
        await putObject(s3, fidxKey(snapshotA.time), fixedIndex(["base1", "base2"]));
        await putObject(s3, didxKey(snapshotA.time), dynamicIndex(["base3"]));
        await putObject(s3, fidxKey(snapshotB.time), fixedIndex(["other"]));
        const first = await markerFor(s3);
        const indexes = await listed(s3);
        await markIndexes(first.marker, indexes, snapshotsOf(indexes));

        // Next run: snapshot A was pruned; only the index cache remembers it.
        const second = await markerFor(s3, first.cacheDir);
        const known = cachedSnapshots(second.marker.indexCache, [groupPath]);
        assert.deepEqual(known.map((snapshot) => snapshot.snapshotPath).sort(), [
          `${groupPath}${snapshotA.time}/`,
          `${groupPath}${snapshotB.time}/`,
        ]);
        for (const snapshot of known) {
          assert.equal(snapshot.source, "cache");
          assert.equal(snapshot.finished, true);
          assert.equal(snapshot.groupPath, groupPath);
        }
        const baseA = known.find((snapshot) => snapshot.snapshotPath.includes(snapshotA.time))!;
        assert.equal(baseA.epochSeconds, snapshotA.epoch);
        await markPrunedBases(second.marker, [baseA, { ...baseA, snapshotPath: "listed/", source: "listing" }]);
        for (const label of ["base1", "base2", "base3"]) {
          assert.equal(second.marker.table.timeOfHex(hexOf(label)), MARK_TIME, label);
        }
        assert.equal(second.marker.table.timeOfHex(hexOf("other")), 0, "only the base's own indexes");
        assert.equal(second.marker.stats.baseChunksFromCache, 3);

        // During a recheck, a base's digests already marked keep their time; new ones get the recheck time.
        const third = await markerFor(s3, first.cacheDir);
        third.marker.table.markHex(hexOf("base1"), MARK_TIME);
        await markPrunedBases(third.marker, [baseA], { recheck: true });
        assert.equal(third.marker.table.timeOfHex(hexOf("base1")), MARK_TIME);
        assert.equal(third.marker.table.timeOfHex(hexOf("base2")), MARK_TIME + 1);
        assert.equal(third.marker.stats.baseChunksFromCache, 2);

        // A base that is still listed was marked with everything else: the cache is not asked for it.
        const listedBase = await markerFor(s3, first.cacheDir);
        await markPrunedBases(listedBase.marker, [{ ...baseA, source: "listing" }]);
        assert.equal(listedBase.marker.table.size, 0);
        assert.equal(listedBase.marker.stats.baseChunksFromCache, 0);

        // A damaged cached copy of a base is skipped (and reported), never trusted.
        const damaged = await markerFor(s3, first.cacheDir);
        await writeFile(damaged.marker.indexCache.fileOf(fidxKey(snapshotA.time)), "damaged");
        await markPrunedBases(damaged.marker, [baseA]);
        assert.equal(damaged.marker.table.timeOfHex(hexOf("base1")), 0);
        assert.equal(damaged.marker.table.timeOfHex(hexOf("base3")), MARK_TIME, "the base's other index still counts");
      } finally {
        s3.close();
      }
    });
  });
}
