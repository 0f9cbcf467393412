import type {
  CoreV1Event,
  KubernetesObject,
  V1EnvVar,
  V1Job,
  V1PersistentVolumeClaim,
  V1Pod,
} from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { GarbageCollectionMeta } from "../../api/garbage-collection.ts";
import { API_VERSION, GROUP, KIND, LABELS, PLURAL, VERSION } from "../../api/group.ts";
import type { ActiveRun, GarbageCollectionStatus, RunRecord } from "../../api/status.ts";
import { toDate } from "../../util/time.ts";
import { type DatastorePolicy, datastoreRefusal } from "../datastore-policy.ts";
import {
  caBundleProblem,
  claimProblem,
  credentialsProblem,
  type DependencyProblem,
  runPodsUsingClaim,
  SELECTED_NODE_ANNOTATION,
  waitsForFirstConsumer,
} from "../dependencies.ts";
import { jobsToPrune } from "../history.ts";
import type { RunPodDefaults, RunResource } from "../job-builder.ts";
import {
  classifyOwnedJobs,
  finishedRunEvent,
  isFinished,
  JOB_NAME_LABELS,
  jobOwnerKey,
  ownsJob,
  podSettled,
  podsOfJob,
} from "../job-observation.ts";
import { planTrigger, type TriggerPlan } from "../run-trigger.ts";
import type { EventNote, EventRecorder } from "../runtime/events.ts";
import { callOptions, describeApiError, isNotFound, type KubeClients } from "../runtime/kube-api.ts";
import {
  findCondition,
  isRecorded,
  REASONS,
  type ReduceContext,
  type RunInfo,
  reduceStatus,
  type StatusEvent,
  statusMergePatch,
} from "../status.ts";
import { readMeta, readStatus, type ValidResource, validateSpec } from "../validate.ts";
import { ensureMarkerCacheClaim } from "./claim.ts";
import type { DatastoreLeases } from "./datastore-leases.ts";
import {
  blockedEvent,
  claimCreatedEvent,
  conditionChanged,
  dependencyEvent,
  historyPrunedEvent,
  invalidSpecEvent,
  jobNameConflictEvent,
  runAdoptedEvent,
  runCannotStartEvent,
  runFinishedEvent,
  runStartedEvent,
  serviceAccountCreatedEvent,
  slotsSkippedEvent,
} from "./decision-events.ts";
import { EngineProgressReader } from "./engine-progress.ts";
import type { OperatorMetrics } from "./metrics.ts";
import { observeRun, startTimedOut } from "./run-progress.ts";
import { ensureRunServiceAccount } from "./run-service-account.ts";
import { startRun } from "./run-start.ts";

/**
 * The reconcile of one GarbageCollection: observe its Jobs (record finished runs, adopt running ones), validate the
 * spec, check what it names, decide the due run, take the datastore's Lease and start the Job, prune history,
 * merge-patch /status, emit Events. Decisions come from the pure modules; this file only sequences them and talks
 * to the API.
 */

export type GarbageCollectionObject = KubernetesObject & { spec?: unknown; status?: unknown };

export interface ReadCache<T> {
  get(name: string, namespace?: string): T | undefined;
  list(namespace?: string): readonly T[];
}

export interface ReconcilerOptions {
  readonly clients: KubeClients;
  readonly resources: ReadCache<GarbageCollectionObject>;
  readonly jobs: ReadCache<V1Job>;
  readonly pods: ReadCache<V1Pod>;
  readonly leases: DatastoreLeases;
  readonly recorder: EventRecorder;
  readonly metrics: OperatorMetrics;
  readonly log: Logger;
  readonly runPodDefaults: RunPodDefaults;
  readonly runEnv: readonly V1EnvVar[];
  /** The namespaces watched, or undefined for all. */
  readonly watchNamespaces: readonly string[] | undefined;
  /** How soon a run blocked by another resource's Lease is retried (a release wakes it earlier). */
  readonly blockedRetryMs: number;
  /** How long a run's pod may be unable to start (image pull, scheduling, …) before the run is ended. */
  readonly startTimeoutMs: number;
  /** Which datastores each namespace may name; undefined: any. */
  readonly datastorePolicy?: DatastorePolicy | undefined;
  readonly enqueue: (key: string) => void;
}

