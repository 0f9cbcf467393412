/** Helpers for engine tests against real S3 servers: contexts, seeding with the oracle, runs, listings. */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import type { EngineOptionsInput } from "../../src/engine/options.ts";
import type { GcReport } from "../../src/engine/report.ts";
import { runGc } from "../../src/engine/run.ts";
import { createS3Context, ensureBucket, listObjects, type S3Context } from "../../src/s3/index.ts";
import {
  type DatastorePlan,
  type ExpectedOutcome,
  expectedOutcome,
  planDatastore,
  type SeedParamsInput,
  type SeedReport,
  seedDatastore,
} from "../../src/seed/index.ts";

export interface ServerConnection {
  readonly name: string;
  readonly endpoint: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

let bucketCounter = 0;

/** A new, empty bucket on the server and a context for it. */
export async function freshBucketContext(server: ServerConnection, label: string): Promise<S3Context> {
  bucketCounter += 1;
  const bucket = `t-${label}-${process.pid}-${Date.now().toString(36)}-${bucketCounter}`.toLowerCase().slice(0, 63);
  const s3 = contextFor(server, bucket);
  await ensureBucket(s3);
  return s3;
}

export function contextFor(server: ServerConnection, bucket: string): S3Context {
  return createS3Context(
    { endpoint: server.endpoint, region: server.region, bucket, forcePathStyle: true, maxAttempts: 10 },
    { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
  );
}

export interface Seeded {
  readonly plan: DatastorePlan;
  readonly report: SeedReport;
}

export async function seed(s3: S3Context, params: SeedParamsInput, waveGapMs = 6000): Promise<Seeded> {
  const plan = planDatastore(params);
  const report = await seedDatastore(s3, plan, { concurrency: 32, waveGapMs });
  return { plan, report };
}

export function tempCacheDir(label: string): string {
  return mkdtempSync(join(tmpdir(), `chunkgc-cache-${label}-`));
}

export const quietLog = pino({ level: process.env.CHUNKGC_TEST_LOG_LEVEL ?? "silent" });

export async function runEngine(
  s3: S3Context,
  server: ServerConnection,
  options: EngineOptionsInput,
  hooks: Parameters<typeof runGc>[3]["hooks"] = undefined,
): Promise<GcReport> {
  s3.counter.counts.list = 0;
  const fresh = contextFor(server, s3.bucket);
  try {
    // Engine tests simulate days passing with a `now` ahead of the clock: the test-only permission, unless a test
    // says otherwise (the refusal itself is tested with allowFutureNow: false).
    const withPermission = { allowFutureNow: true, ...options };
    return await runGc(fresh, { endpoint: server.endpoint, bucket: s3.bucket, store: options.store }, withPermission, {
      log: quietLog,
      ...(hooks ? { hooks } : {}),
    });
  } finally {
    fresh.close();
  }
}

/** Every key under the prefix except the engine's own lock objects (`<store>/.chunkgc/`). */
export async function allKeys(s3: S3Context, prefix = ""): Promise<Set<string>> {
  const keys = new Set<string>();
  for await (const object of listObjects(s3, { prefix })) {
    if (!object.key.includes("/.chunkgc/")) keys.add(object.key);
  }
  return keys;
}

/** The longest a backup may run before the oracle (like the engine) calls it abandoned. */
export const MAX_BACKUP_SECONDS = 48 * 3600;

/** What the oracle expects of a run at `now` over a seeded datastore. */
export function oracleAt(
  seeded: Seeded,
  now: Date,
  graceSeconds: number,
  maxBackupDurationSeconds = MAX_BACKUP_SECONDS,
): ExpectedOutcome {
  return expectedOutcome(seeded.plan, {
    nowSeconds: Math.floor(now.getTime() / 1000),
    graceSeconds,
    maxBackupDurationSeconds,
    waves: seeded.report.waves,
  });
}

/** Seconds between the two waves' uploads, shifted by the grace: a "now" that removes wave 1 but not wave 2. */
export function nowBetweenWaves(report: SeedReport, graceSeconds: number): Date {
  const first = report.waves[1];
  const second = report.waves[2];
  if (!first || !second) throw new Error("the seed needs fresh chunks (two waves) for this");
  const middle = Math.floor((first.endMs + second.startMs) / 2000);
  return new Date((middle + graceSeconds) * 1000);
}
