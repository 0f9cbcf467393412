import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import {
  ListObjectsV2Command,
  type ListObjectsV2CommandInput,
  type ListObjectsV2CommandOutput,
} from "@aws-sdk/client-s3";
import type { DeserializeMiddleware, HttpResponse } from "@smithy/types";
import { mergeParallel } from "../util/parallel-merge.ts";
import type { S3Context } from "./client.ts";
import { isWithinUpperBound, type KeyRange } from "./key-ranges.ts";
import { type ParsedListPage, parseListObjectsV2, UNKNOWN_LAST_MODIFIED_MS } from "./list-xml.ts";

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
  /**
   * "streaming" (default): the SDK signs, sends and retries, chunkgc parses the XML with a SAX parser; "sdk": the
   * SDK's own deserializer (several times the client CPU per page: see bench/list-parse.ts).
   */
  readonly parser?: ListParser;
}

export type ListParser = "streaming" | "sdk";

const EMPTY_LIST_RESULT = "<ListBucketResult></ListBucketResult>";

/**
 * Sits inside the SDK's deserializer: takes the raw body of a successful answer, parses it with the streaming parser
 * into `holder`, and hands the SDK an empty result to deserialize. Error answers pass through untouched, so the
 * SDK's error handling and retries stay as they are.
 */
function streamingListMiddleware(holder: {
  page?: ParsedListPage;
}): DeserializeMiddleware<ListObjectsV2CommandInput, ListObjectsV2CommandOutput> {
  return (next) => async (args) => {
    const result = await next(args);
    const response = result.response as HttpResponse;
    if (response.statusCode >= 200 && response.statusCode < 300 && response.body) {
      holder.page = parseListObjectsV2(await text(response.body as Readable));
      response.body = Readable.from([Buffer.from(EMPTY_LIST_RESULT)]);
      delete response.headers["content-length"];
    }
    return result;
  };
}

async function fetchPage(
  s3: S3Context,
  input: ListObjectsV2CommandInput,
  parser: ListParser,
  signal?: AbortSignal,
): Promise<ParsedListPage> {
  const command = new ListObjectsV2Command(input);
  if (parser === "sdk") {
    const response = await s3.client.send(command, { abortSignal: signal });
    return {
      objects: (response.Contents ?? []).map((item) => ({
        key: item.Key ?? "",
        size: item.Size ?? 0,
        lastModifiedMs: validTime(item.LastModified?.getTime()),
        etag: item.ETag ?? "",
      })),
      commonPrefixes: (response.CommonPrefixes ?? []).map((entry) => entry.Prefix ?? ""),
      isTruncated: response.IsTruncated === true,
      ...(response.NextContinuationToken ? { nextContinuationToken: response.NextContinuationToken } : {}),
    };
  }
  const holder: { page?: ParsedListPage } = {};
  command.middlewareStack.add(streamingListMiddleware(holder), {
    step: "deserialize",
    priority: "low",
    name: "chunkgcStreamingList",
  });
  await s3.client.send(command, { abortSignal: signal });
  if (!holder.page) throw new Error("the streaming list parser saw no response body");
  return holder.page;
}

function validTime(ms: number | undefined): number {
  return ms !== undefined && Number.isFinite(ms) ? ms : UNKNOWN_LAST_MODIFIED_MS;
}

/**
 * Pure: the objects of one page that belong to the range. A server that ignores `StartAfter` lists keys at or before
 * it (another range's, counted and classified there): they are dropped. Keys past the upper bound end the range.
 */
export function objectsWithinRange(
  objects: readonly ListedObject[],
  range: KeyRange,
): { objects: ListedObject[]; reachedBound: boolean } {
  const startAfter = range.startAfter;
  const kept = startAfter === undefined ? [...objects] : objects.filter((object) => object.key > startAfter);
  const beyond = kept.findIndex((object) => !isWithinUpperBound(object.key, range));
  return beyond >= 0 ? { objects: kept.slice(0, beyond), reachedBound: true } : { objects: kept, reachedBound: false };
}

/** One ListObjectsV2 page after another, sequentially; stops at the range's upper bound. */
export async function* listPages(s3: S3Context, options: ListOptions): AsyncGenerator<ListedPage> {
  const range = options.range ?? {};
  let continuationToken: string | undefined;
  let first = true;
  while (first || continuationToken !== undefined) {
    options.signal?.throwIfAborted();
    const response = await fetchPage(
      s3,
      {
        Bucket: s3.bucket,
        Prefix: options.prefix,
        MaxKeys: options.pageSize ?? 1000,
        Delimiter: options.delimiter || undefined,
        StartAfter: first ? range.startAfter : undefined,
        ContinuationToken: continuationToken || undefined,
      },
      options.parser ?? "streaming",
      options.signal,
    );
    first = false;
    const { objects, reachedBound } = objectsWithinRange(response.objects, range);
    yield { objects, commonPrefixes: response.commonPrefixes };
    if (reachedBound || !response.isTruncated) return;
    continuationToken = response.nextContinuationToken;
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
  readonly parser?: ListParser;
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
          parser: options.parser,
          pageSize: options.pageSize || undefined,
        });
        for await (const page of pages) yield { ...page, rangeIndex };
      },
  );
  return mergeParallel(sources, {
    concurrency: options.concurrency,
    buffer: options.concurrency * 2,
    signal: options.signal,
  });
}

/** Whether the bucket lists exactly this key: how a 404 on a GET is confirmed before anyone believes it. */
export async function isKeyListed(s3: S3Context, key: string, signal?: AbortSignal): Promise<boolean> {
  for await (const page of listPages(s3, { prefix: key, pageSize: 10, signal })) {
    if (page.objects.some((object) => object.key === key)) return true;
    if (page.objects.some((object) => object.key > key)) return false;
  }
  return false;
}
