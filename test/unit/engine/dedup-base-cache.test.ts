import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { IndexCache } from "../../../src/engine/index-cache.ts";
import { cachedSnapshots } from "../../../src/engine/mark.ts";
import { dedupBases } from "../../../src/engine/writers.ts";

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
const HOUR = 3600;
const now = 2_000_000_000;
const group = "vm/100/";

async function cacheWith(entries: { snapshotTime: string; epochSeconds: number; finished: boolean }[]) {
  const dir = mkdtempSync(join(tmpdir(), "chunkgc-unit-dedup-"));
  dirs.push(dir);
  const { cache } = await IndexCache.open(dir, { endpoint: "http://s3", bucket: "b", store: "s" });
  for (const entry of entries) {
    await cache.store(
      {
        key: `s/.cnt/${group}${entry.snapshotTime}/drive.fidx`,
        etag: entry.snapshotTime,
        size: 100,
        groupPath: group,
        snapshotTime: entry.snapshotTime,
        epochSeconds: entry.epochSeconds,
        finished: entry.finished,
        kind: "fixed",
        indexBytes: 4096,
        chunkCount: 1,
        lastSeenMs: 0,
      },
      new Uint8Array(32).fill(7),
    );
  }
  return cache;
}

describe("dedup bases remembered by the index cache", () => {
  test("a pruned snapshot cached while it was still running is a base candidate (its flag is stale)", async () => {
    // Cached as running (no manifest yet); it finished later, became the base of the running backup, was pruned.
    const cache = await cacheWith([{ snapshotTime: "base", epochSeconds: now - 30 * HOUR, finished: false }]);
    const running = [
      {
        snapshotPath: `${group}run/`,
        groupPath: group,
        snapshotTime: "run",
        epochSeconds: now - HOUR,
        finished: false,
      },
    ];
    const remembered = cachedSnapshots(cache, [group]);
    assert.equal(remembered.length, 1);
    const bases = dedupBases(running, remembered);
    assert.deepEqual(
      bases.map((base) => base.snapshotPath),
      [`${group}base/`],
    );
  });

  test("the newest remembered snapshot older than the writer wins, whatever the flags say", async () => {
    const cache = await cacheWith([
      { snapshotTime: "old", epochSeconds: now - 50 * HOUR, finished: true },
      { snapshotTime: "newer", epochSeconds: now - 20 * HOUR, finished: false },
      { snapshotTime: "after", epochSeconds: now, finished: true },
    ]);
    const running = [
      {
        snapshotPath: `${group}run/`,
        groupPath: group,
        snapshotTime: "run",
        epochSeconds: now - HOUR,
        finished: false,
      },
    ];
    const bases = dedupBases(running, cachedSnapshots(cache, [group]));
    assert.deepEqual(
      bases.map((base) => base.snapshotPath),
      [`${group}newer/`],
    );
  });
});
