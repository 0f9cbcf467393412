/**
 * Runs the engine for the soak: in-process (fast; for runs without process events) or as the real CLI
 * (`node src/cli/main.ts gc … --json`) in a child process, so that SIGKILL and SIGSTOP are real. A process event
 * fires when the engine's Nth request reaches its fault proxy.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import type { S3TestServer } from "../support/s3-servers.ts";
import type { SoakProxy } from "./fault-proxy.ts";
import type { Counters } from "./oracle.ts";

const CLI = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));
export const GRACE_SECONDS = 60;
export const MAX_BACKUP_SECONDS = 48 * 3600;
export const LOCK_LEASE_SECONDS = 10;

export interface GcSpec {
  readonly server: S3TestServer;
  readonly proxy: SoakProxy;
  /** The endpoint the engine's caches are keyed by: the round's own proxy, also for a racer or a taker. */
  readonly identityEndpoint: string;
  readonly bucket: string;
  readonly store: string;
  readonly cacheDir: string;
  readonly dryRun: boolean;
  readonly deleteBatchSize: number;
  readonly roundSize: number;
  readonly owner: string;
}

export interface GcOutcome {
  /** The report's result, or "killed" / "crashed" (no report). */
  readonly result: string;
  readonly evaluatedAt?: string;
  readonly counters?: Counters;
  readonly message?: string;
  readonly durationMs: number;
}

interface ReportLike {
  result: string;
  message?: string;
  evaluatedAt: string;
  counters: Counters;
}

const quiet = pino({ level: process.env.CHUNKGC_SOAK_ENGINE_LOG ?? "silent" });

export async function runInProcess(spec: GcSpec): Promise<GcOutcome> {
  const started = Date.now();
  const { runGc } = await import("../../src/engine/run.ts");
  const { createS3Context } = await import("../../src/s3/index.ts");
  const s3 = createS3Context(
    {
      endpoint: spec.proxy.endpoint,
      region: spec.server.region,
      bucket: spec.bucket,
      forcePathStyle: true,
      maxAttempts: 10,
    },
    { accessKeyId: spec.server.accessKeyId, secretAccessKey: spec.server.secretAccessKey },
  );
  try {
    const report = (await runGc(
      s3,
      { endpoint: spec.identityEndpoint, bucket: spec.bucket, store: spec.store },
      {
        store: spec.store,
        cacheDir: spec.cacheDir,
        dryRun: spec.dryRun,
        graceSeconds: GRACE_SECONDS,
        maxBackupDurationSeconds: MAX_BACKUP_SECONDS,
        deleteBatchSize: spec.deleteBatchSize,
        roundSize: spec.roundSize,
        listConcurrency: 4,
        // The soak's own event loop is busy (oracle, writer, parallel rounds): a short lease would lapse between
        // renewals. The real process (runCli) gets the short one, so that kills and stops outlive it quickly.
        lockLeaseSeconds: 300,
        owner: spec.owner,
      },
      { log: quiet },
    )) as ReportLike;
    return outcomeOf(report, started);
  } catch (error) {
    return { result: "crashed", message: (error as Error).message, durationMs: Date.now() - started };
  } finally {
    s3.close();
  }
}

function outcomeOf(report: ReportLike, started: number): GcOutcome {
  return {
    result: report.result,
    evaluatedAt: report.evaluatedAt,
    counters: report.counters,
    ...(report.message ? { message: report.message } : {}),
    durationMs: Date.now() - started,
  };
}

export interface ChildControl {
  kill(): void;
  stop(): void;
  resume(): void;
  readonly pid: number | undefined;
}

/** Starts the CLI; `control` lets the caller send real signals; resolves when the process is gone. */
export function runCli(spec: GcSpec, onStart: (control: ChildControl) => void): Promise<GcOutcome> {
  const started = Date.now();
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith("CHUNKGC_")) env[name] = value;
  Object.assign(env, {
    AWS_ACCESS_KEY_ID: spec.server.accessKeyId,
    AWS_SECRET_ACCESS_KEY: spec.server.secretAccessKey,
    CHUNKGC_LOG_LEVEL: process.env.CHUNKGC_SOAK_ENGINE_LOG ?? "fatal",
  });
  const args = [
    CLI,
    "gc",
    "--endpoint",
    spec.proxy.endpoint,
    "--path-style",
    "--bucket",
    spec.bucket,
    "--store",
    spec.store,
    "--cache-dir",
    spec.cacheDir,
    "--grace",
    `${GRACE_SECONDS}s`,
    "--lock-lease",
    `${LOCK_LEASE_SECONDS}s`,
    "--delete-batch-size",
    String(spec.deleteBatchSize),
    "--delete-round-size",
    String(spec.roundSize),
    "--list-concurrency",
    "4",
    "--s3-max-attempts",
    "10",
    "--json",
    ...(spec.dryRun ? ["--dry-run"] : []),
  ];
  const child = spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString("utf8");
  });
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("utf8");
  });
  let killed = false;
  onStart({
    pid: child.pid,
    kill: () => {
      killed = true;
      child.kill("SIGKILL");
    },
    stop: () => child.kill("SIGSTOP"),
    resume: () => child.kill("SIGCONT"),
  });
  return new Promise((resolve) => {
    child.on("close", (code, signal) => {
      const durationMs = Date.now() - started;
      if (killed || signal === "SIGKILL") return resolve({ result: "killed", durationMs });
      try {
        const report = JSON.parse(stdout) as ReportLike;
        resolve(outcomeOf(report, started));
      } catch {
        resolve({
          result: "crashed",
          message: `exit ${code} ${signal ?? ""}: ${stderr.trim().split("\n").slice(-3).join(" | ").slice(0, 600)}`,
          durationMs,
        });
      }
    });
  });
}
