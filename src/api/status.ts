import { z } from "zod";
import { RunCountersSchema, RunIndexCacheSchema, RunPhasesSchema, RunRequestsSchema } from "./run-result.ts";

/**
 * `status` of a GarbageCollection, written only by the operator (merge patches of /status). Times are RFC 3339 UTC
 * strings with second precision, as Kubernetes writes them.
 */

const time = (description: string) => z.iso.datetime().describe(description);
const count = (description: string) => z.int().nonnegative().describe(description);

export const CONDITION_TYPES = ["Ready", "Reconciling", "Stalled", "Running", "LastRunSucceeded", "Blocked"] as const;
export const ConditionTypeSchema = z.enum(CONDITION_TYPES);
export type ConditionType = z.infer<typeof ConditionTypeSchema>;
export const ConditionStatusSchema = z.enum(["True", "False", "Unknown"]);
export type ConditionStatus = z.infer<typeof ConditionStatusSchema>;

/** metav1.Condition. */
export const ConditionSchema = z
  .object({
    type: z
      .string()
      .min(1)
      .max(316)
      .describe(
        "Ready: the spec is valid and what it names exists. Reconciling (kstatus): True only while the operator has " +
          "not yet acted on the latest spec generation. Stalled: the resource cannot make progress without a change " +
          "(invalid spec, repeated failures). Running: a run is in progress (its reason tells whether it is starting, " +
          "running or cannot start). LastRunSucceeded: the outcome of the latest finished run. Blocked: a run waits " +
          "for the datastore lock.",
      ),
    status: ConditionStatusSchema.describe("True, False or Unknown."),
    observedGeneration: z
      .int()
      .nonnegative()
      .optional()
      .describe("metadata.generation the condition was computed from."),
    lastTransitionTime: time("When status last changed."),
    reason: z
      .string()
      .min(1)
      .max(1024)
      .regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/)
      .describe("Machine-readable CamelCase reason for the status."),
    message: z.string().max(32768).describe("Human-readable details."),
  })
  .describe("A condition of the resource (metav1.Condition).");
export type Condition = z.infer<typeof ConditionSchema>;

export const RUN_TRIGGERS = ["Schedule", "RunRequest", "Generation"] as const;
export const RunTriggerSchema = z
  .enum(RUN_TRIGGERS)
  .describe(
    "What started the run: Schedule (a cron slot), RunRequest (a new chunkgc.io/run-requested annotation value) or " +
      "Generation (a resource without schedule runs once per spec change).",
  );
export type RunTrigger = z.infer<typeof RunTriggerSchema>;

export const RUN_OUTCOMES = ["Succeeded", "Failed", "Aborted", "LockBusy"] as const;
export const RunOutcomeSchema = z
  .enum(RUN_OUTCOMES)
  .describe(
    "Succeeded; Failed (an error, or no valid result from the run pod); Aborted (a safety rule stopped the run " +
      "before any deletion); LockBusy (another collector held the datastore's lock object).",
  );
export type RunOutcome = z.infer<typeof RunOutcomeSchema>;

const runIdentityFields = {
  jobName: z.string().min(1).max(63).describe("Name of the run's Job."),
  trigger: RunTriggerSchema,
  scheduledTime: time("The schedule slot the run is for (trigger Schedule).").optional(),
  runRequest: z
    .string()
    .max(300)
    .optional()
    .describe("The chunkgc.io/run-requested value the run handles (trigger RunRequest)."),
  generation: z.int().nonnegative().describe("metadata.generation of the spec the run uses."),
  startTime: time("When the operator created the run's Job."),
  dryRun: z.boolean().describe("Whether the run only reports what it would delete."),
};

export const ACTIVE_RUN_PHASES = ["Starting", "Running", "CannotStart"] as const;
export const ActiveRunPhaseSchema = z
  .enum(ACTIVE_RUN_PHASES)
  .describe(
    "Starting (the Job waits for its pod, the image is pulled), Running (the engine runs) or CannotStart (the pod " +
      "cannot start: image pull, configuration, scheduling or pod creation fails; see the Running condition).",
  );
export type ActiveRunPhase = z.infer<typeof ActiveRunPhaseSchema>;

export const EngineProgressSchema = z
  .object({
    phase: z.string().min(1).max(32).describe("The engine's phase: mark (index files) or sweep (chunk keys)."),
    done: count("Objects done in the phase: index files in mark, listed chunk keys in sweep."),
    total: count("Objects the phase has in all (sweep: an estimate, see estimated).").optional(),
    estimated: z.boolean().optional().describe("The total is an estimate (the chunks the mark phase expects)."),
    percent: z.int().min(0).max(100).optional().describe("done / total in percent (never 100 from an estimate)."),
    ratePerSecond: count("Objects per second in the phase so far."),
    etaSeconds: count("Seconds the phase still needs at its rate so far.").optional(),
    text: z
      .string()
      .max(128)
      .describe('The progress in a few words, as `kubectl get` shows it ("sweep 62% ETA 0:14").'),
    loggedAt: time("When the engine logged this progress."),
  })
  .describe("The latest progress the engine logged (read from the run pod's log), while the engine runs.");
export type EngineProgress = z.infer<typeof EngineProgressSchema>;

export const ActiveRunSchema = z
  .object({
    ...runIdentityFields,
    phase: ActiveRunPhaseSchema.optional(),
    progress: EngineProgressSchema.optional(),
    podName: z.string().max(253).optional().describe("The run pod, once it exists."),
    engineStartTime: time("When the engine container started.").optional(),
    message: z
      .string()
      .max(2048)
      .optional()
      .describe("Why the run is not running yet (the kubelet's or container runtime's own text, shortened)."),
  })
  .describe("The run in progress.");
