import { hostname } from "node:os";
import { z } from "zod";
import { REQUEST_KINDS } from "../s3/index.ts";

const MINUTE = 60;
const HOUR = 3600;

/** Dollars per 1000 requests by kind; defaults: AWS S3 Standard list prices (deletes are free). */
export const RequestPricesSchema = z.object({
  list: z.number().nonnegative().default(0.005),
  get: z.number().nonnegative().default(0.0004),
  head: z.number().nonnegative().default(0.0004),
  put: z.number().nonnegative().default(0.005),
  delete: z.number().nonnegative().default(0),
});
export type RequestPrices = z.infer<typeof RequestPricesSchema>;

export const EngineOptionsSchema = z.object({
  store: z.string().min(1),
  cacheDir: z.string().min(1),
  dryRun: z.boolean().default(false),
  /** PBS's cutoff: 24 h 5 min by default, 1 min … 48 h. */
  graceSeconds: z
    .number()
    .int()
    .min(MINUTE)
    .max(48 * HOUR)
    .default(24 * HOUR + 5 * MINUTE),
  /** A manifest-less snapshot younger than this is a running backup; older ones are abandoned. */
  maxBackupDurationSeconds: z
    .number()
    .int()
    .min(MINUTE)
    .default(48 * HOUR),
  /** Evaluate cutoffs as of this time instead of the clock (tests, what-if dry runs). */
  now: z.date().optional(),
  /**
   * For tests only: let a deleting run take a `now` later than the wall clock. Without it such a run is refused (a
   * future "now" makes fresh uploads look old and running backups abandoned).
   */
  allowFutureNow: z.boolean().default(false),
  /** The run refuses to delete when the S3 server's clock is further than this from ours. */
  maxClockSkewSeconds: z.number().int().min(1).default(120),
  listConcurrency: z.number().int().min(1).max(256).default(16),
  /** How list answers are parsed: chunkgc's streaming parser, or the SDK's own (the PBS-style baseline). */
  listParser: z.enum(["streaming", "sdk"]).default("streaming"),
  deleteConcurrency: z.number().int().min(1).max(64).default(4),
  deleteBatchSize: z.number().int().min(1).max(1000).default(1000),
  indexConcurrency: z.number().int().min(1).max(128).default(32),
  /** Candidates gathered before each recheck-and-delete round (bounds memory and recheck cost). */
  roundSize: z.number().int().min(1).default(50_000),
  /** Delete even though `.in-use` names a PBS host (its local chunk cache must then be rebuilt). */
  acknowledgeInUse: z.boolean().default(false),
  lockLeaseSeconds: z.number().int().min(10).default(300),
  owner: z.string().default(`${hostname()}:${process.pid}`),
  prices: RequestPricesSchema.default(RequestPricesSchema.parse({})),
  /** How long the index cache remembers an index no longer listed (dedup bases of long backups). */
  indexRetentionSeconds: z
    .number()
    .int()
    .min(0)
    .default(14 * 24 * HOUR),
});
export type EngineOptions = z.infer<typeof EngineOptionsSchema>;
export type EngineOptionsInput = z.input<typeof EngineOptionsSchema>;

/** Parses `list=0.005,get=0.0004` into prices (unnamed kinds keep their defaults). */
export function parsePrices(text: string): RequestPrices {
  const values: Record<string, number> = {};
  for (const part of text.split(",").filter(Boolean)) {
    const [kind, value] = part.split("=");
    if (!kind || value === undefined || !(REQUEST_KINDS as readonly string[]).includes(kind.trim())) {
      throw new Error(`price "${part}" is not KIND=DOLLARS_PER_1000 with KIND one of ${REQUEST_KINDS.join(", ")}`);
    }
    values[kind.trim()] = Number(value);
  }
  return RequestPricesSchema.parse(values);
}

/** The defaults, for commands and schemas that show them. */
export const ENGINE_DEFAULTS: EngineOptions = EngineOptionsSchema.parse({ store: "-", cacheDir: "-" });

/** A `now` later than the wall clock on a deleting run, without the test-only permission. */
export class FutureNowError extends Error {
  override name = "FutureNowError";
  readonly exitCode = 2;
}

/**
 * Pure: why a run with these settings must be refused before it starts, if it must. A `now` ahead of the wall clock
 * moves the cutoff past fresh uploads; only a dry run (deletes nothing) or the test-only permission may use one.
 */
export function futureNowRefusal(
  options: { now?: Date | undefined; dryRun: boolean; allowFutureNow: boolean },
  wallClockMs: number,
): string | undefined {
  if (!options.now || options.dryRun || options.allowFutureNow) return undefined;
  if (options.now.getTime() <= wallClockMs) return undefined;
  return (
    `--now ${options.now.toISOString()} is later than the clock (${new Date(wallClockMs).toISOString()}): a deleting ` +
    "run would treat fresh uploads as old. Use --dry-run for a what-if run (--allow-future-now is for tests only)"
  );
}
