import { setTimeout as delay } from "node:timers/promises";
import { putObject, type S3Context } from "../s3/index.ts";
import type { ObjectRole, PlannedObject } from "./objects.ts";
import { plannedObjects } from "./objects.ts";
import type { UploadWindow } from "./oracle.ts";
import type { DatastorePlan } from "./plan.ts";

export interface SeedProgress {
  readonly wave: 1 | 2;
  readonly written: number;
  readonly bytes: number;
}

export interface SeedOptions {
  readonly concurrency?: number;
  readonly signal?: AbortSignal;
  /** Pause between the waves, so that the fresh chunks' LastModified is measurably later (seconds precision). */
  readonly waveGapMs?: number;
  readonly onProgress?: (progress: SeedProgress) => void;
}

export interface SeedReport {
  readonly objects: number;
  readonly bytes: number;
  readonly byRole: Partial<Record<ObjectRole, number>>;
  readonly waves: Record<1 | 2, UploadWindow | undefined>;
  readonly durationMs: number;
  readonly putsPerSecond: number;
}

/** Writes the planned datastore with parallel PUTs (the server, not this loop, should be the limit). */
export async function seedDatastore(
  s3: S3Context,
  plan: DatastorePlan,
  options: SeedOptions = {},
): Promise<SeedReport> {
  const concurrency = options.concurrency ?? 64;
  const byRole: Partial<Record<ObjectRole, number>> = {};
  let objects = 0;
  let bytes = 0;
  const started = Date.now();

  const writeWave = async (wave: 1 | 2): Promise<UploadWindow | undefined> => {
    const iterator = onlyWave(plannedObjects(plan), wave);
    let written = 0;
    const startMs = Date.now();
    const worker = async () => {
      for (let next = iterator.next(); !next.done; next = iterator.next()) {
        options.signal?.throwIfAborted();
        const object = next.value;
        const body = object.body();
        await putObject(s3, object.key, body, options.signal);
        written += 1;
        objects += 1;
        bytes += body.byteLength;
        byRole[object.role] = (byRole[object.role] ?? 0) + 1;
        if (written % 1000 === 0) options.onProgress?.({ wave, written, bytes });
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    if (written === 0) return undefined;
    options.onProgress?.({ wave, written, bytes });
    return { startMs, endMs: Date.now() };
  };

  const first = await writeWave(1);
  let second: UploadWindow | undefined;
  if (plan.params.freshChunks > 0) {
    await delay(options.waveGapMs ?? 2500, undefined, options.signal ? { signal: options.signal } : {});
    second = await writeWave(2);
  }
  return seedReport({ objects, bytes, byRole }, { 1: first, 2: second }, started);
}

/** The report of a seeding that began at `startedMs` and wrote `written` in the given waves. */
export function seedReport(
  written: Pick<SeedReport, "objects" | "bytes" | "byRole">,
  waves: SeedReport["waves"],
  startedMs: number,
): SeedReport {
  const durationMs = Date.now() - startedMs;
  const { objects } = written;
  return {
    ...written,
    waves,
    durationMs,
    putsPerSecond: durationMs > 0 ? Math.round((objects * 1000) / durationMs) : objects,
  };
}

function* onlyWave(objects: Iterable<PlannedObject>, wave: 1 | 2): Generator<PlannedObject> {
  for (const object of objects) if (object.wave === wave) yield object;
}
