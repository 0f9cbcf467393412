/**
 * The marker cache: for every chunk digest (its first 12 bytes) the last time a GC run marked it, kept in the cache
 * directory (a PVC in Kubernetes) between runs. It plays the role of PBS's chunk atimes: a chunk referenced by a
 * snapshot that was pruned since the last run stays "recently marked" until the cutoff has passed.
 *
 * File `markers.v2.bin`, all integers little-endian:
 *
 * | offset | size | field |
 * |---|---|---|
 * | 0 | 8 | magic `chunkgcM` |
 * | 8 | 4 | version, 2 |
 * | 12 | 4 | record size, 13 |
 * | 16 | 8 | entry count n (u64) |
 * | 24 | 8 | written at, ms since the epoch (u64) |
 * | 32 | 4 | minTime: the oldest time an entry may have (entries older were dropped when writing) |
 * | 36 | 4 | identity length L |
 * | 40 | L | identity: JSON `{"endpoint","bucket","store"}`, zero-padded to a multiple of 8 → header size H |
 * | H | 13·n | records: 9 key bytes (the mark table's key), u32 time (epoch seconds) |
 * | H+13·n | 32 | SHA-256 of every byte before it |
 *
 * Version 1 (`markers.v1.bin`, written by earlier releases) has the same header with version 1, record size 16 and
 * records of 12 key bytes + u32 time. It is still loaded (its keys cut to the table's 9 bytes) when no version 2 file
 * exists, so an upgrade keeps the chunk times the previous release recorded; the first version 2 write removes it.
 *
 * Crash safety: a write goes to `markers.v2.bin.tmp-<pid>-<random>` in the same directory, is fsync'd, renamed over
 * the old file and the directory is fsync'd. A kill -9 at any moment leaves the old complete file or the new complete
 * file (plus maybe a temp file, which the loader ignores and the next write removes; or, after an upgrade, the
 * version 1 file next to the new one, which the loader ignores once a version 2 file exists). Any damage is caught by the exact
 * length and the checksum, and reported as "corrupt"; the engine then relies on LastModified grace, which is safe.
 *
 * Loading never trusts unverified bytes: it streams the file once to verify the checksum (and identity) WITHOUT
 * touching the table, then streams the records into the table. So for every status but "loaded" the table is left
 * exactly as it was (empty, if the caller passed a fresh one). The file is never held in memory as a whole.
 */
import { createHash } from "node:crypto";
import { type FileHandle, mkdir, open } from "node:fs/promises";
import path from "node:path";
import { assertLayout } from "../datastore/layout.ts";
import { errorCode, removeStaleTemps, replaceFileAtomically, unlinkQuietly, writeFully } from "./cache-files.ts";
import { MARK_KEY_SIZE, MARK_RECORD_SIZE, type MarkTable } from "./mark-table.ts";

/** Which datastore a cache belongs to: the same directory must never feed another datastore's GC. */
export interface CacheIdentity {
  endpoint: string;
  bucket: string;
  store: string;
}

export type MarkerCacheStatus =
  | { state: "loaded"; entries: number; writtenAt: string; minTime: number }
  | { state: "missing" }
  | { state: "corrupt"; reason: string }
  | { state: "foreign"; reason: string };

export const MARKER_CACHE_FILE = "markers.v2.bin";
/** The file of format version 1, loaded when no version 2 file exists. */
export const MARKER_CACHE_FILE_V1 = "markers.v1.bin";
const MAGIC = Buffer.from("chunkgcM", "latin1");
const VERSION = 2;
/** Record size and time offset (after the key bytes) of each format version the loader reads. */
const RECORD_FORMATS: ReadonlyMap<number, { recordSize: number; timeOffset: number }> = new Map([
  [1, { recordSize: 16, timeOffset: 12 }],
  [VERSION, { recordSize: MARK_RECORD_SIZE, timeOffset: MARK_KEY_SIZE }],
]);
const FIXED_HEADER_SIZE = 40;
/** The fixed part of the header (little-endian); the identity follows it as JSON, zero-padded to 8 bytes. */
const HEADER = assertLayout("marker cache header", FIXED_HEADER_SIZE, {
  magic: { offset: 0, size: 8 },
  version: { offset: 8, size: 4 },
  recordSize: { offset: 12, size: 4 },
  entries: { offset: 16, size: 8 },
  writtenAtMs: { offset: 24, size: 8 },
  minTime: { offset: 32, size: 4 },
  identityLength: { offset: 36, size: 4 },
});
const CHECKSUM_SIZE = 32;
const MAX_IDENTITY_LENGTH = 64 * 1024;
/** Records per read/write: 1 MiB of I/O at a time. */
const IO_RECORDS = 65536;
/** More entries than this in a header can only be damage (the table holds at most ~2^28). */
const MAX_ENTRIES = 2 ** 32;