export interface ReconcileResult {
  /** Reconcile again after this long (next slot, lease renewal, blocked retry). */
  requeueAfterMs?: number;
  /** Retry with the key's exponential backoff (a dependency is missing, a Job name is taken). */
  backoff?: boolean;
}

/** Past a slot by this much before it counts as due (timers fire a little early or late). */
const SLOT_SLACK_MS = 500;

export function splitKey(key: string): [string, string] {
  const slash = key.indexOf("/");
  return [key.slice(0, slash), key.slice(slash + 1)];
}

function runInfoOf(active: ActiveRun): RunInfo {
  const run: RunInfo = {
    jobName: active.jobName,
    trigger: active.trigger,
    generation: active.generation,
    startTime: new Date(active.startTime),
    dryRun: active.dryRun,
  };
  if (active.scheduledTime) run.scheduledTime = new Date(active.scheduledTime);
  if (active.runRequest !== undefined) run.runRequest = active.runRequest;
  return run;
}

/** The status being worked out in one reconcile, the Events to emit with it, and the runs it records. */
class StatusDraft {
  readonly previous: GarbageCollectionStatus | undefined;
  status: GarbageCollectionStatus | undefined;
  readonly notes: EventNote[] = [];
  readonly recorded: RunRecord[] = [];
  readonly #context: ReduceContext;
  readonly #namespace: string;

  constructor(previous: GarbageCollectionStatus | undefined, context: ReduceContext, namespace: string) {
    this.previous = previous;
    this.status = previous;
    this.#context = context;
    this.#namespace = namespace;
  }

