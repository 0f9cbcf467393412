import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  encodeBlob,
  IndexFormatError,
  indexKindOfBytes,
  indexKindOfFileName,
  inspectIndex,
  parseIndex,
} from "../../../src/datastore/index.ts";
import { assertFormatError } from "./assert-format-error.ts";
import { digestOf, handDynamicIndex, handFixedIndex } from "./hand-built.ts";

describe("index file dispatch", () => {
  const fixed = handFixedIndex({ ctime: 1, size: 10, chunkSize: 16, digests: [digestOf("f")] });
  const dynamic = handDynamicIndex(1, [{ end: 10, digest: digestOf("d") }]);

  it("dispatches on the magic, not on the name", () => {
    assert.equal(parseIndex(fixed, "no-extension").kind, "fixed");
    assert.equal(parseIndex(dynamic, "misnamed.fidx").kind, "dynamic");
    assert.equal(indexKindOfBytes(fixed), "fixed");
    assert.equal(indexKindOfBytes(dynamic), "dynamic");
    assert.equal(indexKindOfBytes(new Uint8Array(3)), undefined);
  });

  it("inspectIndex adds checksumOk, parseIndex returns the same fields", () => {
    const inspected = inspectIndex(fixed, "a.fidx");
    assert.equal(inspected.checksumOk, true);
    assert.equal(inspected.checksum, inspected.computedChecksum);
    assert.deepEqual({ ...parseIndex(fixed, "a.fidx") }, { ...inspected });
  });

  it("names the kind from the file name", () => {
    assert.equal(indexKindOfFileName("drive-scsi0.img.fidx"), "fixed");
    assert.equal(indexKindOfFileName("catalog.pcat1.didx"), "dynamic");
    assert.equal(indexKindOfFileName("index.json.blob"), undefined);
    assert.equal(indexKindOfFileName("x.fidx.tmp"), undefined);
    assert.equal(indexKindOfFileName("x.FIDX"), undefined);
  });

  it("rejects a blob, random bytes and an empty file with an error naming the source", () => {
    const blob = encodeBlob(new Uint8Array(5000));
    assertFormatError(() => parseIndex(blob, "s/x.blob"), IndexFormatError, "s/x.blob", /not a PBS index.*42ab3807/);
    assertFormatError(() => inspectIndex(new Uint8Array(9000), "zeros"), IndexFormatError, "zeros", /unknown magic/);
    assertFormatError(() => parseIndex(new Uint8Array(0), "empty.didx"), IndexFormatError, "empty.didx", /truncated/);
  });

  it("still throws from inspectIndex for everything but a checksum mismatch", () => {
    const short = handFixedIndex({ ctime: 1, size: 100, chunkSize: 16, digests: [digestOf("f")] });
    assertFormatError(() => inspectIndex(short, "short.fidx"), IndexFormatError, "short.fidx", /truncated/);
  });
});
