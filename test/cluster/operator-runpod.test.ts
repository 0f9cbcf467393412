/**
 * Run pods for production clusters, against the real control plane: the CRD's CEL rules refuse the engine's safety
 * switches and volumes over the operator's mounts; a run whose pod cannot be created (FailedCreate: a missing
 * ServiceAccount) is in the status and Events within a minute and is ended after the start timeout, releasing the
 * datastore Lease; a Secret created after its resource is seen within seconds (a watch, not the backoff); a Pending
 * claim is reported; the JobNameConflict and JobDeleted paths.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { BatchV1Api, CoordinationV1Api, CoreV1Api } from "@kubernetes/client-node";
import { LABELS } from "../../src/api/group.ts";
import { datastoreLeaseName } from "../../src/operator/datastore-identity.ts";
import { testCluster } from "../support/cluster.ts";
import { eventually } from "../support/eventually.ts";
import {
  condition,
  createGc,
  createS3Secret,
  type GcSpecOverrides,
  gcSpecFor,
  getGc,
  installCrd,
  jobsOf,
  startTestOperator,
  waitForEvents,
  waitForGc,
} from "../support/operator.ts";

const cluster = await testCluster();
const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
const batch = cluster.kubeConfig.makeApiClient(BatchV1Api);
const coordination = cluster.kubeConfig.makeApiClient(CoordinationV1Api);

/** No S3 traffic happens in this file: every run is stopped before its engine could start. */
const nowhereS3 = { endpoint: "http://127.0.0.1:9", region: "us-east-1" };
const specFor = (store: string, overrides: GcSpecOverrides = {}) =>
  gcSpecFor(nowhereS3, "runpod-tests", { store, ...overrides });
/** A node selector no node has: the run pod stays Pending whether or not the cluster has a node. */
const nowhere = { nodeSelector: { "chunkgc.test/none": "true" } };

describe("run pods: refused by the CRD", () => {
  let namespace = "";
  before(async () => {
    await installCrd(cluster);
    namespace = await cluster.createNamespace("op-runpod-crd");
  });

  const refused: [string, Record<string, unknown>, RegExp][] = [
    [
      "an engine safety switch in env",
      { env: [{ name: "CHUNKGC_ACKNOWLEDGE_IN_USE", value: "1" }] },
      /CHUNKGC_\* variables configure the engine/,
    ],
    ["CHUNKGC_NOW in env", { env: [{ name: "CHUNKGC_NOW", value: "2030-01-01T00:00:00Z" }] }, /CHUNKGC_\*/],
    ["envFrom without prefix", { envFrom: [{ configMapRef: { name: "x" } }] }, /envFrom needs a prefix/],
    [
      "envFrom with a prefix that spells CHUNKGC_",
      { envFrom: [{ prefix: "CHUNKG", configMapRef: { name: "x" } }] },
      /envFrom needs a prefix/,
    ],
    [
      "a volume over the marker cache",
      { volumes: [{ name: "v", configMap: { name: "x" } }], volumeMounts: [{ name: "v", mountPath: "/var/cache" }] },
      /must not be, contain or lie inside/,
    ],
    [
      "a hostPath volume (pruned, so neither source)",
      { volumes: [{ name: "h", hostPath: { path: "/" } }] },
      /exactly one of configMap or secret/,
    ],
    ["a mount of no volume", { volumeMounts: [{ name: "ghost", mountPath: "/etc/x" }] }, /name one of volumes/],
    ["root", { securityContext: { runAsUser: 0 } }, /runAsUser/],
  ];
  for (const [name, runPod, message] of refused) {
    test(`refuses ${name}`, async () => {
      const response = await createGc(
        cluster,
        namespace,
        "refused",
        specFor("store1", { markerCache: { claimName: "c" }, runPod }),
      );
      assert.equal(response.status, 422, JSON.stringify(response.body).slice(0, 300));
      assert.match(response.body.message ?? "", message);
    });
  }

  test("accepts what a platform needs", async () => {
    const response = await createGc(cluster, namespace, "accepted", {
      ...specFor("store1", { s3: { credentialsSecretRef: undefined } }),
      markerCache: { claimName: "c" },
      suspend: true,
      runPod: {
        serviceAccountName: "irsa",
        imagePullSecrets: [{ name: "regcred" }],
        env: [
          { name: "HTTPS_PROXY", value: "http://proxy:3128" },
          { name: "CHUNKGC_LOG_LEVEL", value: "debug" },
          { name: "TOKEN", valueFrom: { secretKeyRef: { name: "t", key: "k" } } },
        ],
        envFrom: [{ prefix: "PROXY_", configMapRef: { name: "proxy" } }],
        securityContext: { runAsUser: 1000680000, fsGroup: 1000680000 },
        volumes: [{ name: "trust", configMap: { name: "ca", items: [{ key: "ca.crt", path: "ca.crt" }] } }],
        volumeMounts: [{ name: "trust", mountPath: "/etc/ssl/chunkgc" }],
        podAnnotations: { "sidecar.istio.io/inject": "false" },
        podLabels: { team: "storage" },
      },
    });
    assert.equal(response.status, 201, response.body.message);
    const spec = response.body.spec as { runPod: { env: unknown[] }; datastore: { s3: Record<string, unknown> } };
    assert.equal(spec.runPod.env.length, 3, "nothing pruned");
    assert.equal(spec.datastore.s3.credentialsSecretRef, undefined);
  });
});

