/**
 * The SIGTERM path on the real node: a run pod deleted in the middle of its run gets SIGTERM from the kubelet, the
 * engine stops and releases its datastore lock in S3 (the newest lock record says `released: true`), the operator
 * records the run as not succeeded, and its datastore Lease is released. A latch in front of versitygw lets the run
 * take its lock and then holds every later request, so the pod is certainly mid-run (holding the lock) when deleted;
 * after the deletion it lets lock-record writes through and nothing else, so only an engine that reacts to SIGTERM
 * (aborting its held request) can release the lock: one that ignores it waits at the latch until it is killed.
 */
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, request, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { GetObjectCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { CoordinationV1Api, CoreV1Api } from "@kubernetes/client-node";
import { generationOfKey, lockPrefix } from "../../src/engine/lock.ts";
import { datastoreLeaseName } from "../../src/operator/datastore-identity.ts";
import { isNotFound } from "../../src/operator/runtime/kube-api.ts";
import type { S3Context } from "../../src/s3/index.ts";
import { relayOnNodeAddress } from "../servers/s3-server.ts";
import { testCluster } from "../support/cluster.ts";
import { freshBucketContext, seed } from "../support/engine.ts";
import {
  createGc,
  createS3Secret,
  eventually,
  gcSpecFor,
  installCrd,
  jobsOf,
  podS3Target,
  startTestOperator,
  waitForGc,
} from "../support/operator.ts";
import { clusterS3Server } from "../support/s3-servers.ts";

const cluster = await testCluster();
const server = await clusterS3Server();
const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
const coordination = cluster.kubeConfig.makeApiClient(CoordinationV1Api);

/**
 * Forwards requests until a PUT of a lock record has succeeded, then holds every request until released; with
 * `passLockWrites`, lock-record PUTs go through while everything else stays held.
 */
async function startLockLatch(target: string, lockRecordPath: RegExp) {
  const targetUrl = new URL(target);
  let latched = false;
  let lockWritesPass = false;
  const waiting: { lockWrite: boolean; go: () => void }[] = [];
  const heldRequests: string[] = [];
  const forward = (incoming: IncomingMessage, outgoing: ServerResponse) => {
    const upstream = request(
      {
        host: targetUrl.hostname,
        port: targetUrl.port,
        method: incoming.method,
        path: incoming.url,
        headers: incoming.headers,
      },
      (response) => {
        const status = response.statusCode ?? 502;
        if (incoming.method === "PUT" && lockRecordPath.test(incoming.url ?? "") && status === 200) latched = true;
        outgoing.writeHead(status, response.headers);
        response.pipe(outgoing);
      },
    );
    upstream.on("error", () => incoming.socket.destroy());
    incoming.pipe(upstream);
  };
  const isLockWrite = (incoming: IncomingMessage) =>
    incoming.method === "PUT" && lockRecordPath.test(incoming.url ?? "");
  const server = createServer((incoming, outgoing) => {
    if (latched && !(lockWritesPass && isLockWrite(incoming))) {
      heldRequests.push(`${incoming.method} ${incoming.url}`);
      waiting.push({ lockWrite: isLockWrite(incoming), go: () => forward(incoming, outgoing) });
    } else forward(incoming, outgoing);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    endpoint: `http://127.0.0.1:${port}`,
    get latched() {
      return latched;
    },
    get held() {
      return waiting.length;
    },
    get heldRequests() {
      return [...heldRequests];
    },
    passLockWrites() {
      lockWritesPass = true;
      for (const held of waiting.filter((w) => w.lockWrite)) {
        waiting.splice(waiting.indexOf(held), 1);
        held.go();
      }
    },
    release() {
      latched = false;
      for (const held of waiting.splice(0)) held.go();
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe("operator: a run pod deleted mid-run", () => {
  let s3: S3Context;
  let latch: Awaited<ReturnType<typeof startLockLatch>>;
  let closeRelay = async () => {};
  let namespace = "";
  let operator: Awaited<ReturnType<typeof startTestOperator>>;
  const name = "pbs-term";

  before(async () => {
    await installCrd(cluster);
    s3 = await freshBucketContext(server, "op-term");
    await seed(s3, { store: "store1", seed: 5, chunks: 40, garbageChunks: 10, snapshots: 2 });
    // A lock record's key (not the conditional-write probe next to it): <store>/.chunkgc/lock/<12 digits>.
    latch = await startLockLatch(server.endpoint, /\/store1\/\.chunkgc\/lock\/\d{12}(\?|$)/);
    closeRelay = await relayOnNodeAddress(latch.port);
    namespace = await cluster.createNamespace("op-term");
    await createS3Secret(cluster, namespace, "pbs-s3", server);
    operator = await startTestOperator(cluster, { label: "sigterm", namespace });
  });
  after(async () => {
    latch?.release();
    await operator?.stop();
    await closeRelay();
    await latch?.stop();
    s3?.close();
  });

  test("gets SIGTERM, releases the engine's lock and the Lease; the run is recorded as not succeeded", async () => {
    const target = podS3Target(cluster, server, latch.endpoint);
    const { endpoint } = target;
    const created = await createGc(cluster, namespace, name, gcSpecFor(target, s3.bucket));
    assert.equal(created.status, 201, created.body.message);
    await eventually(
      "the run to hold its lock, with its next request held",
      () => (latch.latched && latch.held > 0 ? true : undefined),
      120_000,
    );
    const [job] = await jobsOf(cluster, namespace, name);
    assert.ok(job?.metadata?.name, "the run's Job");
    // The engine already holds its lock, so its container runs; the kubelet's status report may still be on its way.
    const pod = await eventually("the run pod to be reported Running", async () => {
      const pods = await core.listNamespacedPod({
        namespace,
        labelSelector: `batch.kubernetes.io/job-name=${job.metadata?.name}`,
      });
      const candidate = pods.items[0];
      return candidate?.metadata?.name && candidate.status?.phase === "Running" ? candidate : undefined;
    });
    assert.ok(pod.metadata?.name, "the run pod");

    // From now on only lock-record writes pass (the release); the request the engine waits on stays held.
    latch.passLockWrites();
    await core.deleteNamespacedPod({ name: pod.metadata.name, namespace });
    await eventually("the pod to be terminating", async () => {
      const current = await core
        .readNamespacedPod({ name: pod.metadata?.name ?? "", namespace })
        .catch(() => undefined);
      return current === undefined || current.metadata?.deletionTimestamp ? true : undefined;
    });

    await eventually(
      "the pod to be gone",
      async () => {
        try {
          await core.readNamespacedPod({ name: pod.metadata?.name ?? "", namespace });
          return undefined;
        } catch (error) {
          return isNotFound(error) ? true : undefined;
        }
      },
      90_000,
    );
    const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: lockPrefix("store1") }));
    const newest = (listed.Contents ?? [])
      .map((o) => o.Key ?? "")
      .filter((key) => generationOfKey("store1", key) !== undefined)
      .sort()
      .at(-1);
    assert.ok(newest, "the run wrote a lock record");
    const object = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: newest }));
    const record = JSON.parse((await object.Body?.transformToString()) ?? "{}") as {
      released: boolean;
      holder?: string;
    };
    assert.equal(
      record.released,
      true,
      `the lock record ${newest} says released: ${JSON.stringify(record)}; requests held: ${latch.heldRequests.join(", ")}`,
    );

    const run = await waitForGc(
      cluster,
      namespace,
      name,
      "the interrupted run in status",
      (gc) => gc.status?.lastRun,
      120_000,
    );
    assert.notEqual(run.result, "Succeeded", run.message);
    const leaseName = datastoreLeaseName({ endpoint, bucket: s3.bucket, store: "store1" });
    await eventually("the datastore Lease released (deleted)", async () => {
      try {
        await coordination.readNamespacedLease({ name: leaseName, namespace: "default" });
        return undefined;
      } catch (error) {
        if (isNotFound(error)) return true;
        throw error;
      }
    });
  });
});
