/**
 * The scheduler's part of the node agent, pure: does a pending pod fit the agent's one node? Only what a pod can ask
 * of a node without other pods in play: schedulerName, scheduling gates, nodeSelector and required node affinity.
 * The agent's node has no taints, so tolerations never matter.
 */
import type { V1NodeSelectorRequirement, V1NodeSelectorTerm, V1Pod } from "@kubernetes/client-node";

export const DEFAULT_SCHEDULER = "default-scheduler";

export type Fit = { readonly fits: true } | { readonly fits: false; readonly reason: string };

function requirementMatches(requirement: V1NodeSelectorRequirement, value: string | undefined): boolean {
  const values = requirement.values ?? [];
  switch (requirement.operator) {
    case "In":
      return value !== undefined && values.includes(value);
    case "NotIn":
      return value === undefined || !values.includes(value);
    case "Exists":
      return value !== undefined;
    case "DoesNotExist":
      return value === undefined;
    case "Gt":
    case "Lt": {
      const bound = Number.parseInt(values[0] ?? "", 10);
      const actual = value === undefined ? Number.NaN : Number.parseInt(value, 10);
      if (Number.isNaN(bound) || Number.isNaN(actual)) return false;
      return requirement.operator === "Gt" ? actual > bound : actual < bound;
    }
    default:
      return false;
  }
}

function termMatches(term: V1NodeSelectorTerm, nodeName: string, labels: Record<string, string>): boolean {
  const expressions = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (expressions.length === 0 && fields.length === 0) return false; // an empty term matches nothing
  return (
    expressions.every((r) => requirementMatches(r, labels[r.key])) &&
    fields.every((r) => requirementMatches(r, r.key === "metadata.name" ? nodeName : undefined))
  );
}

/** Whether the agent should bind this pod to its node. */
export function podFitsNode(pod: V1Pod, nodeName: string, labels: Record<string, string>): Fit {
  const spec = pod.spec;
  if (!spec) return { fits: false, reason: "no spec" };
  const scheduler = spec.schedulerName ?? DEFAULT_SCHEDULER;
  if (scheduler !== DEFAULT_SCHEDULER) return { fits: false, reason: `schedulerName ${scheduler} is not ours` };
  if (spec.schedulingGates?.length) {
    return { fits: false, reason: `scheduling gates ${spec.schedulingGates.map((g) => g.name).join(", ")}` };
  }
  for (const [key, value] of Object.entries(spec.nodeSelector ?? {})) {
    if (labels[key] !== value) return { fits: false, reason: `node(s) didn't match Pod's node selector ${key}` };
  }
  const terms = spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  if (terms && !terms.some((term) => termMatches(term, nodeName, labels))) {
    return { fits: false, reason: "node(s) didn't match Pod's node affinity/selector" };
  }
  return { fits: true };
}
