/**
 * The classification at its edges, one effect at a time: each assertion isolates a single rule, so that breaking the
 * rule changes the outcome (a combined fixture can hide a flipped condition behind another case's count).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  badChunkTime,
  chunkTime,
  computeCutoff,
  countKept,
  countRemoved,
  decide,
  WRITER_MARGIN_SECONDS,
} from "../../../src/engine/classify.ts";
import { emptyCounters } from "../../../src/engine/counters.ts";

describe("cutoff edges", () => {
  test("the writer margin is PBS's five minutes", () => assert.equal(WRITER_MARGIN_SECONDS, 300));
  test("a writer exactly at now − grace moves min_atime to 300 s before it", () => {
    assert.deepEqual(computeCutoff(10_000, 1_000, 9_000), { minAtime: 8_700, oldestWriter: 9_000 });
  });
  test("a writer exactly at now counts as now", () => {
    assert.deepEqual(computeCutoff(10_000, 1_000, 10_000), { minAtime: 9_000, oldestWriter: 10_000 });
  });
  test("a grace of exactly 300 s and no writer: now − 300", () => {
    assert.deepEqual(computeCutoff(10_000, 300, undefined), { minAtime: 9_700, oldestWriter: 10_000 });
  });
  test("skew below a second still widens the cutoff by a whole second", () => {
    assert.equal(computeCutoff(10_000, 1_000, undefined, 0.001).minAtime, 8_999);
    assert.equal(computeCutoff(10_000, 1_000, undefined, 0).minAtime, 9_000);
  });
});

describe("decision edges", () => {
  const cutoff = { minAtime: 100, oldestWriter: 200 };
  test("one second before min_atime is removed; min_atime itself is pending", () => {
    assert.equal(decide(99, cutoff), "remove");
    assert.equal(decide(100, cutoff), "pending");
  });
  test("one second before the oldest writer is pending; the writer's start itself is in use", () => {
    assert.equal(decide(199, cutoff), "pending");
    assert.equal(decide(200, cutoff), "keep");
  });
  test("with min_atime = oldest writer nothing is pending", () => {
    const tight = { minAtime: 150, oldestWriter: 150 };
    assert.equal(decide(149, tight), "remove");
    assert.equal(decide(150, tight), "keep");
  });
});

describe("time edges", () => {
  test("a chunk's time is the later of its mark and its upload, whichever it is", () => {
    assert.equal(chunkTime(500, 500), 500);
    assert.equal(chunkTime(501, 500), 501);
    assert.equal(chunkTime(499, 500), 500);
  });
  test("a .bad copy without good copy takes the later of its mark and its upload", () => {
    assert.equal(badChunkTime(9_000, false, 9_500), 9_500);
    assert.equal(badChunkTime(9_000, false, 100), 9_000);
  });
  test("a .bad copy with a good copy ages from its upload, however recent its mark", () => {
    assert.equal(badChunkTime(9_000, true, 100), 100);
  });
});

describe("counting, one object at a time", () => {
  const only = (apply: (counters: ReturnType<typeof emptyCounters>) => void) => {
    const counters = emptyCounters();
    apply(counters);
    return Object.fromEntries(Object.entries(counters).filter(([, value]) => value !== 0));
  };
  test("a good chunk in use is a disk chunk with its bytes", () =>
    assert.deepEqual(
      only((c) => countKept(c, "keep", false, 10)),
      { diskChunks: 1, diskBytes: 10 },
    ));
  test("a .bad copy in use adds bytes only, no disk chunk", () =>
    assert.deepEqual(
      only((c) => countKept(c, "keep", true, 7)),
      { diskBytes: 7 },
    ));
  test("a pending good chunk is pending, not on disk", () =>
    assert.deepEqual(
      only((c) => countKept(c, "pending", false, 3)),
      { pendingChunks: 1, pendingBytes: 3 },
    ));
  test("a pending .bad copy is still bad, with pending bytes", () =>
    assert.deepEqual(
      only((c) => countKept(c, "pending", true, 2)),
      { stillBad: 1, pendingBytes: 2 },
    ));
  test("a removed good chunk and a removed .bad copy", () => {
    assert.deepEqual(
      only((c) => countRemoved(c, false, 5)),
      { removedChunks: 1, removedBytes: 5 },
    );
    assert.deepEqual(
      only((c) => countRemoved(c, true, 4)),
      { removedBad: 1, removedBytes: 4 },
    );
  });
});
