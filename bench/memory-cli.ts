/**
 * Peak RSS of the whole `chunkgc gc` process at scale: the CLI runs against bench/synthetic-s3.ts (a generated
 * datastore of N chunks, served over HTTP by another process), once with no marker cache (the first run) and once
 * with the cache directory the first run left: the marker cache and the index cache, so the second run is a steady
 * state that reads every index from disk (the synthetic server lists each index with the size and ETag its GET
 * answers, as a real server does). Peak RSS comes from the kernel (`/usr/bin/time`), not from the process itself.
 *
 * The CLI measured is the compiled build (`tsc -p tsconfig.build.json`, what the container image runs), built into
 * node_modules/.cache/chunkgc-bench/; `--source` measures `node src/cli/main.ts` instead (Node's type stripping adds
 * ~40 MiB of its own).
 *
 *   node bench/memory-cli.ts [chunks=10000000] [indexes=1000] [--source] [--trace] [--drop-index-cache] [--max-old-space-size=N]
 *     [--max-semi-space-size=N] [-- gc options...]
 * prints one JSON line per run.
 *
 * `--trace` preloads a sampler into the measured process (`--import`, a plain .mjs: no type stripping) that reads
 * process.memoryUsage() every 100 ms; the JSON line then gains `memory`: per phase (mark: up to the end of the mark
 * phase, sweep: after it) the peak of rss, heapUsed, heapTotal, external and arrayBuffers (MiB), and the samples at
 * the peak RSS. The sampler's own cost is a timer and one small object per sample.
 */
