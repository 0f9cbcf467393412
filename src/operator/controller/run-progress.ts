import type { CoreV1Event, V1Job, V1Pod } from "@kubernetes/client-node";
import { toDate } from "../../util/time.ts";
import { ENGINE_CONTAINER_NAME } from "../job-builder.ts";
import { REASONS, type RunProgress } from "../status.ts";

/**
 * How far an active run got, pure: from its Job, the Job's pods and the Job's Events. A run that cannot start (the
 * image cannot be pulled, a referenced Secret or ConfigMap is missing, no node fits, the Job controller cannot create
 * the pod) is named by the reason Kubernetes gives and its own text, so that the status says what to fix; after
 * `startTimeout` the controller ends it (the engine never ran, so nothing is interrupted) and the datastore's
 * Lease is free again.
 */

/** Container waiting reasons that do not clear up by waiting a few seconds. */
export const STUCK_WAITING_REASONS = new Set([
  "ErrImagePull",
  "ImagePullBackOff",
  "InvalidImageName",
  "ErrImageNeverPull",
  "CreateContainerConfigError",
  "CreateContainerError",
  "RunContainerError",
  "PreCreateHookError",
  "PreStartHookError",
]);

export interface RunObservation extends RunProgress {
  /** For CannotStart: since when (the pod's or the Event's time), to end the run after the start timeout. */
  since?: Date;
}

function engineStatus(pod: V1Pod) {
  return pod.status?.containerStatuses?.find((container) => container.name === ENGINE_CONTAINER_NAME);
}

/** The latest FailedCreate Event of the Job (the Job controller reports there why it cannot create the pod). */
function failedCreate(job: V1Job, events: readonly CoreV1Event[]): CoreV1Event | undefined {
  const uid = job.metadata?.uid;
  const time = (event: CoreV1Event) =>
    toDate(event.lastTimestamp)?.getTime() ?? toDate(event.eventTime)?.getTime() ?? 0;
  return events
    .filter((event) => event.reason === "FailedCreate" && (uid === undefined || event.involvedObject.uid === uid))
    .sort((a, b) => time(b) - time(a))[0];
}

export function observeRun(job: V1Job, pods: readonly V1Pod[], events: readonly CoreV1Event[]): RunObservation {
  const jobStart = toDate(job.metadata?.creationTimestamp);
  const pod = pods[0];
  if (pod === undefined) {
    const event = failedCreate(job, events);
    if (event !== undefined) {
      const since = toDate(event.firstTimestamp) ?? toDate(event.eventTime) ?? jobStart;
      return {
        phase: "CannotStart",
        reason: "FailedCreate",
        message: `the Job cannot create the run pod: ${event.message ?? "(no message)"}`,
        ...(since ? { since } : {}),
      };
    }
    return { phase: "Starting", reason: REASONS.runStarting, message: "waiting for the Job to create the run pod" };
  }
  const podName = pod.metadata?.name ?? "";
  const podStart = toDate(pod.metadata?.creationTimestamp) ?? jobStart;
  const state = engineStatus(pod)?.state;
  if (state?.running || state?.terminated) {
    const started = toDate(state.running?.startedAt ?? state.terminated?.startedAt);
    return {
      phase: "Running",
      reason: REASONS.runInProgress,
      message: `the engine runs in pod ${podName}`,
      podName,
      ...(started ? { engineStartTime: started } : {}),
    };
  }
  const waiting = state?.waiting;
  if (waiting?.reason && STUCK_WAITING_REASONS.has(waiting.reason)) {
    return {
      phase: "CannotStart",
      reason: waiting.reason,
      message: `pod ${podName}: ${waiting.message ?? waiting.reason}`,
      podName,
      ...(podStart ? { since: podStart } : {}),
    };
  }
  const scheduled = pod.status?.conditions?.find((condition) => condition.type === "PodScheduled");
  if (scheduled?.status === "False" && scheduled.reason === "Unschedulable") {
    const since = toDate(scheduled.lastTransitionTime) ?? podStart;
    return {
      phase: "CannotStart",
      reason: "Unschedulable",
      message: `pod ${podName} cannot be scheduled: ${scheduled.message ?? "no node fits"}`,
      podName,
      ...(since ? { since } : {}),
    };
  }
  const detail = waiting?.reason ? ` (${waiting.reason}${waiting.message ? `: ${waiting.message}` : ""})` : "";
  return { phase: "Starting", reason: REASONS.runStarting, message: `pod ${podName} is starting${detail}`, podName };
}

/** Whether a run that cannot start has waited long enough to be ended. */
export function startTimedOut(observation: RunObservation, now: Date, startTimeoutMs: number): boolean {
  if (observation.phase !== "CannotStart" || observation.since === undefined) return false;
  return now.getTime() - observation.since.getTime() >= startTimeoutMs;
}
