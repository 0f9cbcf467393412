import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  deriveSummary,
  durationSchema,
  formatBinaryBytes,
  normalizeScheduleSyntax,
  pendingRunRequest,
  RUN_REQUESTED_ANNOTATION,
  runRequestToken,
  specDurationSeconds,
} from "../../../src/api/index.ts";
import { SEED_DISK_BYTES, SEED_DISK_CHUNKS, SEED_INDEX_BYTES } from "../../support/gc-fixtures.ts";

describe("spec durations", () => {
  const cases: [string, number | undefined][] = [
    ["24h5m", (24 * 60 + 5) * 60],
    ["48h", 48 * 3600],
    ["90m", 90 * 60],
    ["30s", 30],
    ["1h0m1s", 3601],
    ["", undefined],
    ["1d", undefined],
    ["5m24h", undefined],
    ["1.5h", undefined],
    [" 1h", undefined],
    ["-1h", undefined],
    ["10", undefined],
  ];
  for (const [text, seconds] of cases) {
    it(`reads ${JSON.stringify(text)}`, () => assert.equal(specDurationSeconds(text), seconds));
  }
  it("bounds a schema and emits the bounds as CEL", () => {
    const schema = durationSchema("1m", "2h");
    assert.equal(schema.safeParse("1m").success, true);
    assert.equal(schema.safeParse("2h").success, true);
    assert.equal(schema.safeParse("59s").success, false);
    assert.equal(schema.safeParse("2h0m1s").success, false);
    assert.match(JSON.stringify(schema.meta()), /duration\(self\) >= duration\('1m'\)/);
  });
});

describe("derived summary", () => {
  it("reproduces the seed datastore's PBS summary", () => {
    const summary = deriveSummary({
      indexDataBytes: SEED_INDEX_BYTES,
      diskBytes: SEED_DISK_BYTES,
      diskChunks: SEED_DISK_CHUNKS,
    });
    assert.equal(summary.dedupFactor, 29.9);
    assert.equal(summary.onDiskPercent, 3.34);
    assert.equal(formatBinaryBytes(summary.averageChunkSize), "1.426 MiB");
    assert.equal(formatBinaryBytes(SEED_INDEX_BYTES), "269.685 GiB");
    assert.equal(formatBinaryBytes(SEED_DISK_BYTES), "9.018 GiB");
  });
  it("handles an empty datastore", () => {
    assert.deepEqual(deriveSummary({ indexDataBytes: 0, diskBytes: 0, diskChunks: 0 }), {
      dedupFactor: 1,
      onDiskPercent: 0,
      averageChunkSize: 0,
    });
  });
  const sizes: [number, string][] = [
    [0, "0 B"],
    [1023, "1023 B"],
    [1024, "1.000 KiB"],
    [1536, "1.500 KiB"],
    [5 * 1024 ** 4, "5.000 TiB"],
  ];
  for (const [bytes, text] of sizes) it(`formats ${bytes} bytes`, () => assert.equal(formatBinaryBytes(bytes), text));
});

describe("schedule syntax", () => {
  const cases: [string, string | RegExp][] = [
    ["30 3 * * *", "30 3 * * *"],
    ["30  3 * *\t*", "30 3 * * *"],
    ["@daily", "0 0 * * *"],
    ["@midnight", "0 0 * * *"],
    ["@hourly", "0 * * * *"],
    ["@weekly", "0 0 * * 0"],
    ["@monthly", "0 0 1 * *"],
    ["@yearly", "0 0 1 1 *"],
    ["@annually", "0 0 1 1 *"],
    ["0 0 * * MON-THU", "0 0 * * MON-THU"],
    ["0 30 3 * * *", /6 fields/],
    ["* * * *", /4 fields/],
    ["", /0 fields/],
    [" 30 3 * * *", /whitespace/],
    ["@reboot", /unknown schedule macro/],
    ["@constructor", /unknown schedule macro/],
    ["@DAILY", /unknown schedule macro/],
    ["H 3 * * *", /H \(hash jitter\)/],
    ["0,H 3 * * *", /H \(hash jitter\)/],
    ["30 3 * * $", /not cron syntax/],
  ];
  for (const [input, expected] of cases) {
    it(`${JSON.stringify(input)}`, () => {
      const result = normalizeScheduleSyntax(input);
      if (typeof expected === "string") assert.deepEqual(result, { ok: true, fields: expected });
      else {
        assert.equal(result.ok, false);
        assert.match(result.ok ? "" : result.message, expected);
      }
    });
  }
});

describe("run requests", () => {
  it("echoes short values and hashes long ones", () => {
    assert.equal(runRequestToken("2025-03-01T10:00:00Z"), "2025-03-01T10:00:00Z");
    assert.equal(runRequestToken(undefined), undefined);
    assert.equal(runRequestToken("  "), undefined);
    const long = runRequestToken("x".repeat(300));
    assert.match(long ?? "", /^sha256:[0-9a-f]{64}$/);
    assert.notEqual(long, runRequestToken(`${"x".repeat(299)}y`));
  });
  it("finds a request only when the value is new", () => {
    const annotations = { [RUN_REQUESTED_ANNOTATION]: "now" };
    assert.equal(pendingRunRequest(annotations, undefined, RUN_REQUESTED_ANNOTATION), "now");
    assert.equal(pendingRunRequest(annotations, "now", RUN_REQUESTED_ANNOTATION), undefined);
    assert.equal(pendingRunRequest(annotations, "earlier", RUN_REQUESTED_ANNOTATION), "now");
    assert.equal(pendingRunRequest({}, "earlier", RUN_REQUESTED_ANNOTATION), undefined);
    assert.equal(pendingRunRequest(undefined, undefined, RUN_REQUESTED_ANNOTATION), undefined);
  });
});
