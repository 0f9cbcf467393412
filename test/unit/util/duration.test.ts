import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DurationFormatError, formatDurationSeconds, parseDurationSeconds } from "../../../src/util/duration.ts";

describe("durations", () => {
  for (const [text, seconds] of [
    ["24h5m", 86_700],
    ["48h", 172_800],
    ["1m", 60],
    ["90s", 90],
    ["1h1m1s", 3661],
  ] as const) {
    test(`${text} = ${seconds} s`, () => {
      assert.equal(parseDurationSeconds(text), seconds);
      assert.equal(parseDurationSeconds(formatDurationSeconds(seconds)), seconds);
    });
  }
  for (const bad of ["", "5", "1d", "5m1h", "-1h", "1.5h", "h"]) {
    test(`"${bad}" is rejected`, () => assert.throws(() => parseDurationSeconds(bad), DurationFormatError));
  }
});
