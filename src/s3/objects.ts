import { randomUUID } from "node:crypto";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import type { DeserializeHandler, DeserializeHandlerArguments, HttpResponse } from "@smithy/types";
import type { S3Context } from "./client.ts";
import { type ClockSkew, clockSkewFromDate, parseDateHeader } from "./clock.ts";

export interface FetchedObject {
  readonly bytes: Uint8Array;
  readonly etag: string;
  readonly size: number;
  readonly lastModifiedMs: number;
}

export interface ObjectHead {
  readonly etag: string;
  readonly size: number;
  readonly lastModifiedMs: number;
}

export class ObjectNotFoundError extends Error {
  override name = "ObjectNotFoundError";
  readonly key: string;
  constructor(key: string) {
    super(`no object at ${key}`);
    this.key = key;
  }
}

export function isNotFound(error: unknown): boolean {
  return (
    error instanceof S3ServiceException &&
    (error.name === "NoSuchKey" || error.name === "NotFound" || error.$metadata.httpStatusCode === 404)
  );
}

export function isPreconditionFailed(error: unknown): boolean {
  return (
    error instanceof S3ServiceException &&
    (error.name === "PreconditionFailed" || error.$metadata.httpStatusCode === 412)
  );
}

/**
 * The body of a GET in one array. With a Content-Length the bytes are copied into an array of that size as they
 * arrive, so an index in flight costs its size once, not its received pieces plus their concatenation (with dozens of
 * indexes read at once, that transient is what the allocator keeps after the mark phase). A body that does not match
 * its Content-Length is an error, as a short read is.
 */
export async function bodyBytes(
  body: AsyncIterable<Uint8Array> & { transformToByteArray(): Promise<Uint8Array> },
  length: number | undefined,
): Promise<Uint8Array> {
  if (length === undefined || !Number.isSafeInteger(length) || length < 0 || !(Symbol.asyncIterator in body)) {
    return body.transformToByteArray();
  }
  const bytes = new Uint8Array(length);
  let at = 0;
  for await (const piece of body) {
    if (at + piece.byteLength > length) throw new Error(`the body is longer than its Content-Length ${length}`);
    bytes.set(piece, at);
    at += piece.byteLength;
  }
  if (at !== length) throw new Error(`the body ended after ${at} of its Content-Length ${length} bytes`);
  return bytes;
}

/** A whole object (indexes, manifests, lock objects: small enough to hold in memory). */
export async function getObjectBytes(s3: S3Context, key: string, signal?: AbortSignal): Promise<FetchedObject> {
  try {
    const response = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }), {
      abortSignal: signal,
    });
    const bytes = response.Body
      ? await bodyBytes(response.Body as unknown as Parameters<typeof bodyBytes>[0], response.ContentLength)
      : new Uint8Array();
    s3.counter.addDownloaded(bytes.byteLength);
    return {
      bytes,
      etag: response.ETag ?? "",
      size: bytes.byteLength,
      lastModifiedMs: response.LastModified?.getTime() ?? Number.NaN,
    };
  } catch (error) {
    if (isNotFound(error)) throw new ObjectNotFoundError(key);
    throw error;
  }
}

/** Metadata of an object, or undefined when there is none. */
export async function headObject(s3: S3Context, key: string, signal?: AbortSignal): Promise<ObjectHead | undefined> {
  try {
    const response = await s3.client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: key }), {
      abortSignal: signal,
    });
    return {
      etag: response.ETag ?? "",
      size: response.ContentLength ?? 0,
      lastModifiedMs: response.LastModified?.getTime() ?? Number.NaN,
    };
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

export async function putObject(
  s3: S3Context,
  key: string,
  body: Uint8Array | string,
  signal?: AbortSignal,
): Promise<{ etag: string }> {
  const response = await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: body }), {
    abortSignal: signal,
  });
  return { etag: response.ETag ?? "" };
}

/**
 * PUT with `If-None-Match: *`: "created" when this call made the object, "exists" when one was already there.
 * Only meaningful on a server that honours the condition: see {@link probeConditionalPut}.
 */
export async function putIfAbsent(
  s3: S3Context,
  key: string,
  body: Uint8Array | string,
  signal?: AbortSignal,
  onClock?: (skew: ClockSkew) => void,
): Promise<"created" | "exists"> {
  const command = new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: body, IfNoneMatch: "*" });
  if (onClock) command.middlewareStack.add(clockMiddleware(onClock), { step: "deserialize", priority: "low" });
  try {
    await s3.client.send(command, { abortSignal: signal });
    return "created";
  } catch (error) {
    if (isPreconditionFailed(error)) return "exists";
    // A conditional write racing another one may be answered 409 ConditionalRequestConflict: someone else won.
    if (error instanceof S3ServiceException && error.$metadata.httpStatusCode === 409) return "exists";
    throw error;
  }
}

/** Reads the `Date` header of every answer (each attempt), timed around the request as it goes on the wire. */
function clockMiddleware<Input extends object, Output extends object>(onClock: (skew: ClockSkew) => void) {
  return (next: DeserializeHandler<Input, Output>) => async (args: DeserializeHandlerArguments<Input>) => {
    const sentMs = Date.now();
    const result = await next(args);
    const receivedMs = Date.now();
    const date = parseDateHeader((result.response as HttpResponse | undefined)?.headers?.date);
    if (date !== undefined) onClock(clockSkewFromDate(date, sentMs, receivedMs));
    return result;
  };
}

export async function deleteObject(s3: S3Context, key: string, signal?: AbortSignal): Promise<void> {
  await s3.client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: key }), { abortSignal: signal });
}

export class ConditionalWriteUnsupportedError extends Error {
  override name = "ConditionalWriteUnsupportedError";
  readonly endpoint: string;
  constructor(endpoint: string) {
    super(`the S3 server at ${endpoint} ignores If-None-Match: * on PUT, so the datastore lock cannot be taken safely`);
    this.endpoint = endpoint;
  }
}

export interface ServerProbe {
  /** Whether the server refused the second conditional PUT, as it must. */
  readonly conditionalPut: boolean;
  /** The server's clock against ours, from the probe's answers (the tightest bound seen); undefined without Date. */
  readonly clockSkew?: ClockSkew;
}

/**
 * Writes a probe object twice under `probePrefix` with `If-None-Match: *`: a server that accepts the second write
 * ignores the condition. The answers' `Date` headers measure the server's clock. The probe object is removed again.
 */
export async function probeServer(s3: S3Context, probePrefix: string, signal?: AbortSignal): Promise<ServerProbe> {
  const key = `${probePrefix}conditional-put-probe-${randomUUID()}`;
  let clockSkew: ClockSkew | undefined;
  const onClock = (skew: ClockSkew) => {
    if (!clockSkew || skew.boundMs < clockSkew.boundMs) clockSkew = skew;
  };
  try {
    const first = await putIfAbsent(s3, key, "probe", signal, onClock);
    const conditionalPut = first === "created" && (await putIfAbsent(s3, key, "probe", signal, onClock)) === "exists";
    return { conditionalPut, ...(clockSkew ? { clockSkew } : {}) };
  } finally {
    await deleteObject(s3, key, signal).catch(() => undefined);
  }
}

/** {@link probeServer}, the conditional-PUT half only. */
export async function probeConditionalPut(s3: S3Context, probePrefix: string, signal?: AbortSignal): Promise<boolean> {
  return (await probeServer(s3, probePrefix, signal)).conditionalPut;
}
