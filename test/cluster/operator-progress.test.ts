/**
 * The running engine's progress in status: a real run pod whose index downloads a fault proxy slows down (each one
 * answered a little later than the one before, so the mark phase advances for half a minute), logging progress as
 * JSON every 2 s. The operator reads the tail of the pod's log and shows the latest line in status.activeRun.progress
 * (phase, percent, objects) while the run lasts; the finished run leaves no progress behind.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { S3Context } from "../../src/s3/index.ts";
import { relayOnNodeAddress } from "../servers/s3-server.ts";
import { testCluster } from "../support/cluster.ts";
import { freshBucketContext, seed } from "../support/engine.ts";
import { type FaultProxy, startFaultProxy } from "../support/fault-proxy.ts";
import {
  createGc,
  createS3Secret,
  gcSpecFor,
  getGc,
  installCrd,
  podS3Target,
  startTestOperator,
  waitForGc,
} from "../support/operator.ts";
import { clusterS3Server } from "../support/s3-servers.ts";

const cluster = await testCluster();
const server = await clusterS3Server();
/** The n-th index download is answered after n times this: one index done every ~2 s. */
const INDEX_STEP_MS = 2_000;

describe("operator: the running engine's progress in status", () => {
  let s3: S3Context;
  let proxy: FaultProxy;
  let closeRelay = async () => {};
  let namespace = "";
  let operator: Awaited<ReturnType<typeof startTestOperator>>;
  const name = "pbs-progress";

  before(async () => {
    await installCrd(cluster);
    s3 = await freshBucketContext(server, "op-progress");
    await seed(s3, { store: "store1", seed: 5, chunks: 60, snapshots: 16, groups: 2 }, 0);
    let indexGets = 0;
    proxy = await startFaultProxy(server.endpoint, {
      plan: (request) => {
        if (request.kind !== "get" || !/\.(fidx|didx)$/.test(request.key)) return undefined;
        indexGets += 1;
        return { type: "delay", ms: indexGets * INDEX_STEP_MS };
      },
    });
    closeRelay = await relayOnNodeAddress(Number(new URL(proxy.endpoint).port));
    namespace = await cluster.createNamespace("op-progress");
    await createS3Secret(cluster, namespace, "pbs-s3", server);
    operator = await startTestOperator(cluster, {
      label: "progress",
      namespace,
      runEnv: { CHUNKGC_PROGRESS_INTERVAL: "2s" },
    });
  });
  after(async () => {
    await operator?.stop();
    await closeRelay();
    await proxy?.close();
    s3?.close();
  });

  test("status.activeRun.progress follows the engine's log while it runs, and goes with the run", async () => {
    const target = podS3Target(cluster, server, proxy.endpoint);
    const created = await createGc(cluster, namespace, name, gcSpecFor(target, s3.bucket, { dryRun: true }));
    assert.equal(created.status, 201, created.body.message);

    const progress = await waitForGc(
      cluster,
      namespace,
      name,
      "the mark phase's progress in status",
      (gc) => {
        const current = gc.status?.activeRun?.progress;
        return current?.phase === "mark" && current.total !== undefined ? current : undefined;
      },
      120_000,
    );
    assert.equal(progress.estimated, undefined, "the mark phase counts index files: an exact total");
    assert.ok(progress.total !== undefined && progress.total >= 16, `index files in all: ${progress.total}`);
    assert.ok(progress.done <= progress.total);
    assert.equal(progress.percent, Math.floor((progress.done * 100) / progress.total));
    assert.match(progress.text, /^mark \d+%/);
    assert.ok(Date.parse(progress.loggedAt) <= Date.now() + 5_000, "logged by the engine, not invented");
    const during = await getGc(cluster, namespace, name);
    assert.equal(during.status?.activeRun?.phase, "Running");

    const run = await waitForGc(cluster, namespace, name, "the run recorded", (gc) => gc.status?.lastRun, 240_000);
    assert.equal(run.result, "Succeeded", run.message);
    const done = await getGc(cluster, namespace, name);
    assert.equal(done.status?.activeRun, undefined, "no progress once the run is over");
  });
});
