import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import type { V1Job, V1Lease, V1Pod } from "@kubernetes/client-node";
import { pino } from "pino";
import type { GarbageCollectionSpecInput } from "../../../../src/api/index.ts";
import type { GarbageCollectionStatus } from "../../../../src/api/status.ts";
import { DatastoreLeases } from "../../../../src/operator/controller/datastore-leases.ts";
import { OperatorMetrics } from "../../../../src/operator/controller/metrics.ts";
import { type GarbageCollectionObject, Reconciler } from "../../../../src/operator/controller/reconciler.ts";
import { buildRunJob, ENGINE_CONTAINER_NAME, runJobName } from "../../../../src/operator/job-builder.ts";
import { EventRecorder } from "../../../../src/operator/runtime/events.ts";
import { findCondition } from "../../../../src/operator/status.ts";
import { sampleResource, sampleRunResult } from "../../../support/gc-fixtures.ts";
import { type ApiCall, FakeKube } from "./fake-kube.ts";

/**
 * The reconciler against an in-memory API: every test drives it through reconcile(key) and asserts on the requests it
 * made (Leases, Jobs, status patches, Events), playing the Job controller itself where a run must finish.
 */

const OPERATOR_NAMESPACE = "chunkgc-system";
const NAMESPACE = "backup";
const LEASE_SECONDS = 60;
const BLOCKED_RETRY_MS = 30_000;
const T0 = Date.parse("2025-03-01T03:00:00Z");

interface World {
  kube: FakeKube;
  reconciler: Reconciler;
  enqueued: string[];
  /** Moves the fake API's clock (creation and completion times) forward. */
  advance(minutes: number): void;
}

function world(): World {
  const kube = new FakeKube();
  let clock = T0;
  kube.now = () => new Date(clock);
  const clients = kube.clients();
  const log = pino({ level: "silent" });
  const enqueued: string[] = [];
  const reconciler = new Reconciler({
    clients,
    resources: kube.resources,
    jobs: kube.jobs,
    pods: kube.pods,
    leases: new DatastoreLeases({ clients, namespace: OPERATOR_NAMESPACE, leaseDurationSeconds: LEASE_SECONDS, log }),
    recorder: new EventRecorder({ clients, instance: "test", log }),
    metrics: new OperatorMetrics(),
    log,
    runPodDefaults: { image: "chunkgc:test" },
    runEnv: [],
    watchNamespaces: undefined,
    blockedRetryMs: BLOCKED_RETRY_MS,
    startTimeoutMs: 300_000,
    enqueue: (key) => enqueued.push(key),
  });
  kube.put("Secret", {
    metadata: { name: "pbs-s3", namespace: NAMESPACE },
    data: { AWS_ACCESS_KEY_ID: "a2V5", AWS_SECRET_ACCESS_KEY: "c2VjcmV0" },
  });
  return {
    kube,
    reconciler,
    enqueued,
    advance: (minutes) => {
      clock += minutes * 60_000;
    },
  };
}

/** A resource without schedule: one run per generation, due at once. */
function addResource(w: World, name: string, spec: Partial<GarbageCollectionSpecInput> = {}): string {
  const resource = sampleResource({ schedule: undefined, ...spec }, { name, uid: `uid-${name}`, generation: 2 });
  w.kube.put("GarbageCollection", resource as unknown as GarbageCollectionObject);
  return `${NAMESPACE}/${name}`;
}

function statusOf(w: World, name: string): GarbageCollectionStatus | undefined {
  return w.kube.get<GarbageCollectionObject>("GarbageCollection", NAMESPACE, name)?.status as
    | GarbageCollectionStatus
    | undefined;
}

function bumpGeneration(w: World, name: string): void {
  const object = structuredClone(w.kube.get<GarbageCollectionObject>("GarbageCollection", NAMESPACE, name)!);
  object.metadata!.generation = (object.metadata!.generation ?? 0) + 1;
  w.kube.put("GarbageCollection", object);
}

/** Plays the Job controller and the kubelet: the Job completed, its pod's engine wrote this result. */
function finishJob(w: World, jobName: string, result = sampleRunResult()): void {
  const job = structuredClone(w.kube.get<V1Job>("Job", NAMESPACE, jobName)!);
  const at = w.kube.now();
  job.status = {
    completionTime: at,
    conditions: [{ type: "Complete", status: "True", lastTransitionTime: at }],
  };
  w.kube.put("Job", job);
  const pod: V1Pod = {
    metadata: {
      name: `${jobName}-pod`,
      namespace: NAMESPACE,
      labels: { "batch.kubernetes.io/job-name": jobName },
      ownerReferences: [
        { apiVersion: "batch/v1", kind: "Job", name: jobName, uid: job.metadata!.uid!, controller: true },
      ],
    },
    status: {
      phase: "Succeeded",
      containerStatuses: [
        {
          name: ENGINE_CONTAINER_NAME,
          image: "chunkgc:test",
          imageID: "",
          ready: false,
          restartCount: 0,
          state: { terminated: { exitCode: 0, finishedAt: at, message: JSON.stringify(result) } },
        },
      ],
    },
  };
  w.kube.put("Pod", pod);
}

