/**
 * The "kubernetes" suite service: one test cluster for the whole suite run. Test files find it through
 * CHUNKGC_TEST_KUBECONFIG (the admin kubeconfig) and CHUNKGC_TEST_CLUSTER_DIR (logs, PVC directories);
 * test/support/cluster.ts reads both and starts a cluster of its own when they are absent.
 */
import type { ServiceDefinition } from "../harness/services.ts";
import { startCluster } from "./index.ts";

export function kubernetesService(): ServiceDefinition {
  return {
    name: "kubernetes",
    async start({ workDir, signal }) {
      const cluster = await startCluster({ dir: workDir, signal });
      return {
        name: "kubernetes",
        env: { CHUNKGC_TEST_KUBECONFIG: cluster.kubeconfigPath, CHUNKGC_TEST_CLUSTER_DIR: cluster.dir },
        stop: () => cluster.stop(),
      };
    },
  };
}
