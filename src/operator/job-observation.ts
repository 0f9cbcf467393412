import type { V1Job, V1Pod } from "@kubernetes/client-node";
import { EXIT } from "../api/exit-codes.ts";
import { LABELS } from "../api/group.ts";
import type { GarbageCollectionStatus } from "../api/status.ts";
import { toDate } from "../util/time.ts";
import { ENGINE_CONTAINER_NAME, jobRunInfo } from "./job-builder.ts";
import { engineErrorLine, namesUnknownOption, parseRunResult } from "./run-result-parser.ts";
import { isRecorded, type RunInfo, type StatusEvent } from "./status.ts";

/**
 * What the operator learns from its Jobs and their pods, pure: which Jobs belong to a resource, whether a Job is
 * running or finished, and, for a finished one, the status event its pod's termination message (or, without one,
 * the engine's exit code or the Job's failure condition) amounts to.
 */

/** Labels the Job controller puts on a Job's pods. */
export const JOB_NAME_LABELS = ["batch.kubernetes.io/job-name", "job-name"] as const;

/** A Job belongs to a resource only when both its uid label and its controller owner reference name it. */
export function ownsJob(job: V1Job, resourceUid: string): boolean {
  if (job.metadata?.labels?.[LABELS.garbageCollectionUid] !== resourceUid) return false;
  return (job.metadata.ownerReferences ?? []).some((owner) => owner.controller === true && owner.uid === resourceUid);
}

/** The namespace/name of the resource that controls a Job (from its owner reference), if any. */
export function jobOwnerKey(job: V1Job): string | undefined {
  const owner = (job.metadata?.ownerReferences ?? []).find(
    (ref) => ref.controller === true && ref.kind === "GarbageCollection",
  );
  return owner && job.metadata?.namespace ? `${job.metadata.namespace}/${owner.name}` : undefined;
}

export type JobPhase =
  | { phase: "active" }
  | { phase: "succeeded"; completionTime: Date }
  | { phase: "failed"; completionTime: Date; reason: string; message: string };

export function jobPhase(job: V1Job): JobPhase {
  const conditions = job.status?.conditions ?? [];
  const fallback = toDate(job.metadata?.creationTimestamp) ?? new Date(0);
  const complete = conditions.find((c) => c.type === "Complete" && c.status === "True");
  if (complete) {
    return {
      phase: "succeeded",
      completionTime: toDate(job.status?.completionTime) ?? toDate(complete.lastTransitionTime) ?? fallback,
    };
  }
  const failed = conditions.find((c) => c.type === "Failed" && c.status === "True");
  if (failed) {
    return {
      phase: "failed",
      completionTime: toDate(failed.lastTransitionTime) ?? fallback,
      reason: failed.reason || "JobFailed",
      message: failed.message ?? "",
    };
  }
  return { phase: "active" };
}

export const isFinished = (job: V1Job) => jobPhase(job).phase !== "active";

export interface EngineTermination {
  exitCode: number;
  message?: string;
  reason?: string;
  finishedAt?: Date;
}

export function engineTermination(pod: V1Pod): EngineTermination | undefined {
  const status = pod.status?.containerStatuses?.find((container) => container.name === ENGINE_CONTAINER_NAME);
  const terminated = status?.state?.terminated;
  if (terminated === undefined) return undefined;
  const result: EngineTermination = { exitCode: terminated.exitCode };
  if (terminated.message) result.message = terminated.message;
  if (terminated.reason) result.reason = terminated.reason;
  const finishedAt = toDate(terminated.finishedAt);
  if (finishedAt) result.finishedAt = finishedAt;
  return result;
}

/** The Job's pods (by the Job controller's labels and owner reference), the most telling first. */
export function podsOfJob(job: V1Job, pods: readonly V1Pod[]): V1Pod[] {
  const name = job.metadata?.name;
  const uid = job.metadata?.uid;
  const mine = pods.filter((pod) => {
    if (pod.metadata?.namespace !== job.metadata?.namespace) return false;
    const labels = pod.metadata?.labels ?? {};
    if (!JOB_NAME_LABELS.some((label) => labels[label] === name)) return false;
    const owners = pod.metadata?.ownerReferences ?? [];
    return uid === undefined || owners.length === 0 || owners.some((owner) => owner.uid === uid);
  });
  const rank = (pod: V1Pod) => {
    const termination = engineTermination(pod);
    return termination ? (termination.finishedAt?.getTime() ?? 1) : 0;
  };
  return mine.sort((a, b) => rank(b) - rank(a));
}

/** True when the pod cannot change what it tells any more (its engine container has terminated). */
export function podSettled(pod: V1Pod | undefined): boolean {
  return pod !== undefined && engineTermination(pod) !== undefined;
}

const EXIT_REASONS: Record<number, { reason: string; text: string }> = {
  [EXIT.error]: { reason: "EngineError", text: "an error stopped the engine" },
  [EXIT.usage]: { reason: "EngineUsageError", text: "the engine refused a setting of this resource (usage error)" },
  [EXIT.safetyAbort]: { reason: "SafetyAbort", text: "a safety rule stopped the engine before any deletion" },
  [EXIT.lockBusy]: { reason: "EngineLockBusy", text: "another collector holds the datastore's lock object" },
  137: { reason: "EngineKilled", text: "the engine was killed (SIGKILL: out of memory or deadline?)" },
  143: { reason: "EngineTerminated", text: "the engine was stopped (SIGTERM)" },
};

