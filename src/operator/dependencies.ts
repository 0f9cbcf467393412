import type { CoreV1Event, V1PersistentVolumeClaim, V1Pod, V1Secret } from "@kubernetes/client-node";
import type { GarbageCollectionSpec } from "../api/spec.ts";
import { toDate } from "../util/time.ts";
import { CREDENTIAL_KEYS } from "./job-builder.ts";
import { REASONS } from "./status.ts";

/**
 * Whether what a spec names exists: the credentials Secret with its two keys, the CA bundle Secret with its key, the
 * marker-cache claim. Pure: the reconciler reads the objects and asks here. Messages name the object and the field
 * that refers to it, never a Secret's content.
 */

export interface DependencyProblem {
  /** CamelCase, used as the Ready condition's reason and the Event's reason. */
  readonly reason: (typeof REASONS)[
    | "secretNotFound"
    | "secretKeyMissing"
    | "caBundleSecretNotFound"
    | "caBundleKeyMissing"
    | "claimNotFound"
    | "claimTerminating"
    | "claimPending"];
  readonly message: string;
  /**
   * False for a problem a run may still resolve: a claim Pending while a run pod uses it may still bind. Ready stays
   * False until it binds; a run that cannot start because of it ends (Unschedulable) after the start timeout.
   */
  readonly blocksRun: boolean;
}

function hasKey(secret: V1Secret, key: string): boolean {
  return (secret.data?.[key] ?? secret.stringData?.[key]) !== undefined;
}

export function credentialsProblem(
  namespace: string,
  spec: GarbageCollectionSpec,
  secret: V1Secret | undefined,
): DependencyProblem | undefined {
  const ref = spec.datastore.s3.credentialsSecretRef;
  if (ref === undefined) return undefined; // the AWS SDK's default chain: nothing to check here
  const { name } = ref;
  if (secret === undefined) {
    return {
      reason: REASONS.secretNotFound,
      blocksRun: true,
      message: `Secret ${namespace}/${name} (spec.datastore.s3.credentialsSecretRef) not found; create it with the keys ${CREDENTIAL_KEYS.accessKeyId} and ${CREDENTIAL_KEYS.secretAccessKey}`,
    };
  }
  const missing = [CREDENTIAL_KEYS.accessKeyId, CREDENTIAL_KEYS.secretAccessKey].filter((key) => !hasKey(secret, key));
  if (missing.length > 0) {
    return {
      reason: REASONS.secretKeyMissing,
      blocksRun: true,
      message: `Secret ${namespace}/${name} (spec.datastore.s3.credentialsSecretRef) has no key ${missing.join(" and no key ")}`,
    };
  }
  return undefined;
}

export function caBundleProblem(
  namespace: string,
  spec: GarbageCollectionSpec,
  secret: V1Secret | undefined,
): DependencyProblem | undefined {
  const ref = spec.datastore.s3.caBundleSecretRef;
  if (ref === undefined) return undefined;
  if (secret === undefined) {
    return {
      reason: REASONS.caBundleSecretNotFound,
      blocksRun: true,
      message: `Secret ${namespace}/${ref.name} (spec.datastore.s3.caBundleSecretRef) not found`,
    };
  }
  if (!hasKey(secret, ref.key)) {
    return {
      reason: REASONS.caBundleKeyMissing,
      blocksRun: true,
      message: `Secret ${namespace}/${ref.name} (spec.datastore.s3.caBundleSecretRef) has no key ${ref.key}`,
    };
  }
  return undefined;
}

/** What tells whether a Pending claim only waits for its first consumer, and whether a run pod consumes it. */
export interface ClaimBinding {
  /** The claim's StorageClass binds on first consumer and no node was selected for it yet. */
  readonly waitsForFirstConsumer: boolean;
  /** Names of the run pods (not finished) that mount the claim and have had time to bind it. */
  readonly runPods: readonly string[];
}

/** The annotation the scheduler sets on a WaitForFirstConsumer claim once a pod using it is placed on a node. */
export const SELECTED_NODE_ANNOTATION = "volume.kubernetes.io/selected-node";
/** The reason of the Event the PersistentVolume controller records on a claim that waits for its first consumer. */
export const WAIT_FOR_FIRST_CONSUMER_REASON = "WaitForFirstConsumer";

