import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type {
  KubeConfig,
  KubernetesListObject,
  KubernetesObject,
  V1EnvVar,
  V1Job,
  V1PersistentVolumeClaim,
  V1Pod,
} from "@kubernetes/client-node";
import type { Logger } from "pino";
import { GROUP, LABELS, MANAGER_NAME, PLURAL, RUN_COMPONENT, VERSION } from "../../api/group.ts";
import { ENGINE_ENV_MESSAGE, isAllowedRunEnvName } from "../../api/spec.ts";
import { createLogger } from "../../log.ts";
import type { DatastorePolicy } from "../datastore-policy.ts";
import { DEFAULT_ENGINE_IMAGE, type RunPodDefaults } from "../job-builder.ts";
import { JOB_NAME_LABELS, jobOwnerKey } from "../job-observation.ts";
import { EventRecorder } from "../runtime/events.ts";
import { type HttpEndpoint, startHttpServer } from "../runtime/http-server.ts";
import type { InformerEvent } from "../runtime/informer.ts";
import { InformerSet } from "../runtime/informer-set.ts";
import {
  callOptions,
  describeApiError,
  listSecretMetadata,
  makeClients,
  metadataOnlyKubeConfig,
  type PartialObjectMetadata,
} from "../runtime/kube-api.ts";
import { LeaderElector } from "../runtime/leader-election.ts";
import { WorkQueue } from "../runtime/work-queue.ts";
import { DatastoreLeases } from "./datastore-leases.ts";
import { OperatorMetrics } from "./metrics.ts";
import { type GarbageCollectionObject, Reconciler } from "./reconciler.ts";
import { type ReferencedKind, resourcesReferencing } from "./references.ts";

/**
 * The operator as a library: informers for GarbageCollections, their Jobs and pods feed a work queue keyed by
 * namespace/name; workers reconcile (never one key twice at once); optional leader election gates the workers;
 * /metrics, /healthz and /readyz are served; stop() shuts down gracefully (in-flight reconciles finish, the leader
 * Lease is released). `chunkgc operator` is a thin CLI around startOperator.
 */

export interface OperatorOptions {
  readonly kubeConfig: KubeConfig;
  /** Watch only this namespace; all namespaces when neither this nor `namespaces` is set. */
  readonly namespace?: string;
  /** Watch only these namespaces (each needs the operator's Role there). */
  readonly namespaces?: readonly string[];
  /** Where the datastore Leases (and the leader Lease) live. */
  readonly operatorNamespace: string;
  /** The engine image for resources without spec.runPod.image. */
  readonly defaultImage?: string;
  /** Run pod settings for resources that do not set their own (ServiceAccount, pull secrets, deadline, ids). */
  readonly runPod?: Omit<RunPodDefaults, "image">;
  /** host:port for /metrics, /healthz, /readyz (":8080"); "0" disables the server. */
  readonly metricsAddress?: string;
  readonly leaderElection?: {
    readonly enabled: boolean;
    readonly leaseName?: string;
    readonly leaseDurationSeconds?: number;
    readonly renewDeadlineSeconds?: number;
    readonly retryPeriodSeconds?: number;
  };
  /** Identity in Leases and Events; hostname + random suffix by default. */
  readonly identity?: string;
  readonly workers?: number;
  /** Periodic full relist of every informer (default 5 min; 0 disables). */
  readonly relistIntervalMs?: number;
  /** How long a datastore Lease lasts without renewal (default 60 s); renewed every third of it while a run is active. */
  readonly datastoreLeaseSeconds?: number;
  /** Retry interval of a run blocked by another resource's Lease (default 15 s; a release wakes it earlier). */
  readonly blockedRetryMs?: number;
  /** How long a run's pod may be unable to start before the run is ended and its Lease released (default 10 min). */
  readonly runStartTimeoutMs?: number;
  /** Which datastores each namespace may name (namespace or "*" → rules); undefined: any. */
  readonly datastorePolicy?: DatastorePolicy;
  /**
   * In-process test hook (no CLI flag reaches it): CHUNKGC_* variables added to every run pod, such as CHUNKGC_NOW
   * to evaluate cutoffs at another time. The CLI's --run-env goes through {@link checkRunEnv} instead, which refuses
   * the engine's safety switches.
   */
  readonly runEnv?: Readonly<Record<string, string>>;
  readonly log?: Logger;
  /** Also export Node.js process metrics (CLI: yes; in-process tests: no). */
  readonly processMetrics?: boolean;
}

