import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { CoreV1Api } from "@kubernetes/client-node";
import { pino } from "pino";
import { EngineProgressReader } from "../../../../src/operator/controller/engine-progress.ts";
import { ENGINE_CONTAINER_NAME } from "../../../../src/operator/job-builder.ts";

const LINE = JSON.stringify({
  level: 30,
  time: "2025-03-01T02:10:07Z",
  progress: { phase: "sweep", done: 40, total: 100, estimated: true, percent: 40, ratePerSecond: 4, etaSeconds: 15 },
  msg: "progress",
});

/** A CoreV1Api that answers readNamespacedPodLog only, recording the requests. */
function fakeCore(answer: () => Promise<string>) {
  const requests: Record<string, unknown>[] = [];
  const core = {
    readNamespacedPodLog: (request: Record<string, unknown>) => {
      requests.push(request);
      return answer();
    },
  } as unknown as CoreV1Api;
  return { core, requests };
}

const silent = pino({ level: "silent" });
const at = (seconds: number) => new Date(Date.UTC(2025, 2, 1, 2, 10, seconds));

describe("EngineProgressReader", () => {
  it("reads the engine container's log tail at most once per interval per pod", async () => {
    const { core, requests } = fakeCore(async () => `{"msg":"started"}\n${LINE}\n`);
    const reader = new EngineProgressReader(core, silent, 15_000);
    const first = await reader.read("ns", "pod-a", at(0));
    assert.equal(first?.text, "sweep 40% ETA 0:15");
    assert.equal(requests.length, 1);
    assert.equal(requests[0]?.container, ENGINE_CONTAINER_NAME);
    assert.equal(requests[0]?.name, "pod-a");
    assert.equal(requests[0]?.namespace, "ns");
    assert.ok(typeof requests[0]?.tailLines === "number" && requests[0].tailLines > 0, "a tail, not the whole log");

    assert.equal(await reader.read("ns", "pod-a", at(5)), undefined, "not due yet");
    assert.equal(requests.length, 1);
    assert.equal((await reader.read("ns", "pod-b", at(5)))?.phase, "sweep", "another pod has its own interval");
    assert.equal((await reader.read("ns", "pod-a", at(15)))?.done, 40, "due again after the interval");
    assert.equal(requests.length, 3);
  });

  it("yields nothing, never an error, when the log cannot be read or holds no progress", async () => {
    const failing = new EngineProgressReader(
      fakeCore(() => Promise.reject(new Error("kubelet unreachable"))).core,
      silent,
    );
    assert.equal(await failing.read("ns", "pod", at(0)), undefined);
    const quiet = new EngineProgressReader(fakeCore(async () => '{"msg":"cutoff"}\n').core, silent);
    assert.equal(await quiet.read("ns", "pod", at(0)), undefined);
  });
});
