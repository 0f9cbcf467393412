/**
 * The operator as a separate process (`node bin/chunkgc.js operator --kubeconfig …`) with leader election, killed
 * (SIGKILL) in the middle of a run: the run's S3 requests are held by a gate, so the Job is certainly still running
 * when a second operator process takes the leader Lease over. It follows the same Job (no duplicate), keeps the
 * datastore Lease renewed, and records the result once the gate opens. SIGTERM then stops it cleanly and releases
 * the leader Lease.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { BatchV1Api, CoordinationV1Api } from "@kubernetes/client-node";
import { GarbageCollectionSpecSchema } from "../../src/api/index.ts";
import { datastoreLeaseName } from "../../src/operator/datastore-identity.ts";
import { buildRunJob } from "../../src/operator/job-builder.ts";
import { relayOnNodeAddress } from "../servers/s3-server.ts";
import { testCluster } from "../support/cluster.ts";
import { type GateProxy, startGateProxy } from "../support/gate-proxy.ts";
import {
  condition,
  createGc,
  createS3Secret,
  eventually,
  gcSpecFor,
  getGc,
  installCrd,
  jobsOf,
  type PodS3Target,
  podS3Target,
  spawnOperatorProcess,
  startTestOperator,
  waitForEvents,
  waitForGc,
} from "../support/operator.ts";
import { clusterS3Server, createTestBucket } from "../support/s3-servers.ts";

const cluster = await testCluster();
const server = await clusterS3Server();
const coordination = cluster.kubeConfig.makeApiClient(CoordinationV1Api);

describe("operator process: restart in the middle of a run", () => {
  let gate: GateProxy;
  let closeRelay = async () => {};
  /** The gate as run pods reach it (the host address). */
  let target: PodS3Target;
  let namespace = "";
  let bucket = "";
  const processes: ReturnType<typeof spawnOperatorProcess>[] = [];
  const name = "pbs-main";

  const operatorArgs = () => [
    "--namespace",
    namespace,
    "--operator-namespace",
    namespace,
    "--leader-elect",
    "--leader-elect-lease-duration",
    "6s",
    "--datastore-lease-duration",
    "15s",
  ];
  const leaderHolder = async () =>
    (await coordination.readNamespacedLease({ name: "chunkgc-operator", namespace })).spec?.holderIdentity;

  before(async () => {
    await installCrd(cluster);
    gate = await startGateProxy(server.endpoint, false);
    closeRelay = await relayOnNodeAddress(Number(new URL(gate.endpoint).port));
    target = podS3Target(cluster, server, gate.endpoint);
    bucket = await createTestBucket(server, "op-restart");
    namespace = await cluster.createNamespace("op-restart");
    await createS3Secret(cluster, namespace, "pbs-s3", server);
  });
  after(async () => {
    gate?.open();
    for (const p of processes) if (p.child.exitCode === null) p.child.kill("SIGKILL");
    await closeRelay();
    await gate?.stop();
  });

  test("a killed leader's run is adopted by the next leader and completed, never duplicated", async () => {
    const first = spawnOperatorProcess(cluster, "restart-first", operatorArgs());
    processes.push(first);
    const firstLeader = await eventually("the first process to lead", () => leaderHolder(), 30_000);

    const created = await createGc(cluster, namespace, name, gcSpecFor(target, bucket));
    assert.equal(created.status, 201, created.body.message);
    const activeRun = await waitForGc(cluster, namespace, name, "the run to start", (gc) => gc.status?.activeRun);
    await eventually("the engine to be inside its run", () => (gate.held > 0 ? true : undefined), 30_000);

    first.child.kill("SIGKILL");
    assert.equal(await first.exited, null, "killed, not exited");
    const leaseName = datastoreLeaseName({ endpoint: target.endpoint, bucket, store: "store1" });
    const renewedBefore = (await coordination.readNamespacedLease({ name: leaseName, namespace })).spec?.renewTime;

    const second = spawnOperatorProcess(cluster, "restart-second", operatorArgs());
    processes.push(second);
    const secondLeader = await eventually(
      "the second process to take the leader Lease over",
      async () => {
        const holder = await leaderHolder();
        return holder && holder !== firstLeader ? holder : undefined;
      },
      30_000,
    );
    assert.notEqual(secondLeader, firstLeader);

    // The new leader follows the running Job: it renews the datastore Lease and starts nothing new.
    await eventually(
      "the datastore Lease renewed by the new leader",
      async () => {
        const lease = await coordination.readNamespacedLease({ name: leaseName, namespace });
        const renewed = lease.spec?.renewTime;
        return renewed && (!renewedBefore || new Date(renewed) > new Date(renewedBefore)) ? lease : undefined;
      },
      30_000,
    );
    const during = await getGc(cluster, namespace, name);
    assert.equal(during.status?.activeRun?.jobName, activeRun.jobName);
    // The run in flight is the Running condition's business (Reconciling answers only "generation observed").
    assert.equal(condition(during, "Running")?.status, "True");
    assert.equal((await jobsOf(cluster, namespace, name)).length, 1, "no second Job");
    assert.ok(gate.held > 0, "the run was still in progress when the new leader took over");

    gate.open();
    const run = await waitForGc(
      cluster,
      namespace,
      name,
      "the result, recorded by the new leader",
      (gc) => gc.status?.lastRun,
    );
    assert.equal(run.result, "Succeeded", run.message);
    assert.equal(run.jobName, activeRun.jobName);
    const done = await getGc(cluster, namespace, name);
    assert.equal(done.status?.activeRun, undefined);
    assert.equal(condition(done, "Reconciling")?.status, "False");
    assert.equal((await jobsOf(cluster, namespace, name)).length, 1, "still one Job");
    const events = await waitForEvents(cluster, namespace, name, "the RunSucceeded Event", (all) =>
      all.some((e) => e.reason === "RunSucceeded"),
    );
    assert.equal(events.filter((e) => e.reason === "RunStarted").length, 1);
    assert.equal(events.find((e) => e.reason === "RunSucceeded")?.reportingInstance, secondLeader);

    second.child.kill("SIGTERM");
    assert.equal(await second.exited, 0, "a clean shutdown");
    assert.equal(await leaderHolder(), "", "the leader Lease was released");
  });

  test("a Job created just before a crash (status never written) is adopted, not duplicated", async () => {
    const adopted = "adopted";
    const spec = gcSpecFor(target, bucket, { store: "store2" });
    const created = await createGc(cluster, namespace, adopted, spec);
    assert.equal(created.status, 201, created.body.message);
    const metadata = created.body.metadata as { name: string; namespace: string; uid: string; generation: number };
    // What an operator would have created before dying: the deterministic Job of generation 1 (and its claim).
    const resource = { metadata, spec: GarbageCollectionSpecSchema.parse(spec) };
    const job = buildRunJob({ resource, run: { trigger: "Generation", generation: 1 } });
    await cluster.kubeConfig.makeApiClient(BatchV1Api).createNamespacedJob({ namespace, body: job });

    const operator = await startTestOperator(cluster, { label: "adopt", namespace, operatorNamespace: namespace });
    try {
      const run = await waitForGc(cluster, namespace, adopted, "the adopted run's result", (gc) => gc.status?.lastRun);
      assert.equal(run.jobName, job.metadata?.name);
      assert.equal(run.result, "Succeeded", run.message);
      const jobs = await jobsOf(cluster, namespace, adopted);
      assert.deepEqual(
        jobs.map((j) => j.metadata?.name),
        [job.metadata?.name],
        "the existing Job, and no other",
      );
      const events = await waitForEvents(cluster, namespace, adopted, "the RunSucceeded Event", (all) =>
        all.some((e) => e.reason === "RunSucceeded"),
      );
      const reasons = events.map((e) => e.reason);
      assert.ok(reasons.includes("RunAdopted"), `a RunAdopted Event (got ${reasons.join(", ")})`);
      assert.ok(!reasons.includes("RunStarted"), "nothing started");
    } finally {
      await operator.stop();
    }
  });
});
