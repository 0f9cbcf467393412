import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Condition, ConditionType, GarbageCollectionStatus, RunResult } from "../../../src/api/index.ts";
import { GarbageCollectionStatusSchema } from "../../../src/api/index.ts";
import { runFinishedEvent } from "../../../src/operator/controller/decision-events.ts";
import {
  findCondition,
  localTime,
  mergePatch,
  type ReduceContext,
  type RunInfo,
  reduceStatus,
  reduceStatusAll,
  type StatusEvent,
  statusMergePatch,
} from "../../../src/operator/status.ts";
import { rfc3339Seconds } from "../../../src/util/time.ts";
import { sampleRunResult } from "../../support/gc-fixtures.ts";

const T0 = Date.parse("2025-03-01T02:00:00Z");
/** Context at T0 + minutes. */
const at = (minutes: number, generation = 1): ReduceContext => ({ generation, now: new Date(T0 + minutes * 60_000) });

function run(n: number, patch: Partial<RunInfo> = {}): RunInfo {
  return {
    jobName: `pbs-main-${29_000_000 + n}`,
    trigger: "Schedule",
    scheduledTime: new Date(T0 + n * 60_000),
    generation: 1,
    startTime: new Date(T0 + n * 60_000 + 3_000),
    dryRun: false,
    ...patch,
  };
}

const started = (n: number, patch: Partial<RunInfo> = {}): StatusEvent => ({ type: "RunStarted", run: run(n, patch) });
const finished = (n: number, result: Partial<RunResult> = {}, patch: Partial<RunInfo> = {}): StatusEvent => ({
  type: "RunFinished",
  run: run(n, patch),
  completionTime: new Date(T0 + n * 60_000 + 65_500),
  result: sampleRunResult(result),
});
const failed = (n: number, reason = "ResultMalformed", message = "the termination message is not valid JSON") =>
  ({ type: "RunFailed", run: run(n), completionTime: new Date(T0 + n * 60_000 + 30_000), reason, message }) as const;

function cond(status: GarbageCollectionStatus, type: ConditionType): Condition {
  const found = findCondition(status, type);
  assert.ok(found, `no ${type} condition`);
  return found;
}

/** Reduces a list of (event, context) steps, checking every intermediate status against the CRD's schema. */
function play(steps: [StatusEvent, ReduceContext][], start?: GarbageCollectionStatus): GarbageCollectionStatus {
  let status = start;
  for (const [event, context] of steps) {
    status = reduceStatus(status, event, context);
    const valid = GarbageCollectionStatusSchema.safeParse(status);
    assert.ok(valid.success, `${event.type}: ${JSON.stringify(valid.error?.issues)}`);
  }
  assert.ok(status);
  return status;
}

const accepted = (next?: number, suspended = false): StatusEvent => ({
  type: "SpecAccepted",
  suspended,
  nextScheduleTime: next === undefined ? undefined : new Date(T0 + next * 60_000),
});

