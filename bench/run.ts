/**
 * `npm run bench`: per S3 server, size and latency profile, measured side by side in one run:
 *   raw parallel listing of .chunks/ (16 streams: the physical reference), raw sequential listing, chunkgc on a cold
 *   and on a warm (steady-state) cache, the PBS-faithful baseline (bench/pbs-baseline.ts: local indexes, one list page
 *   at a time, a local marker per chunk, sequential 100-key deletes) and its download-every-index variant; then the
 *   same with 30 % garbage (the garbage deleted by bare DeleteObjects as the server's own delete rate, chunkgc and the
 *   PBS-faithful baseline); then the whole `chunkgc gc` process at 10M chunks
 *   against a synthetic endpoint (bench/memory-cli.ts). Writes docs/benchmarks/results.json, results.md and chart.svg.
 *
 *   npm run bench -- [--sizes 100k,1m] [--latency 0ms,20ms] [--servers ceph-rgw,versitygw] [--garbage 0.3]
 *                    [--delete-set 30000] [--memory-chunks 10m] [--out docs/benchmarks]
 * A server may cap the sizes it runs: `--servers ceph-rgw:100k,versitygw` runs Ceph RGW at the sizes up to 100k only
 * (its datastores are seeded by PUT, a million objects take the better part of an hour on two cores).
 *
 * Latency comes from toxiproxy (scripts/install.d/40-toxiproxy.sh) between every client and the server: chunkgc, the
 * baselines and the raw listings all go through it; the round trip actually seen is measured and printed.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { chunkKey, digestHex } from "../src/datastore/index.ts";
import { createS3Context, headObject } from "../src/s3/index.ts";
import { expectedOutcome, planDatastore } from "../src/seed/index.ts";
import { start as startCeph } from "../test/servers/ceph-rgw.ts";
import type { S3ServerHandle } from "../test/servers/s3-server.ts";
import { start as startVersitygw } from "../test/servers/versitygw.ts";
import {
  benchParams,
  putDatastore,
  relinkVersitygw,
  restoreGarbage,
  type Seeded,
  versitygwDatastore,
} from "./datastores.ts";
import { mirrorIndexes, prepareMarkers } from "./pbs-baseline.ts";
import { type BenchResults, type Measured, machineFacts, writeReport } from "./report.ts";
import { parseLatency, startToxiproxy, type Toxiproxy } from "./toxiproxy.ts";

const { values } = parseArgs({
  options: {
    sizes: { type: "string", default: "100k" },
    latency: { type: "string", default: "0ms" },
    servers: { type: "string", default: "ceph-rgw" },
    garbage: { type: "string", default: "0.3" },
    "delete-set": { type: "string", default: "30000" },
    "memory-chunks": { type: "string", default: "10m" },
    /** JSON lines of an earlier `node bench/memory-cli.ts` run, reported instead of measuring memory again. */
    "memory-from": { type: "string" },
    out: { type: "string", default: "docs/benchmarks" },
  },
});
const count = (text: string) => Math.round(Number(text.replace(/k$/i, "e3").replace(/m$/i, "e6")));
const sizes = values.sizes.split(",").map(count);
const latencies = values.latency.split(",").map((text) => ({ label: text, profile: parseLatency(text) }));
type ServerName = "ceph-rgw" | "versitygw";
/** `name` or `name:<largest size>`. */
const serverRuns = values.servers.split(",").map((entry) => {
  const [name, cap] = entry.split(":");
  if (name !== "ceph-rgw" && name !== "versitygw") throw new Error(`unknown server ${JSON.stringify(name)}`);
  return { name: name as ServerName, maxSize: cap ? count(cap) : Number.POSITIVE_INFINITY };
});
const garbageFraction = Number(values.garbage);
const deleteSetMax = count(values["delete-set"]);
const GRACE = 24 * 3600 + 300;
const DAY = 86_400_000;

const workDir = mkdtempSync(join(tmpdir(), "chunkgc-bench-"));
const results: BenchResults = {
  date: new Date().toISOString(),
  machine: machineFacts(execFileSync("cat", ["/proc/loadavg"]).toString().trim()),
  command: `npm run bench -- ${process.argv.slice(2).join(" ")}`,
  servers: {},
  runs: [],
  memory: [],
};
const log = (line: string) => console.log(line);

