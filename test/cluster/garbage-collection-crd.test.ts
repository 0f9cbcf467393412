/**
 * The generated GarbageCollection CRD against a real kube-apiserver: it installs (structural), its CEL rules and
 * defaults do what the zod schema does, the datastore identity is immutable, a status from the reducer survives the
 * status subresource unpruned, and the run pod the Job builder makes is admitted under Pod Security "restricted".
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { request } from "node:https";
import { before, describe, test } from "node:test";
import type { V1Job } from "@kubernetes/client-node";
import { parse } from "yaml";
import { CRD_FILE } from "../../src/api/crd.ts";
import { API_VERSION, CRD_NAME, GarbageCollectionSpecSchema, KIND, PLURAL } from "../../src/api/index.ts";
import { buildRunJob } from "../../src/operator/job-builder.ts";
import { type RunInfo, reduceStatusAll } from "../../src/operator/status.ts";
import { testCluster } from "../support/cluster.ts";
import { eventually } from "../support/eventually.ts";
import { sampleRunResult } from "../support/gc-fixtures.ts";

const cluster = await testCluster();

interface RawResponse {
  status: number;
  body: { message?: string; [key: string]: unknown };
  warnings: string[];
}

/** A raw API call: the typed clients rename schema keys (x-kubernetes-validations), so the CRD goes as it is. */
async function api(
  method: string,
  path: string,
  body?: unknown,
  contentType = "application/json",
): Promise<RawResponse> {
  const server = cluster.kubeConfig.getCurrentCluster()?.server;
  assert.ok(server, "no server in the kubeconfig");
  const url = new URL(path, server);
  const options: Parameters<typeof request>[1] = {
    method,
    headers: { "Content-Type": contentType, Accept: "application/json" },
  };
  await cluster.kubeConfig.applyToHTTPSOptions(options);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        const warning = res.headers.warning;
        resolve({
          status: res.statusCode ?? 0,
          body: text === "" ? {} : (JSON.parse(text) as RawResponse["body"]),
          warnings: warning === undefined ? [] : Array.isArray(warning) ? warning : [warning],
        });
      });
      res.on("error", reject);
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on("error", reject);
    req.end(payload);
  });
}

/** Installs (or updates) the CRD from crds/ and waits until it is served. Left installed for later suites. */
async function installCrd(): Promise<void> {
  const crd = parse(readFileSync(new URL(`../../${CRD_FILE}`, import.meta.url), "utf8")) as {
    metadata: { resourceVersion?: string };
  };
  const base = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
  const created = await api("POST", base, crd);
  if (created.status === 409) {
    const current = await api("GET", `${base}/${CRD_NAME}`);
    crd.metadata.resourceVersion = (current.body.metadata as { resourceVersion: string }).resourceVersion;
    const replaced = await api("PUT", `${base}/${CRD_NAME}`, crd);
    assert.equal(replaced.status, 200, replaced.body.message);
  } else {
    assert.equal(created.status, 201, created.body.message);
  }
  await eventually("the CRD to be established", async () => {
    const got = await api("GET", `${base}/${CRD_NAME}`);
    const conditions =
      (got.body.status as { conditions?: { type: string; status: string; message: string }[] })?.conditions ?? [];
    const nonStructural = conditions.find((c) => c.type === "NonStructuralSchema" && c.status === "True");
    if (nonStructural) throw new Error(`non-structural: ${nonStructural.message}`);
    return conditions.some((c) => c.type === "Established" && c.status === "True") ? true : undefined;
  });
}

const example = () => ({
  datastore: {
    s3: {
      endpoint: "https://s3.eu-central-1.amazonaws.com",
      region: "eu-central-1",
      bucket: "pbs",
      store: "store1",
      pathStyle: false,
      credentialsSecretRef: { name: "pbs-s3" },
    },
  },
  markerCache: { volumeClaimTemplate: { storageClassName: "standard", storage: "10Gi" } },
  schedule: "30 3 * * *",
  timeZone: "Europe/Berlin",
  gracePeriod: "24h5m",
  dryRun: false,
});

