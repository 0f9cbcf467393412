import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Container, V1Job } from "@kubernetes/client-node";
import { Command } from "commander";
import type { GarbageCollectionSpecInput } from "../../../src/api/index.ts";
import {
  GarbageCollectionSpecSchema,
  isAllowedRunEnvName,
  isReservedMountPath,
  isSafeEnvFromPrefix,
} from "../../../src/api/index.ts";
import { registerGcCommand } from "../../../src/cli/commands/gc.ts";
import { collectEnv } from "../../../src/cli/commands/operator.ts";
import { datastoreHash } from "../../../src/operator/datastore-identity.ts";
import {
  buildMarkerCacheClaim,
  buildRunJob,
  DEFAULT_ACTIVE_DEADLINE_SECONDS,
  jobRunInfo,
  jobTrigger,
  labelValue,
  markerCacheClaimName,
  RUN_USER_ID,
  type RunIdentity,
  type RunPodDefaults,
  type RunResource,
  runJobName,
} from "../../../src/operator/job-builder.ts";
import { CREDENTIAL_SOURCE_ENV, credentialsOrDefaultChain, DEFAULT_CHAIN } from "../../../src/s3/config.ts";
import { sampleResource } from "../../support/gc-fixtures.ts";

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const slot: RunIdentity = { trigger: "Schedule", scheduledTime: new Date("2025-03-01T02:30:00Z") };

function resource(spec: Partial<GarbageCollectionSpecInput> = {}, name = "pbs-main"): RunResource {
  return sampleResource(spec, { name });
}

function job(spec: Partial<GarbageCollectionSpecInput> = {}, run: RunIdentity = slot): V1Job {
  return buildRunJob({ resource: resource(spec), run });
}

function engine(built: V1Job): V1Container {
  const container = built.spec?.template.spec?.containers[0];
  assert.ok(container);
  return container;
}

describe("run Job names", () => {
  const cases: [string, string, RunIdentity, string | RegExp][] = [
    ["a schedule slot (unix minutes)", "pbs-main", slot, `pbs-main-${Date.parse("2025-03-01T02:30:00Z") / 60_000}`],
    ["a spec generation", "pbs-main", { trigger: "Generation", generation: 7 }, "pbs-main-g7"],
    ["a run request", "pbs-main", { trigger: "RunRequest", runRequest: "now" }, /^pbs-main-r[0-9a-f]{10}$/],
    ["a 63-character resource name", "a".repeat(63), slot, /^a{47}-[0-9a-f]{6}-\d{8}$/],
    ["a long name ending in a dash once cut", `${"a".repeat(46)}-${"b".repeat(16)}`, slot, /^a{46}-[0-9a-f]{6}-\d{8}$/],
  ];
  for (const [name, resourceName, run, expected] of cases) {
    it(name, () => {
      const jobName = runJobName(resourceName, run);
      if (typeof expected === "string") assert.equal(jobName, expected);
      else assert.match(jobName, expected);
      assert.ok(jobName.length <= 63, `${jobName.length} characters`);
      assert.match(jobName, DNS_LABEL);
    });
  }

  it("is deterministic per slot and differs between slots", () => {
    assert.equal(runJobName("x", slot), runJobName("x", { ...slot }));
    const nextMinute: RunIdentity = { trigger: "Schedule", scheduledTime: new Date("2025-03-01T02:31:00Z") };
    assert.notEqual(runJobName("x", slot), runJobName("x", nextMinute));
  });

  it("keeps two long names that share a prefix apart", () => {
    const a = runJobName(`${"p".repeat(60)}-a`, slot);
    const b = runJobName(`${"p".repeat(60)}-b`, slot);
    assert.notEqual(a, b);
  });

  it("gives a repeated request value after another one a new Job", () => {
    const first = runJobName("x", { trigger: "RunRequest", runRequest: "now" });
    const again = runJobName("x", { trigger: "RunRequest", runRequest: "now", previousRunRequest: "later" });
    const same = runJobName("x", { trigger: "RunRequest", runRequest: "now" });
    assert.notEqual(first, again);
    assert.equal(first, same);
  });
});

