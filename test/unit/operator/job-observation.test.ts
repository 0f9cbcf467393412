import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Job, V1Pod } from "@kubernetes/client-node";
import { formatRunResult, type GarbageCollectionStatus } from "../../../src/api/index.ts";
import { jobsToPrune } from "../../../src/operator/history.ts";
import { buildRunJob, jobRunInfo, type RunIdentity } from "../../../src/operator/job-builder.ts";
import {
  classifyOwnedJobs,
  exitCodeReason,
  finishedRunEvent,
  jobOwnerKey,
  jobPhase,
  ownsJob,
  podSettled,
  podsOfJob,
} from "../../../src/operator/job-observation.ts";
import type { RunInfo } from "../../../src/operator/status.ts";
import { sampleResource, sampleRunResult } from "../../support/gc-fixtures.ts";

const resource = sampleResource({}, { name: "pbs-main", namespace: "backup" });
const UID = resource.metadata.uid;
const T = Date.parse("2025-03-01T02:30:00Z");
const iso = (seconds: number) => new Date(T + seconds * 1000).toISOString();

type JobState = "active" | "complete" | "failed";

/** A Job as the builder makes it and the API stores it, in a state. Times as watch events give them (strings). */
function job(minute: number, state: JobState = "active", extra: { reason?: string; message?: string } = {}): V1Job {
  const run: RunIdentity = { trigger: "Schedule", scheduledTime: new Date(T + minute * 60_000) };
  const built = buildRunJob({ resource, run });
  built.metadata!.uid = `job-uid-${minute}`;
  built.metadata!.creationTimestamp = iso(minute * 60 + 2) as unknown as Date;
  if (state === "complete") {
    built.status = {
      completionTime: iso(minute * 60 + 40) as unknown as Date,
      conditions: [
        { type: "SuccessCriteriaMet", status: "True" },
        { type: "Complete", status: "True", lastTransitionTime: iso(minute * 60 + 41) as unknown as Date },
      ],
    };
  }
  if (state === "failed") {
    built.status = {
      conditions: [
        {
          type: "Failed",
          status: "True",
          reason: extra.reason ?? "BackoffLimitExceeded",
          message: extra.message ?? "Job has reached the specified backoff limit",
          lastTransitionTime: iso(minute * 60 + 30) as unknown as Date,
        },
      ],
    };
  }
  return built;
}

function pod(of: V1Job, termination?: { exitCode: number; message?: string; finishedAt?: number }): V1Pod {
  return {
    metadata: {
      name: `${of.metadata?.name}-abcde`,
      namespace: of.metadata?.namespace,
      labels: { "batch.kubernetes.io/job-name": of.metadata?.name ?? "" },
      ownerReferences: [
        { apiVersion: "batch/v1", kind: "Job", name: of.metadata?.name ?? "", uid: of.metadata?.uid ?? "" },
      ],
    },
    status: {
      containerStatuses: [
        {
          name: "engine",
          image: "chunkgc:dev",
          imageID: "",
          ready: false,
          restartCount: 0,
          state: termination
            ? {
                terminated: {
                  exitCode: termination.exitCode,
                  ...(termination.message !== undefined ? { message: termination.message } : {}),
                  finishedAt: iso(termination.finishedAt ?? 39) as unknown as Date,
                },
              }
            : { running: {} },
        },
      ],
    },
  };
}

const info = (j: V1Job): RunInfo => {
  const run = jobRunInfo(j);
  assert.ok(run);
  return run;
};

describe("ownership", () => {
  it("needs both the uid label and the controller owner reference", () => {
    const mine = job(0);
    assert.equal(ownsJob(mine, UID), true);
    assert.equal(ownsJob(mine, "another-uid"), false);
    const orphan = structuredClone(mine);
    orphan.metadata!.ownerReferences = [];
    assert.equal(ownsJob(orphan, UID), false, "a label alone is not ownership");
    const relabelled = structuredClone(mine);
    relabelled.metadata!.labels!["chunkgc.io/garbagecollection-uid"] = "x";
    assert.equal(ownsJob(relabelled, UID), false);
  });
  it("maps a Job to its resource's key", () => {
    assert.equal(jobOwnerKey(job(0)), "backup/pbs-main");
    assert.equal(jobOwnerKey({ metadata: { namespace: "x", name: "j" } }), undefined);
  });
});

