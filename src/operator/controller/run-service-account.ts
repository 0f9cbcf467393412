import type { V1ServiceAccount } from "@kubernetes/client-node";
import { APP_NAME, LABELS, MANAGER_NAME, RUN_COMPONENT } from "../../api/group.ts";
import { callOptions, isConflict, isNotFound, type KubeClients } from "../runtime/kube-api.ts";

/**
 * The operator's default run ServiceAccount in a namespace the chart cannot know in advance (the operator watches all
 * namespaces): created on the first run there, with no API rights bound and no token mounted, and the annotations
 * the installation gives it (such as an IRSA role). Never touched once it exists, and never one a spec names.
 */

export function buildRunServiceAccount(
  namespace: string,
  name: string,
  annotations: Readonly<Record<string, string>>,
): V1ServiceAccount {
  return {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: {
      name,
      namespace,
      labels: { [LABELS.name]: APP_NAME, [LABELS.managedBy]: MANAGER_NAME, [LABELS.component]: RUN_COMPONENT },
      ...(Object.keys(annotations).length > 0 ? { annotations: { ...annotations } } : {}),
    },
    automountServiceAccountToken: false,
  };
}

/** True when it had to be created. */
export async function ensureRunServiceAccount(
  clients: KubeClients,
  namespace: string,
  name: string,
  annotations: Readonly<Record<string, string>>,
): Promise<boolean> {
  try {
    await clients.core.readNamespacedServiceAccount({ name, namespace }, callOptions());
    return false;
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  try {
    await clients.core.createNamespacedServiceAccount(
      { namespace, body: buildRunServiceAccount(namespace, name, annotations) },
      callOptions(),
    );
    return true;
  } catch (error) {
    if (isConflict(error)) return false;
    throw error;
  }
}
