import type { V1PersistentVolumeClaim, V1Secret } from "@kubernetes/client-node";
import type { GarbageCollectionSpec } from "../../api/spec.ts";
import { CREDENTIAL_KEYS } from "../job-builder.ts";

/**
 * Whether what a spec names exists: the credentials Secret with its two keys, the CA bundle Secret with its key, the
 * marker-cache claim. Pure: the reconciler reads the objects and asks here. Messages name the object and the field
 * that refers to it, never a Secret's content.
 */

export interface DependencyProblem {
  /** CamelCase, used as the Ready condition's reason and the Event's reason. */
  readonly reason:
    | "SecretNotFound"
    | "SecretKeyMissing"
    | "CaBundleSecretNotFound"
    | "CaBundleKeyMissing"
    | "ClaimNotFound"
    | "ClaimTerminating"
    | "ClaimPending";
  readonly message: string;
  /**
   * False for a problem a run may still resolve: a Pending claim of a WaitForFirstConsumer StorageClass binds only
   * when the first run pod is scheduled. Ready stays False until it binds; a run that cannot start because of it
   * ends (Unschedulable) after the start timeout.
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
      reason: "SecretNotFound",
      blocksRun: true,
      message: `Secret ${namespace}/${name} (spec.datastore.s3.credentialsSecretRef) not found; create it with the keys ${CREDENTIAL_KEYS.accessKeyId} and ${CREDENTIAL_KEYS.secretAccessKey}`,
    };
  }
  const missing = [CREDENTIAL_KEYS.accessKeyId, CREDENTIAL_KEYS.secretAccessKey].filter((key) => !hasKey(secret, key));
  if (missing.length > 0) {
    return {
      reason: "SecretKeyMissing",
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
      reason: "CaBundleSecretNotFound",
      blocksRun: true,
      message: `Secret ${namespace}/${ref.name} (spec.datastore.s3.caBundleSecretRef) not found`,
    };
  }
  if (!hasKey(secret, ref.key)) {
    return {
      reason: "CaBundleKeyMissing",
      blocksRun: true,
      message: `Secret ${namespace}/${ref.name} (spec.datastore.s3.caBundleSecretRef) has no key ${ref.key}`,
    };
  }
  return undefined;
}

/** Problems with the claim a run mounts (a claim from the template is created before this is asked). */
export function claimProblem(
  namespace: string,
  claimName: string,
  claim: V1PersistentVolumeClaim | undefined,
  fromTemplate: boolean,
): DependencyProblem | undefined {
  const field = fromTemplate ? "spec.markerCache.volumeClaimTemplate" : "spec.markerCache.claimName";
  if (claim === undefined) {
    return {
      reason: "ClaimNotFound",
      message: `PersistentVolumeClaim ${namespace}/${claimName} (${field}) not found`,
      blocksRun: true,
    };
  }
  if (claim.metadata?.deletionTimestamp) {
    return {
      reason: "ClaimTerminating",
      blocksRun: true,
      message: `PersistentVolumeClaim ${namespace}/${claimName} (${field}) is being deleted`,
    };
  }
  if (claim.status?.phase !== undefined && claim.status.phase !== "Bound") {
    return {
      reason: "ClaimPending",
      message:
        `PersistentVolumeClaim ${namespace}/${claimName} (${field}) is ${claim.status.phase}: a WaitForFirstConsumer ` +
        "StorageClass binds it when the first run pod is scheduled; otherwise see the claim's Events " +
        "(no matching volume, provisioner failing)",
      blocksRun: false,
    };
  }
  return undefined;
}
