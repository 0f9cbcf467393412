/**
 * The soak loop for one server: rounds are uploaded ahead (a pipeline, so that each datastore is old enough when it
 * plays without the soak ever waiting for it after the first), played in order, and counted into the figures.
 * Round r of a soak with seed S uses seed S + r: `--seed <that> --rounds 1` replays it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { createTestBucket, type S3TestServer, sdkClientFor } from "../support/s3-servers.ts";
import {
  DEFAULT_AGE_SECONDS,
  emptyFigures,
  type Figures,
  type PreparedRound,
  playRound,
  prepareRound,
  type SoakContext,
} from "./round.ts";

export interface SoakOptions {
  readonly rounds: number;
  readonly seed: number;
  /** How many rounds may be uploaded ahead of the one playing. */
  readonly lookahead?: number;
  /** Stop starting rounds after this many ms (the figures then cover the rounds played). */
  readonly budgetMs?: number;
  /** Rounds played at once (each has its own datastore, lock and caches). */
  readonly parallel?: number;
  /** Seconds a round's datastore ages before it plays (default: grace + writer margin + slack). */
  readonly ageSeconds?: number;
  readonly report?: (line: string) => void;
}

export interface ServerSoak {
  readonly server: string;
  readonly figures: Figures;
  readonly durationMs: number;
  /** Rounds per minute once the first round was old enough to play. */
  readonly roundsPerMinute: number;
  readonly findings: string[];
}

export async function soakServer(server: S3TestServer, options: SoakOptions): Promise<ServerSoak> {
  const report = options.report ?? ((line: string) => console.error(line));
  const bucket = await createTestBucket(server, `soak-${server.name}`);
  const workDir = mkdtempSync(join(tmpdir(), "chunkgc-soak-"));
  const figures = emptyFigures();
  const findings: string[] = [];
  const ctx: SoakContext = {
    server,
    io: { client: sdkClientFor(server), bucket },
    workDir,
    figures,
    expectedMs: { inProcess: 800, cli: 4000 },
    report: (line) => {
      findings.push(line);
      report(`[${server.name}] ${line}`);
    },
  };
  const started = Date.now();
  let playStart: number | undefined;
  const lookahead = options.lookahead ?? 400;
  const ageMs = (options.ageSeconds ?? DEFAULT_AGE_SECONDS) * 1000;
  const prepared: Promise<PreparedRound>[] = [];
  let produced = 0;
  let consumed = 0;
  let wake: (() => void) | undefined;
  let done = false;
  const overBudget = () => options.budgetMs !== undefined && Date.now() - started > options.budgetMs;
  let producing = true;
  const producer = (async () => {
    while (produced < options.rounds && !overBudget() && !done) {
      if (produced - consumed >= lookahead) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        continue;
      }
      const r = produced;
      const round = prepareRound(ctx, options.seed + r, `r${r}`);
      prepared.push(round);
      produced += 1;
      await round.catch(() => {});
    }
    producing = false;
  })();
  const rate = () => {
    const playedMs = Date.now() - (playStart ?? Date.now());
    return playedMs > 0 ? Math.round((figures.rounds * 60_000 * 10) / playedMs) / 10 : 0;
  };
  let nextRound = 0;
  const worker = async () => {
    for (let r = nextRound++; r < options.rounds && !overBudget(); r = nextRound++) {
      while (prepared.length <= r) {
        if (!producing) return;
        await delay(50);
      }
      const round = await prepared[r]!;
      const wait = round.uploadedAtMs + ageMs - Date.now();
      if (wait > 0) await delay(wait);
      playStart ??= Date.now();
      const records = await playRound(ctx, round);
      consumed += 1;
      wake?.();
      for (const record of records) {
        if (process.env.CHUNKGC_SOAK_VERBOSE) {
          report(
            `[${server.name}] seed ${round.seed} run ${record.run} [${describeRun(record.shape)}]: ` +
              `${record.outcome.result} in ${record.outcome.durationMs} ms ${record.outcome.message ?? ""}`,
          );
        }
        for (const violation of record.violations) {
          ctx.report(
            `VIOLATION seed ${round.seed} (replay: --seed ${round.seed} --rounds 1 --server ${server.name}) run ` +
              `${record.run} [${describeRun(record.shape)}] result ${record.outcome.result}: ${violation.kind} ` +
              `${violation.key}: ${violation.detail}`,
          );
        }
      }
      if (consumed % 25 === 0 || consumed === options.rounds) {
        report(
          `[${server.name}] ${consumed}/${options.rounds} rounds, ${figures.runs} runs, ${figures.chunksDeleted} ` +
            `chunks deleted, ${figures.violations} violations`,
        );
      }
      // Figures so far, so that a soak stopped early still leaves its numbers behind.
      if (consumed % 100 === 0 && consumed < options.rounds) {
        report(
          formatFigures({
            server: server.name,
            figures,
            durationMs: Date.now() - started,
            roundsPerMinute: rate(),
            findings,
          }),
        );
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: options.parallel ?? 2 }, worker));
    done = true;
    wake?.();
  } finally {
    await producer.catch(() => {});
    rmSync(workDir, { recursive: true, force: true });
  }
  return {
    server: server.name,
    figures,
    durationMs: Date.now() - started,
    roundsPerMinute: rate(),
    findings,
  };
}

