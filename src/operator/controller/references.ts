import type { GarbageCollectionSpec } from "../../api/spec.ts";
import { GarbageCollectionSpecSchema } from "../../api/spec.ts";
import { markerCacheClaimName } from "../job-builder.ts";

/**
 * Which objects a GarbageCollection names, and, in reverse, which resources a changed Secret or claim concerns, so
 * that a Secret created or fixed after the resource reaches it within seconds instead of after the retry backoff.
 * Pure; specs that do not parse name nothing (they are Stalled until they change anyway).
 */

export type ReferencedKind = "Secret" | "PersistentVolumeClaim";

/** The Secret names a spec uses: credentials, CA bundle, and the run pod's env, envFrom and volumes. */
export function referencedSecrets(spec: GarbageCollectionSpec): Set<string> {
  const names = new Set<string>();
  const s3 = spec.datastore.s3;
  if (s3.credentialsSecretRef) names.add(s3.credentialsSecretRef.name);
  if (s3.caBundleSecretRef) names.add(s3.caBundleSecretRef.name);
  for (const env of spec.runPod.env ?? []) {
    if (env.valueFrom?.secretKeyRef) names.add(env.valueFrom.secretKeyRef.name);
  }
  for (const from of spec.runPod.envFrom ?? []) if (from.secretRef) names.add(from.secretRef.name);
  for (const volume of spec.runPod.volumes ?? []) if (volume.secret) names.add(volume.secret.secretName);
  for (const pull of spec.runPod.imagePullSecrets ?? []) names.add(pull.name);
  return names;
}

export function referencedClaim(resourceName: string, spec: GarbageCollectionSpec): string {
  return markerCacheClaimName(resourceName, spec.markerCache);
}

interface ResourceLike {
  metadata?: { name?: string; namespace?: string };
  spec?: unknown;
}

/** namespace/name keys of the resources in `namespace` that name the object. */
export function resourcesReferencing(
  kind: ReferencedKind,
  namespace: string,
  objectName: string,
  resources: readonly ResourceLike[],
): string[] {
  const keys: string[] = [];
  for (const resource of resources) {
    const name = resource.metadata?.name;
    if (name === undefined || resource.metadata?.namespace !== namespace) continue;
    const parsed = GarbageCollectionSpecSchema.safeParse(resource.spec ?? {});
    if (!parsed.success) continue;
    const uses =
      kind === "Secret"
        ? referencedSecrets(parsed.data).has(objectName)
        : referencedClaim(name, parsed.data) === objectName;
    if (uses) keys.push(`${namespace}/${name}`);
  }
  return keys;
}
