/**
 * The node's processes: containerd (Debian's, CRI v1), the kubelet and kube-proxy, each a ManagedProcess (they end
 * with the process that started them). The kubelet registers `chunkgc-node` with a client certificate in
 * system:nodes; kube-proxy programs the Services with iptables.
 */
import { execFile } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { findBinary } from "./binaries.ts";
import {
  certKubeconfig,
  cniConfig,
  containerdConfig,
  kubeletConfig,
  kubeProxyConfig,
  NODE,
  type NodePaths,
} from "./node-config.ts";
import type { Pki } from "./pki.ts";
import { freePort, ManagedProcess, waitUntilReady } from "./processes.ts";

export interface NodeProcesses {
  readonly processes: readonly ManagedProcess[];
  stop(): Promise<void>;
}

function childEnv(): NodeJS.ProcessEnv {
  return { PATH: `/usr/sbin:/usr/bin:/sbin:/bin:${process.env.PATH ?? ""}`, HOME: "/root" };
}

/** containerd alone (images are imported before the kubelet starts). */
export async function startContainerd(paths: NodePaths, logDir: string, signal?: AbortSignal): Promise<ManagedProcess> {
  for (const dir of [paths.dir, paths.containerdRoot, paths.containerdState, paths.cniConfDir, paths.cniIpamDir]) {
    mkdirSync(dir, { recursive: true });
  }
  writeFileSync(paths.containerdConfig, containerdConfig(paths));
  writeFileSync(join(paths.cniConfDir, "10-chunkgc.conflist"), cniConfig(paths));
  const containerd = new ManagedProcess({
    name: "containerd",
    command: "containerd",
    args: ["--config", paths.containerdConfig],
    logPath: join(logDir, "containerd.log"),
    env: childEnv(),
    graceSeconds: 10,
  });
  await waitUntilReady(
    containerd,
    () =>
      new Promise<boolean>((resolve) =>
        execFile("ctr", ["--address", paths.containerdSocket, "version"], { timeout: 5_000 }, (error) =>
          resolve(!error),
        ),
      ),
    { timeoutMs: 30_000, intervalMs: 100, ...(signal ? { signal } : {}) },
  );
  return containerd;
}

export interface KubeletOptions {
  readonly paths: NodePaths;
  readonly pki: Pki;
  readonly server: string;
  readonly adminKubeConfig: KubeConfig;
  readonly logDir: string;
  readonly nodeLabels?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
}

/** The kubelet and kube-proxy; resolves once the node is Ready and kube-proxy has synced the `kubernetes` Service. */
export async function startKubeletAndProxy(options: KubeletOptions): Promise<ManagedProcess[]> {
  const { paths, pki } = options;
  for (const dir of [paths.kubeletRoot, paths.podLogsDir, paths.staticPodDir, paths.volumesDir]) {
    mkdirSync(dir, { recursive: true });
  }
  writeFileSync(paths.resolvConf, `nameserver ${NODE.address}\n`);
  const [kubeletPort, kubeletHealthz, proxyHealthz, proxyMetrics] = await Promise.all([
    freePort(NODE.address),
    freePort(),
    freePort(),
    freePort(),
  ]);
  writeFileSync(
    paths.kubeletConfig,
    kubeletConfig(
      paths,
      pki.caCert,
      { cert: pki.kubeletServingCert, key: pki.kubeletServingKey },
      {
        port: kubeletPort,
        healthzPort: kubeletHealthz,
      },
    ),
  );
  writeFileSync(
    paths.kubeletKubeconfig,
    certKubeconfig(options.server, pki.caCert, pki.kubeletClientCert, pki.kubeletClientKey, `system:node:${NODE.name}`),
    { mode: 0o600 },
  );
  writeFileSync(
    paths.kubeProxyKubeconfig,
    certKubeconfig(options.server, pki.caCert, pki.kubeProxyCert, pki.kubeProxyKey, "system:kube-proxy"),
    { mode: 0o600 },
  );
  writeFileSync(
    paths.kubeProxyConfig,
    kubeProxyConfig(paths, { healthzPort: proxyHealthz, metricsPort: proxyMetrics }),
  );
  const labels = Object.entries(options.nodeLabels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
  const processes: ManagedProcess[] = [];
  try {
    const kubelet = new ManagedProcess({
      name: "kubelet",
      command: findBinary("kubelet"),
      args: [
        `--config=${paths.kubeletConfig}`,
        `--kubeconfig=${paths.kubeletKubeconfig}`,
        `--root-dir=${paths.kubeletRoot}`,
        `--hostname-override=${NODE.name}`,
        `--node-ip=${NODE.address}`,
        ...(labels ? [`--node-labels=${labels}`] : []),
        "--v=1",
      ],
      logPath: join(options.logDir, "kubelet.log"),
      env: childEnv(),
      graceSeconds: 10,
    });
    processes.push(kubelet);
    const proxy = new ManagedProcess({
      name: "kube-proxy",
      command: findBinary("kube-proxy"),
      args: [`--config=${paths.kubeProxyConfig}`, "--v=1"],
      logPath: join(options.logDir, "kube-proxy.log"),
      env: childEnv(),
      graceSeconds: 5,
    });
    processes.push(proxy);
    const core = options.adminKubeConfig.makeApiClient(CoreV1Api);
    const timing = { timeoutMs: 60_000, intervalMs: 100, ...(options.signal ? { signal: options.signal } : {}) };
    await waitUntilReady(
      kubelet,
      async () => {
        const node = await core.readNode({ name: NODE.name });
        return node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
      },
      timing,
    );
    await waitUntilReady(
      proxy,
      async () => {
        const res = await fetch(`http://127.0.0.1:${proxyHealthz}/healthz`, { signal: AbortSignal.timeout(2_000) });
        return res.ok;
      },
      timing,
    );
    return processes;
  } catch (error) {
    for (const proc of processes.reverse()) await proc.stop();
    throw error;
  }
}

/**
 * Removes every container (and sandbox) of the k8s.io namespace from containerd: containerd's root is kept between
 * clusters for its images, and the next kubelet must not find pods of a cluster that is gone.
 */
export async function clearContainers(socket: string): Promise<void> {
  const ctr = (args: string[]) =>
    new Promise<string>((resolve) =>
      execFile("ctr", ["--address", socket, "--namespace", "k8s.io", ...args], { timeout: 30_000 }, (error, stdout) =>
        resolve(error ? "" : stdout),
      ),
    );
  const ids = (await ctr(["containers", "list", "--quiet"])).split("\n").filter(Boolean);
  for (const id of ids) {
    await ctr(["tasks", "kill", "--all", "--signal", "SIGKILL", id]);
    await ctr(["tasks", "delete", "--force", id]);
    await ctr(["containers", "delete", id]);
  }
}
