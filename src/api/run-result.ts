import { z } from "zod";

/**
 * The compact result of one engine run, written as JSON (at most 4 KiB) to the pod's termination message file and
 * read back by the operator, which validates it with this schema before it reaches the resource status.
 *
 * Version 1. Within a version, fields are only ever added (readers ignore unknown ones); a breaking change gets a new
 * `v`. All counts are plain JSON numbers (exact up to 2^53).
 */

/** Kubernetes truncates a container's termination message to 4096 bytes. */
export const RUN_RESULT_MAX_BYTES = 4096;
export const RUN_RESULT_VERSION = 1;
/** Longest message kept; the formatter shortens longer ones so the whole result still fits. */
export const RUN_RESULT_MAX_MESSAGE = 1024;
/** At most this many safety rules in `heldBack`, names up to 63 characters. */
export const RUN_RESULT_MAX_HELD_BACK_RULES = 16;

const count = z.int().nonnegative();

/**
 * The Proxmox Backup Server GC counters (docs/gc-semantics.md#pbs-counters), with the same meaning as PBS gives
 * them.
 */
export const RunCountersSchema = z.object({
  indexFileCount: count.describe("Index files (.fidx, .didx) read, not deduplicated."),
  indexDataBytes: count.describe("Bytes the index files describe (the original data size), not deduplicated."),
  diskChunks: count.describe("Chunks kept because they are in use."),
  diskBytes: count.describe("Bytes of the chunks kept because they are in use."),
  removedChunks: count.describe("Chunks deleted (or, in a dry run, that would be deleted)."),
  removedBytes: count.describe("Bytes of the removed chunks."),
  pendingChunks: count.describe("Unreferenced chunks kept because a running backup may still use them."),
  pendingBytes: count.describe("Bytes of the pending chunks."),
  removedBad: count.describe("Corrupt (.bad) chunk copies deleted."),
  stillBad: count.describe("Corrupt (.bad) chunk copies kept."),
});

export const RunSummarySchema = z.object({
  dedupFactor: z.number().nonnegative().describe("indexDataBytes / diskBytes, 2 decimals (1 when diskBytes is 0)."),
  onDiskPercent: z.number().nonnegative().describe("diskBytes · 100 / indexDataBytes, 2 decimals."),
  averageChunkSize: count.describe("diskBytes / diskChunks in bytes, rounded down."),
});

export const RunPhasesSchema = z.object({
  markMs: count.describe("Milliseconds spent marking (listing and reading index files)."),
  sweepMs: count.describe("Milliseconds spent listing and classifying chunks."),
  deleteMs: count.describe("Milliseconds spent deleting chunks."),
  cacheMs: count.describe("Milliseconds spent writing the marker cache."),
});

export const RunRequestsSchema = z.object({
  list: count.describe("ListObjectsV2 requests."),
  get: count.describe("GetObject requests."),
  head: count.describe("HeadObject requests."),
  put: count.describe("PutObject requests (the lock object)."),
  delete: count.describe("DeleteObjects and DeleteObject requests."),
});

export const RunIndexCacheSchema = z.object({
  hits: count.describe("Index files read from the cache (key, ETag and size matched)."),
  misses: count.describe("Index files downloaded."),
});

export const RunResultValueSchema = z.enum(["succeeded", "failed", "aborted", "lock-busy"]);

export const RunResultSchema = z
  .object({
    v: z.literal(RUN_RESULT_VERSION),
    result: RunResultValueSchema.describe(
      "succeeded: the run completed; failed: an error stopped it; aborted: a safety rule stopped it before any " +
        "deletion (such as an unreadable index); lock-busy: another run holds the datastore lock.",
    ),
    message: z.string().max(RUN_RESULT_MAX_MESSAGE).optional().describe("What happened, for humans; no secrets."),
    dryRun: z.boolean(),
    startedAt: z.iso.datetime(),
    finishedAt: z.iso.datetime(),
    counters: RunCountersSchema,
    summary: RunSummarySchema,
    phases: RunPhasesSchema,
    requests: RunRequestsSchema,
    bytesDownloaded: count.describe("Bytes downloaded from S3 (index files missing from the cache)."),
    indexCache: RunIndexCacheSchema,
    heldBack: z
      .record(z.string().regex(/^[A-Za-z][A-Za-z0-9._-]{0,62}$/), count)
      .refine((rules) => Object.keys(rules).length <= RUN_RESULT_MAX_HELD_BACK_RULES, {
        message: `at most ${RUN_RESULT_MAX_HELD_BACK_RULES} safety rules`,
      })
      .describe("Chunks that would otherwise have been deleted, held back per safety rule (rule name → chunks)."),
    estimatedCostUsd: z
      .number()
      .nonnegative()
      .optional()
      .describe("Estimated S3 request cost of the run in US dollars, when the engine knows a price list."),
  })
  .describe("The compact result of one engine run (termination message, version 1).");

export type RunResult = z.infer<typeof RunResultSchema>;
export type RunCounters = z.infer<typeof RunCountersSchema>;

/** All ten counters at zero: where every run's counting starts. */
export function emptyRunCounters(): RunCounters {
  return {
    indexFileCount: 0,
    indexDataBytes: 0,
    diskChunks: 0,
    diskBytes: 0,
    removedChunks: 0,
    removedBytes: 0,
    pendingChunks: 0,
    pendingBytes: 0,
    removedBad: 0,
    stillBad: 0,
  };
}
export type RunSummary = z.infer<typeof RunSummarySchema>;
export type RunPhases = z.infer<typeof RunPhasesSchema>;
export type RunRequests = z.infer<typeof RunRequestsSchema>;
export type RunResultValue = z.infer<typeof RunResultValueSchema>;

/** A result that does not fit in a termination message even with its message shortened. */
export class RunResultTooLargeError extends Error {
  readonly bytes: number;
  constructor(bytes: number) {
    super(
      `run result is ${bytes} bytes even without message, more than ${RUN_RESULT_MAX_BYTES}; too many heldBack rules?`,
    );
    this.name = "RunResultTooLargeError";
    this.bytes = bytes;
  }
}

/**
 * The JSON the engine writes to its termination message file: validated, and at most RUN_RESULT_MAX_BYTES bytes
 * (an over-long message is shortened with a trailing "…"). Throws a ZodError for an invalid result.
 */
export function formatRunResult(result: RunResult): string {
  const message = result.message === undefined ? undefined : truncate(result.message, RUN_RESULT_MAX_MESSAGE);
  const valid = RunResultSchema.parse({ ...result, message });
  let json = JSON.stringify(valid);
  let bytes = Buffer.byteLength(json);
  if (bytes <= RUN_RESULT_MAX_BYTES) return json;
  const withoutMessage = JSON.stringify({ ...valid, message: "" });
  const room = RUN_RESULT_MAX_BYTES - Buffer.byteLength(withoutMessage);
  if (room < 16) throw new RunResultTooLargeError(Buffer.byteLength(withoutMessage));
  // JSON escaping can grow a character up to 6 bytes; shrink until it fits.
  let keep = Math.min(valid.message?.length ?? 0, room);
  do {
    json = JSON.stringify({ ...valid, message: truncate(valid.message ?? "", keep) });
    bytes = Buffer.byteLength(json);
    keep = Math.floor(keep * 0.8);
  } while (bytes > RUN_RESULT_MAX_BYTES && keep > 0);
  return bytes <= RUN_RESULT_MAX_BYTES ? json : withoutMessage;
}

function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  // Never cut a surrogate pair in half.
  return `${text.slice(0, Math.max(0, max - 1)).replace(/[\uD800-\uDBFF]$/, "")}…`;
}