describe("GarbageCollection CRD on a real API server", () => {
  let namespace = "";
  let path = "";
  let counter = 0;
  const create = (spec: unknown, name = `gc-${counter++}`) =>
    api("POST", path, { apiVersion: API_VERSION, kind: KIND, metadata: { name }, spec });

  before(async () => {
    await installCrd();
    namespace = await cluster.createNamespace("gc-crd");
    path = `/apis/${API_VERSION}/namespaces/${namespace}/${PLURAL}`;
    // The first create after establishment can race discovery; retry until served.
    await eventually("the resource to be served", async () =>
      (await api("GET", path)).status === 200 ? true : undefined,
    );
  });

  test("stores the issue's example with the zod schema's defaults", async () => {
    const created = await create(example(), "pbs-main");
    assert.equal(created.status, 201, created.body.message);
    assert.deepEqual(created.body.spec, GarbageCollectionSpecSchema.parse(example()));
  });

  const rejected: [string, Record<string, unknown>, RegExp][] = [
    ["a six-field schedule", { schedule: "0 30 3 * * *" }, /spec\.schedule.*five fields/],
    ["an unknown macro", { schedule: "@reboot" }, /spec\.schedule/],
    ["both cache options", { markerCache: { claimName: "c", volumeClaimTemplate: {} } }, /exactly one of claimName/],
    ["no cache option", { markerCache: {} }, /exactly one of claimName/],
    ["a grace period under 1m", { gracePeriod: "59s" }, /between 1m and 48h/],
    ["a grace period over 48h", { gracePeriod: "48h1s" }, /between 1m and 48h/],
    ["a grace period with days", { gracePeriod: "2d" }, /spec\.gracePeriod/],
    ["a delete batch over 1000", { engine: { deleteBatchSize: 1001 } }, /deleteBatchSize/],
  ];
  for (const [name, patch, message] of rejected) {
    test(`rejects ${name}`, async () => {
      const response = await create({ ...example(), ...patch });
      assert.equal(response.status, 422, `accepted ${name}`);
      assert.match(response.body.message ?? "", message);
    });
  }

  test("accepts macros, quantities as numbers and pass-through affinity", async () => {
    const response = await create({
      ...example(),
      schedule: "@weekly",
      runPod: { resources: { limits: { cpu: 2, memory: "1Gi" } }, affinity: { nodeAffinity: { any: { thing: 1 } } } },
    });
    assert.equal(response.status, 201, response.body.message);
    const runPod = (response.body.spec as { runPod: { affinity: unknown } }).runPod;
    assert.deepEqual(runPod.affinity, { nodeAffinity: { any: { thing: 1 } } }, "affinity must not be pruned");
  });

  test("rejects names longer than 63 characters", async () => {
    const response = await create(example(), "n".repeat(64));
    assert.equal(response.status, 422);
  });

  test("keeps the datastore identity immutable, the rest mutable", async () => {
    const name = "identity";
    assert.equal((await create(example(), name)).status, 201);
    const patch = (s3: Record<string, unknown>) =>
      api("PATCH", `${path}/${name}`, { spec: { datastore: { s3 } } }, "application/merge-patch+json");
    for (const [field, value] of [
      ["endpoint", "https://s3.eu-west-1.amazonaws.com"],
      ["bucket", "other"],
      ["store", "store2"],
    ] as const) {
      const response = await patch({ [field]: value });
      assert.equal(response.status, 422, `${field} changed`);
      assert.match(response.body.message ?? "", new RegExp(`${field} is immutable`));
    }
    assert.equal((await patch({ region: "us-east-1", pathStyle: true })).status, 200);
  });

  test("stores a reducer-made status through the status subresource without pruning", async () => {
    const name = "with-status";
    const created = await create(example(), name);
    assert.equal(created.status, 201, created.body.message);
    const run: RunInfo = {
      jobName: "with-status-29012345",
      trigger: "Schedule",
      scheduledTime: new Date("2025-03-01T02:30:00Z"),
      generation: 1,
      startTime: new Date("2025-03-01T02:30:03Z"),
      dryRun: false,
    };
    const now = new Date("2025-03-01T02:32:00Z");
    const status = reduceStatusAll(
      undefined,
      [
        { type: "SpecAccepted", suspended: false, nextScheduleTime: new Date("2025-03-02T02:30:00Z") },
        { type: "RunStarted", run },
        { type: "RunFinished", run, completionTime: now, result: sampleRunResult({ estimatedCostUsd: 0.002 }) },
        { type: "SlotsSkipped", count: 2, latest: now },
      ],
      { generation: 1, now },
    );
    const patched = await api("PATCH", `${path}/${name}/status`, { status }, "application/merge-patch+json");
    assert.equal(patched.status, 200, patched.body.message);
    assert.deepEqual(patched.body.status, status);
    const viaMain = await api(
      "PATCH",
      `${path}/${name}`,
      { status: { skippedSlots: 99 } },
      "application/merge-patch+json",
    );
    assert.equal((viaMain.body.status as { skippedSlots: number }).skippedSlots, 2, "status only via subresource");
  });

  test("admits the run pod under Pod Security restricted, and the Job owned by the resource", async () => {
    const restricted = await cluster.createNamespace("gc-psa");
    const labels = {
      "pod-security.kubernetes.io/enforce": "restricted",
      "pod-security.kubernetes.io/warn": "restricted",
    };
    const labelled = await api(
      "PATCH",
      `/api/v1/namespaces/${restricted}`,
      { metadata: { labels } },
      "application/merge-patch+json",
    );
    assert.equal(labelled.status, 200, labelled.body.message);
    const resourcePath = `/apis/${API_VERSION}/namespaces/${restricted}/${PLURAL}`;
    const owner = await api("POST", resourcePath, {
      apiVersion: API_VERSION,
      kind: KIND,
      metadata: { name: "pbs-main" },
      spec: { ...example(), datastore: { s3: { ...example().datastore.s3, caBundleSecretRef: { name: "ca" } } } },
    });
    assert.equal(owner.status, 201, owner.body.message);
    const metadata = owner.body.metadata as { name: string; namespace: string; uid: string; generation: number };
    const job: V1Job = buildRunJob({
      resource: { metadata, spec: GarbageCollectionSpecSchema.parse(owner.body.spec) },
      run: { trigger: "Schedule", scheduledTime: new Date("2025-03-01T02:30:00Z") },
    });
    const createdJob = await api("POST", `/apis/batch/v1/namespaces/${restricted}/jobs?dryRun=All`, job);
    assert.equal(createdJob.status, 201, createdJob.body.message);
    assert.deepEqual(createdJob.warnings, [], "Pod Security warns about the Job's pod template");

    await api("POST", `/api/v1/namespaces/${restricted}/serviceaccounts`, { metadata: { name: "default" } });
    const pod = { apiVersion: "v1", kind: "Pod", metadata: { name: "run" }, spec: job.spec?.template.spec };
    const admitted = await eventually("the pod to be admitted", async () => {
      const response = await api("POST", `/api/v1/namespaces/${restricted}/pods?dryRun=All`, pod);
      return response.status === 201 || /PodSecurity/.test(response.body.message ?? "") ? response : undefined;
    });
    assert.equal(admitted.status, 201, admitted.body.message);

    const escalating = structuredClone(pod) as { spec: { containers: { securityContext: object }[] } };
    escalating.spec.containers[0]!.securityContext = { allowPrivilegeEscalation: true };
    const refused = await api("POST", `/api/v1/namespaces/${restricted}/pods?dryRun=All`, escalating);
    assert.equal(refused.status, 403, "the control case must be refused, or this test proves nothing");
    assert.match(refused.body.message ?? "", /PodSecurity "restricted/);
  });
});