/** A marker cache that cannot be written, or that changed under the loader after it had been verified. */
export class MarkerCacheError extends Error {
  readonly path: string;
  readonly reason: string;

  constructor(file: string, reason: string, options?: { cause?: unknown }) {
    super(`marker cache ${file}: ${reason}`, options);
    this.name = "MarkerCacheError";
    this.path = file;
    this.reason = reason;
  }
}

/** The identity as stored in cache files: canonical JSON, the endpoint without trailing slashes. */
export function identityText(identity: CacheIdentity): string {
  return JSON.stringify({
    endpoint: identity.endpoint.replace(/\/+$/, ""),
    bucket: identity.bucket,
    store: identity.store,
  });
}

/** SHA-256 (hex) of the identity text: a short name for the identity. */
export function identityDigest(identity: CacheIdentity): string {
  return createHash("sha256").update(identityText(identity)).digest("hex");
}

function pad8(length: number): number {
  return (length + 7) & ~7;
}

/** Reads exactly `length` bytes at `position` into `buffer`; false at a premature end of file. */
async function readFully(handle: FileHandle, buffer: Buffer, length: number, position: number): Promise<boolean> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) return false;
    done += bytesRead;
  }
  return true;
}

/** Streams the records region; calls back with whole records only. */
async function forEachRecordPiece(
  handle: FileHandle,
  start: number,
  count: number,
  recordSize: number,
  onPiece: (piece: Buffer) => void,
): Promise<boolean> {
  const buffer = Buffer.allocUnsafe(IO_RECORDS * recordSize);
  for (let done = 0; done < count; ) {
    const records = Math.min(IO_RECORDS, count - done);
    const length = records * recordSize;
    if (!(await readFully(handle, buffer, length, start + done * recordSize))) return false;
    onPiece(buffer.subarray(0, length));
    done += records;
  }
  return true;
}

interface ParsedHeader {
  bytes: Buffer;
  recordSize: number;
  /** Offset of the u32 time in a record. */
  timeOffset: number;
  entries: number;
  writtenAtMs: number;
  minTime: number;
  identity: string;
}

/** Reads and checks the header against the file size; a string is the reason it is corrupt. */
async function readHeader(handle: FileHandle, fileSize: number): Promise<ParsedHeader | string> {
  if (fileSize < FIXED_HEADER_SIZE + CHECKSUM_SIZE) return `truncated: ${fileSize} bytes`;
  const fixed = Buffer.alloc(FIXED_HEADER_SIZE);
  if (!(await readFully(handle, fixed, FIXED_HEADER_SIZE, 0))) return "truncated header";
  if (!fixed.subarray(0, HEADER.magic.size).equals(MAGIC)) {
    return `bad magic ${fixed.subarray(0, HEADER.magic.size).toString("hex")}`;
  }
  const version = fixed.readUInt32LE(HEADER.version.offset);
  const format = RECORD_FORMATS.get(version);
  if (!format) return `unsupported version ${version} (expected ${[...RECORD_FORMATS.keys()].join(" or ")})`;
  const recordSize = fixed.readUInt32LE(HEADER.recordSize.offset);
  if (recordSize !== format.recordSize) {
    return `record size ${recordSize} (expected ${format.recordSize} for version ${version})`;
  }
  const entries = fixed.readBigUInt64LE(HEADER.entries.offset);
  if (entries > BigInt(MAX_ENTRIES)) return `implausible entry count ${entries}`;
  const identityLength = fixed.readUInt32LE(HEADER.identityLength.offset);
  if (identityLength > MAX_IDENTITY_LENGTH) return `implausible identity length ${identityLength}`;
  const headerSize = FIXED_HEADER_SIZE + pad8(identityLength);
  const expected = headerSize + Number(entries) * recordSize + CHECKSUM_SIZE;
  if (fileSize !== expected) {
    return `${fileSize < expected ? "truncated" : "wrong length"}: ${fileSize} bytes, the header announces ${expected} (${entries} entries)`;
  }
  const bytes = Buffer.alloc(headerSize);
  fixed.copy(bytes);
  if (
    !(await readFully(handle, bytes.subarray(FIXED_HEADER_SIZE), headerSize - FIXED_HEADER_SIZE, FIXED_HEADER_SIZE))
  ) {
    return "truncated header";
  }
  return {
    bytes,
    recordSize,
    timeOffset: format.timeOffset,
    entries: Number(entries),
    writtenAtMs: Number(fixed.readBigUInt64LE(HEADER.writtenAtMs.offset)),
    minTime: fixed.readUInt32LE(HEADER.minTime.offset),
    identity: bytes.toString("utf8", FIXED_HEADER_SIZE, FIXED_HEADER_SIZE + identityLength),
  };
}

