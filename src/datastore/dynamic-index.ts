import { createHash } from "node:crypto";
import { DIGEST_SIZE } from "./digest.ts";
import { IndexFormatError } from "./errors.ts";
import { INDEX_HEADER_SIZE, type InspectedIndex, readCtime } from "./index-header.ts";
import { assertLayout, hasMagic, hexOf, readSafeU64, viewOf, writeU64 } from "./layout.ts";
import { newUuid, uuidFromBytes, writeUuid } from "./uuid.ts";

/** Magic of a dynamic index (`.didx`): PBS's DYNAMIC_SIZED_CHUNK_INDEX_1_0. */
export const DYNAMIC_INDEX_MAGIC = Uint8Array.of(0x1c, 0x91, 0x4e, 0xa5, 0x19, 0xba, 0xb3, 0xcd);

/** Header of a dynamic index, little-endian (docs/datastore-format.md#dynamic-index). Entries follow at 4096. */
export const DYNAMIC_INDEX_HEADER = assertLayout("dynamic index header", INDEX_HEADER_SIZE, {
  magic: { offset: 0, size: 8 },
  uuid: { offset: 8, size: 16 },
  /** i64 seconds */
  ctime: { offset: 24, size: 8 },
  /** SHA-256 over all entries as stored */
  checksum: { offset: 32, size: 32 },
  reserved: { offset: 64, size: 4032 },
});

/** One entry after the header: the cumulative end offset of the chunk in the archive, then its digest. */
export const DYNAMIC_INDEX_ENTRY = assertLayout("dynamic index entry", 40, {
  /** u64 LE */
  end: { offset: 0, size: 8 },
  digest: { offset: 8, size: DIGEST_SIZE },
});
export const DYNAMIC_INDEX_ENTRY_SIZE = 40;

/** Validates a dynamic index (everything but rejecting a checksum mismatch, which it reports in `checksumOk`). */
export function inspectDynamicIndex(bytes: Uint8Array, source: string): InspectedIndex {
  const H = DYNAMIC_INDEX_HEADER;
  const E = DYNAMIC_INDEX_ENTRY;
  if (bytes.length < INDEX_HEADER_SIZE) {
    throw new IndexFormatError(
      source,
      `truncated dynamic index: ${bytes.length} bytes, the header alone is ${INDEX_HEADER_SIZE}`,
    );
  }
  if (!hasMagic(bytes, DYNAMIC_INDEX_MAGIC)) {
    throw new IndexFormatError(source, `not a dynamic index: magic ${hexOf(bytes, 0, 8)}`);
  }
  const entryBytes = bytes.length - INDEX_HEADER_SIZE;
  if (entryBytes % DYNAMIC_INDEX_ENTRY_SIZE !== 0) {
    throw new IndexFormatError(
      source,
      `truncated or wrong-length dynamic index: ${bytes.length} bytes, ` +
        `the ${entryBytes} bytes after the header are not a multiple of ${DYNAMIC_INDEX_ENTRY_SIZE}`,
    );
  }
  const view = viewOf(bytes);
  const ctime = readCtime(view, H.ctime.offset, source);
  const chunkCount = entryBytes / DYNAMIC_INDEX_ENTRY_SIZE;
  const digests = new Uint8Array(chunkCount * DIGEST_SIZE);
  let previousEnd = 0;
  for (let i = 0, at = INDEX_HEADER_SIZE, to = 0; i < chunkCount; i++, at += DYNAMIC_INDEX_ENTRY_SIZE) {
    const end = readSafeU64(view, at + E.end.offset);
    if (end === undefined) {
      throw new IndexFormatError(
        source,
        `dynamic index entry ${i} end offset ${view.getBigUint64(at, true)} is out of range`,
      );
    }
    if (end < previousEnd) {
      throw new IndexFormatError(
        source,
        `dynamic index entry ${i} ends at ${end}, before entry ${i - 1} which ends at ${previousEnd}`,
      );
    }
    previousEnd = end;
    for (let b = at + E.digest.offset, stop = b + DIGEST_SIZE; b < stop; b++, to++) digests[to] = bytes[b]!;
  }
  const computed = createHash("sha256").update(bytes.subarray(INDEX_HEADER_SIZE)).digest();
  const stored = bytes.subarray(H.checksum.offset, H.checksum.offset + H.checksum.size);
  return {
    kind: "dynamic",
    uuid: uuidFromBytes(bytes, H.uuid.offset),
    ctime,
    indexBytes: previousEnd,
    chunkCount,
    digests,
    checksum: hexOf(bytes, H.checksum.offset, H.checksum.offset + H.checksum.size),
    checksumOk: computed.equals(stored),
    computedChecksum: computed.toString("hex"),
  };
}

export type DynamicIndexEntry = { end: number; digest: Uint8Array };

export type DynamicIndexInput = {
  /** Canonical uuid; a random one when absent. */
  uuid?: string;
  /** Seconds since the epoch. */
  ctime: number;
  /** Cumulative end offsets, non-decreasing. */
  entries: DynamicIndexEntry[];
};

/** Serialises a dynamic index exactly as PBS writes it (the reserved area is zero). */
export function writeDynamicIndex(input: DynamicIndexInput): Uint8Array {
  const H = DYNAMIC_INDEX_HEADER;
  const E = DYNAMIC_INDEX_ENTRY;
  if (!Number.isSafeInteger(input.ctime)) throw new RangeError(`ctime ${input.ctime} must be an integer`);
  const out = new Uint8Array(INDEX_HEADER_SIZE + DYNAMIC_INDEX_ENTRY_SIZE * input.entries.length);
  const view = viewOf(out);
  let previousEnd = 0;
  input.entries.forEach(({ end, digest }, i) => {
    if (!Number.isSafeInteger(end) || end < previousEnd) {
      throw new RangeError(`dynamic index entry ${i} end ${end} must be an integer ≥ the previous end ${previousEnd}`);
    }
    if (digest.length !== DIGEST_SIZE) throw new RangeError(`digest ${i} has ${digest.length} bytes, not 32`);
    const at = INDEX_HEADER_SIZE + i * DYNAMIC_INDEX_ENTRY_SIZE;
    writeU64(view, at + E.end.offset, end);
    out.set(digest, at + E.digest.offset);
    previousEnd = end;
  });
  out.set(DYNAMIC_INDEX_MAGIC, H.magic.offset);
  writeUuid(input.uuid ?? newUuid(), out, H.uuid.offset);
  view.setBigInt64(H.ctime.offset, BigInt(input.ctime), true);
  out.set(createHash("sha256").update(out.subarray(INDEX_HEADER_SIZE)).digest(), H.checksum.offset);
  return out;
}
