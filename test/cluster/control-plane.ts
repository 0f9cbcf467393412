/**
 * A real Kubernetes control plane: etcd on loopback, kube-apiserver bound to and advertised on the node address (so
 * the `kubernetes` Service has a valid endpoint and pods reach it; TLS, Node+RBAC authorization, NodeRestriction and
 * the default admission plugins incl. PodSecurity, service-account tokens, an audit log of every request at Metadata
 * level), kube-controller-manager with its default controllers, and kube-scheduler.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { stringify } from "yaml";
import { findBinary } from "./binaries.ts";
import { base64File, createPki, type Pki, type PkiNames } from "./pki.ts";
import { freePort, ManagedProcess, waitUntilReady } from "./processes.ts";

export interface ControlPlaneOptions {
  /** Everything (data, certificates, logs, kubeconfig) goes below this directory. */
  readonly dir: string;
  readonly signal?: AbortSignal;
  /** How long each component may take to become ready. */
  readonly readyTimeoutMs?: number;
  /** Extra kube-apiserver flags (e.g. ["--feature-gates=..."]). */
  readonly apiserverArgs?: readonly string[];
  /** The address the apiserver binds to and advertises (the node address; must exist on an interface). */
  readonly address: string;
  readonly names: PkiNames;
  readonly serviceRange: string;
}

export interface ControlPlane {
  readonly server: string;
  readonly apiserverPort: number;
  readonly kubeconfigPath: string;
  readonly kubeConfig: KubeConfig;
  readonly pki: Pki;
  /** JSON lines, one per request (Metadata level): who did what to which resource. */
  readonly auditLogPath: string;
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

/** The status of a GET to a component's own self-signed healthz endpoint (readiness only, no data). */
function getInsecure(url: string, timeoutMs = 2_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { rejectUnauthorized: false, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
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
    scheduler: findBinary("kube-scheduler"),
  };
  const env = childEnv(dir);
  const processes: ManagedProcess[] = [];
  const stop = async () => {
    for (const proc of [...processes].reverse()) await proc.stop();
  };
  try {
    const [pki, etcdClientPort, etcdPeerPort, apiserverPort, controllerManagerPort, schedulerPort] = await Promise.all([
      createPki(join(dir, "pki"), options.names),
      freePort(),
      freePort(),
      freePort(options.address),
      freePort(),
      freePort(),
    ]);
    const auditLogPath = join(dir, "audit.log");
    const auditPolicy = join(dir, "audit-policy.yaml");
    writeFileSync(
      auditPolicy,
      stringify({
        apiVersion: "audit.k8s.io/v1",
        kind: "Policy",
        omitStages: ["RequestReceived"],
        rules: [{ level: "Metadata" }],
      }),
    );

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

    const server = `https://${options.address}:${apiserverPort}`;
    const apiserver = new ManagedProcess({
      name: "kube-apiserver",
      command: binaries.apiserver,
      args: [
        `--etcd-servers=${etcdUrl}`,
        `--secure-port=${apiserverPort}`,
        `--bind-address=${options.address}`,
        `--advertise-address=${options.address}`,
        `--cert-dir=${join(dir, "apiserver-certs")}`,
        `--tls-cert-file=${pki.serverCert}`,
        `--tls-private-key-file=${pki.serverKey}`,
        `--client-ca-file=${pki.caCert}`,
        `--service-cluster-ip-range=${options.serviceRange}`,
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        `--service-account-key-file=${pki.serviceAccountPub}`,
        `--service-account-signing-key-file=${pki.serviceAccountKey}`,
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        "--allow-privileged=true",
        "--endpoint-reconciler-type=lease",
        `--kubelet-client-certificate=${pki.apiserverKubeletClientCert}`,
        `--kubelet-client-key=${pki.apiserverKubeletClientKey}`,
        `--kubelet-certificate-authority=${pki.caCert}`,
        // logs and exec go to the node address, never to another interface of the machine
        "--kubelet-preferred-address-types=InternalIP",
        `--audit-policy-file=${auditPolicy}`,
        `--audit-log-path=${auditLogPath}`,
        "--audit-log-format=json",
        "--audit-log-mode=blocking",
        "--audit-log-maxbackup=1",
        "--audit-log-maxsize=200",
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
        `--cluster-cidr=${options.names.nodeAddress.replace(/\.\d+$/, ".0")}/24`,
        `--service-cluster-ip-range=${options.serviceRange}`,
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

    const scheduler = new ManagedProcess({
      name: "kube-scheduler",
      command: binaries.scheduler,
      args: [
        `--kubeconfig=${kubeconfigPath}`,
        `--authentication-kubeconfig=${kubeconfigPath}`,
        `--authorization-kubeconfig=${kubeconfigPath}`,
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        `--secure-port=${schedulerPort}`,
        `--cert-dir=${join(dir, "scheduler-certs")}`,
        "--profiling=false",
      ],
      logPath: join(logs, "kube-scheduler.log"),
      env,
      graceSeconds: 5,
    });
    processes.push(scheduler);
    await waitUntilReady(
      scheduler,
      async () => {
        const res = await getInsecure(`https://127.0.0.1:${schedulerPort}/healthz`);
        return res === 200;
      },
      { timeoutMs, signal: options.signal },
    );

    return { server, apiserverPort, kubeconfigPath, kubeConfig, pki, auditLogPath, processes, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
