/**
 * Helpers for operator tests on the test cluster: the CRD installed raw (typed clients rename x-kubernetes-* keys),
 * GarbageCollections created and read as plain JSON, an S3 credentials Secret, the operator started in-process
 * (logging to a file next to the cluster's logs) or as a separate `chunkgc operator` process, and polling.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, openSync, readFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { BatchV1Api, CoreV1Api, EventsV1Api, type V1Job } from "@kubernetes/client-node";
import { pino } from "pino";
import { parse } from "yaml";
import { CRD_FILE } from "../../src/api/crd.ts";
import {
  API_VERSION,
  CRD_NAME,
  type GarbageCollectionSpecInput,
  type GarbageCollectionStatus,
  KIND,
  LABELS,
  PLURAL,
} from "../../src/api/index.ts";
import { type OperatorOptions, type RunningOperator, startOperator } from "../../src/operator/controller/index.ts";
import type { TestCluster } from "./cluster.ts";
import { eventually } from "./eventually.ts";

export { eventually };

export interface RawResponse {
  status: number;
  body: { message?: string; [key: string]: unknown };
}

/** A raw JSON API call with the cluster's admin credentials. */
export async function api(
  cluster: TestCluster,
  method: string,
  path: string,
  body?: unknown,
  contentType = "application/json",
): Promise<RawResponse> {
  const server = cluster.kubeConfig.getCurrentCluster()?.server;
  assert.ok(server, "no server in the kubeconfig");
  const options: Parameters<typeof request>[1] = {
    method,
    headers: { "Content-Type": contentType, Accept: "application/json" },
  };
  await cluster.kubeConfig.applyToHTTPSOptions(options);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, server), options, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        resolve({ status: res.statusCode ?? 0, body: text === "" ? {} : (JSON.parse(text) as RawResponse["body"]) });
      });
      res.on("error", reject);
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on("error", reject);
    req.end(payload);
  });
}

let crdInstalled: Promise<void> | undefined;

/** Installs (or updates) the CRD from crds/ once per process and waits until it is served. */
export function installCrd(cluster: TestCluster): Promise<void> {
  crdInstalled ??= (async () => {
    const crd = parse(readFileSync(new URL(`../../${CRD_FILE}`, import.meta.url), "utf8")) as {
      metadata: { resourceVersion?: string };
    };
    const base = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
    const created = await api(cluster, "POST", base, crd);
    if (created.status === 409) {
      const current = await api(cluster, "GET", `${base}/${CRD_NAME}`);
      crd.metadata.resourceVersion = (current.body.metadata as { resourceVersion: string }).resourceVersion;
      const replaced = await api(cluster, "PUT", `${base}/${CRD_NAME}`, crd);
      assert.equal(replaced.status, 200, replaced.body.message);
    } else {
      assert.equal(created.status, 201, created.body.message);
    }
    await eventually("the CRD to be established", async () => {
      const got = await api(cluster, "GET", `${base}/${CRD_NAME}`);
      const conditions = (got.body.status as { conditions?: { type: string; status: string }[] })?.conditions ?? [];
      return conditions.some((c) => c.type === "Established" && c.status === "True") ? true : undefined;
    });
    await eventually("the resource to be served", async () =>
      (await api(cluster, "GET", `/apis/${API_VERSION}/${PLURAL}`)).status === 200 ? true : undefined,
    );
  })();
  return crdInstalled;
}

export interface GcObject {
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    generation: number;
    resourceVersion: string;
    annotations?: Record<string, string>;
  };
  spec: Record<string, unknown>;
  status?: GarbageCollectionStatus;
}

/** An S3 server as run pods reach it: an endpoint on the node's host address (the server, or a proxy before it). */
export interface PodS3Target {
  endpoint: string;
  region: string;
}

/** `server` as run pods reach it; `endpoint` (default: the server's own) is an endpoint on this machine. */
export function podS3Target(
  cluster: TestCluster,
  server: { endpoint: string; region: string },
  endpoint = server.endpoint,
): PodS3Target {
  return { endpoint: cluster.podEndpoint(endpoint), region: server.region };
}

/** What a cluster test changes in the spec of {@link gcSpecFor}: the store, fields of `datastore.s3`, top-level fields. */
export type GcSpecOverrides = { store?: string; s3?: Record<string, unknown> } & Record<string, unknown>;

export interface TestGcSpec {
  datastore: { s3: { endpoint: string; bucket: string; store: string } & Record<string, unknown> };
  markerCache: Record<string, unknown>;
  [field: string]: unknown;
}

/**
 * The spec cluster tests start from: store `store1` of `bucket` behind `target`, path-style, the `pbs-s3` credentials
 * Secret, a marker-cache claim from the default StorageClass, a grace period of one minute. `s3` fields replace
 * those of `datastore.s3` (a field set to undefined is left out, e.g. `credentialsSecretRef` for the SDK's default
 * chain); other fields replace top-level ones.
 */
export function gcSpecFor(target: PodS3Target, bucket: string, overrides: GcSpecOverrides = {}): TestGcSpec {
  const { store = "store1", s3 = {}, ...rest } = overrides;
  const merged: Record<string, unknown> = {
    endpoint: target.endpoint,
    region: target.region,
    bucket,
    store,
    pathStyle: true,
    credentialsSecretRef: { name: "pbs-s3" },
    ...s3,
  };
  for (const [key, value] of Object.entries(merged)) if (value === undefined) delete merged[key];
  return {
    datastore: { s3: merged as TestGcSpec["datastore"]["s3"] },
    markerCache: { volumeClaimTemplate: {} },
    gracePeriod: "1m",
    ...rest,
  };
}

