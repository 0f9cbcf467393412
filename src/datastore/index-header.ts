import { IndexFormatError } from "./errors.ts";

/** Which of the two PBS index formats a file is in. */
export type IndexKind = "fixed" | "dynamic";

/** Both index formats start with a 4096-byte header; digests (fixed) or entries (dynamic) follow it. */
export const INDEX_HEADER_SIZE = 4096;

/** A validated index: what GC needs from it. */
export type ParsedIndex = {
  kind: IndexKind;
  /** Canonical 8-4-4-4-12 lowercase hex. */
  uuid: string;
  /** Creation time, seconds since the epoch. */
  ctime: number;
  /** Bytes of the original data the index describes (fixed: `size`; dynamic: last end offset, 0 when empty). */
  indexBytes: number;
  chunkCount: number;
  /** Fixed indexes only. */
  chunkSize?: number;
  /**
   * The chunkCount × 32 digest bytes, concatenated. For a fixed index this is a view into the input bytes (no copy);
   * for a dynamic index, whose digests are interleaved with end offsets, one compact copy made in a single allocation.
   */
  digests: Uint8Array;
  /** The checksum stored in the header, lowercase hex. */
  checksum: string;
};

/** A structurally valid index whose checksum may not match (see `inspectIndex`). */
export type InspectedIndex = ParsedIndex & {
  checksumOk: boolean;
  /** The checksum of the digests / entries as read, lowercase hex. */
  computedChecksum: string;
};

/** Reads the i64 ctime shared by both index headers. */
export function readCtime(view: DataView, offset: number, source: string): number {
  const ctime = view.getBigInt64(offset, true);
  if (ctime > BigInt(Number.MAX_SAFE_INTEGER) || ctime < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new IndexFormatError(source, `index ctime ${ctime} is out of range`);
  }
  return Number(ctime);
}
