/**
 * Least privilege, proven with the API server's audit log: the chart's operator pod (its own ServiceAccount, only the
 * chart's Roles) goes through every path its code has (a run recorded and its Job pruned, a Job name conflict whose
 * Event becomes a series, a run whose pod cannot be created ended after the start timeout, leader election, datastore
 * Leases), then its requests in the audit log are compared with the chart's rules: every request was allowed (no
 * 403), and every right the chart grants was used (no unused right).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { BatchV1Api, type V1PolicyRule } from "@kubernetes/client-node";
import type { S3Context } from "../../src/s3/index.ts";
import { testCluster } from "../support/cluster.ts";
import { freshBucketContext, seed } from "../support/engine.ts";
import { eventually } from "../support/eventually.ts";
import { CHART_DIR, helm, helmOk, type Manifest, renderChart, valuesFile } from "../support/helm.ts";
import {
  condition,
  createGc,
  createS3Secret,
  eventsOf,
  gcSpecFor,
  installCrd,
  jobsOf,
  podS3Target,
  waitForGc,
} from "../support/operator.ts";
import { clusterS3Server } from "../support/s3-servers.ts";

const cluster = await testCluster();
const server = await clusterS3Server();
const batch = cluster.kubeConfig.makeApiClient(BatchV1Api);

const release = `audit-${Math.random().toString(36).slice(2, 7)}`;
const fullname = `${release}-chunkgc`;
const helmGlobal = () => ["--kubeconfig", cluster.kubeconfigPath];

interface AuditEvent {
  stage: string;
  verb: string;
  user: { username: string };
  objectRef?: { resource?: string; subresource?: string; apiGroup?: string; namespace?: string; name?: string };
  responseStatus?: { code?: number };
  requestURI: string;
}

/** "group/resource[/subresource] verb" as RBAC sees a request. */
const right = (group: string, resource: string, verb: string) => `${group}/${resource} ${verb}`;

function granted(rules: V1PolicyRule[] | undefined): Set<string> {
  const out = new Set<string>();
  for (const rule of rules ?? []) {
    for (const group of rule.apiGroups ?? []) {
      for (const resource of rule.resources ?? []) for (const verb of rule.verbs) out.add(right(group, resource, verb));
    }
  }
  return out;
}