describe("status reducer: conditions", () => {
  it("starts with all six conditions and Ready once the spec is accepted", () => {
    const status = play([[accepted(30), at(0)]]);
    assert.deepEqual(
      status.conditions?.map((c) => [c.type, c.status, c.reason]),
      [
        ["Ready", "True", "Ready"],
        ["Reconciling", "False", "Observed"],
        ["Stalled", "False", "AsExpected"],
        ["Running", "False", "Idle"],
        ["LastRunSucceeded", "Unknown", "NoRunYet"],
        ["Blocked", "False", "NotBlocked"],
      ],
    );
    assert.equal(status.observedGeneration, 1);
    assert.equal(status.nextScheduleTime, "2025-03-01T02:30:00Z");
    for (const c of status.conditions ?? []) {
      assert.equal(c.observedGeneration, 1);
      assert.equal(c.lastTransitionTime, "2025-03-01T02:00:00Z");
    }
  });

  it("moves lastTransitionTime only when a status changes, observedGeneration always", () => {
    const status = play([
      [accepted(30), at(0)],
      [accepted(90), at(40, 2)],
      [{ type: "SpecInvalid", message: "schedule has 6 fields" }, at(50, 3)],
      [{ type: "SpecInvalid", message: "schedule has 4 fields" }, at(55, 4)],
    ]);
    const ready = cond(status, "Ready");
    assert.deepEqual(
      [ready.status, ready.reason, ready.message, ready.observedGeneration, ready.lastTransitionTime],
      ["False", "InvalidSpec", "schedule has 4 fields", 4, "2025-03-01T02:50:00Z"],
    );
    const stalled = cond(status, "Stalled");
    assert.deepEqual([stalled.status, stalled.lastTransitionTime], ["True", "2025-03-01T02:50:00Z"]);
    assert.equal(cond(status, "Reconciling").lastTransitionTime, "2025-03-01T02:00:00Z");
    assert.equal(cond(status, "Reconciling").observedGeneration, 4, "kstatus: each write answers its generation");
    assert.equal(cond(status, "Running").observedGeneration, 1, "untouched conditions keep their generation");
    assert.equal(status.observedGeneration, 4);
    assert.equal(status.nextScheduleTime, undefined);
  });

  it("clears an InvalidSpec stall when the spec becomes valid", () => {
    const status = play([
      [{ type: "SpecInvalid", message: "bad" }, at(0)],
      [accepted(30), at(1, 2)],
    ]);
    assert.deepEqual([cond(status, "Stalled").status, cond(status, "Ready").status], ["False", "True"]);
    assert.equal(cond(status, "Ready").lastTransitionTime, "2025-03-01T02:01:00Z");
  });

  it("reports a missing dependency as not Ready, not Stalled", () => {
    const status = play([
      [{ type: "SpecInvalid", message: "bad" }, at(0)],
      [{ type: "DependencyMissing", reason: "SecretNotFound", message: "Secret backup/pbs-s3 not found" }, at(1, 2)],
    ]);
    assert.deepEqual(
      [cond(status, "Ready").status, cond(status, "Ready").reason, cond(status, "Ready").message],
      ["False", "SecretNotFound", "Secret backup/pbs-s3 not found"],
    );
    assert.equal(cond(status, "Stalled").status, "False");
  });

  it("shows suspension as Ready/Suspended without a next schedule time", () => {
    const status = play([
      [accepted(30), at(0)],
      [accepted(30, true), at(1)],
    ]);
    assert.deepEqual([cond(status, "Ready").status, cond(status, "Ready").reason], ["True", "Suspended"]);
    assert.equal(status.nextScheduleTime, undefined);
    assert.equal(cond(status, "Ready").lastTransitionTime, "2025-03-01T02:00:00Z");
  });

  it("records who blocks the datastore until a run starts", () => {
    const blocked = play([
      [accepted(30), at(0)],
      [{ type: "Blocked", holder: "other-ns/pbs-copy" }, at(30)],
    ]);
    assert.deepEqual(
      [cond(blocked, "Blocked").status, cond(blocked, "Blocked").reason, cond(blocked, "Blocked").message],
      ["True", "DatastoreLocked", "waiting for the datastore lock, held by other-ns/pbs-copy"],
    );
    const running = play([[started(30), at(35)]], blocked);
    assert.equal(cond(running, "Blocked").status, "False");
    const unblocked = play([[{ type: "Unblocked" }, at(36)]], blocked);
    assert.equal(cond(unblocked, "Blocked").status, "False");
  });
});

