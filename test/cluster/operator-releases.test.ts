/**
 * Several namespaces and two releases on the real node, through the chart. Release "alpha" watches two namespaces
 * (a Role in each, Leases at home, nothing cluster-wide) and runs the resources of both; release "beta", installed in
 * the same namespace with a leader Lease of another name, watches a third; both lead at once, and each runs only its
 * own resources, while one in a fourth namespace is left alone by both. Then alpha's operator pod is deleted: the
 * pod that replaces it serves the last run's gauges and chunkgc_last_success_timestamp_seconds, restored from the
 * status alone, before any run of its own.
 */
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { after, before, describe, test } from "node:test";
import {
  AuthorizationV1Api,
  CoordinationV1Api,
  CoreV1Api,
  RbacAuthorizationV1Api,
  type V1Pod,
} from "@kubernetes/client-node";
import { GROUP, PLURAL } from "../../src/api/index.ts";
import type { S3Context } from "../../src/s3/index.ts";
import { testCluster } from "../support/cluster.ts";
import { freshBucketContext, seed } from "../support/engine.ts";
import { eventually } from "../support/eventually.ts";
import { CHART_DIR, helm, helmOk, valuesFile } from "../support/helm.ts";
import {
  createGc,
  createS3Secret,
  eventsOf,
  type GcObject,
  gcSpecFor,
  getGc,
  installCrd,
  jobsOf,
  podS3Target,
  waitForGc,
} from "../support/operator.ts";
import { clusterS3Server } from "../support/s3-servers.ts";

/** One metric family of the Prometheus text format, as parse-prometheus-text-format returns it. */
interface MetricFamily {
  name: string;
  type: string;
  metrics: { value?: string; labels?: Record<string, string> }[];
}
// A CommonJS package without typings: loaded as what it is (module.exports = parse).
const parsePrometheus = createRequire(import.meta.url)("parse-prometheus-text-format") as (
  text: string,
) => MetricFamily[];

const cluster = await testCluster();
const server = await clusterS3Server();
const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
const rbac = cluster.kubeConfig.makeApiClient(RbacAuthorizationV1Api);
const authz = cluster.kubeConfig.makeApiClient(AuthorizationV1Api);
const coordination = cluster.kubeConfig.makeApiClient(CoordinationV1Api);
const helmGlobal = () => ["--kubeconfig", cluster.kubeconfigPath];

const suffix = Math.random().toString(36).slice(2, 7);
const alpha = {
  release: `alpha-${suffix}`,
  fullname: `alpha-${suffix}-chunkgc`,
  lease: `chunkgc-leader-alpha-${suffix}`,
};
/** beta names no Lease: the chart's default, its full name. */
const beta = { release: `beta-${suffix}`, fullname: `beta-${suffix}-chunkgc`, lease: `beta-${suffix}-chunkgc` };
const NAME = "pbs-main";

async function operatorPods(namespace: string, release: string): Promise<V1Pod[]> {
  const selector = `app.kubernetes.io/instance=${release},app.kubernetes.io/component=operator`;
  return (await core.listNamespacedPod({ namespace, labelSelector: selector })).items;
}

/** The one Ready operator pod of a release that is not being deleted. */
async function readyOperatorPod(namespace: string, release: string): Promise<V1Pod | undefined> {
  const ready = (await operatorPods(namespace, release)).filter(
    (pod) =>
      !pod.metadata?.deletionTimestamp &&
      pod.status?.podIP &&
      pod.status.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
  );
  return ready.length === 1 ? ready[0] : undefined;
}

/** The operator pod's /metrics, straight from its address on the node's bridge (no Service in between). */
async function podMetrics(pod: V1Pod): Promise<MetricFamily[]> {
  const response = await fetch(`http://${pod.status?.podIP}:8080/metrics`, { signal: AbortSignal.timeout(5_000) });
  assert.equal(response.status, 200);
  return parsePrometheus(await response.text());
}

/** The value of a metric's series with exactly these labels, or undefined when the series does not exist. */
function sample(families: MetricFamily[], name: string, labels: Record<string, string>): number | undefined {
  const family = families.find((f) => f.name === name);
  const series = family?.metrics.find((m) => {
    const have = m.labels ?? {};
    const keys = Object.keys(labels);
    return Object.keys(have).length === keys.length && keys.every((k) => have[k] === labels[k]);
  });
  return series?.value === undefined ? undefined : Number(series.value);
}

function serviceAccountUser(namespace: string, name: string) {
  return {
    user: `system:serviceaccount:${namespace}:${name}`,
    groups: ["system:serviceaccounts", `system:serviceaccounts:${namespace}`, "system:authenticated"],
  };
}

async function mayWatchGcs(subject: { user: string; groups: string[] }, namespace: string): Promise<boolean> {
  const review = await authz.createSubjectAccessReview({
    body: {
      apiVersion: "authorization.k8s.io/v1",
      kind: "SubjectAccessReview",
      spec: { ...subject, resourceAttributes: { namespace, group: GROUP, resource: PLURAL, verb: "watch" } },
    },
  });
  return review.status?.allowed === true;
}

