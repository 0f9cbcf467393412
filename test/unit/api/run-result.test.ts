import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  formatRunResult,
  RUN_RESULT_MAX_BYTES,
  RUN_RESULT_MAX_MESSAGE,
  RunResultSchema,
  RunResultTooLargeError,
} from "../../../src/api/index.ts";
import { sampleRunResult } from "../../support/gc-fixtures.ts";

describe("compact run result", () => {
  it("accepts the sample and round-trips through formatRunResult", () => {
    const result = sampleRunResult({ message: "removed 120 chunks", estimatedCostUsd: 0.0012 });
    const json = formatRunResult(result);
    assert.ok(Buffer.byteLength(json) <= RUN_RESULT_MAX_BYTES);
    assert.deepEqual(RunResultSchema.parse(JSON.parse(json)), result);
  });

  it("fits a realistic result in well under 4 KiB", () => {
    assert.ok(Buffer.byteLength(formatRunResult(sampleRunResult())) < 1024);
  });

  it("shortens an over-long message so the result fits", () => {
    const json = formatRunResult(sampleRunResult({ message: "x".repeat(5000) }));
    const parsed = RunResultSchema.parse(JSON.parse(json));
    assert.equal(parsed.message?.length, RUN_RESULT_MAX_MESSAGE);
    assert.ok(parsed.message?.endsWith("…"));
  });

  it("shortens a message of escaped characters below the byte limit without splitting surrogates", () => {
    const heldBack = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`rule-${"r".repeat(54)}-${i}`, i]));
    const json = formatRunResult(sampleRunResult({ heldBack, message: "😀\u0001".repeat(600) }));
    assert.ok(Buffer.byteLength(json) <= RUN_RESULT_MAX_BYTES, `${Buffer.byteLength(json)} bytes`);
    const parsed = RunResultSchema.parse(JSON.parse(json));
    assert.ok(!/[\uD800-\uDBFF]…$/.test(parsed.message ?? ""), "cut a surrogate pair");
  });

  it("refuses results that are invalid", () => {
    assert.throws(() => formatRunResult(sampleRunResult({ heldBack: { "bad key!": 1 } })));
    const tooMany = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`r${i}`, 1]));
    assert.throws(() => formatRunResult(sampleRunResult({ heldBack: tooMany })), /at most 16/);
  });

  // Every field but the timestamps is bounded by the schema; an ISO timestamp may carry any number of fraction digits.
  const longTimestamp = (digits: number) => `2025-03-01T03:30:05.${"1".repeat(digits)}Z`;

  it("refuses, naming the size, a result that does not fit even with an empty message", () => {
    const result = sampleRunResult({ startedAt: longTimestamp(4000), message: "short" });
    const withoutMessage = Buffer.byteLength(JSON.stringify({ ...RunResultSchema.parse(result), message: "" }));
    assert.ok(withoutMessage > RUN_RESULT_MAX_BYTES);
    assert.throws(
      () => formatRunResult(result),
      (error: unknown) => {
        assert.ok(error instanceof RunResultTooLargeError);
        assert.equal(error.bytes, withoutMessage);
        assert.match(error.message, new RegExp(`${withoutMessage} bytes`));
        return true;
      },
    );
  });

  it("keeps as much message as fits next to long fields, and no more", () => {
    const result = sampleRunResult({ startedAt: longTimestamp(3300), message: "m".repeat(1000) });
    const json = formatRunResult(result);
    assert.ok(Buffer.byteLength(json) <= RUN_RESULT_MAX_BYTES, `${Buffer.byteLength(json)} bytes`);
    const message = RunResultSchema.parse(JSON.parse(json)).message ?? "";
    assert.ok(message.endsWith("…"), message);
    assert.ok(message.length > 1 && message.length < 1000, `${message.length} characters kept`);
    // The message shrinks in 20 % steps, so what it keeps reaches close to the limit.
    assert.ok(Buffer.byteLength(json) > RUN_RESULT_MAX_BYTES * 0.8);
  });

  const broken: [string, (value: Record<string, unknown>) => void][] = [
    ["another version", (value) => (value.v = 2)],
    ["an unknown result", (value) => (value.result = "ok")],
    ["a negative counter", (value) => ((value.counters as Record<string, number>).removedChunks = -1)],
    ["a fractional counter", (value) => ((value.counters as Record<string, number>).diskBytes = 1.5)],
    ["a missing counter", (value) => delete (value.counters as Record<string, number>).stillBad],
    ["a missing phase", (value) => delete (value.phases as Record<string, number>).cacheMs],
    ["a bad timestamp", (value) => (value.startedAt = "yesterday")],
    ["a string count", (value) => (value.bytesDownloaded = "12")],
  ];
  for (const [name, breakIt] of broken) {
    it(`rejects ${name}`, () => {
      const value = structuredClone(sampleRunResult()) as unknown as Record<string, unknown>;
      breakIt(value);
      assert.equal(RunResultSchema.safeParse(value).success, false);
    });
  }

  it("ignores unknown fields of a newer engine of the same version", () => {
    const parsed = RunResultSchema.parse({ ...sampleRunResult(), futureField: 1 });
    assert.ok(!("futureField" in parsed));
  });
});
