import { createHash } from "node:crypto";
import type {
  V1Affinity,
  V1Container,
  V1EnvFromSource,
  V1EnvVar,
  V1Job,
  V1OwnerReference,
  V1PersistentVolumeClaim,
  V1PodSecurityContext,
  V1ResourceRequirements,
  V1SecurityContext,
  V1Toleration,
  V1Volume,
  V1VolumeMount,
} from "@kubernetes/client-node";
import { API_VERSION, APP_NAME, JOB_ANNOTATIONS, KIND, LABELS, MANAGER_NAME, RUN_COMPONENT } from "../api/group.ts";
import type { GarbageCollectionSpec, MarkerCache, RunPod } from "../api/spec.ts";
import type { RunTrigger } from "../api/status.ts";
import { CREDENTIAL_SOURCE_ENV, DEFAULT_CHAIN } from "../s3/config.ts";
import { rfc3339Seconds, toDate } from "../util/time.ts";
import { datastoreHash } from "./datastore-identity.ts";
import type { RunInfo } from "./status.ts";

/**
 * Pure builders of the objects a run needs: the batch/v1 Job that runs `chunkgc gc` (and the marker-cache claim a
 * volumeClaimTemplate asks for). Deterministic: the same resource and run give the same object, so a Job found after
 * a restart is recognised by name instead of being created twice.
 */

export const DEFAULT_ENGINE_IMAGE = "chunkgc:dev";
export const ENGINE_CONTAINER_NAME = "engine";
export const CACHE_MOUNT_PATH = "/var/cache/chunkgc";
export const TMP_MOUNT_PATH = "/tmp";
export const CA_BUNDLE_MOUNT_PATH = "/etc/chunkgc/ca";
export const TERMINATION_MESSAGE_PATH = "/dev/termination-log";
/** The unprivileged user and group of the run pod (the image's numeric USER should match). */
export const RUN_USER_ID = 65532;
/** Seconds the engine gets after SIGTERM to stop deleting and release its lock. */
export const TERMINATION_GRACE_SECONDS = 60;
export const CREDENTIAL_KEYS = {
  accessKeyId: "AWS_ACCESS_KEY_ID",
  secretAccessKey: "AWS_SECRET_ACCESS_KEY",
  sessionToken: "AWS_SESSION_TOKEN",
} as const;

const NAME_LIMIT = 63;

/** What started a run; it names the Job, so that one slot or one request never gets two Jobs. */
export type RunIdentity =
  | { trigger: "Schedule"; scheduledTime: Date }
  | {
      trigger: "RunRequest";
      /** The request token (runRequestToken of the annotation value). */
      runRequest: string;
      /** status.lastHandledRunRequest when the request was seen: makes "a" → "b" → "a" three distinct runs. */
      previousRunRequest?: string;
    }
  | { trigger: "Generation"; generation: number };

/** The parts of a GarbageCollection the builders read. */
export interface RunResource {
  metadata: { name: string; namespace: string; uid: string; generation: number };
  spec: GarbageCollectionSpec;
}

/** Seconds a run may take when spec.job.activeDeadlineSeconds is not set: a run that cannot start ends too. */
export const DEFAULT_ACTIVE_DEADLINE_SECONDS = 12 * 3600;

/** The operator's settings for every run pod; a spec's own runPod fields take precedence. */
export interface RunPodDefaults {
  /** The engine image when spec.runPod.image is not set; DEFAULT_ENGINE_IMAGE when undefined. */
  image?: string;
  /** ServiceAccount when spec.runPod.serviceAccountName is not set (the chart's run ServiceAccount). */
  serviceAccountName?: string;
  /** Pull secrets when spec.runPod.imagePullSecrets is not set. */
  imagePullSecrets?: readonly string[];
  /** spec.job.activeDeadlineSeconds when omitted; DEFAULT_ACTIVE_DEADLINE_SECONDS when undefined. */
  activeDeadlineSeconds?: number;
  /**
   * "fixed": the pod runs as RUN_USER_ID (the image's user) unless the spec says otherwise; "platform": no user,
   * group or fsGroup unless the spec sets them (OpenShift's restricted-v2 SCC assigns them from the namespace range).
   */
  ids?: "fixed" | "platform";
  /**
   * Create serviceAccountName in a namespace where it is missing (all-namespaces installs), with these annotations.
   * Undefined: the installation creates it.
   */
  manageServiceAccount?: { annotations: Readonly<Record<string, string>> };
  /** Variables for every run pod (the operator's --run-env), before the spec's own; no engine switches. */
  env?: Readonly<Record<string, string>>;
}

