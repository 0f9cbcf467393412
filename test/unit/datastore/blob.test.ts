import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  BLOB_MAGICS,
  BlobFormatError,
  type BlobKind,
  blobKindOf,
  encodeBlob,
  inspectBlob,
} from "../../../src/datastore/index.ts";
import { assertFormatError } from "./assert-format-error.ts";

// The magics of docs/datastore-format.md#blobs-and-chunks, typed in from the table.
const SPEC_MAGICS: Record<BlobKind, string> = {
  uncompressed: "42ab3807be8370a1",
  zstd: "31b958426fb6a37f",
  encrypted: "7b6785be222d4cf0",
  "encrypted-zstd": "e6591bbf0bbfd80b",
};
const KINDS = Object.keys(SPEC_MAGICS) as BlobKind[];
// The standard CRC-32/IEEE check value: crc32("123456789") = 0xcbf43926.
const CHECK_PAYLOAD = Buffer.from("123456789");
const CHECK_CRC_LE = "2639f4cb";

describe("blobs", () => {
  it("has the spec's magics", () => {
    for (const kind of KINDS) assert.equal(Buffer.from(BLOB_MAGICS[kind]).toString("hex"), SPEC_MAGICS[kind]);
  });

  it("encodes magic | crc32 LE | payload, matching a hand-built header", () => {
    const hand = Buffer.concat([
      Buffer.from(SPEC_MAGICS.uncompressed, "hex"),
      Buffer.from(CHECK_CRC_LE, "hex"),
      CHECK_PAYLOAD,
    ]);
    assert.deepEqual(Buffer.from(encodeBlob(CHECK_PAYLOAD)), hand);
    assert.deepEqual(Buffer.from(encodeBlob(CHECK_PAYLOAD, "zstd")).subarray(8), hand.subarray(8));
  });

  it("encrypted kinds put iv and tag after the crc (44-byte header)", () => {
    const iv = Buffer.alloc(16, 0xaa);
    const tag = Buffer.alloc(16, 0xbb);
    for (const kind of ["encrypted", "encrypted-zstd"] as const) {
      const blob = Buffer.from(encodeBlob(CHECK_PAYLOAD, kind, { iv, tag }));
      const hand = Buffer.concat([
        Buffer.from(SPEC_MAGICS[kind], "hex"),
        Buffer.from(CHECK_CRC_LE, "hex"),
        iv,
        tag,
        CHECK_PAYLOAD,
      ]);
      assert.deepEqual(blob, hand);
      assert.equal(blob.length, 44 + 9);
    }
    assert.deepEqual(Buffer.from(encodeBlob(CHECK_PAYLOAD, "encrypted")).subarray(12, 44), Buffer.alloc(32));
    assert.throws(() => encodeBlob(CHECK_PAYLOAD, "encrypted", { iv: new Uint8Array(8) }), RangeError);
  });

  it("recognises each kind and reads the header back", () => {
    for (const kind of KINDS) {
      const blob = encodeBlob(CHECK_PAYLOAD, kind);
      assert.equal(blobKindOf(blob), kind);
      const inspected = inspectBlob(blob, "k");
      assert.equal(inspected.kind, kind);
      assert.equal(inspected.crc, 0xcbf43926);
      assert.equal(inspected.crcOk, true);
      assert.deepEqual(Buffer.from(inspected.payload), CHECK_PAYLOAD);
    }
  });

  it("handles an empty payload", () => {
    const blob = encodeBlob(new Uint8Array(0));
    assert.equal(blob.length, 12);
    assert.equal(inspectBlob(blob, "k").crcOk, true);
  });

  it("detects a damaged payload", () => {
    const blob = encodeBlob(CHECK_PAYLOAD);
    blob[14] = 0;
    assert.equal(inspectBlob(blob, "k").crcOk, false);
  });

  it("rejects unknown magics and truncated headers, naming the key", () => {
    const key = "store/.chunks/0000/00";
    assert.equal(blobKindOf(new Uint8Array(20)), undefined);
    assertFormatError(() => inspectBlob(new Uint8Array(20), key), BlobFormatError, key, /unknown magic/);
    const shortEncrypted = encodeBlob(CHECK_PAYLOAD, "encrypted").subarray(0, 30);
    assert.equal(blobKindOf(shortEncrypted), undefined);
    assertFormatError(() => inspectBlob(shortEncrypted, key), BlobFormatError, key, /truncated blob header \(30/);
    assertFormatError(
      () => inspectBlob(encodeBlob(CHECK_PAYLOAD).subarray(0, 10), key),
      BlobFormatError,
      key,
      /truncated/,
    );
  });
});
