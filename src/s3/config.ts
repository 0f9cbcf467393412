import { readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";

/** Where a datastore's bucket is and how to talk to it. Secrets are not part of it: see {@link S3Credentials}. */
export const S3ConnectionSchema = z.object({
  endpoint: z.url().describe("S3 endpoint URL, e.g. https://s3.eu-central-1.amazonaws.com"),
  region: z.string().min(1).default("us-east-1"),
  bucket: z.string().min(3).max(63),
  forcePathStyle: z.boolean().default(false),
  /** PEM file with extra trusted CA certificates, e.g. a mounted Secret for a private S3 endpoint. */
  caBundlePath: z.string().optional(),
  maxAttempts: z.number().int().min(1).max(20).default(8),
  requestTimeoutMs: z.number().int().min(1000).default(60_000),
  connectionTimeoutMs: z.number().int().min(100).default(10_000),
  /** Upper bound of parallel HTTP connections of this client. */
  maxSockets: z.number().int().min(1).max(1024).default(64),
});
export type S3Connection = z.infer<typeof S3ConnectionSchema>;
export type S3ConnectionInput = z.input<typeof S3ConnectionSchema>;

export interface S3Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export class CredentialsError extends Error {
  override name = "CredentialsError";
}

/**
 * Credentials the way a pod gets them: variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, optional
 * `AWS_SESSION_TOKEN`), `*_FILE` variables naming files, or `CHUNKGC_S3_CREDENTIALS_DIR` naming a directory holding
 * files of those names (a Secret mounted as a volume). Values read from files are trimmed of trailing newlines.
 */
export function resolveCredentials(env: NodeJS.ProcessEnv = process.env): S3Credentials {
  const directory = env.CHUNKGC_S3_CREDENTIALS_DIR;
  const read = (name: string): string | undefined => {
    const direct = env[name];
    if (direct !== undefined && direct !== "") return direct;
    const file = env[`${name}_FILE`] ?? (directory ? join(directory, name) : undefined);
    if (file === undefined) return undefined;
    try {
      return readFileSync(file, "utf8").replace(/[\r\n]+$/, "");
    } catch (error) {
      if (env[`${name}_FILE`] !== undefined) {
        throw new CredentialsError(`cannot read ${name}_FILE ${file}: ${(error as Error).message}`);
      }
      return undefined;
    }
  };
  const accessKeyId = read("AWS_ACCESS_KEY_ID");
  const secretAccessKey = read("AWS_SECRET_ACCESS_KEY");
  if (!accessKeyId || !secretAccessKey) {
    throw new CredentialsError(
      "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or their *_FILE variants, " +
        "or CHUNKGC_S3_CREDENTIALS_DIR pointing at a mounted Secret)",
    );
  }
  const sessionToken = read("AWS_SESSION_TOKEN");
  return sessionToken ? { accessKeyId, secretAccessKey, sessionToken } : { accessKeyId, secretAccessKey };
}

/** Variable that lets the engine fall back to the AWS SDK's default credential chain when no keys are given. */
export const CREDENTIAL_SOURCE_ENV = "CHUNKGC_S3_CREDENTIAL_SOURCE";
export const DEFAULT_CHAIN = "default-chain";

/**
 * Static credentials when they are given; undefined (the AWS SDK's default provider chain: web identity tokens of
 * IRSA, EKS Pod Identity, instance metadata) only when CHUNKGC_S3_CREDENTIAL_SOURCE=default-chain asks for it, so
 * that a forgotten Secret is still an error everywhere else.
 */
export function credentialsOrDefaultChain(env: NodeJS.ProcessEnv = process.env): S3Credentials | undefined {
  const staticNames = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"].flatMap((name) => [name, `${name}_FILE`]);
  const anyStatic = [...staticNames, "CHUNKGC_S3_CREDENTIALS_DIR"].some((name) => (env[name] ?? "") !== "");
  if (env[CREDENTIAL_SOURCE_ENV] === DEFAULT_CHAIN && !anyStatic) return undefined;
  return resolveCredentials(env);
}
