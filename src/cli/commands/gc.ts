import { writeFileSync } from "node:fs";
import { type Command, InvalidArgumentError, Option } from "commander";
import { EXIT } from "../../api/exit-codes.ts";
import { formatRunResult } from "../../api/run-result.ts";
import {
  ENGINE_DEFAULTS,
  type EngineOptionsInput,
  EngineOptionsSchema,
  futureNowRefusal,
  parsePrices,
} from "../../engine/options.ts";
import { formatHuman, toRunResult } from "../../engine/report.ts";
import { runGc } from "../../engine/run.ts";
import { createLogger } from "../../log.ts";
import { createS3Context } from "../../s3/index.ts";
import { formatDurationSeconds } from "../../util/duration.ts";
import { booleanValue, durationSeconds, positiveInteger, UsageError } from "../arg-parsers.ts";
import { attachProgressRenderer } from "../progress-renderer.ts";
import { addS3Options, type S3CliOptions, s3ConnectionFromOptions } from "../s3-options.ts";

interface GcCliOptions extends S3CliOptions {
  store: string;
  cacheDir: string;
  dryRun?: boolean;
  grace: number;
  maxBackupDuration: number;
  now?: Date;
  json?: boolean;
  listConcurrency: number;
  deleteConcurrency: number;
  deleteBatchSize: number;
  indexConcurrency: number;
  deleteRoundSize: number;
  acknowledgeInUse?: boolean;
  allowFutureNow?: boolean;
  maxClockSkew: number;
  terminationMessageFile?: string;
  prices?: string;
  lockLease: number;
  progressInterval: number;
}

const EXIT_BY_RESULT = {
  succeeded: EXIT.ok,
  failed: EXIT.error,
  aborted: EXIT.safetyAbort,
  "lock-busy": EXIT.lockBusy,
};

function instant(value: string): Date {
  const parsed = new Date(value);
  if (Number.isNaN(parsed.getTime()) || !/^\d{4}-\d{2}-\d{2}T/.test(value)) {
    throw new InvalidArgumentError(`--now takes an ISO-8601 time like 2026-11-25T03:30:00Z, got "${value}"`);
  }
  return parsed;
}

/**
 * A boolean setting: `--name` alone is true, `--name=false` (or `--name no`) false, and the environment variable
 * takes exactly true/false/1/0/yes/no in any case. Anything else, an empty value included, is a usage error naming
 * the flag or the variable: a typo must never switch a safety setting on or off.
 */
function booleanOption(flag: string, description: string, env: string): Option {
  return new Option(`${flag} [bool]`, description).env(env).argParser(booleanValue(flag));
}

/** The flags whose values the engine validates further (ranges), named as the user wrote them. */
const FLAG_OF_SETTING: Record<string, string> = {
  graceSeconds: "--grace",
  maxBackupDurationSeconds: "--max-backup-duration",
  maxClockSkewSeconds: "--max-clock-skew",
  lockLeaseSeconds: "--lock-lease",
  listConcurrency: "--list-concurrency",
  deleteConcurrency: "--delete-concurrency",
  deleteBatchSize: "--delete-batch-size",
  indexConcurrency: "--index-concurrency",
  roundSize: "--delete-round-size",
  prices: "--prices",
};

