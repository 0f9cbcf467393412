/**
 * The Helm chart against the test cluster's real kube-apiserver: `helm install` succeeds in a namespace that enforces
 * Pod Security "restricted", the CRD is established with the chart's schema, the objects exist, and
 * SubjectAccessReviews show that the operator's ServiceAccount may do exactly what it needs (where it needs it) and
 * the run ServiceAccount nothing at all; upgrade turns on leader election, uninstall keeps the CRD. The Deployment's
 * pod runs the image built from the Dockerfile on the real node with the chart's probes, talks to the apiserver with
 * in-cluster configuration as its ServiceAccount, becomes Ready and serves /readyz and /metrics behind the chart's
 * metrics Service; with only the namespaced Role it reconciles a GarbageCollection: status, events, claim, a Job whose
 * pod really runs, Lease taken and deleted.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  ApiextensionsV1Api,
  AppsV1Api,
  AuthorizationV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  RbacAuthorizationV1Api,
  setHeaderOptions,
  type V1Pod,
} from "@kubernetes/client-node";
import { parse } from "yaml";
import { CRD_FILE } from "../../src/api/crd.ts";
import { API_VERSION, CRD_NAME, GROUP, PLURAL } from "../../src/api/index.ts";
import { datastoreLeaseName } from "../../src/operator/datastore-identity.ts";
import { isNotFound } from "../../src/operator/runtime/kube-api.ts";
import { testCluster } from "../support/cluster.ts";
import { eventually } from "../support/eventually.ts";
import { CHART_DIR, helm, helmOk, type Manifest, renderChart, valuesFile } from "../support/helm.ts";
import { condition, createGc, createS3Secret, eventsOf, gcSpecFor, jobsOf, waitForGc } from "../support/operator.ts";

const cluster = await testCluster();
const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
const apps = cluster.kubeConfig.makeApiClient(AppsV1Api);
const rbac = cluster.kubeConfig.makeApiClient(RbacAuthorizationV1Api);
const authz = cluster.kubeConfig.makeApiClient(AuthorizationV1Api);
const extensions = cluster.kubeConfig.makeApiClient(ApiextensionsV1Api);
const custom = cluster.kubeConfig.makeApiClient(CustomObjectsApi);
const coordination = cluster.kubeConfig.makeApiClient(CoordinationV1Api);
const MERGE_PATCH = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
const ROOT = fileURLToPath(new URL("../../", import.meta.url));

const release = `cgc-${Math.random().toString(36).slice(2, 7)}`;
const fullname = `${release}-chunkgc`;
const helmGlobal = () => ["--kubeconfig", cluster.kubeconfigPath];
const installed: { release: string; namespace: string }[] = [];
const uninstalled: { release: string; namespace: string }[] = [];

after(async () => {
  for (const { release, namespace } of installed) {
    await helm(["uninstall", release, "--namespace", namespace, "--wait", ...helmGlobal()]).catch(() => {});
  }
  // The pods go after their Deployment (garbage collector, then the kubelet): wait, so that no operator of ours
  // still reconciles when the next test file starts its own.
  await Promise.all(
    [...uninstalled, ...installed].map(({ release, namespace }) =>
      eventually(`the operator pods of ${release} to be gone`, async () =>
        (await operatorPods(namespace, release)).length === 0 ? true : undefined,
      ).catch(() => {}),
    ),
  );
});
/** Values every install here needs: the image built from the working tree and loaded into the node. */
function clusterValues(more: Record<string, unknown> = {}): Record<string, unknown> {
  return { image: { repository: "chunkgc", tag: "dev", pullPolicy: "Never" }, ...more };
}

/** The operator's HTTP server through the chart's metrics Service (kube-proxy routes the cluster IP from this host). */
async function metricsUrl(namespace: string, fullName: string, path: string): Promise<string> {
  const service = await core.readNamespacedService({ name: `${fullName}-metrics`, namespace });
  const port = service.spec?.ports?.[0]?.port;
  assert.ok(service.spec?.clusterIP && port, "the metrics Service has a cluster IP and a port");
  return `http://${service.spec.clusterIP}:${port}${path}`;
}

async function install(name: string, namespace: string, values: Record<string, unknown>): Promise<string> {
  const { stdout } = await helmOk(
    ["install", name, CHART_DIR, "--namespace", namespace, "--values", valuesFile(values), ...helmGlobal()],
    { timeoutMs: 180_000 },
  );
  installed.push({ release: name, namespace });
  return stdout;
}

