import {
  ApiException,
  BatchV1Api,
  type ConfigurationOptions,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  EventsV1Api,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type ObservableMiddleware,
  PatchStrategy,
  setHeaderMiddleware,
} from "@kubernetes/client-node";
import { packageVersion } from "../../util/package-info.ts";

/**
 * The Kubernetes API clients of the operator (client-node's typed APIs) and the two things every call needs: a
 * timeout and, for patches, the content type. Thin: no decisions here.
 */

export interface KubeClients {
  readonly core: CoreV1Api;
  readonly batch: BatchV1Api;
  readonly coordination: CoordinationV1Api;
  readonly events: EventsV1Api;
  readonly custom: CustomObjectsApi;
}

/** Seconds an ordinary API call may take before it is aborted. */
export const API_TIMEOUT_MS = 30_000;

export function makeClients(kubeConfig: KubeConfig): KubeClients {
  return {
    core: kubeConfig.makeApiClient(CoreV1Api),
    batch: kubeConfig.makeApiClient(BatchV1Api),
    coordination: kubeConfig.makeApiClient(CoordinationV1Api),
    events: kubeConfig.makeApiClient(EventsV1Api),
    custom: kubeConfig.makeApiClient(CustomObjectsApi),
  };
}

const USER_AGENT = `chunkgc-operator/${packageVersion()}`;

/** Sets the user agent, an abort timeout and (optionally) the content type and Accept on one request. */
function requestMiddleware(timeoutMs: number, contentType?: string, accept?: string): ObservableMiddleware {
  const agent = setHeaderMiddleware("User-Agent", USER_AGENT);
  return {
    pre(context) {
      context.setSignal(AbortSignal.timeout(timeoutMs));
      if (contentType !== undefined) context.setHeaderParam("Content-Type", contentType);
      if (accept !== undefined) context.setHeaderParam("Accept", accept);
      return agent.pre(context);
    },
    post: (context) => agent.post(context),
  };
}

/** Options for one call: a timeout, the merge-patch content type for PATCH requests, an Accept header. */
export function callOptions(
  options: { timeoutMs?: number; mergePatch?: boolean; accept?: string } = {},
): ConfigurationOptions {
  const contentType = options.mergePatch ? PatchStrategy.MergePatch : undefined;
  return {
    middleware: [requestMiddleware(options.timeoutMs ?? API_TIMEOUT_MS, contentType, options.accept)],
    middlewareMergeStrategy: "append",
  };
}

/** meta.k8s.io/v1 PartialObjectMetadata: an object without spec, status or data. */
export type PartialObjectMetadata = KubernetesObject;

/** Ask the API server for metadata only (PartialObjectMetadata): names and labels, never a Secret's data. */
export const METADATA_LIST_ACCEPT = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
export const METADATA_WATCH_ACCEPT = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";

/** The kube config for a metadata-only watch: the same cluster and credentials, with the metadata Accept header. */
export function metadataOnlyKubeConfig(kubeConfig: KubeConfig): KubeConfig {
  const wrapped = Object.create(kubeConfig) as KubeConfig;
  wrapped.applySecurityAuthentication = async (context) => {
    await kubeConfig.applySecurityAuthentication(context);
    context.setHeaderParam("Accept", METADATA_WATCH_ACCEPT);
  };
  return wrapped;
}

/** Secrets of one namespace (or all), as metadata only. */
export async function listSecretMetadata(
  clients: KubeClients,
  namespace: string | undefined,
): Promise<KubernetesListObject<PartialObjectMetadata>> {
  const options = callOptions({ timeoutMs: 120_000, accept: METADATA_LIST_ACCEPT });
  const list = namespace
    ? await clients.core.listNamespacedSecret({ namespace }, options)
    : await clients.core.listSecretForAllNamespaces({}, options);
  return list as unknown as KubernetesListObject<PartialObjectMetadata>;
}

/** The HTTP status of a failed API call, if it got that far. */
export function statusCodeOf(error: unknown): number | undefined {
  if (error instanceof ApiException) return error.code;
  if (typeof error === "object" && error !== null && "code" in error && typeof error.code === "number") {
    return error.code;
  }
  return undefined;
}

export const isNotFound = (error: unknown) => statusCodeOf(error) === 404;
export const isConflict = (error: unknown) => statusCodeOf(error) === 409;

/** A short description of a failed call for logs: status and the API's message, never request bodies. */
export function describeApiError(error: unknown): string {
  if (error instanceof ApiException) {
    const body = error.body as { message?: unknown } | string | undefined;
    let message: string | undefined;
    if (typeof body === "string") {
      try {
        message = (JSON.parse(body) as { message?: string }).message;
      } catch {
        message = body.slice(0, 300);
      }
    } else if (body && typeof body.message === "string") {
      message = body.message;
    }
    return `HTTP ${error.code}${message ? `: ${message}` : ""}`;
  }
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
