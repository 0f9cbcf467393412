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
  test("a .bad copy is fresh only while referenced and without a good copy", () => {
    assert.equal(badChunkTime(true, false, 9000, 100), 9000);
    assert.equal(badChunkTime(true, true, 9000, 100), 100);
    assert.equal(badChunkTime(false, false, 9000, 100), 100);
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
