import { CreateBucketCommand, HeadBucketCommand, S3ServiceException } from "@aws-sdk/client-s3";
import type { S3Context } from "./client.ts";

export class BucketUnreachableError extends Error {
  override name = "BucketUnreachableError";
}

/** Fails with a message a user can act on when the bucket is missing, forbidden or the endpoint is down. */
export async function assertBucketReachable(s3: S3Context, signal?: AbortSignal): Promise<void> {
  try {
    await s3.client.send(new HeadBucketCommand({ Bucket: s3.bucket }), { abortSignal: signal });
  } catch (error) {
    const where = `bucket "${s3.bucket}" at ${s3.connection.endpoint}`;
    if (error instanceof S3ServiceException) {
      const status = error.$metadata.httpStatusCode;
      if (status === 404) throw new BucketUnreachableError(`${where} does not exist`);
      if (status === 403) throw new BucketUnreachableError(`${where}: access denied (check the credentials)`);
      throw new BucketUnreachableError(`${where}: ${error.name} (HTTP ${status ?? "?"})`);
    }
    throw new BucketUnreachableError(`${where} is unreachable: ${(error as Error).message}`);
  }
}

/** Creates the bucket unless it exists already (for the generator, the demo and tests). */
export async function ensureBucket(s3: S3Context, signal?: AbortSignal): Promise<void> {
  try {
    await s3.client.send(new CreateBucketCommand({ Bucket: s3.bucket }), { abortSignal: signal });
  } catch (error) {
    if (
      error instanceof S3ServiceException &&
      (error.name === "BucketAlreadyOwnedByYou" || error.name === "BucketAlreadyExists")
    ) {
      return;
    }
    throw error;
  }
}