/** Terminated reasons with which the runtime, not the engine, ended the container. */
export const RUNTIME_FAILURE_REASONS = new Set(["StartError", "ContainerCannotRun", "CreateContainerError"]);

export function exitCodeReason(exitCode: number): { reason: string; text: string } {
  return EXIT_REASONS[exitCode] ?? { reason: "EngineExitCode", text: `the engine exited with code ${exitCode}` };
}

/** True when the text is a JSON object with a version field: an engine result, however broken, not a log tail. */
function claimsToBeResult(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value) && "v" in value;
  } catch {
    return false;
  }
}

/** The status event for a finished Job: its result, or why there is none. */
export function finishedRunEvent(run: RunInfo, job: V1Job, pod: V1Pod | undefined): StatusEvent {
  const phase = jobPhase(job);
  if (phase.phase === "active") throw new Error(`job ${run.jobName} has not finished`);
  const { completionTime } = phase;
  const termination = pod ? engineTermination(pod) : undefined;
  const failed = (reason: string, message: string): StatusEvent => ({
    type: "RunFailed",
    run,
    completionTime,
    reason,
    message,
  });
  if (termination?.reason !== undefined && RUNTIME_FAILURE_REASONS.has(termination.reason)) {
    // The container runtime wrote this message, not the engine: its own words ("executable file not found") are
    // what the user needs, so they reach the status (shortened there), never replaced by a generic reason.
    const text = termination.message?.trim() || "no message from the runtime";
    return failed(
      termination.reason,
      `the container runtime could not start the engine (exit code ${termination.exitCode}): ${text}`,
    );
  }
  if (termination?.reason === "OOMKilled") {
    return failed("OOMKilled", "the engine ran out of memory (raise spec.runPod.resources.limits.memory)");
  }
  if (termination?.message !== undefined && termination.message.trim() !== "") {
    const parsed = parseRunResult(termination.message);
    if (parsed.ok) return { type: "RunFinished", run, completionTime, result: parsed.result };
    // A failed engine that wrote no result leaves its log tail here (FallbackToLogsOnError): its exit code and its
    // own error line tell what went wrong, not the parser.
    if (termination.exitCode === 0 || claimsToBeResult(termination.message)) {
      return failed(parsed.reason, `${parsed.message} (engine exit code ${termination.exitCode})`);
    }
    const said = engineErrorLine(termination.message);
    const { reason, text } = exitCodeReason(termination.exitCode);
    if (said === undefined) return failed(reason, `${text} (exit code ${termination.exitCode}) and wrote no result`);
    const hint =
      termination.exitCode === EXIT.usage && namesUnknownOption(said)
        ? " (the engine image does not know an option this operator passes: do operator and image versions differ?)"
        : "";
    return failed(reason, `${text} (exit code ${termination.exitCode}): ${said}${hint}`);
  }
  if (termination !== undefined) {
    if (termination.exitCode === 0) {
      return failed("ResultMissing", "the engine exited with code 0 but wrote no result to its termination message");
    }
    const { reason, text } = exitCodeReason(termination.exitCode);
    const jobMessage = phase.phase === "failed" && phase.message ? `; ${phase.message}` : "";
    return failed(reason, `${text} (exit code ${termination.exitCode}) and wrote no result${jobMessage}`);
  }
  if (phase.phase === "failed") {
    return failed(phase.reason, phase.message || "the Job failed before the engine ran");
  }
  return failed("ResultMissing", "the Job completed but its run pod is gone, with it the result");
}

export interface OwnedRuns {
  /** Running Jobs, oldest first, with their run info. */
  active: { job: V1Job; run: RunInfo }[];
  /** Finished Jobs the status does not account for yet, oldest first. */
  unrecorded: { job: V1Job; run: RunInfo }[];
  /** Finished Jobs already recorded (candidates for history cleanup). */
  recorded: V1Job[];
}

/**
 * Sorts a resource's Jobs. A finished Job counts as unrecorded only when it is the active run or started no earlier
 * than the latest recorded run (older ones fell out of the bounded history, they are not news).
 */
export function classifyOwnedJobs(jobs: readonly V1Job[], status: GarbageCollectionStatus | undefined): OwnedRuns {
  const lastStart = status?.lastRun ? Date.parse(status.lastRun.startTime) : undefined;
  const out: OwnedRuns = { active: [], unrecorded: [], recorded: [] };
  for (const job of jobs) {
    const run = jobRunInfo(job);
    if (run === undefined) continue;
    if (!isFinished(job)) {
      out.active.push({ job, run });
      continue;
    }
    const isActiveRun = status?.activeRun?.jobName === run.jobName;
    const news =
      !isRecorded(status, run.jobName) &&
      (isActiveRun || lastStart === undefined || Math.floor(run.startTime.getTime() / 1000) * 1000 >= lastStart);
    if (news) out.unrecorded.push({ job, run });
    else out.recorded.push(job);
  }
  const byStart = (a: { run: RunInfo }, b: { run: RunInfo }) => a.run.startTime.getTime() - b.run.startTime.getTime();
  out.active.sort(byStart);
  out.unrecorded.sort(byStart);
  return out;
}
