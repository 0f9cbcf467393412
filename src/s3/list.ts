import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { mergeParallel } from "../util/parallel-merge.ts";
import type { S3Context } from "./client.ts";
import { isWithinUpperBound, type KeyRange } from "./key-ranges.ts";

/** What the GC needs of a listed object, kept small: millions of these pass through a run. */
export interface ListedObject {
  readonly key: string;
  readonly size: number;
  readonly lastModifiedMs: number;
  readonly etag: string;
}

export interface ListedPage {
  readonly objects: ListedObject[];
  readonly commonPrefixes: string[];
}

export interface ListOptions {
  readonly prefix: string;
  readonly range?: KeyRange;
  readonly delimiter?: string;
  readonly pageSize?: number;
  readonly signal?: AbortSignal;
}

/** One ListObjectsV2 page after another, sequentially; stops at the range's upper bound. */
export async function* listPages(s3: S3Context, options: ListOptions): AsyncGenerator<ListedPage> {
  const range = options.range ?? {};
  let continuationToken: string | undefined;
  let first = true;
  while (first || continuationToken !== undefined) {
    options.signal?.throwIfAborted();
    const response = await s3.client.send(
      new ListObjectsV2Command({
        Bucket: s3.bucket,
        Prefix: options.prefix,
        MaxKeys: options.pageSize ?? 1000,
        ...(options.delimiter ? { Delimiter: options.delimiter } : {}),
        ...(first && range.startAfter !== undefined ? { StartAfter: range.startAfter } : {}),
        ...(continuationToken ? { ContinuationToken: continuationToken } : {}),
      }),
      { abortSignal: options.signal },
    );
    first = false;
    const objects: ListedObject[] = [];
    let reachedBound = false;
    for (const item of response.Contents ?? []) {
      const key = item.Key ?? "";
      if (!isWithinUpperBound(key, range)) {
        reachedBound = true;
        break;
      }
      objects.push({
        key,
        size: item.Size ?? 0,
        lastModifiedMs: item.LastModified?.getTime() ?? 0,
        etag: item.ETag ?? "",
      });
    }
    const commonPrefixes = (response.CommonPrefixes ?? []).map((entry) => entry.Prefix ?? "");
    yield { objects, commonPrefixes };
    if (reachedBound || !response.IsTruncated) return;
    continuationToken = response.NextContinuationToken;
    if (!continuationToken) {
      throw new Error(`S3 listing of ${options.prefix} is truncated but has no continuation token`);
    }
  }
}

/** Every object under a prefix, in key order. */
export async function* listObjects(s3: S3Context, options: ListOptions): AsyncGenerator<ListedObject> {
  for await (const page of listPages(s3, options)) yield* page.objects;
}

export interface ParallelListOptions {
  readonly prefix: string;
  readonly ranges: readonly KeyRange[];
  readonly concurrency: number;
  readonly pageSize?: number;
  readonly signal?: AbortSignal;
}

export interface RangePage extends ListedPage {
  /** Index into the ranges given: pages of one range arrive in key order, ranges interleave. */
  readonly rangeIndex: number;
}

/** Pages of several key ranges listed at once (bounded), in arrival order: the fast path for `.chunks/`. */
export function listRangesInParallel(s3: S3Context, options: ParallelListOptions): AsyncGenerator<RangePage> {
  const sources = options.ranges.map(
    (range, rangeIndex) =>
      async function* (signal: AbortSignal): AsyncGenerator<RangePage> {
        const pages = listPages(s3, {
          prefix: options.prefix,
          range,
          signal,
          ...(options.pageSize ? { pageSize: options.pageSize } : {}),
        });
        for await (const page of pages) yield { ...page, rangeIndex };
      },
  );
  return mergeParallel(sources, {
    concurrency: options.concurrency,
    buffer: options.concurrency * 2,
    ...(options.signal ? { signal: options.signal } : {}),
  });
}