  apply(event: StatusEvent): void {
    const before = this.status;
    this.status = reduceStatus(before, event, this.#context);
    if (event.type === "RunFinished" || event.type === "RunFailed") {
      const record = this.status.lastRun;
      if (record?.jobName === event.run.jobName && !isRecorded(before, record.jobName)) {
        this.recorded.push(record);
        this.notes.push(runFinishedEvent(this.#namespace, record));
      }
    }
  }

  note(event: EventNote): void {
    this.notes.push(event);
  }

  changed(type: Parameters<typeof conditionChanged>[2]): boolean {
    return this.status !== undefined && conditionChanged(this.previous, this.status, type);
  }
}

/** One reconcile of one resource: what it read, and what it decided so far. */
interface Pass {
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  readonly raw: GarbageCollectionObject;
  readonly meta: GarbageCollectionMeta;
  readonly now: Date;
  readonly draft: StatusDraft;
  /** Candidate delays until the next reconcile; the shortest positive one wins. */
  readonly requeue: number[];
  /** Retry with the key's backoff instead (a dependency is missing, the run's Job name is taken). */
  backoff: boolean;
}

/** What the resource's Jobs say. */
interface ObservedJobs {
  /** The resource's Jobs (names taken, for the trigger). */
  readonly owned: readonly V1Job[];
  /** Finished Jobs already recorded in the status: the history to prune. */
  readonly recorded: readonly V1Job[];
  /** The run in progress, if any (after one that could not start was ended). */
  readonly running: { job: V1Job; run: RunInfo } | undefined;
}

/** A spec that passed validation and the datastore policy. */
interface CheckedSpec {
  readonly valid: ValidResource;
  readonly resource: RunResource;
}

export class Reconciler {
  readonly #o: ReconcilerOptions;
  /** Status patch responses newer than the informer's copy (which lags behind our own writes). */
  readonly #written = new Map<string, { basedOn: string | undefined; object: GarbageCollectionObject }>();

  /** The running engine's progress, from its pod's log. */
  readonly #engineProgress: EngineProgressReader;

  constructor(options: ReconcilerOptions) {
    this.#o = options;
    this.#engineProgress = new EngineProgressReader(options.clients.core, options.log);
  }

  /**
   * The steps in order. Each works on the same status draft; Events wait in the draft until the status is
   * committed, so an Event never tells of a status that failed to be written. A spec that cannot run stops after
   * its check, but the status still records what the Jobs said.
   */
  async reconcile(key: string): Promise<ReconcileResult> {
    const pass = await this.#begin(key);
    if (pass === undefined) return {};
    const jobs = await this.#observeJobs(pass);
    const checked = this.#checkSpec(pass, jobs);
    if (checked === undefined) return this.#commitStatus(pass, jobs);
    const problem = await this.#checkDependencies(pass, checked.resource);
    const plan = this.#planRun(pass, checked, jobs, problem);
    await this.#admitAndStart(pass, checked, jobs.running, plan, problem);
    await this.#pruneHistory(pass, checked.resource.spec, jobs.recorded);
    return this.#commitStatus(pass, jobs, plan, problem);
  }

  /** The resource to reconcile; undefined when there is nothing to do (gone, being deleted, unusable metadata). */
  async #begin(key: string): Promise<Pass | undefined> {
    const [namespace, name] = splitKey(key);
    const raw = this.#current(key, namespace, name);
    if (raw === undefined) {
      await this.#gone(key);
      return undefined;
    }
    const meta = readMeta(raw);
    if (meta === undefined) {
      this.#o.log.warn({ key }, "ignoring a GarbageCollection without usable metadata");
      return undefined;
    }
    if (meta.deletionTimestamp) {
      await this.#gone(key);
      return undefined;
    }
    const now = new Date();
    const draft = new StatusDraft(readStatus(raw), { generation: meta.generation, now }, namespace);
    return { key, namespace, name, raw, meta, now, draft, requeue: [], backoff: false };
  }

  /**
   * What the Jobs say, first, whatever the spec says now: a run that finished is recorded (and its Lease released
   * further on) even if the spec has since become invalid. A run whose Job vanished is failed as JobDeleted, a
   * running Job the status does not know is adopted, and a run that cannot start in time is ended.
   */
  async #observeJobs(pass: Pass): Promise<ObservedJobs> {
    const { draft, namespace, now } = pass;
    const jobs = await this.#ownedJobs(pass.meta, draft.status);
    const runs = classifyOwnedJobs(jobs.owned, draft.status);
    if (jobs.activeRunDeleted && draft.status?.activeRun) {
      const active = draft.status.activeRun;
      draft.apply({
        type: "RunFailed",
        run: runInfoOf(active),
        completionTime: now,
        reason: REASONS.jobDeleted,
        message: `the Job ${active.jobName} was deleted before it finished; its result is lost`,
      });
    }
    for (const { job, run } of runs.unrecorded) draft.apply(finishedRunEvent(run, job, await this.#podOf(job)));
    let running = runs.active[0];
    if (running && draft.status?.activeRun?.jobName !== running.run.jobName) {
      draft.apply({ type: "RunStarted", run: running.run });
      draft.note(runAdoptedEvent(namespace, running.run));
    }
    if (running && (await this.#followRun(namespace, running, draft, now)) === "ended") running = undefined;
    // Back in time to read the engine's next progress line.
    if (running) pass.requeue.push(this.#engineProgress.intervalMs);
    return { owned: jobs.owned, recorded: runs.recorded, running };
  }

  /**
   * The spec and the datastore policy. Undefined stops the reconcile: Stalled says why and nothing new starts; a run
   * still in progress is followed until its end is recorded.
   */
  #checkSpec(pass: Pass, jobs: ObservedJobs): CheckedSpec | undefined {
    const { meta, namespace, name } = pass;
    const validation = validateSpec(meta, (pass.raw as { spec?: unknown }).spec);
    if (!validation.ok) return this.#refuseSpec(pass, jobs, validation.message);
    const valid = validation.resource;
    const refusal = datastoreRefusal(this.#o.datastorePolicy, namespace, valid.spec.datastore.s3);
    if (refusal !== undefined) return this.#refuseSpec(pass, jobs, refusal, REASONS.datastoreNotAllowed);
    this.#o.leases.use(pass.key, valid.leaseName);
    return {
      valid,
      resource: { metadata: { name, namespace, uid: meta.uid, generation: meta.generation }, spec: valid.spec },
    };
  }

  #refuseSpec(pass: Pass, jobs: ObservedJobs, message: string, reason?: string): undefined {
    const { draft } = pass;
    draft.apply({ type: "SpecInvalid", reason, message });
    if (draft.changed("Stalled")) draft.note(invalidSpecEvent(message, reason));
    if (jobs.running) pass.requeue.push(this.#o.leases.renewalMs);
    return undefined;
  }

  /**
   * Which run is due (schedule, run request, generation), and the Ready condition: a missing Secret or claim blocks
   * runs and retries with backoff; a claim that a run may still resolve only says so.
   */
  #planRun(pass: Pass, checked: CheckedSpec, jobs: ObservedJobs, problem: DependencyProblem | undefined): TriggerPlan {
    const { draft, meta, now } = pass;
    const { valid } = checked;
    const { spec } = valid;
    const plan = planTrigger({
      name: pass.name,
      generation: meta.generation,
      creationTime: toDate(meta.creationTimestamp) ?? now,
      annotations: meta.annotations,
      suspend: spec.suspend,
      startingDeadlineSeconds: spec.startingDeadlineSeconds,
      schedule: valid.schedule,
      status: draft.status,
      jobNames: new Set(jobs.owned.map((job) => job.metadata?.name ?? "")),
      now,
    });
    if (problem?.blocksRun) {
      draft.apply({ type: "DependencyMissing", reason: problem.reason, message: problem.message });
      if (draft.changed("Ready")) draft.note(dependencyEvent(problem.reason, problem.message));
      pass.backoff = true;
    } else {
      draft.apply({
        type: "SpecAccepted",
        suspended: spec.suspend,
        timeZone: spec.timeZone,
        nextScheduleTime: plan.nextScheduleTime,
        notReady: problem ? { reason: problem.reason, message: problem.message } : undefined,
      });
      // Suspended, no run pod will bind the claim: Ready says Suspended (the reducer), and there is nothing to warn of.
      if (problem && !spec.suspend && draft.changed("Ready"))
        draft.note(dependencyEvent(problem.reason, problem.message));
    }
    if (plan.skipped) {
      draft.apply({ type: "SlotsSkipped", count: plan.skipped.count, latest: plan.skipped.latest });
      draft.note(slotsSkippedEvent(plan.skipped, spec.startingDeadlineSeconds));
    }
    if (plan.nextScheduleTime) pass.requeue.push(plan.nextScheduleTime.getTime() - now.getTime() + SLOT_SLACK_MS);
    return plan;
  }

  /**
   * One run at a time per resource (its Job) and per datastore (the Lease). A running run renews the Lease; a due
   * run takes it and creates the Job, or waits for the holder's release; with nothing to run the Lease is released
   * so that waiting resources may go.
   */
  async #admitAndStart(
    pass: Pass,
    checked: CheckedSpec,
    running: ObservedJobs["running"],
    plan: TriggerPlan,
    problem: DependencyProblem | undefined,
  ): Promise<void> {
    const { draft, key, namespace, now } = pass;
    const { valid, resource } = checked;
    const leases = this.#o.leases;
    const request = {
      leaseName: valid.leaseName,
      self: key,
      identity: valid.datastoreKey,
      datastoreHash: valid.datastoreHash,
    };
    if (running) {
      const admission = await leases.renew(request, now, SLOT_SLACK_MS);
      if (admission?.admitted === false) {
        this.#o.log.warn(
          { key, job: running.run.jobName, holder: admission.holder },
          "a run is in progress but another resource holds the datastore lease",
        );
      }
      pass.requeue.push(leases.renewalMs);
      return;
    }
    if (plan.run === undefined || problem?.blocksRun) {
      await this.#release(key, valid.leaseName);
      const blocked = findCondition(draft.status, "Blocked");
      if (blocked?.status === "True" && blocked.reason === REASONS.datastoreLocked) draft.apply({ type: "Unblocked" });
      return;
    }
    const admission = await leases.admit(
      {
        ...request,
        otherActiveRuns: this.#otherActiveRuns(valid.datastoreHash, key),
        holderGone: (holder) => this.#holderGone(holder),
      },
      now,
    );
    if (!admission.admitted) {
      draft.apply({ type: "Blocked", holder: admission.holder });
      if (draft.changed("Blocked")) draft.note(blockedEvent(admission.holder, valid.datastoreKey));
      pass.requeue.push(this.#o.blockedRetryMs);
      return;
    }
    await this.#ensureServiceAccount(resource, draft);
    const started = await startRun(this.#o.clients, resource, plan.run, {
      defaults: this.#o.runPodDefaults,
      runEnv: this.#o.runEnv,
    });
    if (started.outcome === "conflict") {
      // A Job with the run's name that is not ours: retry with backoff, never touch it.
      draft.note(jobNameConflictEvent(started.jobName));
      pass.backoff = true;
      return;
    }
    draft.apply({ type: "RunStarted", run: started.run });
    draft.note(
      started.outcome === "created" ? runStartedEvent(namespace, started.run) : runAdoptedEvent(namespace, started.run),
    );
    pass.requeue.push(leases.renewalMs);
  }

  /** Finished, recorded Jobs beyond the history limits are deleted (unrecorded and running ones never are). */
  async #pruneHistory(pass: Pass, spec: RunResource["spec"], recorded: readonly V1Job[]): Promise<void> {
    const prune = jobsToPrune(recorded, {
      successful: spec.successfulRunsHistoryLimit,
      failed: spec.failedRunsHistoryLimit,
    });
    if (prune.length === 0) return;
    await this.#deleteJobs(pass.namespace, prune);
    pass.draft.note(historyPrunedEvent(prune));
  }

  /** Writes the status, emits its Events, and says when to come back. */
  async #commitStatus(
    pass: Pass,
    jobs: ObservedJobs,
    plan?: TriggerPlan,
    problem?: DependencyProblem,
  ): Promise<ReconcileResult> {
    await this.#commit(pass.key, pass.raw, pass.meta, pass.draft);
    const positive = pass.requeue.filter((ms) => ms > 0);
    const result: ReconcileResult = {};
    if (positive.length > 0) result.requeueAfterMs = Math.min(...positive);
    if (pass.backoff) result.backoff = true;
    this.#o.log.debug(
      {
        key: pass.key,
        generation: pass.meta.generation,
        running: jobs.running?.run.jobName,
        due: plan?.run?.trigger,
        problem: problem?.reason,
        recorded: pass.draft.recorded.map((record) => record.jobName),
        ...result,
      },
      "reconciled",
    );
    return result;
  }

