/**
 * The gauges come back from the status alone (a fresh operator after a restart or failover shows the last run's
 * figures before any new run), staleness is measurable for resources that never succeeded, and an active run, a
 * stall and skipped slots have series of their own.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { OperatorMetrics } from "../../../../src/operator/controller/metrics.ts";
import { buildRunJob, jobRunInfo } from "../../../../src/operator/job-builder.ts";
import { reduceStatusAll, type StatusEvent } from "../../../../src/operator/status.ts";
import { sampleResource, sampleRunResult } from "../../../support/gc-fixtures.ts";

const T = Date.parse("2025-03-01T02:30:00Z");
const job = buildRunJob({ resource: sampleResource(), run: { trigger: "Schedule", scheduledTime: new Date(T) } });
job.metadata!.creationTimestamp = new Date(T);
const run = jobRunInfo(job)!;
const context = { generation: 1, now: new Date(T + 60_000) };
const accepted: StatusEvent = { type: "SpecAccepted", suspended: false };

async function value(metrics: OperatorMetrics, name: string): Promise<number | undefined> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  const sample = (metric?.values ?? []).find((v) => v.labels.namespace === "backup" && v.labels.name === "pbs-main");
  return sample?.value;
}

describe("operator metrics from the status", () => {
  it("a fresh operator restores the last run's gauges from the status", async () => {
    const result = sampleRunResult();
    const status = reduceStatusAll(
      undefined,
      [
        accepted,
        { type: "RunStarted", run },
        { type: "RunFinished", run, completionTime: new Date(T + 40_000), result },
      ],
      context,
    );
    const restarted = new OperatorMetrics();
    restarted.observeStatus("backup", "pbs-main", { status });
    assert.equal(await value(restarted, "chunkgc_last_run_removed_bytes"), result.counters.removedBytes);
    assert.equal(await value(restarted, "chunkgc_last_run_pending_bytes"), result.counters.pendingBytes);
    assert.equal(await value(restarted, "chunkgc_last_run_disk_bytes"), result.counters.diskBytes);
    assert.equal(await value(restarted, "chunkgc_last_success_timestamp_seconds"), (T + 40_000) / 1000);
    assert.equal(await value(restarted, "chunkgc_active_run_start_timestamp_seconds"), undefined, "no run in progress");
  });

  it("a resource that never succeeded is stale from its creation", async () => {
    const metrics = new OperatorMetrics();
    const status = reduceStatusAll(undefined, [accepted], context);
    metrics.observeStatus("backup", "pbs-main", { status, creationTimestamp: "2025-02-01T00:00:00Z" });
    assert.equal(await value(metrics, "chunkgc_last_success_timestamp_seconds"), Date.parse("2025-02-01") / 1000);
  });

  it("an active run, a run that cannot start, skipped slots and a stall", async () => {
    const metrics = new OperatorMetrics();
    const running = reduceStatusAll(
      undefined,
      [
        accepted,
        { type: "SlotsSkipped", count: 2, latest: new Date(T - 86_400_000) },
        { type: "RunStarted", run },
        {
          type: "RunProgress",
          jobName: run.jobName,
          progress: { phase: "CannotStart", reason: "ImagePullBackOff", message: "x" },
        },
      ],
      context,
    );
    metrics.observeStatus("backup", "pbs-main", { status: running });
    assert.equal(await value(metrics, "chunkgc_active_run_start_timestamp_seconds"), T / 1000);
    assert.equal(await value(metrics, "chunkgc_active_run_cannot_start"), 1);
    assert.equal(await value(metrics, "chunkgc_skipped_slots"), 2);
    assert.equal(await value(metrics, "chunkgc_stalled"), 0);
    const stalled = reduceStatusAll(running, [{ type: "SpecInvalid", message: "bad" }], context);
    const done = reduceStatusAll(
      stalled,
      [{ type: "RunFailed", run, completionTime: new Date(T + 600_000), reason: "ImagePullBackOff", message: "x" }],
      context,
    );
    metrics.observeStatus("backup", "pbs-main", { status: done });
    assert.equal(await value(metrics, "chunkgc_stalled"), 1);
    assert.equal(await value(metrics, "chunkgc_active_run_start_timestamp_seconds"), undefined, "removed when idle");
    metrics.forget("backup", "pbs-main");
    assert.equal(await value(metrics, "chunkgc_skipped_slots"), undefined);
  });
});
