import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  FIXED_INDEX_HEADER,
  FIXED_INDEX_MAGIC,
  IndexFormatError,
  inspectIndex,
  parseIndex,
  writeFixedIndex,
} from "../../../src/datastore/index.ts";
import { assertFormatError } from "./assert-format-error.ts";
import { digestOf, fixChecksum, handFixedIndex, sha256Hex, UUID_CANONICAL } from "./hand-built.ts";

const MiB = 1024 * 1024;
const SOURCE = "store/.cnt/vm/100/2024-05-01T10:00:00Z/drive-scsi0.img.fidx";
const threeDigests = [digestOf("a"), digestOf("b"), digestOf("c")];
// 9 MiB in 4 MiB chunks: ceil(9/4) = 3 digests, the last chunk partial.
const spec = { ctime: 1714557600, size: 9 * MiB, chunkSize: 4 * MiB, digests: threeDigests };

describe("fixed index: hand-built fixture from docs/datastore-format.md#fixed-index", () => {
  it("has the layout of the spec table", () => {
    const file = handFixedIndex(spec);
    assert.equal(file.length, 4096 + 3 * 32);
    assert.equal(file.subarray(0, 8).toString("hex"), "2f7f41ed91fd0fcd");
    assert.deepEqual(FIXED_INDEX_MAGIC, new Uint8Array(file.subarray(0, 8)));
    assert.deepEqual(Object.fromEntries(Object.entries(FIXED_INDEX_HEADER).map(([k, f]) => [k, [f.offset, f.size]])), {
      magic: [0, 8],
      uuid: [8, 16],
      ctime: [24, 8],
      checksum: [32, 32],
      size: [64, 8],
      chunkSize: [72, 8],
      reserved: [80, 4016],
    });
  });

  it("parses every field", () => {
    const file = handFixedIndex(spec);
    const index = parseIndex(file, SOURCE);
    assert.equal(index.kind, "fixed");
    assert.equal(index.uuid, UUID_CANONICAL);
    assert.equal(index.ctime, 1714557600);
    assert.equal(index.indexBytes, 9 * MiB);
    assert.equal(index.chunkSize, 4 * MiB);
    assert.equal(index.chunkCount, 3);
    assert.deepEqual(Buffer.from(index.digests), Buffer.concat(threeDigests));
    assert.equal(index.checksum, sha256Hex(Buffer.concat(threeDigests)));
  });

  it("returns the digests as a view into the input, not a copy", () => {
    const file = handFixedIndex(spec);
    const index = parseIndex(file, SOURCE);
    assert.equal(index.digests.buffer, file.buffer);
    assert.equal(index.digests.byteOffset, file.byteOffset + 4096);
    assert.equal(index.digests.length, 96);
  });

  it("parses an index that sits at an offset inside a larger buffer", () => {
    const file = handFixedIndex(spec);
    const big = new Uint8Array(file.length + 13);
    big.set(file, 7);
    const index = parseIndex(big.subarray(7, 7 + file.length), SOURCE);
    assert.equal(index.chunkCount, 3);
    assert.equal(index.uuid, UUID_CANONICAL);
  });

  it("accepts an empty image (size 0, no digests) and a negative ctime", () => {
    const index = parseIndex(handFixedIndex({ ctime: -5, size: 0, chunkSize: 4 * MiB, digests: [] }), SOURCE);
    assert.equal(index.chunkCount, 0);
    assert.equal(index.indexBytes, 0);
    assert.equal(index.ctime, -5);
    assert.equal(index.checksum, sha256Hex(new Uint8Array(0)));
  });

  it("counts ceil(size / chunk_size) digests at the boundaries", () => {
    for (const [size, count] of [
      [4 * MiB, 1],
      [4 * MiB + 1, 2],
      [1, 1],
      [8 * MiB, 2],
    ] as const) {
      const digests = Array.from({ length: count }, (_, i) => digestOf(`d${i}`));
      const index = parseIndex(handFixedIndex({ ctime: 1, size, chunkSize: 4 * MiB, digests }), SOURCE);
      assert.equal(index.chunkCount, count, `size ${size}`);
    }
  });

  it("is what our writer produces, byte for byte", () => {
    const written = writeFixedIndex({ ...spec, uuid: UUID_CANONICAL });
    assert.deepEqual(Buffer.from(written), handFixedIndex(spec));
    const concatenated = writeFixedIndex({ ...spec, uuid: UUID_CANONICAL, digests: Buffer.concat(threeDigests) });
    assert.deepEqual(Buffer.from(concatenated), handFixedIndex(spec));
  });
});