export interface RunJobInput {
  resource: RunResource;
  run: RunIdentity;
  /** The operator's image, used when spec.runPod.image is not set; defaults to DEFAULT_ENGINE_IMAGE. */
  defaultImage?: string;
  defaults?: RunPodDefaults;
}

function shortHash(text: string, length: number): string {
  return createHash("sha256").update(text).digest("hex").slice(0, length);
}

function runSuffix(run: RunIdentity): string {
  switch (run.trigger) {
    case "Schedule":
      // Minutes since the epoch, as the CronJob controller names its Jobs: one Job per slot.
      return String(Math.floor(run.scheduledTime.getTime() / 60_000));
    case "RunRequest":
      return `r${shortHash(`${run.previousRunRequest ?? ""}\n${run.runRequest}`, 10)}`;
    case "Generation":
      return `g${run.generation}`;
  }
}

/** `<resource>-<suffix>`, at most 63 characters; long resource names are shortened and keep a hash of the full name. */
export function runJobName(resourceName: string, run: RunIdentity): string {
  const suffix = runSuffix(run);
  const full = `${resourceName}-${suffix}`;
  if (full.length <= NAME_LIMIT) return full;
  const hash = shortHash(resourceName, 6);
  const room = NAME_LIMIT - suffix.length - hash.length - 2;
  const head = resourceName.slice(0, room).replace(/[-.]+$/, "");
  return `${head}-${hash}-${suffix}`;
}

/** The claim a run mounts: spec.markerCache.claimName, or the one the operator creates from the template. */
export function markerCacheClaimName(resourceName: string, markerCache: MarkerCache): string {
  return markerCache.claimName ?? `${resourceName}-marker-cache`;
}

/** A label value that is the name itself when it fits (≤ 63), else a shortened name with a hash. */
export function labelValue(value: string): string {
  if (value.length <= NAME_LIMIT) return value;
  return `${value.slice(0, NAME_LIMIT - 11).replace(/[-._]+$/, "")}-${shortHash(value, 10)}`;
}

export function ownerReference(resource: RunResource): V1OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    name: resource.metadata.name,
    uid: resource.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** Labels on every object of this resource (selectors for adoption and history cleanup use these). */
export function resourceLabels(resource: RunResource): Record<string, string> {
  return {
    [LABELS.name]: APP_NAME,
    [LABELS.managedBy]: MANAGER_NAME,
    [LABELS.garbageCollection]: labelValue(resource.metadata.name),
    [LABELS.garbageCollectionUid]: resource.metadata.uid,
    [LABELS.datastore]: datastoreHash(resource.spec.datastore.s3),
  };
}

export function runJobLabels(resource: RunResource, run: RunIdentity): Record<string, string> {
  return { ...resourceLabels(resource), [LABELS.component]: RUN_COMPONENT, [LABELS.trigger]: run.trigger };
}

function runAnnotations(resource: RunResource, run: RunIdentity): Record<string, string> {
  const annotations: Record<string, string> = { [JOB_ANNOTATIONS.generation]: String(resource.metadata.generation) };
  if (run.trigger === "Schedule") annotations[JOB_ANNOTATIONS.scheduledTime] = rfc3339Seconds(run.scheduledTime);
  if (run.trigger === "RunRequest") annotations[JOB_ANNOTATIONS.runRequest] = run.runRequest;
  return annotations;
}

/**
 * The `chunkgc gc` arguments for a spec (src/cli/commands/gc.ts; credentials come from the environment). The engine's
 * lock names its holder by host name, which in the pod is the pod's name and so carries the Job's name.
 */
