import type { Condition, ConditionType, GarbageCollectionStatus, RunRecord } from "../../api/status.ts";
import { rfc3339Seconds } from "../../util/time.ts";
import type { EventNote } from "../runtime/events.ts";
import type { RunInfo } from "../status.ts";
import { findCondition, REASONS } from "../status.ts";

/**
 * The Events the operator emits for its decisions, pure: what to say, and whether a condition change is news (so
 * that a resource blocked for an hour gets one Blocked event, not one per retry).
 */

const jobRef = (namespace: string, jobName: string) => ({
  apiVersion: "batch/v1",
  kind: "Job",
  name: jobName,
  namespace,
});

function describeRun(run: RunInfo): string {
  const what =
    run.trigger === "Schedule" && run.scheduledTime
      ? `the slot ${rfc3339Seconds(run.scheduledTime)}`
      : run.trigger === "RunRequest"
        ? `run request ${JSON.stringify(run.runRequest ?? "")}`
        : `generation ${run.generation}`;
  return `${what}${run.dryRun ? ", dry run" : ""}`;
}

export function runStartedEvent(namespace: string, run: RunInfo): EventNote {
  return {
    type: "Normal",
    reason: "RunStarted",
    action: "StartRun",
    note: `created Job ${run.jobName} for ${describeRun(run)}`,
    related: jobRef(namespace, run.jobName),
  };
}

export function runAdoptedEvent(namespace: string, run: RunInfo): EventNote {
  return {
    type: "Normal",
    reason: "RunAdopted",
    action: "AdoptRun",
    note: `found the running Job ${run.jobName} (${describeRun(run)}) and follows it`,
    related: jobRef(namespace, run.jobName),
  };
}

const FINISH_REASONS: Record<RunRecord["result"], { reason: string; type: EventNote["type"] }> = {
  Succeeded: { reason: "RunSucceeded", type: "Normal" },
  Failed: { reason: "RunFailed", type: "Warning" },
  Aborted: { reason: "RunAborted", type: "Warning" },
  LockBusy: { reason: "RunLockBusy", type: "Warning" },
};

export function runFinishedEvent(namespace: string, record: RunRecord): EventNote {
  const { reason, type } = FINISH_REASONS[record.result];
  const why = record.result === "Succeeded" || record.reason === record.result ? "" : ` (${record.reason})`;
  return {
    type,
    reason,
    action: "RecordRun",
    note: `${record.jobName}${why}: ${record.message ?? record.reason}`,
    related: jobRef(namespace, record.jobName),
  };
}

/** A run whose pod cannot start: the reason Kubernetes gives (ImagePullBackOff, Unschedulable, FailedCreate, …). */
export function runCannotStartEvent(namespace: string, jobName: string, reason: string, message: string): EventNote {
  return {
    type: "Warning",
    reason,
    action: "ObserveRun",
    note: `${jobName} cannot start: ${message}`,
    related: jobRef(namespace, jobName),
  };
}

export function slotsSkippedEvent(
  skipped: { count: number; latest: Date; capped: boolean },
  startingDeadlineSeconds: number | undefined,
): EventNote {
  const count = `${skipped.capped ? "at least " : ""}${skipped.count}`;
  const why =
    startingDeadlineSeconds === undefined
      ? "missed slots run at most once"
      : `missed slots older than startingDeadlineSeconds (${startingDeadlineSeconds}) do not run`;
  return {
    type: "Warning",
    reason: "RunSkipped",
    action: "Schedule",
    note: `skipped ${count} schedule slot${skipped.count === 1 ? "" : "s"}, the latest ${rfc3339Seconds(skipped.latest)}: ${why}`,
  };
}

/** "store s in bucket b at https://…" from the canonical identity (datastoreKey's JSON triple). */
export function describeDatastore(datastoreKey: string): string {
  try {
    const [endpoint, bucket, store] = JSON.parse(datastoreKey) as [string, string, string];
    return `store ${store} in bucket ${bucket} at ${endpoint}`;
  } catch {
    return datastoreKey;
  }
}

export function blockedEvent(holder: string, datastoreKey: string): EventNote {
  return {
    type: "Normal",
    reason: "Blocked",
    action: "Lock",
    note: `a due run waits: ${holder} is collecting the same datastore (${describeDatastore(datastoreKey)})`,
  };
}

export function invalidSpecEvent(message: string, reason: string = REASONS.invalidSpec): EventNote {
  return { type: "Warning", reason, action: "Validate", note: message };
}

export function dependencyEvent(reason: string, message: string): EventNote {
  return { type: "Warning", reason, action: "CheckDependencies", note: message };
}

export function claimCreatedEvent(claimName: string, owned: boolean): EventNote {
  return {
    type: "Normal",
    reason: "ClaimCreated",
    action: "CreateClaim",
    note: `created the marker-cache PersistentVolumeClaim ${claimName}${owned ? " (deleted with this resource)" : " (kept when this resource is deleted)"}`,
  };
}

export function serviceAccountCreatedEvent(name: string): EventNote {
  return {
    type: "Normal",
    reason: "ServiceAccountCreated",
    action: "CreateServiceAccount",
    note: `created the run ServiceAccount ${name} (no API rights, no token mounted)`,
  };
}

export function historyPrunedEvent(jobNames: readonly string[]): EventNote {
  return {
    type: "Normal",
    reason: "HistoryPruned",
    action: "PruneHistory",
    note: `deleted ${jobNames.length} finished Job${jobNames.length === 1 ? "" : "s"} beyond the history limits: ${jobNames.join(", ")}`,
  };
}

export function jobNameConflictEvent(jobName: string): EventNote {
  return {
    type: "Warning",
    reason: "JobNameConflict",
    action: "StartRun",
    note: `a Job named ${jobName} exists but does not belong to this resource; no run can start for this trigger until it is removed`,
  };
}

/** True when the condition's status, reason or message differs between the two statuses. */
export function conditionChanged(
  previous: GarbageCollectionStatus | undefined,
  next: GarbageCollectionStatus,
  type: ConditionType,
): boolean {
  const a: Condition | undefined = findCondition(previous, type);
  const b = findCondition(next, type);
  return a?.status !== b?.status || a?.reason !== b?.reason || a?.message !== b?.message;
}
