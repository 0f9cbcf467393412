import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatSnapshotTime, KeyFormatError, parseSnapshotTime } from "../../../src/datastore/index.ts";

describe("snapshot times", () => {
  it("parse to epoch seconds", () => {
    assert.equal(parseSnapshotTime("1970-01-01T00:00:00Z"), 0);
    assert.equal(parseSnapshotTime("2024-02-29T23:59:59Z"), Date.UTC(2024, 1, 29, 23, 59, 59) / 1000);
    assert.equal(parseSnapshotTime("0050-01-01T00:00:00Z"), new Date("0050-01-01T00:00:00Z").getTime() / 1000);
  });

  it("reject invalid dates and shapes", () => {
    for (const bad of [
      "2023-02-29T00:00:00Z",
      "2024-04-31T00:00:00Z",
      "2024-00-10T00:00:00Z",
      "2024-01-00T00:00:00Z",
      "2024-01-01T00:00:00+00:00",
      "2024-1-01T00:00:00Z",
      " 2024-01-01T00:00:00Z",
      "２０２４-01-01T00:00:00Z",
    ]) {
      assert.equal(parseSnapshotTime(bad), undefined, bad);
    }
  });

  it("format and parse back", () => {
    for (const seconds of [0, 1714557600, 253402300799]) {
      const text = formatSnapshotTime(seconds);
      assert.match(text, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
      assert.equal(parseSnapshotTime(text), seconds);
    }
    assert.equal(formatSnapshotTime(1714557600), "2024-05-01T10:00:00Z");
    assert.throws(() => formatSnapshotTime(1.5), KeyFormatError);
    assert.throws(() => formatSnapshotTime(253402300800), KeyFormatError);
  });
});