describe("run Job", () => {
  it("is owned by the resource as its controller", () => {
    assert.deepEqual(job().metadata?.ownerReferences, [
      {
        apiVersion: "chunkgc.io/v1alpha1",
        kind: "GarbageCollection",
        name: "pbs-main",
        uid: "6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9",
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
  });

  it("carries selector labels on Job and pod, and what started it in annotations", () => {
    const built = job();
    const labels = built.metadata?.labels ?? {};
    assert.equal(labels["chunkgc.io/garbagecollection"], "pbs-main");
    assert.equal(labels["chunkgc.io/garbagecollection-uid"], "6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9");
    assert.equal(labels["chunkgc.io/trigger"], "Schedule");
    assert.equal(labels["chunkgc.io/datastore"], datastoreHash(resource().spec.datastore.s3));
    assert.equal(labels["app.kubernetes.io/managed-by"], "chunkgc-operator");
    for (const [key, value] of Object.entries(labels)) {
      assert.equal(built.spec?.template.metadata?.labels?.[key], value, key);
      assert.ok(value.length <= 63, key);
    }
    assert.deepEqual(built.metadata?.annotations, {
      "chunkgc.io/generation": "2",
      "chunkgc.io/scheduled-time": "2025-03-01T02:30:00Z",
    });
    assert.equal(jobTrigger(built), "Schedule");
    const requested = job({}, { trigger: "RunRequest", runRequest: "now" });
    assert.equal(requested.metadata?.annotations?.["chunkgc.io/run-request"], "now");
    assert.equal(jobTrigger(requested), "RunRequest");
  });

  it("runs chunkgc gc with flags from the spec (the gc command's own option names)", () => {
    const built = job({
      gracePeriod: "2h",
      dryRun: true,
      acknowledgeInUse: true,
      engine: { deleteBatchSize: 250, listConcurrency: 3, requestPrices: { list: "0.0045", delete: "0" } },
    });
    const container = engine(built);
    assert.equal(container.command, undefined, "a command would replace the image's ENTRYPOINT");
    assert.deepEqual(container.args, [
      "gc",
      "--endpoint=https://s3.eu-central-1.amazonaws.com",
      "--region=eu-central-1",
      "--bucket=pbs",
      "--store=store1",
      "--cache-dir=/var/cache/chunkgc",
      "--grace=2h",
      "--max-backup-duration=48h",
      "--list-concurrency=3",
      "--index-concurrency=32",
      "--delete-concurrency=4",
      "--delete-batch-size=250",
      "--termination-message-file=/dev/termination-log",
      "--prices=list=0.0045,delete=0",
      "--dry-run",
      "--acknowledge-in-use",
    ]);
  });

  it("passes arguments the gc command accepts and parses as meant", () => {
    const program = new Command("chunkgc");
    registerGcCommand(program);
    const gc = program.commands.find((command) => command.name() === "gc");
    assert.ok(gc, "no gc command");
    const known = new Set(gc.options.map((option) => option.long));
    const args = engine(
      job({
        dryRun: true,
        acknowledgeInUse: true,
        engine: { requestPrices: { get: "0.0004" } },
        datastore: {
          s3: {
            endpoint: "http://rgw:7480",
            bucket: "pbs",
            store: "store1",
            pathStyle: true,
            credentialsSecretRef: { name: "s" },
            caBundleSecretRef: { name: "ca" },
          },
        },
      }),
    ).args!;
    assert.equal(args[0], "gc");
    for (const arg of args.slice(1)) assert.ok(known.has(arg.split("=")[0]), `gc has no option ${arg}`);
    const { operands, unknown } = gc.parseOptions(args.slice(1));
    assert.deepEqual([operands, unknown], [[], []]);
    const options = gc.opts();
    assert.equal(options.grace, 24 * 3600 + 5 * 60);
    assert.equal(options.maxBackupDuration, 48 * 3600);
    assert.equal(options.listConcurrency, 16);
    assert.equal(options.deleteBatchSize, 1000);
    assert.equal(options.cacheDir, "/var/cache/chunkgc");
    assert.equal(options.caBundle, "/etc/chunkgc/ca/ca.crt");
    assert.equal(options.pathStyle, true);
    assert.equal(options.dryRun, true);
  });

  it("passes path-style and a CA bundle", () => {
    const built = job({
      datastore: {
        s3: {
          endpoint: "http://rgw.storage:7480",
          bucket: "pbs",
          store: "store1",
          pathStyle: true,
          credentialsSecretRef: { name: "creds" },
          caBundleSecretRef: { name: "ca", key: "bundle.pem" },
        },
      },
    });
    const container = engine(built);
    assert.ok(container.args?.includes("--path-style"));
    assert.ok(container.args?.includes("--ca-bundle=/etc/chunkgc/ca/bundle.pem"));
    assert.ok(
      container.volumeMounts?.some((m) => m.name === "ca-bundle" && m.mountPath === "/etc/chunkgc/ca" && m.readOnly),
    );
    assert.deepEqual(built.spec?.template.spec?.volumes?.find((v) => v.name === "ca-bundle")?.secret, {
      secretName: "ca",
      items: [{ key: "bundle.pem", path: "bundle.pem" }],
    });
  });

  it("takes credentials from the Secret as env, never as values", () => {
    const env = engine(job()).env ?? [];
    for (const variable of env) assert.equal(variable.value, undefined, variable.name);
    assert.deepEqual(env, [
      { name: "AWS_ACCESS_KEY_ID", valueFrom: { secretKeyRef: { name: "pbs-s3", key: "AWS_ACCESS_KEY_ID" } } },
      { name: "AWS_SECRET_ACCESS_KEY", valueFrom: { secretKeyRef: { name: "pbs-s3", key: "AWS_SECRET_ACCESS_KEY" } } },
      {
        name: "AWS_SESSION_TOKEN",
        valueFrom: { secretKeyRef: { name: "pbs-s3", key: "AWS_SESSION_TOKEN", optional: true } },
      },
    ]);
  });

  const claims: [string, Partial<GarbageCollectionSpecInput>, string][] = [
    ["an existing claim", { markerCache: { claimName: "my-cache" } }, "my-cache"],
    ["a template claim", { markerCache: { volumeClaimTemplate: { storage: "5Gi" } } }, "pbs-main-marker-cache"],
  ];
  for (const [name, spec, claimName] of claims) {
    it(`mounts ${name} at /var/cache/chunkgc`, () => {
      const built = job(spec);
      assert.deepEqual(built.spec?.template.spec?.volumes?.[0], {
        name: "marker-cache",
        persistentVolumeClaim: { claimName },
      });
      assert.deepEqual(engine(built).volumeMounts?.[0], { name: "marker-cache", mountPath: "/var/cache/chunkgc" });
    });
  }

  it("writes the result to the termination message (the log tail without one) and gives the read-only root a writable /tmp", () => {
    const container = engine(job());
    assert.equal(container.terminationMessagePath, "/dev/termination-log");
    // A usage error stops the engine before it writes a result: its error line must still reach the status.
    assert.equal(container.terminationMessagePolicy, "FallbackToLogsOnError");
    assert.ok(container.volumeMounts?.some((mount) => mount.mountPath === "/tmp"));
  });

  it("runs under the restricted pod security standard", () => {
    const built = job();
    const pod = built.spec?.template.spec;
    const container = engine(built);
    assert.equal(pod?.securityContext?.runAsNonRoot, true);
    assert.equal(pod?.securityContext?.seccompProfile?.type, "RuntimeDefault");
    assert.equal(container.securityContext?.runAsNonRoot, true);
    assert.equal(container.securityContext?.readOnlyRootFilesystem, true);
    assert.equal(container.securityContext?.allowPrivilegeEscalation, false);
    assert.deepEqual(container.securityContext?.capabilities, { drop: ["ALL"] });
    assert.equal(container.securityContext?.seccompProfile?.type, "RuntimeDefault");
    assert.equal(pod?.securityContext?.runAsUser, RUN_USER_ID);
    assert.equal(container.securityContext?.runAsUser, undefined, "the pod level holds the ids");
    assert.equal(pod?.automountServiceAccountToken, false);
    assert.equal(pod?.restartPolicy, "Never");
    assert.equal(pod?.hostNetwork, undefined);
  });

  it("uses the operator's image unless the spec overrides it", () => {
    assert.equal(engine(job()).image, "chunkgc:dev");
    assert.equal(
      engine(buildRunJob({ resource: resource(), run: slot, defaultImage: "reg/chunkgc:1.2" })).image,
      "reg/chunkgc:1.2",
    );
    const custom = job({ runPod: { image: "mirror/chunkgc:1.2", imagePullPolicy: "IfNotPresent" } });
    assert.equal(engine(custom).image, "mirror/chunkgc:1.2");
    assert.equal(engine(custom).imagePullPolicy, "IfNotPresent");
    assert.equal(engine(job()).imagePullPolicy, undefined);
  });

  it("applies the run pod settings", () => {
    const built = job({
      runPod: {
        resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { cpu: 2 } },
        nodeSelector: { "kubernetes.io/os": "linux" },
        tolerations: [{ key: "dedicated", operator: "Equal", value: "backup", effect: "NoSchedule" }],
        affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [] } } },
        priorityClassName: "low",
        podAnnotations: { "example.com/team": "storage" },
        podLabels: { team: "storage", "chunkgc.io/trigger": "forged" },
      },
      job: { backoffLimit: 2, activeDeadlineSeconds: 7200 },
    });
    const pod = built.spec?.template;
    assert.deepEqual(engine(built).resources, { requests: { cpu: "100m", memory: "256Mi" }, limits: { cpu: "2" } });
    assert.deepEqual(pod?.spec?.nodeSelector, { "kubernetes.io/os": "linux" });
    assert.deepEqual(pod?.spec?.tolerations, [
      { key: "dedicated", operator: "Equal", value: "backup", effect: "NoSchedule" },
    ]);
    assert.deepEqual(pod?.spec?.affinity, {
      nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [] } },
    });
    assert.equal(pod?.spec?.priorityClassName, "low");
    assert.deepEqual(pod?.metadata?.annotations, { "example.com/team": "storage" });
    assert.equal(pod?.metadata?.labels?.team, "storage");
    assert.equal(pod?.metadata?.labels?.["chunkgc.io/trigger"], "Schedule", "user labels must not override ours");
    assert.equal(built.spec?.backoffLimit, 2);
    assert.equal(built.spec?.activeDeadlineSeconds, 7200);
  });

  it("defaults to no retries and the operator's deadline", () => {
    const built = job();
    assert.equal(built.spec?.backoffLimit, 0);
    assert.equal(built.spec?.activeDeadlineSeconds, DEFAULT_ACTIVE_DEADLINE_SECONDS);
    const configured = buildRunJob({ resource: resource(), run: slot, defaults: { activeDeadlineSeconds: 600 } });
    assert.equal(configured.spec?.activeDeadlineSeconds, 600);
    assert.equal(engine(built).resources, undefined);
  });

  it("is deterministic", () => {
    assert.deepEqual(job(), job());
  });

  it("does not share mutable state with the spec", () => {
    const source = resource({ runPod: { affinity: { a: { b: 1 } } } });
    const built = buildRunJob({ resource: source, run: slot });
    (built.spec!.template.spec!.affinity as Record<string, Record<string, number>>).a!.b = 2;
    built.spec!.template.spec!.containers[0]!.securityContext!.capabilities!.drop!.push("x");
    assert.deepEqual(source.spec.runPod.affinity, { a: { b: 1 } });
    assert.deepEqual(engine(job()).securityContext?.capabilities, { drop: ["ALL"] });
  });
});

