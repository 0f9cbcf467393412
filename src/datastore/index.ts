// Public face of the PBS datastore format library: index files, blobs, digests and object keys
// (docs/datastore-format.md).

export {
  BLOB_HEADER,
  BLOB_HEADER_SIZE,
  BLOB_MAGICS,
  type BlobKind,
  type BlobOptions,
  blobHeaderSize,
  blobKindOf,
  ENCRYPTED_BLOB_HEADER,
  ENCRYPTED_BLOB_HEADER_SIZE,
  encodeBlob,
  type InspectedBlob,
  inspectBlob,
  isEncryptedBlobKind,
} from "./blob.ts";
export {
  BACKUP_TYPES,
  type BackupType,
  type ContentKey,
  type GroupFileKey,
  type GroupRef,
  groupDirKey,
  groupFileKey,
  groupPath,
  isBackupType,
  isSafeId,
  MANIFEST_BLOB_NAME,
  MAX_NAMESPACE_DEPTH,
  NAMESPACE_MARKER_NAME,
  type NamespaceMarkerKey,
  NOTES_FILE_NAME,
  namespaceMarkerKey,
  namespacePath,
  type OtherContentKey,
  OWNER_FILE_NAME,
  PROTECTED_MARKER_NAME,
  parseContentKey,
  type SnapshotFileKey,
  type SnapshotRef,
  snapshotDirKey,
  snapshotFileKey,
  snapshotPath,
} from "./content-keys.ts";
export {
  DIGEST_HEX_LENGTH,
  DIGEST_SIZE,
  digestHex,
  hexToDigest,
  isDigestHex,
  sha256,
  ZERO_CHUNK_DIGEST_HEX,
  ZERO_CHUNK_SIZE,
} from "./digest.ts";
export {
  DYNAMIC_INDEX_ENTRY,
  DYNAMIC_INDEX_ENTRY_SIZE,
  DYNAMIC_INDEX_HEADER,
  DYNAMIC_INDEX_MAGIC,
  type DynamicIndexEntry,
  type DynamicIndexInput,
  inspectDynamicIndex,
  writeDynamicIndex,
} from "./dynamic-index.ts";
export { BlobFormatError, DatastoreFormatError, IndexFormatError, KeyFormatError } from "./errors.ts";
export {
  FIXED_INDEX_HEADER,
  FIXED_INDEX_MAGIC,
  type FixedIndexInput,
  fixedIndexChunkCount,
  inspectFixedIndex,
  isPowerOfTwo,
  writeFixedIndex,
} from "./fixed-index.ts";
export { type IndexOptions, indexKindOfBytes, indexKindOfFileName, inspectIndex, parseIndex } from "./index-file.ts";
export { INDEX_HEADER_SIZE, type IndexKind, type InspectedIndex, type ParsedIndex } from "./index-header.ts";
export {
  assertStoreName,
  badChunkKey,
  CHUNK_FOLDER_LENGTH,
  CHUNKS_DIR,
  CONTENT_DIR,
  chunkKey,
  chunkShardPrefix,
  chunksPrefix,
  contentKey,
  contentPrefix,
  type DeletableChunkKey,
  IN_USE_FILE,
  inUseKey,
  isDeletableChunkKey,
  MAX_BAD_CHUNK_INDEX,
  MAX_KEY_BYTES,
  parseDeletableChunkKey,
} from "./keys.ts";
export { formatSnapshotTime, parseSnapshotTime, SNAPSHOT_TIME_LENGTH } from "./snapshot-time.ts";
export { UUID_SIZE } from "./uuid.ts";
