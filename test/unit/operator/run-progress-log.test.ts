import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pino } from "pino";
import { GarbageCollectionStatusSchema } from "../../../src/api/index.ts";
import { attachProgressRenderer } from "../../../src/cli/progress-renderer.ts";
import { Progress } from "../../../src/engine/progress.ts";
import { latestProgress, parseProgressLine } from "../../../src/operator/run-progress-log.ts";
import { type RunInfo, reduceStatus, type StatusEvent } from "../../../src/operator/status.ts";

const T0 = Date.parse("2025-03-01T02:00:00Z");
const line = (progress: Record<string, unknown>, time = "2025-03-01T02:10:07.123Z") =>
  JSON.stringify({ level: 30, time, name: "chunkgc", progress, msg: "progress" });

describe("the engine's progress from its log tail", () => {
  it("reads a sweep line with an estimated total into status fields and a short text", () => {
    const progress = parseProgressLine(
      line({
        phase: "sweep",
        done: 412_000,
        total: 660_000,
        estimated: true,
        percent: 62,
        ratePerSecond: 28_403,
        etaSeconds: 74,
        elapsedSeconds: 14,
        finished: false,
      }),
    );
    assert.deepEqual(progress, {
      phase: "sweep",
      done: 412_000,
      total: 660_000,
      estimated: true,
      percent: 62,
      ratePerSecond: 28_403,
      etaSeconds: 74,
      text: "sweep 62% ETA 1:14",
      loggedAt: "2025-03-01T02:10:07Z",
    });
  });

  it("takes the newest progress line and skips other lines, cut lines and lines that do not fit", () => {
    const tail = [
      line({ phase: "mark", done: 10, total: 40, percent: 25, ratePerSecond: 5, etaSeconds: 6, finished: false }),
      line({ phase: "mark", done: 40, total: 40, percent: 100, ratePerSecond: 5, finished: true }),
      line({ phase: "sweep", done: 5000, ratePerSecond: 500, finished: false }),
      JSON.stringify({ level: 40, time: "2025-03-01T02:10:09Z", msg: "abandoned backup" }),
      line({ phase: "sweep", done: -1, ratePerSecond: 500 }),
      line({ phase: "sweep", done: 6000, ratePerSecond: 500 }, "not a time"),
      "not json at all",
      '{"level":30,"time":"2025-03-01T02:10:10Z","progress":{"phase":"sweep","do',
    ].join("\n");
    assert.equal(latestProgress(tail)?.text, "sweep 5000 done");
    assert.equal(latestProgress(tail)?.done, 5000);
    assert.equal(latestProgress(""), undefined);
    assert.equal(latestProgress("one\ntwo\n"), undefined);
    assert.equal(
      parseProgressLine(line({ phase: "mark", done: 40, ratePerSecond: 5, finished: true }))?.text,
      "mark done",
    );
  });

  it("reads what the engine's own renderer logs without a terminal", () => {
    const lines: string[] = [];
    const log = pino(
      { base: undefined, timestamp: pino.stdTimeFunctions.isoTime },
      { write: (l: string) => lines.push(l) },
    );
    const detach = attachProgressRenderer({ log, target: { isTTY: false, write: () => true }, intervalMs: 0 });
    try {
      const sweep = new Progress(log, "sweep", { total: 1000, estimated: true });
      sweep.advance(250);
    } finally {
      detach();
    }
    const progress = latestProgress(lines.join(""));
    assert.equal(progress?.phase, "sweep");
    assert.equal(progress?.done, 250);
    assert.equal(progress?.total, 1000);
    assert.equal(progress?.estimated, true);
    assert.equal(progress?.percent, 25);
  });

  it("goes into status.activeRun of the run it was read for while its engine runs, valid against the CRD schema", () => {
    const run: RunInfo = {
      jobName: "pbs-main-29000001",
      trigger: "Schedule",
      generation: 1,
      startTime: new Date(T0),
      dryRun: false,
    };
    const context = { generation: 1, now: new Date(T0 + 60_000) };
    const progress = parseProgressLine(
      line({ phase: "sweep", done: 10, total: 20, estimated: true, percent: 50, ratePerSecond: 1, etaSeconds: 10 }),
    );
    assert.ok(progress);
    const engineProgress = (jobName: string): StatusEvent => ({ type: "EngineProgress", jobName, progress });
    let status = reduceStatus(undefined, { type: "RunStarted", run }, context);
    // Starting: no engine yet, nothing to show.
    status = reduceStatus(status, engineProgress(run.jobName), context);
    assert.equal(status.activeRun?.progress, undefined);
    status = reduceStatus(
      status,
      {
        type: "RunProgress",
        jobName: run.jobName,
        progress: { phase: "Running", reason: "RunInProgress", message: "running", podName: "p" },
      },
      context,
    );
    assert.equal(reduceStatus(status, engineProgress("another-job"), context).activeRun?.progress, undefined);
    status = reduceStatus(status, engineProgress(run.jobName), context);
    assert.equal(status.activeRun?.progress?.text, "sweep 50% ETA 0:10");
    const valid = GarbageCollectionStatusSchema.safeParse(status);
    assert.ok(valid.success, JSON.stringify(valid.error?.issues));
  });
});
