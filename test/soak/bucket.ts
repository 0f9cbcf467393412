/**
 * The soak's own S3 access (the AWS SDK directly, never the engine's S3 layer): uploads for the writer, listings
 * for the oracle. Straight to the server, no fault proxy in between.
 */
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  PutObjectCommand,
  paginateListObjectsV2,
  type S3Client,
} from "@aws-sdk/client-s3";
import type { PutObject } from "./model.ts";

export interface Listed {
  readonly key: string;
  readonly size: number;
  readonly lastModifiedMs: number;
}

export interface BucketIo {
  readonly client: S3Client;
  readonly bucket: string;
}

export async function putAll(io: BucketIo, objects: readonly PutObject[], concurrency = 16): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < objects.length) {
      const object = objects[next++]!;
      await io.client.send(new PutObjectCommand({ Bucket: io.bucket, Key: object.key, Body: object.body }));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, objects.length) }, worker));
}

export async function listAll(io: BucketIo, prefix: string): Promise<Listed[]> {
  const out: Listed[] = [];
  for await (const page of paginateListObjectsV2({ client: io.client }, { Bucket: io.bucket, Prefix: prefix })) {
    for (const object of page.Contents ?? []) {
      if (!object.Key) continue;
      out.push({
        key: object.Key,
        size: object.Size ?? 0,
        lastModifiedMs: object.LastModified?.getTime() ?? Number.NaN,
      });
    }
  }
  return out;
}

export async function getBytes(io: BucketIo, key: string): Promise<Uint8Array> {
  const answer = await io.client.send(new GetObjectCommand({ Bucket: io.bucket, Key: key }));
  return answer.Body!.transformToByteArray();
}

export async function deleteKeys(io: BucketIo, keys: readonly string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 1000) {
    const answer = await io.client.send(
      new DeleteObjectsCommand({
        Bucket: io.bucket,
        Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true },
      }),
    );
    if (answer.Errors && answer.Errors.length > 0) {
      throw new Error(`writer could not delete ${answer.Errors.map((error) => error.Key).join(", ")}`);
    }
  }
}