/** Standard verbs of resources a controller could touch; each (resource, verb) is checked, allowed or denied. */
const VERBS = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"] as const;
const NAMESPACED: { group: string; resource: string; subresource?: string }[] = [
  { group: GROUP, resource: PLURAL },
  { group: GROUP, resource: PLURAL, subresource: "status" },
  { group: "batch", resource: "jobs" },
  { group: "batch", resource: "cronjobs" },
  { group: "", resource: "pods" },
  { group: "", resource: "pods", subresource: "log" },
  { group: "", resource: "pods", subresource: "exec" },
  { group: "", resource: "secrets" },
  { group: "", resource: "configmaps" },
  { group: "", resource: "persistentvolumeclaims" },
  { group: "", resource: "events" },
  { group: "events.k8s.io", resource: "events" },
  { group: "coordination.k8s.io", resource: "leases" },
  { group: "", resource: "serviceaccounts" },
  { group: "", resource: "serviceaccounts", subresource: "token" },
  { group: "apps", resource: "deployments" },
  { group: "rbac.authorization.k8s.io", resource: "roles" },
  { group: "rbac.authorization.k8s.io", resource: "rolebindings" },
];
const CLUSTER_SCOPED: { group: string; resource: string }[] = [
  { group: "", resource: "namespaces" },
  { group: "", resource: "nodes" },
  { group: "", resource: "persistentvolumes" },
  { group: "apiextensions.k8s.io", resource: "customresourcedefinitions" },
  { group: "rbac.authorization.k8s.io", resource: "clusterroles" },
  { group: "rbac.authorization.k8s.io", resource: "clusterrolebindings" },
];

/**
 * What the chart grants, from its rendered (Cluster)Role rules, as "group/resource[/subresource] verb" lines of the
 * matrix above. operator-rbac-audit.test.ts holds these rules against the operator's real requests (audit log); here
 * the API server's own authorizer must give exactly them, where they belong: in watched namespaces, across all
 * namespaces when cluster-wide, Leases only at home.
 */
async function chartGrants(values: Record<string, unknown>, namespace: string, kind: string, name: string) {
  const manifests = await renderChart({ release: name.replace(/-chunkgc.*$/, ""), namespace, values });
  const role = manifests.find((m) => m.kind === kind && m.metadata.name === name) as
    | (Manifest & { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] })
    | undefined;
  assert.ok(role, `the chart renders ${kind} ${name}`);
  const matrix = new Set(NAMESPACED.map((r) => `${r.group}/${r.resource}${r.subresource ? `/${r.subresource}` : ""}`));
  const grants: Record<string, string[]> = {};
  for (const rule of role.rules) {
    for (const group of rule.apiGroups) {
      for (const resource of rule.resources) {
        const key = `${group}/${resource}`;
        if (matrix.has(key)) grants[key] = [...(grants[key] ?? []), ...rule.verbs];
      }
    }
  }
  return grants;
}

function serviceAccountUser(namespace: string, name: string) {
  return {
    user: `system:serviceaccount:${namespace}:${name}`,
    groups: ["system:serviceaccounts", `system:serviceaccounts:${namespace}`, "system:authenticated"],
  };
}

async function allowed(
  subject: { user: string; groups: string[] },
  attributes: { namespace?: string; group: string; resource: string; subresource?: string; verb: string },
): Promise<boolean> {
  const review = await authz.createSubjectAccessReview({
    body: {
      apiVersion: "authorization.k8s.io/v1",
      kind: "SubjectAccessReview",
      spec: { ...subject, resourceAttributes: attributes },
    },
  });
  return review.status?.allowed === true;
}

/**
 * Every (resource, verb) of the matrix in one namespace ("" = cluster-wide, as a watch of all namespaces asks), as
 * "allowed" lines; compared with the expectation as a whole so a failure shows every difference at once.
 */
async function namespacedMatrix(subject: { user: string; groups: string[] }, namespace: string): Promise<string[]> {
  const checks = NAMESPACED.flatMap(({ group, resource, subresource }) =>
    VERBS.map(async (verb) => {
      const key = `${group}/${resource}${subresource ? `/${subresource}` : ""}`;
      const attributes = { namespace, group, resource, verb, ...(subresource ? { subresource } : {}) };
      return (await allowed(subject, attributes)) ? `${key} ${verb}` : undefined;
    }),
  );
  return (await Promise.all(checks)).filter((line): line is string => line !== undefined).sort();
}

