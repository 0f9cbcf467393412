/**
 * The test cluster as a library: a real control plane (control-plane.ts) and the process-based node
 * (node-agent.ts), started together and stopped together.
 *
 *   const cluster = await startCluster();
 *   try { ...cluster.kubeConfig... } finally { await cluster.stop(); }
 *
 * Layout of `dir`: kubeconfig, pki/, etcd/, logs/ (etcd, kube-apiserver, kube-controller-manager), node/ (the agent:
 * node-agent.log, logs/<ns>_<pod>_<uid>/<container>/<restart>.log, volumes/pvc/<ns>/<claim>/, pods/).
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { KubeConfig, V1Pod } from "@kubernetes/client-node";
import { pinnedVersions } from "./binaries.ts";
import { type ControlPlane, startControlPlane } from "./control-plane.ts";
import { claimDirIn, NodeAgent, podLogDirIn } from "./node-agent.ts";

export interface ClusterOptions {
  /** Where the cluster keeps its state; a fresh temporary directory (removed on stop) when absent. */
  readonly dir?: string;
  readonly signal?: AbortSignal;
  /** Extra labels on the node (for nodeSelector tests). */
  readonly nodeLabels?: Readonly<Record<string, string>>;
  /** Keep a temporary `dir` after stop (also: CHUNKGC_KEEP_CLUSTER=1), for looking at logs. */
  readonly keepDir?: boolean;
  readonly readyTimeoutMs?: number;
}

export interface Cluster {
  readonly dir: string;
  /** The admin kubeconfig file (client certificate in system:masters). */
  readonly kubeconfigPath: string;
  readonly kubeConfig: KubeConfig;
  /** https://127.0.0.1:<port> */
  readonly server: string;
  readonly nodeName: string;
  /** The agent directory (see {@link agentDirOf}). */
  readonly agentDir: string;
  /** Where a container's output goes. */
  podLogPath(pod: V1Pod, container: string, restartCount?: number): string;
  /** The directory that stands for a PersistentVolumeClaim. */
  claimDir(namespace: string, claimName: string): string;
  /** The process groups of the control-plane processes still running (for `cluster:down`'s last resort). */
  processGroups(): number[];
  /** Stops the node agent (and its containers), kube-controller-manager, kube-apiserver and etcd. */
  stop(): Promise<void>;
}

/** The node agent's directory inside a cluster directory. */
export function agentDirOf(clusterDir: string): string {
  return join(clusterDir, "node");
}

export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const temporary = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "chunkgc-cluster-"));
  mkdirSync(dir, { recursive: true });
  const keep = options.keepDir || process.env.CHUNKGC_KEEP_CLUSTER === "1";
  let controlPlane: ControlPlane | undefined;
  let agent: NodeAgent | undefined;
  const stop = async () => {
    await agent?.stop().catch(() => {});
    await controlPlane?.stop();
    if (temporary && !keep) rmSync(dir, { recursive: true, force: true });
  };
  try {
    controlPlane = await startControlPlane({
      dir,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.readyTimeoutMs ? { readyTimeoutMs: options.readyTimeoutMs } : {}),
    });
    const agentDir = agentDirOf(dir);
    agent = new NodeAgent({
      kubeConfig: controlPlane.kubeConfig,
      dir: agentDir,
      apiserverPort: controlPlane.apiserverPort,
      kubeletVersion: `v${pinnedVersions().kube}`,
      ...(options.nodeLabels ? { nodeLabels: options.nodeLabels } : {}),
    });
    await agent.start();
    const nodeAgent = agent;
    return {
      dir,
      kubeconfigPath: controlPlane.kubeconfigPath,
      kubeConfig: controlPlane.kubeConfig,
      server: controlPlane.server,
      nodeName: agent.nodeName,
      agentDir,
      podLogPath: (pod, container, restartCount = 0) => nodeAgent.podLogPath(pod, container, restartCount),
      claimDir: (namespace, claimName) => claimDirIn(agentDir, namespace, claimName),
      processGroups: () => (controlPlane?.processes ?? []).filter((p) => p.running).map((p) => p.pid),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

export { claimDirIn, podLogDirIn };