describe("least privilege: the chart's rules against the operator's real requests", () => {
  let home = "";
  let watched = "";
  let s3: S3Context;
  let values: Record<string, unknown> = {};

  before(async () => {
    await installCrd(cluster);
    home = await cluster.createNamespace("audit-home");
    watched = await cluster.createNamespace("audit-watched");
    s3 = await freshBucketContext(server, "op-audit");
    await seed(s3, { store: "store1", seed: 7, chunks: 30, garbageChunks: 5, snapshots: 2 }, 0);
    await createS3Secret(cluster, watched, "pbs-s3", server);
    values = {
      image: { repository: "chunkgc", tag: "dev", pullPolicy: "Never" },
      watchNamespaces: [watched],
      leaderElection: { enabled: true },
      runPod: { startTimeout: "30s" },
      logLevel: "debug",
    };
    // crds.create (the default) with the CRD already there and owned by no release: the chart leaves it alone.
    const { stdout } = await helmOk(
      ["install", release, CHART_DIR, "--namespace", home, "--values", valuesFile(values), "--wait", ...helmGlobal()],
      { timeoutMs: 300_000 },
    );
    assert.match(stdout, /WARNING: the CRD garbagecollections\.chunkgc\.io exists and does not belong to this release/);
  });
  after(async () => {
    await helm(["uninstall", release, "--namespace", home, "--wait", ...helmGlobal()]).catch(() => {});
    s3?.close();
  });

  test("every path of the operator runs as the chart's ServiceAccount", async () => {
    const spec = (store: string, extra: Record<string, unknown> = {}) =>
      gcSpecFor(podS3Target(cluster, server), s3.bucket, {
        store,
        markerCache: { volumeClaimTemplate: { storage: "1Gi", whenDeleted: "Delete" } },
        ...extra,
      });
    // A run recorded, then its Job pruned (history limit 0).
    assert.equal(
      (await createGc(cluster, watched, "ok", spec("store1", { dryRun: true, successfulRunsHistoryLimit: 0 }))).status,
      201,
    );
    // A foreign Job with the run's name: a conflict, read back, reported again and again (an Event series).
    await batch.createNamespacedJob({
      namespace: watched,
      body: {
        metadata: { name: "conflict-g1" },
        spec: {
          suspend: true,
          template: { spec: { restartPolicy: "Never", containers: [{ name: "x", image: "chunkgc:dev" }] } },
        },
      },
    });
    assert.equal((await createGc(cluster, watched, "conflict", spec("store2"))).status, 201);
    // A pod the Job controller cannot create: FailedCreate from the Job's Events, ended after 30 s.
    assert.equal(
      (await createGc(cluster, watched, "nosa", spec("store3", { runPod: { serviceAccountName: "missing" } }))).status,
      201,
    );

    const ok = await waitForGc(cluster, watched, "ok", "the run recorded", (gc) => gc.status?.lastRun, 240_000);
    assert.equal(ok.result, "Succeeded", ok.message);
    await eventually("the recorded Job pruned", async () =>
      (await jobsOf(cluster, watched, "ok")).length === 0 ? true : undefined,
    );
    await eventually(
      "a JobNameConflict series",
      async () => {
        const events = await eventsOf(cluster, watched, "conflict");
        return events.some((e) => e.reason === "JobNameConflict" && (e.series?.count ?? 0) >= 2) ? true : undefined;
      },
      120_000,
    );
    const nosa = await waitForGc(
      cluster,
      watched,
      "nosa",
      "the unstartable run ended",
      (gc) => gc.status?.lastRun,
      180_000,
    );
    assert.equal(nosa.reason, "FailedCreate");
    const gc = await waitForGc(cluster, watched, "ok", "Ready", (g) =>
      condition(g, "Ready")?.status === "True" ? g : undefined,
    );
    assert.ok(gc);
  });

  test("the audit log: no request refused, no granted right unused", async () => {
    const username = `system:serviceaccount:${home}:${fullname}`;
    const manifests: Manifest[] = await renderChart({ release, namespace: home, values });
    const roles = manifests.filter((m) => m.kind === "Role") as unknown as {
      metadata: { name: string; namespace: string };
      rules: V1PolicyRule[];
    }[];
    const inWatched = granted(roles.find((r) => r.metadata.namespace === watched)?.rules);
    const inHome = granted(
      roles.find((r) => r.metadata.namespace === home && r.metadata.name.endsWith("-leases"))?.rules,
    );
    assert.ok(inWatched.size > 0 && inHome.size > 0, "the chart renders both Roles");
    assert.equal(manifests.filter((m) => m.kind === "ClusterRole" && m.metadata.name === fullname).length, 0);

    const read = () =>
      readFileSync(cluster.auditLogPath, "utf8")
        .split("\n")
        .filter((line) => line.includes(username))
        .map((line) => JSON.parse(line) as AuditEvent)
        .filter((event) => event.user.username === username && event.stage !== "RequestReceived");
    // Every granted right shows up (waits for the audit backend to write the last requests).
    const used = await eventually(
      "every granted right in the audit log",
      () => {
        const seen = { watched: new Set<string>(), home: new Set<string>(), elsewhere: [] as string[] };
        for (const event of read()) {
          const ref = event.objectRef;
          if (!ref?.resource) continue;
          const resource = ref.subresource ? `${ref.resource}/${ref.subresource}` : ref.resource;
          const key = right(ref.apiGroup ?? "", resource, event.verb);
          if (ref.namespace === watched) seen.watched.add(key);
          else if (ref.namespace === home) seen.home.add(key);
          else seen.elsewhere.push(`${event.verb} ${event.requestURI}`);
        }
        const missing = [...inWatched].filter((r) => !seen.watched.has(r));
        const missingHome = [...inHome].filter((r) => !seen.home.has(r));
        return missing.length === 0 && missingHome.length === 0 ? seen : undefined;
      },
      60_000,
    ).catch((error: Error) => {
      const seen = new Set(
        read().map((e) => {
          const ref = e.objectRef ?? {};
          const resource = ref.subresource ? `${ref.resource}/${ref.subresource}` : ref.resource;
          return `${ref.namespace} ${right(ref.apiGroup ?? "", resource ?? "", e.verb)}`;
        }),
      );
      const unused = [
        ...[...inWatched].filter((r) => !seen.has(`${watched} ${r}`)),
        ...[...inHome].filter((r) => !seen.has(`${home} ${r}`)),
      ];
      throw new Error(`${error.message}: granted but never used: ${unused.join(", ")}`);
    });
    process.stderr.write(
      `# audit: ${used.watched.size} rights used in the watched namespace, ${used.home.size} in the release namespace\n`,
    );
    const refused = read()
      .filter((event) => event.responseStatus?.code === 403)
      .map((event) => `${event.verb} ${event.requestURI}`);
    assert.deepEqual(refused, [], "requests the chart's rules refused");
    assert.deepEqual(
      [...used.watched].filter((r) => !inWatched.has(r)),
      [],
      "requests beyond the watched Role",
    );
    assert.deepEqual(
      [...used.home].filter((r) => !inHome.has(r)),
      [],
      "requests beyond the Lease Role",
    );
    assert.deepEqual(used.elsewhere, [], "namespaced requests elsewhere, or cluster-wide requests");
  });
});
