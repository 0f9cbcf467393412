import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ListedSnapshot } from "../../../src/engine/content-scan.ts";
import { analyzeWriters, dedupBases, type KnownSnapshot } from "../../../src/engine/writers.ts";

const HOUR = 3600;
const snap = (group: string, epochSeconds: number, finished: boolean): ListedSnapshot => ({
  snapshotPath: `${group}${epochSeconds}/`,
  groupPath: group,
  snapshotTime: String(epochSeconds),
  epochSeconds,
  finished,
});
const known = (s: ListedSnapshot, source: "listing" | "cache" = "listing"): KnownSnapshot => ({ ...s, source });

describe("analyzeWriters", () => {
  const now = 100 * HOUR;
  test("manifest-less snapshots younger than the maximum run; older ones are abandoned", () => {
    const result = analyzeWriters(
      [
        snap("vm/1/", now - HOUR, false),
        snap("vm/2/", now - 47 * HOUR, false),
        snap("vm/3/", now - 49 * HOUR, false),
        snap("vm/4/", now - 99 * HOUR, true),
      ],
      now,
      48 * HOUR,
    );
    assert.deepEqual(
      result.running.map((s) => s.groupPath),
      ["vm/1/", "vm/2/"],
    );
    assert.deepEqual(
      result.abandoned.map((s) => s.groupPath),
      ["vm/3/"],
    );
    assert.equal(result.oldestRunningStart, now - 47 * HOUR);
  });
  test("no running backup, no oldest writer", () => {
    assert.equal(analyzeWriters([snap("vm/1/", 5, true)], now, 48 * HOUR).oldestRunningStart, undefined);
  });
});

describe("dedupBases", () => {
  test("the newest finished snapshot of the group older than the writer, from the listing or the cache", () => {
    const writer = snap("vm/1/", 1000, false);
    const bases = dedupBases(
      [writer],
      [
        known(snap("vm/1/", 500, true)),
        known(snap("vm/1/", 900, true), "cache"),
        known(snap("vm/1/", 950, false)),
        known(snap("vm/1/", 1100, true)),
        known(snap("vm/2/", 990, true)),
      ],
    );
    assert.deepEqual(
      bases.map((b) => [b.groupPath, b.epochSeconds, b.source]),
      [["vm/1/", 900, "cache"]],
    );
  });
  test("no base without an older finished snapshot", () => {
    assert.deepEqual(dedupBases([snap("ct/7/", 10, false)], [known(snap("ct/7/", 20, true))]), []);
  });
});
