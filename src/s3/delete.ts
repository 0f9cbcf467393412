import { setTimeout as delay } from "node:timers/promises";
import {
  DeleteObjectsCommand,
  type DeleteObjectsCommandInput,
  type DeleteObjectsCommandOutput,
} from "@aws-sdk/client-s3";
import type { FinalizeHandler, FinalizeHandlerArguments } from "@smithy/types";
import type { S3Context } from "./client.ts";

/** S3's limit of keys in one DeleteObjects request. */
export const MAX_DELETE_BATCH = 1000;

export interface DeleteKeyError {
  readonly key: string;
  readonly code: string;
  readonly message: string;
}

export interface DeleteBatchResult {
  /** DeleteObjects requests this took (retry rounds included; HTTP-level retries are counted by the client). */
  readonly requests: number;
  /** Keys the server confirmed as deleted, by name, in its response. */
  readonly deleted: string[];
  readonly errors: DeleteKeyError[];
}

/**
 * One DeleteObjects request in verbose mode: the server names each key it deleted, so a removal is counted only
 * when confirmed. Keys that come back neither deleted nor failed are reported as errors, never assumed gone.
 */
export async function deleteBatch(
  s3: S3Context,
  keys: readonly string[],
  signal?: AbortSignal,
  guard?: () => void,
): Promise<DeleteBatchResult> {
  if (keys.length === 0) return { requests: 0, deleted: [], errors: [] };
  if (keys.length > MAX_DELETE_BATCH) {
    throw new RangeError(`DeleteObjects takes at most ${MAX_DELETE_BATCH} keys, got ${keys.length}`);
  }
  const command = new DeleteObjectsCommand({
    Bucket: s3.bucket,
    Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: false },
  });
  if (guard) {
    // Inside the SDK's retry loop: a retry that would go out after the guard tripped (a lock lease that ran out
    // during the backoff) is stopped too. The guard's error is not an S3 error, so the SDK does not retry it.
    command.middlewareStack.addRelativeTo(
      (next: FinalizeHandler<DeleteObjectsCommandInput, DeleteObjectsCommandOutput>) =>
        async (args: FinalizeHandlerArguments<DeleteObjectsCommandInput>) => {
          guard();
          return next(args);
        },
      { name: "chunkgcDeleteGuard", relation: "after", toMiddleware: "retryMiddleware" },
    );
  }
  const response = await s3.client.send(command, { abortSignal: signal });
  const requested = new Set(keys);
  const deleted: string[] = [];
  for (const entry of response.Deleted ?? []) {
    if (entry.Key !== undefined && requested.delete(entry.Key)) deleted.push(entry.Key);
  }
  const errors: DeleteKeyError[] = [];
  for (const entry of response.Errors ?? []) {
    if (entry.Key === undefined || !requested.delete(entry.Key)) continue;
    errors.push({ key: entry.Key, code: entry.Code ?? "Unknown", message: entry.Message ?? "" });
  }
  for (const key of requested) {
    errors.push({ key, code: "NotConfirmed", message: "the DeleteObjects response did not mention this key" });
  }
  return { requests: 1, deleted, errors };
}

export interface DeleteWithRetryOptions {
  readonly attempts?: number;
  /** Runs synchronously right before every DeleteObjects attempt on the wire; throwing stops the batch. */
  readonly guard?: () => void;
  readonly signal?: AbortSignal;
  readonly backoffMs?: (attempt: number) => number;
}

/** A batch, then its failed keys again (up to `attempts` rounds); what still fails is returned, not thrown. */
export async function deleteBatchWithRetry(
  s3: S3Context,
  keys: readonly string[],
  options: DeleteWithRetryOptions = {},
): Promise<DeleteBatchResult> {
  const attempts = options.attempts ?? 3;
  const deleted: string[] = [];
  let pending: readonly string[] = keys;
  let errors: DeleteKeyError[] = [];
  let requests = 0;
  for (let attempt = 1; attempt <= attempts && pending.length > 0; attempt += 1) {
    if (attempt > 1)
      await delay(options.backoffMs?.(attempt) ?? 200 * 2 ** attempt, undefined, { signal: options.signal });
    options.guard?.();
    const result = await deleteBatch(s3, pending, options.signal, options.guard);
    requests += result.requests;
    deleted.push(...result.deleted);
    errors = result.errors;
    pending = errors.map((error) => error.key);
  }
  return { requests, deleted, errors };
}
