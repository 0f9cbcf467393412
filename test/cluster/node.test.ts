/**
 * The test cluster itself, a real one-node Kubernetes: the kubelet's node is Ready on the bridge address, the
 * `kubernetes` Service reaches the apiserver from pods, the image built from the Dockerfile runs through its
 * ENTRYPOINT as uid 65532 on a read-only root, the default StorageClass binds a claim that fsGroup makes writable,
 * pods reach servers on this machine at the host address, the namespaces enforce Pod Security `restricted`, the Job
 * controller and the garbage collector act, and the real scheduler leaves an unfitting pod Pending.
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, describe, test } from "node:test";
import {
  BatchV1Api,
  CoreV1Api,
  DiscoveryV1Api,
  type V1Container,
  type V1Job,
  type V1Pod,
} from "@kubernetes/client-node";
import { RUN_USER_ID } from "../../src/operator/job-builder.ts";
import { isNotFound } from "../../src/operator/runtime/kube-api.ts";
import { packageVersion } from "../../src/util/package-info.ts";
import { testCluster } from "../support/cluster.ts";
import { eventually } from "../support/eventually.ts";
import { pinnedVersions } from "./binaries.ts";
import { CHUNKGC_IMAGE } from "./images.ts";

const cluster = await testCluster();
const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
const batch = cluster.kubeConfig.makeApiClient(BatchV1Api);

/** What the `restricted` Pod Security Standard asks of a pod and its containers. */
const restrictedPod = {
  runAsNonRoot: true,
  runAsUser: RUN_USER_ID,
  runAsGroup: RUN_USER_ID,
  fsGroup: RUN_USER_ID,
  seccompProfile: { type: "RuntimeDefault" },
};
const restrictedContainer = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ["ALL"] },
};

function chunkgcContainer(name: string, extra: Partial<V1Container>): V1Container {
  return { name, image: CHUNKGC_IMAGE, imagePullPolicy: "Never", securityContext: restrictedContainer, ...extra };
}

function podBody(name: string, containers: V1Container[], extra: Partial<NonNullable<V1Pod["spec"]>> = {}): V1Pod {
  return {
    metadata: { name },
    spec: {
      restartPolicy: "Never",
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: 5,
      securityContext: restrictedPod,
      containers,
      ...extra,
    },
  };
}

function job(name: string, containers: V1Container[]): V1Job {
  return {
    metadata: { name },
    spec: { backoffLimit: 0, template: podBody(name, containers) as NonNullable<V1Job["spec"]>["template"] },
  };
}

async function finishedPod(namespace: string, name: string, timeoutMs = 90_000): Promise<V1Pod> {
  return eventually(
    `pod ${namespace}/${name} to finish`,
    async () => {
      const pod = await core.readNamespacedPod({ name, namespace });
      return pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed" ? pod : undefined;
    },
    timeoutMs,
  );
}

/** A `node -e` script run in the chunkgc image (the image's node, not its entrypoint). */
const nodeScript = (script: string): Partial<V1Container> => ({ command: ["node", "-e", script] });

