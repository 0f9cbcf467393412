/**
 * The S3 servers for a test file: the suite's shared ones when the suite runner started them
 * (CHUNKGC_TEST_S3_SERVERS), else versitygw (and Ceph RGW with CHUNKGC_TEST_CEPH=1) started for this file and
 * stopped after it. In CI (CI set) every server must be there: a missing one fails the file, it is never skipped.
 *
 *   const servers = await s3TestServers();            // top-level await in the test file
 *   for (const server of servers) {
 *     describe(server.name, () => {
 *       it("…", async () => {
 *         const bucket = await createTestBucket(server, "listing");
 *         const s3 = sdkClientFor(server);
 *       });
 *     });
 *   }
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { z } from "zod";
import { start as startCeph } from "../servers/ceph-rgw.ts";
import { connectionOf, type S3ServerName } from "../servers/s3-server.ts";
import { S3_SERVERS_ENV, type ServerStarter, startServers } from "../servers/service.ts";
import { start as startVersitygw } from "../servers/versitygw.ts";

export { S3_SERVERS_ENV };

const serverSchema = z.object({
  name: z.enum(["versitygw", "ceph-rgw"]),
  endpoint: z.url(),
  region: z.string().min(1),
  accessKeyId: z.string().min(1),
  secretAccessKey: z.string().min(1),
  forcePathStyle: z.literal(true),
});

export type S3TestServer = z.infer<typeof serverSchema>;

/** Servers every CI run must test against. */
export const REQUIRED_IN_CI: readonly S3ServerName[] = ["versitygw", "ceph-rgw"];

export class MissingS3ServerError extends Error {
  constructor(missing: readonly string[], source: string) {
    super(
      `CI requires every S3 test server, but ${missing.join(", ")} ${missing.length === 1 ? "is" : "are"} missing ` +
        `from ${source}; run the suite with \`node test/harness/run-suite.ts\` (it starts them all)`,
    );
    this.name = "MissingS3ServerError";
  }
}

/** Parses the suite runner's CHUNKGC_TEST_S3_SERVERS value; throws naming the variable when it is malformed. */
export function parseS3Servers(value: string): S3TestServer[] {
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch (error) {
    throw new Error(`${S3_SERVERS_ENV} is not JSON: ${(error as Error).message}`);
  }
  const parsed = z.array(serverSchema).safeParse(json);
  if (!parsed.success) throw new Error(`${S3_SERVERS_ENV} is malformed: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** Throws when CI is set and a required server is not in the list. */
export function checkRequiredServers(servers: readonly S3TestServer[], env: NodeJS.ProcessEnv, source: string): void {
  if (!env.CI) return;
  const present = new Set(servers.map((server) => server.name));
  const missing = REQUIRED_IN_CI.filter((name) => !present.has(name));
  if (missing.length > 0) throw new MissingS3ServerError(missing, source);
}

let shared: Promise<S3TestServer[]> | undefined;

export function s3TestServers(): Promise<S3TestServer[]> {
  shared ??= open();
  return shared;
}

/** The one server a cluster test runs its engine against: versitygw (light and quick), else the first available. */
export async function clusterS3Server(): Promise<S3TestServer> {
  const servers = await s3TestServers();
  const server = servers.find((candidate) => candidate.name === "versitygw") ?? servers[0];
  if (server === undefined) throw new Error("no S3 test server is available");
  return server;
}

async function open(): Promise<S3TestServer[]> {
  const fromSuite = process.env[S3_SERVERS_ENV];
  if (fromSuite !== undefined) {
    const servers = parseS3Servers(fromSuite);
    checkRequiredServers(servers, process.env, S3_SERVERS_ENV);
    return servers;
  }
  // Run alone (node --test <file>): start our own. CI always gets both; locally Ceph is opt-in (≈10 s, ~300 MiB).
  const starters: { name: string; start: ServerStarter }[] = [{ name: "versitygw", start: startVersitygw }];
  if (process.env.CI || process.env.CHUNKGC_TEST_CEPH === "1") starters.push({ name: "ceph-rgw", start: startCeph });
  const root = process.env.CHUNKGC_TEST_WORKDIR ?? join(tmpdir(), "chunkgc-suite");
  mkdirSync(root, { recursive: true });
  const handles = await startServers(starters, mkdtempSync(join(root, "s3-")));
  after(async () => {
    await Promise.all(handles.map((handle) => handle.stop()));
  });
  const servers = handles.map((handle) => serverSchema.parse(connectionOf(handle)));
  checkRequiredServers(servers, process.env, "the servers this file started");
  return servers;
}

const clients = new Map<string, S3Client>();

/**
 * An SDK client for test-side setup and checks. Path-style addressing; checksums only where an operation requires
 * them (Ceph 16.2 rejects the SDK's default streaming-checksum uploads with HTTP 411).
 */
export function sdkClientFor(server: S3TestServer): S3Client {
  const key = `${server.endpoint}|${server.accessKeyId}`;
  let client = clients.get(key);
  if (!client) {
    client = new S3Client({
      endpoint: server.endpoint,
      region: server.region,
      forcePathStyle: server.forcePathStyle,
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      maxAttempts: 3,
    });
    clients.set(key, client);
  }
  return client;
}

/** A valid bucket name (3–63 chars of [a-z0-9-]) from a label, unique for this run: `t-<label>-<random>`. */
export function testBucketName(label: string): string {
  const slug = label
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40);
  return `t-${slug || "bucket"}-${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;
}

/** Creates a new, empty bucket on the server and returns its name. */
export async function createTestBucket(server: S3TestServer, label: string): Promise<string> {
  const bucket = testBucketName(label);
  await sdkClientFor(server).send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}
