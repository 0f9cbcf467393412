/**
 * One measured engine run in its own process (so that peak RSS is this run's alone); prints a JSON line.
 *   node bench/gc-once.ts '<json: {server, bucket, store, mode: "chunkgc"|"baseline"|"raw-list", now, graceSeconds, cacheDir}>'
 */
import { performance } from "node:perf_hooks";
import { pino } from "pino";
import { chunksPrefix } from "../src/datastore/index.ts";
import { runGc } from "../src/engine/run.ts";
import { createS3Context, hexKeyRanges, listPages, listRangesInParallel } from "../src/s3/index.ts";

interface Job {
  server: { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string };
  bucket: string;
  store: string;
  mode: "chunkgc" | "baseline" | "raw-list" | "raw-list-sequential";
  now: string;
  graceSeconds: number;
  cacheDir: string;
}

const job = JSON.parse(process.argv[2] ?? "{}") as Job;
const s3 = createS3Context(
  {
    endpoint: job.server.endpoint,
    region: job.server.region,
    bucket: job.bucket,
    forcePathStyle: true,
    maxSockets: 64,
  },
  { accessKeyId: job.server.accessKeyId, secretAccessKey: job.server.secretAccessKey },
);
const started = performance.now();
let output: Record<string, unknown>;
if (job.mode === "raw-list" || job.mode === "raw-list-sequential") {
  let keys = 0;
  const prefix = chunksPrefix(job.store);
  const pages =
    job.mode === "raw-list"
      ? listRangesInParallel(s3, { prefix, ranges: hexKeyRanges(prefix, 16), concurrency: 16 })
      : listPages(s3, { prefix, parser: "sdk" });
  for await (const page of pages) keys += page.objects.length;
  output = { keys };
} else {
  const baseline = job.mode === "baseline";
  const report = await runGc(
    s3,
    { endpoint: job.server.endpoint, bucket: job.bucket, store: job.store },
    {
      store: job.store,
      cacheDir: job.cacheDir,
      graceSeconds: job.graceSeconds,
      now: new Date(job.now),
      // PBS's shape: one list page at a time with the SDK's parser, per-key decisions, 100-key deletes one after
      // another right behind the listing, every index downloaded (the cache directory is new each time).
      ...(baseline
        ? {
            listConcurrency: 1,
            listParser: "sdk" as const,
            deleteBatchSize: 100,
            deleteConcurrency: 1,
            roundSize: 100,
            indexConcurrency: 1,
          }
        : {}),
    },
    { log: pino({ level: "silent" }) },
  );
  output = {
    result: report.result,
    message: report.message,
    counters: report.counters,
    phases: report.phases,
    requests: report.requests,
    chunkDeleteRequests: report.chunkDeleteRequests,
    indexBytesDownloaded: report.indexBytesDownloaded,
  };
}
const wallMs = Math.round(performance.now() - started);
s3.close();
process.stdout.write(
  `${JSON.stringify({ mode: job.mode, wallMs, peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024), ...output })}\n`,
);