describe("fixed index: writer round trip", () => {
  it("round-trips uuid, ctime, size, chunk size and digests", () => {
    const digests = Array.from({ length: 17 }, (_, i) => digestOf(`x${i}`));
    const bytes = writeFixedIndex({ ctime: 1_800_000_000, size: 17 * 65536 - 3, chunkSize: 65536, digests });
    const index = parseIndex(bytes, "rt.fidx");
    assert.match(index.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(index.ctime, 1_800_000_000);
    assert.equal(index.indexBytes, 17 * 65536 - 3);
    assert.equal(index.chunkSize, 65536);
    assert.deepEqual(Buffer.from(index.digests), Buffer.concat(digests));
  });

  it("refuses inconsistent input", () => {
    assert.throws(() => writeFixedIndex({ ctime: 0, size: 10, chunkSize: 3, digests: [digestOf("a")] }), RangeError);
    assert.throws(() => writeFixedIndex({ ctime: 0, size: 10, chunkSize: 0, digests: [] }), RangeError);
    assert.throws(() => writeFixedIndex({ ctime: 0, size: 5 * MiB, chunkSize: 4 * MiB, digests: [digestOf("a")] }));
    assert.throws(() => writeFixedIndex({ ctime: 0, size: 1, chunkSize: 4, digests: [new Uint8Array(31)] }));
    assert.throws(() => writeFixedIndex({ uuid: "nope", ctime: 0, size: 0, chunkSize: 4, digests: [] }));
  });
});

describe("fixed index: corrupt files are rejected naming the file", () => {
  const good = () => handFixedIndex(spec);

  it("bad magic", () => {
    const file = good();
    file[3] = 0;
    assertFormatError(() => parseIndex(file, SOURCE), IndexFormatError, SOURCE, /magic 2f7f410091fd0fcd/);
  });

  it("empty and truncated below the 4096-byte header", () => {
    assertFormatError(() => parseIndex(new Uint8Array(0), SOURCE), IndexFormatError, SOURCE, /truncated/);
    assertFormatError(() => parseIndex(good().subarray(0, 100), SOURCE), IndexFormatError, SOURCE, /truncated.*100/);
    assertFormatError(() => parseIndex(good().subarray(0, 4095), SOURCE), IndexFormatError, SOURCE, /truncated/);
  });

  it("truncated in the middle of a digest", () => {
    const file = good().subarray(0, 4096 + 2 * 32 + 10);
    assertFormatError(() => parseIndex(file, SOURCE), IndexFormatError, SOURCE, /truncated.*4170 bytes.*expected 4192/);
  });

  it("truncated by a whole digest", () => {
    const file = good().subarray(0, 4096 + 2 * 32);
    assertFormatError(() => parseIndex(file, SOURCE), IndexFormatError, SOURCE, /truncated.*3 digests/);
  });

  it("trailing bytes", () => {
    const file = Buffer.concat([good(), Buffer.alloc(32)]);
    assertFormatError(() => parseIndex(file, SOURCE), IndexFormatError, SOURCE, /wrong .*length.*4224.*expected 4192/);
  });

  it("size in the header disagreeing with the digests present", () => {
    const file = good();
    file.writeBigUInt64LE(BigInt(13 * MiB), 64); // needs 4 digests
    assertFormatError(() => parseIndex(file, SOURCE), IndexFormatError, SOURCE, /expected 4224/);
  });

  it("wrong checksum: parseIndex throws, inspectIndex reports it", () => {
    const file = good();
    file[4096 + 40] = (file[4096 + 40]! + 1) & 0xff;
    assertFormatError(() => parseIndex(file, SOURCE), IndexFormatError, SOURCE, /checksum mismatch/);
    const inspected = inspectIndex(file, SOURCE);
    assert.equal(inspected.checksumOk, false);
    assert.equal(inspected.checksum, sha256Hex(Buffer.concat(threeDigests)));
    assert.equal(inspected.computedChecksum, sha256Hex(file.subarray(4096)));
    assert.equal(inspectIndex(good(), SOURCE).checksumOk, true);
  });

  it("checksum field itself damaged", () => {
    const file = good();
    file[32] = (file[32]! ^ 0x80) & 0xff;
    assertFormatError(() => parseIndex(file, SOURCE), IndexFormatError, SOURCE, /checksum/);
  });

  it("non-power-of-two chunk size", () => {
    for (const chunkSize of [3000n, 4n * 1024n * 1024n + 1n, (1n << 32n) + (1n << 31n), 3n << 40n]) {
      const file = good();
      file.writeBigUInt64LE(chunkSize, 72);
      assertFormatError(
        () => parseIndex(file, SOURCE),
        IndexFormatError,
        SOURCE,
        new RegExp(`chunk size ${chunkSize} is not a power of two`),
      );
    }
  });

  it("zero chunk size", () => {
    const file = good();
    file.writeBigUInt64LE(0n, 72);
    assertFormatError(() => parseIndex(file, SOURCE), IndexFormatError, SOURCE, /chunk size 0 /);
  });

  it("chunk size or size beyond 2^53", () => {
    const huge = good();
    huge.writeBigUInt64LE(1n << 60n, 72);
    assertFormatError(() => parseIndex(huge, SOURCE), IndexFormatError, SOURCE, /chunk size/);
    const big = good();
    big.writeBigUInt64LE((1n << 64n) - 1n, 64);
    assertFormatError(() => parseIndex(big, SOURCE), IndexFormatError, SOURCE, /size 18446744073709551615/);
  });

  it("a dynamic index where a fixed one was expected", () => {
    const file = fixChecksum(good());
    Buffer.from("1c914ea519bab3cd", "hex").copy(file, 0);
    assertFormatError(
      () => parseIndex(file, SOURCE, { expectedKind: "fixed" }),
      IndexFormatError,
      SOURCE,
      /expected a fixed index/,
    );
  });
});