export function engineArgs(resource: RunResource): string[] {
  const { spec } = resource;
  const s3 = spec.datastore.s3;
  const args = [
    "gc",
    `--endpoint=${s3.endpoint}`,
    `--region=${s3.region}`,
    `--bucket=${s3.bucket}`,
    `--store=${s3.store}`,
  ];
  if (s3.pathStyle) args.push("--path-style");
  if (s3.caBundleSecretRef) args.push(`--ca-bundle=${CA_BUNDLE_MOUNT_PATH}/${s3.caBundleSecretRef.key}`);
  args.push(
    `--cache-dir=${CACHE_MOUNT_PATH}`,
    `--grace=${spec.gracePeriod}`,
    `--max-backup-duration=${spec.maxBackupDuration}`,
    `--list-concurrency=${spec.engine.listConcurrency}`,
    `--index-concurrency=${spec.engine.indexConcurrency}`,
    `--delete-concurrency=${spec.engine.deleteConcurrency}`,
    `--delete-batch-size=${spec.engine.deleteBatchSize}`,
    `--termination-message-file=${TERMINATION_MESSAGE_PATH}`,
  );
  const prices = Object.entries(spec.engine.requestPrices ?? {}).filter(([, value]) => value !== undefined);
  if (prices.length > 0) args.push(`--prices=${prices.map(([kind, value]) => `${kind}=${value}`).join(",")}`);
  if (spec.dryRun) args.push("--dry-run");
  if (spec.acknowledgeInUse) args.push("--acknowledge-in-use");
  return args;
}

/**
 * The credentials: from the Secret when one is named, else the AWS SDK's default chain (the run ServiceAccount's
 * IRSA or Pod Identity token, or instance metadata), which the engine uses only when told so.
 */
function credentialEnv(secretName: string | undefined): V1EnvVar[] {
  if (secretName === undefined) return [{ name: CREDENTIAL_SOURCE_ENV, value: DEFAULT_CHAIN }];
  const fromSecret = (key: string, optional: boolean): V1EnvVar => ({
    name: key,
    valueFrom: { secretKeyRef: { name: secretName, key, ...(optional ? { optional: true } : {}) } },
  });
  return [
    fromSecret(CREDENTIAL_KEYS.accessKeyId, false),
    fromSecret(CREDENTIAL_KEYS.secretAccessKey, false),
    fromSecret(CREDENTIAL_KEYS.sessionToken, true),
  ];
}

function resources(runPod: RunPod): V1ResourceRequirements | undefined {
  if (runPod.resources === undefined) return undefined;
  const strings = (map: Record<string, string | number> | undefined) =>
    map === undefined ? undefined : Object.fromEntries(Object.entries(map).map(([key, value]) => [key, String(value)]));
  const out: V1ResourceRequirements = {};
  const limits = strings(runPod.resources.limits);
  const requests = strings(runPod.resources.requests);
  if (limits) out.limits = limits;
  if (requests) out.requests = requests;
  return out;
}

/** The container's restrictions (Pod Security Standard "restricted"); no ids here: the pod level holds them. */
export const CONTAINER_SECURITY_CONTEXT: Readonly<V1SecurityContext> = {
  runAsNonRoot: true,
  readOnlyRootFilesystem: true,
  allowPrivilegeEscalation: false,
  privileged: false,
  capabilities: { drop: ["ALL"] },
  seccompProfile: { type: "RuntimeDefault" },
};

export const POD_SECURITY_CONTEXT: Readonly<V1PodSecurityContext> = {
  runAsNonRoot: true,
  runAsUser: RUN_USER_ID,
  runAsGroup: RUN_USER_ID,
  fsGroup: RUN_USER_ID,
  fsGroupChangePolicy: "OnRootMismatch",
  seccompProfile: { type: "RuntimeDefault" },
};

/** The pod security context: the restricted base, the ids of the operator's mode, then the spec's overrides. */
export function podSecurityContext(runPod: RunPod, ids: "fixed" | "platform" = "fixed"): V1PodSecurityContext {
  const out = structuredClone(POD_SECURITY_CONTEXT) as V1PodSecurityContext;
  if (ids === "platform") {
    delete out.runAsUser;
    delete out.runAsGroup;
    delete out.fsGroup;
  }
  const own = runPod.securityContext;
  if (own === undefined) return out;
  if (own.runAsUser !== undefined) out.runAsUser = own.runAsUser;
  if (own.runAsGroup !== undefined) out.runAsGroup = own.runAsGroup;
  if (own.fsGroup !== undefined) out.fsGroup = own.fsGroup;
  if (own.supplementalGroups !== undefined) out.supplementalGroups = [...own.supplementalGroups];
  if (own.fsGroupChangePolicy !== undefined) out.fsGroupChangePolicy = own.fsGroupChangePolicy;
  if (own.seLinuxOptions !== undefined) out.seLinuxOptions = { ...own.seLinuxOptions };
  return out;
}

