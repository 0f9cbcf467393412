/**
 * The node's fixed layout and its configuration files, pure: names and address ranges the harness owns, and the text
 * of containerd's config.toml, the CNI network, the KubeletConfiguration and the KubeProxyConfiguration.
 *
 * One node per machine (the kubelet's host paths, the kubepods cgroups and the bridge are machine-wide), so the
 * addresses are fixed: pods live on the bridge `chunkgc0` (10.244.0.0/24), whose gateway 10.244.0.1 is the node's
 * address, where the apiserver and the kubelet serve and where pods reach servers on this machine. Nothing listens on
 * the machine's external interface.
 */
import { stringify } from "yaml";

export const NODE = {
  name: "chunkgc-node",
  bridge: "chunkgc0",
  podSubnet: "10.244.0.0/24",
  /** The bridge gateway: the node's InternalIP, the apiserver's address, the host as pods see it. */
  address: "10.244.0.1",
  prefixLength: 24,
  serviceRange: "10.96.0.0/24",
  /** The `kubernetes` Service's cluster IP. */
  kubernetesServiceAddress: "10.96.0.1",
  /** Sockets and state that must stay short paths (unix socket paths are limited to 108 bytes). */
  runDir: "/run/chunkgc-node",
  /** Held (flock) by the process that runs the node. */
  lockFile: "/run/lock/chunkgc-node.lock",
  /** The sandbox image every pod starts with (built from Kubernetes' pause.c, imported, never pulled). */
  pauseImage: "registry.k8s.io/pause:3.10.1",
  /** local-path-provisioner and its helper pods (busybox for the volume set-up scripts). */
  storageImage: "localhost/chunkgc-node/local-path-provisioner:v0.0.30",
  cniDir: "/usr/lib/cni",
  /**
   * containerd's registry hosts directory (`<host:port>/hosts.toml`, read at every pull): a test that starts a registry
   * tells containerd there which CA that registry's certificate comes from.
   */
  registryHostsDir: "/run/chunkgc-node/certs.d",
} as const;

/** Paths of one running node, below the cluster directory (long paths) and NODE.runDir (sockets). */
export interface NodePaths {
  /** <cluster dir>/node */
  readonly dir: string;
  /** containerd's content store and snapshots: kept between clusters, so imported images survive a restart. */
  readonly containerdRoot: string;
  readonly containerdState: string;
  readonly containerdSocket: string;
  readonly containerdConfig: string;
  readonly cniConfDir: string;
  readonly cniIpamDir: string;
  readonly kubeletRoot: string;
  readonly kubeletConfig: string;
  readonly kubeletKubeconfig: string;
  readonly podLogsDir: string;
  readonly staticPodDir: string;
  readonly resolvConf: string;
  readonly kubeProxyConfig: string;
  readonly kubeProxyKubeconfig: string;
  /** Where local-path-provisioner makes volumes. */
  readonly volumesDir: string;
}

export function nodePaths(dir: string, containerdRoot: string): NodePaths {
  return {
    dir,
    containerdRoot,
    containerdState: `${NODE.runDir}/containerd`,
    containerdSocket: `${NODE.runDir}/containerd.sock`,
    containerdConfig: `${dir}/containerd.toml`,
    cniConfDir: `${dir}/cni/net.d`,
    cniIpamDir: `${dir}/cni/ipam`,
    kubeletRoot: `${dir}/kubelet`,
    kubeletConfig: `${dir}/kubelet-config.yaml`,
    kubeletKubeconfig: `${dir}/kubelet.kubeconfig`,
    podLogsDir: `${dir}/pod-logs`,
    staticPodDir: `${dir}/manifests`,
    resolvConf: `${dir}/resolv.conf`,
    kubeProxyConfig: `${dir}/kube-proxy-config.yaml`,
    kubeProxyKubeconfig: `${dir}/kube-proxy.kubeconfig`,
    volumesDir: `${dir}/volumes`,
  };
}

/**
 * containerd 1.6 (CRI v1). `restrict_oom_score_adj`: the kubelet asks -998 for sandboxes, and lowering oom_score_adj
 * needs CAP_SYS_RESOURCE, which containers on machines like this one lack; without it every sandbox fails to start.
 */
