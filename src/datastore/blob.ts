import { crc32 } from "node:zlib";
import { BlobFormatError } from "./errors.ts";
import { assertLayout, hasMagic, viewOf } from "./layout.ts";

/** The four DataBlob flavours PBS writes (chunks and `*.blob` files). */
export type BlobKind = "uncompressed" | "zstd" | "encrypted" | "encrypted-zstd";

/** DataBlob magics (docs/datastore-format.md#blobs-and-chunks). */
export const BLOB_MAGICS: Readonly<Record<BlobKind, Uint8Array>> = {
  uncompressed: Uint8Array.of(0x42, 0xab, 0x38, 0x07, 0xbe, 0x83, 0x70, 0xa1),
  zstd: Uint8Array.of(0x31, 0xb9, 0x58, 0x42, 0x6f, 0xb6, 0xa3, 0x7f),
  encrypted: Uint8Array.of(0x7b, 0x67, 0x85, 0xbe, 0x22, 0x2d, 0x4c, 0xf0),
  "encrypted-zstd": Uint8Array.of(0xe6, 0x59, 0x1b, 0xbf, 0x0b, 0xbf, 0xd8, 0x0b),
};

const BLOB_KINDS = Object.keys(BLOB_MAGICS) as BlobKind[];

/** Header of a plain DataBlob: the payload follows at 12. */
export const BLOB_HEADER = assertLayout("blob header", 12, {
  magic: { offset: 0, size: 8 },
  /** CRC-32/IEEE over the payload, LE */
  crc: { offset: 8, size: 4 },
});

/** Header of an encrypted DataBlob: the (encrypted) payload follows at 44. */
export const ENCRYPTED_BLOB_HEADER = assertLayout("encrypted blob header", 44, {
  magic: { offset: 0, size: 8 },
  crc: { offset: 8, size: 4 },
  iv: { offset: 12, size: 16 },
  tag: { offset: 28, size: 16 },
});

export const BLOB_HEADER_SIZE = 12;
export const ENCRYPTED_BLOB_HEADER_SIZE = 44;

export function isEncryptedBlobKind(kind: BlobKind): boolean {
  return kind === "encrypted" || kind === "encrypted-zstd";
}

export function blobHeaderSize(kind: BlobKind): number {
  return isEncryptedBlobKind(kind) ? ENCRYPTED_BLOB_HEADER_SIZE : BLOB_HEADER_SIZE;
}

/** The blob kind whose magic `bytes` starts with and whose header is complete, or undefined. */
export function blobKindOf(bytes: Uint8Array): BlobKind | undefined {
  for (const kind of BLOB_KINDS) {
    if (hasMagic(bytes, BLOB_MAGICS[kind])) return bytes.length >= blobHeaderSize(kind) ? kind : undefined;
  }
  return undefined;
}

export type BlobOptions = {
  /** Encrypted kinds only: the 16-byte IV; zeros when absent (the generator wants deterministic bytes). */
  iv?: Uint8Array;
  /** Encrypted kinds only: the 16-byte AEAD tag; zeros when absent. */
  tag?: Uint8Array;
};

/**
 * Wraps `payload` in a DataBlob header. The payload is taken as is: for the zstd kinds pass already-compressed data,
 * for the encrypted kinds already-encrypted data (GC never opens chunks, so only the header has to be right).
 */
export function encodeBlob(
  payload: Uint8Array,
  kind: BlobKind = "uncompressed",
  options: BlobOptions = {},
): Uint8Array {
  const headerSize = blobHeaderSize(kind);
  const out = new Uint8Array(headerSize + payload.length);
  out.set(BLOB_MAGICS[kind], BLOB_HEADER.magic.offset);
  viewOf(out).setUint32(BLOB_HEADER.crc.offset, crc32(payload), true);
  if (isEncryptedBlobKind(kind)) {
    for (const [name, value] of [
      ["iv", options.iv],
      ["tag", options.tag],
    ] as const) {
      if (value === undefined) continue;
      if (value.length !== 16) throw new RangeError(`blob ${name} must be 16 bytes, got ${value.length}`);
      out.set(value, ENCRYPTED_BLOB_HEADER[name].offset);
    }
  }
  out.set(payload, headerSize);
  return out;
}

export type InspectedBlob = {
  kind: BlobKind;
  headerSize: number;
  /** The CRC stored in the header. */
  crc: number;
  /** Whether the stored CRC matches the payload. */
  crcOk: boolean;
  /** A view of the bytes after the header. */
  payload: Uint8Array;
};

/** Reads a DataBlob header and checks its CRC; throws BlobFormatError naming `source` on an unknown or short header. */
export function inspectBlob(bytes: Uint8Array, source: string): InspectedBlob {
  const kind = blobKindOf(bytes);
  if (kind === undefined) {
    const magicKnown = BLOB_KINDS.some((k) => hasMagic(bytes, BLOB_MAGICS[k]));
    throw new BlobFormatError(
      source,
      magicKnown ? `truncated blob header (${bytes.length} bytes)` : "not a DataBlob: unknown magic",
    );
  }
  const headerSize = blobHeaderSize(kind);
  const payload = bytes.subarray(headerSize);
  const crc = viewOf(bytes).getUint32(BLOB_HEADER.crc.offset, true);
  return { kind, headerSize, crc, crcOk: crc32(payload) === crc, payload };
}