export const gcPath = (namespace: string, name = "") =>
  `/apis/${API_VERSION}/namespaces/${namespace}/${PLURAL}${name ? `/${name}` : ""}`;

export async function createGc(
  cluster: TestCluster,
  namespace: string,
  name: string,
  spec: GarbageCollectionSpecInput | Record<string, unknown>,
  annotations?: Record<string, string>,
): Promise<RawResponse> {
  const body = {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: { name, ...(annotations ? { annotations } : {}) },
    spec,
  };
  // Right after another test file re-applied the CRD, the API server may briefly not serve the resource.
  const deadline = Date.now() + 15_000;
  for (;;) {
    const response = await api(cluster, "POST", gcPath(namespace), body);
    const transient = response.status === 404 || response.status === 429 || response.status >= 500;
    if (!transient || Date.now() > deadline) return response;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

export async function getGc(cluster: TestCluster, namespace: string, name: string): Promise<GcObject> {
  const response = await api(cluster, "GET", gcPath(namespace, name));
  assert.equal(response.status, 200, response.body.message);
  return response.body as unknown as GcObject;
}

export async function patchGc(
  cluster: TestCluster,
  namespace: string,
  name: string,
  patch: Record<string, unknown>,
): Promise<GcObject> {
  const response = await api(cluster, "PATCH", gcPath(namespace, name), patch, "application/merge-patch+json");
  assert.equal(response.status, 200, response.body.message);
  return response.body as unknown as GcObject;
}

/** Polls the resource until `check` returns something. */
export function waitForGc<T>(
  cluster: TestCluster,
  namespace: string,
  name: string,
  what: string,
  check: (gc: GcObject) => T | undefined,
  timeoutMs = 90_000,
): Promise<T> {
  return eventually(what, async () => check(await getGc(cluster, namespace, name)), timeoutMs);
}

export function condition(gc: GcObject, type: string) {
  return gc.status?.conditions?.find((c) => c.type === type);
}

/** Jobs the operator made for a resource (by its name label). */
export async function jobsOf(cluster: TestCluster, namespace: string, name: string): Promise<V1Job[]> {
  const batch = cluster.kubeConfig.makeApiClient(BatchV1Api);
  const list = await batch.listNamespacedJob({ namespace, labelSelector: `${LABELS.garbageCollection}=${name}` });
  return list.items;
}

/** Events (events.k8s.io) about a resource, oldest first. */
export async function eventsOf(cluster: TestCluster, namespace: string, name: string) {
  const events = cluster.kubeConfig.makeApiClient(EventsV1Api);
  const list = await events.listNamespacedEvent({ namespace, fieldSelector: `regarding.name=${name}` });
  return list.items.sort((a, b) => String(a.eventTime).localeCompare(String(b.eventTime)));
}

/** Waits until the resource's Events satisfy `check` (Events are written just after the status they explain). */
export function waitForEvents(
  cluster: TestCluster,
  namespace: string,
  name: string,
  what: string,
  check: (events: Awaited<ReturnType<typeof eventsOf>>) => boolean,
  timeoutMs = 30_000,
): Promise<Awaited<ReturnType<typeof eventsOf>>> {
  return eventually(
    what,
    async () => {
      const events = await eventsOf(cluster, namespace, name);
      return check(events) ? events : undefined;
    },
    timeoutMs,
  );
}

export async function createS3Secret(
  cluster: TestCluster,
  namespace: string,
  name: string,
  credentials: { accessKeyId: string; secretAccessKey: string },
): Promise<void> {
  const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  await core.createNamespacedSecret({
    namespace,
    body: {
      metadata: { name },
      stringData: { AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey },
    },
  });
}

/** Where operator logs of this test process go (kept for reading after a failure). */
export function operatorLogDir(cluster: TestCluster): string {
  const dir = join(cluster.dir || tmpdir(), "operator-logs");
  mkdirSync(dir, { recursive: true });
  return dir;
}

let operatorCounter = 0;

/** Starts the operator in this process, logging at debug level to a file; `stop` it in an after/finally. */
export async function startTestOperator(
  cluster: TestCluster,
  options: Partial<OperatorOptions> & { label: string },
): Promise<RunningOperator & { logFile: string }> {
  operatorCounter += 1;
  const logFile = join(operatorLogDir(cluster), `${options.label}-${process.pid}-${operatorCounter}.log`);
  const log = pino({ level: "debug", base: undefined }, pino.destination({ dest: logFile, sync: true }));
  const { label: _label, ...rest } = options;
  const operator = await startOperator({
    kubeConfig: cluster.kubeConfig,
    operatorNamespace: "default",
    metricsAddress: "127.0.0.1:0",
    datastoreLeaseSeconds: 20,
    blockedRetryMs: 5_000,
    ...rest,
    log,
  });
  await operator.active;
  return Object.assign(operator, { logFile });
}

export const CHUNKGC_BIN = fileURLToPath(new URL("../../bin/chunkgc.js", import.meta.url));

/** `node bin/chunkgc.js operator --kubeconfig … <args>`, output to a log file. */
export function spawnOperatorProcess(
  cluster: TestCluster,
  label: string,
  args: string[],
): {
  child: ChildProcess;
  logFile: string;
  exited: Promise<number | null>;
} {
  const logFile = join(operatorLogDir(cluster), `${label}-${Date.now()}.log`);
  const out = openSync(logFile, "a");
  const child = spawn(
    process.execPath,
    [CHUNKGC_BIN, "operator", "--kubeconfig", cluster.kubeconfigPath, "--metrics-addr", "127.0.0.1:0", ...args],
    { stdio: ["ignore", out, out], env: { ...process.env, CHUNKGC_LOG_LEVEL: "debug" } },
  );
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, logFile, exited };
}
