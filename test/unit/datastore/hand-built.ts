// Index files built byte by byte from the format tables (docs/datastore-format.md#fixed-index, #dynamic-index)
// with literal offsets and magics, independent of the library's writer and constants, so that the tests check the
// library against the format's description.
import { createHash } from "node:crypto";

export const UUID_HEX = "0123456789abcdef0011223344556677";
export const UUID_CANONICAL = "01234567-89ab-cdef-0011-223344556677";

/** A recognisable digest: SHA-256 of a label. */
export function digestOf(label: string): Buffer {
  return createHash("sha256").update(label).digest();
}

export function sha256Hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

export type HandFixed = { ctime: number; size: number; chunkSize: number; digests: Buffer[] };

/** A `.fidx` per docs/datastore-format.md#fixed-index. */
export function handFixedIndex({ ctime, size, chunkSize, digests }: HandFixed): Buffer {
  const file = Buffer.alloc(4096 + 32 * digests.length); // reserved bytes 80…4095 stay zero
  Buffer.from("2f7f41ed91fd0fcd", "hex").copy(file, 0);
  Buffer.from(UUID_HEX, "hex").copy(file, 8);
  file.writeBigInt64LE(BigInt(ctime), 24);
  const all = Buffer.concat(digests);
  createHash("sha256").update(all).digest().copy(file, 32);
  file.writeBigUInt64LE(BigInt(size), 64);
  file.writeBigUInt64LE(BigInt(chunkSize), 72);
  all.copy(file, 4096);
  return file;
}

export type HandEntry = { end: number | bigint; digest: Buffer };

/** A `.didx` per docs/datastore-format.md#dynamic-index. */
export function handDynamicIndex(ctime: number, entries: HandEntry[]): Buffer {
  const file = Buffer.alloc(4096 + 40 * entries.length);
  Buffer.from("1c914ea519bab3cd", "hex").copy(file, 0);
  Buffer.from(UUID_HEX, "hex").copy(file, 8);
  file.writeBigInt64LE(BigInt(ctime), 24);
  entries.forEach(({ end, digest }, i) => {
    file.writeBigUInt64LE(BigInt(end), 4096 + 40 * i);
    digest.copy(file, 4096 + 40 * i + 8);
  });
  createHash("sha256").update(file.subarray(4096)).digest().copy(file, 32);
  return file;
}

/** Recomputes the header checksum after a test edited digests or entries (both formats hash everything after 4096). */
export function fixChecksum(file: Buffer): Buffer {
  createHash("sha256").update(file.subarray(4096)).digest().copy(file, 32);
  return file;
}