describe("status reducer: runs", () => {
  it("records a started run", () => {
    const status = play([
      [accepted(30), at(0)],
      [started(30), at(30)],
    ]);
    assert.deepEqual(status.activeRun, {
      jobName: "pbs-main-29000030",
      trigger: "Schedule",
      scheduledTime: "2025-03-01T02:30:00Z",
      generation: 1,
      startTime: "2025-03-01T02:30:03Z",
      dryRun: false,
    });
    assert.equal(status.lastScheduleTime, "2025-03-01T02:30:00Z");
    assert.deepEqual([cond(status, "Running").status, cond(status, "Running").reason], ["True", "RunStarting"]);
    assert.equal(cond(status, "Reconciling").status, "False", "a run in flight is not reconciling (kstatus)");
  });

  it("records a successful run with every counter, the summary and a history entry", () => {
    const status = play([
      [accepted(30), at(0)],
      [started(30), at(30)],
      [finished(30, { estimatedCostUsd: 0.0021 }), at(32)],
    ]);
    assert.equal(status.activeRun, undefined);
    assert.deepEqual(status.lastRun, {
      jobName: "pbs-main-29000030",
      trigger: "Schedule",
      scheduledTime: "2025-03-01T02:30:00Z",
      generation: 1,
      startTime: "2025-03-01T02:30:03Z",
      dryRun: false,
      completionTime: "2025-03-01T02:31:05Z",
      durationSeconds: 62,
      result: "Succeeded",
      reason: "Succeeded",
      message: "removed 120 chunks (170.000 MiB) and 1 bad copy, 3 pending (12.000 MiB), 6477 in use (9.018 GiB)",
      engineStartedAt: "2025-03-01T03:30:05Z",
      engineFinishedAt: "2025-03-01T03:31:10Z",
      counters: sampleRunResult().counters,
      summary: {
        dedupFactor: 29.9,
        onDiskPercent: 3.34,
        averageChunkSize: 1_495_000,
        originalSize: "269.685 GiB",
        onDiskSize: "9.018 GiB",
        removedSize: "170.000 MiB",
        pendingSize: "12.000 MiB",
      },
      phases: { markMs: 1200, sweepMs: 900, deleteMs: 300, cacheMs: 40 },
      requests: { list: 8, get: 2, head: 1, put: 3, delete: 1 },
      bytesDownloaded: 8192,
      indexCache: { hits: 40, misses: 2 },
      heldBack: { runningBackup: 3 },
      estimatedCostUsd: 0.0021,
    });
    assert.deepEqual(status.history, [
      {
        jobName: "pbs-main-29000030",
        trigger: "Schedule",
        scheduledTime: "2025-03-01T02:30:00Z",
        startTime: "2025-03-01T02:30:03Z",
        completionTime: "2025-03-01T02:31:05Z",
        result: "Succeeded",
        reason: "Succeeded",
        message: "removed 120 chunks (170.000 MiB) and 1 bad copy, 3 pending (12.000 MiB), 6477 in use (9.018 GiB)",
        dryRun: false,
        removedChunks: 120,
        removedBytes: 178_257_920,
        pendingChunks: 3,
        pendingBytes: 12_582_912,
      },
    ]);
    assert.equal(status.consecutiveFailures, 0);
    assert.equal(status.lastSuccessfulTime, "2025-03-01T02:31:05Z");
    assert.deepEqual(
      [cond(status, "LastRunSucceeded").status, cond(status, "LastRunSucceeded").lastTransitionTime],
      ["True", "2025-03-01T02:32:00Z"],
    );
    assert.equal(cond(status, "Reconciling").status, "False");
  });

  it("says 'would remove' for a dry run and keeps the engine's own message", () => {
    const dry = play([[finished(1, { dryRun: true }, { dryRun: true }), at(2)]]);
    assert.match(dry.lastRun?.message ?? "", /^would remove 120 chunks/);
    assert.equal(dry.lastRun?.dryRun, true);
    const own = play([[finished(1, { message: "in-use marker names pbs1; reporting only" }), at(2)]]);
    assert.equal(own.lastRun?.message, "in-use marker names pbs1; reporting only");
  });

  it("counts chunks and .bad copies apart, the same way in a dry run's message and a real run's", () => {
    const counters = { ...sampleRunResult().counters, removedChunks: 600, removedBad: 5 };
    // The engine's dry-run message counts chunks and .bad copies together.
    const dry = play([
      [
        finished(1, { dryRun: true, counters, message: "dry run: 605 chunks would be removed" }, { dryRun: true }),
        at(2),
      ],
    ]);
    const real = play([[finished(2, { counters }), at(3)]]);
    assert.match(dry.lastRun?.message ?? "", /^would remove 600 chunks \([^)]*\) and 5 bad copies, /);
    assert.match(real.lastRun?.message ?? "", /^removed 600 chunks \([^)]*\) and 5 bad copies, /);
    assert.equal(dry.lastRun?.message?.replace(/^would remove/, ""), real.lastRun?.message?.replace(/^removed/, ""));
    assert.match(runFinishedEvent("backup", dry.lastRun!).note, /would remove 600 chunks \([^)]*\) and 5 bad copies/);
    assert.match(runFinishedEvent("backup", real.lastRun!).note, /: removed 600 chunks \([^)]*\) and 5 bad copies/);
    const one = play([[finished(3, { counters: { ...counters, removedBad: 1 } }), at(4)]]);
    assert.match(one.lastRun?.message ?? "", /and 1 bad copy, /);
    const none = play([[finished(4, { counters: { ...counters, removedBad: 0 } }), at(5)]]);
    assert.doesNotMatch(none.lastRun?.message ?? "", /bad/);
  });

  it("is idempotent: the same finish (or a late start) observed again changes nothing", () => {
    const once = play([
      [started(30), at(30)],
      [finished(30), at(32)],
    ]);
    assert.deepEqual(reduceStatus(once, finished(30), at(40)), once);
    assert.deepEqual(reduceStatus(once, started(30), at(41)), once);
    assert.deepEqual(reduceStatus(once, failed(30), at(42)), once);
    const running = play([[started(30), at(30)]]);
    assert.deepEqual(reduceStatus(running, started(30), at(31)), running);
  });

  it("records a finish the operator never saw start (adopted after a restart)", () => {
    const status = play([
      [accepted(30), at(0)],
      [finished(30, {}, { trigger: "RunRequest", scheduledTime: undefined, runRequest: "now" }), at(40)],
    ]);
    assert.equal(status.lastRun?.trigger, "RunRequest");
    assert.equal(status.lastHandledRunRequest, "now");
    assert.equal(status.lastScheduleTime, undefined);
    assert.equal(cond(status, "Reconciling").status, "False");
  });

  it("echoes the handled run request when the run starts", () => {
    const status = play([[started(5, { trigger: "RunRequest", scheduledTime: undefined, runRequest: "r-1" }), at(5)]]);
    assert.equal(status.lastHandledRunRequest, "r-1");
    assert.equal(status.activeRun?.runRequest, "r-1");
    assert.equal(status.lastScheduleTime, undefined);
  });

  it("never moves lastScheduleTime backwards", () => {
    const status = play([
      [started(60), at(60)],
      [finished(60), at(62)],
      [finished(30), at(63)],
    ]);
    assert.equal(status.lastScheduleTime, "2025-03-01T03:00:00Z");
  });

  const outcomes: [string, StatusEvent, string, string, number][] = [
    ["an engine failure", finished(1, { result: "failed", message: "S3 503 on DeleteObjects" }), "Failed", "Failed", 1],
    ["a safety abort", finished(1, { result: "aborted", message: "index vm/100 truncated" }), "Aborted", "Aborted", 1],
    ["a malformed result", failed(1), "Failed", "ResultMalformed", 1],
    [
      "a deadline",
      failed(1, "DeadlineExceeded", "the Job exceeded activeDeadlineSeconds"),
      "Failed",
      "DeadlineExceeded",
      1,
    ],
    [
      "a busy engine lock",
      finished(1, { result: "lock-busy", message: "lock held by host pbs1" }),
      "LockBusy",
      "LockBusy",
      0,
    ],
  ];
  for (const [name, event, result, reason, failures] of outcomes) {
    it(`records ${name}`, () => {
      const status = play([
        [accepted(30), at(0)],
        [event, at(2)],
      ]);
      assert.deepEqual([status.lastRun?.result, status.lastRun?.reason], [result, reason]);
      assert.equal(status.consecutiveFailures, failures);
      const last = cond(status, "LastRunSucceeded");
      assert.deepEqual([last.status, last.reason], ["False", reason]);
      assert.match(last.message, /^pbs-main-29000001: /);
      assert.equal(cond(status, "Blocked").status, result === "LockBusy" ? "True" : "False");
      if (result === "LockBusy") assert.equal(cond(status, "Blocked").reason, "EngineLockBusy");
      assert.equal(status.lastSuccessfulTime, undefined);
    });
  }

  it("stalls after three failures in a row and recovers on success", () => {
    const failing = play([
      [accepted(30), at(0)],
      [failed(1), at(2)],
      [failed(3), at(4)],
    ]);
    assert.equal(cond(failing, "Stalled").status, "False");
    const stalled = play([[failed(5, "BackoffLimitExceeded", "pod failed 1 time"), at(6)]], failing);
    assert.equal(stalled.consecutiveFailures, 3);
    assert.deepEqual(
      [cond(stalled, "Stalled").status, cond(stalled, "Stalled").reason, cond(stalled, "Stalled").message],
      ["True", "RepeatedFailures", "3 runs failed in a row; the latest: pbs-main-29000005: pod failed 1 time"],
    );
    const stillStalled = play([[accepted(30), at(7)]], stalled);
    assert.equal(cond(stillStalled, "Stalled").status, "True", "the same spec does not clear it");
    const recovered = play([[finished(9), at(10)]], stillStalled);
    assert.equal(recovered.consecutiveFailures, 0);
    assert.equal(cond(recovered, "Stalled").status, "False");
    assert.equal(cond(recovered, "LastRunSucceeded").status, "True");
  });

  it("clears a repeated-failure stall when the spec changes", () => {
    const stalled = play([
      [failed(1), at(2)],
      [failed(3), at(4)],
      [failed(5), at(6)],
    ]);
    const changed = play([[accepted(30), at(7, 2)]], stalled);
    assert.equal(cond(changed, "Stalled").status, "False");
    assert.equal(changed.consecutiveFailures, 3, "the count is history, not a condition");
  });

  it("honours a custom stall threshold", () => {
    const status = reduceStatus(undefined, failed(1), { ...at(2), stallAfterFailures: 1 });
    assert.equal(cond(status, "Stalled").status, "True");
  });

  it("keeps the latest ten runs, newest first, with short messages", () => {
    const steps: [StatusEvent, ReduceContext][] = [];
    for (let n = 1; n <= 12; n++) {
      steps.push([n % 2 === 0 ? finished(n) : failed(n, "JobFailed", "x".repeat(500)), at(n)]);
    }
    const status = play(steps);
    assert.equal(status.history?.length, 10);
    assert.deepEqual(
      status.history?.map((entry) => entry.jobName),
      Array.from({ length: 10 }, (_, i) => `pbs-main-${29_000_012 - i}`),
    );
    const long = status.history?.find((entry) => entry.reason === "JobFailed");
    assert.equal(long?.message?.length, 256);
    assert.equal(status.lastRun?.jobName, "pbs-main-29000012");
  });

  it("counts skipped slots", () => {
    const status = play([
      [{ type: "SlotsSkipped", count: 2, latest: new Date(T0 + 60 * 60_000) }, at(61)],
      [{ type: "SlotsSkipped", count: 0, latest: new Date(T0 + 90 * 60_000) }, at(91)],
      [{ type: "SlotsSkipped", count: 3, latest: new Date(T0 + 30 * 60_000) }, at(92)],
    ]);
    assert.equal(status.skippedSlots, 5);
    assert.equal(status.lastSkippedSlotTime, "2025-03-01T03:00:00Z");
  });

  it("reduces a list of events like one by one", () => {
    const events: StatusEvent[] = [accepted(30), started(30), finished(30)];
    let oneByOne: GarbageCollectionStatus | undefined;
    for (const event of events) oneByOne = reduceStatus(oneByOne, event, at(31));
    assert.deepEqual(reduceStatusAll(undefined, events, at(31)), oneByOne);
    assert.equal(reduceStatusAll(undefined, [], at(0)).conditions?.length, 6);
  });

  it("does not modify the previous status", () => {
    const before = play([
      [accepted(30), at(0)],
      [started(30), at(30)],
    ]);
    const frozen = structuredClone(before);
    reduceStatus(before, finished(30), at(32));
    reduceStatus(before, { type: "SpecInvalid", message: "x" }, at(33, 2));
    assert.deepEqual(before, frozen);
  });
});

