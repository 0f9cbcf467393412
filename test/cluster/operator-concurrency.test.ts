/**
 * One run at a time per datastore, across resources and namespaces: three GarbageCollections in two namespaces name
 * the same datastore (one spells the endpoint with a trailing slash). A gate in front of versitygw holds the first
 * run's S3 requests, so "in progress" lasts as long as the test needs: the others must wait (Blocked, with the
 * holder, a Lease in the operator namespace), and once the gate opens they run one after another, never overlapping:
 * the engine's own start and finish times (millisecond ISO timestamps in each run pod's termination message) are
 * compared, not the Jobs' whole-second timestamps.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { CoordinationV1Api, CoreV1Api } from "@kubernetes/client-node";
import { datastoreLeaseName } from "../../src/operator/datastore-identity.ts";
import { isNotFound } from "../../src/operator/runtime/kube-api.ts";
import { relayOnNodeAddress } from "../servers/s3-server.ts";
import { testCluster } from "../support/cluster.ts";
import { type GateProxy, startGateProxy } from "../support/gate-proxy.ts";
import {
  condition,
  createGc,
  createS3Secret,
  eventsOf,
  eventually,
  gcSpecFor,
  getGc,
  installCrd,
  jobsOf,
  type PodS3Target,
  podS3Target,
  startTestOperator,
  waitForGc,
} from "../support/operator.ts";
import { clusterS3Server, createTestBucket } from "../support/s3-servers.ts";

const cluster = await testCluster();
const server = await clusterS3Server();
const coordination = cluster.kubeConfig.makeApiClient(CoordinationV1Api);
const core = cluster.kubeConfig.makeApiClient(CoreV1Api);

/** chunkgc_reconcile_total summed over outcomes, from the operator's /metrics. */
async function reconciles(metricsUrl: string): Promise<number> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  return [...text.matchAll(/^chunkgc_reconcile_total\{[^}]*\} (\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
}

describe("operator: one run at a time per datastore", () => {
  let gate: GateProxy;
  let bucket = "";
  let leaseNamespace = "";
  let resources: { namespace: string; name: string }[] = [];
  let operator: Awaited<ReturnType<typeof startTestOperator>>;
  let closeRelay = async () => {};
  /** The gate as run pods reach it (the host address). */
  let target: PodS3Target;
  let endpoint = "";

  before(async () => {
    await installCrd(cluster);
    gate = await startGateProxy(server.endpoint, false);
    closeRelay = await relayOnNodeAddress(Number(new URL(gate.endpoint).port));
    target = podS3Target(cluster, server, gate.endpoint);
    endpoint = target.endpoint;
    bucket = await createTestBucket(server, "op-lock");
    const [nsA, nsB] = [await cluster.createNamespace("op-lock-a"), await cluster.createNamespace("op-lock-b")];
    leaseNamespace = await cluster.createNamespace("op-lock-leases");
    resources = [
      { namespace: nsA, name: "alpha" },
      { namespace: nsB, name: "beta" },
      { namespace: nsB, name: "gamma" },
    ];
    for (const ns of [nsA, nsB]) await createS3Secret(cluster, ns, "pbs-s3", server);
    operator = await startTestOperator(cluster, { label: "concurrency", operatorNamespace: leaseNamespace });
  });
  after(async () => {
    gate?.open();
    await operator?.stop();
    await closeRelay();
    await gate?.stop();
  });

  const allJobs = async () => (await Promise.all(resources.map((r) => jobsOf(cluster, r.namespace, r.name)))).flat();

  test("the first run holds the datastore; the others wait, Blocked with the holder", async () => {
    const created = await Promise.all(
      resources.map((r, i) =>
        // The same datastore spelt two ways (a trailing slash): one Lease all the same.
        createGc(
          cluster,
          r.namespace,
          r.name,
          gcSpecFor(target, bucket, i === 1 ? { s3: { endpoint: `${endpoint}/` } } : {}),
        ),
      ),
    );
    for (const response of created) assert.equal(response.status, 201, response.body.message);

    const first = await eventually("one run holding the gate", async () => {
      const jobs = await allJobs();
      return jobs.length === 1 && gate.held > 0 ? jobs[0] : undefined;
    });
    const holder = resources.find(
      (r) => first?.metadata?.namespace === r.namespace && first.metadata?.name?.startsWith(`${r.name}-`),
    );
    assert.ok(holder);
    const holderKey = `${holder.namespace}/${holder.name}`;
    const waiting = resources.filter((r) => r !== holder);
    for (const r of waiting) {
      const gc = await waitForGc(cluster, r.namespace, r.name, `${r.name} blocked`, (g) =>
        condition(g, "Blocked")?.status === "True" ? g : undefined,
      );
      assert.equal(condition(gc, "Blocked")?.reason, "DatastoreLocked");
      assert.match(condition(gc, "Blocked")?.message ?? "", new RegExp(`held by ${holderKey}`));
      assert.equal(gc.status?.activeRun, undefined);
    }
    const leaseName = datastoreLeaseName({ endpoint, bucket, store: "store1" });
    const lease = await coordination.readNamespacedLease({ name: leaseName, namespace: leaseNamespace });
    assert.equal(lease.spec?.holderIdentity, holderKey);

    // The blocked ones are retried (every blockedRetryMs); after a few more reconciles still only the one Job.
    const seen = await reconciles(operator.metricsUrl ?? "");
    await eventually("the operator to retry the blocked resources", async () =>
      (await reconciles(operator.metricsUrl ?? "")) >= seen + 2 ? true : undefined,
    );
    assert.equal((await allJobs()).length, 1, "nothing else starts while the datastore is held");
  });

  test("once the gate opens they all run, one after another, never overlapping", async () => {
    gate.open();
    for (const r of resources) {
      const run = await waitForGc(cluster, r.namespace, r.name, `${r.name} done`, (g) => g.status?.lastRun, 120_000);
      assert.equal(run.result, "Succeeded", `${r.name}: ${run.message}`);
    }
    const jobs = await allJobs();
    assert.equal(jobs.length, 3, "one Job per resource, none duplicated");
    // The engine's own times, from each run pod's termination message.
    const runs = await Promise.all(
      jobs.map(async (job) => {
        const namespace = job.metadata?.namespace ?? "";
        const pods = await core.listNamespacedPod({
          namespace,
          labelSelector: `batch.kubernetes.io/job-name=${job.metadata?.name}`,
        });
        const message = pods.items[0]?.status?.containerStatuses?.[0]?.state?.terminated?.message ?? "";
        const result = JSON.parse(message) as { startedAt: string; finishedAt: string };
        return { job: job.metadata?.name, start: Date.parse(result.startedAt), end: Date.parse(result.finishedAt) };
      }),
    );
    runs.sort((a, b) => a.start - b.start);
    for (let i = 1; i < runs.length; i++) {
      const [previous, next] = [runs[i - 1]!, runs[i]!];
      assert.ok(
        next.start > previous.end,
        `${next.job} started at ${next.start}, before ${previous.job} ended at ${previous.end}`,
      );
    }
    const blockedEvents = await Promise.all(
      resources.map(async (r) => (await eventsOf(cluster, r.namespace, r.name)).filter((e) => e.reason === "Blocked")),
    );
    assert.equal(blockedEvents.filter((events) => events.length > 0).length, 2, "the two that waited said so");
    for (const r of resources) {
      const gc = await getGc(cluster, r.namespace, r.name);
      assert.equal(condition(gc, "Blocked")?.status, "False", `${r.name} no longer blocked`);
    }
    const leaseName = datastoreLeaseName({ endpoint, bucket, store: "store1" });
    await eventually("the datastore Lease released (deleted)", async () => {
      try {
        await coordination.readNamespacedLease({ name: leaseName, namespace: leaseNamespace });
        return undefined;
      } catch (error) {
        if (isNotFound(error)) return true;
        throw error;
      }
    });
  });
});