const creates = (w: World, kind: ApiCall["kind"]) => w.kube.writes(kind).filter((call) => call.verb === "create");
/** Reasons of the Events created, but ClaimCreated (each first reconcile creates the marker cache claim). */
const eventReasons = (w: World) =>
  creates(w, "Event")
    .map((call) => (call.body as { reason?: string }).reason ?? "")
    .filter((reason) => reason !== "ClaimCreated");
const generationJob = (name: string, generation = 2) => runJobName(name, { trigger: "Generation", generation });

describe("Reconciler", () => {
  let w: World;
  beforeEach(() => {
    w = world();
  });

  it("a due run takes the datastore Lease, then creates the Job, and records it as active", async () => {
    const key = addResource(w, "pbs-main");
    const result = await w.reconciler.reconcile(key);

    const leaseCreates = creates(w, "Lease");
    assert.equal(leaseCreates.length, 1);
    assert.equal(leaseCreates[0]!.namespace, OPERATOR_NAMESPACE);
    assert.equal((leaseCreates[0]!.body as V1Lease).spec?.holderIdentity, key);
    const jobCreates = creates(w, "Job");
    assert.deepEqual(
      jobCreates.map((call) => call.name),
      [generationJob("pbs-main")],
    );
    const order = w.kube.calls.map((call) => `${call.verb} ${call.kind}`);
    assert.ok(order.indexOf("create Lease") < order.indexOf("create Job"), "the Lease is taken before the Job");
    assert.equal(statusOf(w, "pbs-main")?.activeRun?.jobName, generationJob("pbs-main"));
    const started = creates(w, "Event").find((call) => (call.body as { reason?: string }).reason === "RunStarted");
    assert.ok(started, "a RunStarted Event");
    assert.deepEqual((started.body as { regarding?: unknown }).regarding, {
      apiVersion: "chunkgc.io/v1alpha1",
      kind: "GarbageCollection",
      namespace: NAMESPACE,
      name: "pbs-main",
      uid: "uid-pbs-main",
      resourceVersion: w.kube.get<GarbageCollectionObject>("GarbageCollection", NAMESPACE, "pbs-main")?.metadata
        ?.resourceVersion,
    });
    assert.equal(result.requeueAfterMs, (LEASE_SECONDS * 1000) / 3, "come back to renew the Lease");
  });

  it("a second resource on the same datastore is blocked: no Job, Blocked condition, woken by the release", async () => {
    const first = addResource(w, "pbs-main");
    const second = addResource(w, "pbs-other");
    await w.reconciler.reconcile(first);
    w.kube.clearCalls();

    const result = await w.reconciler.reconcile(second);
    assert.deepEqual(creates(w, "Job"), [], "no Job for the blocked resource");
    assert.deepEqual(creates(w, "Lease"), []);
    const blocked = findCondition(statusOf(w, "pbs-other"), "Blocked");
    assert.equal(blocked?.status, "True");
    assert.equal(blocked?.reason, "DatastoreLocked");
    assert.match(blocked?.message ?? "", /backup\/pbs-main/);
    assert.deepEqual(eventReasons(w), ["Blocked"]);
    assert.equal(result.requeueAfterMs, BLOCKED_RETRY_MS);

    // The first run ends: its Lease is released and the waiting resource is reconciled at once.
    finishJob(w, generationJob("pbs-main"));
    await w.reconciler.reconcile(first);
    assert.deepEqual(w.enqueued, [second]);
  });

  it("a finished Job is recorded once (history, Event), and the Lease released", async () => {
    const key = addResource(w, "pbs-main");
    await w.reconciler.reconcile(key);
    w.advance(2);
    finishJob(w, generationJob("pbs-main"));
    w.kube.clearCalls();

    await w.reconciler.reconcile(key);
    const status = statusOf(w, "pbs-main");
    assert.equal(status?.activeRun, undefined);
    assert.equal(status?.lastRun?.jobName, generationJob("pbs-main"));
    assert.equal(status?.lastRun?.result, "Succeeded");
    assert.deepEqual(
      status?.history?.map((entry) => entry.jobName),
      [generationJob("pbs-main")],
    );
    assert.deepEqual(eventReasons(w), ["RunSucceeded"]);
    const leaseWrites = w.kube.writes("Lease");
    assert.deepEqual(
      leaseWrites.map((call) => `${call.verb} ${call.name}`),
      [`delete ${leaseWrites[0]?.name}`],
    );
    assert.equal(w.kube.list("Lease").length, 0);

    // Again: nothing new to record, announce or release.
    w.kube.clearCalls();
    await w.reconciler.reconcile(key);
    assert.deepEqual(w.kube.writes(), [], "a recorded run is not recorded twice");
    assert.equal(statusOf(w, "pbs-main")?.history?.length, 1);
  });

  it("an invalid spec starts nothing and says why", async () => {
    const key = addResource(w, "pbs-main");
    // Past the schema of the CRD (as an older CRD or a bad time zone database would let through).
    const object = structuredClone(w.kube.get<GarbageCollectionObject>("GarbageCollection", NAMESPACE, "pbs-main")!);
    (object.spec as { timeZone: string }).timeZone = "Mars/Olympus";
    w.kube.put("GarbageCollection", object);
    const result = await w.reconciler.reconcile(key);
    assert.deepEqual(creates(w, "Job"), []);
    assert.deepEqual(w.kube.writes("Lease"), []);
    const stalled = findCondition(statusOf(w, "pbs-main"), "Stalled");
    assert.equal(stalled?.status, "True");
    assert.equal(stalled?.reason, "InvalidSpec");
    assert.match(stalled?.message ?? "", /spec\.timeZone/);
    assert.deepEqual(eventReasons(w), ["InvalidSpec"]);
    assert.deepEqual(result, {});
  });

  it("a suspended resource starts nothing", async () => {
    const key = addResource(w, "pbs-main", { suspend: true });
    await w.reconciler.reconcile(key);
    assert.deepEqual(creates(w, "Job"), []);
    assert.deepEqual(creates(w, "Lease"), []);
    assert.equal(statusOf(w, "pbs-main")?.activeRun, undefined);
    assert.equal(findCondition(statusOf(w, "pbs-main"), "Ready")?.reason, "Suspended");
  });

  it("history beyond the limit is pruned, oldest Job first", async () => {
    const key = addResource(w, "pbs-main", { successfulRunsHistoryLimit: 2 });
    for (const generation of [2, 3, 4]) {
      await w.reconciler.reconcile(key);
      assert.equal(statusOf(w, "pbs-main")?.activeRun?.jobName, generationJob("pbs-main", generation));
      w.advance(5);
      finishJob(w, generationJob("pbs-main", generation));
      bumpGeneration(w, "pbs-main");
      w.kube.clearCalls();
      w.advance(5);
    }
    // This reconcile records the third run and starts the next generation's; the one after it finds three recorded
    // Jobs, one beyond the limit.
    await w.reconciler.reconcile(key);
    assert.deepEqual(
      w.kube.writes("Job").filter((call) => call.verb === "delete"),
      [],
    );
    w.kube.clearCalls();
    await w.reconciler.reconcile(key);
    const jobDeletes = w.kube.writes("Job").filter((call) => call.verb === "delete");
    assert.deepEqual(
      jobDeletes.map((call) => call.name),
      [generationJob("pbs-main", 2)],
    );
    assert.ok(eventReasons(w).includes("HistoryPruned"));
    assert.deepEqual(
      w.kube
        .list<V1Job>("Job", NAMESPACE)
        .map((job) => job.metadata?.name)
        .sort(),
      [generationJob("pbs-main", 3), generationJob("pbs-main", 4), generationJob("pbs-main", 5)],
    );
  });

  it("a Job deleted while running fails the run as JobDeleted and releases the Lease", async () => {
    const key = addResource(w, "pbs-main");
    await w.reconciler.reconcile(key);
    w.kube.remove("Job", NAMESPACE, generationJob("pbs-main"));
    w.kube.clearCalls();

    await w.reconciler.reconcile(key);
    const status = statusOf(w, "pbs-main");
    assert.equal(status?.activeRun, undefined);
    assert.equal(status?.lastRun?.jobName, generationJob("pbs-main"));
    assert.equal(status?.lastRun?.result, "Failed");
    assert.equal(status?.lastRun?.reason, "JobDeleted");
    assert.deepEqual(eventReasons(w), ["RunFailed"]);
    assert.deepEqual(creates(w, "Job"), [], "the lost run is not started again for the same generation");
    assert.equal(w.kube.list("Lease").length, 0);
  });

  it("a Job with the run's name that the resource does not own is left alone: JobNameConflict, backoff", async () => {
    const key = addResource(w, "pbs-main");
    // The Job of an earlier resource of the same name (deleted and created again): a run Job in every respect, but
    // owned by another uid.
    const earlier = sampleResource({ schedule: undefined }, { name: "pbs-main", uid: "uid-earlier", generation: 2 });
    const foreign = w.kube.put<V1Job>(
      "Job",
      buildRunJob({ resource: earlier, run: { trigger: "Generation", generation: 2 }, defaults: { image: "x" } }),
    );

    const result = await w.reconciler.reconcile(key);
    assert.equal(result.backoff, true);
    assert.deepEqual(eventReasons(w), ["JobNameConflict"]);
    assert.deepEqual(
      w.kube.writes("Job").map((call) => call.verb),
      ["create"],
      "one refused create; the other Job is neither replaced nor deleted",
    );
    assert.equal(w.kube.get<V1Job>("Job", NAMESPACE, generationJob("pbs-main"))?.metadata?.uid, foreign.metadata?.uid);
    assert.equal(statusOf(w, "pbs-main")?.activeRun, undefined);
  });
});
