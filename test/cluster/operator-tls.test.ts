/**
 * An S3 endpoint with a certificate from a private CA, on the real node: versitygw behind a TLS front whose
 * certificate a test CA signed (for the node address pods connect to). A resource whose spec names the CA bundle in a
 * Secret (caBundleSecretRef) runs and succeeds; so does one that mounts it from a ConfigMap through spec.runPod
 * (volumes, and NODE_EXTRA_CA_CERTS for Node's trust store); one without the bundle fails, and its status carries
 * Node's own certificate error text.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { CoreV1Api } from "@kubernetes/client-node";
import type { S3Context } from "../../src/s3/index.ts";
import { testCluster } from "../support/cluster.ts";
import { freshBucketContext, seed } from "../support/engine.ts";
import { createGc, createS3Secret, gcSpecFor, installCrd, startTestOperator, waitForGc } from "../support/operator.ts";
import { clusterS3Server } from "../support/s3-servers.ts";
import { startTlsFront, type TlsFront, testCaFor } from "./tls-front.ts";

const cluster = await testCluster();
const server = await clusterS3Server();
const core = cluster.kubeConfig.makeApiClient(CoreV1Api);

/** What Node says when the server's certificate (sent without its CA) chains to no CA the client trusts. */
const CERTIFICATE_ERROR = /unable to verify the first certificate/;

describe("a private CA in front of the S3 endpoint", () => {
  let namespace = "";
  let s3: S3Context;
  let front: TlsFront;
  let operator: Awaited<ReturnType<typeof startTestOperator>>;

  before(async () => {
    await installCrd(cluster);
    const ca = await testCaFor(cluster.hostAddress);
    front = await startTlsFront(cluster.hostAddress, ca, server.endpoint);
    s3 = await freshBucketContext(server, "op-tls");
    for (const [i, store] of ["store-secret", "store-configmap", "store-none"].entries()) {
      await seed(s3, { store, seed: 30 + i, chunks: 30, garbageChunks: 5, snapshots: 2 }, 0);
    }
    namespace = await cluster.createNamespace("op-tls");
    await createS3Secret(cluster, namespace, "pbs-s3", server);
    await core.createNamespacedSecret({
      namespace,
      body: { metadata: { name: "s3-ca" }, stringData: { "ca.crt": ca.caPem } },
    });
    await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: "s3-ca" }, data: { "ca.crt": ca.caPem } },
    });
    operator = await startTestOperator(cluster, { label: "tls", namespace });
  });
  after(async () => {
    await operator?.stop();
    await front?.close();
    s3?.close();
  });

  test("with the bundle from a Secret or a ConfigMap the run succeeds; without it, Node's certificate error", async () => {
    const target = { endpoint: front.endpoint, region: server.region };
    const specs = {
      "ca-secret": gcSpecFor(target, s3.bucket, {
        store: "store-secret",
        s3: { caBundleSecretRef: { name: "s3-ca", key: "ca.crt" } },
        dryRun: true,
      }),
      "ca-configmap": gcSpecFor(target, s3.bucket, {
        store: "store-configmap",
        dryRun: true,
        runPod: {
          volumes: [{ name: "s3-ca", configMap: { name: "s3-ca" } }],
          volumeMounts: [{ name: "s3-ca", mountPath: "/etc/ssl/s3-ca" }],
          env: [{ name: "NODE_EXTRA_CA_CERTS", value: "/etc/ssl/s3-ca/ca.crt" }],
        },
      }),
      "no-ca": gcSpecFor(target, s3.bucket, { store: "store-none", dryRun: true }),
    };
    for (const [name, spec] of Object.entries(specs)) {
      const created = await createGc(cluster, namespace, name, spec);
      assert.equal(created.status, 201, created.body.message);
    }
    const lastRun = (name: string) =>
      waitForGc(cluster, namespace, name, `the run of ${name}`, (gc) => gc.status?.lastRun, 240_000);
    const [secret, configMap, none] = await Promise.all([
      lastRun("ca-secret"),
      lastRun("ca-configmap"),
      lastRun("no-ca"),
    ]);

    for (const [name, run] of [
      ["ca-secret", secret],
      ["ca-configmap", configMap],
    ] as const) {
      assert.equal(run.result, "Succeeded", `${name}: ${run.message}`);
      assert.ok((run.counters?.diskChunks ?? 0) > 0, `${name} listed its store through the TLS front`);
    }
    assert.ok(front.handshakes > 0, "the runs came through TLS");

    assert.equal(none.result, "Failed");
    process.stderr.write(`# without the CA bundle: ${none.reason}: ${none.message}\n`);
    assert.match(none.message ?? "", CERTIFICATE_ERROR, "Node's certificate error reaches the status");
    assert.equal(none.counters?.diskChunks ?? 0, 0, "nothing was listed");
  });
});