describe("jobPhase", () => {
  it("reads active, complete and failed Jobs", () => {
    assert.deepEqual(jobPhase(job(0)), { phase: "active" });
    assert.deepEqual(jobPhase(job(0, "complete")), { phase: "succeeded", completionTime: new Date(iso(40)) });
    assert.deepEqual(jobPhase(job(0, "failed", { reason: "DeadlineExceeded", message: "too long" })), {
      phase: "failed",
      completionTime: new Date(iso(30)),
      reason: "DeadlineExceeded",
      message: "too long",
    });
  });
  it("a SuccessCriteriaMet or FailureTarget condition alone is not the end yet", () => {
    const pending = job(0);
    pending.status = { conditions: [{ type: "FailureTarget", status: "True" }] };
    assert.deepEqual(jobPhase(pending), { phase: "active" });
  });
});

describe("finishedRunEvent", () => {
  const complete = job(0, "complete");
  const failedJob = job(0, "failed");
  const valid = formatRunResult(sampleRunResult());
  const cases: [string, V1Job, V1Pod | undefined, { type: string; reason?: string; message?: RegExp }][] = [
    ["a valid result", complete, pod(complete, { exitCode: 0, message: valid }), { type: "RunFinished" }],
    [
      "a valid failed result of a failed Job",
      failedJob,
      pod(failedJob, { exitCode: 1, message: formatRunResult(sampleRunResult({ result: "failed", message: "boom" })) }),
      { type: "RunFinished" },
    ],
    [
      "malformed JSON",
      complete,
      pod(complete, { exitCode: 0, message: "{not json" }),
      { type: "RunFailed", reason: "ResultMalformed", message: /not valid JSON.*exit code 0/ },
    ],
    [
      "another version",
      complete,
      pod(complete, { exitCode: 0, message: JSON.stringify({ ...sampleRunResult(), v: 2 }) }),
      { type: "RunFailed", reason: "ResultVersionUnsupported" },
    ],
    [
      "exit 0 without a message",
      complete,
      pod(complete, { exitCode: 0 }),
      { type: "RunFailed", reason: "ResultMissing", message: /code 0/ },
    ],
    [
      "exit 3 without a message",
      failedJob,
      pod(failedJob, { exitCode: 3 }),
      { type: "RunFailed", reason: "SafetyAbort", message: /exit code 3.*backoff limit/ },
    ],
    [
      "exit 137",
      failedJob,
      pod(failedJob, { exitCode: 137 }),
      { type: "RunFailed", reason: "EngineKilled", message: /SIGKILL/ },
    ],
    [
      "a failed Job without a pod",
      job(0, "failed", { reason: "DeadlineExceeded", message: "Job was active longer than specified deadline" }),
      undefined,
      { type: "RunFailed", reason: "DeadlineExceeded", message: /deadline/ },
    ],
    [
      "a complete Job whose pod is gone",
      complete,
      undefined,
      { type: "RunFailed", reason: "ResultMissing", message: /pod is gone/ },
    ],
  ];
  for (const [name, j, p, expected] of cases) {
    it(name, () => {
      const event = finishedRunEvent(info(j), j, p);
      assert.equal(event.type, expected.type);
      if (event.type === "RunFailed") {
        assert.equal(event.reason, expected.reason);
        if (expected.message) assert.match(event.message, expected.message);
      }
      if (event.type === "RunFinished" || event.type === "RunFailed") {
        assert.deepEqual(
          event.completionTime,
          jobPhase(j).phase === "active" ? undefined : (jobPhase(j) as { completionTime: Date }).completionTime,
        );
      }
    });
  }
  describe("an engine that exits without a result (the kubelet keeps its log tail)", () => {
    const refusal =
      "chunkgc: UsageError: --now 2030-01-01T00:00:00.000Z is later than the clock (2026-11-29T02:00:00.000Z): a " +
      "deleting run would treat fresh uploads as old. Use --dry-run for a what-if run (--allow-future-now is for tests only)";
    const failure = (exitCode: number, message: string) => {
      const event = finishedRunEvent(info(failedJob), failedJob, pod(failedJob, { exitCode, message }));
      assert.equal(event.type, "RunFailed");
      return event as Extract<typeof event, { type: "RunFailed" }>;
    };
    it("exit 2 names a bad setting and carries the engine's own message, with no version guess", () => {
      const event = failure(2, `${refusal}\n`);
      assert.equal(event.reason, "EngineUsageError");
      assert.match(event.message, /refused a setting/);
      assert.ok(event.message.includes("--now 2030-01-01T00:00:00.000Z is later than the clock"), event.message);
      assert.doesNotMatch(event.message, /differ|version|not valid JSON/);
    });
    it("exit 2 suggests a version mismatch only when the engine names an unknown option", () => {
      const tail = "error: unknown option '--shiny-new-flag'\nUsage: chunkgc gc [options]\n  --store <name>  store\n";
      const event = failure(2, tail);
      assert.equal(event.reason, "EngineUsageError");
      assert.match(event.message, /unknown option '--shiny-new-flag'.*operator and image versions differ\?/);
    });
    it("structured log lines are never quoted: the exit code tells, as without a log", () => {
      const event = failure(1, '{"level":50,"msg":"secret-ish detail"}\n');
      assert.equal(event.reason, "EngineError");
      assert.match(event.message, /exit code 1\) and wrote no result/);
      assert.doesNotMatch(event.message, /secret-ish/);
    });
  });
  it("refuses a Job that has not finished", () => {
    assert.throws(() => finishedRunEvent(info(job(0)), job(0), undefined), /not finished/);
  });
  it("exit code reasons", () => {
    assert.equal(exitCodeReason(4).reason, "EngineLockBusy");
    assert.equal(exitCodeReason(2).reason, "EngineUsageError");
    assert.deepEqual(exitCodeReason(42), { reason: "EngineExitCode", text: "the engine exited with code 42" });
  });
});

