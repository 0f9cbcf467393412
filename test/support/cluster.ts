/**
 * The Kubernetes cluster for a test file: the suite's shared one when the suite runner started it
 * (CHUNKGC_TEST_KUBECONFIG, CHUNKGC_TEST_CLUSTER_DIR), else one started for this file and stopped after it.
 *
 *   const cluster = await testCluster();          // top-level await in the test file (its after() hooks are
 *                                                 // registered at file level, so they run when the file ends)
 *   const ns = await cluster.createNamespace("gc"); // each test works in its own namespace
 */

import { join } from "node:path";
import { after } from "node:test";
import { CoreV1Api, KubeConfig, type V1Pod } from "@kubernetes/client-node";
import { agentDirOf, claimDirIn, podLogDirIn, startCluster } from "../cluster/index.ts";

export interface TestCluster {
  readonly kubeconfigPath: string;
  readonly kubeConfig: KubeConfig;
  /** The cluster directory (control-plane logs under logs/, the node agent under node/). */
  readonly dir: string;
  /** True when this file started its own cluster (no suite service). */
  readonly owned: boolean;
  podLogPath(pod: V1Pod, container: string, restartCount?: number): string;
  claimDir(namespace: string, claimName: string): string;
  /** A new namespace named `<prefix>-<random>`, deleted after the test file. */
  createNamespace(prefix: string): Promise<string>;
}

let shared: Promise<TestCluster> | undefined;

export function testCluster(): Promise<TestCluster> {
  shared ??= open();
  return shared;
}

async function open(): Promise<TestCluster> {
  const kubeconfigPath = process.env.CHUNKGC_TEST_KUBECONFIG;
  let dir = process.env.CHUNKGC_TEST_CLUSTER_DIR ?? "";
  let kubeConfig: KubeConfig;
  let owned = false;
  let path: string;
  if (kubeconfigPath) {
    kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(kubeconfigPath);
    path = kubeconfigPath;
  } else {
    const cluster = await startCluster();
    after(() => cluster.stop());
    kubeConfig = cluster.kubeConfig;
    path = cluster.kubeconfigPath;
    dir = cluster.dir;
    owned = true;
  }
  const agentDir = agentDirOf(dir);
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const namespaces: string[] = [];
  if (!owned) {
    // On the shared cluster, leave nothing behind (a cluster of our own goes away whole).
    after(async () => {
      await Promise.all(namespaces.map((name) => core.deleteNamespace({ name }).catch(() => {})));
    });
  }
  return {
    kubeconfigPath: path,
    kubeConfig,
    dir,
    owned,
    podLogPath: (pod, container, restartCount = 0) =>
      join(podLogDirIn(agentDir, pod), container, `${restartCount}.log`),
    claimDir: (namespace, claimName) => claimDirIn(agentDir, namespace, claimName),
    async createNamespace(prefix) {
      const name = `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
      await core.createNamespace({ body: { metadata: { name } } });
      namespaces.push(name);
      return name;
    },
  };
}
