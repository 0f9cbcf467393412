/**
 * The test cluster as a library: a real one-node Kubernetes on this machine. Control plane (control-plane.ts), node
 * (node.ts: containerd, kubelet, kube-proxy), images (images.ts: pause, storage, chunkgc:dev built from the working
 * tree), storage (storage.ts: local-path-provisioner as the default StorageClass), host changes and their undoing
 * (host.ts), one node per machine (lock.ts).
 *
 *   const cluster = await startCluster();
 *   try { ...cluster.kubeConfig... } finally { await cluster.stop(); }
 *
 * Layout of `dir`: kubeconfig (admin), host-address, audit.log, pki/, etcd/, logs/ (one file per component, image
 * build, dockerd), node/ (containerd, kubelet and kube-proxy configuration, kubelet root, pod logs, volumes/).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { AppsV1Api, type KubeConfig } from "@kubernetes/client-node";
import { cacheDir, findBinary } from "./binaries.ts";
import { type ControlPlane, startControlPlane } from "./control-plane.ts";
import { restoreHost, setUpBridge, snapshotHost } from "./host.ts";
import { ensureImages, type ImageTimings } from "./images.ts";
import { acquireNodeLock, type NodeLock } from "./lock.ts";
import { clearContainers, startContainerd, startKubeletAndProxy } from "./node.ts";
import { NODE, nodePaths } from "./node-config.ts";
import type { ManagedProcess } from "./processes.ts";
import { installStorage } from "./storage.ts";

const REPOSITORY_ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface ClusterOptions {
  /** Where the cluster keeps its state; a fresh temporary directory (removed on stop) when absent. */
  readonly dir?: string;
  readonly signal?: AbortSignal;
  /** Extra labels on the node (for nodeSelector tests). */
  readonly nodeLabels?: Readonly<Record<string, string>>;
  /** Keep a temporary `dir` after stop (also: CHUNKGC_KEEP_CLUSTER=1), for looking at logs. */
  readonly keepDir?: boolean;
  readonly readyTimeoutMs?: number;
  /** How long to wait for another cluster on this machine to stop (one node per machine). */
  readonly lockTimeoutMs?: number;
  /** Progress lines (image builds on first use take a minute). */
  readonly progress?: (line: string) => void;
}

export interface StartTimings {
  readonly lockMs: number;
  readonly controlPlaneMs: number;
  readonly images: ImageTimings;
  readonly nodeReadyMs: number;
  readonly totalMs: number;
}

export interface Cluster {
  readonly dir: string;
  /** The admin kubeconfig file (client certificate in system:masters). */
  readonly kubeconfigPath: string;
  readonly kubeConfig: KubeConfig;
  /** https://<node address>:<port> */
  readonly server: string;
  readonly nodeName: string;
  /** The address at which pods reach servers on this machine (the bridge gateway). */
  readonly hostAddress: string;
  /** The API server's audit log (JSON lines, Metadata level). */
  readonly auditLogPath: string;
  readonly timings: StartTimings;
  /** The process groups of the processes still running (for `cluster:down`'s last resort). */
  processGroups(): number[];
  /** Stops every process and undoes every host change; returns what could not be undone (empty when all was). */
  stop(): Promise<string[]>;
}

/** Files a cluster directory holds for other processes (the demo, test files reusing the suite's cluster). */
export const clusterFiles = (dir: string) => ({
  kubeconfig: join(dir, "kubeconfig"),
  hostAddress: join(dir, "host-address"),
  auditLog: join(dir, "audit.log"),
});

/** Directories below which the node and dockerd mount (released on teardown). */
export function nodeMountRoots(nodeDir: string): string[] {
  return [nodeDir, containerdRoot(), join(cacheDir(), "docker")];
}

/** containerd's root: kept between clusters, so the images imported once stay. */
export function containerdRoot(): string {
  return join(cacheDir(), "node-containerd");
}

