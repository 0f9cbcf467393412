/**
 * Marking against an in-memory bucket: every digest of every listed index is marked and counted once; the recheck
 * marks only what is new or changed; an index that vanished is noted, one that stays listed yet unreadable, is
 * corrupt, or reappears aborts before anything could be deleted; pruned dedup bases come from the index cache.
 * The marker's S3 context throws on any use: marking must read through the bucket it is given.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { after, afterEach, describe, mock, test } from "node:test";
import pino from "pino";
import { writeDynamicIndex, writeFixedIndex } from "../../../src/datastore/index.ts";
import type { ListedIndex, ListedSnapshot } from "../../../src/engine/content-scan.ts";
import { emptyCounters, emptyMarkStats } from "../../../src/engine/counters.ts";
import { SafetyAbortError } from "../../../src/engine/errors.ts";
import { IndexCache, normalizeEtag } from "../../../src/engine/index-cache.ts";
import {
  cachedSnapshots,
  type Marker,
  markIndexes,
  markPrunedBases,
  recheckMarkTime,
  s3MarkObjects,
} from "../../../src/engine/mark.ts";
import { MarkTable } from "../../../src/engine/mark-table.ts";
import type { KnownSnapshot } from "../../../src/engine/writers.ts";
import { ObjectNotFoundError, type S3Context } from "../../../src/s3/index.ts";
import { MemoryBucket } from "./memory-bucket.ts";
import { connectionRefused, unreachableS3 } from "./unreachable-s3.ts";

const STORE = "ds";
const MARK_TIME = 1_800_000_000;
const CHUNK = 4 * 1024 * 1024;
const CONTENT = `${STORE}/.cnt/`;
const GROUP = "vm/100/";
const TIME_A = "2026-01-01T00:00:00Z";
const TIME_B = "2026-01-02T00:00:00Z";

const digest = (label: string) => createHash("sha256").update(label).digest();
const hexOf = (label: string) => digest(label).toString("hex");
const fidxKey = (time: string) => `${CONTENT}${GROUP}${time}/drive-scsi0.img.fidx`;
const didxKey = (time: string) => `${CONTENT}${GROUP}${time}/catalog.pcat1.didx`;

function fixedIndex(labels: string[]): Uint8Array {
  return writeFixedIndex({
    ctime: 1_767_225_600,
    size: (labels.length - 1) * CHUNK + 10,
    chunkSize: CHUNK,
    digests: Buffer.concat(labels.map(digest)),
  });
}

function dynamicIndex(labels: string[]): Uint8Array {
  return writeDynamicIndex({
    ctime: 1_767_225_600,
    entries: labels.map((label, i) => ({ end: (i + 1) * 1000, digest: digest(label) })),
  });
}

const noS3 = new Proxy({} as S3Context, {
  get(_target, property) {
    throw new Error(`marking must use the bucket it is given (touched s3.${String(property)})`);
  },
});

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
afterEach(() => mock.timers.reset());

const settle = async () => {
  for (let i = 0; i < 20; i += 1) await new Promise((resolve) => setImmediate(resolve));
};

/** A logger whose records the test reads back (level, message and fields, as pino writes them). */
function capturedLog() {
  const records: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      records.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level: "info" }, stream), records };
}

async function markerOver(bucket: MemoryBucket, overrides: Partial<Marker> = {}): Promise<Marker> {
  const dir = mkdtempSync(path.join(tmpdir(), "chunkgc-unit-mark-"));
  dirs.push(dir);
  const { cache } = await IndexCache.open(dir, { endpoint: "memory", bucket: "b", store: STORE });
  return {
    s3: noS3,
    objects: bucket,
    store: STORE,
    table: new MarkTable(64),
    indexCache: cache,
    markTime: MARK_TIME,
    concurrency: 2,
    counters: emptyCounters(),
    stats: emptyMarkStats(),
    log: pino({ level: "silent" }),
    marked: new Map(),
    vanished: new Set(),
    ...overrides,
  };
}

function listedOf(bucket: MemoryBucket): ListedIndex[] {
  return bucket.keys(CONTENT).flatMap((key): ListedIndex[] => {
    const kind = key.endsWith(".fidx") ? "fixed" : key.endsWith(".didx") ? "dynamic" : undefined;
    if (!kind) return [];
    const object = bucket.listed(key);
    const snapshotPath = key.slice(CONTENT.length, key.lastIndexOf("/") + 1);
    return [{ key, etag: object.etag, size: object.size, kind, snapshotPath }];
  });
}