describe("status merge patch", () => {
  it("is undefined when nothing changed", () => {
    const status = play([[accepted(30), at(0)]]);
    assert.equal(statusMergePatch(status, structuredClone(status)), undefined);
  });

  it("sets changed fields, nulls removed ones and replaces arrays whole", () => {
    const running = play([
      [accepted(30), at(0)],
      [started(30), at(30)],
    ]);
    const done = reduceStatus(running, finished(30), at(32));
    const patch = statusMergePatch(running, done) as { status: Record<string, unknown> };
    assert.equal(patch.status.activeRun, null);
    assert.deepEqual(patch.status.history, done.history);
    assert.deepEqual(patch.status.conditions, done.conditions);
    assert.deepEqual(patch.status.lastRun, done.lastRun);
    assert.ok(!("observedGeneration" in patch.status));
    assert.ok(!("lastScheduleTime" in patch.status));
  });

  const cases: [string, unknown, unknown, unknown][] = [
    ["a nested change", { a: { b: 1, c: 2 } }, { a: { b: 1, c: 3 } }, { a: { c: 3 } }],
    ["a removed nested key", { a: { b: 1, c: 2 } }, { a: { b: 1 } }, { a: { c: null } }],
    ["a new key", {}, { a: [1] }, { a: [1] }],
    ["an array change", { a: [1, 2] }, { a: [1] }, { a: [1] }],
    ["an unchanged array", { a: [1, 2] }, { a: [1, 2] }, undefined],
    ["a scalar to object", { a: 1 }, { a: { b: 1 } }, { a: { b: 1 } }],
  ];
  for (const [name, before, after, expected] of cases) {
    it(name, () => assert.deepEqual(mergePatch(before, after), expected));
  }
});

describe("kube times", () => {
  it("drop sub-second precision", () => {
    assert.equal(rfc3339Seconds(new Date("2025-03-01T02:30:03.999Z")), "2025-03-01T02:30:03Z");
  });
});

describe("next run in the resource's time zone", () => {
  it("is written next to the UTC time, in the zone's own clock and name", () => {
    const status = reduceStatus(
      undefined,
      {
        type: "SpecAccepted",
        suspended: false,
        nextScheduleTime: new Date("2026-11-30T02:30:00Z"),
        timeZone: "Europe/Berlin",
      },
      at(0),
    );
    assert.equal(status.nextScheduleTime, "2026-11-30T02:30:00Z");
    assert.equal(status.nextScheduleTimeLocal, "2026-11-30 03:30 GMT+1");
    assert.equal(localTime(new Date("2026-07-30T02:30:00Z"), "America/New_York"), "2026-07-29 22:30 EDT");
    const suspended = reduceStatus(status, { type: "SpecAccepted", suspended: true, timeZone: "UTC" }, at(1));
    assert.equal(suspended.nextScheduleTimeLocal, undefined);
  });
});