export interface RunningOperator {
  readonly identity: string;
  readonly metrics: OperatorMetrics;
  /** The metrics server's base URL, when enabled. */
  readonly metricsUrl: string | undefined;
  /** Resolves once the caches are synced and this instance leads (or runs without leader election). */
  readonly active: Promise<void>;
  /** Resolves when the operator has stopped: by stop(), or on its own when leadership was lost ("LeaderLost"). */
  readonly stopped: Promise<{ reason: "Stopped" | "LeaderLost" }>;
  stop(): Promise<void>;
}

export class InvalidRunEnvError extends Error {
  constructor(name: string, why = "only CHUNKGC_* variables may be added to run pods") {
    super(`run env ${JSON.stringify(name)}: ${why}`);
    this.name = "InvalidRunEnvError";
  }
}

export const DEFAULT_LEADER_LEASE = "chunkgc-operator";
export const DEFAULT_RUN_START_TIMEOUT_MS = 10 * 60_000;
const STOP_TIMEOUT_MS = 30_000;

function runEnvVars(env: Readonly<Record<string, string>> | undefined): V1EnvVar[] {
  return Object.entries(env ?? {}).map(([name, value]) => {
    if (!/^CHUNKGC_[A-Z0-9_]+$/.test(name)) throw new InvalidRunEnvError(name);
    return { name, value };
  });
}

/** The namespaces to watch, or undefined for all. */
export function watchedNamespaces(options: Pick<OperatorOptions, "namespace" | "namespaces">): string[] | undefined {
  const listed = [...(options.namespaces ?? []), ...(options.namespace ? [options.namespace] : [])];
  return listed.length === 0 ? undefined : [...new Set(listed)];
}

const RUN_SELECTOR = `${LABELS.managedBy}=${MANAGER_NAME},${LABELS.component}=${RUN_COMPONENT}`;

