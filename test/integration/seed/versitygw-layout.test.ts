/**
 * The versitygw directory layout the benchmark seeds with: objects written straight into versitygw's backing
 * directory must be, for versitygw and its clients, the same as objects it stored itself through PutObject: listed
 * with the right size, ETag and LastModified (the file's mtime), readable, and carrying the same extended attributes
 * as a PUT of the same bytes.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { getAttributeSync, listAttributesSync } from "@napi-rs/xattr";
import {
  createS3Context,
  ensureBucket,
  getObjectBytes,
  listObjects,
  putObject,
  type S3Context,
} from "../../../src/s3/index.ts";
import { VersitygwLayoutWriter } from "../../../src/seed/versitygw-layout.ts";
import type { S3ServerHandle } from "../../servers/s3-server.ts";
import { start } from "../../servers/versitygw.ts";

const BUCKET = "layout-check";

describe("versitygw layout writer", () => {
  let work: string;
  let server: S3ServerHandle;
  let s3: S3Context;
  before(async () => {
    work = mkdtempSync(join(tmpdir(), "chunkgc-layout-"));
    server = await start(work);
    s3 = createS3Context(
      { endpoint: server.endpoint, region: server.region, bucket: BUCKET, forcePathStyle: true },
      { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    );
    await ensureBucket(s3);
  });
  after(async () => {
    s3?.close();
    await server?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it("writes objects versitygw lists, serves and describes exactly like its own", async () => {
    const writer = new VersitygwLayoutWriter(join(work, "data"), BUCKET);
    const mtimeMs = Date.UTC(2026, 0, 2, 3, 4, 5);
    const objects = [
      { key: `s/.chunks/0a1b/0a1b${"c".repeat(60)}`, body: Buffer.from("chunk payload") },
      { key: "s/.cnt/vm/100/2026-01-01T00:00:00Z/index.json.blob", body: Buffer.alloc(0) },
      { key: "s/.cnt/vm/100/2026-01-01T00:00:00Z/drive-scsi0.img.fidx", body: Buffer.alloc(5000, 7) },
    ];
    for (const object of objects) await writer.write({ ...object, mtimeMs });

    const listed = new Map<string, { size: number; etag: string; lastModifiedMs: number }>();
    for await (const object of listObjects(s3, { prefix: "s/" })) listed.set(object.key, object);
    assert.deepEqual([...listed.keys()].sort(), objects.map((o) => o.key).sort());
    for (const object of objects) {
      const md5 = createHash("md5").update(object.body).digest("hex");
      const entry = listed.get(object.key)!;
      assert.equal(entry.size, object.body.length, object.key);
      assert.equal(entry.etag.replaceAll('"', ""), md5, object.key);
      assert.equal(entry.lastModifiedMs, mtimeMs, object.key);
      const fetched = await getObjectBytes(s3, object.key);
      assert.deepEqual(Buffer.from(fetched.bytes), object.body);
    }

    // The same bytes PUT through S3: versitygw's own attributes must be what the writer set.
    const [sample] = objects;
    await putObject(s3, "put/reference", sample!.body);
    const attributes = (path: string) =>
      Object.fromEntries(
        listAttributesSync(path)
          .sort()
          .map((name) => [name, getAttributeSync(path, name)?.toString()]),
      );
    assert.deepEqual(
      attributes(join(work, "data", BUCKET, sample!.key)),
      attributes(join(work, "data", BUCKET, "put/reference")),
    );
  });
});
