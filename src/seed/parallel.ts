import { availableParallelism } from "node:os";
import { setTimeout as delay } from "node:timers/promises";
import { Worker } from "node:worker_threads";
import type { S3ConnectionInput } from "../s3/index.ts";
import type { ObjectRole } from "./objects.ts";
import type { UploadWindow } from "./oracle.ts";
import type { SeedParamsInput } from "./params.ts";
import { type SeedReport, seedReport } from "./writer.ts";

/** Where the workers write: PUTs through S3, or versitygw's backing directory (the bucket must exist already). */
export type ParallelSeedTarget =
  | {
      readonly kind: "s3";
      readonly connection: S3ConnectionInput;
      readonly accessKeyId: string;
      readonly secretAccessKey: string;
      /** PUTs in flight per worker (each worker has its own connection pool). */
      readonly concurrency: number;
    }
  | {
      readonly kind: "versitygw-layout";
      readonly dataDir: string;
      readonly bucket: string;
      /** LastModified of wave 1 / wave 2 objects (epoch ms). */
      readonly wave1Ms: number;
      readonly wave2Ms: number;
    };

export interface ParallelSeedJob {
  readonly params: SeedParamsInput;
  readonly referenceTime: number;
  readonly wave: 1 | 2;
  readonly index: number;
  readonly workers: number;
  readonly target: ParallelSeedTarget;
  /** "garbage": only the garbage chunks (to restore them after a GC run deleted them). */
  readonly only?: "garbage";
}

export interface WorkerTally {
  objects: number;
  bytes: number;
  byRole: Partial<Record<ObjectRole, number>>;
}

export interface ParallelSeedOptions {
  readonly workers?: number;
  readonly waveGapMs?: number;
  readonly only?: "garbage";
}

function runWorker(job: ParallelSeedJob): Promise<WorkerTally> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./parallel-worker.ts", import.meta.url), { workerData: job });
    let tally: WorkerTally | undefined;
    worker.once("message", (message: WorkerTally) => {
      tally = message;
    });
    worker.once("error", reject);
    worker.once("exit", (code) => {
      if (tally && code === 0) resolve(tally);
      else reject(new Error(`seeding worker ${job.index} of wave ${job.wave} exited with code ${code}`));
    });
  });
}

/**
 * Seeds the datastore planned from `params` (with `referenceTime` fixed, so every worker plans the same one) with
 * worker threads, each writing every n-th object: the generator's CPU (SHA-256, blob encoding, SigV4) spreads over
 * the cores, and each worker keeps its own connections busy.
 */
export async function seedInParallel(
  params: SeedParamsInput,
  referenceTime: number,
  target: ParallelSeedTarget,
  options: ParallelSeedOptions = {},
): Promise<SeedReport> {
  const workers = options.workers ?? Math.max(2, availableParallelism());
  const byRole: Partial<Record<ObjectRole, number>> = {};
  let objects = 0;
  let bytes = 0;
  const started = Date.now();
  const wave = async (number: 1 | 2): Promise<UploadWindow | undefined> => {
    const startMs = Date.now();
    const tallies = await Promise.all(
      Array.from({ length: workers }, (_, index) =>
        runWorker({
          params,
          referenceTime,
          wave: number,
          index,
          workers,
          target,
          only: options.only,
        }),
      ),
    );
    let written = 0;
    for (const tally of tallies) {
      written += tally.objects;
      bytes += tally.bytes;
      for (const [role, n] of Object.entries(tally.byRole)) {
        byRole[role as ObjectRole] = (byRole[role as ObjectRole] ?? 0) + n;
      }
    }
    objects += written;
    if (written === 0) return undefined;
    if (target.kind === "versitygw-layout") {
      const at = number === 1 ? target.wave1Ms : target.wave2Ms;
      return { startMs: at, endMs: at };
    }
    return { startMs, endMs: Date.now() };
  };
  const first = await wave(1);
  let second: UploadWindow | undefined;
  if ((params.freshChunks ?? 0) > 0 && options.only !== "garbage") {
    if (target.kind === "s3") await delay(options.waveGapMs ?? 2500);
    second = await wave(2);
  }
  return seedReport({ objects, bytes, byRole }, { 1: first, 2: second }, started);
}