export async function startOperator(options: OperatorOptions): Promise<RunningOperator> {
  const log = options.log ?? createLogger({ name: "chunkgc-operator" });
  const identity = options.identity ?? `${hostname()}_${randomBytes(4).toString("hex")}`;
  const runEnv = runEnvVars(options.runEnv);
  for (const name of Object.keys(options.runPod?.env ?? {})) {
    if (!isAllowedRunEnvName(name)) throw new InvalidRunEnvError(name, ENGINE_ENV_MESSAGE);
  }
  const clients = makeClients(options.kubeConfig);
  const metrics = new OperatorMetrics({ processMetrics: options.processMetrics ?? false });
  const queue = new WorkQueue({ onDepth: (depth) => metrics.queueDepth.set(depth) });
  const namespaces = watchedNamespaces(options);
  const relistIntervalMs = options.relistIntervalMs ?? 5 * 60_000;
  if (runEnv.length > 0) log.warn({ runEnv: runEnv.map((e) => e.name) }, "test hook: extra env for every run pod");

  const enqueue = (key: string | undefined) => {
    if (key !== undefined) queue.add(key);
  };
  const listTimeout = () => callOptions({ timeoutMs: 120_000 });
  const resources = new InformerSet<GarbageCollectionObject>({
    name: "garbagecollections",
    kubeConfig: options.kubeConfig,
    namespaces,
    path: (ns) => (ns ? `/apis/${GROUP}/${VERSION}/namespaces/${ns}/${PLURAL}` : `/apis/${GROUP}/${VERSION}/${PLURAL}`),
    list: async (ns) =>
      (ns
        ? await clients.custom.listNamespacedCustomObject(
            { group: GROUP, version: VERSION, namespace: ns, plural: PLURAL },
            listTimeout(),
          )
        : await clients.custom.listClusterCustomObject(
            { group: GROUP, version: VERSION, plural: PLURAL },
            listTimeout(),
          )) as KubernetesListObject<GarbageCollectionObject>,
    relistIntervalMs,
    log,
    onEvent: (_event: InformerEvent, object) => {
      const { namespace, name } = object.metadata ?? {};
      if (namespace && name) enqueue(`${namespace}/${name}`);
    },
  });
  const jobs = new InformerSet<V1Job>({
    name: "jobs",
    kubeConfig: options.kubeConfig,
    namespaces,
    path: (ns) => (ns ? `/apis/batch/v1/namespaces/${ns}/jobs` : "/apis/batch/v1/jobs"),
    labelSelector: RUN_SELECTOR,
    list: (ns) =>
      ns
        ? clients.batch.listNamespacedJob({ namespace: ns, labelSelector: RUN_SELECTOR }, listTimeout())
        : clients.batch.listJobForAllNamespaces({ labelSelector: RUN_SELECTOR }, listTimeout()),
    relistIntervalMs,
    log,
    onEvent: (_event, job) => enqueue(jobOwnerKey(job)),
  });
  const pods = new InformerSet<V1Pod>({
    name: "pods",
    kubeConfig: options.kubeConfig,
    namespaces,
    path: (ns) => (ns ? `/api/v1/namespaces/${ns}/pods` : "/api/v1/pods"),
    labelSelector: RUN_SELECTOR,
    list: (ns) =>
      ns
        ? clients.core.listNamespacedPod({ namespace: ns, labelSelector: RUN_SELECTOR }, listTimeout())
        : clients.core.listPodForAllNamespaces({ labelSelector: RUN_SELECTOR }, listTimeout()),
    relistIntervalMs,
    log,
    onEvent: (_event, pod) => {
      // Every change: a pod that cannot start (image pull, configuration, scheduling) is news as much as its end.
      const jobName = JOB_NAME_LABELS.map((label) => pod.metadata?.labels?.[label]).find(Boolean);
      const job = jobName ? jobs.get(jobName, pod.metadata?.namespace) : undefined;
      if (job) enqueue(jobOwnerKey(job));
    },
  });
  // Referenced objects map back to the resources that name them: a Secret or claim created or fixed later is seen
  // at once. Secrets as metadata only: the operator never holds their content in memory (it reads one key list
  // with `get` when it checks a resource).
  const enqueueReferencing = (kind: ReferencedKind) => (_event: InformerEvent, object: KubernetesObject) => {
    const { namespace, name } = object.metadata ?? {};
    if (!namespace || !name) return;
    for (const key of resourcesReferencing(kind, namespace, name, resources.list(namespace))) enqueue(key);
  };
  const metadataConfig = metadataOnlyKubeConfig(options.kubeConfig);
  const secrets = new InformerSet<PartialObjectMetadata>({
    name: "secrets",
    kubeConfig: metadataConfig,
    namespaces,
    path: (ns) => (ns ? `/api/v1/namespaces/${ns}/secrets` : "/api/v1/secrets"),
    list: (ns) => listSecretMetadata(clients, ns),
    relistIntervalMs,
    log,
    onEvent: enqueueReferencing("Secret"),
  });
  const claims = new InformerSet<V1PersistentVolumeClaim>({
    name: "persistentvolumeclaims",
    kubeConfig: options.kubeConfig,
    namespaces,
    path: (ns) => (ns ? `/api/v1/namespaces/${ns}/persistentvolumeclaims` : "/api/v1/persistentvolumeclaims"),
    list: (ns) =>
      ns
        ? clients.core.listNamespacedPersistentVolumeClaim({ namespace: ns }, listTimeout())
        : clients.core.listPersistentVolumeClaimForAllNamespaces({}, listTimeout()),
    relistIntervalMs,
    log,
    onEvent: enqueueReferencing("PersistentVolumeClaim"),
  });
  const informers = [resources, jobs, pods, secrets, claims] as const;

  const leases = new DatastoreLeases({
    clients,
    namespace: options.operatorNamespace,
    leaseDurationSeconds: options.datastoreLeaseSeconds ?? 60,
    log,
  });
  const reconciler = new Reconciler({
    clients,
    resources,
    jobs,
    pods,
    leases,
    recorder: new EventRecorder({ clients, instance: identity, log }),
    metrics,
    log,
    runPodDefaults: { ...options.runPod, image: options.defaultImage ?? DEFAULT_ENGINE_IMAGE },
    runEnv,
    watchNamespaces: namespaces,
    blockedRetryMs: options.blockedRetryMs ?? 15_000,
    startTimeoutMs: options.runStartTimeoutMs ?? DEFAULT_RUN_START_TIMEOUT_MS,
    datastorePolicy: options.datastorePolicy,
    enqueue,
  });

  const campaign = new AbortController();
  let leading = !options.leaderElection?.enabled;
  let resolveActive!: () => void;
  const active = new Promise<void>((resolve) => {
    resolveActive = resolve;
  });
  let resolveStopped!: (value: { reason: "Stopped" | "LeaderLost" }) => void;
  const stopped = new Promise<{ reason: "Stopped" | "LeaderLost" }>((resolve) => {
    resolveStopped = resolve;
  });

  const worker = async () => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      const end = metrics.reconcileDuration.startTimer();
      try {
        const result = await reconciler.reconcile(key);
        metrics.reconciles.inc({ outcome: "success" });
        if (result.backoff) queue.addRateLimited(key);
        else queue.forget(key);
        if (result.requeueAfterMs !== undefined) queue.addAfter(key, result.requeueAfterMs);
      } catch (error) {
        metrics.reconciles.inc({ outcome: "error" });
        metrics.reconcileErrors.inc();
        const delay = queue.addRateLimited(key);
        log.error({ key, error: describeApiError(error), retryInMs: delay }, "reconcile failed");
      } finally {
        end();
        queue.done(key);
      }
    }
  };
  let workers: Promise<void>[] = [];
  const startWorkers = () => {
    metrics.leader.set(1);
    workers = Array.from({ length: options.workers ?? 2 }, () => worker());
    // Everything known gets one reconcile: what happened while no one was leading.
    for (const object of resources.list()) {
      const { namespace, name } = object.metadata ?? {};
      if (namespace && name) enqueue(`${namespace}/${name}`);
    }
    resolveActive();
  };

  let elector: LeaderElector | undefined;
  let campaigning: Promise<void> = Promise.resolve();
  let stopping: Promise<void> | undefined;
  const stop = (reason: "Stopped" | "LeaderLost" = "Stopped"): Promise<void> => {
    stopping ??= (async () => {
      log.info({ reason }, "operator stopping");
      campaign.abort();
      queue.shutDown();
      const drained = Promise.all(workers).then(() => queue.whenIdle());
      await Promise.race([drained, new Promise((resolve) => setTimeout(resolve, STOP_TIMEOUT_MS).unref())]);
      await campaigning; // a renewal in flight must not take the Lease back after the release
      await elector?.release();
      metrics.leader.set(0);
      await Promise.all(informers.map((informer) => informer.stop()));
      await http?.close();
      log.info("operator stopped");
      resolveStopped({ reason });
    })();
    return stopping;
  };

  const probes = {
    healthy: () => {
      const failing = informers.filter((informer) => informer.synced === false && informer.errors > 5);
      return failing.length === 0
        ? { ok: true, detail: "informers running" }
        : { ok: false, detail: `informers failing: ${failing.map((i) => i.name).join(", ")}` };
    },
    ready: () => {
      const unsynced = informers.filter((informer) => !informer.synced);
      if (unsynced.length > 0) return { ok: false, detail: `waiting for ${unsynced.map((i) => i.name).join(", ")}` };
      return { ok: true, detail: leading ? "leading" : "standing by" };
    },
  };
  let http: HttpEndpoint | undefined;
  try {
    http = await startHttpServer(options.metricsAddress ?? ":8080", metrics.registry, probes);
    // Jobs and pods first, so that the first reconciles see the runs.
    await jobs.start();
    await pods.start();
    await Promise.all([secrets.start(), claims.start()]);
    await resources.start();
  } catch (error) {
    await Promise.all(informers.map((informer) => informer.stop()));
    await http?.close();
    throw error;
  }
  log.info(
    { identity, namespaces: namespaces ?? "(all)", operatorNamespace: options.operatorNamespace, metrics: http?.url },
    "operator started",
  );

  if (options.leaderElection?.enabled) {
    const election = options.leaderElection;
    elector = new LeaderElector({
      clients,
      namespace: options.operatorNamespace,
      name: election.leaseName || DEFAULT_LEADER_LEASE,
      identity,
      leaseDurationSeconds: election.leaseDurationSeconds ?? 15,
      renewDeadlineSeconds: election.renewDeadlineSeconds ?? 10,
      retryPeriodSeconds: election.retryPeriodSeconds ?? 2,
      log,
    });
    campaigning = elector.run(campaign.signal, {
      onLeading: () => {
        leading = true;
        startWorkers();
      },
      onLost: () => {
        leading = false;
        void stop("LeaderLost");
      },
    });
  } else {
    startWorkers();
  }

  return {
    identity,
    metrics,
    metricsUrl: http?.url,
    active,
    stopped,
    stop: () => stop("Stopped"),
  };
}
