/** Plain-data fixtures of the GarbageCollection API for pure tests: a resource and an engine result. */
import type { GarbageCollection, GarbageCollectionSpecInput, RunResult } from "../../src/api/index.ts";
import { GarbageCollectionSpecSchema } from "../../src/api/index.ts";

/** The seed datastore of the spec (B): 269.685 GiB original, 9.018 GiB on disk in 6477 chunks. */
export const SEED_INDEX_BYTES = Math.round(269.685 * 1024 ** 3);
export const SEED_DISK_BYTES = Math.round(9.0184 * 1024 ** 3); // prints as 9.018 GiB, dedup 29.90 as in the seed
export const SEED_DISK_CHUNKS = 6477;

export function sampleRunResult(overrides: Partial<RunResult> = {}): RunResult {
  return {
    v: 1,
    result: "succeeded",
    dryRun: false,
    startedAt: "2025-03-01T03:30:05.120Z",
    finishedAt: "2025-03-01T03:31:10.500Z",
    counters: {
      indexFileCount: 42,
      indexDataBytes: SEED_INDEX_BYTES,
      diskChunks: SEED_DISK_CHUNKS,
      diskBytes: SEED_DISK_BYTES,
      removedChunks: 120,
      removedBytes: 1_048_576 * 170,
      pendingChunks: 3,
      pendingBytes: 4_194_304 * 3,
      removedBad: 1,
      stillBad: 0,
    },
    summary: { dedupFactor: 29.9, onDiskPercent: 3.34, averageChunkSize: 1_495_000 },
    phases: { markMs: 1200, sweepMs: 900, deleteMs: 300, cacheMs: 40 },
    requests: { list: 8, get: 2, head: 1, put: 3, delete: 1 },
    bytesDownloaded: 8192,
    indexCache: { hits: 40, misses: 2 },
    heldBack: { runningBackup: 3 },
    ...overrides,
  };
}

export function sampleSpec(overrides: Partial<GarbageCollectionSpecInput> = {}) {
  return GarbageCollectionSpecSchema.parse({
    datastore: {
      s3: {
        endpoint: "https://s3.eu-central-1.amazonaws.com",
        region: "eu-central-1",
        bucket: "pbs",
        store: "store1",
        credentialsSecretRef: { name: "pbs-s3" },
      },
    },
    markerCache: { volumeClaimTemplate: { storageClassName: "standard", storage: "10Gi" } },
    schedule: "30 3 * * *",
    timeZone: "Europe/Berlin",
    ...overrides,
  });
}

export function sampleResource(
  overrides: Partial<GarbageCollectionSpecInput> = {},
  metadata: Partial<GarbageCollection["metadata"]> = {},
): GarbageCollection {
  return {
    apiVersion: "chunkgc.io/v1alpha1",
    kind: "GarbageCollection",
    metadata: {
      name: "pbs-main",
      namespace: "backup",
      uid: "6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9",
      generation: 2,
      ...metadata,
    },
    spec: sampleSpec(overrides),
  };
}
