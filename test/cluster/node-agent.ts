/**
 * A process-based node for the test control plane: registers a Ready Node, binds pending pods that fit it (the
 * scheduler's job) and runs the chunkgc containers of its pods as local processes (the kubelet's job, pod-worker.ts).
 * Pods it cannot run faithfully are refused: phase Failed, reason Unsupported, a Warning event.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import {
  CoreV1Api,
  type Informer,
  type KubeConfig,
  makeInformer,
  type ObjectCache,
  PatchStrategy,
  setHeaderOptions,
  type V1Node,
  type V1Pod,
} from "@kubernetes/client-node";
import { type Logger, pino } from "pino";
import { REDACTED_PATHS } from "../../src/log.ts";
import { PodWorker, type WorkerContext } from "./pod-worker.ts";
import { podFitsNode } from "./scheduling.ts";

export const DEFAULT_NODE_NAME = "chunkgc-node";

export interface NodeAgentOptions {
  readonly kubeConfig: KubeConfig;
  /** The agent's directory: pod directories, PVC directories, container logs, its own log. */
  readonly dir: string;
  /** The apiserver's port on 127.0.0.1, passed to containers as KUBERNETES_SERVICE_PORT. */
  readonly apiserverPort: number;
  readonly nodeName?: string;
  /** Extra node labels (kubernetes.io/hostname, kubernetes.io/os and kubernetes.io/arch are always set). */
  readonly nodeLabels?: Readonly<Record<string, string>>;
  /** The script run for the chunkgc image; defaults to the project's bin/chunkgc.js. */
  readonly entrypoint?: string;
  /** Bind pending pods that fit (the scheduler's job); false for an extra agent that only runs pods named to it. */
  readonly bindPendingPods?: boolean;
  /** The kubelet version the node reports. */
  readonly kubeletVersion?: string;
  readonly logger?: Logger;
}

const MERGE_PATCH = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
const STRATEGIC_PATCH = setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch);

function errorCode(error: unknown): number | undefined {
  return typeof error === "object" && error !== null && "code" in error && typeof error.code === "number"
    ? error.code
    : undefined;
}

/** The directory that stands for a PersistentVolumeClaim, below an agent directory. */
export function claimDirIn(agentDir: string, namespace: string, claimName: string): string {
  return join(agentDir, "volumes", "pvc", namespace, claimName);
}

/** The directory of a pod's container logs, below an agent directory. */
export function podLogDirIn(agentDir: string, pod: V1Pod): string {
  return join(agentDir, "logs", `${pod.metadata?.namespace}_${pod.metadata?.name}_${pod.metadata?.uid}`);
}

export class NodeAgent {
  readonly nodeName: string;
  readonly dir: string;
  readonly labels: Readonly<Record<string, string>>;
  private readonly options: NodeAgentOptions;
  private readonly api: CoreV1Api;
  private readonly logger: Logger;
  private readonly workers = new Map<string, PodWorker>();
  private readonly binding = new Set<string>();
  private readonly unschedulable = new Map<string, string>();
  private informer: (Informer<V1Pod> & ObjectCache<V1Pod>) | undefined;
  private stopped = false;
  private restartTimer: NodeJS.Timeout | undefined;

  constructor(options: NodeAgentOptions) {
    this.options = options;
    this.nodeName = options.nodeName ?? DEFAULT_NODE_NAME;
    this.dir = options.dir;
    this.labels = {
      ...options.nodeLabels,
      "kubernetes.io/hostname": this.nodeName,
      "kubernetes.io/os": "linux",
      "kubernetes.io/arch": "amd64",
    };
    this.api = options.kubeConfig.makeApiClient(CoreV1Api);
    mkdirSync(join(this.dir, "logs"), { recursive: true });
    this.logger =
      options.logger ??
      pino(
        {
          name: "node-agent",
          level: process.env.CHUNKGC_LOG_LEVEL ?? "info",
          redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
          timestamp: pino.stdTimeFunctions.isoTime,
        },
        pino.destination({ dest: join(this.dir, "node-agent.log"), sync: true }),
      );
  }

