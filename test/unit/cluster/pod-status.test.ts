import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  type ContainerRecord,
  type ContainerRunState,
  podConditions,
  podPhase,
  podStatus,
  type RestartPolicy,
} from "../../cluster/pod-status.ts";

const t0 = new Date("2026-01-01T00:00:00Z");
const t1 = new Date("2026-01-01T00:01:00Z");
const waiting: ContainerRunState = { kind: "waiting", reason: "ContainerCreating" };
const running: ContainerRunState = { kind: "running", startedAt: t0, containerID: "x://1" };
const exited = (exitCode: number): ContainerRunState => ({
  kind: "terminated",
  exitCode,
  reason: exitCode === 0 ? "Completed" : "Error",
  startedAt: t0,
  finishedAt: t1,
});
const record = (state: ContainerRunState, restarted = false): ContainerRecord => ({
  name: "c",
  image: "chunkgc",
  restartCount: restarted ? 1 : 0,
  state,
  ...(restarted ? { lastTerminated: { exitCode: 1, reason: "Error", startedAt: t0, finishedAt: t1 } } : {}),
});

describe("podPhase", () => {
  const cases: [RestartPolicy, ContainerRecord[], string][] = [
    ["Never", [], "Pending"],
    ["Never", [record(waiting)], "Pending"],
    ["Never", [record(running)], "Running"],
    ["Never", [record(running), record(exited(0))], "Running"],
    ["Never", [record(exited(0))], "Succeeded"],
    ["Never", [record(exited(0)), record(exited(2))], "Failed"],
    ["OnFailure", [record(exited(2))], "Running"],
    ["OnFailure", [record(exited(0))], "Succeeded"],
    ["OnFailure", [record({ kind: "waiting", reason: "CrashLoopBackOff" }, true)], "Running"],
    ["Always", [record(exited(0))], "Running"],
  ];
  for (const [policy, containers, expected] of cases) {
    const states = containers.map((c) => (c.state.kind === "terminated" ? `exit ${c.state.exitCode}` : c.state.kind));
    test(`${policy}: [${states.join(", ")}] → ${expected}`, () => assert.equal(podPhase(policy, containers), expected));
  }
});

describe("podConditions", () => {
  test("running pods are Ready; finished pods are not, with reason PodCompleted", () => {
    const ready = podConditions("Running", [record(running)], [], t0);
    assert.equal(ready.find((c) => c.type === "Ready")?.status, "True");
    const done = podConditions("Succeeded", [record(exited(0))], ready, t1);
    const doneReady = done.find((c) => c.type === "Ready");
    assert.equal(doneReady?.status, "False");
    assert.equal(doneReady?.reason, "PodCompleted");
    assert.equal(doneReady?.lastTransitionTime, t1);
  });
  test("keeps conditions it does not own and transition times that did not change", () => {
    const scheduled = { type: "PodScheduled", status: "True", lastTransitionTime: t0 };
    const first = podConditions("Running", [record(running)], [scheduled], t0);
    const second = podConditions("Running", [record(running)], first, t1);
    assert.deepEqual(
      second.find((c) => c.type === "PodScheduled"),
      scheduled,
    );
    assert.equal(second.find((c) => c.type === "Ready")?.lastTransitionTime, t0);
  });
});

describe("podStatus", () => {
  test("a refusal forces Failed with its reason and message", () => {
    const status = podStatus({
      restartPolicy: "Never",
      containers: [record(exited(128))],
      previousConditions: [],
      startTime: t0,
      hostIP: "127.0.0.1",
      now: t1,
      failure: { reason: "Unsupported", message: "no" },
    });
    assert.equal(status.phase, "Failed");
    assert.equal(status.reason, "Unsupported");
    assert.equal(status.containerStatuses?.[0]?.state?.terminated?.exitCode, 128);
  });
});