describe("marker cache claim", () => {
  it("is created from the template, without owner when retained", () => {
    const claim = buildMarkerCacheClaim(resource());
    assert.equal(claim?.metadata?.name, "pbs-main-marker-cache");
    assert.equal(claim?.metadata?.namespace, "backup");
    assert.deepEqual(claim?.spec, {
      accessModes: ["ReadWriteOnce"],
      volumeMode: "Filesystem",
      resources: { requests: { storage: "10Gi" } },
      storageClassName: "standard",
    });
    assert.equal(claim?.metadata?.ownerReferences, undefined);
    assert.equal(claim?.metadata?.labels?.["chunkgc.io/garbagecollection"], "pbs-main");
  });

  it("is owned by the resource when deleted with it", () => {
    const claim = buildMarkerCacheClaim(
      resource({ markerCache: { volumeClaimTemplate: { storage: "1Gi", whenDeleted: "Delete" } } }),
    );
    assert.equal(claim?.metadata?.ownerReferences?.[0]?.uid, "6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9");
    assert.equal(claim?.spec?.storageClassName, undefined);
  });

  it("is not built for an existing claim", () => {
    assert.equal(buildMarkerCacheClaim(resource({ markerCache: { claimName: "mine" } })), undefined);
    assert.equal(markerCacheClaimName("x", { claimName: "mine" }), "mine");
  });
});

