import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import {
  INDEX_CATALOG_FILE,
  INDEX_DIR,
  IndexCache,
  type IndexCatalogEntry,
  normalizeEtag,
} from "../../../src/engine/index-cache.ts";
import type { CacheIdentity } from "../../../src/engine/marker-cache.ts";

const identity: CacheIdentity = { endpoint: "http://127.0.0.1:9000", bucket: "backups", store: "store1" };
const HOUR = 3_600_000;

let root: string;
let counter = 0;
before(async () => {
  root = await mkdtemp(path.join(tmpdir(), "chunkgc-index-cache-"));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

function freshDir(): string {
  counter += 1;
  return path.join(root, `case-${counter}`);
}

function entryFor(key: string, digests: Uint8Array, overrides: Partial<IndexCatalogEntry> = {}): IndexCatalogEntry {
  return {
    key,
    etag: '"0123456789abcdef"',
    size: 4096 + digests.length,
    groupPath: "store1/.cnt/vm/100/",
    snapshotTime: "2025-06-01T10:00:00Z",
    epochSeconds: 1_748_772_000,
    finished: true,
    kind: "fixed",
    indexBytes: (digests.length / 32) * 4 * 1024 * 1024,
    chunkCount: digests.length / 32,
    lastSeenMs: 1_000 * HOUR,
    ...overrides,
  };
}

async function allFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  const walk = async (folder: string) => {
    for (const item of await readdir(folder, { withFileTypes: true })) {
      const full = path.join(folder, item.name);
      if (item.isDirectory()) await walk(full);
      else files.push(path.relative(dir, full));
    }
  };
  await walk(dir);
  return files.sort();
}

describe("index cache", () => {
  it("normalizes ETags", () => {
    assert.equal(normalizeEtag('"abc"'), "abc");
    assert.equal(normalizeEtag("abc"), "abc");
    assert.equal(normalizeEtag('W/"abc"'), "abc");
    assert.equal(normalizeEtag('"abc-3"'), "abc-3");
  });

  it("opens an empty directory as missing, creating it", async () => {
    const dir = freshDir();
    const { cache, status } = await IndexCache.open(dir, identity);
    assert.equal(status, "missing");
    assert.equal(cache.size, 0);
    assert.ok((await stat(path.join(dir, INDEX_DIR))).isDirectory());
  });

  it("hits on key + ETag + size, misses on any difference, and counts both", async () => {
    const { cache } = await IndexCache.open(freshDir(), identity);
    const digests = new Uint8Array(randomBytes(32 * 100));
    const key = "store1/.cnt/vm/100/2025-06-01T10:00:00Z/drive-scsi0.img.fidx";
    const entry = entryFor(key, digests);
    assert.equal(await cache.lookup(key, entry.etag, entry.size), undefined, "nothing stored yet");
    await cache.store(entry, digests);
    assert.deepEqual(await cache.lookup(key, entry.etag, entry.size), digests);
    assert.deepEqual(await cache.lookup(key, "0123456789abcdef", entry.size), digests, "unquoted ETag is the same");
    assert.equal(await cache.lookup(key, '"ffff"', entry.size), undefined, "other ETag");
    assert.equal(await cache.lookup(key, entry.etag, entry.size + 32), undefined, "other size");
    assert.equal(await cache.lookup(`${key}x`, entry.etag, entry.size), undefined, "other key");
    assert.equal(await cache.lookup(key, "", entry.size), undefined, "an empty ETag never hits");
    assert.equal(cache.hits, 2);
    assert.equal(cache.misses, 5);
    assert.equal(cache.hitBytes, 2 * entry.size);
    assert.deepEqual(cache.entry(key), { ...entry, etag: "0123456789abcdef" });
  });

  it("an empty index (no chunks) round-trips", async () => {
    const { cache } = await IndexCache.open(freshDir(), identity);
    const key = "store1/.cnt/host/a/2025-06-01T10:00:00Z/empty.didx";
    await cache.store(entryFor(key, new Uint8Array(0), { kind: "dynamic" }), new Uint8Array(0));
    const found = await cache.lookup(key, '"0123456789abcdef"', 4096);
    assert.ok(found);
    assert.equal(found.length, 0);
  });

  it("a damaged index file is a miss and is deleted", async () => {
    const dir = freshDir();
    const { cache } = await IndexCache.open(dir, identity);
    const digests = new Uint8Array(randomBytes(32 * 50));
    const key = "store1/.cnt/vm/100/2025-06-01T10:00:00Z/drive.img.fidx";
    const entry = entryFor(key, digests);
    await cache.store(entry, digests);
    const file = cache.fileOf(key);
    const good = await readFile(file);
    const damages: Array<[string, Buffer]> = [
      ["flipped digest byte", Buffer.from(good)],
      ["truncated", good.subarray(0, good.length - 1)],
      ["bad magic", Buffer.from(good)],
      ["empty", Buffer.alloc(0)],
    ];
    damages[0]![1][good.length - 100]! ^= 0x01;
    damages[2]![1][0] = 0x00;
    for (const [name, bytes] of damages) {
      await writeFile(file, bytes);
      const before = cache.misses;
      assert.equal(await cache.lookup(key, entry.etag, entry.size), undefined, name);
      assert.equal(cache.misses, before + 1, name);
      await assert.rejects(stat(file), { code: "ENOENT" }, `${name}: the damaged file is deleted`);
    }
    assert.equal(cache.damaged, damages.length);
    // Storing again repairs it.
    await cache.store(entry, digests);
    assert.deepEqual(await cache.lookup(key, entry.etag, entry.size), digests);
  });

  it("rejects digests that are not whole 32-byte digests", async () => {
    const { cache } = await IndexCache.open(freshDir(), identity);
    await assert.rejects(cache.store(entryFor("k", new Uint8Array(32)), new Uint8Array(33)), RangeError);
  });

  it("the catalog survives a reopen, with touched fields and groups", async () => {
    const dir = freshDir();
    const { cache } = await IndexCache.open(dir, identity);
    const a = new Uint8Array(randomBytes(32 * 3));
    const b = new Uint8Array(randomBytes(32 * 4));
    const c = new Uint8Array(randomBytes(32 * 5));
    const keyA = "store1/.cnt/vm/100/2025-06-01T10:00:00Z/a.fidx";
    const keyB = "store1/.cnt/vm/100/2025-06-02T10:00:00Z/a.fidx";
    const keyC = "store1/.cnt/ns/x/ct/7/2025-06-02T10:00:00Z/root.pxar.didx";
    await cache.store(entryFor(keyA, a), a);
    await cache.store(entryFor(keyB, b, { finished: false, snapshotTime: "2025-06-02T10:00:00Z" }), b);
    await cache.store(entryFor(keyC, c, { groupPath: "store1/.cnt/ns/x/ct/7/", kind: "dynamic" }), c);
    assert.equal(cache.touch(keyB, { finished: true, lastSeenMs: 1_001 * HOUR }), true);
    assert.equal(cache.touch("store1/.cnt/unknown", { finished: true }), false);
    assert.equal(cache.touch(keyA, { finished: undefined, key: "other" }), true, "undefined fields and key ignored");
    assert.equal(cache.entry(keyA)?.finished, true);
    assert.throws(() => cache.touch(keyA, { lastSeenMs: Number.NaN }), RangeError);
    await cache.save({ nowMs: 1_001 * HOUR, retainUnseenMs: 24 * HOUR });

    const reopened = await IndexCache.open(dir, identity);
    assert.equal(reopened.status, "loaded");
    const again = reopened.cache;
    assert.equal(again.size, 3);
    assert.deepEqual(
      again
        .entriesOfGroup("store1/.cnt/vm/100/")
        .map((entry) => entry.key)
        .sort(),
      [keyA, keyB],
    );
    assert.deepEqual(
      again.entriesOfGroup("store1/.cnt/ns/x/ct/7/").map((entry) => entry.key),
      [keyC],
    );
    assert.deepEqual(again.entriesOfGroup("store1/.cnt/vm/999/"), []);
    assert.equal(again.entry(keyB)?.finished, true);
    assert.equal(again.entry(keyB)?.lastSeenMs, 1_001 * HOUR);
    assert.deepEqual(again.entry(keyC), {
      ...entryFor(keyC, c, { groupPath: "store1/.cnt/ns/x/ct/7/", kind: "dynamic" }),
      etag: "0123456789abcdef",
    });
    assert.deepEqual(await again.lookup(keyC, '"0123456789abcdef"', 4096 + c.length), c);
  });

  it("retention drops entries unseen for too long and deletes their files; orphans and temps go too", async () => {
    const dir = freshDir();
    const { cache } = await IndexCache.open(dir, identity);
    const fresh = new Uint8Array(randomBytes(64));
    const stale = new Uint8Array(randomBytes(96));
    const keyFresh = "store1/.cnt/vm/1/2025-06-03T00:00:00Z/a.fidx";
    const keyStale = "store1/.cnt/vm/1/2025-05-01T00:00:00Z/a.fidx";
    await cache.store(entryFor(keyFresh, fresh, { lastSeenMs: 100 * HOUR }), fresh);
    await cache.store(entryFor(keyStale, stale, { lastSeenMs: 40 * HOUR }), stale);
    // Leftovers: an orphan index file, a temp file of a killed store, a catalog temp.
    const orphanFolder = path.join(dir, INDEX_DIR, "zz");
    await mkdir(orphanFolder, { recursive: true });
    await writeFile(path.join(orphanFolder, "orphan.idx"), "x");
    await writeFile(`${cache.fileOf(keyFresh)}.tmp-1-abc`, "partial");
    await writeFile(path.join(dir, `${INDEX_CATALOG_FILE}.tmp-1-abc`), "partial");

    const result = await cache.save({ nowMs: 100 * HOUR, retainUnseenMs: 48 * HOUR });
    assert.deepEqual(result, { dropped: 1, orphansRemoved: 2 });
    assert.equal(cache.entry(keyStale), undefined);
    assert.deepEqual(
      cache.entriesOfGroup("store1/.cnt/vm/100/").map((entry) => entry.key),
      [keyFresh],
    );
    const files = await allFiles(dir);
    assert.deepEqual(files, [INDEX_CATALOG_FILE, path.relative(dir, cache.fileOf(keyFresh))].sort());

    const { cache: again } = await IndexCache.open(dir, identity);
    assert.equal(again.size, 1);
    assert.equal(again.entry(keyStale), undefined);
    assert.equal(await again.lookup(keyStale, '"0123456789abcdef"', 4096 + stale.length), undefined);
    assert.deepEqual(await again.lookup(keyFresh, '"0123456789abcdef"', 4096 + fresh.length), fresh);
  });

  it("a corrupt catalog is reported; valid index files still hit and restore their entries", async () => {
    const dir = freshDir();
    const { cache } = await IndexCache.open(dir, identity);
    const digests = new Uint8Array(randomBytes(32 * 7));
    const key = "store1/.cnt/vm/5/2025-06-01T00:00:00Z/a.fidx";
    const entry = entryFor(key, digests);
    await cache.store(entry, digests);
    await cache.save({ nowMs: entry.lastSeenMs, retainUnseenMs: HOUR });
    const catalog = path.join(dir, INDEX_CATALOG_FILE);
    const good = await readFile(catalog, "utf8");

    const damaged = [
      ["flipped value", good.replace('"finished":true', '"finished":false')],
      ["truncated", good.slice(0, good.length - 20)],
      ["no checksum line", good.split("\n").slice(0, 2).join("\n")],
      ["not JSON", "garbage\n"],
      ["empty", ""],
    ] as const;
    for (const [name, text] of damaged) {
      await writeFile(catalog, text);
      const opened = await IndexCache.open(dir, identity);
      assert.equal(opened.status, "corrupt", name);
      assert.match(opened.reason ?? "", /rebuilt 1 entries from index files/, name);
      assert.equal(opened.rebuilt, 1, name);
      assert.deepEqual(opened.cache.entry(key), { ...entry, etag: "0123456789abcdef" }, `${name}: entry rebuilt`);
      assert.deepEqual(await opened.cache.lookup(key, entry.etag, entry.size), digests, name);
    }
  });

  it("a lost catalog is rebuilt from the index files, pruned snapshots included", async () => {
    const dir = freshDir();
    const { cache } = await IndexCache.open(dir, identity);
    const stored: IndexCatalogEntry[] = [];
    for (let i = 0; i < 20; i++) {
      const digests = new Uint8Array(randomBytes(32 * (i + 1)));
      const entry = entryFor(`store1/.cnt/vm/9/2025-06-${String(i + 1).padStart(2, "0")}T00:00:00Z/a.fidx`, digests);
      await cache.store(entry, digests);
      stored.push({ ...entry, etag: "0123456789abcdef" });
    }
    await cache.save({ nowMs: stored[0]!.lastSeenMs, retainUnseenMs: HOUR });
    // A stray file that is not an index file, and a valid one of another identity, are not adopted.
    const otherIdentity = (await IndexCache.open(freshDir(), { ...identity, store: "other" })).cache;
    const strayKey = "store1/.cnt/vm/9/2025-07-01T00:00:00Z/a.fidx";
    await otherIdentity.store(entryFor(strayKey, new Uint8Array(32)), new Uint8Array(32));
    const strayFile = path.join(dir, INDEX_DIR, "ab", path.basename(otherIdentity.fileOf(strayKey)));
    await mkdir(path.dirname(strayFile), { recursive: true });
    await writeFile(strayFile, await readFile(otherIdentity.fileOf(strayKey)));
    await writeFile(path.join(dir, INDEX_DIR, "ab", "junk.idx"), "junk");
    await rm(path.join(dir, INDEX_CATALOG_FILE));

    const opened = await IndexCache.open(dir, identity);
    assert.equal(opened.status, "missing");
    assert.equal(opened.rebuilt, 20);
    const rebuilt = opened.cache.entriesOfGroup("store1/.cnt/vm/100/").sort((a, b) => a.key.localeCompare(b.key));
    assert.deepEqual(rebuilt, stored);
    assert.equal(opened.cache.entry(strayKey), undefined);
  });

  it("a foreign catalog is reported and its index files are never hits, then removed on save", async () => {
    const dir = freshDir();
    const { cache } = await IndexCache.open(dir, identity);
    const digests = new Uint8Array(randomBytes(32 * 2));
    const key = "store1/.cnt/vm/5/2025-06-01T00:00:00Z/a.fidx";
    const entry = entryFor(key, digests);
    await cache.store(entry, digests);
    await cache.save({ nowMs: entry.lastSeenMs, retainUnseenMs: HOUR });

    const other = { ...identity, bucket: "other-bucket" };
    const opened = await IndexCache.open(dir, other);
    assert.equal(opened.status, "foreign");
    assert.equal(opened.rebuilt, 0);
    assert.match(opened.reason ?? "", /belongs to/);
    assert.equal(opened.cache.size, 0);
    assert.equal(await opened.cache.lookup(key, entry.etag, entry.size), undefined);
    await opened.cache.save({ nowMs: entry.lastSeenMs, retainUnseenMs: HOUR });
    assert.deepEqual(await allFiles(dir), [INDEX_CATALOG_FILE]);
    assert.equal((await IndexCache.open(dir, other)).status, "loaded");
  });

  it("many entries round-trip through the catalog", async () => {
    const dir = freshDir();
    const { cache } = await IndexCache.open(dir, identity);
    const digests = new Uint8Array(32);
    const count = 2000;
    const workers = Array.from({ length: 16 }, async (_, worker) => {
      for (let i = worker; i < count; i += 16) {
        const key = `store1/.cnt/vm/${i % 50}/2025-06-01T00:00:${String(i % 60).padStart(2, "0")}Z/${i}.fidx`;
        await cache.store(entryFor(key, digests, { groupPath: `store1/.cnt/vm/${i % 50}/`, lastSeenMs: i }), digests);
      }
    });
    await Promise.all(workers);
    await cache.save({ nowMs: count, retainUnseenMs: 10_000 });
    const { cache: again, status } = await IndexCache.open(dir, identity);
    assert.equal(status, "loaded");
    assert.equal(again.size, count);
    assert.equal(again.entriesOfGroup("store1/.cnt/vm/7/").length, count / 50);
    assert.deepEqual([...again.entries()], [...cache.entries()]);
  });
});
