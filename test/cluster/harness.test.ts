/**
 * The test cluster itself: a real apiserver serving CRDs (with CEL validation), the real Job controller completing
 * a Job whose pod the node agent runs as a chunkgc process, the real garbage collector cascading a Job's deletion
 * to its pod, env and volumes resolved through the API, and pods the agent cannot run refused, not faked.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  ApiextensionsV1Api,
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type V1Job,
  type V1Pod,
  type V1PodSpec,
} from "@kubernetes/client-node";
import { isNotFound } from "../../src/operator/controller/kube-api.ts";
import { packageVersion } from "../../src/util/package-info.ts";
import { testCluster } from "../support/cluster.ts";
import { eventually } from "../support/eventually.ts";
import { NodeAgent } from "./node-agent.ts";

const cluster = await testCluster();
const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
const batch = cluster.kubeConfig.makeApiClient(BatchV1Api);

async function podsOfJob(namespace: string, job: string): Promise<V1Pod[]> {
  const list = await core.listNamespacedPod({ namespace, labelSelector: `batch.kubernetes.io/job-name=${job}` });
  return list.items;
}

function chunkgcJob(name: string, podSpec: Partial<V1PodSpec>): V1Job {
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name },
    spec: {
      backoffLimit: 0,
      template: {
        spec: {
          restartPolicy: "Never",
          terminationGracePeriodSeconds: 5,
          automountServiceAccountToken: false,
          containers: [],
          ...podSpec,
        },
      },
    },
  };
}

async function jobCondition(namespace: string, name: string, type: string): Promise<true | undefined> {
  const job = await batch.readNamespacedJobStatus({ name, namespace });
  return job.status?.conditions?.some((c) => c.type === type && c.status === "True") ? true : undefined;
}

describe("control plane", () => {
  test("serves a CRD with CEL validation and stores its custom resources", async () => {
    const extensions = cluster.kubeConfig.makeApiClient(ApiextensionsV1Api);
    const custom = cluster.kubeConfig.makeApiClient(CustomObjectsApi);
    const namespace = await cluster.createNamespace("crd");
    const group = `h${Math.random().toString(36).slice(2, 8)}.test.chunkgc.io`;
    const crdName = `widgets.${group}`;
    await extensions.createCustomResourceDefinition({
      body: {
        metadata: { name: crdName },
        spec: {
          group,
          scope: "Namespaced",
          names: { plural: "widgets", singular: "widget", kind: "Widget", listKind: "WidgetList" },
          versions: [
            {
              name: "v1",
              served: true,
              storage: true,
              subresources: { status: {} },
              schema: {
                openAPIV3Schema: {
                  type: "object",
                  properties: {
                    spec: {
                      type: "object",
                      required: ["size"],
                      properties: { size: { type: "integer", minimum: 1, _default: 3 }, color: { type: "string" } },
                      x_kubernetes_validations: [{ rule: "self.size <= 10", message: "size must be at most 10" }],
                    },
                    status: { type: "object", properties: { seen: { type: "boolean" } } },
                  },
                },
              },
            },
          ],
        },
      },
    });
    after(() => extensions.deleteCustomResourceDefinition({ name: crdName }).catch(() => {}));
    await eventually("the CRD to be established", async () => {
      const crd = await extensions.readCustomResourceDefinition({ name: crdName });
      return crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True") ? true : undefined;
    });
    const ref = { group, version: "v1", namespace, plural: "widgets" };
    const created = await eventually("the custom resource to be accepted", () =>
      custom.createNamespacedCustomObject({
        ...ref,
        body: { apiVersion: `${group}/v1`, kind: "Widget", metadata: { name: "w1" }, spec: { size: 4, color: "red" } },
      }),
    );
    assert.equal(created.spec.size, 4);
    const read = await custom.getNamespacedCustomObject({ ...ref, name: "w1" });
    assert.deepEqual(read.spec, { size: 4, color: "red" });
    assert.ok(read.metadata.uid, "stored objects get a uid");

    await assert.rejects(
      custom.createNamespacedCustomObject({
        ...ref,
        body: { apiVersion: `${group}/v1`, kind: "Widget", metadata: { name: "w2" }, spec: { size: 11 } },
      }),
      (error: unknown) => {
        assert.equal((error as { code?: number }).code, 422);
        assert.match(String((error as { body?: unknown }).body), /size must be at most 10/);
        return true;
      },
    );
  });
});

describe("node agent with the real Job controller", () => {
  test("a Job running `chunkgc version` completes with its termination message in the pod status", async () => {
    const namespace = await cluster.createNamespace("job");
    await batch.createNamespacedJob({
      namespace,
      body: chunkgcJob("version", {
        containers: [
          {
            name: "chunkgc",
            image: "registry.example/chunkgc:dev",
            args: ["version", "--termination-message-file", "/dev/termination-log"],
          },
        ],
      }),
    });
    await eventually("the Job to complete", () => jobCondition(namespace, "version", "Complete"));
    const [pod] = await podsOfJob(namespace, "version");
    assert.ok(pod, "the Job controller created a pod");
    assert.equal(pod.status?.phase, "Succeeded");
    assert.equal(pod.spec?.nodeName, "chunkgc-node");
    const terminated = pod.status?.containerStatuses?.[0]?.state?.terminated;
    assert.equal(terminated?.exitCode, 0);
    assert.equal(terminated?.reason, "Completed");
    const message = JSON.parse(terminated?.message ?? "{}");
    assert.equal(message.name, "chunkgc");
    assert.equal(message.version, packageVersion());
    const log = readFileSync(cluster.podLogPath(pod, "chunkgc"), "utf8");
    assert.equal(JSON.parse(log.trim()).version, packageVersion(), "stdout goes to the container log file");
  });

  test("env from a Secret and a PVC mount wait until they exist, then run with mapped paths", async () => {
    const namespace = await cluster.createNamespace("env");
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: "needs-things" },
        spec: {
          restartPolicy: "Never",
          automountServiceAccountToken: false,
          volumes: [{ name: "cache", persistentVolumeClaim: { claimName: "marker-cache" } }],
          containers: [
            {
              name: "chunkgc",
              image: "chunkgc",
              command: ["chunkgc", "version"],
              args: ["--termination-message-file=$(CACHE_DIR)/version.json"],
              env: [
                { name: "CACHE_DIR", value: "/var/cache/chunkgc" },
                { name: "SECRET_KEY", valueFrom: { secretKeyRef: { name: "s3-credentials", key: "key" } } },
              ],
              volumeMounts: [{ name: "cache", mountPath: "/var/cache/chunkgc" }],
            },
          ],
        },
      },
    });
    const waiting = await eventually("the missing references to be reported", async () => {
      const pod = await core.readNamespacedPod({ name: "needs-things", namespace });
      return pod.status?.containerStatuses?.[0]?.state?.waiting;
    });
    assert.equal(waiting.reason, "CreateContainerConfigError");
    assert.match(waiting.message ?? "", /persistentvolumeclaim "marker-cache" not found/);
    assert.equal((await core.readNamespacedPod({ name: "needs-things", namespace })).status?.phase, "Pending");

    await core.createNamespacedPersistentVolumeClaim({
      namespace,
      body: {
        metadata: { name: "marker-cache" },
        spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
      },
    });
    await eventually("the missing Secret to be reported", async () => {
      const pod = await core.readNamespacedPod({ name: "needs-things", namespace });
      const message = pod.status?.containerStatuses?.[0]?.state?.waiting?.message ?? "";
      return /secret "s3-credentials" not found/.test(message) ? true : undefined;
    });
    await core.createNamespacedSecret({
      namespace,
      body: { metadata: { name: "s3-credentials" }, stringData: { key: "not-logged" } },
    });
    const pod = await eventually("the pod to succeed", async () => {
      const current = await core.readNamespacedPod({ name: "needs-things", namespace });
      return current.status?.phase === "Succeeded" ? current : undefined;
    });
    const written = join(cluster.claimDir(namespace, "marker-cache"), "version.json");
    assert.ok(existsSync(written), `the container's /var/cache/chunkgc/version.json is ${written} on the host`);
    assert.equal(JSON.parse(readFileSync(written, "utf8")).name, "chunkgc");
    assert.equal(pod.status?.containerStatuses?.[0]?.state?.terminated?.exitCode, 0);
  });

  test("deleting a Job cascades to its pod through the garbage collector", async () => {
    const namespace = await cluster.createNamespace("cascade");
    for (const [name, propagationPolicy] of [
      ["foreground", "Foreground"],
      ["background", "Background"],
    ] as const) {
      await batch.createNamespacedJob({
        namespace,
        body: chunkgcJob(name, { containers: [{ name: "chunkgc", image: "chunkgc:dev", args: ["version"] }] }),
      });
      await eventually(`Job ${name} to complete`, () => jobCondition(namespace, name, "Complete"));
      const [pod] = await podsOfJob(namespace, name);
      assert.ok(pod?.metadata?.ownerReferences?.some((o) => o.kind === "Job" && o.name === name));
      await batch.deleteNamespacedJob({ name, namespace, propagationPolicy });
      await eventually(`the pod of Job ${name} to be deleted (${propagationPolicy})`, async () =>
        (await podsOfJob(namespace, name)).length === 0 ? true : undefined,
      );
      await eventually(`Job ${name} to be gone`, async () => {
        try {
          await batch.readNamespacedJob({ name, namespace });
          return undefined;
        } catch (error) {
          return isNotFound(error) ? true : undefined;
        }
      });
    }
  });

  test("a pod with another image is refused (Failed, reason Unsupported), never run", async () => {
    const namespace = await cluster.createNamespace("refuse");
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: "busybox" },
        spec: {
          restartPolicy: "Never",
          containers: [
            { name: "main", image: "busybox:1.36", command: ["sh", "-c", "exit 0"] },
            {
              name: "probed",
              image: "chunkgc",
              args: ["version"],
              readinessProbe: { exec: { command: ["true"] } },
            },
          ],
        },
      },
    });
    const pod = await eventually("the pod to be refused", async () => {
      const current = await core.readNamespacedPod({ name: "busybox", namespace });
      return current.status?.phase === "Failed" ? current : undefined;
    });
    assert.equal(pod.status?.reason, "Unsupported");
    assert.match(pod.status?.message ?? "", /image busybox:1\.36 is not the chunkgc image/);
    assert.match(pod.status?.message ?? "", /readiness probes are not supported/);
    for (const status of pod.status?.containerStatuses ?? []) {
      assert.equal(status.state?.terminated?.reason, "Unsupported");
      assert.notEqual(status.state?.terminated?.exitCode, 0);
    }
    assert.ok(!existsSync(cluster.podLogPath(pod, "probed")), "nothing was started");
    const events = await core.listNamespacedEvent({ namespace });
    assert.ok(events.items.some((e) => e.reason === "Unsupported" && e.type === "Warning"));
  });

  test("a pod whose nodeSelector does not match the node stays Pending, unschedulable", async () => {
    const namespace = await cluster.createNamespace("sched");
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: "elsewhere" },
        spec: {
          restartPolicy: "Never",
          nodeSelector: { disk: "ssd" },
          containers: [{ name: "chunkgc", image: "chunkgc", args: ["version"] }],
        },
      },
    });
    const condition = await eventually("the pod to be marked unschedulable", async () => {
      const pod = await core.readNamespacedPod({ name: "elsewhere", namespace });
      return pod.status?.conditions?.find((c) => c.type === "PodScheduled" && c.status === "False");
    });
    assert.equal(condition.reason, "Unschedulable");
    const pod = await core.readNamespacedPod({ name: "elsewhere", namespace });
    assert.equal(pod.spec?.nodeName, undefined);
    assert.equal(pod.status?.phase, "Pending");
  });
});

describe("container processes", () => {
  // A second agent runs the harness's stand-in entrypoint, so these tests control how long a process lives.
  let agent: NodeAgent;
  const entrypoint = fileURLToPath(new URL("./fixtures/test-entrypoint.ts", import.meta.url));
  before(async () => {
    const apiserverPort = Number(new URL(cluster.kubeConfig.getCurrentCluster()?.server ?? "").port);
    agent = new NodeAgent({
      kubeConfig: cluster.kubeConfig,
      dir: join(cluster.dir, `fixture-node-${process.pid}`),
      nodeName: `fixture-node-${process.pid}`,
      apiserverPort,
      entrypoint,
      bindPendingPods: false,
    });
    await agent.start();
  });
  after(async () => {
    await agent.stop();
    await core.deleteNode({ name: agent.nodeName }).catch(() => {});
  });

  function fixturePod(name: string, args: string[], extra: Partial<V1PodSpec> = {}): V1Pod {
    return {
      metadata: { name },
      spec: {
        nodeName: agent.nodeName,
        restartPolicy: "Never",
        terminationGracePeriodSeconds: 5,
        automountServiceAccountToken: false,
        volumes: [{ name: "work", emptyDir: {} }],
        containers: [
          {
            name: "main",
            image: "chunkgc",
            args,
            volumeMounts: [{ name: "work", mountPath: "/work" }],
            terminationMessagePolicy: "FallbackToLogsOnError",
          },
        ],
        ...extra,
      },
    };
  }

  test("a failing container fails the pod with its exit code and the log as termination message", async () => {
    const namespace = await cluster.createNamespace("fail");
    await core.createNamespacedPod({ namespace, body: fixturePod("fails", ["--exit=3"]) });
    const pod = await eventually("the pod to fail", async () => {
      const current = await core.readNamespacedPod({ name: "fails", namespace });
      return current.status?.phase === "Failed" ? current : undefined;
    });
    const terminated = pod.status?.containerStatuses?.[0]?.state?.terminated;
    assert.equal(terminated?.exitCode, 3);
    assert.equal(terminated?.reason, "Error");
    assert.equal(terminated?.message, "exiting with 3 as asked");
  });

  test("deleting a running pod stops its process and removes the pod", async () => {
    const namespace = await cluster.createNamespace("kill");
    await core.createNamespacedPod({ namespace, body: fixturePod("runs", ["--pid-file=/work/pid"]) });
    const running = await eventually("the pod to run", async () => {
      const current = await core.readNamespacedPod({ name: "runs", namespace });
      return current.status?.phase === "Running" ? current : undefined;
    });
    assert.ok(running.status?.containerStatuses?.[0]?.state?.running?.startedAt);
    const pidFile = join(agent.dir, "pods", `${namespace}_runs_${running.metadata?.uid}`, "volumes", "work", "pid");
    const pid = await eventually("the process to write its pid into the emptyDir", async () =>
      existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8")) : undefined,
    );
    assert.ok(processAlive(pid), "the container process runs");
    await core.deleteNamespacedPod({ name: "runs", namespace });
    await eventually("the pod object to be removed", async () => {
      try {
        await core.readNamespacedPod({ name: "runs", namespace });
        return undefined;
      } catch (error) {
        return isNotFound(error) ? true : undefined;
      }
    });
    assert.equal(processAlive(pid), false, "the process was stopped");
  });
});

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