export type ActiveRun = z.infer<typeof ActiveRunSchema>;

export const StatusSummarySchema = z
  .object({
    dedupFactor: z.number().nonnegative().describe("Original data size / on-disk size, 2 decimals."),
    onDiskPercent: z.number().nonnegative().describe("On-disk size as a percentage of the original data size."),
    averageChunkSize: count("Average size of the chunks in use, in bytes."),
    originalSize: z.string().describe('Original data size in binary units ("269.685 GiB").'),
    onDiskSize: z.string().describe('Size of the chunks in use ("9.018 GiB").'),
    removedSize: z.string().describe("Size of the chunks removed (or, in a dry run, that would be removed)."),
    pendingSize: z.string().describe("Size of the unreferenced chunks kept for running backups."),
  })
  .describe("The summary Proxmox Backup Server prints after GC, derived from the counters.");
export type StatusSummary = z.infer<typeof StatusSummarySchema>;

export const RunRecordSchema = z
  .object({
    ...runIdentityFields,
    completionTime: time("When the run finished (or was found failed)."),
    durationSeconds: count("Seconds from startTime to completionTime."),
    result: RunOutcomeSchema,
    reason: z
      .string()
      .min(1)
      .max(128)
      .describe("CamelCase reason: the outcome, or why the operator has no result (ResultMalformed, JobFailed, …)."),
    message: z.string().max(2048).optional().describe("What happened, for humans."),
    engineStartedAt: time("When the engine started working, by its own clock.").optional(),
    engineFinishedAt: time("When the engine finished, by its own clock.").optional(),
    counters: RunCountersSchema.optional().describe("The garbage-collection counters (absent without a result)."),
    summary: StatusSummarySchema.optional(),
    phases: RunPhasesSchema.optional().describe("Duration of each phase."),
    requests: RunRequestsSchema.optional().describe("S3 requests by kind (what the provider bills)."),
    bytesDownloaded: count("Bytes downloaded from S3.").optional(),
    indexCache: RunIndexCacheSchema.optional().describe("Index cache hits and misses."),
    heldBack: z
      .record(z.string(), z.int().nonnegative())
      .optional()
      .describe("Chunks held back per safety rule (rule name → chunks)."),
    estimatedCostUsd: z.number().nonnegative().optional().describe("Estimated S3 request cost in US dollars."),
  })
  .describe("A finished run.");
export type RunRecord = z.infer<typeof RunRecordSchema>;

export const HISTORY_LIMIT = 10;
export const HISTORY_MESSAGE_LIMIT = 256;

export const RunHistoryEntrySchema = z
  .object({
    jobName: z.string().min(1).max(63).describe("Name of the run's Job."),
    trigger: RunTriggerSchema,
    scheduledTime: time("The schedule slot of the run.").optional(),
    startTime: time("When the run started."),
    completionTime: time("When the run finished."),
    result: RunOutcomeSchema,
    reason: z.string().min(1).max(128).describe("CamelCase reason of the outcome."),
    message: z.string().max(HISTORY_MESSAGE_LIMIT).optional().describe("What happened (shortened)."),
    dryRun: z.boolean().describe("Whether it was a dry run."),
    removedChunks: count("Chunks removed.").optional(),
    removedBytes: count("Bytes removed.").optional(),
    pendingChunks: count("Chunks pending.").optional(),
    pendingBytes: count("Bytes pending.").optional(),
  })
  .describe("One finished run, in short.");
export type RunHistoryEntry = z.infer<typeof RunHistoryEntrySchema>;

export const GarbageCollectionStatusSchema = z
  .object({
    observedGeneration: z.int().nonnegative().optional().describe("metadata.generation the operator last acted on."),
    conditions: z
      .array(ConditionSchema)
      .max(16)
      .optional()
      .meta({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"] })
      .describe("Ready, Reconciling, Stalled, Running, LastRunSucceeded and Blocked."),
    lastScheduleTime: time("The latest schedule slot a run was started for.").optional(),
    nextScheduleTime: time("The next schedule slot (absent when suspended or without schedule).").optional(),
    nextScheduleTimeLocal: z
      .string()
      .max(128)
      .optional()
      .describe('The next schedule slot in spec.timeZone, for people ("2026-11-30 03:30 CET").'),
    skippedSlots: count("Schedule slots skipped in total (missed beyond one catch-up run, or too late).").optional(),
    lastSkippedSlotTime: time("The latest skipped schedule slot.").optional(),
    lastHandledRunRequest: z
      .string()
      .max(300)
      .optional()
      .describe("The chunkgc.io/run-requested annotation value last handled (a new value starts one run)."),
    activeRun: ActiveRunSchema.optional(),
    lastRun: RunRecordSchema.optional().describe("The latest finished run, with all its counters."),
    lastSuccessfulTime: time("When the latest successful run finished.").optional(),
    consecutiveFailures: count("Failed runs since the last successful one.").optional(),
    history: z
      .array(RunHistoryEntrySchema)
      .max(HISTORY_LIMIT)
      .optional()
      .describe(`The latest ${HISTORY_LIMIT} finished runs, newest first.`),
  })
  .describe("Observed state, written by the operator.");
export type GarbageCollectionStatus = z.infer<typeof GarbageCollectionStatusSchema>;
