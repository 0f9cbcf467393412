import { DIGEST_HEX_LENGTH, isDigestHex, isLowerHexCode, isLowerHexRange } from "./digest.ts";
import { KeyFormatError } from "./errors.ts";

/*
 * Object keys of a datastore in a bucket (docs/datastore-format.md#object-keys). Everything lives under the store
 * prefix `<store>/`:
 *   <store>/.chunks/<4 hex>/<64 hex>           a chunk
 *   <store>/.chunks/<4 hex>/<64 hex>.<N>.bad   a corrupt chunk PBS moved aside, N = 0…9
 *   <store>/.cnt/<path>                        every other file (see content-keys.ts)
 *   <store>/.in-use                            the PBS host that has the datastore attached
 */

export const CHUNKS_DIR = ".chunks";
export const CONTENT_DIR = ".cnt";
export const IN_USE_FILE = ".in-use";
/** S3 keys are at most 1024 bytes (UTF-8). */
export const MAX_KEY_BYTES = 1024;
/** Length of the chunk folder name: the digest's first 4 hex characters. */
export const CHUNK_FOLDER_LENGTH = 4;
/** Highest N of a `.N.bad` chunk. */
export const MAX_BAD_CHUNK_INDEX = 9;

const CHUNKS_INFIX = `/${CHUNKS_DIR}/`;
const BAD_SUFFIX = ".bad";
/** `<4 hex>/` + digest */
const CHUNK_TAIL_LENGTH = CHUNK_FOLDER_LENGTH + 1 + DIGEST_HEX_LENGTH;
/** `.N.bad` */
const BAD_TAIL_LENGTH = 2 + BAD_SUFFIX.length;

/** Rejects store names that cannot be a bucket prefix: empty, or starting or ending with `/`. */
export function assertStoreName(store: string): void {
  if (store.length === 0 || store.startsWith("/") || store.endsWith("/")) {
    throw new KeyFormatError(store, "not a datastore name (must be non-empty and not start or end with '/')");
  }
}

function checkedKey(key: string): string {
  if (Buffer.byteLength(key, "utf8") > MAX_KEY_BYTES) {
    throw new KeyFormatError(key, `key is longer than ${MAX_KEY_BYTES} bytes`);
  }
  return key;
}

/** `<store>/.chunks/`: the prefix to list all chunks. */
export function chunksPrefix(store: string): string {
  assertStoreName(store);
  return `${store}${CHUNKS_INFIX}`;
}

/**
 * `<store>/.chunks/<hexPrefix>`: the prefix of one listing shard. `hexPrefix` has 0 to 4 lowercase hex characters;
 * with 4 it names one folder (and gets the trailing `/`).
 */
export function chunkShardPrefix(store: string, hexPrefix: string): string {
  if (hexPrefix.length > CHUNK_FOLDER_LENGTH || !isLowerHexRange(hexPrefix, 0, hexPrefix.length)) {
    throw new KeyFormatError(hexPrefix, "not a chunk folder prefix (0 to 4 lowercase hex characters)");
  }
  return `${chunksPrefix(store)}${hexPrefix}${hexPrefix.length === CHUNK_FOLDER_LENGTH ? "/" : ""}`;
}

/** `<store>/.cnt/`: the prefix of everything that is not a chunk. */
export function contentPrefix(store: string): string {
  assertStoreName(store);
  return `${store}/${CONTENT_DIR}/`;
}

/** `<store>/.cnt/<relativePath>`; `relativePath` is relative to the datastore root (no leading `/`). */
export function contentKey(store: string, relativePath: string): string {
  if (relativePath.startsWith("/")) {
    throw new KeyFormatError(relativePath, "content path must be relative to the datastore root");
  }
  return checkedKey(`${contentPrefix(store)}${relativePath}`);
}

/** `<store>/.in-use`: the ownership marker naming the PBS host that has the datastore attached. */
export function inUseKey(store: string): string {
  assertStoreName(store);
  return `${store}/${IN_USE_FILE}`;
}

