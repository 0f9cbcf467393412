import { createHash } from "node:crypto";
import { DIGEST_SIZE } from "./digest.ts";
import { IndexFormatError } from "./errors.ts";
import { INDEX_HEADER_SIZE, type InspectedIndex, readCtime } from "./index-header.ts";
import { assertLayout, hasMagic, hexOf, readSafeU64, viewOf, writeU64 } from "./layout.ts";
import { newUuid, uuidFromBytes, writeUuid } from "./uuid.ts";

/** Magic of a fixed index (`.fidx`): PBS's FIXED_SIZED_CHUNK_INDEX_1_0. */
export const FIXED_INDEX_MAGIC = Uint8Array.of(0x2f, 0x7f, 0x41, 0xed, 0x91, 0xfd, 0x0f, 0xcd);

/**
 * Header of a fixed index, little-endian (docs/datastore-format.md#fixed-index). Digests follow at 4096, 32 bytes
 * each.
 */
export const FIXED_INDEX_HEADER = assertLayout("fixed index header", INDEX_HEADER_SIZE, {
  magic: { offset: 0, size: 8 },
  uuid: { offset: 8, size: 16 },
  /** i64 seconds */
  ctime: { offset: 24, size: 8 },
  /** SHA-256 of all digests concatenated */
  checksum: { offset: 32, size: 32 },
  /** u64, bytes of the original image */
  size: { offset: 64, size: 8 },
  /** u64, a power of two */
  chunkSize: { offset: 72, size: 8 },
  reserved: { offset: 80, size: 4016 },
});

/** The number of digests a fixed index of `size` bytes in chunks of `chunkSize` holds: ceil(size / chunkSize). */
export function fixedIndexChunkCount(size: number, chunkSize: number): number {
  // chunkSize is a power of two, so the division is exact in floating point.
  return Math.ceil(size / chunkSize);
}

/** Whether the u64 given as two u32 words has exactly one bit set. */
function isPowerOfTwoU64(low: number, high: number): boolean {
  if (high === 0) return low !== 0 && (low & (low - 1)) === 0;
  return low === 0 && (high & (high - 1)) === 0;
}

export function isPowerOfTwo(value: number): boolean {
  if (!Number.isSafeInteger(value) || value <= 0) return false;
  return isPowerOfTwoU64(value % 0x1_0000_0000, Math.floor(value / 0x1_0000_0000));
}

/** Validates a fixed index (everything but rejecting a checksum mismatch, which it reports in `checksumOk`). */
export function inspectFixedIndex(bytes: Uint8Array, source: string): InspectedIndex {
  const H = FIXED_INDEX_HEADER;
  if (bytes.length < INDEX_HEADER_SIZE) {
    throw new IndexFormatError(
      source,
      `truncated fixed index: ${bytes.length} bytes, the header alone is ${INDEX_HEADER_SIZE}`,
    );
  }
  if (!hasMagic(bytes, FIXED_INDEX_MAGIC)) {
    throw new IndexFormatError(source, `not a fixed index: magic ${hexOf(bytes, 0, 8)}`);
  }
  const view = viewOf(bytes);
  const ctime = readCtime(view, H.ctime.offset, source);
  const size = readSafeU64(view, H.size.offset);
  if (size === undefined) {
    throw new IndexFormatError(source, `fixed index size ${view.getBigUint64(H.size.offset, true)} is out of range`);
  }
  const chunkLow = view.getUint32(H.chunkSize.offset, true);
  const chunkHigh = view.getUint32(H.chunkSize.offset + 4, true);
  const chunkSize = readSafeU64(view, H.chunkSize.offset);
  if (chunkSize === undefined || !isPowerOfTwoU64(chunkLow, chunkHigh)) {
    const shown = view.getBigUint64(H.chunkSize.offset, true);
    throw new IndexFormatError(source, `fixed index chunk size ${shown} is not a power of two`);
  }
  const chunkCount = fixedIndexChunkCount(size, chunkSize);
  const expected = INDEX_HEADER_SIZE + DIGEST_SIZE * chunkCount;
  if (bytes.length !== expected) {
    const what = bytes.length < expected ? "truncated fixed index" : "wrong fixed index length";
    throw new IndexFormatError(
      source,
      `${what}: ${bytes.length} bytes, expected ${expected} (${INDEX_HEADER_SIZE} + 32 × ${chunkCount} digests ` +
        `for size ${size} in chunks of ${chunkSize})`,
    );
  }
  const digests = bytes.subarray(INDEX_HEADER_SIZE, expected);
  const computed = createHash("sha256").update(digests).digest();
  const stored = bytes.subarray(H.checksum.offset, H.checksum.offset + H.checksum.size);
  return {
    kind: "fixed",
    uuid: uuidFromBytes(bytes, H.uuid.offset),
    ctime,
    indexBytes: size,
    chunkCount,
    chunkSize,
    digests,
    checksum: hexOf(bytes, H.checksum.offset, H.checksum.offset + H.checksum.size),
    checksumOk: computed.equals(stored),
    computedChecksum: computed.toString("hex"),
  };
}

export type FixedIndexInput = {
  /** Canonical uuid; a random one when absent. */
  uuid?: string;
  /** Seconds since the epoch. */
  ctime: number;
  /** Bytes of the original image. */
  size: number;
  /** A power of two. */
  chunkSize: number;
  /** ceil(size / chunkSize) digests, as 32-byte arrays or concatenated. */
  digests: Uint8Array[] | Uint8Array;
};

/** Serialises a fixed index exactly as PBS writes it (the reserved area is zero). */
export function writeFixedIndex(input: FixedIndexInput): Uint8Array {
  const H = FIXED_INDEX_HEADER;
  if (!Number.isSafeInteger(input.size) || input.size < 0) {
    throw new RangeError(`fixed index size ${input.size} must be a non-negative integer`);
  }
  if (!isPowerOfTwo(input.chunkSize)) {
    throw new RangeError(`fixed index chunk size ${input.chunkSize} must be a power of two`);
  }
  if (!Number.isSafeInteger(input.ctime)) throw new RangeError(`ctime ${input.ctime} must be an integer`);
  const chunkCount = fixedIndexChunkCount(input.size, input.chunkSize);
  const given = input.digests instanceof Uint8Array ? input.digests.length / DIGEST_SIZE : input.digests.length;
  if (given !== chunkCount) {
    throw new RangeError(
      `fixed index of size ${input.size} in chunks of ${input.chunkSize} needs ${chunkCount} digests, got ${given}`,
    );
  }
  const out = new Uint8Array(INDEX_HEADER_SIZE + DIGEST_SIZE * chunkCount);
  if (input.digests instanceof Uint8Array) {
    out.set(input.digests, INDEX_HEADER_SIZE);
  } else {
    input.digests.forEach((digest, i) => {
      if (digest.length !== DIGEST_SIZE) throw new RangeError(`digest ${i} has ${digest.length} bytes, not 32`);
      out.set(digest, INDEX_HEADER_SIZE + i * DIGEST_SIZE);
    });
  }
  const view = viewOf(out);
  out.set(FIXED_INDEX_MAGIC, H.magic.offset);
  writeUuid(input.uuid ?? newUuid(), out, H.uuid.offset);
  view.setBigInt64(H.ctime.offset, BigInt(input.ctime), true);
  out.set(createHash("sha256").update(out.subarray(INDEX_HEADER_SIZE)).digest(), H.checksum.offset);
  writeU64(view, H.size.offset, input.size);
  writeU64(view, H.chunkSize.offset, input.chunkSize);
  return out;
}
