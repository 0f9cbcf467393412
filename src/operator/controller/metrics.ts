import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { type GarbageCollectionStatus, RUN_OUTCOMES, type RunRecord } from "../../api/status.ts";

export interface StatusGauges {
  status: GarbageCollectionStatus;
  /** metadata.creationTimestamp (RFC 3339): the staleness baseline of a resource that never succeeded. */
  creationTimestamp?: string;
}

function isTrue(status: GarbageCollectionStatus, type: string): boolean {
  return status.conditions?.some((condition) => condition.type === type && condition.status === "True") ?? false;
}

/** The counters of the latest run that has them: lastRun, else the newest history entry with counters. */
export function latestCounters(
  status: GarbageCollectionStatus,
):
  | { removedBytes: number; removedChunks: number; pendingBytes: number; pendingChunks: number; diskBytes?: number }
  | undefined {
  const counters = status.lastRun?.counters;
  if (counters) return counters;
  const entry = status.history?.find((e) => e.removedBytes !== undefined && e.pendingBytes !== undefined);
  if (!entry) return undefined;
  return {
    removedBytes: entry.removedBytes ?? 0,
    removedChunks: entry.removedChunks ?? 0,
    pendingBytes: entry.pendingBytes ?? 0,
    pendingChunks: entry.pendingChunks ?? 0,
  };
}

/**
 * The operator's Prometheus metrics, in a registry of its own (several operators may live in one test process).
 * Per-resource series carry `namespace` and `name` and are removed when the resource goes away.
 */

const RESOURCE = ["namespace", "name"] as const;
const S3_REQUEST_KINDS = ["list", "get", "head", "put", "delete"] as const;

export class OperatorMetrics {
  readonly registry = new Registry();
  readonly runs = new Counter({
    name: "chunkgc_runs_total",
    help: "Finished garbage-collection runs by result (Succeeded, Failed, Aborted, LockBusy).",
    labelNames: [...RESOURCE, "result"],
    registers: [this.registry],
  });
  readonly runDuration = new Histogram({
    name: "chunkgc_run_duration_seconds",
    help: "Duration of finished runs, from Job creation to completion.",
    labelNames: [...RESOURCE, "result"],
    buckets: [10, 30, 60, 300, 900, 1800, 3600, 7200, 14_400, 28_800],
    registers: [this.registry],
  });
  readonly removedBytes = new Gauge({
    name: "chunkgc_last_run_removed_bytes",
    help: "Bytes removed (or, in a dry run, removable) by the latest run with a result.",
    labelNames: [...RESOURCE],
    registers: [this.registry],
  });
  readonly removedChunks = new Gauge({
    name: "chunkgc_last_run_removed_chunks",
    help: "Chunks removed (or, in a dry run, removable) by the latest run with a result.",
    labelNames: [...RESOURCE],
    registers: [this.registry],
  });
  readonly pendingBytes = new Gauge({
    name: "chunkgc_last_run_pending_bytes",
    help: "Bytes of unreferenced chunks kept for running backups, by the latest run with a result.",
    labelNames: [...RESOURCE],
    registers: [this.registry],
  });
  readonly pendingChunks = new Gauge({
    name: "chunkgc_last_run_pending_chunks",
    help: "Unreferenced chunks kept for running backups, by the latest run with a result.",
    labelNames: [...RESOURCE],
    registers: [this.registry],
  });
  readonly diskBytes = new Gauge({
    name: "chunkgc_last_run_disk_bytes",
    help: "Bytes of the chunks in use, by the latest run with a result.",
    labelNames: [...RESOURCE],
    registers: [this.registry],
  });
  readonly s3Requests = new Counter({
    name: "chunkgc_s3_requests_total",
    help: "S3 requests made by runs, by kind (list, get, head, put, delete).",
    labelNames: [...RESOURCE, "kind"],
    registers: [this.registry],
  });
  readonly lastSuccess = new Gauge({
    name: "chunkgc_last_success_timestamp_seconds",
    help:
      "Completion time of the latest successful run (Unix seconds); the resource's creation time while none has " +
      "succeeded, so that staleness alerts cover resources that never succeeded.",
    labelNames: [...RESOURCE],
    registers: [this.registry],
  });
  readonly consecutiveFailures = new Gauge({
    name: "chunkgc_consecutive_failures",
    help: "Failed runs since the latest successful one.",
    labelNames: [...RESOURCE],
    registers: [this.registry],
  });
  readonly blocked = new Gauge({
    name: "chunkgc_blocked",
    help: "1 while a due run waits for its datastore's lock.",
    labelNames: [...RESOURCE],
    registers: [this.registry],
  });
  readonly activeRunStart = new Gauge({
    name: "chunkgc_active_run_start_timestamp_seconds",
    help: "Start of the run in progress (Unix seconds); absent while no run is in progress.",
    labelNames: [...RESOURCE],
    registers: [this.registry],
  });
  readonly activeRunCannotStart = new Gauge({
    name: "chunkgc_active_run_cannot_start",
    help: "1 while the run in progress cannot start (image pull, configuration, scheduling, pod creation).",
    labelNames: [...RESOURCE],
    registers: [this.registry],
  });
  readonly skippedSlots = new Gauge({
    name: "chunkgc_skipped_slots",
    help: "Schedule slots skipped in total (status.skippedSlots).",
    labelNames: [...RESOURCE],
    registers: [this.registry],
  });
  readonly stalled = new Gauge({
    name: "chunkgc_stalled",
    help: "1 while the resource is Stalled (invalid spec, repeated failures).",
    labelNames: [...RESOURCE],
    registers: [this.registry],
  });
  readonly reconciles = new Counter({
    name: "chunkgc_reconcile_total",
    help: "Reconciles by outcome (success, error).",
    labelNames: ["outcome"],
    registers: [this.registry],
  });
  readonly reconcileErrors = new Counter({
    name: "chunkgc_reconcile_errors_total",
    help: "Reconciles that failed and were retried with backoff.",
    registers: [this.registry],
  });
  readonly reconcileDuration = new Histogram({
    name: "chunkgc_reconcile_duration_seconds",
    help: "Time spent in one reconcile.",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: "chunkgc_workqueue_depth",
    help: "Keys waiting in the work queue.",
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: "chunkgc_leader",
    help: "1 while this operator instance is the leader (or runs without leader election).",
    registers: [this.registry],
  });

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** A run was recorded in a status for the first time (counters and durations; the gauges follow the status). */
  recordRun(namespace: string, name: string, record: RunRecord): void {
    const labels = { namespace, name };
    this.runs.inc({ ...labels, result: record.result });
    this.runDuration.observe({ ...labels, result: record.result }, record.durationSeconds);
    for (const [kind, count] of Object.entries(record.requests ?? {})) {
      if (count > 0) this.s3Requests.inc({ ...labels, kind }, count);
    }
  }