describe("podsOfJob", () => {
  it("finds the Job's pods, terminated ones first (latest first)", () => {
    const j = job(0, "failed");
    const running = pod(j);
    running.metadata!.name = "running";
    const early = pod(j, { exitCode: 1, finishedAt: 10 });
    early.metadata!.name = "early";
    const late = pod(j, { exitCode: 1, finishedAt: 20 });
    late.metadata!.name = "late";
    const stranger = pod(job(5));
    assert.deepEqual(
      podsOfJob(j, [running, early, stranger, late]).map((p) => p.metadata?.name),
      ["late", "early", "running"],
    );
    assert.equal(podSettled(running), false);
    assert.equal(podSettled(late), true);
    assert.equal(podSettled(undefined), false);
  });
});

describe("classifyOwnedJobs", () => {
  const status = (patch: Partial<GarbageCollectionStatus>): GarbageCollectionStatus => patch;
  const record = (j: V1Job) => {
    const run = info(j);
    return {
      jobName: run.jobName,
      trigger: run.trigger,
      generation: 1,
      startTime: run.startTime.toISOString().replace(".000Z", "Z"),
      completionTime: iso(3600),
      durationSeconds: 1,
      result: "Succeeded" as const,
      reason: "Succeeded",
      dryRun: false,
    };
  };

  it("sorts running, unrecorded and recorded Jobs", () => {
    const old = job(0, "complete");
    const recent = job(10, "complete");
    const newer = job(20, "failed");
    const running = job(30);
    const out = classifyOwnedJobs([running, newer, old, recent], status({ lastRun: record(recent) }));
    assert.deepEqual(
      out.active.map((a) => a.run.jobName),
      [running.metadata?.name],
    );
    assert.deepEqual(
      out.unrecorded.map((a) => a.run.jobName),
      [newer.metadata?.name],
    );
    assert.deepEqual(
      out.recorded.map((j) => j.metadata?.name),
      [old.metadata?.name, recent.metadata?.name],
      "a Job older than the latest recorded run is not news, even if it fell out of the history",
    );
  });

  it("the active run's Job is always news", () => {
    const older = job(0, "complete");
    const out = classifyOwnedJobs(
      [older],
      status({
        lastRun: record(job(10, "complete")),
        activeRun: { ...record(older), startTime: record(older).startTime },
      }),
    );
    assert.equal(out.unrecorded.length, 1);
  });

  it("without status every finished Job is news, oldest first", () => {
    const out = classifyOwnedJobs([job(20, "complete"), job(10, "failed")], undefined);
    assert.deepEqual(
      out.unrecorded.map((a) => a.run.scheduledTime?.toISOString()),
      [new Date(T + 600_000).toISOString(), new Date(T + 1_200_000).toISOString()],
    );
  });

  it("ignores Jobs without the builder's trigger label", () => {
    const foreign = job(0, "complete");
    delete foreign.metadata!.labels!["chunkgc.io/trigger"];
    const out = classifyOwnedJobs([foreign], undefined);
    assert.deepEqual(out, { active: [], unrecorded: [], recorded: [] });
  });
});

describe("jobsToPrune (history limits)", () => {
  it("keeps the newest of each kind and never a running Job", () => {
    const jobs = [
      job(0, "complete"),
      job(1, "complete"),
      job(2, "failed"),
      job(3, "complete"),
      job(4, "failed"),
      job(5),
    ];
    const names = jobs.map((j) => j.metadata?.name);
    assert.deepEqual(jobsToPrune(jobs, { successful: 2, failed: 1 }), [names[2], names[0]]);
    assert.deepEqual(jobsToPrune(jobs, { successful: 0, failed: 0 }), [
      names[4],
      names[3],
      names[2],
      names[1],
      names[0],
    ]);
    assert.deepEqual(jobsToPrune(jobs, { successful: 10, failed: 10 }), []);
  });
});