describe("two releases in one namespace, several watched namespaces", () => {
  let home = "";
  /** alpha's two namespaces, beta's one, and one nobody watches. */
  let a = "";
  let b = "";
  let c = "";
  let d = "";
  let s3: S3Context;
  const installed: string[] = [];

  const install = async (release: string, values: Record<string, unknown>) => {
    await helmOk(
      ["install", release, CHART_DIR, "--namespace", home, "--values", valuesFile(values), "--wait", ...helmGlobal()],
      { timeoutMs: 300_000 },
    );
    installed.push(release);
  };
  const values = (more: Record<string, unknown>) => ({
    image: { repository: "chunkgc", tag: "dev", pullPolicy: "Never" },
    // The CRD is this file's (installCrd): neither release owns it.
    crds: { create: false },
    leaderElection: { enabled: true },
    ...more,
  });

  before(async () => {
    await installCrd(cluster);
    home = await cluster.createNamespace("rel-home");
    a = await cluster.createNamespace("rel-a");
    b = await cluster.createNamespace("rel-b");
    c = await cluster.createNamespace("rel-c");
    d = await cluster.createNamespace("rel-d");
    s3 = await freshBucketContext(server, "op-rel");
    // A store per resource, so that no run waits for another's datastore Lease.
    for (const [i, store] of ["store-a", "store-b", "store-c"].entries()) {
      await seed(s3, { store, seed: 20 + i, chunks: 30, garbageChunks: 6, snapshots: 2 }, 0);
    }
    for (const namespace of [a, b, c, d]) await createS3Secret(cluster, namespace, "pbs-s3", server);
    await install(
      alpha.release,
      values({ watchNamespaces: [a, b], leaderElection: { enabled: true, leaseName: alpha.lease } }),
    );
    await install(beta.release, values({ watchNamespaces: [c] }));
  });
  after(async () => {
    for (const release of installed) {
      await helm(["uninstall", release, "--namespace", home, "--wait", ...helmGlobal()]).catch(() => {});
    }
    // No operator of these releases may still reconcile when the next test file starts its own.
    await eventually("the releases' operator pods to be gone", async () => {
      const pods = await Promise.all(installed.map((release) => operatorPods(home, release)));
      return pods.every((list) => list.length === 0) ? true : undefined;
    }).catch(() => {});
    s3?.close();
  });

  test("alpha's rights: a Role in each watched namespace, Leases at home, nothing elsewhere", async () => {
    const roles = async (namespace: string) =>
      (await rbac.listNamespacedRole({ namespace, labelSelector: `app.kubernetes.io/instance=${alpha.release}` })).items
        .map((role) => role.metadata?.name)
        .sort();
    assert.deepEqual(await roles(a), [alpha.fullname]);
    assert.deepEqual(await roles(b), [alpha.fullname]);
    assert.deepEqual(await roles(c), []);
    assert.deepEqual(await roles(d), []);
    assert.deepEqual(await roles(home), [`${alpha.fullname}-leases`]);
    const subject = serviceAccountUser(home, alpha.fullname);
    const may = await Promise.all([a, b, c, d, home, ""].map((namespace) => mayWatchGcs(subject, namespace)));
    assert.deepEqual(
      may,
      [true, true, false, false, false, false],
      "watch GarbageCollections in a, b, c, d, home, all",
    );
    const betaMay = await Promise.all([a, b, c].map((ns) => mayWatchGcs(serviceAccountUser(home, beta.fullname), ns)));
    assert.deepEqual(betaMay, [false, false, true], "beta: only its own namespace");
  });

  test("both releases lead at once, each under its own Lease", async () => {
    for (const { release, lease } of [alpha, beta]) {
      const holder = await eventually(`${release} to hold Lease ${lease}`, async () => {
        const held = await coordination.readNamespacedLease({ name: lease, namespace: home });
        const pods = (await operatorPods(home, release)).map((pod) => pod.metadata?.name ?? "");
        const identity = held.spec?.holderIdentity ?? "";
        return pods.some((pod) => pod !== "" && identity.startsWith(`${pod}_`)) ? identity : undefined;
      });
      assert.ok(holder);
    }
    await assert.rejects(
      coordination.readNamespacedLease({ name: "chunkgc-operator", namespace: home }),
      (error: { code?: number }) => error.code === 404,
      "neither release uses the operator's default Lease name",
    );
  });

  test("each release runs the resources of its namespaces; the unwatched one is left alone", async () => {
    const target = podS3Target(cluster, server);
    const store: Record<string, string> = { [a]: "store-a", [b]: "store-b", [c]: "store-c", [d]: "store-d" };
    for (const namespace of [a, b, c, d]) {
      const spec = gcSpecFor(target, s3.bucket, { store: store[namespace], dryRun: true });
      const created = await createGc(cluster, namespace, NAME, spec);
      assert.equal(created.status, 201, created.body.message);
    }
    const runner: Record<string, string> = { [a]: alpha.release, [b]: alpha.release, [c]: beta.release };
    for (const namespace of [a, b, c]) {
      const run = await waitForGc(
        cluster,
        namespace,
        NAME,
        `the run in ${namespace}`,
        (gc) => gc.status?.lastRun,
        240_000,
      );
      assert.equal(run.result, "Succeeded", run.message);
      assert.ok((run.counters?.diskChunks ?? 0) > 0, "it listed its store");
      assert.equal((await jobsOf(cluster, namespace, NAME)).length, 1, `one Job in ${namespace}`);
      // Who ran it: the Events name the reporting operator instance (its pod name, then a random part).
      const pods = (await operatorPods(home, runner[namespace] ?? "")).map((pod) => `${pod.metadata?.name}_`);
      const instances = new Set((await eventsOf(cluster, namespace, NAME)).map((e) => e.reportingInstance ?? ""));
      assert.ok(instances.size > 0, `Events about the resource in ${namespace}`);
      for (const instance of instances) {
        assert.ok(
          pods.some((pod) => instance.startsWith(pod)),
          `${instance} in ${namespace} is a pod of ${runner[namespace]}`,
        );
      }
    }
    // Three runs are recorded, each after its operator had seen all of its resources: the fourth has been ignored.
    const ignored: GcObject = await getGc(cluster, d, NAME);
    assert.equal(ignored.status, undefined, "no status in an unwatched namespace");
    assert.deepEqual(await jobsOf(cluster, d, NAME), []);
    assert.deepEqual(await eventsOf(cluster, d, NAME), []);
  });

  test("alpha's pod replaced: the new one serves the last-run gauges restored from the status, before any run", async () => {
    const old = await eventually("alpha's operator pod", () => readyOperatorPod(home, alpha.release));
    const labelsOf = (namespace: string) => ({ namespace, name: NAME });
    const earlier = await podMetrics(old);
    for (const namespace of [a, b]) {
      const runs = sample(earlier, "chunkgc_runs_total", { ...labelsOf(namespace), result: "Succeeded" });
      assert.equal(runs, 1, `the old pod recorded the run in ${namespace}`);
    }
    const statuses = new Map<string, GcObject>();
    for (const namespace of [a, b]) statuses.set(namespace, await getGc(cluster, namespace, NAME));

    await core.deleteNamespacedPod({ name: old.metadata?.name ?? "", namespace: home });
    const replacement = await eventually(
      "a new Ready operator pod",
      async () => {
        const pod = await readyOperatorPod(home, alpha.release);
        return pod && pod.metadata?.name !== old.metadata?.name ? pod : undefined;
      },
      120_000,
    );
    // The gauges come with the first reconcile after the new pod takes the leader Lease.
    const restored = await eventually(
      "the restored gauges on the new pod",
      async () => {
        const families = await podMetrics(replacement);
        const present = [a, b].every(
          (namespace) => sample(families, "chunkgc_last_run_removed_bytes", labelsOf(namespace)) !== undefined,
        );
        return present ? families : undefined;
      },
      120_000,
    );
    for (const namespace of [a, b]) {
      const status = statuses.get(namespace)?.status;
      const counters = status?.lastRun?.counters;
      assert.ok(counters && status?.lastSuccessfulTime, `a finished run with counters in ${namespace}`);
      // Fresh garbage is pending (younger than the cutoff), not removable: either way, values no default could fake.
      assert.ok(counters.removedBytes + counters.pendingBytes > 0, "a dry run over garbage counts it");
      const labels = labelsOf(namespace);
      assert.deepEqual(
        {
          removedBytes: sample(restored, "chunkgc_last_run_removed_bytes", labels),
          removedChunks: sample(restored, "chunkgc_last_run_removed_chunks", labels),
          pendingBytes: sample(restored, "chunkgc_last_run_pending_bytes", labels),
          pendingChunks: sample(restored, "chunkgc_last_run_pending_chunks", labels),
          diskBytes: sample(restored, "chunkgc_last_run_disk_bytes", labels),
          lastSuccess: sample(restored, "chunkgc_last_success_timestamp_seconds", labels),
          consecutiveFailures: sample(restored, "chunkgc_consecutive_failures", labels),
        },
        {
          removedBytes: counters.removedBytes,
          removedChunks: counters.removedChunks,
          pendingBytes: counters.pendingBytes,
          pendingChunks: counters.pendingChunks,
          diskBytes: counters.diskBytes,
          lastSuccess: Date.parse(status.lastSuccessfulTime) / 1000,
          consecutiveFailures: 0,
        },
        `restored gauges of ${namespace}`,
      );
      // Restored, not re-earned: the new process has recorded no run, and the status names the same one.
      assert.equal(sample(restored, "chunkgc_runs_total", { ...labels, result: "Succeeded" }), undefined);
      const now = await getGc(cluster, namespace, NAME);
      assert.equal(now.status?.lastRun?.jobName, status.lastRun?.jobName);
      assert.equal((await jobsOf(cluster, namespace, NAME)).length, 1);
    }
  });
});
