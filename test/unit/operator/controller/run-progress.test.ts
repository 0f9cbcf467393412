/**
 * How far an active run got, from its Job, pod and Events (pure), and the status it amounts to: a pod that cannot
 * start is named by Kubernetes' own reason and text, and the run ends after the start timeout.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { CoreV1Event, V1Job, V1Pod } from "@kubernetes/client-node";
import { observeRun, startTimedOut } from "../../../../src/operator/controller/run-progress.ts";
import { buildRunJob, jobRunInfo } from "../../../../src/operator/job-builder.ts";
import { finishedRunEvent } from "../../../../src/operator/job-observation.ts";
import { findCondition, reduceStatusAll } from "../../../../src/operator/status.ts";
import { sampleResource } from "../../../support/gc-fixtures.ts";

const T = Date.parse("2025-03-01T02:30:00Z");
const iso = (seconds: number) => new Date(T + seconds * 1000).toISOString() as unknown as Date;

function job(): V1Job {
  const built = buildRunJob({
    resource: sampleResource(),
    run: { trigger: "Schedule", scheduledTime: new Date(T) },
  });
  built.metadata!.uid = "job-uid";
  built.metadata!.creationTimestamp = iso(0);
  return built;
}

function pod(status: V1Pod["status"]): V1Pod {
  return { metadata: { name: "pbs-main-1-abcde", creationTimestamp: iso(1) }, status };
}

const waiting = (reason: string, message?: string): V1Pod =>
  pod({
    phase: "Pending",
    containerStatuses: [
      {
        name: "engine",
        image: "x",
        imageID: "",
        ready: false,
        restartCount: 0,
        state: { waiting: { reason, ...(message ? { message } : {}) } },
      },
    ],
  });

describe("observeRun", () => {
  const stuck: [string, string, RegExp][] = [
    ["ImagePullBackOff", 'Back-off pulling image "reg.example/chunkgc:9"', /Back-off pulling image/],
    ["ErrImagePull", "pull access denied", /pull access denied/],
    ["CreateContainerConfigError", 'secret "pbs-s3" not found', /secret "pbs-s3" not found/],
    ["InvalidImageName", "couldn't parse image name", /couldn't parse/],
  ];
  for (const [reason, message, text] of stuck) {
    it(`a container waiting with ${reason} cannot start, with the kubelet's text`, () => {
      const seen = observeRun(job(), [waiting(reason, message)], []);
      assert.equal(seen.phase, "CannotStart");
      assert.equal(seen.reason, reason);
      assert.match(seen.message, text);
      assert.equal(seen.podName, "pbs-main-1-abcde");
      assert.deepEqual(seen.since, new Date(T + 1000));
    });
  }

  it("ContainerCreating is starting, not stuck", () => {
    const seen = observeRun(job(), [waiting("ContainerCreating")], []);
    assert.equal(seen.phase, "Starting");
    assert.match(seen.message, /ContainerCreating/);
  });

  it("an unschedulable pod cannot start, with the scheduler's text", () => {
    const seen = observeRun(
      job(),
      [
        pod({
          phase: "Pending",
          conditions: [
            {
              type: "PodScheduled",
              status: "False",
              reason: "Unschedulable",
              message: "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.",
              lastTransitionTime: iso(3),
            },
          ],
        }),
      ],
      [],
    );
    assert.deepEqual([seen.phase, seen.reason, seen.since], ["CannotStart", "Unschedulable", new Date(T + 3000)]);
    assert.match(seen.message, /didn't match Pod's node affinity/);
  });

  it("a Job without pod and a FailedCreate Event cannot start, with the Job controller's text", () => {
    const event = (message: string, at: number, uid = "job-uid"): CoreV1Event => ({
      metadata: {},
      involvedObject: { kind: "Job", uid },
      reason: "FailedCreate",
      message,
      firstTimestamp: iso(at),
      lastTimestamp: iso(at + 10),
    });
    const seen = observeRun(
      job(),
      [],
      [
        event('Error creating: pods "x" is forbidden: error looking up service account backup/nope', 5),
        event("older", 1),
        event("another job's", 9, "other-uid"),
      ],
    );
    assert.equal(seen.phase, "CannotStart");
    assert.equal(seen.reason, "FailedCreate");
    assert.match(seen.message, /error looking up service account backup\/nope/);
    assert.deepEqual(seen.since, new Date(T + 5000));
    assert.equal(observeRun(job(), [], []).phase, "Starting");
  });

  it("a running engine is running, with its start time", () => {
    const seen = observeRun(
      job(),
      [
        pod({
          phase: "Running",
          containerStatuses: [
            {
              name: "engine",
              image: "x",
              imageID: "",
              ready: true,
              restartCount: 0,
              state: { running: { startedAt: iso(20) } },
            },
          ],
        }),
      ],
      [],
    );
    assert.deepEqual(
      [seen.phase, seen.reason, seen.engineStartTime],
      ["Running", "RunInProgress", new Date(T + 20_000)],
    );
  });

  it("the start timeout counts from when the run got stuck", () => {
    const seen = observeRun(job(), [waiting("ImagePullBackOff", "x")], []);
    assert.equal(startTimedOut(seen, new Date(T + 1000 + 59_999), 60_000), false);
    assert.equal(startTimedOut(seen, new Date(T + 1000 + 60_000), 60_000), true);
    const starting = observeRun(job(), [waiting("ContainerCreating")], []);
    assert.equal(startTimedOut(starting, new Date(T + 3_600_000), 60_000), false, "slow pulls are not stuck");
  });
});

describe("run progress in the status", () => {
  const run = jobRunInfo(job())!;
  const context = { generation: 2, now: new Date(T + 30_000) };
  it("Running tells the reason and text; activeRun the phase; the end clears both", () => {
    const stuck = observeRun(job(), [waiting("ImagePullBackOff", 'Back-off pulling image "x"')], []);
    const status = reduceStatusAll(
      undefined,
      [
        { type: "RunStarted", run },
        { type: "RunProgress", jobName: run.jobName, progress: stuck },
      ],
      context,
    );
    const running = findCondition(status, "Running");
    assert.deepEqual([running?.status, running?.reason], ["True", "ImagePullBackOff"]);
    assert.match(running?.message ?? "", /Back-off pulling image "x"/);
    assert.equal(status.activeRun?.phase, "CannotStart");
    assert.match(status.activeRun?.message ?? "", /Back-off pulling/);
    assert.equal(findCondition(status, "Reconciling")?.status, "False");
    const ended = reduceStatusAll(
      status,
      [{ type: "RunFailed", run, completionTime: new Date(T + 700_000), reason: "ImagePullBackOff", message: "m" }],
      context,
    );
    assert.equal(ended.activeRun, undefined);
    assert.deepEqual([findCondition(ended, "Running")?.status, ended.lastRun?.reason], ["False", "ImagePullBackOff"]);
  });
  it("progress of another Job is ignored", () => {
    const status = reduceStatusAll(
      undefined,
      [
        { type: "RunStarted", run },
        { type: "RunProgress", jobName: "other", progress: { phase: "Running", reason: "RunInProgress", message: "" } },
      ],
      context,
    );
    assert.equal(status.activeRun?.phase, undefined);
  });
});

describe("runtime errors reach the status", () => {
  it("a container the runtime could not start reports the runtime's own text", () => {
    const failedJob = job();
    failedJob.status = {
      conditions: [{ type: "Failed", status: "True", reason: "BackoffLimitExceeded", lastTransitionTime: iso(30) }],
    };
    const runtimeText =
      'failed to create containerd task: failed to create shim task: OCI runtime create failed: exec: "chunkgc": ' +
      "executable file not found in $PATH: unknown";
    const failedPod = pod({
      phase: "Failed",
      containerStatuses: [
        {
          name: "engine",
          image: "x",
          imageID: "",
          ready: false,
          restartCount: 0,
          state: { terminated: { exitCode: 128, reason: "StartError", message: runtimeText } },
        },
      ],
    });
    const event = finishedRunEvent(jobRunInfo(failedJob)!, failedJob, failedPod);
    assert.equal(event.type, "RunFailed");
    assert.ok(event.type === "RunFailed");
    assert.equal(event.reason, "StartError");
    assert.match(event.message, /executable file not found in \$PATH/);
  });
});