/**
 * True when the claim's own Events say it waits for its first consumer (volumeBindingMode WaitForFirstConsumer) and
 * no node was selected for it yet: the normal state of a new claim before the first run pod is scheduled.
 */
export function waitsForFirstConsumer(claim: V1PersistentVolumeClaim, events: readonly CoreV1Event[]): boolean {
  if (claim.metadata?.annotations?.[SELECTED_NODE_ANNOTATION] !== undefined) return false;
  const uid = claim.metadata?.uid;
  return events.some(
    (event) =>
      event.reason === WAIT_FOR_FIRST_CONSUMER_REASON &&
      (uid === undefined || event.involvedObject.uid === undefined || event.involvedObject.uid === uid),
  );
}

/**
 * How long a run pod may wait for its claim to bind before the claim counts as stuck: binding a WaitForFirstConsumer
 * claim takes the scheduler's placement plus the provisioner's work, seconds on a healthy cluster.
 */
export const CLAIM_BIND_GRACE_MS = 60_000;

/**
 * Run pods of `namespace` that mount the claim, have not finished, and were created at least CLAIM_BIND_GRACE_MS
 * before `now` (a pod without a creation time counts as old: a stuck claim is then reported rather than hidden).
 */
export function runPodsUsingClaim(pods: readonly V1Pod[], namespace: string, claimName: string, now: Date): string[] {
  const createdBefore = now.getTime() - CLAIM_BIND_GRACE_MS;
  return pods
    .filter(
      (pod) =>
        pod.metadata?.namespace === namespace &&
        pod.status?.phase !== "Succeeded" &&
        pod.status?.phase !== "Failed" &&
        (pod.spec?.volumes ?? []).some((volume) => volume.persistentVolumeClaim?.claimName === claimName) &&
        !((toDate(pod.metadata?.creationTimestamp)?.getTime() ?? Number.NEGATIVE_INFINITY) > createdBefore),
    )
    .map((pod) => pod.metadata?.name ?? "")
    .filter((name) => name !== "");
}

/** Problems with the claim a run mounts (a claim from the template is created before this is asked). */
export function claimProblem(
  namespace: string,
  claimName: string,
  claim: V1PersistentVolumeClaim | undefined,
  fromTemplate: boolean,
  binding: ClaimBinding = { waitsForFirstConsumer: false, runPods: [] },
): DependencyProblem | undefined {
  const field = fromTemplate ? "spec.markerCache.volumeClaimTemplate" : "spec.markerCache.claimName";
  if (claim === undefined) {
    return {
      reason: REASONS.claimNotFound,
      message: `PersistentVolumeClaim ${namespace}/${claimName} (${field}) not found`,
      blocksRun: true,
    };
  }
  if (claim.metadata?.deletionTimestamp) {
    return {
      reason: REASONS.claimTerminating,
      blocksRun: true,
      message: `PersistentVolumeClaim ${namespace}/${claimName} (${field}) is being deleted`,
    };
  }
  if (claim.status?.phase !== undefined && claim.status.phase !== "Bound") {
    const [pod] = binding.runPods;
    // Waiting for the first consumer is how every first run on a WaitForFirstConsumer StorageClass begins: the run
    // pod binds the claim. Only a claim that stays Pending while a run pod uses it is a problem.
    // Once the scheduler placed that pod (the selected-node annotation), the provisioner is at work: the same grace.
    const consumerPlaced = claim.metadata?.annotations?.[SELECTED_NODE_ANNOTATION] !== undefined;
    if ((binding.waitsForFirstConsumer || consumerPlaced) && pod === undefined) return undefined;
    const why =
      pod !== undefined
        ? `is ${claim.status.phase} although the run pod ${pod} uses it`
        : `is ${claim.status.phase} and does not wait for a first consumer`;
    return {
      reason: REASONS.claimPending,
      message:
        `PersistentVolumeClaim ${namespace}/${claimName} (${field}) ${why}: see the claim's Events ` +
        "(no matching volume, provisioner failing, StorageClass missing)",
      blocksRun: false,
    };
  }
  return undefined;
}
