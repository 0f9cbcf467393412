import { createHash } from "node:crypto";
import { KeyFormatError } from "./errors.ts";

/** A chunk digest is SHA-256: 32 bytes, written as 64 lowercase hex characters in keys. */
export const DIGEST_SIZE = 32;
export const DIGEST_HEX_LENGTH = 64;

/** Size of the all-zero chunk PBS writes for holes in fixed-size images (4 MiB). */
export const ZERO_CHUNK_SIZE = 4 * 1024 * 1024;
/** Digest of the all-zero 4 MiB chunk (docs/datastore-format.md#zero-chunk). */
export const ZERO_CHUNK_DIGEST_HEX = "bb9f8df61474d25e71fa00722318cd387396ca1736605e1248821cc0de3d3af8";

/** Lowercase hex of the 32-byte digest at `offset` (default 0) of `bytes`. */
export function digestHex(bytes: Uint8Array, offset = 0): string {
  if (offset < 0 || offset + DIGEST_SIZE > bytes.length) {
    throw new RangeError(`digest at offset ${offset} is outside the ${bytes.length}-byte buffer`);
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset + offset, DIGEST_SIZE).toString("hex");
}

/** 1 at the character codes 0-9 and a-f: a table lookup is several times faster than range compares here. */
const LOWER_HEX = new Uint8Array(128);
for (const c of "0123456789abcdef") LOWER_HEX[c.charCodeAt(0)] = 1;

/** Whether the character code is 0-9 or a-f. */
export function isLowerHexCode(code: number): boolean {
  return code < 128 && LOWER_HEX[code] === 1;
}

/** Whether `text[start, start + length)` is lowercase hex (and inside the string). */
export function isLowerHexRange(text: string, start: number, length: number): boolean {
  const end = start + length;
  if (start < 0 || end > text.length) return false;
  for (let i = start; i < end; i++) {
    const code = text.charCodeAt(i);
    if (code > 127 || LOWER_HEX[code] !== 1) return false;
  }
  return true;
}

/** Whether `hex` is a digest as it appears in keys: exactly 64 lowercase hex characters. */
export function isDigestHex(hex: string): boolean {
  return hex.length === DIGEST_HEX_LENGTH && isLowerHexRange(hex, 0, DIGEST_HEX_LENGTH);
}

/** The 32 digest bytes of a 64-character lowercase hex string; throws KeyFormatError otherwise. */
export function hexToDigest(hex: string): Uint8Array {
  if (!isDigestHex(hex)) {
    throw new KeyFormatError(hex, "not a chunk digest (expected 64 lowercase hex characters)");
  }
  return new Uint8Array(Buffer.from(hex, "hex"));
}

/** SHA-256 of `data`, as a digest. */
export function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(data).digest());
}
