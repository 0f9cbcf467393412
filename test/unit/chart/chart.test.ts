/**
 * The Helm chart (charts/chunkgc) rendered by the pinned helm and read back with the `yaml` package: it lints, its
 * version follows package.json, the operator Deployment runs `chunkgc operator` with the flags the values ask for
 * under a restricted security context, and the RBAC grants exactly the rights the operator needs, nothing more.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import type {
  V1ClusterRole,
  V1ClusterRoleBinding,
  V1Container,
  V1Deployment,
  V1PolicyRule,
  V1Role,
  V1RoleBinding,
  V1Service,
  V1ServiceAccount,
} from "@kubernetes/client-node";
import { parse } from "yaml";
import { garbageCollectionCrd } from "../../../src/api/crd.ts";
import { GarbageCollectionSpecSchema } from "../../../src/api/index.ts";
import { buildRunJob, RUN_USER_ID } from "../../../src/operator/job-builder.ts";
import { packageVersion } from "../../../src/util/package-info.ts";
import { CHART_DIR, helm, helmOk, type Manifest, renderChart, templateArgs, valuesFile } from "../../support/helm.ts";

const NAMESPACE = "ops";
const RELEASE = "gc";
const FULLNAME = "gc-chunkgc";

/** What the operator may do in a watched namespace, as "group/resource verb" triples. */
const OPERATOR_RIGHTS = [
  ...triples("chunkgc.io", "garbagecollections", ["list", "watch"]),
  ...triples("chunkgc.io", "garbagecollections/status", ["patch"]),
  ...triples("batch", "jobs", ["create", "get", "list", "watch", "delete"]),
  ...triples("", "pods", ["list", "watch"]),
  ...triples("", "pods/log", ["get"]),
  ...triples("", "secrets", ["get", "list", "watch"]),
  ...triples("", "persistentvolumeclaims", ["get", "create", "list", "watch"]),
  ...triples("", "events", ["list"]),
  ...triples("events.k8s.io", "events", ["create", "patch"]),
].sort();
/** The run pod defaults and Lease name the default values pass. */
const RUN_DEFAULT_ARGS = [
  `--run-service-account=${FULLNAME}-run`,
  "--manage-run-service-account",
  "--run-active-deadline=12h",
  "--run-start-timeout=10m",
  "--run-pod-ids=fixed",
  `--leader-elect-lease-name=${FULLNAME}`,
];
/** Lease verbs; delete because the operator deletes a datastore Lease when it releases the lock. */
const LEASE_RIGHTS = triples("coordination.k8s.io", "leases", ["get", "create", "update", "delete"]).sort();

function triples(group: string, resource: string, verbs: string[]): string[] {
  return verbs.map((verb) => `${group}/${resource} ${verb}`);
}

/** Every (group, resource, verb) a rule list grants; resourceNames and nonResourceURLs are refused outright. */
function grants(rules: V1PolicyRule[] | undefined): string[] {
  const out = new Set<string>();
  for (const rule of rules ?? []) {
    assert.equal(rule.nonResourceURLs, undefined, "no non-resource URLs");
    for (const group of rule.apiGroups ?? []) {
      for (const resource of rule.resources ?? []) {
        for (const verb of rule.verbs) out.add(`${group}/${resource} ${verb}`);
      }
    }
  }
  return [...out].sort();
}

function only<T>(manifests: Manifest[], kind: string, name?: string, namespace?: string): T {
  const found = find<T>(manifests, kind, name, namespace);
  assert.equal(found.length, 1, `exactly one ${kind} ${name ?? ""} ${namespace ?? ""}`);
  return found[0] as T;
}

function find<T>(manifests: Manifest[], kind: string, name?: string, namespace?: string): T[] {
  return manifests.filter(
    (m) =>
      m.kind === kind &&
      (name === undefined || m.metadata.name === name) &&
      (namespace === undefined || m.metadata.namespace === namespace),
  ) as T[];
}

function operatorContainer(manifests: Manifest[]): V1Container {
  const deployment = only<V1Deployment>(manifests, "Deployment", FULLNAME, NAMESPACE);
  const containers = deployment.spec?.template.spec?.containers ?? [];
  assert.equal(containers.length, 1);
  return containers[0] as V1Container;
}

const render = (values?: unknown) => renderChart({ release: RELEASE, namespace: NAMESPACE, values });