function snapshotsOf(indexes: ListedIndex[], finished = true): Map<string, ListedSnapshot> {
  const snapshots = new Map<string, ListedSnapshot>();
  for (const index of indexes) {
    const snapshotPath = index.snapshotPath ?? "";
    const snapshotTime = snapshotPath.slice(GROUP.length, -1);
    snapshots.set(snapshotPath, {
      snapshotPath,
      groupPath: GROUP,
      snapshotTime,
      epochSeconds: Date.parse(snapshotTime) / 1000,
      finished,
    });
  }
  return snapshots;
}

describe("markIndexes over an in-memory bucket", () => {
  test("marks every digest with the phase-1 time; counts each index file and its data once", async () => {
    const bucket = new MemoryBucket();
    const fidx = fixedIndex(["a", "b", "c"]);
    const didx = dynamicIndex(["c", "d"]);
    bucket.add(fidxKey(TIME_A), fidx);
    bucket.add(didxKey(TIME_A), didx);
    const marker = await markerOver(bucket);
    let done = 0;
    marker.onIndexDone = () => {
      done += 1;
    };
    const indexes = listedOf(bucket);
    await markIndexes(marker, indexes, snapshotsOf(indexes));
    for (const label of ["a", "b", "c", "d"]) assert.equal(marker.table.timeOfHex(hexOf(label)), MARK_TIME, label);
    assert.equal(marker.table.timeOfHex(hexOf("e")), 0);
    assert.equal(done, 2);
    assert.equal(marker.counters.indexFileCount, 2);
    assert.equal(marker.stats.indexesRead, 2);
    assert.equal(marker.stats.indexesDownloaded, 2);
    assert.equal(marker.stats.indexBytesDownloaded, fidx.byteLength + didx.byteLength);
    assert.ok(marker.counters.indexDataBytes > 0);
    assert.deepEqual([...marker.marked.keys()].sort(), indexes.map((index) => index.key).sort());
    // Marking the same listing again reads nothing and counts nothing more.
    const gets = bucket.log.filter((entry) => entry.startsWith("get")).length;
    const bytes = marker.counters.indexDataBytes;
    await markIndexes(marker, indexes, snapshotsOf(indexes));
    assert.equal(bucket.log.filter((entry) => entry.startsWith("get")).length, gets);
    assert.equal(marker.counters.indexFileCount, 2);
    assert.equal(marker.counters.indexDataBytes, bytes);
  });

  test("the index data counted is the index's referenced data, as PBS counts it", async () => {
    const bucket = new MemoryBucket();
    bucket.add(fidxKey(TIME_A), fixedIndex(["a", "b"]));
    const marker = await markerOver(bucket);
    const indexes = listedOf(bucket);
    await markIndexes(marker, indexes, snapshotsOf(indexes));
    assert.equal(marker.counters.indexDataBytes, CHUNK + 10);
  });

  test("the next run reads unchanged indexes from the cache, a changed one again; the cache entry describes the snapshot", async () => {
    const bucket = new MemoryBucket();
    bucket.add(fidxKey(TIME_A), fixedIndex(["a"]));
    bucket.add(fidxKey(TIME_B), fixedIndex(["b"]));
    const first = await markerOver(bucket);
    let indexes = listedOf(bucket);
    await markIndexes(first, indexes, snapshotsOf(indexes, false));
    const entry = first.indexCache.entry(fidxKey(TIME_A));
    assert.equal(entry?.groupPath, GROUP);
    assert.equal(entry?.snapshotTime, TIME_A);
    assert.equal(entry?.epochSeconds, Date.parse(TIME_A) / 1000);
    assert.equal(entry?.finished, false);
    assert.equal(entry?.kind, "fixed");
    assert.equal(entry?.chunkCount, 1);
    assert.equal(entry?.etag, normalizeEtag(bucket.etagOf(fidxKey(TIME_A))));

    bucket.add(fidxKey(TIME_B), fixedIndex(["c"]));
    indexes = listedOf(bucket);
    const second = await markerOver(bucket, { indexCache: first.indexCache });
    const before = bucket.log.length;
    await markIndexes(second, indexes, snapshotsOf(indexes));
    assert.deepEqual(
      bucket.log.slice(before).filter((op) => op.startsWith("get")),
      [`get ${fidxKey(TIME_B)}`],
    );
    assert.equal(second.stats.indexesDownloaded, 1);
    assert.equal(second.stats.indexesRead, 2);
    assert.equal(second.counters.indexFileCount, 2);
    for (const label of ["a", "c"]) assert.equal(second.table.timeOfHex(hexOf(label)), MARK_TIME, label);
    assert.equal(second.table.timeOfHex(hexOf("b")), 0);
    // The cache hit learned that its snapshot finished.
    assert.equal(second.indexCache.entry(fidxKey(TIME_A))?.finished, true);
  });

  test("an index outside a snapshot directory is cached without snapshot fields", async () => {
    const bucket = new MemoryBucket();
    const key = `${CONTENT}stray.fidx`;
    bucket.add(key, fixedIndex(["a"]));
    const marker = await markerOver(bucket);
    const object = bucket.listed(key);
    await markIndexes(marker, [{ key, etag: object.etag, size: object.size, kind: "fixed" }], new Map());
    const entry = marker.indexCache.entry(key);
    assert.equal(entry?.groupPath, "");
    assert.equal(entry?.snapshotTime, "");
    assert.equal(entry?.epochSeconds, 0);
    assert.equal(entry?.finished, false);
    assert.equal(marker.table.timeOfHex(hexOf("a")), MARK_TIME);
  });

  test("an index read without an ETag is cached under the listed ETag", async () => {
    const bucket = new MemoryBucket();
    bucket.add(fidxKey(TIME_A), fixedIndex(["a"]));
    const indexes = listedOf(bucket);
    const stored = bucket.objects.get(fidxKey(TIME_A));
    assert.ok(stored);
    bucket.objects.set(fidxKey(TIME_A), { ...stored, etag: "" });
    const marker = await markerOver(bucket);
    await markIndexes(marker, indexes, snapshotsOf(indexes));
    assert.equal(marker.indexCache.entry(fidxKey(TIME_A))?.etag, normalizeEtag(indexes[0]?.etag ?? "?"));
  });

  test("the recheck marks only new or changed indexes, one second later, keeps phase-1 marks, counts nothing", async () => {
    const bucket = new MemoryBucket();
    bucket.add(fidxKey(TIME_A), fixedIndex(["a", "b"]));
    const marker = await markerOver(bucket);
    let indexes = listedOf(bucket);
    await markIndexes(marker, indexes, snapshotsOf(indexes));
    bucket.add(fidxKey(TIME_B), fixedIndex(["b", "c"]));
    indexes = listedOf(bucket);
    const before = bucket.log.length;
    await markIndexes(marker, indexes, snapshotsOf(indexes), { recheck: true });
    assert.deepEqual(
      bucket.log.slice(before).filter((op) => op.startsWith("get")),
      [`get ${fidxKey(TIME_B)}`],
    );
    assert.equal(marker.table.timeOfHex(hexOf("b")), MARK_TIME);
    assert.equal(marker.table.timeOfHex(hexOf("c")), recheckMarkTime(MARK_TIME));
    assert.equal(recheckMarkTime(MARK_TIME), MARK_TIME + 1);
    assert.equal(marker.counters.indexFileCount, 1);
    assert.equal(marker.stats.indexesRead, 2);
  });

  test("an index changed since phase 1 and read again by the recheck is not counted twice", async () => {
    const bucket = new MemoryBucket();
    bucket.add(fidxKey(TIME_A), fixedIndex(["a"]));
    const marker = await markerOver(bucket);
    let indexes = listedOf(bucket);
    await markIndexes(marker, indexes, snapshotsOf(indexes));
    bucket.add(fidxKey(TIME_A), fixedIndex(["a", "d"]));
    indexes = listedOf(bucket);
    await markIndexes(marker, indexes, snapshotsOf(indexes), { recheck: true });
    await markIndexes(marker, indexes, snapshotsOf(indexes));
    assert.equal(marker.counters.indexFileCount, 1);
    assert.equal(marker.table.timeOfHex(hexOf("d")), recheckMarkTime(MARK_TIME));
  });
});

