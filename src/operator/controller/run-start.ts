import type { V1EnvVar, V1Job } from "@kubernetes/client-node";
import {
  buildRunJob,
  ENGINE_CONTAINER_NAME,
  jobRunInfo,
  type RunIdentity,
  type RunPodDefaults,
  type RunResource,
} from "../job-builder.ts";
import { ownsJob } from "../job-observation.ts";
import { callOptions, isConflict, type KubeClients } from "../runtime/kube-api.ts";
import type { RunInfo } from "../status.ts";

/**
 * Starting a run: the Job from the pure builder, created under its deterministic name. A Job of that name that
 * already belongs to the resource (a restart between creating it and recording it) is adopted, never duplicated;
 * one that does not is a conflict the user must resolve.
 */

export type RunStart =
  | { outcome: "created" | "adopted"; job: V1Job; run: RunInfo }
  | { outcome: "conflict"; jobName: string };

/** Extra environment for every run pod (the operator's --run-env test hook), appended after the builder's own. */
export function withRunEnv(job: V1Job, env: readonly V1EnvVar[]): V1Job {
  if (env.length === 0) return job;
  const copy = structuredClone(job);
  const container = copy.spec?.template.spec?.containers.find((c) => c.name === ENGINE_CONTAINER_NAME);
  if (container) container.env = [...(container.env ?? []), ...env.map((e) => ({ ...e }))];
  return copy;
}

export async function startRun(
  clients: KubeClients,
  resource: RunResource,
  run: RunIdentity,
  options: { defaults: RunPodDefaults; runEnv: readonly V1EnvVar[] },
): Promise<RunStart> {
  const job = withRunEnv(buildRunJob({ resource, run, defaults: options.defaults }), options.runEnv);
  const namespace = resource.metadata.namespace;
  const name = job.metadata!.name!;
  let outcome: "created" | "adopted" = "created";
  let stored: V1Job;
  try {
    stored = await clients.batch.createNamespacedJob({ namespace, body: job }, callOptions());
  } catch (error) {
    if (!isConflict(error)) throw error;
    stored = await clients.batch.readNamespacedJob({ name, namespace }, callOptions());
    if (!ownsJob(stored, resource.metadata.uid)) return { outcome: "conflict", jobName: name };
    outcome = "adopted";
  }
  const info = jobRunInfo(stored);
  if (info === undefined) return { outcome: "conflict", jobName: name };
  return { outcome, job: stored, run: info };
}
