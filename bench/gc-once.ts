/**
 * One measured run in its own process (so that peak RSS is this run's alone); prints a JSON line.
 *   node bench/gc-once.ts '<json: {server, bucket, store, mode, now, graceSeconds, cacheDir, indexDir?, markerDir?}>'
 * Modes: chunkgc (the engine), pbs / pbs-download (bench/pbs-baseline.ts), raw-list (16 parallel range listings of
 * .chunks/, the physical reference), raw-list-sequential (one page after another, the SDK's parser) and raw-delete
 * (the keys of `keysFile` deleted by 1000-key DeleteObjects at chunkgc's default delete concurrency, nothing else:
 * the server's own delete rate, the reference for the delete phase).
 */
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import pLimit from "p-limit";
import { pino } from "pino";
import { chunksPrefix } from "../src/datastore/index.ts";
import { ENGINE_DEFAULTS } from "../src/engine/options.ts";
import { runGc } from "../src/engine/run.ts";
import {
  createS3Context,
  deleteBatch,
  hexKeyRanges,
  listPages,
  listRangesInParallel,
  MAX_DELETE_BATCH,
} from "../src/s3/index.ts";
import { runPbsBaseline } from "./pbs-baseline.ts";

interface Job {
  server: { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string };
  bucket: string;
  store: string;
  mode: "chunkgc" | "pbs" | "pbs-download" | "raw-list" | "raw-list-sequential" | "raw-delete";
  now: string;
  graceSeconds: number;
  cacheDir: string;
  /** PBS's local datastore: index files and chunk markers (modes pbs, pbs-download). */
  indexDir?: string;
  markerDir?: string;
  /** JSON array of the keys to delete (mode raw-delete). */
  keysFile?: string;
}

/** Deletes `keys` in 1000-key DeleteObjects, `concurrency` at a time; every key must come back deleted. */
async function rawDelete(s3: ReturnType<typeof createS3Context>, keys: readonly string[], concurrency: number) {
  const batches: string[][] = [];
  for (let at = 0; at < keys.length; at += MAX_DELETE_BATCH) batches.push(keys.slice(at, at + MAX_DELETE_BATCH));
  const limit = pLimit(concurrency);
  const started = performance.now();
  const deleted = await Promise.all(
    batches.map((batch) =>
      limit(async () => {
        const result = await deleteBatch(s3, batch);
        if (result.errors.length > 0) throw new Error(`raw delete: ${result.errors.length} keys not deleted`);
        return result.deleted.length;
      }),
    ),
  );
  const deleteMs = Math.round(performance.now() - started);
  return {
    counters: { removedChunks: deleted.reduce((sum, n) => sum + n, 0) },
    phases: { markMs: 0, sweepMs: 0, deleteMs, cacheMs: 0 },
    chunkDeleteRequests: batches.length,
  };
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
  output = { keys, requests: { ...s3.counter.counts } };
} else if (job.mode === "raw-delete") {
  const keys = JSON.parse(readFileSync(job.keysFile!, "utf8")) as string[];
  output = { ...(await rawDelete(s3, keys, ENGINE_DEFAULTS.deleteConcurrency)), requests: { ...s3.counter.counts } };
} else if (job.mode === "pbs" || job.mode === "pbs-download") {
  const result = await runPbsBaseline(s3, {
    store: job.store,
    indexDir: job.indexDir!,
    markerDir: job.markerDir!,
    nowSeconds: Math.floor(new Date(job.now).getTime() / 1000),
    graceSeconds: job.graceSeconds,
    download: job.mode === "pbs-download",
  });
  output = { ...result, requests: { ...s3.counter.counts } };
} else {
  const report = await runGc(
    s3,
    { endpoint: job.server.endpoint, bucket: job.bucket, store: job.store },
    {
      store: job.store,
      cacheDir: job.cacheDir,
      graceSeconds: job.graceSeconds,
      now: new Date(job.now),
      // Datastores seeded by PUT are minutes old: the benchmark evaluates them days later, as a test does.
      allowFutureNow: true,
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
