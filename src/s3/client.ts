import { readFileSync } from "node:fs";
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import { rootCertificates } from "node:tls";
import { S3Client, type ServiceInputTypes, type ServiceOutputTypes } from "@aws-sdk/client-s3";
import { ConfiguredRetryStrategy } from "@smithy/core/retry";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import type { FinalizeRequestMiddleware, HandlerExecutionContext } from "@smithy/types";
import {
  credentialsOrDefaultChain,
  type S3Connection,
  type S3ConnectionInput,
  S3ConnectionSchema,
  type S3Credentials,
} from "./config.ts";
import { RequestCounter, requestKindOfCommand } from "./request-counter.ts";

/** A configured client for one bucket, with the counter that every request it sends goes through. */
export interface S3Context {
  readonly client: S3Client;
  readonly bucket: string;
  readonly connection: S3Connection;
  readonly counter: RequestCounter;
  close(): void;
}

/** Exponential backoff with full jitter, capped, in milliseconds; attempt counts from 1. */
export function retryBackoffMs(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(20_000, 100 * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * The certificates an HTTPS connection trusts with a CA bundle: Node's own roots plus the bundle's. Node's `ca`
 * option replaces the roots, so a bundle for a private CA alone would make every public endpoint (and any proxy in
 * between) untrusted; the bundle adds CAs, it does not narrow them. Undefined without a bundle: Node's defaults.
 */
export function trustedCertificates(bundlePem: string | undefined): string[] | undefined {
  return bundlePem === undefined ? undefined : [...rootCertificates, bundlePem];
}

export function createS3Context(
  input: S3ConnectionInput,
  credentials: S3Credentials | undefined = credentialsOrDefaultChain(),
): S3Context {
  const connection = S3ConnectionSchema.parse(input);
  const counter = new RequestCounter();
  const ca = trustedCertificates(connection.caBundlePath ? readFileSync(connection.caBundlePath, "utf8") : undefined);
  const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: connection.maxSockets });
  const httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: connection.maxSockets, ...(ca ? { ca } : {}) });
  const client = new S3Client({
    endpoint: connection.endpoint,
    region: connection.region,
    forcePathStyle: connection.forcePathStyle,
    // Without static keys: the SDK's default provider chain (web identity, container and instance metadata).
    ...(credentials ? { credentials } : {}),
    // Ceph RGW 16 and other servers reject the SDK's default streaming checksums (HTTP 411); PBS does not use them.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    // Retries 500/503/SlowDown/throttling, timeouts and connection resets with capped, jittered backoff.
    retryStrategy: new ConfiguredRetryStrategy(connection.maxAttempts, (attempt) => retryBackoffMs(attempt)),
    requestHandler: new NodeHttpHandler({
      httpAgent,
      httpsAgent,
      connectionTimeout: connection.connectionTimeoutMs,
      requestTimeout: connection.requestTimeoutMs,
    }),
  });
  client.middlewareStack.addRelativeTo(countingMiddleware(counter), {
    name: "chunkgcRequestCounter",
    relation: "after",
    toMiddleware: "retryMiddleware",
  });
  return {
    client,
    bucket: connection.bucket,
    connection,
    counter,
    close() {
      client.destroy();
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}

/** Runs inside the retry loop, so it sees every attempt that goes on the wire. */
function countingMiddleware(counter: RequestCounter): FinalizeRequestMiddleware<ServiceInputTypes, ServiceOutputTypes> {
  return (next, context: HandlerExecutionContext) => async (args) => {
    counter.record(requestKindOfCommand(context.commandName ?? ""));
    return next(args);
  };
}