/**
 * Loads the marker cache of `dir` into `table` (each record through `table.mark`, so existing entries keep the later
 * time), after reserving room for its entries. Reads `markers.v2.bin`, or `markers.v1.bin` when there is no version 2
 * file. Only a "loaded" status modifies the table. Throws MarkerCacheError only if the file, after passing
 * verification, reads differently the second time (another writer, failing storage): the table then holds
 * unverified entries, and the run must not go on with it.
 */
export async function loadMarkerCache(
  dir: string,
  identity: CacheIdentity,
  table: MarkTable,
): Promise<MarkerCacheStatus> {
  let file = "";
  let handle: FileHandle | undefined;
  for (const name of [MARKER_CACHE_FILE, MARKER_CACHE_FILE_V1]) {
    file = path.join(dir, name);
    try {
      handle = await open(file, "r");
      break;
    } catch (error) {
      if (errorCode(error) === "ENOENT") continue;
      return { state: "corrupt", reason: `${name} unreadable: ${(error as Error).message}` };
    }
  }
  if (!handle) return { state: "missing" };
  try {
    const header = await readHeader(handle, (await handle.stat()).size);
    if (typeof header === "string") return { state: "corrupt", reason: header };
    const { recordSize, timeOffset } = header;
    const recordsStart = header.bytes.length;
    const checksum = Buffer.alloc(CHECKSUM_SIZE);
    if (!(await readFully(handle, checksum, CHECKSUM_SIZE, recordsStart + header.entries * recordSize))) {
      return { state: "corrupt", reason: "truncated checksum" };
    }

    // Pass 1: verify everything before trusting anything.
    const verify = createHash("sha256").update(header.bytes);
    if (
      !(await forEachRecordPiece(handle, recordsStart, header.entries, recordSize, (piece) => verify.update(piece)))
    ) {
      return { state: "corrupt", reason: "truncated records" };
    }
    if (!verify.digest().equals(checksum)) return { state: "corrupt", reason: "checksum mismatch" };
    const expectedIdentity = identityText(identity);
    if (header.identity !== expectedIdentity) {
      return {
        state: "foreign",
        reason: `the cache belongs to ${header.identity}, this run is for ${expectedIdentity}`,
      };
    }

    // Pass 2: mark, hashing again what was actually used.
    // Room for the cache's entries, no more: the chunks this run adds grow a segment by half, one segment at a time
    // (a table sized ahead for them would hold that room through the whole run).
    table.reserve(table.size + header.entries);
    const again = createHash("sha256").update(header.bytes);
    const complete = await forEachRecordPiece(handle, recordsStart, header.entries, recordSize, (piece) => {
      again.update(piece);
      // A version 1 record's 12 key bytes start with the table's 9: `mark` reads only those.
      for (let at = 0; at < piece.length; at += recordSize) {
        table.mark(piece, at, piece.readUInt32LE(at + timeOffset));
      }
    });
    if (!complete || !again.digest().equals(checksum)) {
      throw new MarkerCacheError(file, "changed while being loaded after it had been verified; do not use the table");
    }
    return {
      state: "loaded",
      entries: header.entries,
      writtenAt: new Date(header.writtenAtMs).toISOString(),
      minTime: header.minTime,
    };
  } catch (error) {
    if (error instanceof MarkerCacheError) throw error;
    return { state: "corrupt", reason: `unreadable: ${(error as Error).message}` };
  } finally {
    await handle.close().catch(() => undefined);
  }
}

