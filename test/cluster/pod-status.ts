/**
 * The kubelet's part of the node agent that is pure: from what the agent knows about each container, the pod status
 * it reports (phase, conditions, container statuses), following the kubelet's rules for regular containers.
 */
import type { V1ContainerState, V1ContainerStatus, V1PodCondition, V1PodStatus } from "@kubernetes/client-node";

export type PodPhase = "Pending" | "Running" | "Succeeded" | "Failed";
export type RestartPolicy = "Always" | "OnFailure" | "Never";

export interface Terminated {
  readonly exitCode: number;
  readonly reason: string;
  readonly message?: string;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly containerID?: string;
}

export type ContainerRunState =
  | { readonly kind: "waiting"; readonly reason: string; readonly message?: string }
  | { readonly kind: "running"; readonly startedAt: Date; readonly containerID: string }
  | ({ readonly kind: "terminated" } & Terminated);

export interface ContainerRecord {
  readonly name: string;
  readonly image: string;
  readonly restartCount: number;
  readonly state: ContainerRunState;
  readonly lastTerminated?: Terminated;
}

/** The kubelet's reason for an exit: Completed for 0, Error otherwise (OOMKilled cannot happen here). */
export function exitReason(exitCode: number): string {
  return exitCode === 0 ? "Completed" : "Error";
}

/** The pod phase from its containers (regular containers only; the agent refuses init containers). */
export function podPhase(restartPolicy: RestartPolicy, containers: readonly ContainerRecord[]): PodPhase {
  if (containers.length === 0) return "Pending";
  let neverStarted = 0;
  let running = 0;
  let failed = 0;
  let terminated = 0;
  for (const container of containers) {
    const state = container.state;
    if (state.kind === "waiting") {
      if (container.lastTerminated === undefined) neverStarted++;
      else running++; // waiting to restart after an exit: the pod is still running
    } else if (state.kind === "running") {
      running++;
    } else {
      terminated++;
      if (state.exitCode !== 0) failed++;
    }
  }
  if (neverStarted > 0) return "Pending";
  if (running > 0) return "Running";
  // every container has terminated
  if (restartPolicy === "Always") return "Running";
  if (restartPolicy === "OnFailure") return failed > 0 ? "Running" : "Succeeded";
  return failed > 0 ? "Failed" : terminated > 0 ? "Succeeded" : "Pending";
}

function toTerminatedState(t: Terminated): V1ContainerState {
  return {
    terminated: {
      exitCode: t.exitCode,
      reason: t.reason,
      ...(t.message ? { message: t.message } : {}),
      startedAt: t.startedAt,
      finishedAt: t.finishedAt,
      ...(t.containerID ? { containerID: t.containerID } : {}),
    },
  };
}

export function containerStatus(record: ContainerRecord): V1ContainerStatus {
  const state = record.state;
  let v1State: V1ContainerState;
  let containerID: string | undefined;
  if (state.kind === "waiting") {
    v1State = { waiting: { reason: state.reason, ...(state.message ? { message: state.message } : {}) } };
  } else if (state.kind === "running") {
    v1State = { running: { startedAt: state.startedAt } };
    containerID = state.containerID;
  } else {
    v1State = toTerminatedState(state);
    containerID = state.containerID;
  }
  return {
    name: record.name,
    image: record.image,
    imageID: record.image,
    ready: state.kind === "running",
    started: state.kind === "running",
    restartCount: record.restartCount,
    state: v1State,
    lastState: record.lastTerminated ? toTerminatedState(record.lastTerminated) : {},
    ...(containerID ? { containerID } : {}),
  };
}

function condition(type: string, status: boolean, now: Date, reason?: string): V1PodCondition {
  return {
    type,
    status: status ? "True" : "False",
    lastTransitionTime: now,
    lastProbeTime: undefined,
    ...(reason ? { reason } : {}),
  };
}

/**
 * Conditions the agent owns. `previous` keeps lastTransitionTime stable while a condition does not change, and
 * conditions owned by others (PodScheduled from the binding, DisruptionTarget, ...) pass through.
 */
export function podConditions(
  phase: PodPhase,
  containers: readonly ContainerRecord[],
  previous: readonly V1PodCondition[],
  now: Date,
): V1PodCondition[] {
  const terminal = phase === "Succeeded" || phase === "Failed";
  const allRunning = containers.length > 0 && containers.every((c) => c.state.kind === "running");
  const notReadyReason = terminal ? "PodCompleted" : "ContainersNotReady";
  const ours = [
    condition("PodReadyToStartContainers", !terminal, now),
    condition("Initialized", true, now),
    condition("Ready", allRunning && !terminal, now, allRunning && !terminal ? undefined : notReadyReason),
    condition("ContainersReady", allRunning && !terminal, now, allRunning && !terminal ? undefined : notReadyReason),
  ];
  const result = previous.filter((c) => !ours.some((o) => o.type === c.type));
  for (const mine of ours) {
    const before = previous.find((c) => c.type === mine.type);
    result.push(
      before && before.status === mine.status && before.lastTransitionTime
        ? { ...mine, lastTransitionTime: before.lastTransitionTime }
        : mine,
    );
  }
  return result;
}

export interface StatusInput {
  readonly restartPolicy: RestartPolicy;
  readonly containers: readonly ContainerRecord[];
  readonly previousConditions: readonly V1PodCondition[];
  readonly startTime: Date;
  readonly hostIP: string;
  readonly now: Date;
  /** Set for a pod the agent refuses or gives up on: forces phase Failed with this reason and message. */
  readonly failure?: { readonly reason: string; readonly message: string };
}

/** The status the agent writes through pods/status. */
export function podStatus(input: StatusInput): V1PodStatus {
  const phase = input.failure ? "Failed" : podPhase(input.restartPolicy, input.containers);
  return {
    phase,
    ...(input.failure ? { reason: input.failure.reason, message: input.failure.message } : {}),
    conditions: podConditions(phase, input.containers, input.previousConditions, input.now),
    containerStatuses: input.containers.map(containerStatus),
    hostIP: input.hostIP,
    hostIPs: [{ ip: input.hostIP }],
    podIP: input.hostIP,
    podIPs: [{ ip: input.hostIP }],
    startTime: input.startTime,
  };
}