describe("run pods: the operator", () => {
  let namespace = "";
  let operator: Awaited<ReturnType<typeof startTestOperator>>;
  before(async () => {
    await installCrd(cluster);
    namespace = await cluster.createNamespace("op-runpod");
    operator = await startTestOperator(cluster, {
      label: "runpod",
      namespace,
      runStartTimeoutMs: 25_000,
    });
  });
  after(() => operator?.stop());

  test("a pod the Job cannot create: FailedCreate within a minute, then the run ends and frees the Lease", async () => {
    await createS3Secret(cluster, namespace, "pbs-s3", { accessKeyId: "a", secretAccessKey: "b" });
    const spec = specFor("store-failedcreate", { runPod: { serviceAccountName: "does-not-exist", ...nowhere } });
    const created = Date.now();
    assert.equal((await createGc(cluster, namespace, "no-sa", spec)).status, 201);
    const stuck = await waitForGc(
      cluster,
      namespace,
      "no-sa",
      "Running=FailedCreate",
      (gc) => (condition(gc, "Running")?.reason === "FailedCreate" ? gc : undefined),
      60_000,
    );
    process.stderr.write(`# FailedCreate in status after ${((Date.now() - created) / 1000).toFixed(1)} s\n`);
    assert.equal(stuck.status?.activeRun?.phase, "CannotStart");
    assert.match(condition(stuck, "Running")?.message ?? "", /does-not-exist/, "the API server's own text");
    assert.equal(condition(stuck, "Reconciling")?.status, "False", "kstatus: a run is not reconciling");
    const leaseName = datastoreLeaseName(spec.datastore.s3);
    await coordination.readNamespacedLease({ name: leaseName, namespace: "default" });
    await waitForEvents(cluster, namespace, "no-sa", "a FailedCreate Warning", (events) =>
      events.some((e) => e.reason === "FailedCreate" && e.type === "Warning" && /does-not-exist/.test(e.note ?? "")),
    );

    const ended = await waitForGc(
      cluster,
      namespace,
      "no-sa",
      "the run ended after the start timeout",
      (gc) => (gc.status?.lastRun ? gc : undefined),
      90_000,
    );
    assert.equal(ended.status?.lastRun?.result, "Failed");
    assert.equal(ended.status?.lastRun?.reason, "FailedCreate");
    assert.match(ended.status?.lastRun?.message ?? "", /could not start within 25s.*does-not-exist/);
    assert.equal(ended.status?.activeRun, undefined);
    assert.equal(condition(ended, "Running")?.status, "False");
    await eventually("the Job deleted", async () => {
      const jobs = await jobsOf(cluster, namespace, "no-sa");
      return jobs.every((job) => job.metadata?.deletionTimestamp) ? true : undefined;
    });
    await eventually("the datastore Lease released", async () => {
      try {
        await coordination.readNamespacedLease({ name: leaseName, namespace: "default" });
        return undefined;
      } catch (error) {
        return (error as { code?: number }).code === 404 ? true : undefined;
      }
    });
  });

  test("a Secret created after its resource is picked up within seconds, not after the backoff", async () => {
    const spec = specFor("store-secret", {
      s3: { credentialsSecretRef: { name: "late" } },
      markerCache: { claimName: "late-cache" },
      suspend: true,
    });
    await core.createNamespacedPersistentVolumeClaim({
      namespace,
      body: {
        metadata: { name: "late-cache" },
        spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
      },
    });
    assert.equal((await createGc(cluster, namespace, "late-secret", spec)).status, 201);
    await waitForGc(cluster, namespace, "late-secret", "SecretNotFound", (gc) =>
      condition(gc, "Ready")?.reason === "SecretNotFound" ? gc : undefined,
    );
    // Let the retry backoff grow: 0.5 s doubling retries at 0.5, 1.5, 3.5, 7.5, 15.5, 31.5, 63.5 s after the first
    // failure, so a Secret created 33 s in would wait about 30 s for the next retry without the Secret watch.
    const since = Date.now();
    await eventually("33 s of failed retries", () => (Date.now() - since > 33_000 ? true : undefined), 40_000);
    const fixed = Date.now();
    await createS3Secret(cluster, namespace, "late", { accessKeyId: "a", secretAccessKey: "b" });
    const seen = await waitForGc(cluster, namespace, "late-secret", "Ready after the Secret", (gc) =>
      condition(gc, "Ready")?.reason !== "SecretNotFound" ? gc : undefined,
    );
    const seconds = (Date.now() - fixed) / 1000;
    process.stderr.write(`# Secret created → status updated after ${seconds.toFixed(1)} s\n`);
    assert.ok(seconds < 5, `took ${seconds} s`);
    // Suspended, and its claim only waits for a first consumer (local-path binds on first use): nothing to report.
    assert.equal(condition(seen, "Ready")?.reason, "Suspended");
  });

  test("JobNameConflict: a foreign Job holds the run's name; no run, an Event, the Job left alone", async () => {
    await batch.createNamespacedJob({
      namespace,
      body: {
        metadata: { name: "conflicted-g1" },
        spec: {
          suspend: true,
          template: { spec: { restartPolicy: "Never", containers: [{ name: "x", image: "chunkgc:dev" }] } },
        },
      },
    });
    const spec = specFor("store-conflict", { runPod: nowhere });
    assert.equal((await createGc(cluster, namespace, "conflicted", spec)).status, 201);
    await waitForEvents(cluster, namespace, "conflicted", "a JobNameConflict Warning", (events) =>
      events.some((e) => e.reason === "JobNameConflict" && /conflicted-g1/.test(e.note ?? "")),
    );
    const gc = await getGc(cluster, namespace, "conflicted");
    assert.equal(gc.status?.activeRun, undefined);
    const foreign = await batch.readNamespacedJob({ name: "conflicted-g1", namespace });
    assert.equal(foreign.metadata?.deletionTimestamp, undefined, "not ours: not deleted");
    assert.equal(foreign.metadata?.labels?.[LABELS.garbageCollectionUid], undefined);
  });

  test("JobDeleted: a run whose Job is deleted is recorded as failed", async () => {
    const spec = specFor("store-deleted", { runPod: nowhere });
    assert.equal((await createGc(cluster, namespace, "deleted", spec)).status, 201);
    const running = await waitForGc(cluster, namespace, "deleted", "an active run", (gc) => gc.status?.activeRun);
    await batch.deleteNamespacedJob({ name: running.jobName, namespace, propagationPolicy: "Background" });
    const recorded = await waitForGc(cluster, namespace, "deleted", "JobDeleted", (gc) => gc.status?.lastRun);
    assert.equal(recorded.reason, "JobDeleted");
    assert.equal(recorded.jobName, running.jobName);
    assert.match(recorded.message ?? "", /was deleted before it finished/);
  });
});