/** The engine's settings from the command line, validated: a value out of range is a usage error naming its flag. */
function engineSettings(options: GcCliOptions, dryRun: boolean, allowFutureNow: boolean): EngineOptionsInput {
  let prices: ReturnType<typeof parsePrices> | undefined;
  try {
    prices = options.prices ? parsePrices(options.prices) : undefined;
  } catch (error) {
    throw new UsageError(`--prices: ${(error as Error).message}`);
  }
  const input: EngineOptionsInput = {
    store: options.store,
    cacheDir: options.cacheDir,
    dryRun,
    allowFutureNow,
    maxClockSkewSeconds: options.maxClockSkew,
    graceSeconds: options.grace,
    maxBackupDurationSeconds: options.maxBackupDuration,
    ...(options.now ? { now: options.now } : {}),
    listConcurrency: options.listConcurrency,
    deleteConcurrency: options.deleteConcurrency,
    deleteBatchSize: Math.min(1000, options.deleteBatchSize),
    indexConcurrency: options.indexConcurrency,
    roundSize: options.deleteRoundSize,
    acknowledgeInUse: options.acknowledgeInUse === true,
    lockLeaseSeconds: options.lockLease,
    ...(prices ? { prices } : {}),
  };
  const checked = EngineOptionsSchema.safeParse(input);
  if (!checked.success) {
    const problems = checked.error.issues.map((issue) => {
      const setting = String(issue.path[0] ?? "");
      return `${FLAG_OF_SETTING[setting] ?? setting}: ${issue.message}`;
    });
    throw new UsageError(problems.join("; "));
  }
  return input;
}