/** The user's extra environment (validated by the schema: no engine switches) as core/v1 EnvVars. */
function userEnv(runPod: RunPod): V1EnvVar[] {
  return (runPod.env ?? []).map((env) => structuredClone(env) as V1EnvVar);
}

/** The Job of one run. */
export function buildRunJob(input: RunJobInput): V1Job {
  const { resource, run } = input;
  const { spec, metadata } = resource;
  const runPod = spec.runPod;
  const name = runJobName(metadata.name, run);
  const labels = runJobLabels(resource, run);
  const s3 = spec.datastore.s3;

  const mounts: V1VolumeMount[] = [
    { name: "marker-cache", mountPath: CACHE_MOUNT_PATH },
    { name: "tmp", mountPath: TMP_MOUNT_PATH },
  ];
  const volumes: V1Volume[] = [
    {
      name: "marker-cache",
      persistentVolumeClaim: { claimName: markerCacheClaimName(metadata.name, spec.markerCache) },
    },
    { name: "tmp", emptyDir: { sizeLimit: "256Mi" } },
  ];
  if (s3.caBundleSecretRef) {
    mounts.push({ name: "ca-bundle", mountPath: CA_BUNDLE_MOUNT_PATH, readOnly: true });
    volumes.push({
      name: "ca-bundle",
      secret: {
        secretName: s3.caBundleSecretRef.name,
        items: [{ key: s3.caBundleSecretRef.key, path: s3.caBundleSecretRef.key }],
      },
    });
  }
  for (const volume of runPod.volumes ?? []) volumes.push(structuredClone(volume) as V1Volume);
  for (const mount of runPod.volumeMounts ?? []) mounts.push({ ...mount, readOnly: true });

  const defaults = input.defaults ?? {};
  const container: V1Container = {
    name: ENGINE_CONTAINER_NAME,
    image: runPod.image ?? defaults.image ?? input.defaultImage ?? DEFAULT_ENGINE_IMAGE,
    // No `command`: the image's ENTRYPOINT (node /app/bin/chunkgc.js) is the contract, and a `command` would replace it.
    args: engineArgs(resource),
    // The operator's and the user's variables first: the credentials come last and win over a duplicate name.
    env: [
      ...Object.entries(defaults.env ?? {}).map(([name, value]) => ({ name, value })),
      ...userEnv(runPod),
      ...credentialEnv(s3.credentialsSecretRef?.name),
    ],
    volumeMounts: mounts,
    terminationMessagePath: TERMINATION_MESSAGE_PATH,
    // Without a result file (a usage error stops the engine before it runs) the kubelet keeps the log tail, where the
    // engine's own error line is.
    terminationMessagePolicy: "FallbackToLogsOnError",
    securityContext: structuredClone(CONTAINER_SECURITY_CONTEXT) as V1SecurityContext,
  };
  if (runPod.envFrom) container.envFrom = runPod.envFrom.map((from) => structuredClone(from) as V1EnvFromSource);
  if (runPod.imagePullPolicy) container.imagePullPolicy = runPod.imagePullPolicy;
  const containerResources = resources(runPod);
  if (containerResources) container.resources = containerResources;

  const podLabels = { ...(runPod.podLabels ?? {}), ...labels };
  const podSpec: NonNullable<NonNullable<V1Job["spec"]>["template"]["spec"]> = {
    restartPolicy: "Never",
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    terminationGracePeriodSeconds: TERMINATION_GRACE_SECONDS,
    securityContext: podSecurityContext(runPod, defaults.ids),
    containers: [container],
    volumes,
  };
  const serviceAccountName = runPod.serviceAccountName ?? defaults.serviceAccountName;
  if (serviceAccountName) podSpec.serviceAccountName = serviceAccountName;
  const pullSecrets = runPod.imagePullSecrets?.map((secret) => secret.name) ?? defaults.imagePullSecrets ?? [];
  if (pullSecrets.length > 0) podSpec.imagePullSecrets = pullSecrets.map((name) => ({ name }));
  if (runPod.nodeSelector) podSpec.nodeSelector = { ...runPod.nodeSelector };
  if (runPod.tolerations) podSpec.tolerations = runPod.tolerations.map((t) => ({ ...t }) as V1Toleration);
  if (runPod.affinity) podSpec.affinity = structuredClone(runPod.affinity) as V1Affinity;
  if (runPod.priorityClassName) podSpec.priorityClassName = runPod.priorityClassName;

  const jobSpec: NonNullable<V1Job["spec"]> = {
    backoffLimit: spec.job.backoffLimit,
    template: {
      metadata: {
        labels: podLabels,
        ...(runPod.podAnnotations ? { annotations: { ...runPod.podAnnotations } } : {}),
      },
      spec: podSpec,
    },
  };
  jobSpec.activeDeadlineSeconds =
    spec.job.activeDeadlineSeconds ?? defaults.activeDeadlineSeconds ?? DEFAULT_ACTIVE_DEADLINE_SECONDS;

  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      name,
      namespace: metadata.namespace,
      labels,
      annotations: runAnnotations(resource, run),
      ownerReferences: [ownerReference(resource)],
    },
    spec: jobSpec,
  };
}

