/**
 * The "kubernetes" suite service: one cluster for the whole suite run. Test files find it through
 * CHUNKGC_CLUSTER_DIR (kubeconfig, host-address, audit.log, logs/ in it) and KUBECONFIG (the admin kubeconfig);
 * test/support/cluster.ts reads them and starts a cluster of its own when they are absent. A cluster already running
 * from `npm run cluster:up` (CHUNKGC_CLUSTER_DIR with a `ready` file) is used as it is and left running.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { ServiceDefinition } from "../harness/services.ts";
import { clusterFiles, startCluster } from "./index.ts";

export function kubernetesService(): ServiceDefinition {
  return {
    name: "kubernetes",
    async start({ workDir, signal }) {
      const running = process.env.CHUNKGC_CLUSTER_DIR;
      if (running && existsSync(join(running, "ready"))) {
        const files = clusterFiles(running);
        return {
          name: "kubernetes",
          env: { CHUNKGC_CLUSTER_DIR: running, KUBECONFIG: files.kubeconfig },
          stop: async () => {},
        };
      }
      const cluster = await startCluster({
        dir: workDir,
        signal,
        progress: (line) => console.error(`# kubernetes: ${line}`),
      });
      console.error(`# kubernetes: ${JSON.stringify(cluster.timings)}`);
      return {
        name: "kubernetes",
        env: { CHUNKGC_CLUSTER_DIR: cluster.dir, KUBECONFIG: cluster.kubeconfigPath },
        stop: async () => {
          const problems = await cluster.stop();
          for (const problem of problems) console.error(`# kubernetes: not restored: ${problem}`);
        },
      };
    },
  };
}