/** The Pod Security Standard "restricted" as it applies to one container and its pod. */
function assertRestricted(deployment: V1Deployment): void {
  const pod = deployment.spec?.template.spec;
  assert.ok(pod);
  assert.equal(pod.hostNetwork, undefined);
  assert.equal(pod.hostPID, undefined);
  assert.equal(pod.hostIPC, undefined);
  assert.equal(pod.securityContext?.runAsNonRoot, true);
  assert.equal(pod.securityContext?.runAsUser, RUN_USER_ID, "the image's numeric user (the run pods' too)");
  assert.equal(pod.securityContext?.seccompProfile?.type, "RuntimeDefault");
  for (const volume of pod.volumes ?? []) assert.equal(volume.hostPath, undefined);
  for (const container of pod.containers) {
    const sc = container.securityContext;
    assert.equal(sc?.allowPrivilegeEscalation, false);
    assert.equal(sc?.privileged, false);
    assert.equal(sc?.runAsNonRoot, true);
    assert.equal(sc?.readOnlyRootFilesystem, true);
    assert.deepEqual(sc?.capabilities?.drop, ["ALL"]);
    assert.equal(sc?.capabilities?.add, undefined);
    assert.equal(sc?.seccompProfile?.type, "RuntimeDefault");
    assert.equal(
      container.ports?.some((port) => port.hostPort !== undefined),
      false,
    );
  }
}

describe("chart metadata", () => {
  test("helm lint --strict passes with default and with non-default values", async () => {
    await helmOk(["lint", "--strict", CHART_DIR]);
    const values = valuesFile({
      replicas: 2,
      watchNamespaces: ["a"],
      metrics: { serviceMonitor: { enabled: true } },
      image: { digest: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" },
    });
    await helmOk(["lint", "--strict", CHART_DIR, "--values", values]);
  });

  test("appVersion and version follow package.json", () => {
    const chart = parse(readFileSync(join(CHART_DIR, "Chart.yaml"), "utf8")) as {
      apiVersion: string;
      version: string;
      appVersion: string;
      kubeVersion: string;
    };
    assert.equal(chart.apiVersion, "v2");
    assert.equal(chart.appVersion, packageVersion());
    assert.equal(chart.version, packageVersion());
  });

  test("refuses a Kubernetes older than the CRD's CEL rules need", async () => {
    const args = templateArgs();
    args.splice(args.indexOf("--kube-version") + 1, 1, "1.28.9");
    const result = await helm(args);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /kubeVersion/);
  });
});