describe("markIndexes: re-reads, cache hits and logs", () => {
  test("re-reads of a listed index that answers 404 wait 100 ms, then 200 ms, and log each attempt", async () => {
    const bucket = new MemoryBucket();
    bucket.add(fidxKey(TIME_A), fixedIndex(["a"]));
    const indexes = listedOf(bucket);
    const stale = staleReads(2);
    const readAt: number[] = [];
    bucket.before = (op, key) => {
      if (op === "get") readAt.push(performance.now());
      return stale(op, key);
    };
    const { log, records } = capturedLog();
    const marker = await markerOver(bucket, { log });
    await markIndexes(marker, indexes, snapshotsOf(indexes));
    assert.equal(readAt.length, 3);
    const [first = 0, second = 0, third = 0] = readAt;
    // Lower bounds only: a busy machine can make a wait longer, never shorter.
    assert.ok(second - first >= 95, `first wait ${second - first} ms`);
    assert.ok(third - second >= 195, `second wait ${third - second} ms`);
    const warnings = records.filter((record) => record.level === 40);
    assert.deepEqual(
      warnings.map((record) => [record.key, record.attempt]),
      [
        [fidxKey(TIME_A), 1],
        [fidxKey(TIME_A), 2],
      ],
    );
    for (const record of warnings) assert.match(String(record.msg), /404.*still listed/);
  });

  test("an interrupt during the wait before a re-read ends marking at once", { timeout: 10_000 }, async () => {
    // The 100 ms wait before a re-read never elapses on its own here: only the interrupt can end marking.
    mock.timers.enable({ apis: ["setTimeout"] });
    const bucket = new MemoryBucket();
    bucket.add(fidxKey(TIME_A), fixedIndex(["a"]));
    const indexes = listedOf(bucket);
    bucket.before = staleReads(Number.POSITIVE_INFINITY);
    const controller = new AbortController();
    const marker = await markerOver(bucket, { signal: controller.signal });
    const marking = markIndexes(marker, indexes, snapshotsOf(indexes)).then(
      () => "resolved",
      (error: unknown) => error,
    );
    await settle();
    controller.abort(new Error("SIGTERM"));
    const outcome = await marking;
    assert.ok(outcome instanceof Error, `marking ended: ${String(outcome)}`);
    assert.match(`${outcome.message} ${String(outcome.cause)}`, /SIGTERM|abort/i);
    assert.equal(bucket.log.filter((entry) => entry.startsWith("get")).length, 1);
  });

  test("a vanished index is logged with its key", async () => {
    const bucket = new MemoryBucket();
    bucket.add(fidxKey(TIME_A), fixedIndex(["a"]));
    const indexes = listedOf(bucket);
    bucket.objects.delete(fidxKey(TIME_A));
    const { log, records } = capturedLog();
    const marker = await markerOver(bucket, { log });
    await markIndexes(marker, indexes, snapshotsOf(indexes));
    assert.deepEqual(
      records.map((record) => [record.level, record.key]),
      [[40, fidxKey(TIME_A)]],
    );
    assert.match(String(records[0]?.msg), /vanished/);
  });

  test("a cached index outside any snapshot is served from the cache on the next run", async () => {
    const bucket = new MemoryBucket();
    const key = `${CONTENT}stray.fidx`;
    bucket.add(key, fixedIndex(["a"]));
    const object = bucket.listed(key);
    const listed: ListedIndex[] = [{ key, etag: object.etag, size: object.size, kind: "fixed" }];
    const first = await markerOver(bucket);
    await markIndexes(first, listed, new Map());
    const second = await markerOver(bucket, { indexCache: first.indexCache });
    await markIndexes(second, listed, new Map());
    assert.equal(second.stats.indexesDownloaded, 0);
    assert.equal(second.table.timeOfHex(hexOf("a")), MARK_TIME);
  });
});

