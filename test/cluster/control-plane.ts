/**
 * A real Kubernetes control plane on loopback: etcd, kube-apiserver (TLS, RBAC, service-account tokens) and
 * kube-controller-manager with the controllers the project relies on (Job, garbage collector, namespace, service
 * accounts, ...). There is no scheduler and no kubelet: the node agent (node-agent.ts) binds and runs pods.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { stringify } from "yaml";
import { findBinary } from "./binaries.ts";
import { base64File, createPki, type Pki } from "./pki.ts";
import { freePort, ManagedProcess, waitUntilReady } from "./processes.ts";

/** The controllers kube-controller-manager runs (names as its --controllers flag takes them). */
export const CONTROLLERS = [
  "job-controller",
  "garbage-collector-controller",
  "namespace-controller",
  "serviceaccount-controller",
  "serviceaccount-token-controller",
  "root-ca-certificate-publisher-controller",
  "clusterrole-aggregation-controller",
  "ttl-after-finished-controller",
  "cronjob-controller",
  "deployment-controller",
  "replicaset-controller",
  "persistentvolumeclaim-protection-controller",
  "persistentvolume-protection-controller",
] as const;

export interface ControlPlaneOptions {
  /** Everything (data, certificates, logs, kubeconfig) goes below this directory. */
  readonly dir: string;
  readonly signal?: AbortSignal;
  /** How long each component may take to become ready. */
  readonly readyTimeoutMs?: number;
  /** Extra kube-apiserver flags (e.g. ["--feature-gates=..."]). */
  readonly apiserverArgs?: readonly string[];
}

export interface ControlPlane {
  readonly server: string;
  readonly apiserverPort: number;
  readonly kubeconfigPath: string;
  readonly kubeConfig: KubeConfig;
  readonly pki: Pki;
  readonly processes: readonly ManagedProcess[];
  stop(): Promise<void>;
}

/** The admin kubeconfig (client certificate in system:masters), as YAML. */
export function adminKubeconfig(server: string, pki: Pki): string {
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "chunkgc-test", cluster: { server, "certificate-authority-data": base64File(pki.caCert) } }],
    users: [
      {
        name: "chunkgc-admin",
        user: {
          "client-certificate-data": base64File(pki.adminCert),
          "client-key-data": base64File(pki.adminKey),
        },
      },
    ],
    contexts: [{ name: "chunkgc-test", context: { cluster: "chunkgc-test", user: "chunkgc-admin" } }],
    "current-context": "chunkgc-test",
  });
}

/** A controlled environment for the control-plane processes: nothing of the caller's (no AWS_*, no proxies). */
function childEnv(home: string): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin", HOME: home };
}

/** GET over TLS with the admin client certificate; resolves with the status code and body. */
function getTls(url: string, pki: Pki, timeoutMs = 2_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        ca: base64ToPem(pki.caCert),
        cert: base64ToPem(pki.adminCert),
        key: base64ToPem(pki.adminKey),
        timeout: timeoutMs,
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          body += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}

function base64ToPem(path: string): Buffer {
  return Buffer.from(base64File(path), "base64");
}

export async function startControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const dir = options.dir;
  const timeoutMs = options.readyTimeoutMs ?? 60_000;
  const logs = join(dir, "logs");
  mkdirSync(logs, { recursive: true });
  const binaries = {
    etcd: findBinary("etcd"),
    apiserver: findBinary("kube-apiserver"),
    controllerManager: findBinary("kube-controller-manager"),
  };
  const env = childEnv(dir);
  const processes: ManagedProcess[] = [];
  const stop = async () => {
    for (const proc of [...processes].reverse()) await proc.stop();
  };
  try {
    const [pki, etcdClientPort, etcdPeerPort, apiserverPort, controllerManagerPort] = await Promise.all([
      createPki(join(dir, "pki")),
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);

    const etcdUrl = `http://127.0.0.1:${etcdClientPort}`;
    const peerUrl = `http://127.0.0.1:${etcdPeerPort}`;
    const etcd = new ManagedProcess({
      name: "etcd",
      command: binaries.etcd,
      args: [
        "--name=chunkgc-test",
        `--data-dir=${join(dir, "etcd")}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=chunkgc-test=${peerUrl}`,
        "--unsafe-no-fsync=true",
        "--log-level=warn",
      ],
      logPath: join(logs, "etcd.log"),
      env,
    });
    processes.push(etcd);
    await waitUntilReady(
      etcd,
      async () => {
        const res = await fetch(`${etcdUrl}/health`, { signal: AbortSignal.timeout(2_000) });
        return res.ok && ((await res.json()) as { health?: string }).health === "true";
      },
      { timeoutMs, signal: options.signal },
    );

    const server = `https://127.0.0.1:${apiserverPort}`;
    const apiserver = new ManagedProcess({
      name: "kube-apiserver",
      command: binaries.apiserver,
      args: [
        `--etcd-servers=${etcdUrl}`,
        `--secure-port=${apiserverPort}`,
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        `--cert-dir=${join(dir, "apiserver-certs")}`,
        `--tls-cert-file=${pki.serverCert}`,
        `--tls-private-key-file=${pki.serverKey}`,
        `--client-ca-file=${pki.caCert}`,
        "--service-cluster-ip-range=10.0.0.0/24",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        `--service-account-key-file=${pki.serviceAccountPub}`,
        `--service-account-signing-key-file=${pki.serviceAccountKey}`,
        "--authorization-mode=RBAC",
        "--allow-privileged=true",
        // The "kubernetes" Service cannot have a loopback endpoint; nothing here routes through it anyway.
        "--endpoint-reconciler-type=none",
        "--profiling=false",
        ...(options.apiserverArgs ?? []),
      ],
      logPath: join(logs, "kube-apiserver.log"),
      env,
      graceSeconds: 5,
    });
    processes.push(apiserver);
    await waitUntilReady(
      apiserver,
      async () => {
        const res = await getTls(`${server}/readyz`, pki);
        return res.status === 200 && res.body.trim() === "ok";
      },
      { timeoutMs, signal: options.signal },
    );

    const kubeconfigPath = join(dir, "kubeconfig");
    const kubeconfigYaml = adminKubeconfig(server, pki);
    writeFileSync(kubeconfigPath, kubeconfigYaml, { mode: 0o600 });
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromString(kubeconfigYaml);

    const controllerManager = new ManagedProcess({
      name: "kube-controller-manager",
      command: binaries.controllerManager,
      args: [
        `--kubeconfig=${kubeconfigPath}`,
        `--authentication-kubeconfig=${kubeconfigPath}`,
        `--authorization-kubeconfig=${kubeconfigPath}`,
        `--controllers=${CONTROLLERS.join(",")}`,
        `--service-account-private-key-file=${pki.serviceAccountKey}`,
        `--root-ca-file=${pki.caCert}`,
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        `--secure-port=${controllerManagerPort}`,
        `--cert-dir=${join(dir, "controller-manager-certs")}`,
        "--profiling=false",
      ],
      logPath: join(logs, "kube-controller-manager.log"),
      env,
      graceSeconds: 5,
    });
    processes.push(controllerManager);
    // The service-account controller creating default/default shows that the controllers are running.
    await waitUntilReady(
      controllerManager,
      async () => {
        const res = await getTls(`${server}/api/v1/namespaces/default/serviceaccounts/default`, pki);
        return res.status === 200;
      },
      { timeoutMs, signal: options.signal },
    );

    return { server, apiserverPort, kubeconfigPath, kubeConfig, pki, processes, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
