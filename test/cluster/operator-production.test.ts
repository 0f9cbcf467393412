/**
 * Run pods as platforms run them, on the real node: a resource without credentialsSecretRef runs with the AWS SDK's
 * default chain (here its shared-credentials-file provider, from a Secret volume the spec mounts), as the uid, gid
 * and fsGroup the spec sets, and its WaitForFirstConsumer claim, Pending until the run binds it (the normal path:
 * never reported as ClaimPending), ends Bound (Ready=True); pods that cannot start (image pull, a missing Secret, no node) are named in the status,
 * the metrics and Events within a minute with the kubelet's or scheduler's text; the Argo CD health check judges the
 * real statuses.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { CoreV1Api } from "@kubernetes/client-node";
import type { S3Context } from "../../src/s3/index.ts";
import { testCluster } from "../support/cluster.ts";
import { freshBucketContext, seed } from "../support/engine.ts";
import {
  condition,
  createGc,
  type GcObject,
  gcSpecFor,
  getGc,
  installCrd,
  jobsOf,
  podS3Target,
  startTestOperator,
  waitForEvents,
  waitForGc,
} from "../support/operator.ts";
import { clusterS3Server } from "../support/s3-servers.ts";

const cluster = await testCluster();
const server = await clusterS3Server();
const target = podS3Target(cluster, server);
const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
const HEALTH = fileURLToPath(new URL("../../charts/chunkgc/files/argocd-health.lua", import.meta.url));

/** A JSON value as a Lua table constructor, for the Argo CD health script. */
function lua(value: unknown): string {
  if (value === null || value === undefined) return "nil";
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return `{${value.map(lua).join(", ")}}`;
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  return `{${entries.map(([k, v]) => `[${JSON.stringify(k)}] = ${lua(v)}`).join(", ")}}`;
}
function argoHealth(gc: GcObject): string {
  const program = `obj = ${lua(gc)}\nlocal hs = dofile(${JSON.stringify(HEALTH)})\nio.write(hs.status)`;
  return execFileSync("lua5.1", ["-e", program], { encoding: "utf8" });
}

