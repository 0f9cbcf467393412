import { RUN_REQUESTED_ANNOTATION } from "../api/group.ts";
import { pendingRunRequest } from "../api/run-request.ts";
import type { GarbageCollectionStatus } from "../api/status.ts";
import { type RunIdentity, runJobName } from "./job-builder.ts";
import { type CronSchedule, planSchedule } from "./schedule.ts";

/**
 * Which run (if any) is due for a resource now, pure. At most one; the rest waits for the next reconcile:
 * 1. a new value of the `chunkgc.io/run-requested` annotation (it also satisfies a pending generation run);
 * 2. without a schedule: one run per spec generation (a run of any trigger at this generation counts);
 * 3. with a schedule: the latest missed slot (planSchedule: at most one catch-up, older slots skipped and counted,
 *    a slot older than startingDeadlineSeconds skipped).
 * Suspended resources start nothing and plan no slots; on resume, like a CronJob, the latest missed slot (within
 * startingDeadlineSeconds) runs once and the others count as skipped. A run request made while suspended runs after
 * the resume.
 */

export interface TriggerInput {
  name: string;
  generation: number;
  creationTime: Date;
  annotations?: Readonly<Record<string, string>>;
  suspend: boolean;
  startingDeadlineSeconds?: number;
  schedule?: CronSchedule;
  status?: GarbageCollectionStatus;
  /** Names of the resource's Jobs that exist (any state). */
  jobNames: ReadonlySet<string>;
  now: Date;
}

export interface TriggerPlan {
  /** The run to start now (if the datastore is free and nothing runs). */
  run?: RunIdentity;
  /** Slots that will never run, to record (SlotsSkipped) and announce. */
  skipped?: { count: number; latest: Date; capped: boolean };
  /** The next schedule slot (absent without schedule or when suspended): where to requeue. */
  nextScheduleTime?: Date;
}

const optionalDate = (value: string | undefined) => (value === undefined ? undefined : new Date(value));

export function generationRunDone(input: TriggerInput): boolean {
  const { status, generation } = input;
  if ((status?.activeRun?.generation ?? -1) >= generation) return true;
  if ((status?.lastRun?.generation ?? -1) >= generation) return true;
  return input.jobNames.has(runJobName(input.name, { trigger: "Generation", generation }));
}

export function planTrigger(input: TriggerInput): TriggerPlan {
  const plan: TriggerPlan = {};
  const { status, schedule } = input;
  let slot: Date | undefined;
  if (schedule !== undefined && !input.suspend) {
    const lastScheduleTime = optionalDate(status?.lastScheduleTime);
    const lastSkippedSlotTime = optionalDate(status?.lastSkippedSlotTime);
    const schedulePlan = planSchedule({
      schedule,
      now: input.now,
      creationTime: input.creationTime,
      lastScheduleTime,
      lastSkippedSlotTime,
      startingDeadlineSeconds: input.startingDeadlineSeconds,
    });
    plan.nextScheduleTime = schedulePlan.nextSlot;
    if (schedulePlan.skippedSlots > 0 && schedulePlan.latestSkippedSlot !== undefined) {
      plan.skipped = {
        count: schedulePlan.skippedSlots,
        latest: schedulePlan.latestSkippedSlot,
        capped: schedulePlan.countCapped,
      };
    }
    slot = schedulePlan.runSlot;
  }
  if (input.suspend) return plan;

  const previous = status?.lastHandledRunRequest;
  const request = pendingRunRequest(input.annotations, previous, RUN_REQUESTED_ANNOTATION);
  if (request !== undefined) {
    plan.run = {
      trigger: "RunRequest",
      runRequest: request,
      // An output compared as a whole: no undefined key.
      ...(previous !== undefined ? { previousRunRequest: previous } : {}),
    };
  } else if (schedule === undefined && !generationRunDone(input)) {
    plan.run = { trigger: "Generation", generation: input.generation };
  } else if (slot !== undefined) {
    plan.run = { trigger: "Schedule", scheduledTime: slot };
  }
  return plan;
}