export function describeRun(shape: import("./scenario.ts").RunShape): string {
  const parts = [shape.cli ? "cli" : "in-process"];
  if (shape.dryRun) parts.push("dry-run");
  if (shape.faultRate > 0) parts.push(`faults ${shape.faultRate.toFixed(2)} ${shape.faultKinds.join("/")}`);
  if (shape.event.type !== "none") parts.push(JSON.stringify(shape.event));
  if (shape.racer) parts.push("racer");
  if (shape.pause) parts.push("after a pause");
  if (shape.ops.length > 0) parts.push(`writer ${shape.ops.map((o) => o.op.type).join(",")}`);
  parts.push(`batch ${shape.deleteBatchSize} round ${shape.roundSize}`);
  return parts.join(", ");
}

export function formatFigures(soak: ServerSoak): string {
  const f = soak.figures;
  const faults = Object.entries(f.faults)
    .map(([kind, count]) => `${kind} ${count}`)
    .join(", ");
  const results = Object.entries(f.results)
    .sort()
    .map(([kind, count]) => `${kind} ${count}`)
    .join(", ");
  return [
    `== ${soak.server}: ${f.rounds} rounds, ${f.runs} GC runs in ${(soak.durationMs / 60_000).toFixed(1)} min ` +
      `(${soak.roundsPerMinute} rounds/min once playing)`,
    `   faults injected: ${faults}`,
    `   process events: ${f.kills} SIGKILL, ${f.stops} SIGSTOP, ${f.stopsPastLease} SIGSTOP past the lease, ` +
      `${f.racers} racing GCs, ${f.pauses} pauses past the grace`,
    `   results: ${results}`,
    `   writer: ${f.writer.started} backups started, ${f.writer.finished} finished, ${f.writer.pruned} snapshots ` +
      `pruned (${f.writer.basesPruned} of them dedup bases of a running backup; ${f.writer.refused} prunes of a base ` +
      `the engine could not know refused), ${f.writer.attached} attaches`,
    `   chunks deleted: ${f.chunksDeleted}; clean runs compared exactly: ${f.cleanRunsCompared} ` +
      `(${f.cleanRunsAmbiguous} too close to a cutoff to call, ${f.cleanRunsFailed} did not succeed)`,
    `   violations: ${f.violations}${f.failedSeeds.length > 0 ? ` (seeds ${f.failedSeeds.join(", ")})` : ""}`,
  ].join("\n");
}
