import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import {
  digestHex,
  hexToDigest,
  isDigestHex,
  KeyFormatError,
  sha256,
  ZERO_CHUNK_DIGEST_HEX,
  ZERO_CHUNK_SIZE,
} from "../../../src/datastore/index.ts";

describe("digests", () => {
  it("the zero-chunk constant is the spec's, and SHA-256 of 4 MiB of zeros", () => {
    assert.equal(ZERO_CHUNK_DIGEST_HEX, "bb9f8df61474d25e71fa00722318cd387396ca1736605e1248821cc0de3d3af8");
    assert.equal(ZERO_CHUNK_SIZE, 4 * 1024 * 1024);
    const computed = createHash("sha256")
      .update(new Uint8Array(4 * 1024 * 1024))
      .digest("hex");
    assert.equal(computed, ZERO_CHUNK_DIGEST_HEX);
    assert.equal(digestHex(sha256(new Uint8Array(ZERO_CHUNK_SIZE))), ZERO_CHUNK_DIGEST_HEX);
  });

  it("reads a digest at an offset of a view", () => {
    const a = createHash("sha256").update("a").digest();
    const b = createHash("sha256").update("b").digest();
    const all = new Uint8Array(Buffer.concat([Buffer.alloc(5), a, b]));
    const view = all.subarray(5);
    assert.equal(digestHex(view, 0), a.toString("hex"));
    assert.equal(digestHex(view, 32), b.toString("hex"));
    assert.throws(() => digestHex(view, 33), RangeError);
  });

  it("converts hex to bytes strictly", () => {
    assert.deepEqual(Buffer.from(hexToDigest(ZERO_CHUNK_DIGEST_HEX)).toString("hex"), ZERO_CHUNK_DIGEST_HEX);
    for (const bad of [
      ZERO_CHUNK_DIGEST_HEX.toUpperCase(),
      ZERO_CHUNK_DIGEST_HEX.slice(1),
      `${ZERO_CHUNK_DIGEST_HEX}0`,
      `g${ZERO_CHUNK_DIGEST_HEX.slice(1)}`,
    ]) {
      assert.equal(isDigestHex(bad), false, bad);
      assert.throws(() => hexToDigest(bad), KeyFormatError);
    }
  });
});