describe("operator: run pods on the real node", () => {
  let s3: S3Context;
  let namespace = "";
  let operator: Awaited<ReturnType<typeof startTestOperator>>;

  before(async () => {
    await installCrd(cluster);
    s3 = await freshBucketContext(server, "op-prod");
    await seed(s3, { store: "store1", seed: 5, chunks: 40, garbageChunks: 10, snapshots: 2 }, 0);
    namespace = await cluster.createNamespace("op-prod");
    operator = await startTestOperator(cluster, { label: "production", namespace, runPod: { ids: "platform" } });
  });
  after(async () => {
    await operator?.stop();
    s3?.close();
  });

  test("no credentialsSecretRef: the SDK's default chain, from a mounted file, as the spec's uid/gid/fsGroup", async () => {
    await core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name: "aws-shared" },
        stringData: {
          credentials: `[default]\naws_access_key_id = ${server.accessKeyId}\naws_secret_access_key = ${server.secretAccessKey}\n`,
        },
      },
    });
    const ids = 1000680000;
    const created = await createGc(cluster, namespace, "chain", {
      ...gcSpecFor(target, s3.bucket, { s3: { credentialsSecretRef: undefined } }),
      markerCache: { volumeClaimTemplate: { storage: "1Gi", whenDeleted: "Delete" } },
      dryRun: true,
      runPod: {
        volumes: [{ name: "aws", secret: { secretName: "aws-shared" } }],
        volumeMounts: [{ name: "aws", mountPath: "/etc/aws" }],
        env: [{ name: "AWS_SHARED_CREDENTIALS_FILE", value: "/etc/aws/credentials" }],
        securityContext: { runAsUser: ids, runAsGroup: ids, fsGroup: ids },
        podLabels: { team: "storage" },
        podAnnotations: { "example.com/owner": "storage" },
      },
    });
    assert.equal(created.status, 201, created.body.message);
    const readyReasons = new Set<string>();
    const done = await waitForGc(
      cluster,
      namespace,
      "chain",
      "the run's result",
      (gc) => {
        readyReasons.add(condition(gc, "Ready")?.reason ?? "");
        return gc.status?.lastRun && gc;
      },
      180_000,
    );
    assert.ok(!readyReasons.has("ClaimPending"), `a claim binding on first use is normal: ${[...readyReasons]}`);
    const record = done.status!.lastRun!;
    assert.equal(record.result, "Succeeded", record.message);
    assert.ok((record.counters?.diskChunks ?? 0) > 0, "it listed the store with the chain's credentials");
    const ready = await waitForGc(cluster, namespace, "chain", "Ready once the claim is bound", (gc) =>
      condition(gc, "Ready")?.status === "True" ? gc : undefined,
    );
    assert.equal(condition(ready, "Ready")?.reason, "Ready");
    assert.equal(argoHealth(ready), "Healthy");

    const [job] = await jobsOf(cluster, namespace, "chain");
    const pod = job?.spec?.template.spec;
    assert.deepEqual(
      [pod?.securityContext?.runAsUser, pod?.securityContext?.runAsGroup, pod?.securityContext?.fsGroup],
      [ids, ids, ids],
    );
    const env = pod?.containers[0]?.env ?? [];
    assert.ok(env.some((e) => e.name === "CHUNKGC_S3_CREDENTIAL_SOURCE" && e.value === "default-chain"));
    assert.ok(!env.some((e) => e.name === "AWS_ACCESS_KEY_ID"), "no static keys anywhere");
    assert.equal(job?.spec?.template.metadata?.labels?.team, "storage");
    assert.equal(job?.spec?.activeDeadlineSeconds, 12 * 3600, "the operator's default deadline");
  });

  const stuck: [string, Record<string, unknown>, RegExp, RegExp][] = [
    [
      "an image that cannot be pulled",
      { image: "chunkgc:does-not-exist", imagePullPolicy: "IfNotPresent" },
      /^(ErrImagePull|ImagePullBackOff)$/,
      /chunkgc:does-not-exist/,
    ],
    [
      "a Secret the pod needs is missing",
      { env: [{ name: "PROXY_TOKEN", valueFrom: { secretKeyRef: { name: "nope", key: "token" } } }] },
      /^CreateContainerConfigError$/,
      /secret "nope" not found/,
    ],
    ["no node fits", { nodeSelector: { "chunkgc.test/none": "true" } }, /^Unschedulable$/, /0\/1 nodes are available/],
  ];
  for (const [what, runPod, reason, text] of stuck) {
    test(`${what}: Running names it within a minute, with Kubernetes' own text`, async () => {
      const name = `stuck-${stuck.findIndex(([w]) => w === what)}`;
      const started = Date.now();
      const created = await createGc(
        cluster,
        namespace,
        name,
        gcSpecFor(target, s3.bucket, {
          store: `store-${name}`,
          s3: { credentialsSecretRef: { name: "absent-but-unchecked" } },
          runPod,
        }),
      );
      assert.equal(created.status, 201, created.body.message);
      // The credentials Secret must exist for a run to start.
      await core
        .createNamespacedSecret({
          namespace,
          body: {
            metadata: { name: "absent-but-unchecked" },
            stringData: { AWS_ACCESS_KEY_ID: "a", AWS_SECRET_ACCESS_KEY: "b" },
          },
        })
        .catch(() => undefined);
      const gc = await waitForGc(
        cluster,
        namespace,
        name,
        `Running=${reason}`,
        (g) => (reason.test(condition(g, "Running")?.reason ?? "") ? g : undefined),
        60_000,
      );
      process.stderr.write(`# ${what}: in status after ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
      assert.equal(gc.status?.activeRun?.phase, "CannotStart");
      assert.match(condition(gc, "Running")?.message ?? "", text);
      assert.match(gc.status?.activeRun?.message ?? "", text);
      assert.equal(condition(gc, "Reconciling")?.status, "False");
      assert.equal(argoHealth(gc), "Degraded");
      await waitForEvents(cluster, namespace, name, "a Warning with the reason", (events) =>
        events.some((e) => e.type === "Warning" && reason.test(e.reason ?? "") && text.test(e.note ?? "")),
      );
      const metrics = await operator.metrics.registry.getSingleMetric("chunkgc_active_run_cannot_start")?.get();
      assert.equal(metrics?.values.find((v) => v.labels.name === name)?.value, 1);
      const current = await getGc(cluster, namespace, name);
      assert.ok(current.status?.activeRun, "still active: the start timeout (10 min) has not passed");
    });
  }
});