describe("label values", () => {
  it("keep short names and shorten long ones with a hash", () => {
    assert.equal(labelValue("pbs-main"), "pbs-main");
    const long = labelValue(`${"n".repeat(51)}-${"m".repeat(30)}`);
    assert.ok(long.length <= 63);
    assert.match(long, /^n{51}-[0-9a-f]{10}$/);
  });
});

describe("reading a run back from its Job", () => {
  const created = new Date("2025-03-01T02:30:04Z");
  const withCreation = (built: V1Job, creationTimestamp: Date | string = created): V1Job => ({
    ...built,
    metadata: { ...built.metadata, creationTimestamp: creationTimestamp as Date },
  });

  it("recovers a scheduled run", () => {
    assert.deepEqual(jobRunInfo(withCreation(job())), {
      jobName: runJobName("pbs-main", slot),
      trigger: "Schedule",
      scheduledTime: new Date("2025-03-01T02:30:00Z"),
      generation: 2,
      startTime: created,
      dryRun: false,
    });
  });

  it("recovers a dry-run request from a Job as JSON gives it (string times)", () => {
    const built = withCreation(
      job({ dryRun: true }, { trigger: "RunRequest", runRequest: "now" }),
      "2025-03-01T02:30:04Z",
    );
    const info = jobRunInfo(JSON.parse(JSON.stringify(built)) as V1Job);
    assert.equal(info?.trigger, "RunRequest");
    assert.equal(info?.runRequest, "now");
    assert.equal(info?.dryRun, true);
    assert.deepEqual(info?.startTime, created);
    assert.equal(info?.scheduledTime, undefined);
  });

  it("ignores Jobs that are not runs", () => {
    assert.equal(jobRunInfo({ metadata: { name: "other", creationTimestamp: created } }), undefined);
    assert.equal(jobRunInfo(job()), undefined, "no creation time yet");
  });
});