import { execFileSync, spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

/** Arguments after a lone `--` go to `chunkgc gc` as they are (e.g. `-- --index-concurrency=8`). */
const split = process.argv.indexOf("--");
const gcArgs = split >= 0 ? process.argv.slice(split + 1) : [];
const ownArgs = split >= 0 ? process.argv.slice(0, split) : process.argv;
const args = ownArgs.slice(2).filter((arg) => !arg.startsWith("--"));
const fromSource = ownArgs.includes("--source");
const trace = ownArgs.includes("--trace");
/** `--drop-index-cache`: the second run finds the marker cache but no index cache (every index downloaded again). */
const dropIndexCache = ownArgs.includes("--drop-index-cache");
/**
 * `--max-old-space-size=N`, `--max-semi-space-size=N`: V8's heap limits for the measured gc process only (NODE_OPTIONS,
 * as the image sets them for a run pod).
 */
const heapFlags = ownArgs.filter(
  (arg) => arg.startsWith("--max-old-space-size=") || arg.startsWith("--max-semi-space-size="),
);
const heapLimit = heapFlags.length > 0 ? heapFlags.join(" ") : undefined;

/** The sampler preloaded with `--trace`: one JSON line per sample to the file named by CHUNKGC_MEMORY_TRACE. */
const SAMPLER = `
import { appendFileSync } from "node:fs";
const file = process.env.CHUNKGC_MEMORY_TRACE;
const start = performance.timeOrigin;
const lines = [];
const mib = (bytes) => Math.round(bytes / 1048576);
function sample() {
  const m = process.memoryUsage();
  lines.push(JSON.stringify({ t: Math.round(Date.now() - start), rss: mib(m.rss), heapUsed: mib(m.heapUsed),
    heapTotal: mib(m.heapTotal), external: mib(m.external), arrayBuffers: mib(m.arrayBuffers) }));
  if (lines.length >= 64) appendFileSync(file, lines.splice(0).join("\\n") + "\\n");
}
setInterval(sample, 100).unref();
process.on("exit", () => { sample(); appendFileSync(file, lines.splice(0).join("\\n") + "\\n"); });
`;

interface Sample {
  t: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

/** Peaks per phase: the process's first `markEndMs` are the mark phase (and start-up), the rest the sweep. */
function summarize(samples: Sample[], markEndMs: number) {
  const metrics = ["rss", "heapUsed", "heapTotal", "external", "arrayBuffers"] as const;
  const phase = (part: Sample[]) => {
    if (part.length === 0) return undefined;
    const peaks = Object.fromEntries(metrics.map((m) => [m, Math.max(...part.map((s) => s[m]))]));
    const atPeak = part.reduce((best, s) => (s.rss > best.rss ? s : best));
    return { peaks, atPeakRss: atPeak };
  };
  return {
    mark: phase(samples.filter((s) => s.t <= markEndMs)),
    sweep: phase(samples.filter((s) => s.t > markEndMs)),
  };
}
const chunks = Number(args[0] ?? 10_000_000);
const indexes = Number(args[1] ?? 1000);

/** The compiled CLI, built from the current sources (with package.json beside it, as in the image). */
function compiledCli(): string {
  const root = fileURLToPath(new URL("..", import.meta.url));
  const out = join(root, "node_modules", ".cache", "chunkgc-bench");
  execFileSync(
    process.execPath,
    [
      join(root, "node_modules", "typescript", "bin", "tsc"),
      "-p",
      join(root, "tsconfig.build.json"),
      "--outDir",
      join(out, "dist"),
    ],
    { stdio: "inherit", env: { ...process.env, NODE_OPTIONS: "" } },
  );
  copyFileSync(join(root, "package.json"), join(out, "package.json"));
  return join(out, "dist", "cli", "main.js");
}
const cli = fromSource ? fileURLToPath(new URL("../src/cli/main.ts", import.meta.url)) : compiledCli();
const work = mkdtempSync(join(tmpdir(), "chunkgc-memory-"));
const samplerFile = join(work, "sampler.mjs");
if (trace) writeFileSync(samplerFile, SAMPLER);
const server = spawn(
  process.execPath,
  [fileURLToPath(new URL("./synthetic-s3.ts", import.meta.url)), String(chunks), String(indexes)],
  {
    stdio: ["ignore", "pipe", "inherit"],
  },
);
try {
  const endpoint = await new Promise<string>((resolve, reject) => {
    server.once("exit", (code) => reject(new Error(`synthetic S3 exited with ${code}`)));
    createInterface({ input: server.stdout! }).once("line", (line) =>
      resolve((JSON.parse(line) as { endpoint: string }).endpoint),
    );
  });
  const cacheDir = join(work, "cache");
  const runs = [
    "first run (no marker cache)",
    dropIndexCache ? "with marker cache, no index cache" : "with marker cache",
  ];
  for (const run of runs) {
    if (dropIndexCache && run !== runs[0]) {
      for (const store of readdirSync(cacheDir)) {
        rmSync(join(cacheDir, store, "indexes"), { recursive: true, force: true });
        rmSync(join(cacheDir, store, "index-catalog.v1.jsonl"), { force: true });
      }
    }
    const timeFile = join(work, "time.txt");
    const traceFile = join(work, `trace-${run.startsWith("first") ? 1 : 2}.jsonl`);
    const nodeOptions = [heapLimit ?? "", trace ? `--import ${samplerFile}` : ""].filter(Boolean).join(" ");
    const started = Date.now();
    const out = execFileSync(
      "/usr/bin/time",
      [
        "-f",
        "%M",
        "-o",
        timeFile,
        process.execPath,
        cli,
        "gc",
        "--endpoint",
        endpoint,
        "--path-style",
        "--bucket",
        "synthetic",
        "--store",
        "s",
        "--cache-dir",
        cacheDir,
        "--json",
        ...gcArgs,
      ],
      {
        env: {
          ...process.env,
          AWS_ACCESS_KEY_ID: "synthetic",
          AWS_SECRET_ACCESS_KEY: "synthetic",
          CHUNKGC_LOG_LEVEL: "warn",
          NODE_OPTIONS: nodeOptions,
          ...(trace ? { CHUNKGC_MEMORY_TRACE: traceFile } : {}),
        },
        maxBuffer: 64 << 20,
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    const report = JSON.parse(out.toString()) as {
      result: string;
      message?: string;
      phases: Record<string, number>;
      counters: Record<string, number>;
      markerCache: { status: string };
      requests: Record<string, number>;
    };
    const peakKiB = Number(readFileSync(timeFile, "utf8").trim().split("\n").pop());
    const peakMiB = Math.round(peakKiB / 1024);
    const memory = trace
      ? summarize(
          readFileSync(traceFile, "utf8")
            .split("\n")
            .filter(Boolean)
            .map((line) => JSON.parse(line) as Sample),
          // Start-up and the lock come before the mark phase: count them to it.
          Date.now() - started - (report.phases.sweepMs ?? 0) - (report.phases.cacheMs ?? 0),
        )
      : undefined;
    console.log(
      JSON.stringify({
        run,
        chunks,
        indexes,
        cli: fromSource ? "sources (type stripping)" : "compiled build",
        nodeOptions: heapLimit ?? "",
        ...(gcArgs.length > 0 ? { gcArgs } : {}),
        result: report.result,
        ...(report.message ? { message: report.message } : {}),
        phases: report.phases,
        markerCache: report.markerCache.status,
        diskChunks: report.counters.diskChunks,
        requests: report.requests,
        wallMs: Date.now() - started,
        peakRssMiB: peakMiB,
        bytesPerMillionChunks: Math.round((peakKiB * 1024) / (chunks / 1e6)),
        ...(memory ? { memory } : {}),
      }),
    );
  }
} finally {
  server.kill();
  rmSync(work, { recursive: true, force: true });
}
