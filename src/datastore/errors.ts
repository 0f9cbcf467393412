/**
 * Errors of the datastore format library. Every message starts with the source (a file path or an S3 key) so that a
 * user reading a log line knows which object is broken, then says what is wrong with it.
 */
export class DatastoreFormatError extends Error {
  /** The file path or S3 key the bytes (or the key string) came from. */
  readonly source: string;
  /** What is wrong, without the source. */
  readonly reason: string;

  constructor(source: string, reason: string) {
    super(`${source}: ${reason}`);
    this.name = "DatastoreFormatError";
    this.source = source;
    this.reason = reason;
  }
}

/** A `.fidx` / `.didx` file that is not a valid PBS index (magic, length, chunk size, offsets or checksum). */
export class IndexFormatError extends DatastoreFormatError {
  constructor(source: string, reason: string) {
    super(source, reason);
    this.name = "IndexFormatError";
  }
}

/** Bytes that do not start with a complete DataBlob header. */
export class BlobFormatError extends DatastoreFormatError {
  constructor(source: string, reason: string) {
    super(source, reason);
    this.name = "BlobFormatError";
  }
}

/** A key, digest, uuid, snapshot time or path component that a builder refuses to put into a key. */
export class KeyFormatError extends DatastoreFormatError {
  constructor(source: string, reason: string) {
    super(source, reason);
    this.name = "KeyFormatError";
  }
}