/**
 * The run pod settings a platform needs (ServiceAccount, pull secrets, env, security context ids, CA volumes, cloud
 * identity) as the pure Job builder applies them, and the schema rules that keep the engine's safety switches out.
 */
describe("the run pod", () => {
  const slot: RunIdentity = { trigger: "Schedule", scheduledTime: new Date("2025-03-01T02:30:00Z") };

  function job(spec: Partial<GarbageCollectionSpecInput> = {}, defaults?: RunPodDefaults): V1Job {
    return buildRunJob({ resource: sampleResource(spec), run: slot, ...(defaults ? { defaults } : {}) });
  }
  function engine(built: V1Job): V1Container {
    const container = built.spec?.template.spec?.containers[0];
    assert.ok(container);
    return container;
  }
  function issues(runPod: unknown): string[] {
    const base = sampleResource({}).spec;
    const result = GarbageCollectionSpecSchema.safeParse({ ...base, runPod });
    return result.success ? [] : result.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
  }

  describe("engine safety switches stay out of the run pod", () => {
    const refused = [
      "CHUNKGC_ACKNOWLEDGE_IN_USE",
      "CHUNKGC_NOW",
      "CHUNKGC_GRACE",
      "CHUNKGC_DRY_RUN",
      "CHUNKGC_MAX_BACKUP_DURATION",
      "CHUNKGC_STORE",
      "CHUNKGC_S3_CREDENTIAL_SOURCE",
      "CHUNKGC_SOMETHING_NEW",
    ];
    for (const name of refused) {
      it(`spec.runPod.env refuses ${name} with a message naming the rule`, () => {
        const found = issues({ env: [{ name, value: "true" }] });
        assert.equal(found.length, 1, found.join("; "));
        assert.match(found[0]!, /^runPod\.env\.0\.name: CHUNKGC_\* variables configure the engine/);
      });
      it(`--run-env refuses ${name}`, () => {
        assert.throws(() => collectEnv(`${name}=1`, {}), /CHUNKGC_\* variables configure the engine/);
      });
    }
    it("allows ordinary variables and the log level", () => {
      assert.deepEqual(issues({ env: [{ name: "HTTPS_PROXY", value: "http://proxy:3128" }] }), []);
      assert.deepEqual(issues({ env: [{ name: "CHUNKGC_LOG_LEVEL", value: "debug" }] }), []);
      assert.deepEqual(collectEnv("NO_PROXY=.svc", { A: "1" }), { A: "1", NO_PROXY: ".svc" });
      assert.equal(isAllowedRunEnvName("chunkgc_now"), true, "names are case-sensitive; the engine reads upper case");
    });
    it("envFrom needs a prefix that cannot spell CHUNKGC_", () => {
      for (const prefix of [undefined, "", "C", "CHUNK", "CHUNKGC", "CHUNKGC_", "CHUNKGC_X"]) {
        assert.equal(isSafeEnvFromPrefix(prefix), false, String(prefix));
      }
      for (const prefix of ["PROXY_", "X", "CHUNKGX"]) assert.equal(isSafeEnvFromPrefix(prefix), true, prefix);
      assert.match(issues({ envFrom: [{ configMapRef: { name: "proxy" } }] }).join(), /envFrom needs a prefix/);
      assert.match(issues({ envFrom: [{ prefix: "CHUNKG", secretRef: { name: "s" } }] }).join(), /envFrom needs/);
      assert.deepEqual(issues({ envFrom: [{ prefix: "PROXY_", configMapRef: { name: "proxy" } }] }), []);
    });
    it("value and valueFrom are exclusive; valueFrom names one source", () => {
      assert.match(
        issues({ env: [{ name: "A", value: "x", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } }] }).join(),
        /not both/,
      );
      assert.match(issues({ env: [{ name: "A", valueFrom: {} }] }).join(), /exactly one/);
    });
  });

  describe("run pod settings", () => {
    it("ServiceAccount and pull secrets: the spec's, else the operator's", () => {
      const defaults: RunPodDefaults = { serviceAccountName: "gc-run", imagePullSecrets: ["regcred"] };
      const fromDefaults = job({}, defaults).spec?.template.spec;
      assert.equal(fromDefaults?.serviceAccountName, "gc-run");
      assert.deepEqual(fromDefaults?.imagePullSecrets, [{ name: "regcred" }]);
      const own = job({ runPod: { serviceAccountName: "irsa", imagePullSecrets: [{ name: "mine" }] } }, defaults).spec
        ?.template.spec;
      assert.equal(own?.serviceAccountName, "irsa");
      assert.deepEqual(own?.imagePullSecrets, [{ name: "mine" }]);
      assert.equal(own?.automountServiceAccountToken, false, "the engine needs no API token");
      const none = job().spec?.template.spec;
      assert.equal(none?.serviceAccountName, undefined);
      assert.equal(none?.imagePullSecrets, undefined);
    });

    it("env and envFrom: operator's, then the spec's, credentials last", () => {
      const built = job(
        {
          runPod: {
            env: [
              { name: "HTTPS_PROXY", value: "http://proxy:3128" },
              { name: "NODE_EXTRA_CA_CERTS", value: "/etc/ssl/custom/ca.crt" },
            ],
            envFrom: [{ prefix: "PROXY_", configMapRef: { name: "proxy" } }],
          },
        },
        { env: { NO_PROXY: ".svc" } },
      );
      const names = (engine(built).env ?? []).map((env) => env.name);
      assert.deepEqual(names, [
        "NO_PROXY",
        "HTTPS_PROXY",
        "NODE_EXTRA_CA_CERTS",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
      ]);
      assert.deepEqual(engine(built).envFrom, [{ prefix: "PROXY_", configMapRef: { name: "proxy" } }]);
    });

    it("ids: fixed by default, assigned by the platform when asked, the spec's own always", () => {
      const fixed = job().spec?.template.spec?.securityContext;
      assert.equal(fixed?.runAsUser, RUN_USER_ID);
      assert.equal(fixed?.fsGroup, RUN_USER_ID);
      const platform = job({}, { ids: "platform" }).spec?.template.spec?.securityContext;
      assert.equal(platform?.runAsUser, undefined);
      assert.equal(platform?.runAsGroup, undefined);
      assert.equal(platform?.fsGroup, undefined);
      assert.equal(platform?.runAsNonRoot, true, "never root, whoever assigns the id");
      assert.equal(platform?.seccompProfile?.type, "RuntimeDefault");
      const own = job(
        { runPod: { securityContext: { runAsUser: 1000680000, fsGroup: 1000680000, supplementalGroups: [5] } } },
        { ids: "platform" },
      ).spec?.template.spec?.securityContext;
      assert.equal(own?.runAsUser, 1000680000);
      assert.equal(own?.fsGroup, 1000680000);
      assert.deepEqual(own?.supplementalGroups, [5]);
      assert.match(issues({ securityContext: { runAsUser: 0 } }).join(), /runAsUser/, "root is refused");
    });

    it("pod annotations and labels; the operator's labels win", () => {
      const template = job({
        runPod: { podAnnotations: { a: "1" }, podLabels: { "app.kubernetes.io/name": "x", t: "y" } },
      }).spec?.template;
      assert.deepEqual(template?.metadata?.annotations, { a: "1" });
      assert.equal(template?.metadata?.labels?.t, "y");
      assert.equal(template?.metadata?.labels?.["app.kubernetes.io/name"], "chunkgc");
    });

    it("mounts a CA bundle ConfigMap read-only", () => {
      const built = job({
        runPod: {
          volumes: [{ name: "trust", configMap: { name: "ca-bundle", items: [{ key: "ca.crt", path: "ca.crt" }] } }],
          volumeMounts: [{ name: "trust", mountPath: "/etc/ssl/custom" }],
          env: [{ name: "NODE_EXTRA_CA_CERTS", value: "/etc/ssl/custom/ca.crt" }],
        },
      });
      assert.deepEqual(
        built.spec?.template.spec?.volumes?.find((v) => v.name === "trust"),
        { name: "trust", configMap: { name: "ca-bundle", items: [{ key: "ca.crt", path: "ca.crt" }] } },
      );
      assert.deepEqual(
        engine(built).volumeMounts?.find((m) => m.name === "trust"),
        { name: "trust", mountPath: "/etc/ssl/custom", readOnly: true },
      );
    });

    it("refuses volumes that replace or hide the operator's own mounts", () => {
      for (const path of ["/var/cache/chunkgc", "/var/cache/chunkgc/x", "/var/cache", "/var", "/tmp", "/etc/chunkgc"]) {
        assert.equal(isReservedMountPath(path), true, path);
      }
      for (const path of ["/etc/ssl/custom", "/var/run/x", "/tmpx"])
        assert.equal(isReservedMountPath(path), false, path);
      const cm = { name: "trust", configMap: { name: "x" } };
      assert.match(
        issues({ volumes: [cm], volumeMounts: [{ name: "trust", mountPath: "/var/cache" }] }).join(),
        /must not/,
      );
      assert.match(issues({ volumes: [{ name: "tmp", configMap: { name: "x" } }] }).join(), /operator's own volumes/);
      assert.match(issues({ volumeMounts: [{ name: "nope", mountPath: "/etc/x" }] }).join(), /name one of volumes/);
      assert.match(issues({ volumes: [{ name: "h", hostPath: { path: "/" } }] }).join(), /exactly one of configMap/);
    });
  });

  describe("cloud identity", () => {
    it("without credentialsSecretRef the run pod asks the engine for the SDK's default chain", () => {
      const built = job({
        datastore: { s3: { endpoint: "https://s3.eu-central-1.amazonaws.com", bucket: "pbs", store: "store1" } },
      });
      assert.deepEqual(engine(built).env, [{ name: CREDENTIAL_SOURCE_ENV, value: DEFAULT_CHAIN }]);
    });
    it("the engine falls back to the default chain only when asked and no keys are given", () => {
      assert.equal(credentialsOrDefaultChain({ [CREDENTIAL_SOURCE_ENV]: DEFAULT_CHAIN }), undefined);
      assert.throws(() => credentialsOrDefaultChain({}), /no S3 credentials/);
      assert.deepEqual(
        credentialsOrDefaultChain({
          [CREDENTIAL_SOURCE_ENV]: DEFAULT_CHAIN,
          AWS_ACCESS_KEY_ID: "a",
          AWS_SECRET_ACCESS_KEY: "b",
        }),
        { accessKeyId: "a", secretAccessKey: "b" },
      );
      assert.throws(
        () => credentialsOrDefaultChain({ [CREDENTIAL_SOURCE_ENV]: DEFAULT_CHAIN, AWS_ACCESS_KEY_ID: "a" }),
        /no S3 credentials/,
        "half a key pair is an error, not a silent switch to another identity",
      );
    });
  });
});
