/**
 * `npm run bench`: seeds datastores on a local S3 server (Ceph RGW by default, the production-grade reference) and
 * measures, per size, the full chunkgc GC (cold and steady state), a PBS-style baseline of the same engine, and a raw
 * listing of `.chunks/` (the physical reference); then the ratios. Each measured run is its own process.
 *
 *   npm run bench -- [--sizes 100k,1m] [--garbage 0.3] [--server ceph-rgw|versitygw] [--delete-set 30000]
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createS3Context, ensureBucket } from "../src/s3/index.ts";
import { planDatastore, seedDatastore } from "../src/seed/index.ts";
import { start as startCeph } from "../test/servers/ceph-rgw.ts";
import type { S3ServerHandle } from "../test/servers/s3-server.ts";
import { start as startVersitygw } from "../test/servers/versitygw.ts";

const { values } = parseArgs({
  options: {
    sizes: { type: "string", default: "100k" },
    garbage: { type: "string", default: "0.3" },
    server: { type: "string", default: "ceph-rgw" },
    "delete-set": { type: "string", default: "30000" },
  },
});
const sizes = values.sizes.split(",").map((text) => Number(text.replace(/k$/i, "e3").replace(/m$/i, "e6")));
const garbageFraction = Number(values.garbage);
const deleteSetMax = Number(values["delete-set"]);
const DAY = 86_400_000;

interface Measured {
  mode: string;
  wallMs: number;
  peakRssMiB: number;
  keys?: number;
  result?: string;
  message?: string;
  counters?: Record<string, number>;
  phases?: Record<string, number>;
  requests?: Record<string, number>;
  chunkDeleteRequests?: number;
  indexBytesDownloaded?: number;
}

const workDir = mkdtempSync(join(tmpdir(), "chunkgc-bench-"));
const server: S3ServerHandle =
  values.server === "versitygw" ? await startVersitygw(join(workDir, "s3")) : await startCeph(join(workDir, "s3"));
console.log(`# server ${server.name} at ${server.endpoint}; machine: ${execFileSync("nproc").toString().trim()} cores`);

function measure(
  mode: Measured["mode"],
  bucket: string,
  store: string,
  now: Date,
  cacheDir = mkdtempSync(join(workDir, "cache-")),
): Measured {
  const job = { server, bucket, store, mode, now: now.toISOString(), graceSeconds: 24 * 3600 + 300, cacheDir };
  const out = execFileSync(process.execPath, [new URL("./gc-once.ts", import.meta.url).pathname, JSON.stringify(job)], {
    maxBuffer: 16 << 20,
  });
  const measured = JSON.parse(out.toString()) as Measured;
  if (measured.result && measured.result !== "succeeded")
    throw new Error(`${mode}: ${measured.result} ${measured.message}`);
  return measured;
}

async function seedInto(bucket: string, store: string, chunks: number, garbage: number) {
  const s3 = createS3Context(
    { endpoint: server.endpoint, region: server.region, bucket, forcePathStyle: true, maxSockets: 128 },
    { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
  );
  await ensureBucket(s3);
  const plan = planDatastore({
    store,
    seed: chunks,
    chunks,
    garbageChunks: garbage,
    snapshots: Math.min(1000, Math.max(10, Math.round(chunks / 100))),
    groups: 10,
    dedup: 2,
    junkKeys: false,
    neighbourStore: false,
  });
  const report = await seedDatastore(s3, plan, { concurrency: 96 });
  s3.close();
  console.log(`# seeded ${bucket}/${store}: ${report.objects} objects at ${report.putsPerSecond} PUT/s`);
  return report;
}

const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const rate = (keys: number, ms: number) => `${Math.round(keys / (ms / 1000))}/s`;
function row(label: string, m: Measured, keys: number) {
  const p = m.phases;
  const r = m.requests;
  console.log(
    `${label.padEnd(26)} wall ${fmt(m.wallMs).padStart(9)}  ${rate(keys, m.wallMs).padStart(9)}  RSS ${String(m.peakRssMiB).padStart(4)} MiB` +
      (p
        ? `  mark ${fmt(p.markMs!)} sweep ${fmt(p.sweepMs!)} delete ${fmt(p.deleteMs!)} cache ${fmt(p.cacheMs!)}`
        : "") +
      (r ? `  req list ${r.list} get ${r.get} head ${r.head} put ${r.put} delete ${r.delete}` : "") +
      (m.indexBytesDownloaded !== undefined ? `  index bytes ${m.indexBytesDownloaded}` : "") +
      (m.counters ? `  removed ${m.counters.removedChunks}` : ""),
  );
}

try {
  for (const size of sizes) {
    console.log(`\n## ${size} chunks, no garbage`);
    const bucket = `bench-${size}`;
    const seeded = await seedInto(bucket, "s", size, 0);
    const now = new Date(seeded.waves[1]!.endMs + 2 * DAY);
    const rawParallel = measure("raw-list", bucket, "s", now);
    const rawSequential = measure("raw-list-sequential", bucket, "s", now);
    const steadyCache = mkdtempSync(join(workDir, "cache-"));
    const cold = measure("chunkgc", bucket, "s", now, steadyCache);
    const steady = measure("chunkgc", bucket, "s", new Date(now.getTime() + 60_000), steadyCache);
    const baseline = measure("baseline", bucket, "s", now);
    row("raw parallel list (16)", rawParallel, size);
    row("raw sequential list (SDK)", rawSequential, size);
    row("chunkgc, cold cache", cold, size);
    row("chunkgc, steady state", steady, size);
    row("PBS-style baseline", baseline, size);
    console.log(
      `ratios: baseline / chunkgc ${(baseline.wallMs / cold.wallMs).toFixed(2)}× (cold), ${(baseline.wallMs / steady.wallMs).toFixed(2)}× (steady); ` +
        `chunkgc sweep / raw parallel list ${(steady.phases!.sweepMs! / rawParallel.wallMs).toFixed(2)}×; steady-state index bytes ${steady.indexBytesDownloaded}`,
    );

    const garbage = Math.min(deleteSetMax, Math.round(size * garbageFraction));
    const referenced =
      garbage === Math.round(size * garbageFraction) ? size - garbage : Math.round(garbage * (1 / garbageFraction - 1));
    console.log(
      `\n## ${referenced + garbage} chunks, ${garbage} garbage (${Math.round((garbage * 100) / (referenced + garbage))}%)`,
    );
    const results: Measured[] = [];
    for (const mode of ["chunkgc", "baseline"] as const) {
      const garbageBucket = `bench-${size}-g-${mode}`;
      const seededGarbage = await seedInto(garbageBucket, "g", referenced, garbage);
      const measured = measure(mode, garbageBucket, "g", new Date(seededGarbage.waves[1]!.endMs + 2 * DAY));
      row(mode === "chunkgc" ? "chunkgc" : "PBS-style baseline", measured, referenced + garbage);
      const removed = measured.counters?.removedChunks ?? 0;
      const deleteMs = measured.phases?.deleteMs ?? 0;
      console.log(
        `  deletes: ${measured.chunkDeleteRequests} DeleteObjects for ${removed} chunks ` +
          `(ceil(removed/1000) = ${Math.ceil(removed / 1000)}), ${rate(removed, deleteMs)} deleted`,
      );
      results.push(measured);
    }
    console.log(`ratio with garbage: baseline / chunkgc ${(results[1]!.wallMs / results[0]!.wallMs).toFixed(2)}×`);
  }
  console.log(
    "\n## memory: 10M chunks through the engine's mark table and sweep decisions (synthetic listing, in-process)",
  );
  console.log(
    execFileSync(process.execPath, [new URL("./memory.ts", import.meta.url).pathname, "10000000"])
      .toString()
      .trim(),
  );
} finally {
  await server.stop();
}