  /** The directory that stands for a PersistentVolumeClaim (shared by every pod that mounts the claim). */
  claimDir(namespace: string, claimName: string): string {
    return claimDirIn(this.dir, namespace, claimName);
  }

  /** Where a container's log is: `<dir>/logs/<namespace>_<pod>_<uid>/<container>/<restartCount>.log`. */
  podLogPath(pod: V1Pod, container: string, restartCount = 0): string {
    return join(this.podLogDir(pod), container, `${restartCount}.log`);
  }

  private podKey(pod: V1Pod): string {
    return `${pod.metadata?.namespace}_${pod.metadata?.name}_${pod.metadata?.uid}`;
  }

  private podLogDir(pod: V1Pod): string {
    return podLogDirIn(this.dir, pod);
  }

  async start(): Promise<void> {
    await this.registerNode();
    const informer = makeInformer<V1Pod>(this.options.kubeConfig, "/api/v1/pods", () =>
      this.api.listPodForAllNamespaces(),
    );
    informer.on("add", (pod) => this.onPod(pod));
    informer.on("update", (pod) => this.onPod(pod));
    informer.on("delete", (pod) => this.onPodDeleted(pod));
    informer.on("error", (error: unknown) => {
      if (this.stopped) return;
      this.logger.warn({ err: error }, "pod watch failed; restarting it");
      this.restartTimer = setTimeout(() => {
        if (!this.stopped) void informer.start().catch((e: unknown) => this.logger.error({ err: e }, "restart failed"));
      }, 1_000);
    });
    this.informer = informer;
    await informer.start();
    this.logger.info({ node: this.nodeName }, "node agent started");
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    await this.informer?.stop();
    await Promise.all([...this.workers.values()].map((worker) => worker.shutdown()));
    this.workers.clear();
    this.logger.info("node agent stopped");
  }

