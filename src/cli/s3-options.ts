import { type Command, Option } from "commander";
import type { S3ConnectionInput } from "../s3/index.ts";
import { booleanFromEnv, positiveInteger } from "./arg-parsers.ts";

const PATH_STYLE_ENV = "CHUNKGC_S3_PATH_STYLE";

/**
 * Every S3 setting is a flag and, as pods get their settings, an environment variable. `optional` leaves endpoint and
 * bucket to the command (e.g. `index inspect`, which reads a local file unless an endpoint is given).
 */
export function addS3Options(command: Command, options: { optional?: boolean } = {}): Command {
  const endpoint = new Option("--endpoint <url>", "S3 endpoint URL").env("CHUNKGC_S3_ENDPOINT");
  const bucket = new Option("--bucket <name>", "bucket holding the datastore").env("CHUNKGC_S3_BUCKET");
  if (!options.optional) {
    endpoint.makeOptionMandatory();
    bucket.makeOptionMandatory();
  }
  return command
    .addOption(endpoint)
    .addOption(new Option("--region <region>", "S3 region").env("CHUNKGC_S3_REGION").default("us-east-1"))
    .addOption(bucket)
    .addOption(
      // No value on the command line (it would swallow a positional argument); the variable is parsed strictly below.
      new Option("--path-style", `path-style addressing (most self-hosted servers; env: ${PATH_STYLE_ENV}=true|false)`),
    )
    .addOption(new Option("--ca-bundle <file>", "PEM file of extra trusted CAs").env("CHUNKGC_S3_CA_BUNDLE"))
    .addOption(
      new Option("--s3-max-attempts <n>", "attempts per S3 request before giving up")
        .env("CHUNKGC_S3_MAX_ATTEMPTS")
        .argParser(positiveInteger("--s3-max-attempts")),
    );
}

export interface S3CliOptions {
  endpoint: string;
  region: string;
  bucket: string;
  pathStyle?: boolean;
  caBundle?: string;
  s3MaxAttempts?: number;
}

/** The connection settings; throws a usage error naming the variable when CHUNKGC_S3_PATH_STYLE is not a boolean. */
export function s3ConnectionFromOptions(
  options: S3CliOptions,
  env: NodeJS.ProcessEnv = process.env,
): S3ConnectionInput {
  const pathStyleEnv = booleanFromEnv(PATH_STYLE_ENV, env);
  return {
    endpoint: options.endpoint,
    region: options.region,
    bucket: options.bucket,
    forcePathStyle: options.pathStyle === true || (options.pathStyle === undefined && pathStyleEnv === true),
    ...(options.caBundle ? { caBundlePath: options.caBundle } : {}),
    ...(options.s3MaxAttempts ? { maxAttempts: options.s3MaxAttempts } : {}),
  };
}