function buildHeader(identity: CacheIdentity, entries: number, now: Date, minTime: number): Buffer {
  const identityBytes = Buffer.from(identityText(identity), "utf8");
  if (identityBytes.length > MAX_IDENTITY_LENGTH) {
    throw new RangeError(`cache identity is ${identityBytes.length} bytes (at most ${MAX_IDENTITY_LENGTH})`);
  }
  const header = Buffer.alloc(FIXED_HEADER_SIZE + pad8(identityBytes.length));
  MAGIC.copy(header, 0);
  header.writeUInt32LE(VERSION, HEADER.version.offset);
  header.writeUInt32LE(MARK_RECORD_SIZE, HEADER.recordSize.offset);
  header.writeBigUInt64LE(BigInt(entries), HEADER.entries.offset);
  header.writeBigUInt64LE(BigInt(Math.max(0, now.getTime())), HEADER.writtenAtMs.offset);
  header.writeUInt32LE(minTime >>> 0, HEADER.minTime.offset);
  header.writeUInt32LE(identityBytes.length, HEADER.identityLength.offset);
  identityBytes.copy(header, FIXED_HEADER_SIZE);
  return header;
}

/**
 * Writes every entry of `table` with time ≥ minTime as the new marker cache of `dir`, atomically (temp file, fsync,
 * rename, directory fsync). The table must not be modified until the returned promise settles (checked: a change
 * of size or capacity meanwhile fails the write and keeps the old file).
 */
export async function writeMarkerCache(
  dir: string,
  identity: CacheIdentity,
  table: MarkTable,
  options: { minTime: number; now: Date },
): Promise<{ entries: number; bytes: number }> {
  const minTime = Math.max(0, Math.ceil(options.minTime));
  if (minTime > 0xffffffff) throw new RangeError(`minTime out of range: ${options.minTime}`);
  const file = path.join(dir, MARKER_CACHE_FILE);
  try {
    await mkdir(dir, { recursive: true });
    await removeStaleTemps(dir, MARKER_CACHE_FILE);
    await removeStaleTemps(dir, MARKER_CACHE_FILE_V1);
  } catch (error) {
    throw new MarkerCacheError(file, `cannot prepare the directory: ${(error as Error).message}`, { cause: error });
  }
  const entries = table.countSince(minTime);
  const { size, capacity } = table;
  const header = buildHeader(identity, entries, options.now, minTime);
  try {
    const bytes = await replaceFileAtomically(file, async (handle) => {
      const hash = createHash("sha256").update(header);
      await writeFully(handle, header, 0);
      let position = header.length;
      let written = 0;
      const buffer = Buffer.allocUnsafe(IO_RECORDS * MARK_RECORD_SIZE);
      for (let from = 0; from !== -1; ) {
        const piece = table.writeRecords(minTime, buffer, from);
        if (piece.records > 0) {
          const bytes = buffer.subarray(0, piece.records * MARK_RECORD_SIZE);
          hash.update(bytes);
          await writeFully(handle, bytes, position);
          position += bytes.length;
          written += piece.records;
        }
        if (table.size !== size || table.capacity !== capacity) {
          throw new MarkerCacheError(file, "the mark table changed while the cache was written");
        }
        from = piece.next;
      }
      if (written !== entries) {
        throw new MarkerCacheError(file, `wrote ${written} entries, expected ${entries}`);
      }
      await writeFully(handle, hash.digest(), position);
      return position + CHECKSUM_SIZE;
    });
    // The version 1 file of an earlier release is superseded once this one is in place; the loader ignores it from
    // now on, so failing to remove it costs only disk space.
    await unlinkQuietly(path.join(dir, MARKER_CACHE_FILE_V1)).catch(() => undefined);
    return { entries, bytes };
  } catch (error) {
    if (error instanceof MarkerCacheError) throw error;
    throw new MarkerCacheError(file, `cannot write: ${(error as Error).message}`, { cause: error });
  }
}
