/**
 * An S3 context pointed at a loopback port where nothing listens: the engine's real bucket adapters are checked to
 * send each operation through the S3 client (the request is counted and refused) without any server.
 */
import { createS3Context, type S3Context } from "../../../src/s3/index.ts";

export function unreachableS3(): S3Context {
  return createS3Context(
    { endpoint: "http://127.0.0.1:9", bucket: "bkt", region: "us-east-1", forcePathStyle: true, maxAttempts: 1 },
    { accessKeyId: "k", secretAccessKey: "s" },
  );
}

/** Whether an operation failed because the connection was refused (not a programming error on the way there). */
export function connectionRefused(error: unknown): boolean {
  if (error instanceof TypeError) return false;
  return /ECONNREFUSED/.test(`${(error as Error).message ?? error} ${(error as { code?: string }).code ?? ""}`);
}