/** The trigger recorded on a Job by buildRunJob, read back when adopting it. */
export function jobTrigger(job: V1Job): RunTrigger | undefined {
  const value = job.metadata?.labels?.[LABELS.trigger];
  return value === "Schedule" || value === "RunRequest" || value === "Generation" ? value : undefined;
}

/**
 * What run a Job built by buildRunJob is (for status events after adoption), or undefined for a Job that is not one
 * of ours (no trigger label, no name or creation time). Times from the client may be Dates or RFC 3339 strings.
 */
export function jobRunInfo(job: V1Job): RunInfo | undefined {
  const trigger = jobTrigger(job);
  const jobName = job.metadata?.name;
  const startTime = toDate(job.metadata?.creationTimestamp);
  if (trigger === undefined || jobName === undefined || startTime === undefined) return undefined;
  const annotations = job.metadata?.annotations ?? {};
  const generation = Number(annotations[JOB_ANNOTATIONS.generation] ?? "0");
  const args = job.spec?.template.spec?.containers.find((c) => c.name === ENGINE_CONTAINER_NAME)?.args ?? [];
  const info: RunInfo = {
    jobName,
    trigger,
    generation: Number.isSafeInteger(generation) && generation >= 0 ? generation : 0,
    startTime,
    dryRun: args.includes("--dry-run"),
  };
  const scheduledTime = toDate(annotations[JOB_ANNOTATIONS.scheduledTime]);
  if (trigger === "Schedule" && scheduledTime !== undefined) info.scheduledTime = scheduledTime;
  const runRequest = annotations[JOB_ANNOTATIONS.runRequest];
  if (trigger === "RunRequest" && runRequest !== undefined) info.runRequest = runRequest;
  return info;
}

/**
 * The marker-cache claim a volumeClaimTemplate asks for, or undefined when spec.markerCache names an existing
 * claim. With whenDeleted Delete it is owned by the resource (deleted with it); with Retain it has no owner.
 */
export function buildMarkerCacheClaim(resource: RunResource): V1PersistentVolumeClaim | undefined {
  const template = resource.spec.markerCache.volumeClaimTemplate;
  if (template === undefined || resource.spec.markerCache.claimName !== undefined) return undefined;
  const claim: V1PersistentVolumeClaim = {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: {
      name: markerCacheClaimName(resource.metadata.name, resource.spec.markerCache),
      namespace: resource.metadata.namespace,
      labels: { ...resourceLabels(resource), [LABELS.component]: "marker-cache" },
    },
    spec: {
      accessModes: [...template.accessModes],
      volumeMode: "Filesystem",
      resources: { requests: { storage: template.storage } },
    },
  };
  if (template.storageClassName !== undefined) claim.spec!.storageClassName = template.storageClassName;
  if (template.whenDeleted === "Delete") claim.metadata!.ownerReferences = [ownerReference(resource)];
  return claim;
}
