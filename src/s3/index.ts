export { assertBucketReachable, BucketUnreachableError, ensureBucket } from "./bucket.ts";
export { createS3Context, retryBackoffMs, type S3Context } from "./client.ts";
export { type ClockSkew, clockSkewFromDate, parseDateHeader } from "./clock.ts";
export {
  CREDENTIAL_SOURCE_ENV,
  CredentialsError,
  credentialsOrDefaultChain,
  DEFAULT_CHAIN,
  resolveCredentials,
  type S3Connection,
  type S3ConnectionInput,
  S3ConnectionSchema,
  type S3Credentials,
} from "./config.ts";
export {
  type DeleteBatchResult,
  type DeleteKeyError,
  deleteBatch,
  deleteBatchWithRetry,
  MAX_DELETE_BATCH,
} from "./delete.ts";
export { hexKeyRanges, type KeyRange, shardCountFor } from "./key-ranges.ts";
export {
  isKeyListed,
  type ListedObject,
  type ListedPage,
  type ListParser,
  listObjects,
  listPages,
  listRangesInParallel,
  type RangePage,
} from "./list.ts";
export {
  ConditionalWriteUnsupportedError,
  deleteObject,
  type FetchedObject,
  getObjectBytes,
  headObject,
  isNotFound,
  isPreconditionFailed,
  type ObjectHead,
  ObjectNotFoundError,
  probeConditionalPut,
  probeServer,
  putIfAbsent,
  putObject,
  type ServerProbe,
} from "./objects.ts";
export { REQUEST_KINDS, RequestCounter, type RequestCounts, type RequestKind } from "./request-counter.ts";
