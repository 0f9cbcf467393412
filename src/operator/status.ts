import type { RunResult, RunResultValue } from "../api/run-result.ts";
import type {
  ActiveRun,
  ActiveRunPhase,
  Condition,
  ConditionStatus,
  ConditionType,
  EngineProgress,
  GarbageCollectionStatus,
  RunHistoryEntry,
  RunOutcome,
  RunRecord,
  RunTrigger,
  StatusSummary,
} from "../api/status.ts";
import { CONDITION_TYPES, HISTORY_LIMIT, HISTORY_MESSAGE_LIMIT } from "../api/status.ts";
import { formatBinaryBytes } from "../api/summary.ts";
import { rfc3339Seconds } from "../util/time.ts";

/**
 * The status reducer: (previous status, one thing that happened) → next status. Pure; the controller merge-patches
 * the difference (statusMergePatch). Conditions follow metav1 conventions: observedGeneration is the generation the
 * condition was computed from, lastTransitionTime changes only when its status changes. Reducing the same event
 * twice gives the same status (a restarted operator may observe a finished Job again).
 */

/**
 * The condition reasons chunkgc itself writes, in one table. Reasons Kubernetes gives (FailedCreate, Unschedulable,
 * ImagePullBackOff, …) and the engine's run outcomes are passed on as they come and are not listed here.
 */
export const REASONS = {
  ready: "Ready",
  suspended: "Suspended",
  initializing: "Initializing",
  invalidSpec: "InvalidSpec",
  datastoreNotAllowed: "DatastoreNotAllowed",
  runInProgress: "RunInProgress",
  runStarting: "RunStarting",
  idle: "Idle",
  observed: "Observed",
  asExpected: "AsExpected",
  repeatedFailures: "RepeatedFailures",
  noRunYet: "NoRunYet",
  notBlocked: "NotBlocked",
  datastoreLocked: "DatastoreLocked",
  engineLockBusy: "EngineLockBusy",
  /** A run whose Job was deleted before it finished (its result is lost). */
  jobDeleted: "JobDeleted",
  // Ready False: what the spec names is missing or unusable (dependencies.ts).
  secretNotFound: "SecretNotFound",
  secretKeyMissing: "SecretKeyMissing",
  caBundleSecretNotFound: "CaBundleSecretNotFound",
  caBundleKeyMissing: "CaBundleKeyMissing",
  claimNotFound: "ClaimNotFound",
  claimTerminating: "ClaimTerminating",
  claimPending: "ClaimPending",
} as const;

/** Consecutive failed runs after which Stalled turns True (a spec change or a success clears it). */
export const DEFAULT_STALL_AFTER_FAILURES = 3;

/** What a run is, as recorded on its Job (see job-builder: name, trigger label, annotations, creation time). */
export interface RunInfo {
  jobName: string;
  trigger: RunTrigger;
  scheduledTime?: Date;
  runRequest?: string;
  /** metadata.generation the Job was built from. */
  generation: number;
  startTime: Date;
  dryRun: boolean;
}

export type StatusEvent =
  /** The spec is valid and its Secret and claim exist. */
  | {
      type: "SpecAccepted";
      suspended: boolean;
      nextScheduleTime?: Date;
      timeZone?: string;
      /** Something a run may still resolve (a Pending claim): Ready is False with this reason, runs go on. */
      notReady?: { reason: string; message: string };
    }
  /** The spec cannot work (schedule, time zone, …): no Job until it changes. */
  | { type: "SpecInvalid"; message: string; reason?: string }
  /** Something the spec names is missing (SecretNotFound, SecretKeyMissing, ClaimNotFound, …); retried. */
  | { type: "DependencyMissing"; reason: string; message: string }
  /** Schedule slots that will not run (planSchedule's skippedSlots). */
  | { type: "SlotsSkipped"; count: number; latest: Date }
  /** A run is due but another resource holds the datastore's Lease. */
  | { type: "Blocked"; holder: string }
  /** Nothing waits for the datastore lock any more. */
  | { type: "Unblocked" }
  | { type: "RunStarted"; run: RunInfo }
  /** What the active run's Job and pod show (starting, running, or why it cannot start). */
  | { type: "RunProgress"; jobName: string; progress: RunProgress }
  /** The running engine's latest logged progress (see run-progress-log.ts). */
  | { type: "EngineProgress"; jobName: string; progress: EngineProgress }
  /** The Job finished and its termination message held a valid result. */
  | { type: "RunFinished"; run: RunInfo; completionTime: Date; result: RunResult }
  /** The Job failed without a valid result (ResultMalformed, DeadlineExceeded, BackoffLimitExceeded, JobDeleted, …). */
  | { type: "RunFailed"; run: RunInfo; completionTime: Date; reason: string; message: string };