describe("the node", () => {
  test("is Ready, runs the pinned kubelet and has the host address as its InternalIP", async () => {
    const node = await core.readNode({ name: "chunkgc-node" });
    assert.equal(node.status?.nodeInfo?.kubeletVersion, `v${pinnedVersions().kube}`);
    assert.ok(node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"));
    assert.deepEqual(
      node.status?.addresses?.filter((a) => a.type === "InternalIP").map((a) => a.address),
      [cluster.hostAddress],
    );
    assert.match(node.status?.nodeInfo?.containerRuntimeVersion ?? "", /^containerd:\/\/1\./);
  });

  test("the `kubernetes` Service points at the apiserver on the host address", async () => {
    const discovery = cluster.kubeConfig.makeApiClient(DiscoveryV1Api);
    const slices = await discovery.listNamespacedEndpointSlice({
      namespace: "default",
      labelSelector: "kubernetes.io/service-name=kubernetes",
    });
    const addresses = slices.items.flatMap((s) => (s.endpoints ?? []).flatMap((e) => e.addresses));
    assert.deepEqual(addresses, [cluster.hostAddress]);
  });
});

describe("pods on the real node", () => {
  test("a Job of the built image completes through its ENTRYPOINT (args only), termination message and log", async () => {
    const namespace = await cluster.createNamespace("job");
    await batch.createNamespacedJob({
      namespace,
      body: job("version", [
        chunkgcContainer("chunkgc", { args: ["version", "--termination-message-file", "/dev/termination-log"] }),
      ]),
    });
    await eventually("the Job to complete", async () => {
      const current = await batch.readNamespacedJobStatus({ name: "version", namespace });
      return current.status?.conditions?.some((c) => c.type === "Complete" && c.status === "True") ? true : undefined;
    });
    const [pod] = (await core.listNamespacedPod({ namespace, labelSelector: "batch.kubernetes.io/job-name=version" }))
      .items;
    assert.ok(pod?.metadata?.name, "the Job controller created a pod");
    assert.equal(pod.spec?.nodeName, "chunkgc-node", "the scheduler bound it to the node");
    const terminated = pod.status?.containerStatuses?.[0]?.state?.terminated;
    assert.equal(terminated?.exitCode, 0);
    assert.equal(terminated?.reason, "Completed");
    const message = JSON.parse(terminated?.message ?? "{}") as { name?: string; version?: string; node?: string };
    assert.equal(message.name, "chunkgc");
    assert.equal(message.version, packageVersion());
    assert.match(message.node ?? "", /^v24\./, "the image's Node is the project's LTS");
    const log = await cluster.podLog(namespace, pod.metadata.name, "chunkgc");
    assert.equal((JSON.parse(log.trim()) as { version: string }).version, packageVersion());
  });

  test("the image runs as uid 65532 on a read-only root with production dependencies only", async () => {
    const namespace = await cluster.createNamespace("image");
    const script = `
      const fs = require("node:fs");
      let rootWritable = true;
      try { fs.writeFileSync("/app/x", "x"); } catch (e) { rootWritable = e.code; }
      console.log(JSON.stringify({
        uid: process.getuid(), gid: process.getgid(), rootWritable,
        app: fs.readdirSync("/app").sort(), modules: fs.readdirSync("/app/node_modules"),
        env: process.env.NODE_ENV,
      }));`;
    await core.createNamespacedPod({
      namespace,
      body: podBody("inspect", [chunkgcContainer("inspect", nodeScript(script))]),
    });
    const pod = await finishedPod(namespace, "inspect");
    const log = await cluster.podLog(namespace, "inspect", "inspect");
    assert.equal(pod.status?.phase, "Succeeded", log);
    const seen = JSON.parse(log.trim()) as {
      uid: number;
      gid: number;
      rootWritable: unknown;
      app: string[];
      modules: string[];
      env: string;
    };
    assert.equal(seen.uid, RUN_USER_ID);
    assert.equal(seen.gid, RUN_USER_ID);
    assert.equal(seen.rootWritable, "EROFS", "readOnlyRootFilesystem holds");
    assert.deepEqual(seen.app, ["bin", "dist", "node_modules", "package.json"]);
    assert.ok(seen.modules.includes("@kubernetes"), "production dependencies are there");
    for (const dev of ["typescript", "@biomejs"])
      assert.ok(!seen.modules.includes(dev), `${dev} is only for development`);
    assert.equal(seen.env, "production");
  });

  test("in-cluster: a pod reaches the apiserver through the `kubernetes` Service with its ServiceAccount token", async () => {
    const namespace = await cluster.createNamespace("incluster");
    const script = `
      const fs = require("node:fs"); const https = require("node:https");
      const dir = "/var/run/secrets/kubernetes.io/serviceaccount";
      https.get({ host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT,
        path: "/version", ca: fs.readFileSync(dir + "/ca.crt"),
        headers: { authorization: "Bearer " + fs.readFileSync(dir + "/token", "utf8") } }, (res) => {
        let body = ""; res.on("data", (d) => (body += d));
        res.on("end", () => console.log(JSON.stringify({ host: process.env.KUBERNETES_SERVICE_HOST, status: res.statusCode, body })));
      }).on("error", (e) => { console.log(JSON.stringify({ error: e.message })); process.exit(1); });`;
    await core.createNamespacedPod({
      namespace,
      body: podBody("incluster", [chunkgcContainer("client", nodeScript(script))], {
        automountServiceAccountToken: true,
      }),
    });
    const pod = await finishedPod(namespace, "incluster");
    const log = await cluster.podLog(namespace, "incluster", "client");
    assert.equal(pod.status?.phase, "Succeeded", log);
    const seen = JSON.parse(log.trim()) as { host: string; status: number; body: string };
    assert.equal(seen.host, "10.96.0.1", "the Service's cluster IP, not the apiserver's own address");
    assert.equal(seen.status, 200);
    assert.equal((JSON.parse(seen.body) as { gitVersion: string }).gitVersion, `v${pinnedVersions().kube}`);
  });

  test("a claim of the default StorageClass binds and is writable by uid 65532 through fsGroup, across pods", async () => {
    const namespace = await cluster.createNamespace("pvc");
    await core.createNamespacedPersistentVolumeClaim({
      namespace,
      body: {
        metadata: { name: "data" },
        spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
      },
    });
    const mount = { volumeMounts: [{ name: "data", mountPath: "/data" }] };
    const volumes = [{ name: "data", persistentVolumeClaim: { claimName: "data" } }];
    const writer = `const fs = require("node:fs"); fs.writeFileSync("/data/f", "hello");
      const s = fs.statSync("/data"); const f = fs.statSync("/data/f");
      console.log(JSON.stringify({ dirGid: s.gid, fileUid: f.uid }));`;
    await core.createNamespacedPod({
      namespace,
      body: podBody("writer", [chunkgcContainer("writer", { ...nodeScript(writer), ...mount })], { volumes }),
    });
    const written = await finishedPod(namespace, "writer");
    const log = await cluster.podLog(namespace, "writer", "writer");
    assert.equal(written.status?.phase, "Succeeded", log);
    assert.deepEqual(JSON.parse(log.trim()), { dirGid: RUN_USER_ID, fileUid: RUN_USER_ID });
    const claim = await core.readNamespacedPersistentVolumeClaim({ name: "data", namespace });
    assert.equal(claim.status?.phase, "Bound");
    assert.equal(claim.spec?.storageClassName, "local-path", "the default class was filled in");
    const reader = `console.log(require("node:fs").readFileSync("/data/f", "utf8"))`;
    await core.createNamespacedPod({
      namespace,
      body: podBody("reader", [chunkgcContainer("reader", { ...nodeScript(reader), ...mount })], { volumes }),
    });
    assert.equal((await finishedPod(namespace, "reader")).status?.phase, "Succeeded");
    assert.equal((await cluster.podLog(namespace, "reader", "reader")).trim(), "hello");
  });

  test("pods reach a server on this machine at the host address", async () => {
    const server = createServer((_req, res) => res.end("from the host"));
    await new Promise<void>((resolve) => server.listen(0, cluster.hostAddress, resolve));
    after(() => server.close());
    const { port } = server.address() as AddressInfo;
    const namespace = await cluster.createNamespace("host");
    const script = `fetch("http://${cluster.hostAddress}:${port}/").then((r) => r.text()).then((t) => console.log(t))`;
    await core.createNamespacedPod({
      namespace,
      body: podBody("client", [chunkgcContainer("client", nodeScript(script))]),
    });
    const pod = await finishedPod(namespace, "client");
    const log = await cluster.podLog(namespace, "client", "client");
    assert.equal(pod.status?.phase, "Succeeded", log);
    assert.equal(log.trim(), "from the host");
  });

  test("the namespace enforces Pod Security restricted: a root pod is rejected at admission", async () => {
    const namespace = await cluster.createNamespace("pss");
    await assert.rejects(
      core.createNamespacedPod({
        namespace,
        body: {
          metadata: { name: "root" },
          spec: { containers: [{ name: "c", image: CHUNKGC_IMAGE, imagePullPolicy: "Never", args: ["version"] }] },
        },
      }),
      (error: unknown) => {
        const status = JSON.parse(String((error as { body?: unknown }).body)) as { code: number; message: string };
        assert.equal(status.code, 403);
        assert.match(status.message, /violates PodSecurity "restricted:latest".*runAsNonRoot != true/);
        return true;
      },
    );
  });

  test("deleting a Job cascades to its pod through the garbage collector", async () => {
    const namespace = await cluster.createNamespace("cascade");
    await batch.createNamespacedJob({
      namespace,
      body: job("short", [chunkgcContainer("chunkgc", { args: ["version"] })]),
    });
    const pod = await eventually("the Job's pod", async () => {
      const list = await core.listNamespacedPod({ namespace, labelSelector: "batch.kubernetes.io/job-name=short" });
      return list.items[0];
    });
    assert.ok(pod.metadata?.ownerReferences?.some((o) => o.kind === "Job" && o.name === "short"));
    await batch.deleteNamespacedJob({ name: "short", namespace, propagationPolicy: "Foreground" });
    await eventually("the pod and the Job to be gone", async () => {
      const pods = await core.listNamespacedPod({ namespace, labelSelector: "batch.kubernetes.io/job-name=short" });
      if (pods.items.length > 0) return undefined;
      try {
        await batch.readNamespacedJob({ name: "short", namespace });
        return undefined;
      } catch (error) {
        return isNotFound(error) ? true : undefined;
      }
    });
  });

  test("a pod whose nodeSelector does not match the node stays Pending, unschedulable", async () => {
    const namespace = await cluster.createNamespace("unsched");
    await core.createNamespacedPod({
      namespace,
      body: podBody("nowhere", [chunkgcContainer("c", { args: ["version"] })], {
        nodeSelector: { "chunkgc.dev/none": "x" },
      }),
    });
    const condition = await eventually("PodScheduled=False", async () => {
      const pod = await core.readNamespacedPod({ name: "nowhere", namespace });
      return pod.status?.conditions?.find((c) => c.type === "PodScheduled" && c.status === "False");
    });
    assert.equal(condition.reason, "Unschedulable");
    assert.match(condition.message ?? "", /didn't match Pod's node affinity\/selector/);
  });
});