  /** The resource as last known: the informer's copy, or our own newer status write when the informer lags. */
  #current(key: string, namespace: string, name: string): GarbageCollectionObject | undefined {
    const cached = this.#o.resources.get(name, namespace);
    const written = this.#written.get(key);
    if (cached === undefined) {
      this.#written.delete(key);
      return undefined;
    }
    if (written && written.basedOn === cached.metadata?.resourceVersion) return written.object;
    this.#written.delete(key);
    return cached;
  }

  /** The resource's Jobs from the cache, plus the active run's Job read live when the cache does not have it yet. */
  async #ownedJobs(
    meta: GarbageCollectionMeta,
    status: GarbageCollectionStatus | undefined,
  ): Promise<{ owned: V1Job[]; activeRunDeleted: boolean }> {
    const owned = this.#o.jobs.list(meta.namespace).filter((job) => ownsJob(job, meta.uid));
    const activeName = status?.activeRun?.jobName;
    if (activeName === undefined || owned.some((job) => job.metadata?.name === activeName)) {
      return { owned, activeRunDeleted: false };
    }
    try {
      const live = await this.#o.clients.batch.readNamespacedJob(
        { name: activeName, namespace: meta.namespace },
        callOptions(),
      );
      if (ownsJob(live, meta.uid)) owned.push(live);
      return { owned, activeRunDeleted: !ownsJob(live, meta.uid) };
    } catch (error) {
      if (isNotFound(error)) return { owned, activeRunDeleted: true };
      throw error;
    }
  }

  /**
   * Records how far the active run got; a run that could not start within the start timeout is ended: its Job is
   * deleted (the engine never ran) and the run recorded as failed with Kubernetes' reason, so the Lease is released.
   */
  async #followRun(
    namespace: string,
    running: { job: V1Job; run: RunInfo },
    draft: StatusDraft,
    now: Date,
  ): Promise<"running" | "ended"> {
    const { job, run } = running;
    const pods = podsOfJob(job, this.#o.pods.list(namespace));
    const age = now.getTime() - (toDate(job.metadata?.creationTimestamp)?.getTime() ?? now.getTime());
    // Only a Job without pods may have FailedCreate Events; give the Job controller a moment first.
    const events = pods.length === 0 && age >= 5_000 ? await this.#jobEvents(namespace, job) : [];
    const observation = observeRun(job, pods, events);
    draft.apply({ type: "RunProgress", jobName: run.jobName, progress: observation });
    if (observation.phase === "Running" && observation.podName !== undefined) {
      const progress = await this.#engineProgress.read(namespace, observation.podName, now);
      if (progress) draft.apply({ type: "EngineProgress", jobName: run.jobName, progress });
    }
    if (observation.phase === "CannotStart" && draft.changed("Running")) {
      draft.note(runCannotStartEvent(namespace, run.jobName, observation.reason, observation.message));
    }
    if (!startTimedOut(observation, now, this.#o.startTimeoutMs)) return "running";
    await this.#deleteJobs(namespace, [run.jobName]);
    draft.apply({
      type: "RunFailed",
      run,
      completionTime: now,
      reason: observation.reason,
      message: `could not start within ${Math.round(this.#o.startTimeoutMs / 1000)}s, the Job was deleted: ${observation.message}`,
    });
    return "ended";
  }

  /** The operator's default run ServiceAccount, when the operator manages it and the spec names none. */
  async #ensureServiceAccount(resource: RunResource, draft: StatusDraft): Promise<void> {
    const defaults = this.#o.runPodDefaults;
    const name = defaults.serviceAccountName;
    if (!defaults.manageServiceAccount || !name || resource.spec.runPod.serviceAccountName) return;
    const { namespace } = resource.metadata;
    const created = await ensureRunServiceAccount(
      this.#o.clients,
      namespace,
      name,
      defaults.manageServiceAccount.annotations,
    );
    if (created) draft.note(serviceAccountCreatedEvent(name));
  }

  async #jobEvents(namespace: string, job: V1Job): Promise<CoreV1Event[]> {
    const uid = job.metadata?.uid;
    if (uid === undefined) return [];
    const list = await this.#o.clients.core.listNamespacedEvent(
      { namespace, fieldSelector: `involvedObject.uid=${uid}` },
      callOptions(),
    );
    return list.items;
  }

  /** The pod that tells a finished Job's outcome: from the cache, or listed live when the cache lags behind. */
  async #podOf(job: V1Job): Promise<V1Pod | undefined> {
    const namespace = job.metadata?.namespace;
    const cached = podsOfJob(job, this.#o.pods.list(namespace))[0];
    if (podSettled(cached) || namespace === undefined) return cached;
    const live = await this.#o.clients.core.listNamespacedPod(
      { namespace, labelSelector: `${JOB_NAME_LABELS[0]}=${job.metadata?.name}` },
      callOptions(),
    );
    return podsOfJob(job, live.items)[0] ?? cached;
  }

  /**
   * What the spec names: the credentials and CA bundle Secrets, and the marker cache claim (created from its template
   * when missing). The first problem found, if any; the trigger plan decides what it means for Ready and runs.
   */
  async #checkDependencies(pass: Pass, resource: RunResource): Promise<DependencyProblem | undefined> {
    const { draft, now } = pass;
    const { namespace } = resource.metadata;
    const s3 = resource.spec.datastore.s3;
    const credentials = s3.credentialsSecretRef
      ? await this.#readSecret(namespace, s3.credentialsSecretRef.name)
      : undefined;
    const credentialsIssue = credentialsProblem(namespace, resource.spec, credentials);
    if (credentialsIssue) return credentialsIssue;
    if (s3.caBundleSecretRef) {
      const bundle = await this.#readSecret(namespace, s3.caBundleSecretRef.name);
      const bundleIssue = caBundleProblem(namespace, resource.spec, bundle);
      if (bundleIssue) return bundleIssue;
    }
    const claim = await ensureMarkerCacheClaim(this.#o.clients, resource);
    if (claim.created) {
      const owned = resource.spec.markerCache.volumeClaimTemplate?.whenDeleted === "Delete";
      draft.note(claimCreatedEvent(claim.name, owned));
    }
    const runPods = runPodsUsingClaim(this.#o.pods.list(namespace), namespace, claim.name, now);
    const waiting = await this.#claimWaitsForFirstConsumer(namespace, claim.claim);
    return claimProblem(namespace, claim.name, claim.claim, claim.fromTemplate, {
      waitsForFirstConsumer: waiting,
      runPods,
    });
  }

  /** Only a Pending claim without a selected node is asked about: its Events say whether it waits for a consumer. */
  async #claimWaitsForFirstConsumer(namespace: string, claim: V1PersistentVolumeClaim | undefined): Promise<boolean> {
    const uid = claim?.metadata?.uid;
    if (claim === undefined || uid === undefined || claim.status?.phase !== "Pending") return false;
    if (claim.metadata?.annotations?.[SELECTED_NODE_ANNOTATION] !== undefined) return false;
    const list = await this.#o.clients.core.listNamespacedEvent(
      { namespace, fieldSelector: `involvedObject.uid=${uid}` },
      callOptions(),
    );
    return waitsForFirstConsumer(claim, list.items);
  }

  async #readSecret(namespace: string, name: string) {
    try {
      return await this.#o.clients.core.readNamespacedSecret({ name, namespace }, callOptions());
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** Resources (other than `self`) with a running Job on the datastore, from the Job cache. */
  #otherActiveRuns(datastoreHash: string, self: string): string[] {
    const owners = new Set<string>();
    for (const job of this.#o.jobs.list()) {
      if (job.metadata?.labels?.[LABELS.datastore] !== datastoreHash || isFinished(job)) continue;
      const owner = jobOwnerKey(job) ?? `${job.metadata?.namespace}/${job.metadata?.name}`;
      if (owner !== self) owners.add(owner);
    }
    return [...owners];
  }

  /** A Lease holder whose resource is in a watched namespace but not in the cache no longer exists. */
  #holderGone(holder: string): boolean {
    const [namespace, name] = splitKey(holder);
    if (this.#o.watchNamespaces !== undefined && !this.#o.watchNamespaces.includes(namespace)) return false;
    return this.#o.resources.get(name, namespace) === undefined;
  }

  async #release(key: string, leaseName: string): Promise<void> {
    for (const waiter of await this.#o.leases.release(key, leaseName)) this.#o.enqueue(waiter);
  }

  async #gone(key: string): Promise<void> {
    const [namespace, name] = splitKey(key);
    this.#o.metrics.forget(namespace, name);
    this.#written.delete(key);
    for (const waiter of await this.#o.leases.forget(key)) this.#o.enqueue(waiter);
  }

  async #deleteJobs(namespace: string, names: readonly string[]): Promise<void> {
    for (const name of names) {
      try {
        await this.#o.clients.batch.deleteNamespacedJob(
          { name, namespace, propagationPolicy: "Background" },
          callOptions(),
        );
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    }
  }

  /** Merge-patches /status with what changed, then emits the Events and updates the metrics. */
  async #commit(
    key: string,
    raw: GarbageCollectionObject,
    meta: GarbageCollectionMeta,
    draft: StatusDraft,
  ): Promise<void> {
    const { namespace, name } = meta;
    const next = draft.status;
    const patch = next === undefined ? undefined : statusMergePatch(draft.previous, next);
    let resourceVersion = meta.resourceVersion;
    if (patch !== undefined) {
      try {
        const stored = (await this.#o.clients.custom.patchNamespacedCustomObjectStatus(
          { group: GROUP, version: VERSION, namespace, plural: PLURAL, name, body: patch },
          callOptions({ mergePatch: true }),
        )) as GarbageCollectionObject;
        this.#written.set(key, { basedOn: raw.metadata?.resourceVersion, object: stored });
        resourceVersion = stored.metadata?.resourceVersion;
      } catch (error) {
        if (isNotFound(error)) return; // deleted meanwhile
        throw new StatusPatchError(key, describeApiError(error));
      }
    }
    const regarding = { apiVersion: API_VERSION, kind: KIND, namespace, name, uid: meta.uid, resourceVersion };
    for (const note of draft.notes) await this.#o.recorder.record(regarding, note);
    for (const record of draft.recorded) this.#o.metrics.recordRun(namespace, name, record);
    if (next) {
      const created = toDate(meta.creationTimestamp);
      this.#o.metrics.observeStatus(namespace, name, {
        status: next,
        creationTimestamp: created?.toISOString(),
      });
    }
  }
}

export class StatusPatchError extends Error {
  readonly key: string;
  constructor(key: string, detail: string) {
    super(`could not patch the status of GarbageCollection ${key}: ${detail}`);
    this.name = "StatusPatchError";
    this.key = key;
  }
}
