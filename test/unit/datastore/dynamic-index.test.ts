import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  DYNAMIC_INDEX_HEADER,
  DYNAMIC_INDEX_MAGIC,
  IndexFormatError,
  inspectIndex,
  parseIndex,
  writeDynamicIndex,
} from "../../../src/datastore/index.ts";
import { assertFormatError } from "./assert-format-error.ts";
import { digestOf, fixChecksum, type HandEntry, handDynamicIndex, sha256Hex, UUID_CANONICAL } from "./hand-built.ts";

const SOURCE = "store/.cnt/ns/prod/host/web-1/2024-05-01T10:00:00Z/root.pxar.didx";
const entries: HandEntry[] = [
  { end: 1000, digest: digestOf("one") },
  { end: 5096, digest: digestOf("two") },
  { end: 5096, digest: digestOf("empty") }, // equal ends are allowed (non-decreasing)
  { end: 2n ** 40n + 7n, digest: digestOf("three") }, // needs the high word of the u64
];

describe("dynamic index: hand-built fixture from docs/datastore-format.md#dynamic-index", () => {
  it("has the layout of the spec table", () => {
    const file = handDynamicIndex(1, entries);
    assert.equal(file.length, 4096 + 4 * 40);
    assert.equal(file.subarray(0, 8).toString("hex"), "1c914ea519bab3cd");
    assert.deepEqual(DYNAMIC_INDEX_MAGIC, new Uint8Array(file.subarray(0, 8)));
    assert.deepEqual(
      Object.fromEntries(Object.entries(DYNAMIC_INDEX_HEADER).map(([k, f]) => [k, [f.offset, f.size]])),
      { magic: [0, 8], uuid: [8, 16], ctime: [24, 8], checksum: [32, 32], reserved: [64, 4032] },
    );
  });

  it("parses every field; index bytes are the last end offset", () => {
    const file = handDynamicIndex(1714557600, entries);
    const index = parseIndex(file, SOURCE);
    assert.equal(index.kind, "dynamic");
    assert.equal(index.uuid, UUID_CANONICAL);
    assert.equal(index.ctime, 1714557600);
    assert.equal(index.chunkCount, 4);
    assert.equal(index.indexBytes, 2 ** 40 + 7);
    assert.equal(index.chunkSize, undefined);
    assert.deepEqual(Buffer.from(index.digests), Buffer.concat(entries.map((e) => e.digest)));
    // The checksum covers the entries as stored: end u64 LE then digest.
    const stored = Buffer.concat(
      entries.map(({ end, digest }) => {
        const endBytes = Buffer.alloc(8);
        endBytes.writeBigUInt64LE(BigInt(end));
        return Buffer.concat([endBytes, digest]);
      }),
    );
    assert.equal(index.checksum, sha256Hex(stored));
  });

  it("returns the digests compacted into one buffer, not a view of the entries", () => {
    const file = handDynamicIndex(1, entries);
    const index = parseIndex(file, SOURCE);
    assert.notEqual(index.digests.buffer, file.buffer);
    assert.equal(index.digests.length, 4 * 32);
  });

  it("accepts an empty archive: no entries, index bytes 0", () => {
    const index = parseIndex(handDynamicIndex(1, []), SOURCE);
    assert.equal(index.chunkCount, 0);
    assert.equal(index.indexBytes, 0);
    assert.equal(index.digests.length, 0);
  });

  it("is what our writer produces, byte for byte", () => {
    const written = writeDynamicIndex({
      uuid: UUID_CANONICAL.toUpperCase(),
      ctime: 1714557600,
      entries: entries.map(({ end, digest }) => ({ end: Number(end), digest })),
    });
    assert.deepEqual(Buffer.from(written), handDynamicIndex(1714557600, entries));
  });
});