export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const started = Date.now();
  const temporary = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "chunkgc-cluster-"));
  const keep = options.keepDir || process.env.CHUNKGC_KEEP_CLUSTER === "1";
  const progress = options.progress ?? (() => {});
  const signal = options.signal;
  const logs = join(dir, "logs");
  const paths = nodePaths(join(dir, "node"), containerdRoot());

  progress(`waiting for ${NODE.lockFile} (one node per machine)`);
  const lock: NodeLock = await acquireNodeLock(options.lockTimeoutMs ?? 20 * 60_000, signal);
  const lockMs = Date.now() - started;
  let controlPlane: ControlPlane | undefined;
  let containerd: ManagedProcess | undefined;
  let nodeProcesses: ManagedProcess[] = [];
  let stopped: Promise<string[]> | undefined;
  const kubeProxy = () => {
    try {
      return findBinary("kube-proxy");
    } catch {
      return undefined;
    }
  };
  const stop = () => {
    stopped ??= (async () => {
      rmSync(clusterFiles(dir).hostAddress, { force: true });
      for (const proc of [...nodeProcesses].reverse()) await proc.stop();
      if (containerd?.running) await clearContainers(paths.containerdSocket).catch(() => {});
      await controlPlane?.stop();
      await containerd?.stop();
      const proxy = kubeProxy();
      const problems = await restoreHost({
        ...(proxy ? { kubeProxy: proxy } : {}),
        mountRoots: nodeMountRoots(paths.dir),
      });
      lock.release();
      if (temporary && !keep) rmSync(dir, { recursive: true, force: true });
      return problems;
    })();
    return stopped;
  };
  try {
    // Whatever a node killed before its teardown left behind, then the state to return to.
    const proxy = kubeProxy();
    await restoreHost({ ...(proxy ? { kubeProxy: proxy } : {}), mountRoots: nodeMountRoots(paths.dir) });
    for (const entry of ["node", "logs", "etcd", "pki", "audit.log", "kubeconfig", "host-address"]) {
      rmSync(join(dir, entry), { recursive: true, force: true });
    }
    mkdirSync(logs, { recursive: true });
    await snapshotHost();
    await setUpBridge();
    containerd = await startContainerd(paths, logs, signal);
    await clearContainers(paths.containerdSocket);
    const controlPlaneStarted = Date.now();
    const [plane, images] = await Promise.all([
      startControlPlane({
        dir,
        address: NODE.address,
        serviceRange: NODE.serviceRange,
        names: { nodeName: NODE.name, nodeAddress: NODE.address, serviceAddress: NODE.kubernetesServiceAddress },
        ...(signal ? { signal } : {}),
        ...(options.readyTimeoutMs ? { readyTimeoutMs: options.readyTimeoutMs } : {}),
      }).then((p) => {
        controlPlane = p;
        return p;
      }),
      ensureImages({
        containerdSocket: paths.containerdSocket,
        logDir: logs,
        // The working tree by default; CHUNKGC_BUILD_CONTEXT builds another checkout (e.g. a clean export of HEAD).
        contextDir: process.env.CHUNKGC_BUILD_CONTEXT ?? REPOSITORY_ROOT,
        progress,
        ...(signal ? { signal } : {}),
      }),
    ]);
    const controlPlaneMs = Date.now() - controlPlaneStarted;
    const nodeStarted = Date.now();
    nodeProcesses = await startKubeletAndProxy({
      paths,
      pki: plane.pki,
      server: plane.server,
      adminKubeConfig: plane.kubeConfig,
      logDir: logs,
      ...(options.nodeLabels ? { nodeLabels: options.nodeLabels } : {}),
      ...(signal ? { signal } : {}),
    });
    await installStorage(plane.kubeConfig, paths.volumesDir);
    await waitForDeployment(plane.kubeConfig, "local-path-storage", "local-path-provisioner", signal);
    const nodeReadyMs = Date.now() - nodeStarted;
    const files = clusterFiles(dir);
    writeFileSync(files.hostAddress, `${NODE.address}\n`);
    const planeProcesses = plane.processes;
    return {
      dir,
      kubeconfigPath: plane.kubeconfigPath,
      kubeConfig: plane.kubeConfig,
      server: plane.server,
      nodeName: NODE.name,
      hostAddress: NODE.address,
      auditLogPath: plane.auditLogPath,
      timings: { lockMs, controlPlaneMs, images, nodeReadyMs, totalMs: Date.now() - started },
      processGroups: () =>
        [...planeProcesses, ...nodeProcesses, ...(containerd ? [containerd] : [])]
          .filter((p) => p.running)
          .map((p) => p.pid),
      stop,
    };
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
}

async function waitForDeployment(
  kubeConfig: KubeConfig,
  namespace: string,
  name: string,
  signal?: AbortSignal,
): Promise<void> {
  const apps = kubeConfig.makeApiClient(AppsV1Api);
  const deadline = Date.now() + 120_000;
  for (;;) {
    signal?.throwIfAborted();
    const deployment = await apps.readNamespacedDeployment({ name, namespace }).catch(() => undefined);
    if ((deployment?.status?.availableReplicas ?? 0) >= 1) return;
    if (Date.now() > deadline) throw new Error(`deployment ${namespace}/${name} not available within 120 s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