/** The state of an active run as its Job, pod and Events show it (see controller/run-progress.ts). */
export interface RunProgress {
  phase: ActiveRunPhase;
  /** CamelCase: RunStarting, RunInProgress, or the kubelet's / scheduler's / Job controller's reason. */
  reason: string;
  message: string;
  podName?: string;
  engineStartTime?: Date;
}

export interface ReduceContext {
  /** metadata.generation of the resource being reconciled. */
  generation: number;
  now: Date;
  stallAfterFailures?: number;
}

/** "2026-11-30 03:30 CET": a time as people in `timeZone` read it (the zone's short name from the runtime's ICU). */
export function localTime(date: Date, timeZone: string): string {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone,
    hourCycle: "h23",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    timeZoneName: "short",
  }).formatToParts(date);
  const part = (type: Intl.DateTimeFormatPartTypes) => parts.find((p) => p.type === type)?.value ?? "";
  return `${part("year")}-${part("month")}-${part("day")} ${part("hour")}:${part("minute")} ${part("timeZoneName")}`;
}

function later(a: string | undefined, b: string): string {
  return a !== undefined && Date.parse(a) > Date.parse(b) ? a : b;
}

function shorten(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1).replace(/[\uD800-\uDBFF]$/, "")}…`;
}

export function findCondition(status: GarbageCollectionStatus | undefined, type: ConditionType): Condition | undefined {
  return status?.conditions?.find((condition) => condition.type === type);
}

/**
 * Sets one condition: lastTransitionTime moves only when the status changes; reason, message and observedGeneration
 * always take the new values. Conditions keep the order of CONDITION_TYPES (then any unknown types).
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  update: { type: ConditionType; status: ConditionStatus; reason: string; message: string },
  context: ReduceContext,
): Condition[] {
  const list = [...(conditions ?? [])];
  const index = list.findIndex((condition) => condition.type === update.type);
  const previous = index >= 0 ? list[index] : undefined;
  const next: Condition = {
    type: update.type,
    status: update.status,
    observedGeneration: context.generation,
    lastTransitionTime:
      previous !== undefined && previous.status === update.status
        ? previous.lastTransitionTime
        : rfc3339Seconds(context.now),
    reason: update.reason,
    message: shorten(update.message, 32768),
  };
  if (index >= 0) list[index] = next;
  else list.push(next);
  return sortConditions(list);
}

function sortConditions(list: Condition[]): Condition[] {
  const rank = (type: string) => {
    const at = (CONDITION_TYPES as readonly string[]).indexOf(type);
    return at < 0 ? CONDITION_TYPES.length : at;
  };
  return list.sort((a, b) => rank(a.type) - rank(b.type));
}

const INITIAL_CONDITIONS: Record<ConditionType, { status: ConditionStatus; reason: string; message: string }> = {
  Ready: { status: "Unknown", reason: REASONS.initializing, message: "the operator has not checked the spec yet" },
  Reconciling: { status: "False", reason: REASONS.observed, message: "the operator acted on the latest spec" },
  Stalled: { status: "False", reason: REASONS.asExpected, message: "" },
  Running: { status: "False", reason: REASONS.idle, message: "no run in progress" },
  LastRunSucceeded: { status: "Unknown", reason: REASONS.noRunYet, message: "no run has finished yet" },
  Blocked: { status: "False", reason: REASONS.notBlocked, message: "" },
};

/** Every condition type present (the ones missing get their initial value). */
function withAllConditions(status: GarbageCollectionStatus, context: ReduceContext): GarbageCollectionStatus {
  let conditions = status.conditions;
  for (const type of CONDITION_TYPES) {
    if (!conditions?.some((condition) => condition.type === type)) {
      conditions = setCondition(conditions, { type, ...INITIAL_CONDITIONS[type] }, context);
    }
  }
  return conditions === status.conditions ? status : { ...status, conditions };
}

function condition(
  status: GarbageCollectionStatus,
  type: ConditionType,
  value: ConditionStatus,
  reason: string,
  message: string,
  context: ReduceContext,
): GarbageCollectionStatus {
  return { ...status, conditions: setCondition(status.conditions, { type, status: value, reason, message }, context) };
}

/** Clears a Stalled that a spec change resolves: InvalidSpec always, RepeatedFailures once the generation moved on. */
function clearStallOnSpec(status: GarbageCollectionStatus, context: ReduceContext): GarbageCollectionStatus {
  const stalled = findCondition(status, "Stalled");
  if (stalled?.status !== "True") return status;
  const resolved =
    stalled.reason === REASONS.invalidSpec ||
    stalled.reason === REASONS.datastoreNotAllowed ||
    (stalled.reason === REASONS.repeatedFailures && (stalled.observedGeneration ?? 0) < context.generation);
  return resolved ? condition(status, "Stalled", "False", REASONS.asExpected, "", context) : status;
}

function without<K extends keyof GarbageCollectionStatus>(
  status: GarbageCollectionStatus,
  key: K,
): GarbageCollectionStatus {
  if (!(key in status)) return status;
  const copy = { ...status };
  delete copy[key];
  return copy;
}

const OUTCOMES: Record<RunResultValue, RunOutcome> = {
  succeeded: "Succeeded",
  failed: "Failed",
  aborted: "Aborted",
  "lock-busy": "LockBusy",
};

function activeRunOf(run: RunInfo): ActiveRun {
  const active: ActiveRun = {
    jobName: run.jobName,
    trigger: run.trigger,
    generation: run.generation,
    startTime: rfc3339Seconds(run.startTime),
    dryRun: run.dryRun,
  };
  if (run.scheduledTime !== undefined) active.scheduledTime = rfc3339Seconds(run.scheduledTime);
  if (run.runRequest !== undefined) active.runRequest = run.runRequest;
  return active;
}

function summaryOf(result: RunResult): StatusSummary {
  const { counters, summary } = result;
  return {
    dedupFactor: summary.dedupFactor,
    onDiskPercent: summary.onDiskPercent,
    averageChunkSize: summary.averageChunkSize,
    originalSize: formatBinaryBytes(counters.indexDataBytes),
    onDiskSize: formatBinaryBytes(counters.diskBytes),
    removedSize: formatBinaryBytes(counters.removedBytes),
    pendingSize: formatBinaryBytes(counters.pendingBytes),
  };
}

/**
 * What a run removed (or, dry, would remove) and what is pending. Chunks and corrupt `.bad` copies are counted
 * apart, the same way for a dry run and a real one.
 */
export function describeResult(result: RunResult): string {
  const c = result.counters;
  const bad = c.removedBad > 0 ? ` and ${c.removedBad} bad cop${c.removedBad === 1 ? "y" : "ies"}` : "";
  const removed = `${result.dryRun ? "would remove" : "removed"} ${c.removedChunks} chunks (${formatBinaryBytes(c.removedBytes)})${bad}`;
  return `${removed}, ${c.pendingChunks} pending (${formatBinaryBytes(c.pendingBytes)}), ${c.diskChunks} in use (${formatBinaryBytes(c.diskBytes)})`;
}

/** The lastRun record of a finished run. */
export function runRecord(
  run: RunInfo,
  completionTime: Date,
  outcome: { result: RunOutcome; reason: string; message: string },
  engine?: RunResult,
): RunRecord {
  const startTime = rfc3339Seconds(run.startTime);
  const finished = rfc3339Seconds(completionTime < run.startTime ? run.startTime : completionTime);
  const record: RunRecord = {
    ...activeRunOf(run),
    completionTime: finished,
    durationSeconds: Math.max(0, Math.round((Date.parse(finished) - Date.parse(startTime)) / 1000)),
    result: outcome.result,
    reason: outcome.reason,
  };
  if (outcome.message !== "") record.message = shorten(outcome.message, 2048);
  if (engine !== undefined) {
    record.dryRun = engine.dryRun;
    record.engineStartedAt = rfc3339Seconds(new Date(engine.startedAt));
    record.engineFinishedAt = rfc3339Seconds(new Date(engine.finishedAt));
    record.counters = { ...engine.counters };
    record.summary = summaryOf(engine);
    record.phases = { ...engine.phases };
    record.requests = { ...engine.requests };
    record.bytesDownloaded = engine.bytesDownloaded;
    record.indexCache = { ...engine.indexCache };
    record.heldBack = { ...engine.heldBack };
    if (engine.estimatedCostUsd !== undefined) record.estimatedCostUsd = engine.estimatedCostUsd;
  }
  return record;
}

function historyEntry(record: RunRecord): RunHistoryEntry {
  const entry: RunHistoryEntry = {
    jobName: record.jobName,
    trigger: record.trigger,
    startTime: record.startTime,
    completionTime: record.completionTime,
    result: record.result,
    reason: record.reason,
    dryRun: record.dryRun,
  };
  if (record.scheduledTime !== undefined) entry.scheduledTime = record.scheduledTime;
  if (record.message !== undefined) entry.message = shorten(record.message, HISTORY_MESSAGE_LIMIT);
  if (record.counters !== undefined) {
    entry.removedChunks = record.counters.removedChunks;
    entry.removedBytes = record.counters.removedBytes;
    entry.pendingChunks = record.counters.pendingChunks;
    entry.pendingBytes = record.counters.pendingBytes;
  }
  return entry;
}

/**
 * Whether the status already accounts for the run of this Job (latest run or history): the one check that keeps a
 * finished run from being recorded, counted and announced twice.
 */
export function isRecorded(status: GarbageCollectionStatus | undefined, jobName: string): boolean {
  if (status === undefined) return false;
  return status.lastRun?.jobName === jobName || (status.history ?? []).some((entry) => entry.jobName === jobName);
}

function finishRun(
  status: GarbageCollectionStatus,
  record: RunRecord,
  context: ReduceContext,
): GarbageCollectionStatus {
  let next: GarbageCollectionStatus = {
    ...status,
    lastRun: record,
    history: [historyEntry(record), ...(status.history ?? [])].slice(0, HISTORY_LIMIT),
  };
  if (status.activeRun === undefined || status.activeRun.jobName === record.jobName) {
    next = without(next, "activeRun");
    next = condition(next, "Running", "False", REASONS.idle, "no run in progress", context);
  }
  if (record.trigger === "Schedule" && record.scheduledTime !== undefined) {
    next.lastScheduleTime = later(status.lastScheduleTime, record.scheduledTime);
  }
  // Normally RunStarted recorded these already; a Job that finished while the operator was away may skip it.
  if (record.trigger === "RunRequest" && record.runRequest !== undefined)
    next.lastHandledRunRequest = record.runRequest;
  const runMessage = `${record.jobName}: ${record.message ?? record.reason}`;

  if (record.result === "Succeeded") {
    next.consecutiveFailures = 0;
    next.lastSuccessfulTime = later(status.lastSuccessfulTime, record.completionTime);
    next = condition(next, "LastRunSucceeded", "True", record.reason, runMessage, context);
    next = condition(next, "Blocked", "False", REASONS.notBlocked, "", context);
    const stalled = findCondition(next, "Stalled");
    if (stalled?.status === "True" && stalled.reason === REASONS.repeatedFailures) {
      next = condition(next, "Stalled", "False", REASONS.asExpected, "", context);
    }
    return next;
  }
  next = condition(next, "LastRunSucceeded", "False", record.reason, runMessage, context);
  if (record.result === "LockBusy") {
    // Another collector (outside this cluster's Leases) holds the lock object: not a failure of this resource.
    next.consecutiveFailures = status.consecutiveFailures ?? 0;
    return condition(next, "Blocked", "True", REASONS.engineLockBusy, runMessage, context);
  }
  const failures = (status.consecutiveFailures ?? 0) + 1;
  next.consecutiveFailures = failures;
  next = condition(next, "Blocked", "False", REASONS.notBlocked, "", context);
  const stallAfter = context.stallAfterFailures ?? DEFAULT_STALL_AFTER_FAILURES;
  if (failures >= stallAfter) {
    next = condition(
      next,
      "Stalled",
      "True",
      REASONS.repeatedFailures,
      `${failures} runs failed in a row; the latest: ${runMessage}`,
      context,
    );
  }
  return next;
}

/** The next status after one event. */
export function reduceStatus(
  previous: GarbageCollectionStatus | undefined,
  event: StatusEvent,
  context: ReduceContext,
): GarbageCollectionStatus {
  let status = withAllConditions({ ...(previous ?? {}) }, context);
  status.observedGeneration = Math.max(status.observedGeneration ?? 0, context.generation);
  // kstatus: the status written with this reduction is the operator's answer to this generation, so Reconciling is
  // False in it; a run in flight is the Running condition's business (GitOps tools must not wait for it).
  status = condition(
    status,
    "Reconciling",
    "False",
    REASONS.observed,
    `generation ${status.observedGeneration} observed`,
    context,
  );

  switch (event.type) {
    case "SpecAccepted": {
      status = clearStallOnSpec(status, context);
      // notReady is something a run may still resolve (a Pending claim): while suspended no run pod will, so the
      // resource shows Suspended.
      if (event.suspended) {
        status = condition(status, "Ready", "True", REASONS.suspended, "valid; scheduled runs are suspended", context);
      } else if (event.notReady) {
        status = condition(status, "Ready", "False", event.notReady.reason, event.notReady.message, context);
      } else {
        status = condition(status, "Ready", "True", REASONS.ready, "valid and able to run", context);
      }
      if (event.nextScheduleTime !== undefined && !event.suspended) {
        status.nextScheduleTime = rfc3339Seconds(event.nextScheduleTime);
        status.nextScheduleTimeLocal = localTime(event.nextScheduleTime, event.timeZone ?? "UTC");
      } else {
        status = without(without(status, "nextScheduleTime"), "nextScheduleTimeLocal");
      }
      return status;
    }
    case "SpecInvalid": {
      const reason = event.reason ?? REASONS.invalidSpec;
      status = condition(status, "Ready", "False", reason, event.message, context);
      status = condition(status, "Stalled", "True", reason, event.message, context);
      return without(without(status, "nextScheduleTime"), "nextScheduleTimeLocal");
    }
    case "DependencyMissing": {
      status = clearStallOnSpec(status, context);
      return condition(status, "Ready", "False", event.reason, event.message, context);
    }
    case "SlotsSkipped": {
      if (event.count <= 0) return status;
      status.skippedSlots = (status.skippedSlots ?? 0) + event.count;
      status.lastSkippedSlotTime = later(status.lastSkippedSlotTime, rfc3339Seconds(event.latest));
      return status;
    }
    case "Blocked":
      return condition(
        status,
        "Blocked",
        "True",
        REASONS.datastoreLocked,
        `waiting for the datastore lock, held by ${event.holder}`,
        context,
      );
    case "Unblocked":
      return condition(status, "Blocked", "False", REASONS.notBlocked, "", context);
    case "RunStarted": {
      const { run } = event;
      if (isRecorded(status, run.jobName)) return status;
      status.activeRun = activeRunOf(run);
      if (run.trigger === "Schedule" && run.scheduledTime !== undefined) {
        status.lastScheduleTime = later(status.lastScheduleTime, rfc3339Seconds(run.scheduledTime));
      }
      if (run.trigger === "RunRequest" && run.runRequest !== undefined) status.lastHandledRunRequest = run.runRequest;
      status = condition(
        status,
        "Running",
        "True",
        REASONS.runStarting,
        `${run.jobName} started (${run.trigger}${run.dryRun ? ", dry run" : ""})`,
        context,
      );
      return condition(status, "Blocked", "False", REASONS.notBlocked, "", context);
    }
    case "RunProgress": {
      const active = status.activeRun;
      if (active === undefined || active.jobName !== event.jobName) return status;
      const { progress } = event;
      const next: ActiveRun = { ...active, phase: progress.phase };
      if (progress.podName !== undefined) next.podName = progress.podName;
      if (progress.engineStartTime !== undefined) next.engineStartTime = rfc3339Seconds(progress.engineStartTime);
      if (progress.phase === "Running") delete next.message;
      else next.message = shorten(progress.message, 2048);
      status.activeRun = next;
      const text = `${active.jobName}: ${progress.message}`;
      return condition(status, "Running", "True", progress.reason, text, context);
    }
    case "EngineProgress": {
      const active = status.activeRun;
      // Only the run it was read for, and only while that run's engine runs.
      if (active === undefined || active.jobName !== event.jobName || active.phase !== "Running") return status;
      status.activeRun = { ...active, progress: event.progress };
      return status;
    }
    case "RunFinished": {
      if (isRecorded(status, event.run.jobName)) return status;
      const outcome = OUTCOMES[event.result.result];
      // A successful dry run's own message only counts what it would remove (chunks and .bad copies together): the
      // counters say it the way a real run's message does.
      const own = outcome === "Succeeded" && event.result.dryRun ? undefined : event.result.message;
      const record = runRecord(
        event.run,
        event.completionTime,
        { result: outcome, reason: outcome, message: own ?? describeResult(event.result) },
        event.result,
      );
      return finishRun(status, record, context);
    }
    case "RunFailed": {
      if (isRecorded(status, event.run.jobName)) return status;
      const record = runRecord(event.run, event.completionTime, {
        result: "Failed",
        reason: event.reason,
        message: event.message,
      });
      return finishRun(status, record, context);
    }
  }
}

/** Several events in order. */
export function reduceStatusAll(
  previous: GarbageCollectionStatus | undefined,
  events: readonly StatusEvent[],
  context: ReduceContext,
): GarbageCollectionStatus {
  let status = previous;
  for (const event of events) status = reduceStatus(status, event, context);
  return status ?? withAllConditions({ observedGeneration: context.generation }, context);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The JSON merge patch (RFC 7386) that turns `previous` into `next`: changed keys, removed keys as null, objects
 * diffed recursively, arrays replaced whole. Undefined when nothing changed (skip the PATCH).
 */
export function mergePatch(previous: unknown, next: unknown): unknown {
  if (!isPlainObject(previous) || !isPlainObject(next)) {
    return JSON.stringify(previous) === JSON.stringify(next) ? undefined : next;
  }
  const patch: Record<string, unknown> = {};
  for (const key of Object.keys(previous)) {
    if (next[key] === undefined && previous[key] !== undefined) patch[key] = null;
  }
  for (const [key, value] of Object.entries(next)) {
    if (value === undefined) continue;
    const before = previous[key];
    if (before === undefined) {
      patch[key] = value;
      continue;
    }
    const change = mergePatch(before, value);
    if (change !== undefined) patch[key] = change;
  }
  return Object.keys(patch).length === 0 ? undefined : patch;
}

/** The body of a merge PATCH to /status, or undefined when the status did not change. */
export function statusMergePatch(
  previous: GarbageCollectionStatus | undefined,
  next: GarbageCollectionStatus,
): { status: unknown } | undefined {
  const change = mergePatch(previous ?? {}, next);
  return change === undefined ? undefined : { status: change };
}