function assertDigestHex(digestHex: string): void {
  if (!isDigestHex(digestHex)) {
    throw new KeyFormatError(digestHex, "not a chunk digest (expected 64 lowercase hex characters)");
  }
}

/** `<store>/.chunks/<first 4 hex>/<digest hex>`. */
export function chunkKey(store: string, digestHex: string): string {
  assertDigestHex(digestHex);
  return `${chunksPrefix(store)}${digestHex.slice(0, CHUNK_FOLDER_LENGTH)}/${digestHex}`;
}

/** `<store>/.chunks/<first 4 hex>/<digest hex>.<n>.bad`, n = 0…9. */
export function badChunkKey(store: string, digestHex: string, n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > MAX_BAD_CHUNK_INDEX) {
    throw new KeyFormatError(String(n), "bad chunk index must be an integer from 0 to 9");
  }
  return `${chunkKey(store, digestHex)}.${n}${BAD_SUFFIX}`;
}

/** A key GC may delete: a chunk, or a bad chunk with its index N. */
export type DeletableChunkKey = { digestHex: string; badIndex?: number };

/**
 * Whether `key` matches `^<store>/\.chunks/[0-9a-f]{4}/[0-9a-f]{64}(\.[0-9]\.bad)?$`
 * (docs/gc-semantics.md#strict-chunk-keys, `<store>` taken literally) with the 4-hex folder equal to the digest's
 * first 4 characters. No allocation: it runs once per listed key.
 */
export function isDeletableChunkKey(store: string, key: string): boolean {
  return deletableTailStart(store, key) >= 0;
}

/** The digest (and bad index) of a key that passes `isDeletableChunkKey`, or undefined for any other key. */
export function parseDeletableChunkKey(store: string, key: string): DeletableChunkKey | undefined {
  const folderStart = deletableTailStart(store, key);
  if (folderStart < 0) return undefined;
  const digestStart = folderStart + CHUNK_FOLDER_LENGTH + 1;
  const digestHex = key.slice(digestStart, digestStart + DIGEST_HEX_LENGTH);
  if (key.length === digestStart + DIGEST_HEX_LENGTH) return { digestHex };
  return { digestHex, badIndex: key.charCodeAt(digestStart + DIGEST_HEX_LENGTH + 1) - 48 };
}

/** Where the `<4 hex>/` folder starts in a deletable chunk key of `store`, or -1 when the key is not one. */
function deletableTailStart(store: string, key: string): number {
  const folderStart = store.length + CHUNKS_INFIX.length;
  const plainLength = folderStart + CHUNK_TAIL_LENGTH;
  if (key.length !== plainLength && key.length !== plainLength + BAD_TAIL_LENGTH) return -1;
  if (!key.startsWith(store) || !key.startsWith(CHUNKS_INFIX, store.length)) return -1;
  const digestStart = folderStart + CHUNK_FOLDER_LENGTH + 1;
  if (key.charCodeAt(digestStart - 1) !== 47 /* / */) return -1;
  for (let i = 0; i < CHUNK_FOLDER_LENGTH; i++) {
    const code = key.charCodeAt(folderStart + i);
    if (!isLowerHexCode(code) || code !== key.charCodeAt(digestStart + i)) return -1;
  }
  if (!isLowerHexRange(key, digestStart + CHUNK_FOLDER_LENGTH, DIGEST_HEX_LENGTH - CHUNK_FOLDER_LENGTH)) return -1;
  if (key.length === plainLength) return folderStart;
  // `.N.bad`
  const n = key.charCodeAt(plainLength + 1);
  if (key.charCodeAt(plainLength) !== 46 /* . */ || n < 48 || n > 57) return -1;
  if (!key.startsWith(BAD_SUFFIX, plainLength + 2)) return -1;
  return folderStart;
}
