/**
 * The operator against the real cluster, the engine running as a real run pod (the image built from the Dockerfile,
 * the marker-cache claim from the default StorageClass, the credentials Secret) against versitygw: a resource
 * without schedule runs once per generation, its counters in status equal the generator's oracle (dry run first:
 * nothing deleted; then the real run: exactly the oracle's keys deleted), run-now by annotation, history limits,
 * the claim from the template, Events and metrics.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { CoreV1Api } from "@kubernetes/client-node";
import type { S3Context } from "../../src/s3/index.ts";
import { testCluster } from "../support/cluster.ts";
import { allKeys, freshBucketContext, nowBetweenWaves, oracleAt, type Seeded, seed } from "../support/engine.ts";
import {
  condition,
  createGc,
  createS3Secret,
  eventually,
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
import { clusterS3Server } from "../support/s3-servers.ts";

const cluster = await testCluster();
const server = await clusterS3Server();
const GRACE = 60;

const params = {
  store: "store1",
  seed: 11,
  chunks: 120,
  dedup: 2,
  garbageChunks: 40,
  freshChunks: 12,
  snapshots: 4,
  groups: 2,
  namespaces: 1,
  protectedEvery: 2,
  badReferencedWithGoodCopy: 1,
  badUnreferenced: 2,
};

describe("operator: a resource runs the engine and records its counters", () => {
  let s3: S3Context;
  let seeded: Seeded;
  let namespace = "";
  let now: Date;
  let operator: Awaited<ReturnType<typeof startTestOperator>>;
  const name = "pbs-main";

  before(async () => {
    await installCrd(cluster);
    s3 = await freshBucketContext(server, "op-run");
    seeded = await seed(s3, params);
    // Chunks younger than 300 s are kept whatever the grace (the writer margin of the cutoff), so "now" sits that far
    // past the middle between the waves: wave 1 is removable, wave 2 pending. It lies in the future, which a
    // deleting run refuses unless told that this is a test.
    now = nowBetweenWaves(seeded.report, Math.max(GRACE, 300));
    namespace = await cluster.createNamespace("op-run");
    await createS3Secret(cluster, namespace, "pbs-s3", server);
    operator = await startTestOperator(cluster, {
      label: "run",
      namespace,
      runEnv: { CHUNKGC_NOW: now.toISOString(), CHUNKGC_ALLOW_FUTURE_NOW: "true" },
    });
  });
  after(async () => {
    await operator?.stop();
    s3?.close();
  });

  const expected = () => oracleAt(seeded, now, GRACE);

  test("a dry run counts what the oracle expects and deletes nothing", async () => {
    const before = await allKeys(s3);
    const created = await createGc(
      cluster,
      namespace,
      name,
      gcSpecFor(podS3Target(cluster, server), s3.bucket, {
        markerCache: { volumeClaimTemplate: { storage: "1Gi", whenDeleted: "Delete" } },
        dryRun: true,
        successfulRunsHistoryLimit: 2,
      }),
    );
    assert.equal(created.status, 201, created.body.message);

    const gc = await waitForGc(cluster, namespace, name, "the dry run's result", (g) => g.status?.lastRun);
    assert.equal(gc.result, "Succeeded", gc.message);
    assert.equal(gc.trigger, "Generation");
    assert.equal(gc.dryRun, true);
    assert.deepEqual(gc.counters, expected().counters);
    // The seed has garbage past the grace period and fresh garbage within it: both counters say something.
    assert.ok(expected().counters.removedChunks > 0, "the oracle expects removals");
    assert.ok(expected().counters.pendingChunks > 0, "the oracle expects chunks held back by the grace period");
    assert.deepEqual(await allKeys(s3), before, "a dry run deletes nothing");

    const status = (await getGc(cluster, namespace, name)).status!;
    assert.equal(status.observedGeneration, 1);
    assert.equal(condition({ status } as never, "Ready")?.status, "True");
    assert.equal(condition({ status } as never, "LastRunSucceeded")?.status, "True");
    assert.equal(condition({ status } as never, "Reconciling")?.status, "False");
    assert.equal(status.activeRun, undefined);
    assert.equal(status.consecutiveFailures, 0);
    assert.equal(status.nextScheduleTime, undefined, "no schedule, no next time");
    assert.match(status.lastRun?.summary?.removedSize ?? "", /B$/);

    const claim = await cluster.kubeConfig
      .makeApiClient(CoreV1Api)
      .readNamespacedPersistentVolumeClaim({ name: `${name}-marker-cache`, namespace });
    assert.equal(claim.metadata?.ownerReferences?.[0]?.name, name, "whenDeleted Delete: owned by the resource");

    const jobs = await jobsOf(cluster, namespace, name);
    assert.deepEqual(
      jobs.map((j) => j.metadata?.name),
      [`${name}-g1`],
    );
    assert.equal(jobs[0]?.metadata?.ownerReferences?.[0]?.uid, (await getGc(cluster, namespace, name)).metadata.uid);
  });

  test("a spec change runs again: the real run deletes exactly the oracle's keys", async () => {
    const before = await allKeys(s3);
    await patchGc(cluster, namespace, name, { spec: { dryRun: false } });
    const run = await waitForGc(cluster, namespace, name, "the real run", (g) =>
      g.status?.lastRun?.jobName === `${name}-g2` ? g.status.lastRun : undefined,
    );
    assert.equal(run.result, "Succeeded", run.message);
    assert.equal(run.dryRun, false);
    const outcome = expected();
    assert.deepEqual(run.counters, outcome.counters);
    const after = await allKeys(s3);
    for (const key of outcome.removedKeys) assert.ok(!after.has(key), `${key} should be gone`);
    for (const key of outcome.keptKeys) assert.ok(after.has(key), `${key} must still exist`);
    assert.equal([...before].filter((key) => !after.has(key)).length, outcome.removedKeys.size);
    const history = (await getGc(cluster, namespace, name)).status?.history ?? [];
    assert.deepEqual(
      history.map((h) => [h.jobName, h.result, h.dryRun]),
      [
        [`${name}-g2`, "Succeeded", false],
        [`${name}-g1`, "Succeeded", true],
      ],
    );
  });

  test("run-now: a new annotation value starts one run; history limits delete only the oldest Job", async () => {
    await patchGc(cluster, namespace, name, { metadata: { annotations: { "chunkgc.io/run-requested": "now-1" } } });
    const gc = await waitForGc(cluster, namespace, name, "the requested run", (g) =>
      g.status?.lastRun?.trigger === "RunRequest" ? g : undefined,
    );
    const run = gc.status!.lastRun!;
    assert.equal(run.result, "Succeeded", run.message);
    assert.equal(run.runRequest, "now-1");
    assert.equal(gc.status?.lastHandledRunRequest, "now-1");
    assert.equal(run.counters?.removedChunks, 0, "steady state: nothing left to remove");
    assert.equal(run.counters?.diskChunks, expected().counters.diskChunks);

    const names = await waitForGc(cluster, namespace, name, "history pruned to 2 Jobs", async () => {
      const jobs = (await jobsOf(cluster, namespace, name)).filter((j) => !j.metadata?.deletionTimestamp);
      return jobs.length === 2 ? jobs.map((j) => j.metadata?.name).sort() : undefined;
    });
    assert.deepEqual(names, [run.jobName, `${name}-g2`].sort());

    // The same value again does nothing: once the operator has reconciled the touched resource, still 3 runs.
    const reconciled = async () => {
      const text = await (await fetch(`${operator.metricsUrl}/metrics`)).text();
      return Number(/chunkgc_reconcile_total\{outcome="success"\} (\d+)/.exec(text)?.[1] ?? 0);
    };
    const before = await reconciled();
    await patchGc(cluster, namespace, name, { metadata: { labels: { touched: "yes" } } });
    await eventually("the operator to reconcile the touched resource", async () =>
      (await reconciled()) > before ? true : undefined,
    );
    assert.equal((await getGc(cluster, namespace, name)).status?.history?.length, 3);
    assert.equal((await jobsOf(cluster, namespace, name)).filter((j) => j.metadata?.name?.includes("-r")).length, 1);
  });

  test("every decision is an Event; metrics count runs and bytes", async () => {
    const events = await waitForEvents(cluster, namespace, name, "the HistoryPruned Event", (all) =>
      all.some((e) => e.reason === "HistoryPruned"),
    );
    const reasons = events.map((e) => e.reason);
    for (const reason of ["ClaimCreated", "RunStarted", "RunSucceeded", "HistoryPruned"]) {
      assert.ok(reasons.includes(reason), `an Event ${reason} (got ${reasons.join(", ")})`);
    }
    assert.equal(reasons.filter((r) => r === "RunStarted").length, 3);
    const started = events.find((e) => e.reason === "RunStarted");
    assert.equal(started?.reportingController, "chunkgc.io/operator");
    assert.equal(started?.related?.kind, "Job");

    const text = await (await fetch(`${operator.metricsUrl}/metrics`)).text();
    const labels = `namespace="${namespace}",name="${name}"`;
    assert.match(text, new RegExp(`chunkgc_runs_total\\{${labels},result="Succeeded"\\} 3`));
    assert.match(text, new RegExp(`chunkgc_last_run_removed_chunks\\{${labels}\\} 0`));
    assert.match(text, new RegExp(`chunkgc_s3_requests_total\\{${labels},kind="list"\\} [1-9]`));
    assert.match(text, /chunkgc_workqueue_depth \d/);
    assert.match(text, /chunkgc_reconcile_total\{outcome="success"\} [1-9]/);
    assert.equal((await fetch(`${operator.metricsUrl}/readyz`)).status, 200);
    assert.equal((await fetch(`${operator.metricsUrl}/healthz`)).status, 200);
  });
});