function expectation(...needs: Record<string, readonly string[]>[]): string[] {
  return needs
    .flatMap((need) => Object.entries(need).flatMap(([key, verbs]) => verbs.map((v) => `${key} ${v}`)))
    .sort();
}

async function clusterScopedGrants(subject: { user: string; groups: string[] }): Promise<string[]> {
  const checks = CLUSTER_SCOPED.flatMap(({ group, resource }) =>
    VERBS.map(async (verb) =>
      (await allowed(subject, { group, resource, verb })) ? `${group}/${resource} ${verb}` : undefined,
    ),
  );
  return (await Promise.all(checks)).filter((line): line is string => line !== undefined);
}

async function operatorPods(namespace: string, name: string): Promise<V1Pod[]> {
  const selector = `app.kubernetes.io/instance=${name},app.kubernetes.io/component=operator`;
  return (await core.listNamespacedPod({ namespace, labelSelector: selector })).items;
}

describe("helm install of charts/chunkgc (all namespaces)", () => {
  let namespace = "";
  let other = "";
  let crdExistedBefore = false;
  let notes = "";

  before(async () => {
    namespace = await cluster.createNamespace("chunkgc-system");
    other = await cluster.createNamespace("backup");
    // Pod Security admission (the real plugin) rejects the operator pod unless it is "restricted".
    await core.patchNamespace(
      {
        name: namespace,
        body: {
          metadata: {
            labels: {
              "pod-security.kubernetes.io/enforce": "restricted",
              "pod-security.kubernetes.io/enforce-version": "latest",
            },
          },
        },
      },
      MERGE_PATCH,
    );
    crdExistedBefore = await extensions
      .readCustomResourceDefinition({ name: CRD_NAME })
      .then(() => true)
      .catch((error: unknown) => {
        if (isNotFound(error)) return false;
        throw error;
      });
    notes = await install(release, namespace, clusterValues());
  });

  test("the install prints the NOTES with the release and namespace", () => {
    assert.match(notes, new RegExp(`release ${release} in namespace ${namespace}`));
    assert.match(notes, /GarbageCollections in all namespaces/);
  });

  test("the CRD is established and carries the chart's schema", async () => {
    const crd = await eventually("the CRD to be established", async () => {
      const got = await extensions.readCustomResourceDefinition({ name: CRD_NAME });
      return got.status?.conditions?.some((c) => c.type === "Established" && c.status === "True") ? got : undefined;
    });
    const chartCrd = parse(readFileSync(join(CHART_DIR, "files", CRD_FILE), "utf8")) as {
      spec: { versions: { name: string; additionalPrinterColumns: unknown[] }[]; names: { shortNames: string[] } };
    };
    assert.deepEqual(
      crd.spec.versions.map((v) => v.name),
      chartCrd.spec.versions.map((v) => v.name),
    );
    assert.deepEqual(crd.spec.names.shortNames, chartCrd.spec.names.shortNames);
    assert.equal(
      crd.spec.versions[0]?.additionalPrinterColumns?.length,
      chartCrd.spec.versions[0]?.additionalPrinterColumns.length,
    );
    if (!crdExistedBefore) assert.ok(crd.metadata?.creationTimestamp, "helm created it from the chart's crds/");
  });

  test("the example GarbageCollection is accepted by the CRD (server-side dry run)", async () => {
    const example = parse(readFileSync(join(ROOT, "examples/garbagecollection.yaml"), "utf8")) as {
      metadata: { namespace: string };
    };
    example.metadata.namespace = other;
    const created = (await custom.createNamespacedCustomObject({
      group: GROUP,
      version: API_VERSION.split("/")[1] as string,
      namespace: other,
      plural: PLURAL,
      body: example,
      dryRun: "All",
    })) as { metadata: { uid?: string }; spec: { gracePeriod: string } };
    assert.equal(created.spec.gracePeriod, "24h5m");
  });

  test("the ServiceAccounts, roles and bindings exist", async () => {
    const operator = await core.readNamespacedServiceAccount({ name: fullname, namespace });
    assert.equal(operator.metadata?.name, fullname);
    const run = await core.readNamespacedServiceAccount({ name: `${fullname}-run`, namespace });
    assert.equal(run.automountServiceAccountToken, false);
    await rbac.readClusterRole({ name: fullname });
    const binding = await rbac.readClusterRoleBinding({ name: fullname });
    assert.deepEqual(
      binding.subjects?.map((s) => [s.kind, s.name, s.namespace]),
      [["ServiceAccount", fullname, namespace]],
    );
    await rbac.readNamespacedRole({ name: `${fullname}-leases`, namespace });
    await rbac.readNamespacedRoleBinding({ name: `${fullname}-leases`, namespace });
    await core.readNamespacedService({ name: `${fullname}-metrics`, namespace });
  });

  test("the operator may do exactly what it needs: in any namespace, across all, Leases only at home", async () => {
    const subject = serviceAccountUser(namespace, fullname);
    const OPERATOR_NEEDS = await chartGrants(clusterValues(), namespace, "ClusterRole", fullname);
    const LEASES_NEED = await chartGrants(clusterValues(), namespace, "Role", `${fullname}-leases`);
    assert.ok(LEASES_NEED["coordination.k8s.io/leases"]?.includes("update"), "Leases are renewed at home");
    assert.deepEqual(await namespacedMatrix(subject, other), expectation(OPERATOR_NEEDS), `in ${other}`);
    assert.deepEqual(await namespacedMatrix(subject, ""), expectation(OPERATOR_NEEDS), "across all namespaces");
    assert.deepEqual(await namespacedMatrix(subject, namespace), expectation(OPERATOR_NEEDS, LEASES_NEED), "at home");
    assert.deepEqual(await clusterScopedGrants(subject), []);
  });

  test("the run ServiceAccount may do nothing", async () => {
    const subject = serviceAccountUser(namespace, `${fullname}-run`);
    for (const where of [namespace, other, ""]) assert.deepEqual(await namespacedMatrix(subject, where), [], where);
    assert.deepEqual(await clusterScopedGrants(subject), []);
  });

  test("namespace editors may manage GarbageCollections, viewers only read them (aggregated roles)", async () => {
    const editor = { user: `editor-${release}`, groups: ["system:authenticated"] };
    const viewer = { user: `viewer-${release}`, groups: ["system:authenticated"] };
    for (const [user, role] of [
      [editor.user, "edit"],
      [viewer.user, "view"],
    ] as const) {
      await rbac.createNamespacedRoleBinding({
        namespace: other,
        body: {
          metadata: { name: `${role}-${release}` },
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: role },
          subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: user }],
        },
      });
    }
    const can = (subject: typeof editor, verb: string, subresource?: string) =>
      allowed(subject, {
        namespace: other,
        group: GROUP,
        resource: PLURAL,
        verb,
        ...(subresource ? { subresource } : {}),
      });
    // The clusterrole-aggregation controller copies the rules into edit/view shortly after the install.
    await eventually("edit to aggregate GarbageCollections", async () =>
      (await can(editor, "create")) ? true : undefined,
    );
    assert.equal(await can(editor, "delete"), true);
    assert.equal(await can(editor, "patch", "status"), false, "status belongs to the operator");
    await eventually("view to aggregate GarbageCollections", async () =>
      (await can(viewer, "list")) ? true : undefined,
    );
    assert.equal(await can(viewer, "create"), false);
  });

  test("the operator pod is admitted under Pod Security restricted (which the namespace enforces)", async () => {
    const privileged = core.createNamespacedPod({
      namespace,
      dryRun: "All",
      body: {
        metadata: { name: "not-restricted" },
        spec: { containers: [{ name: "c", image: "chunkgc:dev", securityContext: { privileged: true } }] },
      },
    });
    await assert.rejects(privileged, (error: unknown) => {
      const body = JSON.parse(String((error as { body?: unknown }).body)) as { code: number; message: string };
      assert.equal(body.code, 403);
      assert.match(body.message, /violates PodSecurity "restricted:latest"/);
      return true;
    });
    const pod = await eventually(
      "the operator pod to be created",
      async () => (await operatorPods(namespace, release))[0],
    );
    assert.equal(pod.spec?.serviceAccountName, fullname);
    assert.equal(pod.spec?.containers[0]?.securityContext?.readOnlyRootFilesystem, true);
    const deployment = await apps.readNamespacedDeployment({ name: fullname, namespace });
    const failure = deployment.status?.conditions?.find((c) => c.type === "ReplicaFailure" && c.status === "True");
    assert.equal(failure, undefined, failure?.message);
  });

  test("the operator pod becomes Ready and serves /healthz and /readyz (caches synced as its ServiceAccount)", async () => {
    await eventually(
      "the operator Deployment to be available",
      async () => {
        const deployment = await apps.readNamespacedDeployment({ name: fullname, namespace });
        return deployment.status?.availableReplicas === 1 ? deployment : undefined;
      },
      90_000,
    );
    const [pod] = await operatorPods(namespace, release);
    assert.ok(pod?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"));
    for (const path of ["/healthz", "/readyz"]) {
      const response = await eventually(
        `${path} to answer 200`,
        async () => {
          const res = await fetch(await metricsUrl(namespace, fullname, path), { signal: AbortSignal.timeout(5_000) });
          return res.status === 200 ? res : undefined;
        },
        60_000,
      );
      assert.equal(response.status, 200);
    }
    const metrics = await (await fetch(await metricsUrl(namespace, fullname, "/metrics"))).text();
    assert.match(metrics, /^# (HELP|TYPE) /m);
  });

  test("helm upgrade to 2 replicas turns on leader election; uninstall keeps the CRD", async () => {
    await helmOk(
      [
        "upgrade",
        release,
        CHART_DIR,
        "--namespace",
        namespace,
        "--values",
        valuesFile(clusterValues({ replicas: 2 })),
        ...helmGlobal(),
      ],
      { timeoutMs: 180_000 },
    );
    const deployment = await apps.readNamespacedDeployment({ name: fullname, namespace });
    assert.equal(deployment.spec?.replicas, 2);
    assert.ok(deployment.spec?.template.spec?.containers[0]?.args?.includes("--leader-elect"));
    assert.equal(deployment.spec?.strategy?.type, "RollingUpdate");

    await helmOk(["uninstall", release, "--namespace", namespace, "--wait", ...helmGlobal()], { timeoutMs: 180_000 });
    uninstalled.push(
      ...installed.splice(
        installed.findIndex((i) => i.release === release),
        1,
      ),
    );
    await eventually("the ClusterRole to be gone", async () =>
      rbac.readClusterRole({ name: fullname }).then(
        () => undefined,
        (error: unknown) => (isNotFound(error) ? true : undefined),
      ),
    );
    const crd = await extensions.readCustomResourceDefinition({ name: CRD_NAME });
    assert.equal(crd.metadata?.deletionTimestamp, undefined, "the CRD stays (Helm never deletes crds/)");
  });
});