describe("s3MarkObjects: the real bucket behind marking", () => {
  test("reads and listing checks go through the S3 client (here: nothing listening)", async () => {
    const s3 = unreachableS3();
    try {
      const objects = s3MarkObjects(s3);
      await assert.rejects(objects.get(fidxKey(TIME_A)), connectionRefused);
      await assert.rejects(objects.isListed(fidxKey(TIME_A)), connectionRefused);
      assert.equal(s3.counter.snapshot().total, 2);
    } finally {
      s3.close();
    }
  });
});

describe("markIndexes: what aborts the run", () => {
  test("an index pruned between listing and reading is noted as vanished; listed again later, it aborts", async () => {
    const bucket = new MemoryBucket();
    bucket.add(fidxKey(TIME_A), fixedIndex(["a"]));
    bucket.add(fidxKey(TIME_B), fixedIndex(["b"]));
    const indexes = listedOf(bucket);
    bucket.objects.delete(fidxKey(TIME_A));
    const marker = await markerOver(bucket);
    await markIndexes(marker, indexes, snapshotsOf(indexes));
    assert.deepEqual([...marker.vanished], [fidxKey(TIME_A)]);
    assert.equal(marker.stats.vanishedIndexes, 1);
    assert.equal(marker.marked.has(fidxKey(TIME_A)), false);
    assert.equal(marker.counters.indexFileCount, 1);
    assert.equal(marker.table.timeOfHex(hexOf("b")), MARK_TIME);
    bucket.add(fidxKey(TIME_A), fixedIndex(["a"]));
    const gets = bucket.log.length;
    await assert.rejects(
      markIndexes(marker, listedOf(bucket), snapshotsOf(indexes), { recheck: true }),
      (error: unknown) =>
        error instanceof SafetyAbortError &&
        error.rule === "vanished-index-listed" &&
        error.message.includes(fidxKey(TIME_A)),
    );
    assert.equal(bucket.log.length, gets, "nothing read once the listing contradicts a vanished index");
  });

  test("an index that answers 404 while still listed is read again, and marked once it answers", async () => {
    const bucket = new MemoryBucket();
    bucket.add(fidxKey(TIME_A), fixedIndex(["a"]));
    const indexes = listedOf(bucket);
    bucket.before = staleReads(2);
    const marker = await markerOver(bucket);
    await markIndexes(marker, indexes, snapshotsOf(indexes));
    assert.equal(bucket.log.filter((entry) => entry.startsWith("get")).length, 3);
    assert.equal(bucket.log.filter((entry) => entry.startsWith("isListed")).length, 2);
    assert.equal(marker.table.timeOfHex(hexOf("a")), MARK_TIME);
    assert.equal(marker.stats.vanishedIndexes, 0);
  });

  test("an index listed but answering 404 to every read aborts the run, naming it", async () => {
    const bucket = new MemoryBucket();
    bucket.add(fidxKey(TIME_A), fixedIndex(["a"]));
    const indexes = listedOf(bucket);
    bucket.before = staleReads(Number.POSITIVE_INFINITY);
    const marker = await markerOver(bucket);
    await assert.rejects(
      markIndexes(marker, indexes, snapshotsOf(indexes)),
      (error: unknown) =>
        error instanceof SafetyAbortError &&
        error.rule === "unreadable-index" &&
        error.message.includes(fidxKey(TIME_A)) &&
        error.message.includes("404") &&
        error.cause instanceof ObjectNotFoundError,
    );
    // The first read and three re-reads.
    assert.equal(bucket.log.filter((entry) => entry.startsWith("get")).length, 4);
    assert.equal(marker.vanished.size, 0);
    assert.equal(marker.marked.size, 0);
  });

  test("an index that cannot be read (403, a 500 past the retries) aborts the run instead of being skipped", async () => {
    const bucket = new MemoryBucket();
    bucket.add(fidxKey(TIME_A), fixedIndex(["a"]));
    bucket.add(fidxKey(TIME_B), fixedIndex(["b"]));
    const indexes = listedOf(bucket);
    bucket.before = (op, key) => {
      if (op === "get" && key === fidxKey(TIME_B))
        throw Object.assign(new Error("Access Denied"), { name: "AccessDenied" });
    };
    const marker = await markerOver(bucket, { concurrency: 1 });
    await assert.rejects(
      markIndexes(marker, indexes, snapshotsOf(indexes)),
      (error: unknown) =>
        error instanceof SafetyAbortError &&
        error.rule === "unreadable-index" &&
        error.message.includes(fidxKey(TIME_B)) &&
        error.message.includes("Access Denied") &&
        (error.cause as Error | undefined)?.name === "AccessDenied",
    );
    assert.equal(bucket.log.filter((entry) => entry.startsWith("isListed")).length, 0);
  });

  test("after one index fails, indexes not yet started are not read", async () => {
    const bucket = new MemoryBucket();
    for (const time of [TIME_A, TIME_B, "2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z"]) {
      bucket.add(fidxKey(time), fixedIndex([time]));
    }
    const indexes = listedOf(bucket);
    bucket.before = (op, key) => {
      if (op === "get" && key === fidxKey(TIME_A)) throw new Error("connection reset");
    };
    const marker = await markerOver(bucket, { concurrency: 1 });
    await assert.rejects(markIndexes(marker, indexes, snapshotsOf(indexes)), SafetyAbortError);
    await settle();
    assert.deepEqual(
      bucket.log.filter((entry) => entry.startsWith("get")),
      [`get ${fidxKey(TIME_A)}`],
    );
  });

  test("an interrupted read is passed on as the interrupt, not as an unreadable index", async () => {
    const bucket = new MemoryBucket();
    bucket.add(fidxKey(TIME_A), fixedIndex(["a"]));
    const indexes = listedOf(bucket);
    const controller = new AbortController();
    const interrupt = new Error("SIGTERM");
    bucket.before = (op) => {
      if (op === "get") {
        controller.abort(interrupt);
        throw interrupt;
      }
    };
    const marker = await markerOver(bucket, { signal: controller.signal });
    await assert.rejects(markIndexes(marker, indexes, snapshotsOf(indexes)), (error: unknown) => error === interrupt);
  });

  test("a corrupt index aborts marking, naming it; nothing of it is marked or cached", async () => {
    const bucket = new MemoryBucket();
    bucket.add(fidxKey(TIME_A), fixedIndex(["a"]).subarray(0, 100));
    const indexes = listedOf(bucket);
    const marker = await markerOver(bucket);
    await assert.rejects(
      markIndexes(marker, indexes, snapshotsOf(indexes)),
      (error: unknown) =>
        error instanceof SafetyAbortError &&
        error.rule === "corrupt-index" &&
        error.message.includes(fidxKey(TIME_A)) &&
        error.cause instanceof Error,
    );
    assert.equal(marker.indexCache.entry(fidxKey(TIME_A)), undefined);
    assert.equal(marker.marked.size, 0);
  });

  test("an index listed with the wrong kind is corrupt", async () => {
    const bucket = new MemoryBucket();
    bucket.add(fidxKey(TIME_A), dynamicIndex(["a"]));
    const indexes = listedOf(bucket);
    const marker = await markerOver(bucket);
    await assert.rejects(markIndexes(marker, indexes, snapshotsOf(indexes)), SafetyAbortError);
  });
});