  private async registerNode(): Promise<void> {
    const node: V1Node = {
      apiVersion: "v1",
      kind: "Node",
      metadata: { name: this.nodeName, labels: { ...this.labels } },
    };
    try {
      await this.api.createNode({ body: node });
    } catch (error) {
      if (errorCode(error) !== 409) throw error;
      await this.api.patchNode({ name: this.nodeName, body: { metadata: { labels: this.labels } } }, MERGE_PATCH);
    }
    const now = new Date();
    const resources = { cpu: "2", memory: "24Gi", pods: "110", "ephemeral-storage": "100Gi" };
    const condition = (type: string, status: string, reason: string, message: string) => ({
      type,
      status,
      reason,
      message,
      lastHeartbeatTime: now,
      lastTransitionTime: now,
    });
    await this.api.patchNodeStatus(
      {
        name: this.nodeName,
        body: {
          status: {
            conditions: [
              condition("Ready", "True", "KubeletReady", "chunkgc node agent is posting ready status"),
              condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "no memory pressure"),
              condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "no disk pressure"),
              condition("PIDPressure", "False", "KubeletHasSufficientPID", "no PID pressure"),
            ],
            addresses: [
              { type: "InternalIP", address: "127.0.0.1" },
              { type: "Hostname", address: this.nodeName },
            ],
            capacity: resources,
            allocatable: resources,
            nodeInfo: {
              architecture: "amd64",
              operatingSystem: "linux",
              osImage: "chunkgc node agent",
              kernelVersion: "",
              containerRuntimeVersion: "chunkgc-node-agent://1",
              kubeletVersion: this.options.kubeletVersion ?? "",
              kubeProxyVersion: "",
              machineID: "",
              systemUUID: "",
              bootID: "",
            },
          },
        },
      },
      STRATEGIC_PATCH,
    );
    // Admission taints a new node not-ready until the node lifecycle controller (not run here) sees it Ready.
    await this.api.patchNode({ name: this.nodeName, body: { spec: { taints: null } } }, MERGE_PATCH);
  }

  private context(): WorkerContext {
    return {
      api: this.api,
      nodeName: this.nodeName,
      logger: this.logger,
      apiserverPort: this.options.apiserverPort,
      entrypoint: this.options.entrypoint,
      podDir: (pod) => join(this.dir, "pods", this.podKey(pod)),
      podLogDir: (pod) => this.podLogDir(pod),
      claimDir: (namespace, claim) => this.claimDir(namespace, claim),
      recordEvent: (pod, type, reason, message) => this.recordEvent(pod, type, reason, message),
    };
  }

  private onPod(pod: V1Pod): void {
    if (this.stopped) return;
    const uid = pod.metadata?.uid ?? "";
    const nodeName = pod.spec?.nodeName;
    if (!nodeName) {
      if (!pod.metadata?.deletionTimestamp && this.options.bindPendingPods !== false) void this.schedule(pod);
      return;
    }
    if (nodeName !== this.nodeName) return;
    const existing = this.workers.get(uid);
    if (existing) {
      existing.update(pod);
      return;
    }
    const worker = new PodWorker(this.context(), pod);
    this.workers.set(uid, worker);
    if (pod.metadata?.deletionTimestamp) {
      worker.update(pod);
      return;
    }
    worker.start().catch((error: unknown) => this.logger.error({ err: error, uid }, "pod worker failed"));
  }

  private onPodDeleted(pod: V1Pod): void {
    const uid = pod.metadata?.uid ?? "";
    this.unschedulable.delete(uid);
    const worker = this.workers.get(uid);
    if (!worker) return;
    this.workers.delete(uid);
    void worker.removed();
  }

  private async schedule(pod: V1Pod): Promise<void> {
    const uid = pod.metadata?.uid ?? "";
    const name = pod.metadata?.name ?? "";
    const namespace = pod.metadata?.namespace ?? "";
    if (this.binding.has(uid)) return;
    const fit = podFitsNode(pod, this.nodeName, this.labels);
    if (!fit.fits) {
      if (this.unschedulable.get(uid) === fit.reason) return;
      this.unschedulable.set(uid, fit.reason);
      if (pod.spec?.schedulerName && pod.spec.schedulerName !== "default-scheduler") return; // not ours to report
      const message = `0/1 nodes are available: 1 ${fit.reason}.`;
      try {
        await this.api.patchNamespacedPodStatus(
          {
            name,
            namespace,
            body: {
              status: {
                conditions: [
                  {
                    type: "PodScheduled",
                    status: "False",
                    reason: "Unschedulable",
                    message,
                    lastTransitionTime: new Date(),
                  },
                ],
              },
            },
          },
          STRATEGIC_PATCH,
        );
        this.recordEvent(pod, "Warning", "FailedScheduling", message);
      } catch (error) {
        this.logger.warn({ err: error, pod: `${namespace}/${name}` }, "could not mark the pod unschedulable");
      }
      return;
    }
    this.binding.add(uid);
    try {
      await this.api.createNamespacedPodBinding({
        name,
        namespace,
        body: {
          apiVersion: "v1",
          kind: "Binding",
          metadata: { name, namespace, uid },
          target: { apiVersion: "v1", kind: "Node", name: this.nodeName },
        },
      });
      this.recordEvent(pod, "Normal", "Scheduled", `Successfully assigned ${namespace}/${name} to ${this.nodeName}`);
    } catch (error) {
      const code = errorCode(error);
      if (code !== 409 && code !== 404)
        this.logger.error({ err: error, pod: `${namespace}/${name}` }, "binding failed");
    } finally {
      this.binding.delete(uid);
    }
  }

  private recordEvent(pod: V1Pod, type: "Normal" | "Warning", reason: string, message: string): void {
    const namespace = pod.metadata?.namespace ?? "default";
    const now = new Date();
    this.api
      .createNamespacedEvent({
        namespace,
        body: {
          metadata: { generateName: `${pod.metadata?.name ?? "pod"}.`, namespace },
          involvedObject: {
            apiVersion: "v1",
            kind: "Pod",
            name: pod.metadata?.name ?? "",
            namespace,
            uid: pod.metadata?.uid ?? "",
          },
          type,
          reason,
          message,
          source: { component: "chunkgc-node-agent", host: this.nodeName },
          reportingComponent: "chunkgc-node-agent",
          reportingInstance: this.nodeName,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      })
      .catch((error: unknown) => this.logger.debug({ err: error }, "event not recorded"));
  }
}
