import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ListResponseError, parseListObjectsV2 } from "../../../src/s3/list-xml.ts";

describe("parseListObjectsV2", () => {
  test("objects, prefixes, truncation and entity-encoded keys", () => {
    const page = parseListObjectsV2(
      `<?xml version="1.0" encoding="UTF-8"?>
      <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
        <Name>b</Name><Prefix>s/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>
        <NextContinuationToken>tok/en==</NextContinuationToken>
        <Contents><Key>s/.cnt/vm/100/2026-01-01T00:00:00Z/a&amp;b.fidx</Key><LastModified>2026-11-25T10:00:00.123Z</LastModified>
          <ETag>&quot;abc&quot;</ETag><Size>4128</Size><StorageClass>STANDARD</StorageClass></Contents>
        <Contents><Key>s/x</Key><LastModified>2026-11-25T10:00:01Z</LastModified><ETag>"d"</ETag><Size>0</Size></Contents>
        <CommonPrefixes><Prefix>s/.chunks/</Prefix></CommonPrefixes>
      </ListBucketResult>`,
    );
    assert.deepEqual(page, {
      objects: [
        {
          key: "s/.cnt/vm/100/2026-01-01T00:00:00Z/a&b.fidx",
          size: 4128,
          lastModifiedMs: Date.parse("2026-11-25T10:00:00.123Z"),
          etag: '"abc"',
        },
        { key: "s/x", size: 0, lastModifiedMs: Date.parse("2026-11-25T10:00:01Z"), etag: '"d"' },
      ],
      commonPrefixes: ["s/.chunks/"],
      isTruncated: true,
      nextContinuationToken: "tok/en==",
    });
  });
  test("an empty listing", () => {
    assert.deepEqual(parseListObjectsV2("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>"), {
      objects: [],
      commonPrefixes: [],
      isTruncated: false,
    });
  });
  test("anything else is an error, not an empty page", () => {
    assert.throws(() => parseListObjectsV2("<Error><Code>AccessDenied</Code></Error>"), ListResponseError);
    assert.throws(() => parseListObjectsV2("<ListBucketResult><Contents>"), Error);
  });
});