/** A replica that answers 404 to the first `count` GETs of any key it still lists. */
function staleReads(count: number): MemoryBucket["before"] {
  let reads = 0;
  return (op, key) => {
    if (op === "get" && ++reads <= count) throw new ObjectNotFoundError(key);
  };
}

describe("markPrunedBases: dedup bases of running backups", () => {
  async function cachedBase(bucket: MemoryBucket, labels: string[]) {
    bucket.add(fidxKey(TIME_A), fixedIndex(labels));
    const seed = await markerOver(bucket);
    const indexes = listedOf(bucket);
    await markIndexes(seed, indexes, snapshotsOf(indexes));
    bucket.objects.delete(fidxKey(TIME_A));
    return seed.indexCache;
  }

  const base = (source: KnownSnapshot["source"]): KnownSnapshot => ({
    snapshotPath: `${GROUP}${TIME_A}/`,
    groupPath: GROUP,
    epochSeconds: Date.parse(TIME_A) / 1000,
    finished: true,
    source,
  });

  test("a pruned base known from the cache is marked from the cache, counted; a listed base is left alone", async () => {
    const bucket = new MemoryBucket();
    const indexCache = await cachedBase(bucket, ["a", "b"]);
    const listedMarker = await markerOver(bucket, { indexCache });
    await markPrunedBases(listedMarker, [base("listing")]);
    assert.equal(listedMarker.table.timeOfHex(hexOf("a")), 0);
    assert.equal(listedMarker.stats.baseChunksFromCache, 0);

    const marker = await markerOver(bucket, { indexCache });
    await markPrunedBases(marker, [base("cache")]);
    assert.equal(marker.table.timeOfHex(hexOf("a")), MARK_TIME);
    assert.equal(marker.table.timeOfHex(hexOf("b")), MARK_TIME);
    assert.equal(marker.stats.baseChunksFromCache, 2);
    assert.deepEqual(
      bucket.log.filter((entry) => entry.startsWith("get") && !entry.includes(TIME_A)),
      [],
    );
  });

  test("at a recheck, a base's digests already marked keep their time; new ones get the recheck time", async () => {
    const bucket = new MemoryBucket();
    const indexCache = await cachedBase(bucket, ["a", "b"]);
    const marker = await markerOver(bucket, { indexCache });
    marker.table.markHex(hexOf("a"), MARK_TIME);
    await markPrunedBases(marker, [base("cache")], { recheck: true });
    assert.equal(marker.table.timeOfHex(hexOf("a")), MARK_TIME);
    assert.equal(marker.table.timeOfHex(hexOf("b")), recheckMarkTime(MARK_TIME));
    assert.equal(marker.stats.baseChunksFromCache, 1);
  });

  test("a pruned base whose cached index is damaged is skipped with a warning naming it", async () => {
    const bucket = new MemoryBucket();
    const indexCache = await cachedBase(bucket, ["a"]);
    writeFileSync(indexCache.fileOf(fidxKey(TIME_A)), "damaged");
    const { log, records } = capturedLog();
    const marker = await markerOver(bucket, { indexCache, log });
    await markPrunedBases(marker, [base("cache")]);
    assert.equal(marker.table.timeOfHex(hexOf("a")), 0);
    assert.equal(marker.stats.baseChunksFromCache, 0);
    assert.deepEqual(
      records.map((record) => [record.level, record.key]),
      [[40, fidxKey(TIME_A)]],
    );
    assert.match(String(records[0]?.msg), /damaged/);
  });

  test("marking a pruned base is logged with its key", async () => {
    const bucket = new MemoryBucket();
    const indexCache = await cachedBase(bucket, ["a"]);
    const { log, records } = capturedLog();
    const marker = await markerOver(bucket, { indexCache, log });
    await markPrunedBases(marker, [base("cache")]);
    assert.deepEqual(
      records.map((record) => [record.level, record.key]),
      [[30, fidxKey(TIME_A)]],
    );
    assert.match(String(records[0]?.msg), /pruned snapshot/);
  });

  test("cachedSnapshots: one candidate per cached snapshot, from the cache, skipping entries without a snapshot", async () => {
    const bucket = new MemoryBucket();
    bucket.add(fidxKey(TIME_A), fixedIndex(["a"]));
    bucket.add(didxKey(TIME_A), dynamicIndex(["b"]));
    const seed = await markerOver(bucket);
    const indexes = listedOf(bucket);
    await markIndexes(seed, indexes, snapshotsOf(indexes, false));
    await seed.indexCache.store(
      {
        key: `${CONTENT}${GROUP}loose.fidx`,
        etag: "x",
        size: 1,
        groupPath: GROUP,
        snapshotTime: "",
        epochSeconds: 0,
        finished: false,
        kind: "fixed",
        indexBytes: 0,
        chunkCount: 1,
        lastSeenMs: 0,
      },
      new Uint8Array(32),
    );
    assert.deepEqual(cachedSnapshots(seed.indexCache, [GROUP]), [
      {
        snapshotPath: `${GROUP}${TIME_A}/`,
        groupPath: GROUP,
        epochSeconds: Date.parse(TIME_A) / 1000,
        finished: true,
        source: "cache",
      },
    ]);
  });

  test("only the base's own snapshot is marked, not the rest of its group", async () => {
    const bucket = new MemoryBucket();
    bucket.add(fidxKey(TIME_B), fixedIndex(["z"]));
    const indexCache = await cachedBase(bucket, ["a"]);
    const marker = await markerOver(bucket, { indexCache });
    await markPrunedBases(marker, [base("cache")]);
    assert.equal(marker.table.timeOfHex(hexOf("a")), MARK_TIME);
    assert.equal(marker.table.timeOfHex(hexOf("z")), 0);
  });
});
