import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  badChunkTime,
  chunkTime,
  computeCutoff,
  countKept,
  countRemoved,
  decide,
} from "../../../src/engine/classify.ts";
import { emptyCounters } from "../../../src/engine/counters.ts";

const DAY = 86_400;
const GRACE = DAY + 300;

describe("computeCutoff (PBS: min_atime = phase1 − grace, or oldest writer − 300 s)", () => {
  const cases = [
    { name: "no running backup", start: 10 * DAY, writer: undefined, minAtime: 10 * DAY - GRACE, oldest: 10 * DAY },
    {
      name: "writer newer than the cutoff",
      start: 10 * DAY,
      writer: 10 * DAY - 3600,
      minAtime: 10 * DAY - GRACE,
      oldest: 10 * DAY - 3600,
    },
    {
      name: "writer older than the cutoff",
      start: 10 * DAY,
      writer: 8 * DAY,
      minAtime: 8 * DAY - 300,
      oldest: 8 * DAY,
    },
    {
      name: "writer in the future counts as now",
      start: 10 * DAY,
      writer: 11 * DAY,
      minAtime: 10 * DAY - GRACE,
      oldest: 10 * DAY,
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.deepEqual(computeCutoff(c.start, GRACE, c.writer), { minAtime: c.minAtime, oldestWriter: c.oldest });
    });
  }
});

describe("computeCutoff keeps minAtime ≤ min(now − grace, oldest writer − 300 s) − |skew|", () => {
  test("a grace below 5 minutes without any writer still keeps the 300 s margin below now", () => {
    assert.deepEqual(computeCutoff(10 * DAY, 60, undefined), { minAtime: 10 * DAY - 300, oldestWriter: 10 * DAY });
  });
  test("a writer that started inside the grace window moves the cutoff to 300 s before its start", () => {
    const start = 10 * DAY;
    const writer = start - 100;
    assert.equal(computeCutoff(start, 200, writer).minAtime, writer - 300);
  });
  test("clock skew widens the cutoff by its magnitude, either sign, rounded up", () => {
    assert.equal(computeCutoff(10 * DAY, GRACE, undefined, 100.2).minAtime, 10 * DAY - GRACE - 101);
    assert.equal(computeCutoff(10 * DAY, GRACE, undefined, -100.2).minAtime, 10 * DAY - GRACE - 101);
    assert.equal(computeCutoff(10 * DAY, GRACE, 8 * DAY, -5).minAtime, 8 * DAY - 300 - 5);
  });
  test("property: for any inputs the bound holds and oldestWriter ≤ now", () => {
    let seed = 7;
    const next = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (let i = 0; i < 2000; i += 1) {
      const now = 1_000_000 + next(1_000_000);
      const grace = 60 + next(2 * DAY);
      const writer = next(3) === 0 ? undefined : now - next(3 * DAY) + next(600);
      const skew = next(500) - 250 + next(1000) / 1000;
      const { minAtime, oldestWriter } = computeCutoff(now, grace, writer, skew);
      const bound = Math.min(now - grace, Math.min(now, writer ?? now) - 300) - Math.abs(skew);
      assert.ok(minAtime <= bound, JSON.stringify({ now, grace, writer, skew, minAtime, bound }));
      assert.ok(oldestWriter <= now);
    }
  });
});

describe("decide", () => {
  const cutoff = { minAtime: 1000, oldestWriter: 2000 };
  for (const [time, expected] of [
    [0, "remove"],
    [999, "remove"],
    [1000, "pending"],
    [1999, "pending"],
    [2000, "keep"],
    [5000, "keep"],
  ] as const) {
    test(`time ${time} → ${expected}`, () => assert.equal(decide(time, cutoff), expected));
  }
});

describe("chunk times", () => {
  test("the latest evidence wins: mark, marker cache and LastModified", () => {
    assert.equal(chunkTime(0, 500), 500);
    assert.equal(chunkTime(900, 500), 900);
  });
  test("a .bad copy without a good copy keeps its data's time: this run's mark, the marker cache's, or its upload", () => {
    assert.equal(badChunkTime(9000, false, 100), 9000, "marked in this run");
    assert.equal(badChunkTime(5000, false, 100), 5000, "last marked in an earlier run (marker cache)");
    assert.equal(badChunkTime(0, false, 100), 100, "never marked: its upload");
    assert.equal(badChunkTime(9000, true, 100), 100, "a good copy is listed: the .bad copy ages from its upload");
  });
});

describe("counting like PBS", () => {
  test("kept and pending chunks; bad chunks add bytes only when in use", () => {
    const counters = emptyCounters();
    countKept(counters, "keep", false, 10);
    countKept(counters, "keep", true, 7);
    countKept(counters, "pending", false, 3);
    countKept(counters, "pending", true, 2);
    countRemoved(counters, false, 5);
    countRemoved(counters, true, 4);
    assert.deepEqual(counters, {
      indexFileCount: 0,
      indexDataBytes: 0,
      diskChunks: 1,
      diskBytes: 17,
      pendingChunks: 1,
      stillBad: 1,
      pendingBytes: 5,
      removedChunks: 1,
      removedBad: 1,
      removedBytes: 9,
    });
  });
});
