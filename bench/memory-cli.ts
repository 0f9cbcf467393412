/**
 * Peak RSS of the whole `chunkgc gc` process at scale: the CLI runs against bench/synthetic-s3.ts (a generated
 * datastore of N chunks, served over HTTP by another process), once with no marker cache (the first run) and once
 * with the cache the first run left. Peak RSS comes from the kernel (`/usr/bin/time`), not from the process itself.
 *
 * The CLI measured is the compiled build (`tsc -p tsconfig.build.json`, what the container image runs), built into
 * node_modules/.cache/chunkgc-bench/; `--source` measures `node src/cli/main.ts` instead (Node's type stripping adds
 * ~40 MiB of its own).
 *
 *   node bench/memory-cli.ts [chunks=10000000] [indexes=1000] [--source] [--max-old-space-size=N] [--max-semi-space-size=N]
 * prints one JSON line per run.
 */
import { execFileSync, spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const args = process.argv.slice(2).filter((arg) => !arg.startsWith("--"));
const fromSource = process.argv.includes("--source");
/**
 * `--max-old-space-size=N`, `--max-semi-space-size=N`: V8's heap limits for the measured gc process only (NODE_OPTIONS,
 * as the image sets them for a run pod).
 */
const heapFlags = process.argv.filter(
  (arg) => arg.startsWith("--max-old-space-size=") || arg.startsWith("--max-semi-space-size="),
);
const heapLimit = heapFlags.length > 0 ? heapFlags.join(" ") : undefined;
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
  for (const run of ["first run (no marker cache)", "with marker cache"]) {
    const timeFile = join(work, "time.txt");
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
      ],
      {
        env: {
          ...process.env,
          AWS_ACCESS_KEY_ID: "synthetic",
          AWS_SECRET_ACCESS_KEY: "synthetic",
          CHUNKGC_LOG_LEVEL: "warn",
          NODE_OPTIONS: heapLimit ?? "",
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
    console.log(
      JSON.stringify({
        run,
        chunks,
        indexes,
        cli: fromSource ? "sources (type stripping)" : "compiled build",
        nodeOptions: heapLimit ?? "",
        result: report.result,
        ...(report.message ? { message: report.message } : {}),
        phases: report.phases,
        markerCache: report.markerCache.status,
        diskChunks: report.counters.diskChunks,
        requests: report.requests,
        wallMs: Date.now() - started,
        peakRssMiB: peakMiB,
        bytesPerMillionChunks: Math.round((peakKiB * 1024) / (chunks / 1e6)),
      }),
    );
  }
} finally {
  server.kill();
  rmSync(work, { recursive: true, force: true });
}
