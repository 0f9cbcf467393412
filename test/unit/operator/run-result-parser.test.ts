import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatRunResult } from "../../../src/api/index.ts";
import {
  ENGINE_ERROR_MAX_CHARS,
  engineErrorLine,
  namesUnknownOption,
  parseRunResult,
  type ResultFailureReason,
} from "../../../src/operator/run-result-parser.ts";
import { sampleRunResult } from "../../support/gc-fixtures.ts";

const valid = formatRunResult(sampleRunResult({ message: "removed 120 chunks" }));
const withField = (patch: Record<string, unknown>) => JSON.stringify({ ...JSON.parse(valid), ...patch });

describe("termination message → run result", () => {
  it("reads what the engine's formatter writes", () => {
    const parsed = parseRunResult(valid);
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.result, sampleRunResult({ message: "removed 120 chunks" }));
  });

  it("tolerates surrounding whitespace and a trailing newline", () => {
    assert.equal(parseRunResult(`\n${valid}\n`).ok, true);
  });

  it("reads every result kind", () => {
    for (const result of ["succeeded", "failed", "aborted", "lock-busy"] as const) {
      const parsed = parseRunResult(formatRunResult(sampleRunResult({ result })));
      assert.ok(parsed.ok && parsed.result.result === result, result);
    }
  });

  const failures: [string, string | undefined | null, ResultFailureReason, RegExp][] = [
    ["no message at all", undefined, "ResultMissing", /no result/],
    ["null", null, "ResultMissing", /no result/],
    ["an empty message", "", "ResultMissing", /no result/],
    ["only whitespace", " \n", "ResultMissing", /no result/],
    ["a message over 4 KiB", `${valid}${" ".repeat(4096)}`, "ResultTooLarge", /more than the 4096/],
    ["a truncated message", valid.slice(0, 200), "ResultMalformed", /not valid JSON/],
    ["a log line", "Error: ECONNREFUSED 127.0.0.1:9000", "ResultMalformed", /not valid JSON/],
    ["a JSON array", "[1,2]", "ResultMalformed", /not an object/],
    ["a JSON string", '"succeeded"', "ResultMalformed", /not an object/],
    ["another version", withField({ v: 2 }), "ResultVersionUnsupported", /version 2; this operator reads version 1/],
    ["no version", JSON.stringify({ result: "succeeded" }), "ResultVersionUnsupported", /no version/],
    ["an unknown result", withField({ result: "done" }), "ResultInvalid", /^the result does not match.*result:/],
    ["missing counters", withField({ counters: undefined }), "ResultInvalid", /counters/],
    ["a negative count", withField({ bytesDownloaded: -1 }), "ResultInvalid", /bytesDownloaded/],
    ["a bad time", withField({ finishedAt: "later" }), "ResultInvalid", /finishedAt/],
    ["time running backwards", withField({ finishedAt: "2025-03-01T03:00:00Z" }), "ResultInvalid", /before it started/],
    [
      "many problems",
      withField({ counters: {}, phases: {} }),
      "ResultInvalid",
      /counters\.indexFileCount.*\(and 11 more\)$/,
    ],
  ];
  for (const [name, message, reason, text] of failures) {
    it(`fails clearly on ${name}`, () => {
      const parsed = parseRunResult(message);
      assert.equal(parsed.ok, false);
      if (parsed.ok) return;
      assert.equal(parsed.reason, reason);
      assert.match(parsed.message, text);
    });
  }

  it("never quotes the message content", () => {
    const secretish = '{"v":1,"result":"succeeded","message":"AKIASECRET'.padEnd(300, "x");
    const parsed = parseRunResult(secretish);
    assert.equal(parsed.ok, false);
    assert.ok(!parsed.ok && !parsed.message.includes("AKIA"));
    const log = parseRunResult("AWS_SECRET_ACCESS_KEY=abc is wrong");
    assert.ok(!log.ok && !log.message.includes("abc"));
  });
});

describe("engineErrorLine", () => {
  it("takes the CLI's last error line and nothing else", () => {
    assert.equal(engineErrorLine(undefined), undefined);
    assert.equal(engineErrorLine('{"level":30,"msg":"x"}\n'), undefined);
    assert.equal(engineErrorLine("chunkgc: UsageError: bad --now\n"), "UsageError: bad --now");
    assert.equal(engineErrorLine("error: unknown option '--x'\nUsage: chunkgc gc\n"), "error: unknown option '--x'");
    assert.equal(engineErrorLine(`chunkgc: ${"x".repeat(2000)}`)?.length, ENGINE_ERROR_MAX_CHARS);
  });
  it("knows an unknown option from another usage error", () => {
    assert.equal(namesUnknownOption("error: unknown option '--x'"), true);
    assert.equal(namesUnknownOption("UsageError: --now is later than the clock"), false);
  });
});
