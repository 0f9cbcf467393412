/**
 * What goes wrong, against the real control plane and versitygw: specs the CRD rejects, specs only the operator can
 * judge (Stalled/InvalidSpec, no Job), a missing or incomplete Secret (Ready=False, retried with backoff until it
 * appears), and an engine that fails (Failed with the engine's reason, consecutiveFailures, Stalled after repeated
 * failures, cleared by the next success).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { CoreV1Api } from "@kubernetes/client-node";
import { testCluster } from "../support/cluster.ts";
import {
  api,
  condition,
  createGc,
  createS3Secret,
  type GcObject,
  gcSpecFor,
  getGc,
  installCrd,
  jobsOf,
  patchGc,
  podS3Target,
  startTestOperator,
  waitForEvents,
  waitForGc,
} from "../support/operator.ts";
import { clusterS3Server, createTestBucket } from "../support/s3-servers.ts";

const cluster = await testCluster();
const server = await clusterS3Server();
const core = cluster.kubeConfig.makeApiClient(CoreV1Api);

async function patchSecret(namespace: string, name: string, stringData: Record<string, string>): Promise<void> {
  const path = `/api/v1/namespaces/${namespace}/secrets/${name}`;
  const response = await api(cluster, "PATCH", path, { stringData }, "application/merge-patch+json");
  assert.equal(response.status, 200, response.body.message);
}

const target = podS3Target(cluster, server);

describe("operator: bad input and failing runs", () => {
  let namespace = "";
  let bucket = "";
  let operator: Awaited<ReturnType<typeof startTestOperator>>;

  before(async () => {
    await installCrd(cluster);
    bucket = await createTestBucket(server, "op-fail");
    namespace = await cluster.createNamespace("op-fail");
    operator = await startTestOperator(cluster, { label: "failures", namespace });
  });
  after(() => operator?.stop());

  test("the CRD rejects what its schema can say (a six-field schedule)", async () => {
    const response = await createGc(
      cluster,
      namespace,
      "six-fields",
      gcSpecFor(target, bucket, { schedule: "0 30 3 * * *" }),
    );
    assert.equal(response.status, 422);
    assert.match(response.body.message ?? "", /spec\.schedule/);
  });

  test("specs only the operator can judge are Stalled/InvalidSpec with no Job; fixing them clears it", async () => {
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ["bad-zone", { schedule: "@daily", timeZone: "Mars/Olympus" }, /spec\.timeZone: must be an IANA time zone/],
      ["never-fires", { schedule: "0 0 31 2 *" }, /spec\.schedule: invalid schedule "0 0 31 2 \*"/],
    ];
    for (const [name, extra, message] of cases) {
      const created = await createGc(cluster, namespace, name, gcSpecFor(target, bucket, extra));
      assert.equal(created.status, 201, created.body.message);
      const stalled = await waitForGc(cluster, namespace, name, `${name} stalled`, (gc) =>
        condition(gc, "Stalled")?.status === "True" ? gc : undefined,
      );
      assert.equal(condition(stalled, "Stalled")?.reason, "InvalidSpec");
      assert.match(condition(stalled, "Stalled")?.message ?? "", message);
      assert.equal(condition(stalled, "Ready")?.status, "False");
      assert.equal(condition(stalled, "Ready")?.reason, "InvalidSpec");
      assert.equal(stalled.status?.nextScheduleTime, undefined);
      await waitForEvents(cluster, namespace, name, "an InvalidSpec Warning", (events) =>
        events.some((e) => e.reason === "InvalidSpec" && e.type === "Warning"),
      );
    }
    // Once Stalled is in status the decision is made (Jobs are created before status says a run started).
    for (const [name] of cases) assert.deepEqual(await jobsOf(cluster, namespace, name), [], `${name}: no Job`);

    // Fixing the spec clears Stalled; what is missing now is the Secret.
    await patchGc(cluster, namespace, "bad-zone", { spec: { timeZone: "Europe/Berlin" } });
    const fixed = await waitForGc(cluster, namespace, "bad-zone", "the fix to be seen", (gc) =>
      condition(gc, "Stalled")?.status === "False" ? gc : undefined,
    );
    assert.equal(condition(fixed, "Stalled")?.observedGeneration, 2);
    assert.equal(condition(fixed, "Ready")?.reason, "SecretNotFound");
  });

  test("a missing Secret: Ready=False with the reason, retried with backoff until it exists", async () => {
    const name = "needs-secret";
    const started = Date.now();
    assert.equal((await createGc(cluster, namespace, name, gcSpecFor(target, bucket))).status, 201);
    const waiting = await waitForGc(cluster, namespace, name, "SecretNotFound", (gc) =>
      condition(gc, "Ready")?.reason === "SecretNotFound" ? gc : undefined,
    );
    assert.equal(condition(waiting, "Ready")?.status, "False");
    assert.match(condition(waiting, "Ready")?.message ?? "", new RegExp(`Secret ${namespace}/pbs-s3 .*not found`));
    assert.deepEqual(await jobsOf(cluster, namespace, name), [], "no Job without credentials");
    await waitForEvents(cluster, namespace, name, "a SecretNotFound Event", (events) =>
      events.some((e) => e.reason === "SecretNotFound"),
    );

    // A Secret without the secret key: a different reason.
    await core.createNamespacedSecret({
      namespace,
      body: { metadata: { name: "pbs-s3" }, stringData: { AWS_ACCESS_KEY_ID: server.accessKeyId } },
    });
    await waitForGc(cluster, namespace, name, "SecretKeyMissing", (gc) =>
      condition(gc, "Ready")?.reason === "SecretKeyMissing" ? gc : undefined,
    );
    await patchSecret(namespace, "pbs-s3", { AWS_SECRET_ACCESS_KEY: server.secretAccessKey });
    const ran = await waitForGc(cluster, namespace, name, "the run once the Secret is complete", (gc) =>
      gc.status?.lastRun ? gc : undefined,
    );
    assert.equal(ran.status?.lastRun?.result, "Succeeded", ran.status?.lastRun?.message);
    assert.equal(condition(ran, "Ready")?.status, "True");
    process.stderr.write(`# secret fixed → run recorded after ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  });

  test("a missing claim: Ready=False ClaimNotFound, no Job, until the claim exists", async () => {
    const name = "needs-claim";
    const spec = gcSpecFor(target, bucket, { store: "store3", markerCache: { claimName: "existing-cache" } });
    assert.equal((await createGc(cluster, namespace, name, spec)).status, 201);
    const waiting = await waitForGc(cluster, namespace, name, "ClaimNotFound", (gc) =>
      condition(gc, "Ready")?.reason === "ClaimNotFound" ? gc : undefined,
    );
    assert.match(
      condition(waiting, "Ready")?.message ?? "",
      /existing-cache \(spec\.markerCache\.claimName\) not found/,
    );
    assert.deepEqual(await jobsOf(cluster, namespace, name), [], "no Job without its claim");
    await core.createNamespacedPersistentVolumeClaim({
      namespace,
      body: {
        metadata: { name: "existing-cache" },
        spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
      },
    });
    const ready = await waitForGc(cluster, namespace, name, "Ready once the claim exists", (gc) =>
      condition(gc, "Ready")?.status === "True" ? gc : undefined,
    );
    assert.ok(ready.status?.activeRun ?? ready.status?.lastRun, "the run started");
  });

  test("an engine failure: Failed with the engine's reason, consecutiveFailures, Stalled after three", async () => {
    const failing = "failing";
    await createS3Secret(cluster, namespace, "wrong-s3", {
      accessKeyId: server.accessKeyId,
      secretAccessKey: "not-the-secret",
    });
    const spec = gcSpecFor(target, bucket, { store: "store4", s3: { credentialsSecretRef: { name: "wrong-s3" } } });
    assert.equal((await createGc(cluster, namespace, failing, spec)).status, 201);

    const runAndWait = async (count: number): Promise<GcObject> =>
      waitForGc(cluster, namespace, failing, `failure ${count}`, (gc) =>
        gc.status?.consecutiveFailures === count && !gc.status.activeRun ? gc : undefined,
      );
    let gc = await runAndWait(1);
    const run = gc.status!.lastRun!;
    assert.equal(run.result, "Failed");
    assert.equal(run.reason, "Failed");
    assert.ok(run.counters, "the engine still reported its counters");
    assert.match(run.message ?? "", /access denied/, "the engine's reason");
    assert.doesNotMatch(JSON.stringify(gc.status), /not-the-secret/, "no secret in status");
    assert.equal(condition(gc, "LastRunSucceeded")?.status, "False");
    assert.equal(condition(gc, "Stalled")?.status, "False");

    for (const [value, count] of [
      ["again-1", 2],
      ["again-2", 3],
    ] as const) {
      await patchGc(cluster, namespace, failing, { metadata: { annotations: { "chunkgc.io/run-requested": value } } });
      gc = await runAndWait(count);
    }
    assert.equal(condition(gc, "Stalled")?.status, "True");
    assert.equal(condition(gc, "Stalled")?.reason, "RepeatedFailures");
    const events = await waitForEvents(
      cluster,
      namespace,
      failing,
      "three RunFailed Warnings",
      (all) => all.filter((e) => e.reason === "RunFailed" && e.type === "Warning").length === 3,
    );
    assert.ok(!events.some((e) => (e.note ?? "").includes("not-the-secret")), "no secret in events");
    const logs = readFileSync(operator.logFile, "utf8");
    assert.ok(logs.includes("RunFailed"), "the log file is the operator's");
    for (const secret of ["not-the-secret", Buffer.from("not-the-secret").toString("base64"), server.secretAccessKey]) {
      assert.ok(!logs.includes(secret), "no secret in the operator's logs");
    }

    // Right credentials and one more request: success clears the failures.
    await patchSecret(namespace, "wrong-s3", { AWS_SECRET_ACCESS_KEY: server.secretAccessKey });
    await patchGc(cluster, namespace, failing, { metadata: { annotations: { "chunkgc.io/run-requested": "fixed" } } });
    gc = await waitForGc(cluster, namespace, failing, "the successful run", (g) =>
      g.status?.lastRun?.runRequest === "fixed" ? g : undefined,
    );
    assert.equal(gc.status?.lastRun?.result, "Succeeded", gc.status?.lastRun?.message);
    assert.equal(gc.status?.consecutiveFailures, 0);
    assert.equal(condition(gc, "Stalled")?.status, "False");
    assert.equal((await getGc(cluster, namespace, failing)).status?.history?.length, 4);
  });
});