function measure(server: S3ServerHandle, endpoint: string, job: Record<string, unknown>): Measured {
  const input = {
    server: { ...server, endpoint },
    graceSeconds: GRACE,
    cacheDir: mkdtempSync(join(workDir, "cache-")),
    ...job,
  };
  const out = execFileSync(
    process.execPath,
    [new URL("./gc-once.ts", import.meta.url).pathname, JSON.stringify(input)],
    {
      maxBuffer: 16 << 20,
    },
  );
  const measured = JSON.parse(out.toString()) as Measured;
  if (measured.result && measured.result !== "succeeded") {
    throw new Error(`${String(job.mode)}: ${measured.result} ${measured.message}`);
  }
  return measured;
}

/** Median round trip of 15 HEAD requests through `endpoint` (what the latency profile really adds). */
async function roundTripMs(server: S3ServerHandle, endpoint: string, bucket: string): Promise<number> {
  const s3 = createS3Context(
    { endpoint, region: server.region, bucket, forcePathStyle: true, maxSockets: 1 },
    { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
  );
  const times: number[] = [];
  try {
    for (let i = 0; i < 15; i += 1) {
      const started = performance.now();
      await headObject(s3, "rtt-probe");
      times.push(performance.now() - started);
    }
  } finally {
    s3.close();
  }
  times.sort((a, b) => a - b);
  return Math.round(times[7]! * 10) / 10;
}

/** The oracle's counters for a datastore with nothing fresh (what a correct GC must report). */
function oracleCounters(seeded: Seeded, nowSeconds: number) {
  const plan = planDatastore(seeded.params, seeded.referenceTime);
  return expectedOutcome(plan, {
    nowSeconds,
    graceSeconds: GRACE,
    maxBackupDurationSeconds: 48 * 3600,
    waves: seeded.waves,
  }).counters;
}

function checkCounters(label: string, measured: Measured, expected: Record<string, number>): void {
  const got = measured.counters ?? {};
  const wrong = ["diskChunks", "removedChunks", "pendingChunks"].filter((field) => got[field] !== expected[field]);
  if (wrong.length > 0) {
    throw new Error(
      `${label}: counters differ from the oracle's (${wrong.map((f) => `${f} ${got[f]} ≠ ${expected[f]}`).join(", ")})`,
    );
  }
}

async function startServer(name: ServerName) {
  const dir = join(workDir, name);
  mkdirSync(dir, { recursive: true });
  const server = name === "versitygw" ? await startVersitygw(dir) : await startCeph(dir);
  return { server, dataDir: join(dir, "data") };
}

async function datastore(
  name: ServerName,
  server: S3ServerHandle,
  dataDir: string,
  bucket: string,
  store: string,
  chunks: number,
  garbage: number,
): Promise<Seeded> {
  const params = benchParams(store, chunks, garbage);
  const seeded =
    name === "versitygw"
      ? await versitygwDatastore(server, dataDir, bucket, params)
      : await putDatastore(server, bucket, params);
  log(`# ${bucket}/${store}: ${seeded.objects} objects, ${seeded.how}`);
  return seeded;
}

/** The keys of a datastore's garbage chunks, written as a JSON array to a file (for the raw-delete mode). */
function garbageKeysFile(seeded: Seeded, file: string): string {
  const plan = planDatastore(seeded.params, seeded.referenceTime);
  const keys: string[] = [];
  for (let id = plan.ranges.garbage[0]; id < plan.ranges.garbage[1]; id += 1) {
    keys.push(chunkKey(seeded.store, digestHex(plan.digests, id * 32)));
  }
  writeFileSync(file, JSON.stringify(keys));
  return file;
}

/** Brings the deleted garbage back: a fresh link of the kept copy (versitygw) or PUTs (Ceph); seconds taken. */
async function restore(name: string, server: S3ServerHandle, dataDir: string, seeded: Seeded): Promise<number> {
  if (name === "versitygw") return relinkVersitygw(dataDir, seeded);
  return restoreGarbage(server, seeded);
}

let toxiproxy: Toxiproxy | undefined;
try {
  toxiproxy = latencies.some((l) => l.profile.rttMs > 0) ? await startToxiproxy(workDir) : undefined;
  for (const { name, maxSize } of serverRuns) {
    const { server, dataDir } = await startServer(name);
    results.servers[name] = { endpoint: server.endpoint, version: serverVersion(name) };
    log(`\n# server ${name} (${results.servers[name]!.version}); machine ${results.machine.cores} cores`);
    try {
      for (const size of sizes.filter((size) => size <= maxSize)) {
        // No garbage: the steady state of a scheduled GC.
        const seeded = await datastore(name, server, dataDir, `b${size}`, "s", size, 0);
        const nowMs = Math.max(Date.now(), seeded.waves[1]!.endMs + 2 * DAY);
        const now = new Date(nowMs).toISOString();
        const expected = oracleCounters(seeded, Math.floor(nowMs / 1000));
        const local = join(workDir, `pbs-local-${name}-${size}`);
        const directS3 = createS3Context(
          { endpoint: server.endpoint, region: server.region, bucket: seeded.bucket, forcePathStyle: true },
          { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
        );
        await mirrorIndexes(directS3, seeded.store, join(local, "indexes"));
        directS3.close();
        prepareMarkers(join(local, "indexes"), join(local, "markers"), Math.floor(nowMs / 1000) - 3600);
        // One unmeasured listing first: a freshly linked or seeded tree is not yet in the server's caches, and the
        // first measured row would pay for that alone (at 1M chunks on versitygw: 107 s cold against 55 s warm).
        const warmUp = measure(server, server.endpoint, {
          bucket: seeded.bucket,
          store: seeded.store,
          now,
          mode: "raw-list",
        });
        log(`# warm-up listing of ${seeded.bucket}: ${(warmUp.wallMs / 1000).toFixed(1)} s (not measured)`);

        // 30 % garbage (capped at the delete set): a GC that deletes.
        const garbage = Math.min(deleteSetMax, Math.round(size * garbageFraction));
        const garbageTotal =
          garbage === Math.round(size * garbageFraction) ? size : Math.round(garbage / garbageFraction);

        const g = await datastore(name, server, dataDir, `g${size}`, "g", garbageTotal, garbage);
        const gNowMs = Math.max(Date.now(), g.waves[1]!.endMs + 2 * DAY);
        const gNow = new Date(gNowMs).toISOString();
        const gExpected = oracleCounters(g, Math.floor(gNowMs / 1000));
        const gLocal = join(workDir, `pbs-local-g-${name}-${size}`);
        const gS3 = createS3Context(
          { endpoint: server.endpoint, region: server.region, bucket: g.bucket, forcePathStyle: true },
          { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
        );
        await mirrorIndexes(gS3, g.store, join(gLocal, "indexes"));
        gS3.close();
        prepareMarkers(join(gLocal, "indexes"), join(gLocal, "markers"), Math.floor(gNowMs / 1000) - 3600);
        const gKeys = garbageKeysFile(g, join(workDir, `garbage-keys-${name}-${size}.json`));

        for (const { label, profile } of latencies) {
          const endpoint =
            profile.rttMs > 0
              ? await toxiproxy!.proxy(`${name}-${size}-${label}`, server.endpoint, profile)
              : server.endpoint;
          const rtt = await roundTripMs(server, endpoint, seeded.bucket);
          log(`\n## ${name}, ${size} chunks, latency ${label} (measured round trip ${rtt} ms), no garbage`);
          const base = { bucket: seeded.bucket, store: seeded.store, now };
          const steadyCache = mkdtempSync(join(workDir, "cache-"));
          const row = (engine: string, m: Measured) => {
            results.runs.push({ server: name, chunks: size, latency: label, rttMs: rtt, garbage: 0, engine, ...m });
            log(formatRow(engine, m, size));
          };
          row("raw parallel listing", measure(server, endpoint, { ...base, mode: "raw-list" }));
          row("raw sequential listing", measure(server, endpoint, { ...base, mode: "raw-list-sequential" }));
          const cold = measure(server, endpoint, { ...base, mode: "chunkgc", cacheDir: steadyCache });
          checkCounters("chunkgc cold", cold, expected);
          row("chunkgc cold cache", cold);
          const steady = measure(server, endpoint, { ...base, mode: "chunkgc", cacheDir: steadyCache });
          checkCounters("chunkgc steady", steady, expected);
          row("chunkgc steady state", steady);
          const pbs = measure(server, endpoint, {
            ...base,
            mode: "pbs",
            indexDir: join(local, "indexes"),
            markerDir: join(local, "markers"),
          });
          checkCounters("PBS-faithful baseline", pbs, expected);
          row("PBS-faithful baseline", pbs);
          const pbsDownload = measure(server, endpoint, {
            ...base,
            mode: "pbs-download",
            indexDir: join(local, "indexes"),
            markerDir: join(local, "markers"),
          });
          row("PBS, every index downloaded", pbsDownload);

          log(`\n## ${name}, ${garbageTotal} chunks with ${garbage} garbage, latency ${label}`);
          // The garbage deleted by bare DeleteObjects first (the server's own delete rate), then by each engine.
          const garbageRuns = [
            { mode: "raw-delete", engine: "raw parallel delete (garbage)", label: "raw parallel delete" },
            { mode: "chunkgc", engine: "chunkgc (garbage)", label: "chunkgc" },
            { mode: "pbs", engine: "PBS-faithful baseline (garbage)", label: "PBS-faithful baseline" },
          ] as const;
          for (const { mode, engine, label: rowLabel } of garbageRuns) {
            const measured = measure(server, endpoint, {
              bucket: g.bucket,
              store: g.store,
              now: gNow,
              mode,
              keysFile: gKeys,
              indexDir: join(gLocal, "indexes"),
              markerDir: join(gLocal, "markers"),
            });
            if (mode !== "raw-delete") checkCounters(`${mode} with garbage`, measured, gExpected);
            results.runs.push({
              server: name,
              chunks: garbageTotal,
              latency: label,
              rttMs: rtt,
              garbage,
              engine,
              ...measured,
            });
            log(formatRow(rowLabel, measured, garbageTotal));
            log(`  (garbage restored in ${(await restore(name, server, dataDir, g)).toFixed(1)} s)`);
          }
        }
        rmSync(gLocal, { recursive: true, force: true });
        rmSync(local, { recursive: true, force: true });
      }
    } finally {
      await server.stop();
    }
  }

  if (values["memory-from"]) {
    for (const line of readFileSync(values["memory-from"], "utf8").trim().split("\n")) {
      results.memory.push({ ...JSON.parse(line), source: "separate run of bench/memory-cli.ts" });
    }
  } else if (values["memory-chunks"] !== "0") {
    const chunks = count(values["memory-chunks"]);
    log(`\n## memory: the whole \`chunkgc gc\` process at ${chunks} chunks (synthetic S3 endpoint)`);
    // The image's V8 settings (16 MiB semi-spaces), with V8's own old-space limit and with 128 MiB (a quarter of
    // 512 MiB, the share V8 gives its old space of the memory it sees).
    for (const heap of [undefined, 128]) {
      const out = execFileSync(
        process.execPath,
        [
          new URL("./memory-cli.ts", import.meta.url).pathname,
          String(chunks),
          "1000",
          "--max-semi-space-size=16",
          ...(heap ? [`--max-old-space-size=${heap}`] : []),
        ],
        { maxBuffer: 16 << 20, stdio: ["ignore", "pipe", "inherit"] },
      );
      for (const line of out.toString().trim().split("\n")) {
        const run = JSON.parse(line);
        results.memory.push(run);
        log(JSON.stringify(run));
      }
    }
  }
  await writeReport(values.out, results);
  log(`\nwrote ${values.out}/results.json, results.md, chart.svg`);
} finally {
  await toxiproxy?.stop();
  rmSync(workDir, { recursive: true, force: true });
}

function serverVersion(name: string): string {
  try {
    if (name === "ceph-rgw") return execFileSync("radosgw", ["--version"]).toString().trim().split("\n")[0]!;
    const binary = join(
      process.env.CHUNKGC_CACHE ?? join(process.env.HOME ?? "", ".cache", "chunkgc"),
      "bin",
      "versitygw",
    );
    return execFileSync(binary, ["--version"]).toString().trim().split("\n")[0]!;
  } catch {
    return "unknown version";
  }
}

function formatRow(label: string, m: Measured, keys: number): string {
  const p = m.phases;
  const r = m.requests;
  return (
    `${label.padEnd(30)} wall ${(m.wallMs / 1000).toFixed(2).padStart(8)} s  ${String(Math.round(keys / (m.wallMs / 1000))).padStart(7)}/s  RSS ${String(m.peakRssMiB).padStart(4)} MiB` +
    (p
      ? `  mark ${(p.markMs! / 1000).toFixed(2)} s sweep ${(p.sweepMs! / 1000).toFixed(2)} s delete ${(p.deleteMs! / 1000).toFixed(2)} s`
      : "") +
    (r ? `  req list ${r.list ?? 0} get ${r.get ?? 0} delete ${r.delete ?? 0}` : "") +
    (m.chunkDeleteRequests !== undefined ? ` (DeleteObjects ${m.chunkDeleteRequests})` : "") +
    (m.counters ? `  removed ${m.counters.removedChunks}` : "")
  );
}
