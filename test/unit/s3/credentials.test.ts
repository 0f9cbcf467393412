import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { CredentialsError, resolveCredentials } from "../../../src/s3/config.ts";
import { RequestCounter, requestKindOfCommand } from "../../../src/s3/request-counter.ts";

describe("resolveCredentials", () => {
  test("from variables", () => {
    assert.deepEqual(resolveCredentials({ AWS_ACCESS_KEY_ID: "a", AWS_SECRET_ACCESS_KEY: "b" }), {
      accessKeyId: "a",
      secretAccessKey: "b",
    });
  });
  test("from a mounted Secret directory, trailing newline trimmed", () => {
    const dir = mkdtempSync(join(tmpdir(), "creds-"));
    writeFileSync(join(dir, "AWS_ACCESS_KEY_ID"), "key\n");
    writeFileSync(join(dir, "AWS_SECRET_ACCESS_KEY"), "secret\n");
    assert.deepEqual(resolveCredentials({ CHUNKGC_S3_CREDENTIALS_DIR: dir }), {
      accessKeyId: "key",
      secretAccessKey: "secret",
    });
  });
  test("from *_FILE variables; an unreadable one is an error naming it", () => {
    const dir = mkdtempSync(join(tmpdir(), "creds-"));
    writeFileSync(join(dir, "id"), "k");
    writeFileSync(join(dir, "secret"), "s");
    assert.deepEqual(
      resolveCredentials({ AWS_ACCESS_KEY_ID_FILE: join(dir, "id"), AWS_SECRET_ACCESS_KEY_FILE: join(dir, "secret") }),
      {
        accessKeyId: "k",
        secretAccessKey: "s",
      },
    );
    assert.throws(
      () => resolveCredentials({ AWS_ACCESS_KEY_ID_FILE: join(dir, "nope"), AWS_SECRET_ACCESS_KEY: "s" }),
      /AWS_ACCESS_KEY_ID_FILE/,
    );
  });
  test("none at all is a clear error", () => {
    assert.throws(() => resolveCredentials({}), CredentialsError);
  });
});

describe("request counting", () => {
  test("commands map to billing kinds", () => {
    assert.equal(requestKindOfCommand("ListObjectsV2Command"), "list");
    assert.equal(requestKindOfCommand("DeleteObjectsCommand"), "delete");
    assert.equal(requestKindOfCommand("HeadBucketCommand"), "head");
    assert.equal(requestKindOfCommand("PutObjectCommand"), "put");
  });
  test("snapshot totals", () => {
    const counter = new RequestCounter();
    counter.record("list");
    counter.record("list");
    counter.record("delete");
    assert.deepEqual(counter.snapshot(), { list: 2, get: 0, head: 0, put: 0, delete: 1, total: 3 });
  });
});