describe("helm template with default values", async () => {
  const manifests = await render();

  test("renders exactly the expected objects", () => {
    const names = manifests.map((m) => `${m.kind} ${m.metadata.namespace ?? "-"}/${m.metadata.name}`).sort();
    assert.deepEqual(names, [
      `ClusterRole -/${FULLNAME}`,
      `ClusterRole -/${FULLNAME}-edit`,
      `ClusterRole -/${FULLNAME}-view`,
      `ClusterRoleBinding -/${FULLNAME}`,
      "CustomResourceDefinition -/garbagecollections.chunkgc.io",
      `Deployment ${NAMESPACE}/${FULLNAME}`,
      `Role ${NAMESPACE}/${FULLNAME}-leases`,
      `RoleBinding ${NAMESPACE}/${FULLNAME}-leases`,
      `Service ${NAMESPACE}/${FULLNAME}-metrics`,
      `ServiceAccount ${NAMESPACE}/${FULLNAME}`,
      `ServiceAccount ${NAMESPACE}/${FULLNAME}-run`,
    ]);
  });

  test("the CRD is the generated one, kept when the release goes (upgrades upgrade it)", () => {
    const crd = only<Manifest & { spec: unknown }>(manifests, "CustomResourceDefinition");
    const generated = garbageCollectionCrd() as { spec: unknown; metadata: { labels: Record<string, string> } };
    assert.deepEqual(crd.spec, generated.spec);
    assert.equal((crd.metadata.annotations as Record<string, string>)["helm.sh/resource-policy"], "keep");
    for (const [key, value] of Object.entries(generated.metadata.labels))
      assert.equal(crd.metadata.labels?.[key], value);
  });

  test("the Deployment runs `chunkgc operator` once, without leader election, Recreate on upgrade", () => {
    const deployment = only<V1Deployment>(manifests, "Deployment", FULLNAME, NAMESPACE);
    assert.equal(deployment.spec?.replicas, 1);
    assert.equal(deployment.spec?.strategy?.type, "Recreate");
    const container = operatorContainer(manifests);
    assert.equal(container.image, `chunkgc:${packageVersion()}`);
    assert.equal(container.imagePullPolicy, "IfNotPresent");
    assert.equal(container.command, undefined, "the image's entrypoint is chunkgc");
    assert.deepEqual(container.args, [
      "operator",
      `--operator-namespace=${NAMESPACE}`,
      `--default-image=chunkgc:${packageVersion()}`,
      "--metrics-addr=:8080",
      ...RUN_DEFAULT_ARGS,
    ]);
    assert.deepEqual(container.env, [{ name: "CHUNKGC_LOG_LEVEL", value: "info" }]);
    assert.deepEqual(container.ports, [{ name: "metrics", containerPort: 8080, protocol: "TCP" }]);
    assert.equal(deployment.spec?.template.spec?.serviceAccountName, FULLNAME);
  });

  test("restricted security context, read-only root file system with /tmp as the one writable mount", () => {
    const deployment = only<V1Deployment>(manifests, "Deployment", FULLNAME, NAMESPACE);
    assertRestricted(deployment);
    const container = operatorContainer(manifests);
    assert.equal(container.securityContext?.runAsUser, RUN_USER_ID);
    assert.deepEqual(container.volumeMounts, [{ name: "tmp", mountPath: "/tmp" }]);
    assert.deepEqual(deployment.spec?.template.spec?.volumes, [{ name: "tmp", emptyDir: { sizeLimit: "64Mi" } }]);
  });

  test("liveness on /healthz and readiness on /readyz, on the metrics port", () => {
    const container = operatorContainer(manifests);
    assert.deepEqual(container.livenessProbe?.httpGet, { path: "/healthz", port: "metrics" });
    assert.deepEqual(container.readinessProbe?.httpGet, { path: "/readyz", port: "metrics" });
  });

  test("the ClusterRole grants exactly the operator's rights, bound to its ServiceAccount only", () => {
    const role = only<V1ClusterRole>(manifests, "ClusterRole", FULLNAME);
    const runAccounts = triples("", "serviceaccounts", ["get", "create"]);
    assert.deepEqual(grants(role.rules), [...OPERATOR_RIGHTS, ...runAccounts].sort());
    const binding = only<V1ClusterRoleBinding>(manifests, "ClusterRoleBinding", FULLNAME);
    assert.deepEqual(binding.roleRef, { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: FULLNAME });
    assert.deepEqual(binding.subjects, [{ kind: "ServiceAccount", name: FULLNAME, namespace: NAMESPACE }]);
  });

  test("Leases only in the release namespace", () => {
    const role = only<V1Role>(manifests, "Role", `${FULLNAME}-leases`, NAMESPACE);
    assert.deepEqual(grants(role.rules), LEASE_RIGHTS);
    const binding = only<V1RoleBinding>(manifests, "RoleBinding", `${FULLNAME}-leases`, NAMESPACE);
    assert.deepEqual(binding.roleRef, {
      apiGroup: "rbac.authorization.k8s.io",
      kind: "Role",
      name: `${FULLNAME}-leases`,
    });
    assert.deepEqual(binding.subjects, [{ kind: "ServiceAccount", name: FULLNAME, namespace: NAMESPACE }]);
  });

  test("no wildcard anywhere in any role", () => {
    const roles = [...find<V1ClusterRole>(manifests, "ClusterRole"), ...find<V1Role>(manifests, "Role")];
    assert.ok(roles.length >= 4);
    for (const role of roles) {
      for (const rule of role.rules ?? []) {
        for (const word of [...rule.verbs, ...(rule.resources ?? []), ...(rule.apiGroups ?? [])]) {
          assert.ok(!word.includes("*"), `${role.metadata?.name}: ${word}`);
        }
      }
    }
  });

  test("users get GarbageCollections through admin/edit/view aggregation, read-only status", () => {
    const edit = only<V1ClusterRole>(manifests, "ClusterRole", `${FULLNAME}-edit`);
    assert.equal(edit.metadata?.labels?.["rbac.authorization.k8s.io/aggregate-to-edit"], "true");
    assert.equal(edit.metadata?.labels?.["rbac.authorization.k8s.io/aggregate-to-admin"], "true");
    assert.ok(grants(edit.rules).includes("chunkgc.io/garbagecollections create"));
    assert.ok(!grants(edit.rules).some((grant) => /status (patch|update)/.test(grant)), "status is the operator's");
    const view = only<V1ClusterRole>(manifests, "ClusterRole", `${FULLNAME}-view`);
    assert.equal(view.metadata?.labels?.["rbac.authorization.k8s.io/aggregate-to-view"], "true");
    assert.deepEqual(
      new Set(grants(view.rules).map((grant) => grant.split(" ")[1])),
      new Set(["get", "list", "watch"]),
    );
  });

  test("the run ServiceAccount mounts no token and no binding names it", () => {
    const account = only<V1ServiceAccount>(manifests, "ServiceAccount", `${FULLNAME}-run`, NAMESPACE);
    assert.equal(account.automountServiceAccountToken, false);
    const bindings = [
      ...find<V1RoleBinding>(manifests, "RoleBinding"),
      ...find<V1RoleBinding>(manifests, "ClusterRoleBinding"),
    ];
    for (const binding of bindings) {
      for (const subject of binding.subjects ?? []) assert.notEqual(subject.name, `${FULLNAME}-run`);
    }
  });

  test("Deployment and Service select the operator pod, never a run pod of the operator's Jobs", () => {
    const deployment = only<V1Deployment>(manifests, "Deployment", FULLNAME, NAMESPACE);
    const podLabels = deployment.spec?.template.metadata?.labels ?? {};
    const selector = deployment.spec?.selector.matchLabels ?? {};
    const selects = (labels: Record<string, string>, sel: Record<string, string>) =>
      Object.entries(sel).every(([key, value]) => labels[key] === value);
    assert.ok(selects(podLabels, selector));
    const service = only<V1Service>(manifests, "Service", `${FULLNAME}-metrics`, NAMESPACE);
    assert.ok(selects(podLabels, service.spec?.selector ?? {}));
    assert.deepEqual(service.spec?.ports, [{ name: "metrics", port: 8080, targetPort: "metrics", protocol: "TCP" }]);

    const spec = GarbageCollectionSpecSchema.parse({
      datastore: {
        s3: {
          endpoint: "https://s3.example",
          region: "r",
          bucket: "pbs",
          store: "store1",
          credentialsSecretRef: { name: "c" },
        },
      },
      markerCache: { claimName: "cache" },
    });
    const job = buildRunJob({
      resource: { metadata: { name: "gc", namespace: NAMESPACE, uid: "u", generation: 1 }, spec },
      run: { trigger: "Generation", generation: 1 },
    });
    const runPodLabels = job.spec?.template.metadata?.labels ?? {};
    assert.ok(!selects(runPodLabels, selector), "the Deployment would adopt run pods");
    assert.ok(!selects(runPodLabels, service.spec?.selector ?? {}));
  });
});

