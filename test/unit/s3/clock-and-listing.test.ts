import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { clockSkewFromDate, parseDateHeader } from "../../../src/s3/clock.ts";
import { objectsWithinRange } from "../../../src/s3/list.ts";
import { parseLastModified, parseListObjectsV2, UNKNOWN_LAST_MODIFIED_MS } from "../../../src/s3/list-xml.ts";

describe("clock skew from a Date header", () => {
  test("a server behind ours: negative estimate, bound covers the whole-second header and the round trip", () => {
    // Local 10:00:00.000 … 10:00:00.200; the server said 09:58:20 (100 s behind, ± the second it rounded away).
    const sent = Date.parse("2026-11-25T10:00:00.000Z");
    const skew = clockSkewFromDate(Date.parse("2026-11-25T09:58:20Z"), sent, sent + 200);
    assert.ok(skew.estimateMs < -99_000 && skew.estimateMs > -100_000, String(skew.estimateMs));
    assert.equal(skew.boundMs, 100_200);
  });
  test("in sync: the bound is about a second, never zero", () => {
    const sent = Date.parse("2026-11-25T10:00:00.400Z");
    const skew = clockSkewFromDate(Date.parse("2026-11-25T10:00:00Z"), sent, sent + 10);
    assert.ok(skew.boundMs >= 410 && skew.boundMs <= 1000, String(skew.boundMs));
  });
  test("a server ahead: positive estimate", () => {
    const sent = Date.parse("2026-11-25T10:00:00.000Z");
    const skew = clockSkewFromDate(Date.parse("2026-11-25T10:05:00Z"), sent, sent + 5);
    assert.ok(skew.estimateMs > 299_000);
    assert.equal(skew.boundMs, 301_000);
  });
  test("Date header parsing", () => {
    assert.equal(parseDateHeader("Wed, 25 Nov 2026 10:00:00 GMT"), Date.parse("2026-11-25T10:00:00Z"));
    assert.equal(parseDateHeader(undefined), undefined);
    assert.equal(parseDateHeader("yesterday-ish"), undefined);
  });
});

describe("LastModified: unknown means young, never the epoch", () => {
  test("missing, empty or unparseable", () => {
    for (const text of [undefined, "", "garbage", "0", "Wed, 25 Nov"]) {
      assert.equal(parseLastModified(text), UNKNOWN_LAST_MODIFIED_MS, String(text));
    }
    assert.equal(parseLastModified("2026-11-25T10:00:00.000Z"), Date.parse("2026-11-25T10:00:00Z"));
  });
  test("a listed object without LastModified", () => {
    const page = parseListObjectsV2(
      "<ListBucketResult><Contents><Key>s/.chunks/0000/x</Key><Size>3</Size></Contents>" +
        "<Contents><Key>s/.chunks/0000/y</Key><Size>3</Size><LastModified>not a date</LastModified></Contents>" +
        "</ListBucketResult>",
    );
    assert.deepEqual(
      page.objects.map((object) => object.lastModifiedMs),
      [UNKNOWN_LAST_MODIFIED_MS, UNKNOWN_LAST_MODIFIED_MS],
    );
  });
});

describe("a server that ignores StartAfter", () => {
  const object = (key: string) => ({ key, size: 1, lastModifiedMs: 0, etag: "" });
  test("keys at or before StartAfter are dropped; the upper bound still ends the range", () => {
    const listed = ["p/0000", "p/0040", "p/0041", "p/0050", "p/0080", "p/0081"].map(object);
    const within = objectsWithinRange(listed, { startAfter: "p/0040", through: "p/0080" });
    assert.deepEqual(
      within.objects.map((o) => o.key),
      ["p/0041", "p/0050", "p/0080"],
    );
    assert.equal(within.reachedBound, true);
  });
});

describe("listPages against a server that ignores StartAfter (a stub client: the error path only)", () => {
  test("the keys it sends back at or before StartAfter never reach the caller", async () => {
    const { listPages } = await import("../../../src/s3/list.ts");
    const sent: unknown[] = [];
    const contents = ["p/00", "p/3f", "p/40", "p/41", "p/7f", "p/80", "p/81"].map((Key) => ({
      Key,
      Size: 1,
      LastModified: new Date(0),
      ETag: '"e"',
    }));
    const s3 = {
      bucket: "b",
      client: {
        send: async (command: { input: unknown }) => {
          sent.push(command.input);
          return { Contents: contents, IsTruncated: false };
        },
      },
    } as unknown as Parameters<typeof listPages>[0];
    const keys: string[] = [];
    for await (const page of listPages(s3, {
      prefix: "p/",
      range: { startAfter: "p/40", through: "p/80" },
      parser: "sdk",
    })) {
      keys.push(...page.objects.map((object) => object.key));
    }
    assert.equal((sent[0] as { StartAfter?: string }).StartAfter, "p/40", "StartAfter was asked for");
    assert.deepEqual(keys, ["p/41", "p/7f", "p/80"]);
  });
});
