import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { hexKeyRanges, isWithinUpperBound, type KeyRange } from "../../../src/s3/key-ranges.ts";

/** The range a key falls in, by the same rule the lister applies (after startAfter, through `through`). */
function rangesHolding(ranges: KeyRange[], key: string): number[] {
  return ranges.flatMap((range, i) =>
    (range.startAfter === undefined || key > range.startAfter) && isWithinUpperBound(key, range) ? [i] : [],
  );
}

describe("hexKeyRanges", () => {
  for (const shards of [16, 256] as const) {
    test(`${shards} ranges cover every key under the prefix exactly once`, () => {
      const ranges = hexKeyRanges("s/.chunks/", shards);
      assert.equal(ranges.length, shards);
      const keys = [
        "s/.chunks/",
        "s/.chunks/-",
        "s/.chunks/.x",
        "s/.chunks/0000/aa",
        "s/.chunks/0fff/b",
        "s/.chunks/10",
        "s/.chunks/9f/x",
        "s/.chunks/:odd",
        "s/.chunks/A",
        "s/.chunks/a0",
        "s/.chunks/ffff/ff",
        "s/.chunks/g",
        "s/.chunks/zz",
        "s/.chunks/é",
      ];
      for (const key of keys) assert.equal(rangesHolding(ranges, key).length, 1, key);
    });
  }
  test("one range without a split", () => assert.deepEqual(hexKeyRanges("p/", 1), [{}]));
});
