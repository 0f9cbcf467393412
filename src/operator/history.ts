import type { V1Job } from "@kubernetes/client-node";
import { toDate } from "../util/time.ts";
import { jobPhase } from "./job-observation.ts";

/**
 * History limits, pure: of a resource's finished Jobs whose result is already in its status, keep the newest
 * `successful` succeeded and `failed` failed ones; the rest are deleted. Running Jobs and Jobs not yet recorded are
 * never candidates (the caller passes only recorded ones, all owned by the resource).
 */
export function jobsToPrune(recordedJobs: readonly V1Job[], limits: { successful: number; failed: number }): string[] {
  const finishedAt = (job: V1Job) => {
    const phase = jobPhase(job);
    const time = phase.phase === "active" ? undefined : phase.completionTime;
    return (time ?? toDate(job.metadata?.creationTimestamp) ?? new Date(0)).getTime();
  };
  const newestFirst = [...recordedJobs].sort((a, b) => finishedAt(b) - finishedAt(a));
  const prune: string[] = [];
  let succeeded = 0;
  let failed = 0;
  for (const job of newestFirst) {
    const phase = jobPhase(job).phase;
    const name = job.metadata?.name;
    if (name === undefined || phase === "active") continue;
    if (phase === "succeeded") {
      succeeded += 1;
      if (succeeded > limits.successful) prune.push(name);
    } else {
      failed += 1;
      if (failed > limits.failed) prune.push(name);
    }
  }
  return prune;
}
