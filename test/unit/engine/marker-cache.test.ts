import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { MAX_LOAD_FACTOR, MarkTable } from "../../../src/engine/mark-table.ts";
import {
  type CacheIdentity,
  identityText,
  loadMarkerCache,
  MARKER_CACHE_FILE,
  MARKER_CACHE_FILE_V1,
  type MarkerCacheStatus,
  writeMarkerCache,
} from "../../../src/engine/marker-cache.ts";

const identity: CacheIdentity = { endpoint: "http://127.0.0.1:9000", bucket: "backups", store: "store1" };
const now = new Date("2025-06-01T12:00:00.000Z");

let root: string;
let counter = 0;
before(async () => {
  root = await mkdtemp(path.join(tmpdir(), "chunkgc-marker-cache-"));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function freshDir(): Promise<string> {
  counter += 1;
  return path.join(root, `case-${counter}`);
}

/** A table of `count` random digests with times 1000 + i % 100, plus the zero key. */
function filledTable(count: number): { table: MarkTable; digests: Buffer } {
  const digests = randomBytes(count * 32);
  const table = new MarkTable(count);
  for (let i = 0; i < count; i++) table.mark(digests, i * 32, 1000 + (i % 100));
  table.mark(new Uint8Array(32), 0, 1099);
  return { table, digests };
}

function snapshot(table: MarkTable): Map<string, number> {
  const entries = new Map<string, number>();
  table.forEach((key, time) => {
    entries.set(Buffer.from(key).toString("hex"), time);
  });
  return entries;
}

/**
 * A cache file in format version 1, as earlier releases wrote it: the same header with version 1 and record size 16,
 * records of 12 key bytes (the digest's first 12) and a u32 little-endian time, then the SHA-256 of all before.
 */
function versionOneFile(records: ReadonlyArray<{ digest: Uint8Array; time: number }>, minTime = 0): Buffer {
  const identityBytes = Buffer.from(identityText(identity), "utf8");
  const header = Buffer.alloc(40 + ((identityBytes.length + 7) & ~7));
  header.write("chunkgcM", 0, "latin1");
  header.writeUInt32LE(1, 8);
  header.writeUInt32LE(16, 12);
  header.writeBigUInt64LE(BigInt(records.length), 16);
  header.writeBigUInt64LE(BigInt(now.getTime()), 24);
  header.writeUInt32LE(minTime, 32);
  header.writeUInt32LE(identityBytes.length, 36);
  identityBytes.copy(header, 40);
  const body = Buffer.alloc(records.length * 16);
  records.forEach(({ digest, time }, i) => {
    body.set(digest.subarray(0, 12), i * 16);
    body.writeUInt32LE(time, i * 16 + 12);
  });
  const checksum = createHash("sha256").update(header).update(body).digest();
  return Buffer.concat([header, body, checksum]);
}

function assertState(status: MarkerCacheStatus, state: MarkerCacheStatus["state"], pattern?: RegExp): void {
  assert.equal(status.state, state, JSON.stringify(status));
  if (pattern && "reason" in status) assert.match(status.reason, pattern);
}

describe("marker cache", () => {
  it("is missing in an empty or absent directory", async () => {
    const table = new MarkTable();
    assertState(await loadMarkerCache(await freshDir(), identity, table), "missing");
    assert.equal(table.size, 0);
  });

  it("round-trips every entry with time ≥ minTime, and the file has the announced size", async () => {
    const dir = await freshDir();
    const { table } = filledTable(20_000);
    const written = await writeMarkerCache(dir, identity, table, { minTime: 1050, now });
    assert.equal(written.entries, table.countSince(1050));
    assert.equal((await stat(path.join(dir, MARKER_CACHE_FILE))).size, written.bytes);

    const loaded = new MarkTable();
    const status = await loadMarkerCache(dir, identity, loaded);
    assert.deepEqual(status, {
      state: "loaded",
      entries: written.entries,
      writtenAt: now.toISOString(),
      minTime: 1050,
    });
    const expected = new Map([...snapshot(table)].filter(([, time]) => time >= 1050));
    assert.deepEqual(snapshot(loaded), expected);
    assert.equal(loaded.timeOfHex("0".repeat(64)), 1099);
    assert.deepEqual(await readdir(dir), [MARKER_CACHE_FILE], "no temp file left");
  });

  it("loading into a non-empty table keeps the later time of each key", async () => {
    const dir = await freshDir();
    const digests = randomBytes(3 * 32);
    const table = new MarkTable();
    table.mark(digests, 0, 100);
    table.mark(digests, 32, 200);
    await writeMarkerCache(dir, identity, table, { minTime: 0, now });
    const target = new MarkTable();
    target.mark(digests, 0, 150);
    target.mark(digests, 32, 50);
    target.mark(digests, 64, 10);
    assertState(await loadMarkerCache(dir, identity, target), "loaded");
    assert.equal(target.timeOf(digests, 0), 150);
    assert.equal(target.timeOf(digests, 32), 200);
    assert.equal(target.timeOf(digests, 64), 10);
  });

  it("loading sizes the table for the cache's entries without headroom beyond a segment's variation", async () => {
    const dir = await freshDir();
    const { table } = filledTable(200_000);
    await writeMarkerCache(dir, identity, table, { minTime: 0, now });
    const loaded = new MarkTable(1 << 16);
    assertState(await loadMarkerCache(dir, identity, loaded), "loaded");
    assert.equal(loaded.size, table.size);
    assert.ok(loaded.capacity * MAX_LOAD_FACTOR >= loaded.size, "room for every entry");
    // Each segment takes its share plus four standard deviations (about 14 % at 200k entries), and nothing more:
    // the 1/8 of headroom once reserved here would show as ≥ 28 %.
    assert.ok(
      loaded.capacity <= (loaded.size / MAX_LOAD_FACTOR) * 1.2,
      `capacity ${loaded.capacity} for ${loaded.size} entries`,
    );
  });

  it("writes an empty table as a valid empty cache", async () => {
    const dir = await freshDir();
    const written = await writeMarkerCache(dir, identity, new MarkTable(), { minTime: 0, now });
    assert.equal(written.entries, 0);
    const status = await loadMarkerCache(dir, identity, new MarkTable());
    assert.equal(status.state, "loaded");
    assert.equal(status.state === "loaded" && status.entries, 0);
  });

  describe("format version 1 (earlier releases)", () => {
    const digests = randomBytes(3000 * 32);
    const records = Array.from({ length: 3000 }, (_, i) => ({
      digest: digests.subarray(i * 32, i * 32 + 32),
      time: 5000 + (i % 7),
    }));

    it("is loaded when no version 2 file exists: every digest keeps its time", async () => {
      const dir = await freshDir();
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, MARKER_CACHE_FILE_V1), versionOneFile(records, 4000));
      const table = new MarkTable();
      const status = await loadMarkerCache(dir, identity, table);
      assert.deepEqual(status, { state: "loaded", entries: 3000, writtenAt: now.toISOString(), minTime: 4000 });
      assert.equal(table.size, 3000);
      for (const { digest, time } of records) {
        if (table.timeOf(digest, 0) !== time) assert.fail(`${Buffer.from(digest).toString("hex")} lost its time`);
      }
    });

    it("the next write replaces it with a version 2 file holding the same times", async () => {
      const dir = await freshDir();
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, MARKER_CACHE_FILE_V1), versionOneFile(records));
      const table = new MarkTable();
      assertState(await loadMarkerCache(dir, identity, table), "loaded");
      await writeMarkerCache(dir, identity, table, { minTime: 0, now });
      assert.deepEqual(await readdir(dir), [MARKER_CACHE_FILE], "the version 1 file is gone");
      const header = await readFile(path.join(dir, MARKER_CACHE_FILE));
      assert.equal(header.readUInt32LE(8), 2, "version 2");
      assert.equal(header.readUInt32LE(12), 13, "13-byte records");
      const reloaded = new MarkTable();
      assertState(await loadMarkerCache(dir, identity, reloaded), "loaded");
      assert.deepEqual(snapshot(reloaded), snapshot(table));
    });

    it("is ignored once a version 2 file exists (the version 2 file is the newer)", async () => {
      const dir = await freshDir();
      const current = filledTable(100).table;
      await writeMarkerCache(dir, identity, current, { minTime: 0, now });
      await writeFile(path.join(dir, MARKER_CACHE_FILE_V1), versionOneFile(records));
      const table = new MarkTable();
      assertState(await loadMarkerCache(dir, identity, table), "loaded");
      assert.deepEqual(snapshot(table), snapshot(current));
    });

    it("damaged, it is corrupt (never missing) and leaves the table empty", async () => {
      const good = versionOneFile(records);
      const damaged: Array<[string, Buffer]> = [];
      const flipped = Buffer.from(good);
      flipped[good.length - 100]! ^= 0x01;
      damaged.push(["a flipped record byte", flipped]);
      damaged.push(["cut short", good.subarray(0, good.length - 16)]);
      const wrongSize = Buffer.from(good);
      wrongSize.writeUInt32LE(13, 12);
      damaged.push(["version 1 with 13-byte records", wrongSize]);
      const unknown = Buffer.from(good);
      unknown.writeUInt32LE(3, 8);
      damaged.push(["an unknown version", unknown]);
      for (const [what, bytes] of damaged) {
        const dir = await freshDir();
        await mkdir(dir, { recursive: true });
        await writeFile(path.join(dir, MARKER_CACHE_FILE_V1), bytes);
        const table = new MarkTable();
        const status = await loadMarkerCache(dir, identity, table);
        assert.equal(status.state, "corrupt", `${what}: ${JSON.stringify(status)}`);
        assert.equal(table.size, 0, what);
      }
    });

    it("a version 2 header announcing 16-byte records is corrupt", async () => {
      const dir = await freshDir();
      await writeMarkerCache(dir, identity, filledTable(100).table, { minTime: 0, now });
      const file = path.join(dir, MARKER_CACHE_FILE);
      const bytes = await readFile(file);
      bytes.writeUInt32LE(16, 12);
      await writeFile(file, bytes);
      assertState(await loadMarkerCache(dir, identity, new MarkTable()), "corrupt", /record size 16/);
    });
  });

  describe("damage is reported and leaves the table empty", () => {
    let dir: string;
    let good: Buffer;
    let table: MarkTable;
    before(async () => {
      dir = await freshDir();
      table = filledTable(5000).table;
      await writeMarkerCache(dir, identity, table, { minTime: 0, now });
      good = await readFile(path.join(dir, MARKER_CACHE_FILE));
    });

    async function loadDamaged(bytes: Uint8Array): Promise<MarkerCacheStatus> {
      await writeFile(path.join(dir, MARKER_CACHE_FILE), bytes);
      const target = new MarkTable();
      const status = await loadMarkerCache(dir, identity, target);
      assert.equal(target.size, 0, `table untouched for ${JSON.stringify(status)}`);
      return status;
    }

    it("a flipped byte anywhere (header, identity, records, checksum) is corrupt", async () => {
      // The identity starts at 40; records after the padded identity; the checksum is the last 32 bytes.
      const positions = [9, 20, 33, 45, good.length - 5000, good.length - 33, good.length - 1];
      for (const position of positions) {
        const bytes = Buffer.from(good);
        bytes[position]! ^= 0x01;
        const status = await loadDamaged(bytes);
        assert.equal(status.state, "corrupt", `byte ${position}: ${JSON.stringify(status)}`);
      }
    });

    it("a record byte flip is a checksum mismatch", async () => {
      const bytes = Buffer.from(good);
      bytes[good.length - 1000]! ^= 0x80;
      assertState(await loadDamaged(bytes), "corrupt", /checksum mismatch/);
    });

    it("truncation at any length is corrupt", async () => {
      for (const length of [0, 10, 39, 40, 100, good.length - 33, good.length - 32, good.length - 1]) {
        const status = await loadDamaged(good.subarray(0, length));
        assert.equal(status.state, "corrupt", `length ${length}`);
        assert.ok("reason" in status && /truncated/.test(status.reason), `${length}: ${JSON.stringify(status)}`);
      }
    });

    it("extra bytes are a wrong length", async () => {
      assertState(await loadDamaged(Buffer.concat([good, Buffer.alloc(16)])), "corrupt", /wrong length/);
    });

    it("a wrong magic is corrupt", async () => {
      const bytes = Buffer.from(good);
      bytes.write("PBSMARK!", 0, "latin1");
      assertState(await loadDamaged(bytes), "corrupt", /bad magic/);
    });

    it("a file of another identity is foreign", async () => {
      await writeFile(path.join(dir, MARKER_CACHE_FILE), good);
      for (const other of [
        { ...identity, bucket: "other" },
        { ...identity, store: "store2" },
        { ...identity, endpoint: "https://s3.example.com" },
      ]) {
        const target = new MarkTable();
        const status = await loadMarkerCache(dir, other, target);
        assertState(status, "foreign", /belongs to/);
        assert.ok("reason" in status && status.reason.includes(identityText(identity)));
        assert.equal(target.size, 0);
      }
      // A trailing slash on the endpoint is the same identity.
      const same = await loadMarkerCache(dir, { ...identity, endpoint: `${identity.endpoint}/` }, new MarkTable());
      assert.equal(same.state, "loaded");
    });

    it("a directory in place of the file is unreadable, reported as corrupt", async () => {
      const odd = await freshDir();
      await mkdir(path.join(odd, MARKER_CACHE_FILE), { recursive: true });
      assertState(await loadMarkerCache(odd, identity, new MarkTable()), "corrupt", /unreadable/);
    });
  });

  it("a temp file left by a killed writer does not disturb loading, and the next write removes it", async () => {
    const dir = await freshDir();
    const { table } = filledTable(1000);
    await writeMarkerCache(dir, identity, table, { minTime: 0, now });
    const before = await readFile(path.join(dir, MARKER_CACHE_FILE));

    // A "crash" mid-write: a partial temp file next to the complete old one.
    const partial = before.subarray(0, Math.floor(before.length / 2));
    const temp = path.join(dir, `${MARKER_CACHE_FILE}.tmp-12345-deadbeef0000`);
    await writeFile(temp, partial);
    const loaded = new MarkTable();
    assertState(await loadMarkerCache(dir, identity, loaded), "loaded");
    assert.deepEqual(snapshot(loaded), snapshot(table), "the old complete file is what loads");

    // The next write replaces the file and removes the stale temp.
    const next = filledTable(500).table;
    await writeMarkerCache(dir, identity, next, { minTime: 0, now });
    assert.deepEqual(await readdir(dir), [MARKER_CACHE_FILE]);
    const reloaded = new MarkTable();
    assertState(await loadMarkerCache(dir, identity, reloaded), "loaded");
    assert.deepEqual(snapshot(reloaded), snapshot(next));
  });

  it("a write that fails midway keeps the old file and leaves no temp file", async () => {
    const dir = await freshDir();
    const { table } = filledTable(200_000);
    await writeMarkerCache(dir, identity, table, { minTime: 0, now });
    const before = await readFile(path.join(dir, MARKER_CACHE_FILE));
    // A table that is modified between two exported pieces: the writer must give up after its first 1 MiB.
    class ChangingTable extends MarkTable {
      pieces = 0;
      override writeRecords(minTime: number, out: Uint8Array, from: number): { records: number; next: number } {
        this.pieces += 1;
        if (this.pieces === 2) this.mark(randomBytes(32), 0, 5);
        return super.writeRecords(minTime, out, from);
      }
    }
    const changing = new ChangingTable(200_000);
    table.forEach((key, time) => {
      changing.mark(key, 0, time);
    });
    await assert.rejects(writeMarkerCache(dir, identity, changing, { minTime: 0, now }), (error: Error) => {
      assert.equal(error.name, "MarkerCacheError");
      assert.match(error.message, /changed while the cache was written/);
      assert.ok(error.message.includes(path.join(dir, MARKER_CACHE_FILE)), error.message);
      return true;
    });
    assert.ok(changing.pieces >= 2);
    assert.deepEqual(await readFile(path.join(dir, MARKER_CACHE_FILE)), before);
    assert.deepEqual(await readdir(dir), [MARKER_CACHE_FILE]);
  });

  it("kill -9 at random moments during rewrites leaves a complete old or new file", async () => {
    const dir = await freshDir();
    const entries = 100_000;
    const writer = fileURLToPath(new URL("./marker-cache-crash-writer.ts", import.meta.url));
    for (let round = 0; round < 5; round++) {
      const child = spawn(process.execPath, [writer, dir, String(entries)], { stdio: ["ignore", "pipe", "inherit"] });
      let output = "";
      const firstGeneration = new Promise<void>((resolve) => {
        child.stdout.on("data", (chunk: Buffer) => {
          output += chunk.toString();
          if (output.includes("\n")) resolve();
        });
      });
      const exited = new Promise<NodeJS.Signals | null>((resolve) =>
        child.on("exit", (_code, signal) => resolve(signal)),
      );
      await firstGeneration;
      await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 400)));
      child.kill("SIGKILL");
      assert.equal(await exited, "SIGKILL", "the writer was killed, not finished");
      const completed = Math.max(...output.trim().split("\n").map(Number));

      const table = new MarkTable();
      const status = await loadMarkerCache(dir, { endpoint: "http://crash.test", bucket: "b", store: "s" }, table);
      assert.equal(status.state, "loaded", `round ${round}: ${JSON.stringify(status)}`);
      assert.equal(table.size, entries);
      const times = new Set<number>();
      table.forEach((_key, time) => {
        times.add(time);
      });
      assert.equal(times.size, 1, "one generation, never a mix");
      const [generation] = [...times];
      assert.ok(generation! >= completed, `generation ${generation} is at least the last completed ${completed}`);
    }
  });

  it("a file cut short (a torn write without the rename protocol) is corrupt, never partially loaded", async () => {
    const dir = await freshDir();
    const { table } = filledTable(3000);
    await writeMarkerCache(dir, identity, table, { minTime: 0, now });
    const file = path.join(dir, MARKER_CACHE_FILE);
    await truncate(file, (await stat(file)).size - 13 * 7);
    const target = new MarkTable();
    assertState(await loadMarkerCache(dir, identity, target), "corrupt", /truncated/);
    assert.equal(target.size, 0);
  });
});
