/**
 * The run pod settings a platform needs (ServiceAccount, pull secrets, env, security context ids, CA volumes, cloud
 * identity) as the pure Job builder applies them, and the schema rules that keep the engine's safety switches out.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Container, V1Job } from "@kubernetes/client-node";
import {
  type GarbageCollectionSpecInput,
  GarbageCollectionSpecSchema,
  isAllowedRunEnvName,
  isReservedMountPath,
  isSafeEnvFromPrefix,
} from "../../../src/api/index.ts";
import { collectEnv } from "../../../src/cli/commands/operator.ts";
import { buildRunJob, RUN_USER_ID, type RunIdentity, type RunPodDefaults } from "../../../src/operator/job-builder.ts";
import { CREDENTIAL_SOURCE_ENV, credentialsOrDefaultChain, DEFAULT_CHAIN } from "../../../src/s3/config.ts";
import { sampleResource } from "../../support/gc-fixtures.ts";

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
    for (const path of ["/etc/ssl/custom", "/var/run/x", "/tmpx"]) assert.equal(isReservedMountPath(path), false, path);
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
