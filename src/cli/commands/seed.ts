import { writeFileSync } from "node:fs";
import { type Command, Option } from "commander";
import { createS3Context, ensureBucket } from "../../s3/index.ts";
import { expectedOutcome, planDatastore, SeedParamsSchema, seedDatastore } from "../../seed/index.ts";
import { parseDurationSeconds } from "../../util/duration.ts";
import { nonNegativeInteger, positiveInteger } from "../arg-parsers.ts";
import { addS3Options, type S3CliOptions, s3ConnectionFromOptions } from "../s3-options.ts";

interface SeedCliOptions extends S3CliOptions {
  store: string;
  seed: number;
  chunks: number;
  dedup: string;
  garbage: number;
  snapshots: number;
  groups: number;
  namespaces: number;
  inProgress: number;
  abandoned: number;
  badReferenced: number;
  badWithCopy: number;
  badUnreferenced: number;
  fresh: number;
  junk: boolean;
  neighbour: boolean;
  concurrency: number;
  createBucket?: boolean;
  oracleNow?: string;
  grace: string;
  maxBackupDuration: string;
  out?: string;
}

export function registerSeedCommand(program: Command): void {
  const command = program
    .command("seed")
    .description("write a realistic generated PBS datastore into a bucket and print what a GC should find");
  addS3Options(command)
    .addOption(
      new Option("--store <name>", "datastore name (bucket prefix)").env("CHUNKGC_STORE").makeOptionMandatory(),
    )
    .option("--seed <n>", "generator seed", nonNegativeInteger("--seed"), 1)
    .option("--chunks <n>", "referenced unique chunks", positiveInteger("--chunks"), 1000)
    .option("--dedup <x>", "average references per referenced chunk", "3")
    .option("--garbage <n>", "chunks of pruned snapshots only", nonNegativeInteger("--garbage"), 0)
    .option("--snapshots <n>", "finished snapshots", positiveInteger("--snapshots"), 12)
    .option("--groups <n>", "backup groups", positiveInteger("--groups"), 3)
    .option("--namespaces <n>", "nested namespace depth", nonNegativeInteger("--namespaces"), 1)
    .option("--in-progress <n>", "running backups (no manifest)", nonNegativeInteger("--in-progress"), 0)
    .option("--abandoned <n>", "crashed backups, days old", nonNegativeInteger("--abandoned"), 0)
    .option("--bad-referenced <n>", ".bad chunks referenced, no good copy", nonNegativeInteger("--bad-referenced"), 0)
    .option("--bad-with-copy <n>", ".bad chunks referenced, good copy exists", nonNegativeInteger("--bad-with-copy"), 0)
    .option("--bad-unreferenced <n>", ".bad chunks nothing references", nonNegativeInteger("--bad-unreferenced"), 0)
    .option("--fresh <n>", "unreferenced chunks uploaded last (a running backup's)", nonNegativeInteger("--fresh"), 0)
    .option("--no-junk", "write no junk keys")
    .option("--no-neighbour", "write no neighbouring datastore")
    .option("--concurrency <n>", "parallel PUTs", positiveInteger("--concurrency"), 64)
    .option("--create-bucket", "create the bucket if it does not exist")
    .option("--oracle-now <iso>", "also print the expected GC outcome for a run at this time")
    .option("--grace <duration>", "grace period for the expected outcome", "24h5m")
    .option("--max-backup-duration <duration>", "max backup duration for the expected outcome", "48h")
    .option("--out <file>", "write the seed report (parameters and upload windows) as JSON to this file")
    .action(async (options: SeedCliOptions) => {
      const params = SeedParamsSchema.parse({
        store: options.store,
        seed: options.seed,
        chunks: options.chunks,
        dedup: Number(options.dedup),
        garbageChunks: options.garbage,
        snapshots: options.snapshots,
        groups: options.groups,
        namespaces: options.namespaces,
        inProgressSnapshots: options.inProgress,
        abandonedSnapshots: options.abandoned,
        badReferencedNoGoodCopy: options.badReferenced,
        badReferencedWithGoodCopy: options.badWithCopy,
        badUnreferenced: options.badUnreferenced,
        freshChunks: options.fresh,
        junkKeys: options.junk,
        neighbourStore: options.neighbour,
      });
      const s3 = createS3Context(s3ConnectionFromOptions(options));
      try {
        if (options.createBucket) await ensureBucket(s3);
        const plan = planDatastore(params);
        const report = await seedDatastore(s3, plan, {
          concurrency: options.concurrency,
          onProgress: (progress) =>
            process.stderr.write(`seed: wave ${progress.wave}, ${progress.written} objects written\n`),
        });
        const output: Record<string, unknown> = { params: plan.params, referenceTime: plan.referenceTime, report };
        if (options.oracleNow) {
          const outcome = expectedOutcome(plan, {
            nowSeconds: Math.floor(Date.parse(options.oracleNow) / 1000),
            graceSeconds: parseDurationSeconds(options.grace),
            maxBackupDurationSeconds: parseDurationSeconds(options.maxBackupDuration),
            waves: report.waves,
          });
          output.expected = {
            counters: outcome.counters,
            minAtime: outcome.minAtime,
            oldestWriter: outcome.oldestWriter,
          };
        }
        const text = `${JSON.stringify(output, null, 2)}\n`;
        if (options.out) writeFileSync(options.out, text);
        process.stdout.write(text);
      } finally {
        s3.close();
      }
    });
}