describe("dynamic index: writer round trip", () => {
  it("round-trips ends and digests", () => {
    const input = Array.from({ length: 50 }, (_, i) => ({ end: (i + 1) * 4099, digest: digestOf(`c${i}`) }));
    const index = parseIndex(writeDynamicIndex({ ctime: -1, entries: input }), "rt.didx");
    assert.equal(index.ctime, -1);
    assert.equal(index.indexBytes, 50 * 4099);
    assert.deepEqual(Buffer.from(index.digests), Buffer.concat(input.map((e) => e.digest)));
  });

  it("refuses decreasing ends and short digests", () => {
    const d = digestOf("x");
    assert.throws(() =>
      writeDynamicIndex({
        ctime: 0,
        entries: [
          { end: 5, digest: d },
          { end: 4, digest: d },
        ],
      }),
    );
    assert.throws(() => writeDynamicIndex({ ctime: 0, entries: [{ end: 5, digest: d.subarray(1) }] }));
  });
});

describe("dynamic index: corrupt files are rejected naming the file", () => {
  const good = () => handDynamicIndex(1, entries);

  it("bad magic", () => {
    const file = good();
    file[0] = 0x1d;
    assertFormatError(() => parseIndex(file, SOURCE), IndexFormatError, SOURCE, /magic 1d914ea5/);
  });

  it("truncated below the header", () => {
    assertFormatError(() => parseIndex(good().subarray(0, 4000), SOURCE), IndexFormatError, SOURCE, /truncated/);
    assertFormatError(() => parseIndex(good().subarray(0, 5), SOURCE), IndexFormatError, SOURCE, /truncated/);
  });

  it("entry area not a multiple of 40", () => {
    for (const length of [4096 + 1, 4096 + 39, 4096 + 40 + 20, 4096 + 4 * 40 - 1]) {
      const file = good().subarray(0, length);
      assertFormatError(
        () => parseIndex(file, SOURCE),
        IndexFormatError,
        SOURCE,
        new RegExp(`${length - 4096} bytes after the header are not a multiple of 40`),
      );
    }
    const longer = Buffer.concat([good(), Buffer.alloc(8)]);
    assertFormatError(() => parseIndex(longer, SOURCE), IndexFormatError, SOURCE, /not a multiple of 40/);
  });

  it("decreasing end offsets, even with a matching checksum", () => {
    const file = handDynamicIndex(1, [
      { end: 100, digest: digestOf("a") },
      { end: 99, digest: digestOf("b") },
    ]);
    assertFormatError(() => parseIndex(file, SOURCE), IndexFormatError, SOURCE, /entry 1 ends at 99.*entry 0.*100/);
  });

  it("end offset beyond 2^53", () => {
    const file = handDynamicIndex(1, [{ end: 2n ** 60n, digest: digestOf("a") }]);
    assertFormatError(() => parseIndex(file, SOURCE), IndexFormatError, SOURCE, /out of range/);
  });

  it("wrong checksum: a changed end offset or digest", () => {
    const endChanged = good();
    endChanged.writeBigUInt64LE(1001n, 4096);
    assertFormatError(() => parseIndex(endChanged, SOURCE), IndexFormatError, SOURCE, /checksum mismatch/);
    const digestChanged = good();
    digestChanged[4096 + 40 + 8] = (digestChanged[4096 + 40 + 8]! ^ 1) & 0xff;
    assertFormatError(() => parseIndex(digestChanged, SOURCE), IndexFormatError, SOURCE, /checksum mismatch/);
    const inspected = inspectIndex(digestChanged, SOURCE);
    assert.equal(inspected.checksumOk, false);
    assert.equal(inspected.chunkCount, 4);
    assert.equal(parseIndex(fixChecksum(digestChanged), SOURCE).chunkCount, 4);
  });

  it("a fixed index where a dynamic one was expected", () => {
    const file = good();
    Buffer.from("2f7f41ed91fd0fcd", "hex").copy(file, 0);
    assertFormatError(
      () => parseIndex(file, SOURCE, { expectedKind: "dynamic" }),
      IndexFormatError,
      SOURCE,
      /expected a dynamic index, the magic says fixed/,
    );
  });
});