describe("tenancy: the operator's datastore policy", () => {
  let namespace = "";
  let operator: Awaited<ReturnType<typeof startTestOperator>>;
  before(async () => {
    await installCrd(cluster);
    namespace = await cluster.createNamespace("op-policy");
    operator = await startTestOperator(cluster, {
      label: "policy",
      namespace,
      datastorePolicy: { [namespace]: [{ endpoint: "http://127.0.0.1:9", bucket: "team-*" }] },
    });
  });
  after(() => operator?.stop());

  test("a datastore the namespace may not name is Stalled without a Job; an allowed one is not", async () => {
    const spec = (bucket: string) => gcSpecFor(nowhereS3, bucket, { markerCache: { claimName: "c" }, suspend: true });
    assert.equal((await createGc(cluster, namespace, "foreign", spec("other-team"))).status, 201);
    assert.equal((await createGc(cluster, namespace, "own", spec("team-a"))).status, 201);
    const refused = await waitForGc(cluster, namespace, "foreign", "Stalled DatastoreNotAllowed", (gc) =>
      condition(gc, "Stalled")?.reason === "DatastoreNotAllowed" ? gc : undefined,
    );
    assert.match(
      condition(refused, "Stalled")?.message ?? "",
      new RegExp(`namespace ${namespace} may not name bucket other-team`),
    );
    assert.deepEqual(await jobsOf(cluster, namespace, "foreign"), []);
    await waitForEvents(cluster, namespace, "foreign", "a DatastoreNotAllowed Warning", (events) =>
      events.some((e) => e.reason === "DatastoreNotAllowed"),
    );
    // Allowed: it gets as far as its (missing) Secret.
    const own = await waitForGc(cluster, namespace, "own", "the allowed one checked", (gc) =>
      condition(gc, "Ready")?.reason === "SecretNotFound" ? gc : undefined,
    );
    assert.equal(condition(own, "Stalled")?.status, "False");
  });
});