export function registerGcCommand(program: Command): void {
  const command = program
    .command("gc")
    .description("garbage-collect a PBS datastore on S3 (mark, sweep, marker cache)");
  addS3Options(command)
    .addOption(
      new Option("--store <name>", "datastore name (bucket prefix)").env("CHUNKGC_STORE").makeOptionMandatory(),
    )
    .addOption(
      new Option("--cache-dir <dir>", "marker and index cache directory (the PVC mount)")
        .env("CHUNKGC_CACHE_DIR")
        .makeOptionMandatory(),
    )
    .addOption(booleanOption("--dry-run", "do everything but delete", "CHUNKGC_DRY_RUN"))
    .addOption(
      new Option("--grace <duration>", "cutoff: chunks unused for longer are garbage (1m … 48h)")
        .env("CHUNKGC_GRACE")
        .default(ENGINE_DEFAULTS.graceSeconds, formatDurationSeconds(ENGINE_DEFAULTS.graceSeconds))
        .argParser(durationSeconds("--grace")),
    )
    .addOption(
      new Option("--max-backup-duration <duration>", "older manifest-less snapshots are abandoned, not running")
        .env("CHUNKGC_MAX_BACKUP_DURATION")
        .default(
          ENGINE_DEFAULTS.maxBackupDurationSeconds,
          formatDurationSeconds(ENGINE_DEFAULTS.maxBackupDurationSeconds),
        )
        .argParser(durationSeconds("--max-backup-duration")),
    )
    .addOption(
      new Option(
        "--now <iso>",
        "evaluate cutoffs as of this time (what-if dry runs; a time later than the clock is refused on a deleting run)",
      )
        .env("CHUNKGC_NOW")
        .argParser(instant),
    )
    .addOption(
      booleanOption(
        "--allow-future-now",
        "FOR TESTS ONLY: let a deleting run use a --now later than the clock (simulated days)",
        "CHUNKGC_ALLOW_FUTURE_NOW",
      ),
    )
    .addOption(
      new Option("--max-clock-skew <duration>", "refuse to delete when the S3 server's clock is further from ours")
        .env("CHUNKGC_MAX_CLOCK_SKEW")
        .default(ENGINE_DEFAULTS.maxClockSkewSeconds, formatDurationSeconds(ENGINE_DEFAULTS.maxClockSkewSeconds))
        .argParser(durationSeconds("--max-clock-skew")),
    )
    .addOption(booleanOption("--json", "print the full result as JSON on stdout", "CHUNKGC_JSON"))
    .addOption(
      new Option("--list-concurrency <n>", "parallel listing streams over .chunks/")
        .env("CHUNKGC_LIST_CONCURRENCY")
        .default(ENGINE_DEFAULTS.listConcurrency)
        .argParser(positiveInteger("--list-concurrency")),
    )
    .addOption(
      new Option("--delete-concurrency <n>", "DeleteObjects requests in flight")
        .env("CHUNKGC_DELETE_CONCURRENCY")
        .default(ENGINE_DEFAULTS.deleteConcurrency)
        .argParser(positiveInteger("--delete-concurrency")),
    )
    .addOption(
      new Option("--delete-batch-size <n>", "keys per DeleteObjects request (≤ 1000)")
        .env("CHUNKGC_DELETE_BATCH_SIZE")
        .default(ENGINE_DEFAULTS.deleteBatchSize)
        .argParser(positiveInteger("--delete-batch-size")),
    )
    .addOption(
      new Option("--index-concurrency <n>", "index files read in parallel")
        .env("CHUNKGC_INDEX_CONCURRENCY")
        .default(ENGINE_DEFAULTS.indexConcurrency)
        .argParser(positiveInteger("--index-concurrency")),
    )
    .addOption(
      new Option("--delete-round-size <n>", "deletion candidates per recheck-and-delete round")
        .env("CHUNKGC_DELETE_ROUND_SIZE")
        .default(ENGINE_DEFAULTS.roundSize)
        .argParser(positiveInteger("--delete-round-size")),
    )
    .addOption(
      booleanOption(
        "--acknowledge-in-use",
        "delete even though .in-use names an attached PBS host",
        "CHUNKGC_ACKNOWLEDGE_IN_USE",
      ),
    )
    .addOption(
      new Option("--termination-message-file <file>", "write the compact result (≤ 4 KiB JSON) here").env(
        "CHUNKGC_TERMINATION_MESSAGE_PATH",
      ),
    )
    .addOption(
      new Option("--prices <list>", "dollars per 1000 requests, e.g. list=0.005,get=0.0004").env("CHUNKGC_PRICES"),
    )
    .addOption(
      new Option("--lock-lease <duration>", "datastore lock lease, renewed while running")
        .env("CHUNKGC_LOCK_LEASE")
        .default(300, "5m")
        .argParser(durationSeconds("--lock-lease")),
    )
    .addOption(
      new Option("--progress-interval <duration>", "without a terminal, log progress as JSON this often")
        .env("CHUNKGC_PROGRESS_INTERVAL")
        .default(10, "10s")
        .argParser(durationSeconds("--progress-interval")),
    )
    .action(async (options: GcCliOptions) => {
      const dryRun = options.dryRun === true;
      const allowFutureNow = options.allowFutureNow === true;
      // Refused before anything else: exit 2, like any other bad setting.
      const refusal = futureNowRefusal({ now: options.now, dryRun, allowFutureNow }, Date.now());
      if (refusal) throw new UsageError(refusal);
      const engineInput = engineSettings(options, dryRun, allowFutureNow);
      const log = createLogger();
      // A live line on a terminal, structured JSON progress every --progress-interval otherwise.
      const detachProgress = attachProgressRenderer({ log, intervalMs: options.progressInterval * 1000 });
      const connection = s3ConnectionFromOptions(options);
      const s3 = createS3Context(connection);
      const controller = new AbortController();
      const onSignal = (signal: NodeJS.Signals) => {
        log.warn({ signal }, "stopping: no further deletions");
        controller.abort(new Error(`interrupted by ${signal}`));
      };
      process.once("SIGTERM", onSignal);
      process.once("SIGINT", onSignal);
      try {
        const report = await runGc(
          s3,
          { endpoint: connection.endpoint, bucket: connection.bucket, store: options.store },
          engineInput,
          { log, signal: controller.signal },
        );
        if (options.terminationMessageFile) {
          writeFileSync(options.terminationMessageFile, formatRunResult(toRunResult(report)));
        }
        process.stdout.write(options.json === true ? `${JSON.stringify(report, null, 2)}\n` : formatHuman(report));
        process.exitCode = EXIT_BY_RESULT[report.result];
      } finally {
        detachProgress();
        s3.close();
        process.off("SIGTERM", onSignal);
        process.off("SIGINT", onSignal);
      }
    });
}