export function containerdConfig(paths: NodePaths): string {
  return `version = 2
root = ${JSON.stringify(paths.containerdRoot)}
state = ${JSON.stringify(paths.containerdState)}
oom_score = 0
[grpc]
  address = ${JSON.stringify(paths.containerdSocket)}
[debug]
  level = "warn"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = ${JSON.stringify(NODE.pauseImage)}
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = ${JSON.stringify(NODE.cniDir)}
    conf_dir = ${JSON.stringify(paths.cniConfDir)}
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = ${JSON.stringify(NODE.registryHostsDir)}
`;
}

/**
 * The bridge network. No masquerading: pods reach this machine's addresses on the bridge and the Services, nothing
 * beyond (the guard rules in host.ts drop the rest).
 */
export function cniConfig(paths: NodePaths): string {
  return JSON.stringify({
    cniVersion: "1.0.0",
    name: "chunkgc",
    plugins: [
      {
        type: "bridge",
        bridge: NODE.bridge,
        isGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: "host-local",
          dataDir: paths.cniIpamDir,
          ranges: [[{ subnet: NODE.podSubnet, gateway: NODE.address }]],
          routes: [{ dst: "0.0.0.0/0" }],
        },
      },
    ],
  });
}

export interface KubeletPorts {
  readonly port: number;
  readonly healthzPort: number;
}

/** The KubeletConfiguration (cgroup v1 hosts need failCgroupV1: false; no systemd, so cgroupfs). */
export function kubeletConfig(
  paths: NodePaths,
  caFile: string,
  tls: { cert: string; key: string },
  ports: KubeletPorts,
) {
  return stringify({
    apiVersion: "kubelet.config.k8s.io/v1beta1",
    kind: "KubeletConfiguration",
    failCgroupV1: false,
    cgroupDriver: "cgroupfs",
    containerRuntimeEndpoint: `unix://${paths.containerdSocket}`,
    address: NODE.address,
    port: ports.port,
    readOnlyPort: 0,
    healthzBindAddress: "127.0.0.1",
    healthzPort: ports.healthzPort,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: caFile } },
    authorization: { mode: "Webhook" },
    tlsCertFile: tls.cert,
    tlsPrivateKeyFile: tls.key,
    failSwapOn: false,
    // Pods get a resolver that is not the host's: there is no cluster DNS, and the host's would leave the machine.
    resolvConf: paths.resolvConf,
    clusterDomain: "cluster.local",
    podLogsDir: paths.podLogsDir,
    staticPodPath: paths.staticPodDir,
    maxPods: 60,
    serializeImagePulls: false,
    // A one-node test machine: no evictions because the disk of a busy build machine fills up.
    evictionHard: { "memory.available": "1Mi", "nodefs.available": "1%", "imagefs.available": "1%" },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    // Status reaches the API quickly (tests wait on it).
    nodeStatusUpdateFrequency: "10s",
    syncFrequency: "10s",
    fileCheckFrequency: "5s",
  });
}

export interface KubeProxyPorts {
  readonly healthzPort: number;
  readonly metricsPort: number;
}

/**
 * kube-proxy in iptables mode, set up to change no sysctl (conntrack limits and timeouts left alone, no
 * route_localnet since NodePorts listen only on the node address) and no oom_score_adj (needs CAP_SYS_RESOURCE).
 */
export function kubeProxyConfig(paths: NodePaths, ports: KubeProxyPorts): string {
  return stringify({
    apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
    kind: "KubeProxyConfiguration",
    clientConnection: { kubeconfig: paths.kubeProxyKubeconfig },
    hostnameOverride: NODE.name,
    mode: "iptables",
    clusterCIDR: NODE.podSubnet,
    nodePortAddresses: [`${NODE.address}/32`],
    iptables: { localhostNodePorts: false, masqueradeAll: false, syncPeriod: "30s", minSyncPeriod: "0s" },
    healthzBindAddress: `127.0.0.1:${ports.healthzPort}`,
    metricsBindAddress: `127.0.0.1:${ports.metricsPort}`,
    oomScoreAdj: 0,
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: "0s", tcpCloseWaitTimeout: "0s" },
  });
}

/** A kubeconfig with a client certificate (files by path). */
export function certKubeconfig(server: string, caFile: string, cert: string, key: string, user: string): string {
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "chunkgc-test", cluster: { server, "certificate-authority": caFile } }],
    users: [{ name: user, user: { "client-certificate": cert, "client-key": key } }],
    contexts: [{ name: "chunkgc-test", context: { cluster: "chunkgc-test", user } }],
    "current-context": "chunkgc-test",
  });
}
