/**
 * The operator's informer against the real API server: a failing list is retried with backoff until it succeeds
 * (then the cache is usable), watch events arrive, and the periodic relist re-delivers every object (a full resync,
 * so an event missed by a watch cannot be lost for good).
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { CoreV1Api, type V1ConfigMap } from "@kubernetes/client-node";
import { pino } from "pino";
import { type InformerEvent, ResilientInformer } from "../../src/operator/runtime/informer.ts";
import { testCluster } from "../support/cluster.ts";
import { eventually } from "../support/operator.ts";

const cluster = await testCluster();
const core = cluster.kubeConfig.makeApiClient(CoreV1Api);

test("restarts after failed lists, follows the watch, relists periodically", async () => {
  const namespace = await cluster.createNamespace("op-informer");
  await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: "before" }, data: { a: "1" } } });
  let failuresLeft = 2;
  const seen: [InformerEvent, string][] = [];
  const informer = new ResilientInformer<V1ConfigMap>({
    name: "configmaps",
    kubeConfig: cluster.kubeConfig,
    path: `/api/v1/namespaces/${namespace}/configmaps`,
    list: async () => {
      if (failuresLeft > 0) {
        failuresLeft -= 1;
        throw new Error("injected list failure");
      }
      return core.listNamespacedConfigMap({ namespace });
    },
    relistIntervalMs: 1500,
    restartBaseMs: 100,
    log: pino({ level: "silent" }),
    onEvent: (event, object) => {
      if (object.metadata?.name !== "kube-root-ca.crt") seen.push([event, object.metadata?.name ?? ""]);
    },
  });
  after(() => informer.stop());

  await informer.start();
  assert.equal(informer.synced, false, "the first list failed");
  await eventually("the informer to recover", () => (informer.synced ? true : undefined), 10_000, 50);
  assert.equal(informer.errors, 2);
  assert.equal(informer.get("before", namespace)?.data?.a, "1");
  // A relist may already have re-delivered "before" (as an update): only its first delivery must be an add.
  assert.deepEqual(seen[0], ["add", "before"]);
  assert.ok(
    seen.every(([event, name]) => name === "before" && event !== "delete"),
    JSON.stringify(seen),
  );

  await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: "after" } } });
  await eventually("the watch event", () => (informer.get("after", namespace) ? true : undefined), 10_000, 50);
  assert.deepEqual(
    seen.find(([, name]) => name === "after"),
    ["add", "after"],
    "the first delivery of a new object is an add",
  );

  const count = seen.length;
  await eventually(
    "a relist re-delivering both objects",
    () => {
      const since = seen.slice(count).map(([, name]) => name);
      return since.includes("before") && since.includes("after") ? true : undefined;
    },
    10_000,
    50,
  );
  await core.deleteNamespacedConfigMap({ name: "before", namespace });
  await eventually("the delete", () => (seen.some(([e, n]) => e === "delete" && n === "before") ? true : undefined));
  assert.equal(informer.get("before", namespace), undefined);
});
