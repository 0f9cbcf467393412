/**
 * Seeded datastores for the benchmark, made once and kept.
 * - versitygw: written straight into versitygw's backing directory (src/seed/versitygw-layout.ts) by worker threads,
 *   kept under `${CHUNKGC_CACHE}/bench/versitygw/<parameters' hash>/` between benchmark runs, and hard-linked into
 *   each server's data directory: a GC's deletions unlink the server's links, never the kept copy, so every measured
 *   run starts from the same objects (garbage included) at the cost of one `cp -al`.
 * - Ceph RGW: seeded by parallel PUTs (worker threads, many connections) once per benchmark run; after each run that
 *   deleted, the garbage chunks are PUT again (`restoreGarbage`).
 * Objects seeded directly are dated 3 days back, so that the run's `now` is the real clock.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createS3Context, ensureBucket } from "../src/s3/index.ts";
import type { SeedParamsInput, UploadWindow } from "../src/seed/index.ts";
import { seedInParallel } from "../src/seed/parallel.ts";
import { chunkgcCacheDir, type S3ServerHandle } from "../test/servers/s3-server.ts";

const DAY_MS = 86_400_000;

export interface Seeded {
  readonly bucket: string;
  readonly store: string;
  readonly params: SeedParamsInput;
  readonly referenceTime: number;
  readonly waves: Record<1 | 2, UploadWindow | undefined>;
  readonly objects: number;
  /** How the datastore came to be: seeded now (and how fast) or taken from the kept copy. */
  readonly how: string;
  /** versitygw: the kept tree the bucket is linked from. */
  readonly keptTree?: string;
}

/** What the benchmark seeds: `chunks` chunk objects of which `garbage` are referenced by nothing. */
export function benchParams(store: string, chunks: number, garbage: number): SeedParamsInput {
  const referenced = chunks - garbage;
  return {
    store,
    seed: chunks,
    chunks: referenced,
    garbageChunks: garbage,
    snapshots: Math.min(1000, Math.max(10, Math.round(referenced / 100))),
    groups: 10,
    dedup: 2,
    junkKeys: false,
    neighbourStore: false,
  };
}

function s3Of(server: S3ServerHandle, bucket: string) {
  return createS3Context(
    { endpoint: server.endpoint, region: server.region, bucket, forcePathStyle: true },
    { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
  );
}

async function createBucket(server: S3ServerHandle, bucket: string): Promise<void> {
  const s3 = s3Of(server, bucket);
  try {
    await ensureBucket(s3);
  } finally {
    s3.close();
  }
}

/** A versitygw datastore from the kept copy (made first when missing), linked into the running server's data dir. */
export async function versitygwDatastore(
  server: S3ServerHandle,
  dataDir: string,
  bucket: string,
  params: SeedParamsInput,
): Promise<Seeded> {
  const key = createHash("sha256")
    .update(JSON.stringify({ layout: 1, params }))
    .digest("hex")
    .slice(0, 16);
  const kept = join(chunkgcCacheDir(), "bench", "versitygw", key);
  let how = "kept copy";
  if (!existsSync(join(kept, "meta.json"))) {
    const building = `${kept}.building-${process.pid}`;
    rmSync(building, { recursive: true, force: true });
    mkdirSync(building, { recursive: true });
    const wave1Ms = Math.floor((Date.now() - 3 * DAY_MS) / 1000) * 1000;
    const referenceTime = Math.floor(wave1Ms / 1000);
    const started = Date.now();
    const report = await seedInParallel(params, referenceTime, {
      kind: "versitygw-layout",
      dataDir: building,
      bucket: "tree",
      wave1Ms,
      wave2Ms: wave1Ms + 60_000,
    });
    writeFileSync(
      join(building, "meta.json"),
      JSON.stringify({ params, referenceTime, waves: report.waves, objects: report.objects }),
    );
    rmSync(kept, { recursive: true, force: true });
    renameSync(building, kept);
    how = `written in ${((Date.now() - started) / 1000).toFixed(1)} s (${report.putsPerSecond} objects/s)`;
  }
  const meta = JSON.parse(readFileSync(join(kept, "meta.json"), "utf8")) as Omit<Seeded, "bucket" | "store" | "how">;
  await createBucket(server, bucket);
  // Hard links: the server's deletions unlink its own names, the kept copy stays whole.
  execFileSync("cp", ["-al", `${join(kept, "tree")}/.`, join(dataDir, bucket)]);
  return { ...meta, bucket, store: String(params.store), how, keptTree: join(kept, "tree") };
}

/** Links the kept copy into the bucket again, after a run deleted from it; returns the seconds it took. */
export function relinkVersitygw(dataDir: string, seeded: Seeded): number {
  const started = Date.now();
  rmSync(join(dataDir, seeded.bucket, seeded.store), { recursive: true, force: true });
  execFileSync("cp", ["-al", `${seeded.keptTree}/.`, join(dataDir, seeded.bucket)]);
  return (Date.now() - started) / 1000;
}

/** A Ceph RGW (or any S3) datastore seeded by PUTs from worker threads. */
export async function putDatastore(server: S3ServerHandle, bucket: string, params: SeedParamsInput): Promise<Seeded> {
  await createBucket(server, bucket);
  const referenceTime = Math.floor(Date.now() / 1000);
  const report = await seedInParallel(params, referenceTime, {
    kind: "s3",
    connection: { endpoint: server.endpoint, region: server.region, bucket, forcePathStyle: true },
    accessKeyId: server.accessKeyId,
    secretAccessKey: server.secretAccessKey,
    concurrency: 48,
  });
  return {
    bucket,
    store: String(params.store),
    params,
    referenceTime,
    waves: report.waves,
    objects: report.objects,
    how: `seeded by PUT in ${(report.durationMs / 1000).toFixed(1)} s (${report.putsPerSecond} PUT/s)`,
  };
}

/** PUTs the garbage chunks of a datastore again (after a run deleted them); returns the seconds it took. */
export async function restoreGarbage(server: S3ServerHandle, seeded: Seeded): Promise<number> {
  const started = Date.now();
  await seedInParallel(
    seeded.params,
    seeded.referenceTime,
    {
      kind: "s3",
      connection: { endpoint: server.endpoint, region: server.region, bucket: seeded.bucket, forcePathStyle: true },
      accessKeyId: server.accessKeyId,
      secretAccessKey: server.secretAccessKey,
      concurrency: 48,
    },
    { only: "garbage" },
  );
  return (Date.now() - started) / 1000;
}
