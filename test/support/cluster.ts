/**
 * The Kubernetes cluster for a test file: the suite's shared one when the suite runner started it (or one left
 * running by `npm run cluster:up`: CHUNKGC_CLUSTER_DIR with a `ready` file), else one started for this file (under
 * the same one-node-per-machine lock) and stopped after it.
 *
 *   const cluster = await testCluster();          // top-level await in the test file (its after() hooks are
 *                                                 // registered at file level, so they run when the file ends)
 *   const ns = await cluster.createNamespace("gc"); // each test works in its own namespace (restricted PSS)
 */

import { existsSync, readFileSync } from "node:fs";
import { after } from "node:test";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { clusterFiles, startCluster } from "../cluster/index.ts";
import { eventually } from "./eventually.ts";

export interface TestCluster {
  readonly kubeconfigPath: string;
  readonly kubeConfig: KubeConfig;
  /** The cluster directory (logs/, audit.log, host-address, kubeconfig). */
  readonly dir: string;
  /** The address at which pods reach servers on this machine (the node's bridge gateway). */
  readonly hostAddress: string;
  /** The API server's audit log (JSON lines). */
  readonly auditLogPath: string;
  /** True when this file started its own cluster (no suite service). */
  readonly owned: boolean;
  /** A new namespace named `<prefix>-<random>` enforcing the `restricted` Pod Security Standard, deleted after the file. */
  createNamespace(
    prefix: string,
    options?: { podSecurity?: "restricted" | "baseline" | "privileged" },
  ): Promise<string>;
  /** A container's log, read through the API (kubelet), as `kubectl logs` does. */
  podLog(namespace: string, pod: string, container: string, previous?: boolean): Promise<string>;
  /** An S3 endpoint on this machine (http://127.0.0.1:<port>) as pods reach it (the host address, same port). */
  podEndpoint(endpoint: string): string;
}

let shared: Promise<TestCluster> | undefined;

export function testCluster(): Promise<TestCluster> {
  shared ??= open();
  return shared;
}

async function open(): Promise<TestCluster> {
  const runningDir = process.env.CHUNKGC_CLUSTER_DIR;
  let dir: string;
  let owned = false;
  let hostAddress: string;
  let auditLogPath: string;
  // host-address exists exactly while a cluster runs in that directory (written when ready, removed on stop).
  if (runningDir && existsSync(clusterFiles(runningDir).hostAddress)) {
    dir = runningDir;
    const files = clusterFiles(dir);
    hostAddress = readFileSync(files.hostAddress, "utf8").trim();
    auditLogPath = files.auditLog;
  } else {
    const cluster = await startCluster({ progress: (line) => console.error(`# cluster: ${line}`) });
    after(async () => {
      const problems = await cluster.stop();
      for (const problem of problems) console.error(`# cluster: not restored: ${problem}`);
    });
    dir = cluster.dir;
    hostAddress = cluster.hostAddress;
    auditLogPath = cluster.auditLogPath;
    owned = true;
  }
  const kubeconfigPath = clusterFiles(dir).kubeconfig;
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfigPath);
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const namespaces: string[] = [];
  if (!owned) {
    // On the shared cluster, leave nothing behind (a cluster of our own goes away whole).
    after(async () => {
      await Promise.all(namespaces.map((name) => core.deleteNamespace({ name }).catch(() => {})));
    });
  }
  return {
    kubeconfigPath,
    kubeConfig,
    dir,
    hostAddress,
    auditLogPath,
    owned,
    async createNamespace(prefix, options = {}) {
      const name = `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
      const level = options.podSecurity ?? "restricted";
      await core.createNamespace({
        body: {
          metadata: {
            name,
            labels: {
              "pod-security.kubernetes.io/enforce": level,
              "pod-security.kubernetes.io/enforce-version": "latest",
              "pod-security.kubernetes.io/warn": level,
            },
          },
        },
      });
      namespaces.push(name);
      // Pods need the namespace's default ServiceAccount, which the controller-manager creates.
      await eventually(`the default ServiceAccount in ${name}`, async () =>
        (await core.readNamespacedServiceAccount({ name: "default", namespace: name }).catch(() => undefined))
          ? true
          : undefined,
      );
      return name;
    },
    async podLog(namespace, pod, container, previous = false) {
      return core.readNamespacedPodLog({ name: pod, namespace, container, previous });
    },
    podEndpoint(endpoint) {
      const url = new URL(endpoint);
      url.hostname = hostAddress;
      return url.toString().replace(/\/$/, "");
    },
  };
}