  /**
   * Gauges that mirror the status, set on every reconcile: after a restart or a leader change they come back from
   * the status alone, without waiting for the next run.
   */
  observeStatus(namespace: string, name: string, view: StatusGauges): void {
    const labels = { namespace, name };
    const latest = latestCounters(view.status);
    if (latest) {
      this.removedBytes.set(labels, latest.removedBytes);
      this.removedChunks.set(labels, latest.removedChunks);
      this.pendingBytes.set(labels, latest.pendingBytes);
      this.pendingChunks.set(labels, latest.pendingChunks);
      if (latest.diskBytes !== undefined) this.diskBytes.set(labels, latest.diskBytes);
    }
    const success = view.status.lastSuccessfulTime ?? view.creationTimestamp;
    if (success !== undefined) this.lastSuccess.set(labels, Date.parse(success) / 1000);
    this.consecutiveFailures.set(labels, view.status.consecutiveFailures ?? 0);
    this.blocked.set(labels, isTrue(view.status, "Blocked") ? 1 : 0);
    this.stalled.set(labels, isTrue(view.status, "Stalled") ? 1 : 0);
    this.skippedSlots.set(labels, view.status.skippedSlots ?? 0);
    const active = view.status.activeRun;
    if (active) {
      this.activeRunStart.set(labels, Date.parse(active.startTime) / 1000);
      this.activeRunCannotStart.set(labels, active.phase === "CannotStart" ? 1 : 0);
    } else {
      this.activeRunStart.remove(labels);
      this.activeRunCannotStart.remove(labels);
    }
  }

  /** The resource is gone: drop its series. */
  forget(namespace: string, name: string): void {
    const labels = { namespace, name };
    for (const metric of [
      this.removedBytes,
      this.removedChunks,
      this.pendingBytes,
      this.pendingChunks,
      this.diskBytes,
      this.lastSuccess,
      this.consecutiveFailures,
      this.blocked,
      this.stalled,
      this.skippedSlots,
      this.activeRunStart,
      this.activeRunCannotStart,
    ]) {
      metric.remove(labels);
    }
    for (const result of RUN_OUTCOMES) {
      this.runs.remove({ ...labels, result });
      this.runDuration.remove({ ...labels, result });
    }
    for (const kind of S3_REQUEST_KINDS) this.s3Requests.remove({ ...labels, kind });
  }
}
