import type { V1PersistentVolumeClaim } from "@kubernetes/client-node";
import { buildMarkerCacheClaim, markerCacheClaimName, type RunResource } from "../job-builder.ts";
import { callOptions, isConflict, isNotFound, type KubeClients } from "../runtime/kube-api.ts";

/**
 * The marker-cache claim a run mounts: read it, and create it from spec.markerCache.volumeClaimTemplate when it is
 * missing (before the first Job, which would otherwise wait for it). An existing claimName is never created.
 */
export async function ensureMarkerCacheClaim(
  clients: KubeClients,
  resource: RunResource,
): Promise<{ name: string; claim: V1PersistentVolumeClaim | undefined; created: boolean; fromTemplate: boolean }> {
  const { namespace } = resource.metadata;
  const name = markerCacheClaimName(resource.metadata.name, resource.spec.markerCache);
  const template = buildMarkerCacheClaim(resource);
  const fromTemplate = template !== undefined;
  try {
    const claim = await clients.core.readNamespacedPersistentVolumeClaim({ name, namespace }, callOptions());
    return { name, claim, created: false, fromTemplate };
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  if (template === undefined) return { name, claim: undefined, created: false, fromTemplate };
  try {
    const claim = await clients.core.createNamespacedPersistentVolumeClaim(
      { namespace, body: template },
      callOptions(),
    );
    return { name, claim, created: true, fromTemplate };
  } catch (error) {
    if (!isConflict(error)) throw error;
    const claim = await clients.core.readNamespacedPersistentVolumeClaim({ name, namespace }, callOptions());
    return { name, claim, created: false, fromTemplate };
  }
}
