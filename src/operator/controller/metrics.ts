import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { RUN_OUTCOMES, type RunRecord } from "../../api/status.ts";

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
    help: "Completion time of the latest successful run (Unix seconds).",
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

  /** A run was recorded in a status for the first time. */
  recordRun(namespace: string, name: string, record: RunRecord): void {
    const labels = { namespace, name };
    this.runs.inc({ ...labels, result: record.result });
    this.runDuration.observe({ ...labels, result: record.result }, record.durationSeconds);
    if (record.counters) {
      this.removedBytes.set(labels, record.counters.removedBytes);
      this.removedChunks.set(labels, record.counters.removedChunks);
      this.pendingBytes.set(labels, record.counters.pendingBytes);
      this.pendingChunks.set(labels, record.counters.pendingChunks);
      this.diskBytes.set(labels, record.counters.diskBytes);
    }
    for (const [kind, count] of Object.entries(record.requests ?? {})) {
      if (count > 0) this.s3Requests.inc({ ...labels, kind }, count);
    }
  }

  /** Gauges that mirror the status. */
  observeStatus(
    namespace: string,
    name: string,
    status: { lastSuccessfulTime?: string; consecutiveFailures?: number; blocked: boolean },
  ): void {
    const labels = { namespace, name };
    if (status.lastSuccessfulTime) this.lastSuccess.set(labels, Date.parse(status.lastSuccessfulTime) / 1000);
    this.consecutiveFailures.set(labels, status.consecutiveFailures ?? 0);
    this.blocked.set(labels, status.blocked ? 1 : 0);
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