describe("helm install of charts/chunkgc with watchNamespaces", () => {
  const name = `cgw-${Math.random().toString(36).slice(2, 7)}`;
  const full = `${name}-chunkgc`;
  let home = "";
  let watched = "";
  let unwatched = "";

  before(async () => {
    home = await cluster.createNamespace("chunkgc-ns");
    watched = await cluster.createNamespace("team-a");
    unwatched = await cluster.createNamespace("team-b");
    await install(name, home, clusterValues({ watchNamespaces: [watched] }));
  });

  test("the Deployment watches exactly that namespace", async () => {
    const deployment = await apps.readNamespacedDeployment({ name: full, namespace: home });
    const args = deployment.spec?.template.spec?.containers[0]?.args ?? [];
    assert.deepEqual(
      args.filter((arg) => arg.startsWith("--namespace")),
      [`--namespace=${watched}`],
    );
  });

  test("rights only in the watched namespace (Leases at home), none cluster-wide", async () => {
    const subject = serviceAccountUser(home, full);
    const values = clusterValues({ watchNamespaces: [watched] });
    const OPERATOR_NEEDS = await chartGrants(values, home, "Role", full);
    const LEASES_NEED = await chartGrants(values, home, "Role", `${full}-leases`);
    assert.deepEqual(await namespacedMatrix(subject, watched), expectation(OPERATOR_NEEDS), watched);
    assert.deepEqual(await namespacedMatrix(subject, home), expectation(LEASES_NEED), "home: Leases only");
    assert.deepEqual(await namespacedMatrix(subject, unwatched), [], "an unwatched namespace");
    assert.deepEqual(await namespacedMatrix(subject, ""), [], "nothing across all namespaces");
    assert.deepEqual(await clusterScopedGrants(subject), []);
    await assert.rejects(rbac.readClusterRoleBinding({ name: full }), isNotFound);
  });

  test("a run ServiceAccount without rights at home and in the watched namespace", async () => {
    for (const namespace of [home, watched]) {
      const account = await core.readNamespacedServiceAccount({ name: `${full}-run`, namespace });
      assert.equal(account.automountServiceAccountToken, false);
      assert.deepEqual(await namespacedMatrix(serviceAccountUser(namespace, `${full}-run`), namespace), [], namespace);
    }
  });

  test("with only the chart's Role, the operator pod reconciles: claim, status, events, then a Job", async () => {
    await eventually(
      "the namespaced operator to be ready",
      async () => {
        const res = await fetch(await metricsUrl(home, full, "/readyz"), { signal: AbortSignal.timeout(5_000) });
        return res.status === 200 ? true : undefined;
      },
      90_000,
    );
    // Nothing listens at this endpoint in the run pod: the run fails, not what this test is about.
    const spec = gcSpecFor({ endpoint: "http://127.0.0.1:9", region: "us-east-1" }, "pbs", {
      markerCache: { volumeClaimTemplate: { storage: "1Gi" } },
    });
    const created = await createGc(cluster, watched, "pbs-main", spec);
    assert.equal(created.status, 201, created.body.message);

    // The Secret is missing: Ready=False with the reason, written through garbagecollections/status.
    const ready = await waitForGc(cluster, watched, "pbs-main", "Ready=False SecretNotFound", (gc) => {
      const c = condition(gc, "Ready");
      return c?.status === "False" && c.reason === "SecretNotFound" ? c : undefined;
    });
    assert.match(ready.message ?? "", /pbs-s3/);
    const events = await eventually("a SecretNotFound event", async () => {
      const list = await eventsOf(cluster, watched, "pbs-main");
      return list.some((e) => e.reason === "SecretNotFound") ? list : undefined;
    });
    assert.ok(events.length > 0);
    // With the Secret, a run starts: the claim from the template, then a Job owned by the resource.
    await createS3Secret(cluster, watched, "pbs-s3", { accessKeyId: "a", secretAccessKey: "b" });
    const claim = await eventually(
      "the marker-cache claim",
      () => core.readNamespacedPersistentVolumeClaim({ namespace: watched, name: "pbs-main-marker-cache" }),
      90_000,
    );
    assert.equal(claim.spec?.resources?.requests?.storage, "1Gi");
    const jobs = await eventually(
      "the run Job",
      async () => {
        const list = await jobsOf(cluster, watched, "pbs-main");
        return list.length > 0 ? list : undefined;
      },
      90_000,
    );
    assert.equal(jobs[0]?.metadata?.ownerReferences?.[0]?.name, "pbs-main");
    assert.equal(jobs[0]?.spec?.template.spec?.automountServiceAccountToken, false);

    // The run fails (no S3 server); the operator records it and releases the datastore Lease it took in its own
    // namespace by deleting it, which the Role must allow.
    const lastRun = await waitForGc(
      cluster,
      watched,
      "pbs-main",
      "the finished run in status",
      (gc) => gc.status?.lastRun,
    );
    assert.equal(lastRun.result, "Failed");
    const leaseName = datastoreLeaseName(spec.datastore.s3);
    await eventually("the datastore Lease to be released (deleted)", async () =>
      coordination.readNamespacedLease({ namespace: home, name: leaseName }).then(
        () => undefined,
        (error: unknown) => (isNotFound(error) ? true : undefined),
      ),
    );
    const denied = await eventsOf(cluster, watched, "pbs-main");
    assert.ok(!denied.some((e) => /forbidden/i.test(e.note ?? "")), "no event reports a forbidden call");

    // Nothing happens in a namespace it does not watch.
    const ignored = await createGc(cluster, unwatched, "pbs-other", spec);
    assert.equal(ignored.status, 201, ignored.body.message);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const other = await waitForGc(cluster, unwatched, "pbs-other", "the resource", (gc) => gc);
    assert.equal(other.status?.conditions, undefined, "an unwatched namespace is left alone");
  });
});
