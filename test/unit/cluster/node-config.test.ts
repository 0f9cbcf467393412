/**
 * The node's configuration files, pure: what makes the node work on a machine without CAP_SYS_RESOURCE and with
 * cgroup v1, and what keeps its traffic on the bridge and its hands off the host's sysctls.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parse } from "yaml";
import { splitRule } from "../../cluster/host.ts";
import { buildContextHash } from "../../cluster/images.ts";
import {
  cniConfig,
  containerdConfig,
  kubeletConfig,
  kubeProxyConfig,
  NODE,
  nodePaths,
} from "../../cluster/node-config.ts";

const paths = nodePaths("/x/node", "/cache/node-containerd");

test("containerd: sandboxes without lowering oom_score_adj, the locally built pause image, our CNI directory", () => {
  const text = containerdConfig(paths);
  assert.match(text, /restrict_oom_score_adj = true/);
  assert.match(text, /sandbox_image = "registry\.k8s\.io\/pause:3\.10\.1"/);
  assert.match(text, /conf_dir = "\/x\/node\/cni\/net\.d"/);
  assert.match(text, /SystemdCgroup = false/);
  assert.ok(paths.containerdSocket.length < 100, "a unix socket path fits");
});

test("CNI: the bridge on the node's range, no masquerading", () => {
  const config = JSON.parse(cniConfig(paths)) as { plugins: Record<string, unknown>[] };
  const bridge = config.plugins[0] as {
    bridge: string;
    ipMasq: boolean;
    ipam: { ranges: { subnet: string; gateway: string }[][] };
  };
  assert.equal(bridge.bridge, NODE.bridge);
  assert.equal(bridge.ipMasq, false);
  assert.deepEqual(bridge.ipam.ranges[0]?.[0], { subnet: NODE.podSubnet, gateway: NODE.address });
});

test("kubelet: cgroup v1 allowed, cgroupfs, serves only on the node address, anonymous access off", () => {
  const config = parse(kubeletConfig(paths, "/ca", { cert: "/c", key: "/k" }, { port: 1, healthzPort: 2 })) as Record<
    string,
    unknown
  >;
  assert.equal(config.failCgroupV1, false);
  assert.equal(config.cgroupDriver, "cgroupfs");
  assert.equal(config.address, NODE.address);
  assert.equal(config.healthzBindAddress, "127.0.0.1");
  assert.equal(config.readOnlyPort, 0);
  assert.deepEqual((config.authentication as { anonymous: unknown }).anonymous, { enabled: false });
});

test("kube-proxy: no conntrack sysctls, no route_localnet, NodePorts only on the node address", () => {
  const config = parse(kubeProxyConfig(paths, { healthzPort: 1, metricsPort: 2 })) as Record<string, unknown>;
  assert.deepEqual(config.conntrack, { maxPerCore: 0, min: 0, tcpEstablishedTimeout: "0s", tcpCloseWaitTimeout: "0s" });
  assert.equal((config.iptables as { localhostNodePorts: boolean }).localhostNodePorts, false);
  assert.deepEqual(config.nodePortAddresses, [`${NODE.address}/32`]);
  assert.equal(config.oomScoreAdj, 0);
});

test("iptables-save rules split into arguments, quoted comments kept whole", () => {
  assert.deepEqual(splitRule('INPUT -m comment --comment "kubernetes health check" -j KUBE-FIREWALL'), [
    "INPUT",
    "-m",
    "comment",
    "--comment",
    "kubernetes health check",
    "-j",
    "KUBE-FIREWALL",
  ]);
});

test("the build-context hash follows what .dockerignore lets through, and nothing else", () => {
  const dir = mkdtempSync(join(tmpdir(), "chunkgc-context-"));
  try {
    mkdirSync(join(dir, "src"));
    mkdirSync(join(dir, "test"));
    writeFileSync(join(dir, ".dockerignore"), "*\n!src/\n!package.json\n");
    writeFileSync(join(dir, "Dockerfile"), "FROM x\n");
    writeFileSync(join(dir, "package.json"), "{}");
    writeFileSync(join(dir, "src/a.ts"), "a");
    writeFileSync(join(dir, "test/t.ts"), "t");
    const first = buildContextHash(dir, "base:1");
    writeFileSync(join(dir, "test/t.ts"), "changed");
    assert.equal(buildContextHash(dir, "base:1"), first, "an ignored file changes nothing");
    writeFileSync(join(dir, "src/a.ts"), "changed");
    const second = buildContextHash(dir, "base:1");
    assert.notEqual(second, first, "a file in the context changes the hash");
    assert.notEqual(buildContextHash(dir, "base:2"), second, "so does the base image");
    writeFileSync(join(dir, "Dockerfile"), "FROM y\n");
    assert.notEqual(buildContextHash(dir, "base:1"), second, "and the Dockerfile");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
