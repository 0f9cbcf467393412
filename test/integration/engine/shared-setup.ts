/**
 * Set-up shared by the engine's real-server tests: the oracle's expectation for a seeded datastore, the environment
 * and exit of an engine run as a child process, and a run whose datastore changes before its second delete round.
 */
import type { ChildProcess } from "node:child_process";
import type { GcReport } from "../../../src/engine/report.ts";
import type { S3Context } from "../../../src/s3/index.ts";
import type { ExpectedOutcome } from "../../../src/seed/index.ts";
import {
  MAX_BACKUP_SECONDS,
  nowBetweenWaves,
  oracleAt,
  runEngine,
  type Seeded,
  type ServerConnection,
  tempCacheDir,
} from "../../support/engine.ts";
import type { FaultProxy, LoggedRequest } from "../../support/fault-proxy.ts";
import { type HandmadeChunk, putChunks } from "../../support/handmade-store.ts";

/** A "now" between the seed's two upload waves ({@link nowBetweenWaves}) and what the oracle expects of a run then. */
export function expectationBetweenWaves(
  seeded: Seeded,
  graceSeconds: number,
  maxBackupDurationSeconds = MAX_BACKUP_SECONDS,
): { now: Date; expected: ExpectedOutcome } {
  const now = nowBetweenWaves(seeded.report, graceSeconds);
  return { now, expected: oracleAt(seeded, now, graceSeconds, maxBackupDurationSeconds) };
}

/** The environment of `chunkgc gc` run as a child process against a test server. */
export function engineChildEnv(server: ServerConnection): NodeJS.ProcessEnv {
  return {
    ...process.env,
    AWS_ACCESS_KEY_ID: server.accessKeyId,
    AWS_SECRET_ACCESS_KEY: server.secretAccessKey,
    CHUNKGC_LOG_LEVEL: "warn",
  };
}

export function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.on("exit", (code) => resolve(code)));
}

export interface ChangedMidSweep {
  readonly report: GcReport;
  /** Rechecks the run started (one per delete round). */
  readonly rounds: number;
  readonly garbage: HandmadeChunk[];
  /** DeleteObjects requests that reached the server before the change was made, and at or after it. */
  readonly deletesBefore: LoggedRequest[];
  readonly deletesAfter: LoggedRequest[];
}

/**
 * 40 garbage chunks in store `s`, swept through the fault proxy (which logs every request's arrival) in rounds of 5
 * (16 key ranges listed two at a time: several rounds, one after another); `change` runs before the second round's
 * recheck, and the deletes are split at the moment it completed.
 */
export async function runChangedBeforeSecondRound(
  s3: S3Context,
  server: ServerConnection,
  proxy: FaultProxy,
  label: string,
  change: () => Promise<unknown>,
): Promise<ChangedMidSweep> {
  const upload = Math.floor(Date.now() / 1000);
  const garbage = await putChunks(s3, "s", "garbage", 40);
  let rounds = 0;
  let changedAt = Number.POSITIVE_INFINITY;
  const report = await runEngine(
    s3,
    { ...server, endpoint: proxy.endpoint },
    {
      store: "s",
      cacheDir: tempCacheDir(label),
      now: new Date((upload + 30 * 3600) * 1000),
      roundSize: 5,
      deleteBatchSize: 5,
      listConcurrency: 2,
    },
    {
      beforeRecheck: async () => {
        rounds += 1;
        if (rounds !== 2) return;
        await change();
        changedAt = Date.now();
      },
    },
  );
  const deletes = proxy.log.filter((entry) => entry.kind === "deleteObjects");
  return {
    report,
    rounds,
    garbage,
    deletesBefore: deletes.filter((entry) => entry.arrivedMs < changedAt),
    deletesAfter: deletes.filter((entry) => entry.arrivedMs >= changedAt),
  };
}