describe("helm template with non-default values", () => {
  test("replicas > 1 turn on leader election and a surge-only rolling update", async () => {
    const manifests = await render({ replicas: 3 });
    const deployment = only<V1Deployment>(manifests, "Deployment", FULLNAME, NAMESPACE);
    assert.equal(deployment.spec?.replicas, 3);
    assert.deepEqual(deployment.spec?.strategy, {
      type: "RollingUpdate",
      rollingUpdate: { maxSurge: 1, maxUnavailable: 0 },
    });
    assert.equal(operatorContainer(manifests).args?.filter((arg) => arg === "--leader-elect").length, 1);
  });

  test("leaderElection.enabled with one replica", async () => {
    const manifests = await render({ leaderElection: { enabled: true } });
    assert.ok(operatorContainer(manifests).args?.includes("--leader-elect"));
  });

  test("watchNamespaces: a Role in each listed namespace, no cluster-wide operator rights", async () => {
    const manifests = await render({ watchNamespaces: ["team-a", "team-b"] });
    assert.deepEqual(find(manifests, "ClusterRole", FULLNAME), []);
    assert.deepEqual(find(manifests, "ClusterRoleBinding"), []);
    for (const namespace of ["team-a", "team-b"]) {
      const role = only<V1Role>(manifests, "Role", FULLNAME, namespace);
      assert.deepEqual(grants(role.rules), OPERATOR_RIGHTS);
      const binding = only<V1RoleBinding>(manifests, "RoleBinding", FULLNAME, namespace);
      assert.deepEqual(binding.roleRef, { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: FULLNAME });
      assert.deepEqual(binding.subjects, [{ kind: "ServiceAccount", name: FULLNAME, namespace: NAMESPACE }]);
      const account = only<V1ServiceAccount>(manifests, "ServiceAccount", `${FULLNAME}-run`, namespace);
      assert.equal(account.automountServiceAccountToken, false);
    }
    only<V1ServiceAccount>(manifests, "ServiceAccount", `${FULLNAME}-run`, NAMESPACE);
    assert.deepEqual(find(manifests, "Role", FULLNAME, NAMESPACE), [], "the release namespace is not watched");
    only(manifests, "Role", `${FULLNAME}-leases`, NAMESPACE);
    const args = operatorContainer(manifests).args ?? [];
    assert.deepEqual(
      args.filter((arg) => arg.startsWith("--namespace")),
      ["--namespace=team-a,team-b"],
    );
  });

  test("watchNamespaces: a bad name or a repeated one fails the render", async () => {
    for (const watchNamespaces of [["Team_A"], [""], ["a", "a"]]) {
      const result = await helm(templateArgs({ values: { watchNamespaces } }));
      assert.notEqual(result.code, 0, JSON.stringify(watchNamespaces));
      assert.match(result.stderr, /watchNamespaces/);
    }
  });

  test("run pod defaults and the leader Lease name reach the operator's flags", async () => {
    const manifests = await render({
      runPod: {
        imagePullSecrets: ["regcred", "mirror"],
        activeDeadline: "3h",
        startTimeout: "2m",
        ids: "platform",
        env: { HTTPS_PROXY: "http://proxy:3128" },
      },
      runServiceAccount: { create: false, name: "irsa-gc" },
      leaderElection: { leaseName: "gc-two" },
    });
    const args = operatorContainer(manifests).args ?? [];
    for (const expected of [
      "--run-service-account=irsa-gc",
      "--run-image-pull-secret=regcred,mirror",
      "--run-active-deadline=3h",
      "--run-start-timeout=2m",
      "--run-pod-ids=platform",
      "--run-env=HTTPS_PROXY=http://proxy:3128",
      "--leader-elect-lease-name=gc-two",
    ]) {
      assert.ok(args.includes(expected), `${expected} in ${args.join(" ")}`);
    }
  });

  test("image, run image, log level, metrics port, extra args and env", async () => {
    const manifests = await render({
      image: { repository: "registry.example/pbs/chunkgc", tag: "1.2.3", pullPolicy: "Always" },
      defaultRunImage: "registry.example/pbs/chunkgc:engine",
      logLevel: "debug",
      metrics: { port: 9464, service: { port: 80 } },
      extraArgs: ["--example-flag=1"],
      extraEnv: [{ name: "NODE_OPTIONS", value: "--max-old-space-size=256" }],
    });
    const container = operatorContainer(manifests);
    assert.equal(container.image, "registry.example/pbs/chunkgc:1.2.3");
    assert.equal(container.imagePullPolicy, "Always");
    assert.deepEqual(container.args, [
      "operator",
      `--operator-namespace=${NAMESPACE}`,
      "--default-image=registry.example/pbs/chunkgc:engine",
      "--metrics-addr=:9464",
      ...RUN_DEFAULT_ARGS,
      "--example-flag=1",
    ]);
    assert.deepEqual(container.env, [
      { name: "CHUNKGC_LOG_LEVEL", value: "debug" },
      { name: "NODE_OPTIONS", value: "--max-old-space-size=256" },
    ]);
    assert.equal(container.ports?.[0]?.containerPort, 9464);
    const service = only<V1Service>(manifests, "Service", `${FULLNAME}-metrics`, NAMESPACE);
    assert.equal(service.spec?.ports?.[0]?.port, 80);
    assert.equal(service.spec?.ports?.[0]?.targetPort, "metrics");
  });

  test("an image digest wins over the tag, for the operator and its runs", async () => {
    const digest = `sha256:${"ab".repeat(32)}`;
    const container = operatorContainer(await render({ image: { tag: "x", digest } }));
    assert.equal(container.image, `chunkgc@${digest}`);
    assert.ok(container.args?.includes(`--default-image=chunkgc@${digest}`));
  });

  test("scheduling and resources pass through", async () => {
    const values = {
      nodeSelector: { "kubernetes.io/os": "linux" },
      tolerations: [{ key: "dedicated", operator: "Equal", value: "backup", effect: "NoSchedule" }],
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [{ matchExpressions: [{ key: "zone", operator: "In", values: ["a"] }] }],
          },
        },
      },
      resources: { requests: { cpu: "100m", memory: "200Mi" }, limits: { memory: "1Gi" } },
      priorityClassName: "system-cluster-critical",
      podAnnotations: { "example.com/a": "1" },
      podLabels: { team: "backup" },
    };
    const manifests = await render(values);
    const deployment = only<V1Deployment>(manifests, "Deployment", FULLNAME, NAMESPACE);
    const pod = deployment.spec?.template;
    assert.deepEqual(pod?.spec?.nodeSelector, values.nodeSelector);
    assert.deepEqual(pod?.spec?.tolerations, values.tolerations);
    assert.deepEqual(pod?.spec?.affinity, values.affinity);
    assert.equal(pod?.spec?.priorityClassName, values.priorityClassName);
    assert.deepEqual(operatorContainer(manifests).resources, values.resources);
    assert.equal(pod?.metadata?.annotations?.["example.com/a"], "1");
    assert.equal(pod?.metadata?.labels?.team, "backup");
    assert.deepEqual(deployment.spec?.selector.matchLabels?.team, undefined, "selectors never change");
  });

  test("extra volumes and mounts come after /tmp", async () => {
    const manifests = await render({
      extraVolumes: [{ name: "ca", configMap: { name: "corp-ca" } }],
      extraVolumeMounts: [{ name: "ca", mountPath: "/etc/corp-ca", readOnly: true }],
    });
    const deployment = only<V1Deployment>(manifests, "Deployment", FULLNAME, NAMESPACE);
    assert.deepEqual(
      deployment.spec?.template.spec?.volumes?.map((v) => v.name),
      ["tmp", "ca"],
    );
    assert.deepEqual(operatorContainer(manifests).volumeMounts, [
      { name: "tmp", mountPath: "/tmp" },
      { name: "ca", mountPath: "/etc/corp-ca", readOnly: true },
    ]);
  });

  test("probes can be switched off (null)", async () => {
    const container = operatorContainer(await render({ livenessProbe: null, readinessProbe: null }));
    assert.equal(container.livenessProbe, undefined);
    assert.equal(container.readinessProbe, undefined);
  });

  test("ServiceMonitor on request, selecting the metrics Service's port", async () => {
    const manifests = await render({ metrics: { serviceMonitor: { enabled: true, labels: { release: "prom" } } } });
    const monitor = only<Manifest & { spec: Record<string, unknown> }>(
      manifests,
      "ServiceMonitor",
      FULLNAME,
      NAMESPACE,
    );
    assert.equal(monitor.apiVersion, "monitoring.coreos.com/v1");
    assert.equal(monitor.metadata.labels?.release, "prom");
    const service = only<V1Service>(manifests, "Service", `${FULLNAME}-metrics`, NAMESPACE);
    const selector = (monitor.spec.selector as { matchLabels: Record<string, string> }).matchLabels;
    for (const [key, value] of Object.entries(selector)) assert.equal(service.metadata?.labels?.[key], value);
    assert.deepEqual(monitor.spec.endpoints, [
      { port: "metrics", path: "/metrics", interval: "30s", scrapeTimeout: "10s" },
    ]);
    const without = await helm(
      templateArgs({ values: { metrics: { service: { enabled: false }, serviceMonitor: { enabled: true } } } }),
    );
    assert.notEqual(without.code, 0);
  });

  test("metrics Service off, RBAC off, ServiceAccounts off", async () => {
    const manifests = await render({
      metrics: { service: { enabled: false } },
      rbac: { create: false },
      serviceAccount: { create: false, name: "existing" },
      runServiceAccount: { create: false },
      crds: { create: false },
    });
    assert.deepEqual(
      manifests.map((m) => m.kind),
      ["Deployment"],
    );
    assert.equal(only<V1Deployment>(manifests, "Deployment").spec?.template.spec?.serviceAccountName, "existing");
    const missing = await helm(templateArgs({ values: { serviceAccount: { create: false } } }));
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /serviceAccount\.name is required/);
  });

  test("the longest release name (53) still gives valid, distinct names (≤ 63)", async () => {
    const release = "a-very-long-release-name-that-goes-on-and-on-and-on-x";
    assert.equal(release.length, 53);
    const manifests = await renderChart({ release, namespace: NAMESPACE });
    for (const manifest of manifests) assert.ok(manifest.metadata.name.length <= 63, manifest.metadata.name);
    const names = manifests.map((m) => `${m.kind}/${m.metadata.name}`);
    assert.equal(new Set(names).size, names.length, "no two objects of a kind share a name");
    for (const [kind, suffix] of [
      ["Role", "-leases"],
      ["Service", "-metrics"],
      ["ServiceAccount", "-run"],
      ["ClusterRole", "-edit"],
      ["ClusterRole", "-view"],
    ] as const) {
      assert.ok(
        names.some((name) => name.startsWith(`${kind}/a-very-long`) && name.endsWith(suffix)),
        `${kind} …${suffix}`,
      );
    }
  });
});
